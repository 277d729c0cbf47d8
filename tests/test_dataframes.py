"""Any data frame in: polars DataFrames and LazyFrames, pyarrow Tables and dicts fit as the
same pandas DataFrame does.

Each model of ``MODELS`` is fitted from each frame of ``FRAMES`` (the same data) and must
give the pandas fit's numbers bit for bit: the frame is converted to pandas before any
numbers are computed, so nothing else may differ. Beyond that: categories keep the frame's
level order (a polars Enum's declared one, the order polars sorts a Categorical in, an
Arrow dictionary's), nulls are dropped and counted as pandas' NaN are, only the columns
the model reads are converted (a LazyFrame's other columns are never computed), the
caller's frame is not modified, and what is no table is lmeformula's ArgumentTypeError.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import lmeformula as lmf
from lmeformula.errors import ArgumentTypeError, DataError
from lmeformula.model.datacheck import as_frame, column_names

# name -> (the pandas frame as that library's table, a column of values as that library's)
FRAMES: dict[str, tuple[Callable[[pd.DataFrame], Any], Callable[[list[Any]], Any]]] = {
    "pandas": (lambda d: d, pd.Series),
    "polars": (pl.from_pandas, pl.Series),
    "polars_lazy": (lambda d: pl.from_pandas(d).lazy(), pl.Series),
    "pyarrow": (lambda d: pa.Table.from_pandas(d, preserve_index=False), pa.array),
    "dict": (lambda d: {c: d[c].tolist() for c in d.columns}, list),
    # What compiled peers take: NumPy arrays (text as objects), read by the model frame as
    # they are.
    "numpy": (lambda d: {c: d[c].to_numpy() for c in d.columns}, np.asarray),
}

BINOMIAL = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _lmer(frame: Callable[[pd.DataFrame], Any], column: Callable[[list[Any]], Any]) -> Any:
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", frame(lmf.datasets.load("sleepstudy")))
    return fit.fixef, fit.loglik


def _glmer(frame: Callable[[pd.DataFrame], Any], column: Callable[[list[Any]], Any]) -> Any:
    fit = lmf.glmer(BINOMIAL, frame(lmf.datasets.load("cbpp")), family="binomial")
    return fit.fixef, fit.loglik


def _glmer_nb(frame: Callable[[pd.DataFrame], Any], column: Callable[[list[Any]], Any]) -> Any:
    ticks = lmf.datasets.load("grouseticks")
    fit = lmf.glmer_nb("TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)", frame(ticks))
    return fit.fixef, fit.loglik


def _gls(frame: Callable[[pd.DataFrame], Any], column: Callable[[list[Any]], Any]) -> Any:
    data = frame(lmf.datasets.load("orthodont"))
    fit = lmf.gls("distance ~ age * Sex", data, residual=lmf.CS("1 | Subject"))
    return fit.fixef, fit.loglik


def _weights_offset(
    frame: Callable[[pd.DataFrame], Any], column: Callable[[list[Any]], Any]
) -> Any:
    cbpp = lmf.datasets.load("cbpp").assign(rate=lambda d: d["incidence"] / d["size"])
    cbpp["lsize"] = np.log(cbpp["size"])
    fit = lmf.glmer(
        "rate ~ period + (1 | herd)", frame(cbpp), family="binomial", weights="size", offset="lsize"
    )
    return fit.fixef, fit.loglik


def _fit_many(frame: Callable[[pd.DataFrame], Any], column: Callable[[list[Any]], Any]) -> Any:
    sleep = lmf.datasets.load("sleepstudy")
    sleep["Log"] = np.log(sleep["Reaction"])
    many = lmf.fit_many("~ Days + (1 | Subject)", frame(sleep), ["Reaction", "Log"], progress=False)
    return many.fixef(), many.glance()["loglik"]


def _fit_many_table(
    frame: Callable[[pd.DataFrame], Any], column: Callable[[list[Any]], Any]
) -> Any:
    # The responses as a table of their own (genes as columns), from the same library.
    sleep = lmf.datasets.load("sleepstudy")
    ys = pd.DataFrame({"Reaction": sleep["Reaction"], "Log": np.log(sleep["Reaction"])})
    many = lmf.fit_many(
        "~ Days + (1 | Subject)", frame(sleep[["Days", "Subject"]]), frame(ys), progress=False
    )
    return many.fixef(), many.glance()["loglik"]


def _predict(frame: Callable[[pd.DataFrame], Any], column: Callable[[list[Any]], Any]) -> Any:
    sleep = lmf.datasets.load("sleepstudy")
    fit = _fitted("sleepstudy")
    new = frame(sleep.head(25))
    return fit.predict(new), fit.predict(new, re_form="~0")


def _predict_glmer(frame: Callable[[pd.DataFrame], Any], column: Callable[[list[Any]], Any]) -> Any:
    fit = _fitted("cbpp")
    return fit.predict(frame(lmf.datasets.load("cbpp")), type="response")


def _emmeans(frame: Callable[[pd.DataFrame], Any], column: Callable[[list[Any]], Any]) -> Any:
    fit = lmf.lmer("distance ~ age * Sex + (age | Subject)", frame(lmf.datasets.load("orthodont")))
    table = fit.emmeans("~ Sex | age", at={"age": column([8, 14]), "Sex": column(["Male"])})
    return table["emmean"], table["std_error"]


def _select_random(frame: Callable[[pd.DataFrame], Any], column: Callable[[list[Any]], Any]) -> Any:
    sel = lmf.select_random(
        "Reaction ~ Days", frame(lmf.datasets.load("sleepstudy")), group="Subject", slope="Days"
    )
    return sel.table["aic"]


MODELS: dict[str, Callable[[Callable[[pd.DataFrame], Any], Callable[[list[Any]], Any]], Any]] = {
    "lmer sleepstudy": _lmer,
    "glmer cbpp cbind": _glmer,
    "glmer_nb grouseticks": _glmer_nb,
    "gls orthodont CS": _gls,
    "glmer weights= offset= columns": _weights_offset,
    "fit_many": _fit_many,
    "fit_many responses table": _fit_many_table,
    "predict newdata": _predict,
    "glmer predict newdata": _predict_glmer,
    "emmeans at=": _emmeans,
    "select_random": _select_random,
}

_FITS: dict[str, Any] = {}


def _fitted(name: str) -> Any:
    if name not in _FITS:
        data = lmf.datasets.load(name)
        _FITS[name] = (
            lmf.lmer("Reaction ~ Days + (Days | Subject)", data)
            if name == "sleepstudy"
            else lmf.glmer(BINOMIAL, data, family="binomial")
        )
    return _FITS[name]


_PANDAS: dict[str, Any] = {}


@pytest.mark.parametrize("backend", [b for b in FRAMES if b != "pandas"])
@pytest.mark.parametrize("model", list(MODELS))
def test_same_numbers_as_pandas(model: str, backend: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.LmeFormulaWarning)
        if model not in _PANDAS:
            _PANDAS[model] = MODELS[model](*FRAMES["pandas"])
        got = MODELS[model](*FRAMES[backend])
    for ours, theirs in zip(got, _PANDAS[model], strict=True):
        if isinstance(theirs, (pd.Series, pd.DataFrame)):
            assert type(ours) is type(theirs)  # results stay pandas
            assert ours.index.equals(theirs.index)
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


# -- level order --------------------------------------------------------------------------

ORDER = ["C", "A", "B"]  # not alphabetical: the first level is C


def _machines() -> pd.DataFrame:
    return lmf.datasets.load("machines")


def _coefficients(data: Any) -> pd.Series:
    return lmf.lmer("score ~ Machine + (1 | Worker)", data).fixef


def test_enum_keeps_its_declared_order() -> None:
    d = _machines()
    want = _coefficients(d.assign(Machine=pd.Categorical(d["Machine"], categories=ORDER)))
    assert list(want.index) == ["(Intercept)", "MachineA", "MachineB"]
    frame = pl.from_pandas(d).with_columns(pl.col("Machine").cast(pl.Enum(ORDER)))
    for data in (frame, frame.lazy()):
        got = _coefficients(data)
        assert list(got.index) == list(want.index)
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())


def test_polars_categorical_levels_in_the_order_polars_sorts_them() -> None:
    # Rows put C first, so first appearance (the physical codes) is C, A, B; polars (1.32+)
    # sorts a Categorical by its text, and the levels follow whatever order it sorts in.
    d = _machines()
    d = pd.concat([d[d["Machine"] == "C"], d[d["Machine"] != "C"]], ignore_index=True)
    frame = pl.from_pandas(d).with_columns(pl.col("Machine").cast(pl.Categorical))
    polars_order = frame["Machine"].unique().sort().to_list()
    want = _coefficients(d.assign(Machine=pd.Categorical(d["Machine"], categories=polars_order)))
    got = _coefficients(frame)
    assert list(got.index) == list(want.index)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    assert as_frame(frame, columns=["Machine"])["Machine"].cat.categories.tolist() == polars_order


def test_arrow_dictionary_keeps_its_order() -> None:
    d = _machines()
    want = _coefficients(d.assign(Machine=pd.Categorical(d["Machine"], categories=ORDER)))
    codes = pa.array([ORDER.index(m) for m in d["Machine"]], type=pa.int8())
    table = pa.Table.from_pandas(d, preserve_index=False).set_column(
        d.columns.get_loc("Machine"), "Machine", pa.DictionaryArray.from_arrays(codes, ORDER)
    )
    got = _coefficients(table)
    assert list(got.index) == list(want.index)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())


def test_enum_prediction_at_fitted_levels() -> None:
    d = _machines()
    frame = pl.from_pandas(d).with_columns(pl.col("Machine").cast(pl.Enum(ORDER)))
    fit = lmf.lmer("score ~ Machine + (1 | Worker)", frame)
    new = pl.DataFrame({"Machine": pl.Series(["B", "C"], dtype=pl.Enum(ORDER))})
    expected = fit.fixef["(Intercept)"] + np.array([fit.fixef["MachineB"], 0.0])
    np.testing.assert_allclose(fit.predict(new, re_form="~0"), expected, rtol=1e-12)


# -- missing values -----------------------------------------------------------------------


def _with_missing() -> pd.DataFrame:
    d = lmf.datasets.load("sleepstudy")
    d["Reaction"] = d["Reaction"].astype(object)
    d["Subject"] = d["Subject"].astype(object)
    d.loc[[3, 10], "Reaction"] = None
    d.loc[20, "Days"] = np.nan
    d.loc[30, "Subject"] = None
    d["Reaction"] = d["Reaction"].astype(float)
    d["unused"] = 1.0
    d.loc[40, "unused"] = np.nan  # not in the model: the row stays
    return d


def test_nulls_dropped_and_counted_as_pandas_nan() -> None:
    d = _with_missing()
    frame = pl.from_pandas(d)
    assert frame["Reaction"].null_count() == 2 and frame["Subject"].null_count() == 1
    want = lmf.lmer("Reaction ~ Days + (Days | Subject)", d)
    for data in (frame, frame.lazy(), frame.to_arrow()):
        fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", data)
        assert fit.n_dropped == want.n_dropped == 4
        assert fit.nobs == want.nobs == 176
        assert list(fit.state.frame.dropped_index) == [3, 10, 20, 30]
        assert "4 observations deleted due to missingness" in str(fit.summary())
        np.testing.assert_array_equal(fit.fixef.to_numpy(), want.fixef.to_numpy())
        assert fit.loglik == want.loglik


def test_null_booleans_integers_and_nan_too() -> None:
    # polars keeps NaN and null apart; both are missing to a model, as in R (NA, NaN).
    d = lmf.datasets.load("sleepstudy")
    frame = pl.from_pandas(d).with_columns(
        late=pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("Days") > 4),
        days=pl.when(pl.int_range(pl.len()) == 6).then(None).otherwise(pl.col("Days")),
        y=pl.when(pl.int_range(pl.len()) == 7).then(float("nan")).otherwise(pl.col("Reaction")),
    )
    assert frame.schema["late"] == pl.Boolean and frame.schema["days"] == pl.Int64
    fit = lmf.lmer("y ~ days + late + (1 | Subject)", frame)
    assert fit.n_dropped == 3 and list(fit.state.frame.dropped_index) == [5, 6, 7]
    ref = d.assign(
        late=(d["Days"] > 4).astype(object), days=d["Days"].astype(float), y=d["Reaction"]
    )
    ref.loc[5, "late"], ref.loc[6, "days"], ref.loc[7, "y"] = None, np.nan, np.nan
    want = lmf.lmer("y ~ days + late + (1 | Subject)", ref)
    assert list(fit.fixef.index) == list(want.fixef.index) == ["(Intercept)", "days", "lateTRUE"]
    np.testing.assert_array_equal(fit.fixef.to_numpy(), want.fixef.to_numpy())


# -- what is converted, and what is not touched ---------------------------------------------


def test_only_the_used_columns_are_converted() -> None:
    d = lmf.datasets.load("sleepstudy")
    # A column that fails whenever it is computed: a LazyFrame is collected without it.
    lazy = pl.from_pandas(d).lazy().with_columns(broken=pl.col("Subject").str.to_datetime())
    with pytest.raises(pl.exceptions.ComputeError):
        lazy.collect()
    fit = lmf.lmer("Reaction ~ Days + (1 | Subject)", lazy)
    assert list(fit.model_frame.columns) == ["Reaction", "Days", "Subject"]
    frame = as_frame(pl.from_pandas(d).with_columns(extra=pl.lit("x")), columns=["Days"])
    assert list(frame.columns) == ["Days"] and frame.shape == (180, 1)
    assert column_names(lazy) == ["Reaction", "Days", "Subject", "broken"]


@pytest.mark.parametrize("backend", ["polars", "polars_lazy", "pyarrow"])
def test_caller_frame_unchanged(backend: str) -> None:
    to_frame, column = FRAMES[backend]
    data = to_frame(lmf.datasets.load("orthodont"))
    before = data.collect() if isinstance(data, pl.LazyFrame) else data
    before = before.clone() if isinstance(before, pl.DataFrame) else before
    fit = lmf.lmer("distance ~ age * Sex + (age | Subject)", data)
    fit.predict(data)
    fit.emmeans("Sex", at={"age": column([8.0])})
    lmf.gls("distance ~ age", data, residual=lmf.AR1("age | Subject"))
    after = data.collect() if isinstance(data, pl.LazyFrame) else data
    assert after.equals(before)
    assert after.schema == before.schema


def test_results_are_pandas() -> None:
    fit = lmf.lmer(
        "Reaction ~ Days + (Days | Subject)", pl.from_pandas(lmf.datasets.load("sleepstudy"))
    )
    assert isinstance(fit.model_frame, pd.DataFrame)
    assert isinstance(fit.fixef, pd.Series)
    assert isinstance(fit.tidy(), pd.DataFrame)
    assert all(isinstance(v, pd.DataFrame) for v in fit.ranef.values())


def test_trajectories_read_x_from_a_polars_frame() -> None:
    import matplotlib

    matplotlib.use("Agg")
    ovary = lmf.datasets.load("ovary")
    fit = lmf.lmer("follicles ~ 1 + (1 | Mare)", ovary)
    fig = lmf.plots.trajectories(fit, x="Time", data=pl.from_pandas(ovary))
    assert fig.axes


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [[1, 2], None, np.zeros((3, 2)), pd.Series([1.0]), pl.Series([1.0]), pa.array([1.0]), 5],
    ids=["list", "None", "ndarray", "pandas Series", "polars Series", "arrow array", "int"],
)
def test_what_is_no_table_is_an_argument_type_error(data: Any) -> None:
    with pytest.raises(ArgumentTypeError) as info:
        lmf.lmer("Reaction ~ Days + (1 | Subject)", data)
    text = str(info.value)
    assert isinstance(info.value, TypeError)
    assert type(data).__name__ in text
    for accepted in ("pandas DataFrame", "polars DataFrame or LazyFrame", "pyarrow Table", "dict"):
        assert accepted in text


@pytest.mark.parametrize(
    "call",
    [
        lambda fit, d: fit.predict([1, 2]),
        lambda fit, d: lmf.fit_many("~ Days + (1 | Subject)", [1], ["Reaction"], progress=False),
        lambda fit, d: lmf.select_random("Reaction ~ Days", (1,), group="Subject", slope="Days"),
    ],
    ids=["predict", "fit_many", "select_random"],
)
def test_other_entries_refuse_non_tables_the_same_way(call: Callable[..., Any]) -> None:
    fit = _fitted("sleepstudy")
    with pytest.raises(ArgumentTypeError, match="pyarrow Table"):
        call(fit, lmf.datasets.load("sleepstudy"))


def test_missing_column_messages_name_all_of_the_frames_columns() -> None:
    lazy = pl.from_pandas(lmf.datasets.load("exam")).lazy()
    with pytest.raises(
        DataError, match=r"Did you mean .standLRT.\?.*school, normexam, schgend.*student"
    ):
        lmf.lmer("normexam ~ standLTR + (1 | school)", lazy)
    with pytest.raises(DataError, match="named in weights="):
        lmf.lmer("normexam ~ standLRT + (1 | school)", lazy, weights="w")
    with pytest.raises(DataError, match="named in offset="):
        lmf.glmer("sex ~ standLRT + (1 | school)", lazy, family="binomial", offset="off")
    with pytest.raises(DataError, match=r"newdata lacks the column\(s\) \['standLRT'\]"):
        lmf.lmer("normexam ~ standLRT + (1 | school)", lazy).predict(lazy.drop("standLRT"))


def test_arrow_duplicated_names_are_a_data_error() -> None:
    table = pa.table([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["y", "y"])
    with pytest.raises(DataError, match="duplicated column names"):
        lmf.lmer("y ~ 1 + (1 | g)", table)


def test_empty_newdata_from_polars_predicts_nothing() -> None:
    fit = _fitted("sleepstudy")
    new = pl.from_pandas(lmf.datasets.load("sleepstudy")).head(0)
    assert fit.predict(new).shape == (0,)
    intercept_only = lmf.lmer("Reaction ~ 1 + (1 | Subject)", lmf.datasets.load("sleepstudy"))
    # No column read, yet one prediction per row.
    assert intercept_only.predict(pl.DataFrame({"z": [1, 2, 3]}).lazy(), re_form="~0").shape == (3,)


# -- read_csv(backend=) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "kind"),
    [("pandas", pd.DataFrame), ("polars", pl.DataFrame), ("pyarrow", pa.Table)],
)
def test_read_csv_backend(tmp_path: Path, backend: str, kind: type) -> None:
    path = tmp_path / "d.csv"
    path.write_text('"y","g","x"\n1.5,"01",NA\n2.5,"10",3\n')
    table = lmf.datasets.read_csv(path, backend=backend)
    assert type(table) is kind
    back = as_frame(table)
    assert back["g"].tolist() == ["01", "10"]
    assert back["y"].tolist() == [1.5, 2.5]
    assert np.isnan(back["x"].iloc[0]) and back["x"].iloc[1] == 3
    if backend == "polars":
        assert table["x"].null_count() == 1 and table.schema["g"] == pl.String
    if backend == "pyarrow":
        assert table.column("x").null_count == 1


def test_read_csv_backend_checked(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('"y"\n1\n')
    with pytest.raises(ArgumentTypeError, match="backend must be one of"):
        lmf.datasets.read_csv(path, backend="spark")


# -- a dict of NumPy arrays, read by the model frame as it is ---------------------------------


def _arrays(d: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c: d[c].to_numpy() for c in d.columns}


def _sleep_with(**changes: Any) -> pd.DataFrame:
    d = lmf.datasets.load("sleepstudy")
    return d.assign(**changes)


# name -> (formula, the pandas frame; its dict of arrays fits to the same numbers and rows)
ARRAY_CASES: dict[str, tuple[str, Callable[[], pd.DataFrame]]] = {
    "NaN in a float column": (
        "Reaction ~ Days + (1 | Subject)",
        lambda: _sleep_with(
            Reaction=lmf.datasets.load("sleepstudy")["Reaction"].where(lambda r: r.index % 17 != 3)
        ),
    ),
    "None among text objects": (
        "Reaction ~ Days + (1 | Subject)",
        lambda: _sleep_with(
            Subject=pd.Series(
                [
                    None if i == 5 else s
                    for i, s in enumerate(lmf.datasets.load("sleepstudy")["Subject"])
                ],
                dtype=object,
            )
        ),
    ),
    "booleans as a factor": (
        "Reaction ~ late + (1 | Subject)",
        lambda: _sleep_with(late=lmf.datasets.load("sleepstudy")["Days"].to_numpy() > 4),
    ),
    "integer grouping codes": (
        "Reaction ~ Days + (Days | g)",
        lambda: _sleep_with(g=lmf.datasets.load("sleepstudy")["Subject"].astype(int).to_numpy()),
    ),
    "NumPy's own text dtype": (
        "Reaction ~ Days + (1 | Subject)",
        lambda: _sleep_with(Subject=lmf.datasets.load("sleepstudy")["Subject"].to_numpy(dtype=str)),
    ),
    "text as a fixed factor and a random term": (
        "score ~ Machine + (0 + Machine | Worker)",
        lambda: lmf.datasets.load("machines"),
    ),
}


@pytest.mark.parametrize("case", list(ARRAY_CASES))
def test_dict_of_arrays_fits_as_its_dataframe(case: str) -> None:
    formula, make = ARRAY_CASES[case]
    d = make()
    arrays = _arrays(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.LmeFormulaWarning)
        want, got = lmf.lmer(formula, d), lmf.lmer(formula, arrays)
    assert got.n_dropped == want.n_dropped
    assert list(got.state.frame.dropped_index) == list(want.state.frame.dropped_index)
    assert list(got.fixef.index) == list(want.fixef.index)
    np.testing.assert_array_equal(got.fixef.to_numpy(), want.fixef.to_numpy())
    assert got.loglik == want.loglik
    for group, modes in want.ranef.items():
        assert list(got.ranef[group].index) == list(modes.index)
        np.testing.assert_array_equal(got.ranef[group].to_numpy(), modes.to_numpy())


def test_dict_of_arrays_left_as_it_was() -> None:
    # Writable arrays of the caller's own (pandas 3's to_numpy gives read-only views).
    arrays = {c: v.copy() for c, v in _arrays(lmf.datasets.load("sleepstudy")).items()}
    before = {c: v.copy() for c, v in arrays.items()}
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", arrays)
    fit.model_frame, fit.predict(arrays), fit.bootstrap(3, seed=0, progress=False)
    for c, v in arrays.items():
        assert v.flags.writeable  # the model's views are read-only; the caller's are not
        np.testing.assert_array_equal(v, before[c])


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        # A missing column: the message lists all of the dict's columns, not the used ones.
        (
            {"y": np.ones(4), "g": np.array(list("abab"), dtype=object), "other": np.ones(4)},
            r"column 'x' named in the formula.*The data has: y, g, other",
        ),
        # Unequal lengths, as pandas words them.
        (
            {"y": np.ones(4), "x": np.ones(3), "g": np.array(list("abab"), dtype=object)},
            "All arrays must be of the same length",
        ),
        # An infinite value names its column, as in a DataFrame.
        (
            {
                "y": np.array([1.0, np.inf, 2.0, 3.0]),
                "x": np.ones(4),
                "g": np.array(list("abab"), dtype=object),
            },
            "column 'y' has 1 infinite value",
        ),
    ],
)
def test_dict_of_arrays_errors(arrays: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(DataError, match=message):
        lmf.lmer("y ~ x + (1 | g)", arrays)
