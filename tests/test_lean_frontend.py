"""The lean front end: a simple fixed part built without formulaic equals formulaic's bit
for bit, with the same column names; anything else goes to formulaic (None); and a fit
whose formulaic spec is built lazily gives the same anova, emmeans and predictions as one
built through formulaic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
import lmeformula.model.design as design_module
from lmeformula.formula import parse
from lmeformula.model.design import LazySpec, formula_matrix
from lmeformula.model.direct_fixed import direct_fixed
from lmeformula.model.frame import build_frame


def _frame_data(dataset: str | pd.DataFrame, rhs: str, group: str) -> pd.DataFrame:
    data = lmf.datasets.load(dataset) if isinstance(dataset, str) else dataset
    parsed = parse(f"y ~ {rhs} + (1 | {group})", columns=[*map(str, data.columns), "y"])
    data = data.assign(y=np.arange(len(data), dtype=float))
    return build_frame(parsed, data).data


def _mixed() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 60
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "k": rng.integers(-3, 4, n),
            "f": rng.choice(["b", "a", "c"], n),
            "c": pd.Categorical(rng.choice(["r", "q", "p"], n), categories=["r", "q", "p", "s"]),
            "b": rng.random(n) > 0.5,
            "g": np.repeat([f"g{i}" for i in range(6)], 10),
        }
    )


# (data, right-hand side, a grouping column): grammar tests as a table.
SIMPLE = [
    ("sleepstudy", "Days", "Subject"),
    ("sleepstudy", "0 + Days", "Subject"),
    ("sleepstudy", "1", "Subject"),
    ("penicillin", "1", "plate"),
    ("exam", "standLRT", "school"),
    ("exam", "standLRT * sex", "school"),
    ("exam", "sex * vr + standLRT", "school"),
    ("exam", "standLRT + schavg + standLRT:schavg", "school"),
    ("exam", "0 + type + sex", "school"),
    ("exam", "standLRT:sex", "school"),
    ("exam", "sex:vr", "school"),
    ("exam", "0 + sex:vr", "school"),
    ("exam", "(sex + vr + type)^2", "school"),
    ("exam", "sex * vr * type", "school"),
    ("exam", "standLRT * sex * vr", "school"),
    ("exam", "-1 + intake + schgend", "school"),
    ("machines", "Machine", "Worker"),
    ("machines", "0 + Machine", "Worker"),
    ("cbpp", "period", "herd"),
    ("cbpp", "period + size", "herd"),
    ("orthodont", "age * Sex", "Subject"),
    ("orthodont", "age + age:Sex", "Subject"),
    ("cake", "recipe * temperature", "replicate"),
    ("chickweight", "Time * Diet", "Chick"),
    ("grouseticks", "YEAR * cHEIGHT", "BROOD"),
    ("owls", "FoodTreatment * SexParent + ArrivalTime", "Nest"),
    ("salamanders", "spp * mined + cover", "site"),
    ("verbagg", "Anger + Gender + btype + situ", "id"),
    ("contraception", "age * urban + livch", "district"),
    ("contraception", "age + I(age ** 2) + urban + livch", "district"),
    ("contraception", "urban * I(age ** 2)", "district"),
    ("wheat2", "variety", "Block"),
    (_mixed(), "x * f", "g"),
    (_mixed(), "k * c", "g"),
    (_mixed(), "x + b + f:b", "g"),
    (_mixed(), "0 + c:f", "g"),
    (_mixed(), "x:k:f", "g"),
    (_mixed(), "f:b + c", "g"),
    (_mixed(), "`x` + `f`", "g"),
    (_mixed(), "k + I(k ** 3)", "g"),  # an integer column's power stays exact
    (_mixed(), "x + I(x ** 2) + I(x ** 3):f", "g"),
]


def _id(case: tuple) -> str:
    data, rhs, _ = case
    return f"{data if isinstance(data, str) else 'mixed'}: {rhs}"


@pytest.mark.parametrize(("dataset", "rhs", "group"), SIMPLE, ids=[_id(c) for c in SIMPLE])
def test_direct_fixed_equals_formulaic(dataset: str | pd.DataFrame, rhs: str, group: str) -> None:
    data = _frame_data(dataset, rhs, group)
    ours = direct_fixed(rhs, data)
    theirs = formula_matrix(rhs, data, "a test")
    assert ours is not None
    X, names = ours
    assert names == [str(c) for c in theirs.columns]
    assert np.array_equal(X, np.asarray(theirs, dtype=float))


NOT_SIMPLE = [
    "log(x)",
    "I(x ** 0.5)",
    "I(x * 2)",
    "I(f ** 2)",
    "poly(x, 2)",
    "C(f, contr.sum)",
    "relevel(f, ref='b')",
    "factor(k)",
    "x + o",  # an ordered factor: contr.poly
    "x + n",  # a Categorical of numbers: formulaic names its levels
    "x + s",  # one level in the rows used
]


@pytest.mark.parametrize("rhs", NOT_SIMPLE)
def test_other_fixed_parts_go_to_formulaic(rhs: str) -> None:
    data = _mixed()
    data["o"] = pd.Categorical(data["f"], categories=["a", "b", "c"], ordered=True)
    data["n"] = pd.Categorical(data["k"])
    data["s"] = "only"
    data["f"] = data["f"].astype(object)
    data["s"] = data["s"].astype(object)
    assert direct_fixed(rhs, data) is None


def _both(monkeypatch: pytest.MonkeyPatch, fit: object) -> tuple[object, object]:
    """The fit through the direct build, and through formulaic alone."""
    direct = fit()  # type: ignore[operator]
    with monkeypatch.context() as m:
        m.setattr(design_module, "direct_fixed", lambda rhs, data: None)
        slow = fit()  # type: ignore[operator]
    return direct, slow


FITS = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", ["Days"]),
    ("orthodont", "distance ~ age * Sex + (1 | Subject)", ["Sex"]),
    ("exam", "normexam ~ standLRT * sex + vr + (1 | school)", ["sex", "vr"]),
    ("machines", "score ~ Machine + (1 | Worker)", ["Machine"]),
]


@pytest.mark.parametrize(("dataset", "formula", "specs"), FITS, ids=[f for _, f, _ in FITS])
def test_lazy_spec_same_results(
    monkeypatch: pytest.MonkeyPatch, dataset: str, formula: str, specs: list[str]
) -> None:
    data = lmf.datasets.load(dataset)
    direct, slow = _both(monkeypatch, lambda: lmf.lmer(formula, data))
    assert isinstance(direct.state.design.fixed_spec, LazySpec)  # type: ignore[attr-defined]
    assert not isinstance(slow.state.design.fixed_spec, LazySpec)  # type: ignore[attr-defined]
    pd.testing.assert_series_equal(direct.fixef, slow.fixef)  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(direct.anova(), slow.anova())  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(direct.anova(type=1), slow.anova(type=1))  # type: ignore[attr-defined]
    for spec in specs:
        if spec == "Days":
            at = {"Days": [0, 4, 9]}
            pd.testing.assert_frame_equal(
                direct.emmeans(spec, at=at),  # type: ignore[attr-defined]
                slow.emmeans(spec, at=at),  # type: ignore[attr-defined]
            )
        else:
            pd.testing.assert_frame_equal(direct.emmeans(spec), slow.emmeans(spec))  # type: ignore[attr-defined]
    new = data.sample(20, random_state=1)
    np.testing.assert_array_equal(direct.predict(new), slow.predict(new))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(
        direct.predict(new, re_form="~0"),  # type: ignore[attr-defined]
        slow.predict(new, re_form="~0"),  # type: ignore[attr-defined]
    )


def test_glmer_lazy_spec_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    data = lmf.datasets.load("cbpp")
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    direct, slow = _both(monkeypatch, lambda: lmf.glmer(formula, data, family="binomial"))
    pd.testing.assert_series_equal(direct.fixef, slow.fixef)  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(direct.drop1(), slow.drop1())  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(direct.emmeans("period"), slow.emmeans("period"))  # type: ignore[attr-defined]
    new = data.iloc[::3]
    np.testing.assert_array_equal(direct.predict(new), slow.predict(new))  # type: ignore[attr-defined]


@pytest.mark.filterwarnings("ignore::lmeformula.errors.RankDeficiencyWarning")
def test_rank_deficiency_and_missing_rows_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    data = lmf.datasets.load("sleepstudy").copy()
    # A copy of Days makes a rank-deficient column; missing values drop their rows.
    data["Days2"] = data["Days"] * 2.0
    data.loc[[3, 40, 77], "Reaction"] = np.nan
    data.loc[[5], "Days2"] = np.nan
    formula = "Reaction ~ Days + Days2 + (1 | Subject)"
    direct, slow = _both(monkeypatch, lambda: lmf.lmer(formula, data))
    d1, d2 = direct.state.design, slow.state.design  # type: ignore[attr-defined]
    assert d1.fixed_names == d2.fixed_names == ["(Intercept)", "Days"]
    assert d1.dropped_fixed == d2.dropped_fixed == ["Days2"]
    assert np.array_equal(d1.X, d2.X)
    assert direct.state.frame.n_dropped == slow.state.frame.n_dropped == 4  # type: ignore[attr-defined]
    pd.testing.assert_series_equal(direct.fixef, slow.fixef)  # type: ignore[attr-defined]


def test_lazy_spec_pickles_and_resolves_once() -> None:
    import pickle

    data = _frame_data(_mixed(), "x * f", "g")
    spec = LazySpec("x * f", data, "the fixed-effects part")
    first = spec.resolve()
    assert spec.resolve() is first
    again = pickle.loads(pickle.dumps(spec))
    assert [str(t) for t in again.terms] == [str(t) for t in first.terms]


def test_caller_frame_untouched() -> None:
    data = lmf.datasets.load("sleepstudy")
    before = data.copy()
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", data)
    fit.state.frame.data.loc[fit.state.frame.data.index[0], "Days"] = 99  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(data, before)


@pytest.mark.parametrize("rhs", ["x * f", "0 + f:b", "f + b"])
def test_direct_fixed_on_unsettled_text(rhs: str) -> None:
    # pandas 3's default text dtype ("str"; objects before) as formulaic reads it.
    data = _mixed()
    data["f"] = data["f"].astype("str")
    data["b"] = np.where(data["b"], "yes", "no")
    ours = direct_fixed(rhs, data)
    theirs = formula_matrix(rhs, data, "a test")
    assert ours is not None
    assert ours[1] == [str(c) for c in theirs.columns]
    assert np.array_equal(ours[0], np.asarray(theirs, dtype=float))


def test_nullable_string_goes_to_formulaic() -> None:
    data = _mixed()
    data["f"] = data["f"].astype("string")
    assert direct_fixed("x * f", data) is None


def test_frame_with_duplicated_index_and_missing_rows() -> None:
    data = lmf.datasets.load("sleepstudy").copy()
    data.index = pd.Index([i // 2 for i in range(len(data))])
    data.loc[3, "Reaction"] = np.nan
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", data)
    used = fit.state.frame.data  # type: ignore[attr-defined]
    expected = data.dropna(subset=["Reaction"])
    assert fit.state.frame.n_dropped == 2  # type: ignore[attr-defined]
    assert used.index.equals(expected.index)
    np.testing.assert_array_equal(used["Reaction"].to_numpy(), expected["Reaction"].to_numpy())
    assert used["Subject"].tolist() == expected["Subject"].tolist()
    # Text stays as the caller's dtype has it (pandas 3's str, pandas 2's objects).
    assert used["Subject"].dtype == data["Subject"].dtype


#: Integer grouping columns: coded by a table of the values present where their range is
#: narrow, by pandas' sorted factorize where it is not; the same codes and levels either way.
INTEGER_GROUPS = {
    "narrow": np.array([308, 309, 308, 372, 309], dtype=np.int64),
    "negative": np.array([-3, 5, -3, 0, 5, 2], dtype=np.int64),
    "unsigned": np.array([7, 1, 7, 4], dtype=np.uint32),
    "one level": np.array([4, 4, 4], dtype=np.int64),
    "sparse range": np.array([0, 10**12, 5, 10**12], dtype=np.int64),
}


@pytest.mark.parametrize("case", list(INTEGER_GROUPS))
def test_integer_groups_coded_as_sorted_factorize(case: str) -> None:
    from lmeformula.model.frame import code_factor

    values = pd.Series(INTEGER_GROUPS[case])
    codes, levels = code_factor(values)
    expected_codes, uniques = pd.factorize(values.to_numpy(), sort=True)
    assert codes.dtype == np.int64
    np.testing.assert_array_equal(codes, expected_codes)
    assert levels == tuple(str(u) for u in uniques)


#: Text in each of pandas' dtypes: pandas 3's default str (kept, coded from its own array),
#: the nullable "string" and objects (as objects): the same codes, levels and fit.
TEXT_DTYPES = ["object", "string", "string[pyarrow]"] + (
    ["str"] if int(pd.__version__.split(".")[0]) >= 3 else []
)


@pytest.mark.parametrize("dtype", [d for d in TEXT_DTYPES if d != "object"])
def test_text_in_several_chunks_codes_as_one_column(dtype: str) -> None:
    from lmeformula.model.frame import code_factor

    # Arrow-backed text joined from two frames holds two chunks with two dictionaries.
    parts = [pd.Series(["b", "é", "a"], dtype=dtype), pd.Series(["c", "a", "B"], dtype=dtype)]
    codes, levels = code_factor(pd.concat(parts, ignore_index=True))
    assert levels == ("B", "a", "b", "c", "é")
    assert codes.tolist() == [2, 4, 1, 3, 1, 0]


@pytest.mark.parametrize("dtype", TEXT_DTYPES)
def test_text_codes_as_objects_do(dtype: str) -> None:
    from lmeformula.model.frame import code_factor

    labels = np.array(["b10", "a", "b2", "a", "B", "b10", "é"], dtype=object)
    codes, levels = code_factor(pd.Series(labels, dtype=dtype))
    expected_codes, uniques = pd.factorize(labels, sort=True)
    np.testing.assert_array_equal(codes, expected_codes)
    assert levels == tuple(uniques)


#: Arrow-backed text as the compiled coding reads it (offsets and bytes): the same codes
#: and levels as pandas' sorted factorize of the same values as objects.
ARROW_TEXT = {
    "empty strings": ["", "a", "", "ab", "a"],
    "multi-byte": ["é", "e", "日本", "é", "Z", "日"],
    "prefixes": ["ab", "a", "abc", "ab", "abcd", "a"],
    "many levels (the table grows)": [f"s{i % 5000}" for i in range(12000)],
    "one level": ["x"] * 7,
}


@pytest.mark.parametrize("case", list(ARROW_TEXT))
@pytest.mark.parametrize("kind", ["large_string", "string", "sliced"])
def test_arrow_text_codes_as_sorted_factorize(case: str, kind: str) -> None:
    pa = pytest.importorskip("pyarrow", reason="Arrow-backed text needs pyarrow")
    from lmeformula.model.frame import code_factor

    labels = ARROW_TEXT[case]
    if kind == "sliced":
        # A slice of a longer array: offsets start past the array's first value.
        array = pa.array(["zz", "yy", *labels], type=pa.large_string())[2:]
    else:
        array = pa.array(labels, type=getattr(pa, kind)())
    if kind == "string":
        # 32-bit offsets (pandas 2's string[pyarrow]; pandas 3 widens them): what the
        # column's array hands to Arrow, without a pandas that keeps them.
        from types import SimpleNamespace

        from lmeformula.model.frame import _code_arrow_text

        coded = _code_arrow_text(SimpleNamespace(dtype=pd.StringDtype("pyarrow"), array=array))  # type: ignore[arg-type]
        assert coded is not None
        codes, levels = coded
    else:
        codes, levels = code_factor(pd.Series(pd.arrays.ArrowStringArray(array)))
    expected_codes, uniques = pd.factorize(np.array(labels, dtype=object), sort=True)
    np.testing.assert_array_equal(codes, expected_codes)
    assert levels == tuple(uniques)


@pytest.mark.parametrize("dtype", TEXT_DTYPES)
def test_text_dtypes_with_missing_values_fit_alike(dtype: str) -> None:
    data = lmf.datasets.load("machines").copy()
    data["Worker"] = data["Worker"].astype(object).astype(dtype)
    data["Machine"] = data["Machine"].astype(object).astype(dtype)
    data.loc[[2, 30], "Worker"] = np.nan
    data.loc[[7], "Machine"] = np.nan
    fit = lmf.lmer("score ~ Machine + (0 + Machine | Worker)", data)
    base = data.astype({"Worker": object, "Machine": object})
    ref = lmf.lmer("score ~ Machine + (0 + Machine | Worker)", base)
    assert fit.state.frame.n_dropped == 3  # type: ignore[attr-defined]
    assert fit.fixef.to_dict() == pytest.approx(ref.fixef.to_dict(), rel=1e-10)
    assert fit.loglik == pytest.approx(ref.loglik, rel=1e-12)
    assert fit.ranef["Worker"].index.tolist() == ref.ranef["Worker"].index.tolist()


@pytest.mark.parametrize("dtype", [d for d in TEXT_DTYPES if d != "object"])
def test_text_missing_values_code_as_minus_one(dtype: str) -> None:
    from lmeformula.model.frame import code_factor

    codes, levels = code_factor(pd.Series(["b", None, "a", "b"], dtype=dtype))
    assert codes.tolist() == [1, -1, 0, 1]
    assert levels == ("a", "b")
