"""Bad input gets lmeformula's own errors, naming the culprit and saying what to do.

The catalogue is a table: (id, call, error class, builtin it must also be, message parts).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
from lmeformula.errors import ArgumentTypeError, DataError, FormulaError, NotExpressibleError


@pytest.fixture(scope="module")
def exam() -> pd.DataFrame:
    return lmf.datasets.load("exam")


def _with(exam: pd.DataFrame, **changes: Any) -> pd.DataFrame:
    out = exam.copy()
    for col, value in changes.items():
        out[col] = value
    return out


SEED = "normexam ~ standLRT + (1 + standLRT | school)"

CATALOGUE: list[tuple[str, Callable[[pd.DataFrame], Any], type, type, list[str]]] = [
    (
        "unknown column",
        lambda d: lmf.lmer("normexam ~ standLRTx + (1 | school)", d),
        DataError,
        ValueError,
        ["'standLRTx'", "Did you mean", "'standLRT'"],
    ),
    (
        "unknown grouping column",
        lambda d: lmf.lmer("normexam ~ standLRT + (1 | shool)", d),
        DataError,
        ValueError,
        ["'shool'", "'school'"],
    ),
    (
        "doubled operator",
        lambda d: lmf.lmer("normexam ~ standLRT + * (1 | school)", d),
        FormulaError,
        ValueError,
        ["*", "^"],
    ),
    (
        "no tilde",
        lambda d: lmf.lmer("normexam standLRT + (1 | school)", d),
        FormulaError,
        ValueError,
        ["~"],
    ),
    (
        "no random term",
        lambda d: lmf.lmer("normexam ~ standLRT", d),
        FormulaError,
        ValueError,
        ["no random effects", "gls", "(1 | group)"],
    ),
    (
        "non-numeric response",
        lambda d: lmf.lmer("sex ~ standLRT + (1 | school)", d),
        DataError,
        ValueError,
        ["'sex'", "not numeric"],
    ),
    ("empty data", lambda d: lmf.lmer(SEED, d.iloc[:0]), DataError, ValueError, ["no rows"]),
    (
        "one-level grouping factor",
        lambda d: lmf.lmer(SEED, _with(d, school="1")),
        DataError,
        ValueError,
        ["'school'", "1 level", "at least 2"],
    ),
    (
        "a level per observation",
        lambda d: lmf.lmer(
            "normexam ~ standLRT + (1 | row)", _with(d, row=np.arange(len(d)).astype(str))
        ),
        DataError,
        ValueError,
        ["'row'", "4059 levels", "< number of observations"],
    ),
    (
        "infinite value",
        lambda d: lmf.lmer(SEED, _with(d, standLRT=np.r_[np.inf, d["standLRT"].to_numpy()[1:]])),
        DataError,
        ValueError,
        ["'standLRT'", "infinite"],
    ),
    (
        "formula not a string",
        lambda d: lmf.lmer(42, d),
        ArgumentTypeError,
        TypeError,
        ["formula", "int"],
    ),
    (
        "data not a table",
        lambda d: lmf.lmer(SEED, [1, 2, 3]),
        ArgumentTypeError,
        TypeError,
        ["DataFrame", "list"],
    ),
    (
        "reml not a bool",
        lambda d: lmf.lmer(SEED, d, reml="yes"),
        ArgumentTypeError,
        TypeError,
        ["reml", "'yes'"],
    ),
    (
        "random term times covariate",
        lambda d: lmf.lmer("normexam ~ standLRT + (1 | school) * sex", d),
        FormulaError,
        ValueError,
        ["*"],
    ),
    (
        "random term colon covariate",
        lambda d: lmf.lmer("normexam ~ standLRT + (1 | school):sex", d),
        FormulaError,
        ValueError,
        [":"],
    ),
    (
        "term without columns",
        lambda d: lmf.lmer("normexam ~ standLRT + (0 | school)", d),
        FormulaError,
        ValueError,
        ["(1"],
    ),
    (
        "unknown special",
        lambda d: lmf.lmer("normexam ~ standLRT + foo(1 | school)", d),
        FormulaError,
        ValueError,
        ["foo"],
    ),
    (
        "bar inside a function",
        lambda d: lmf.lmer("normexam ~ standLRT + log(1 | school)", d),
        FormulaError,
        ValueError,
        ["log"],
    ),
    (
        "unknown function",
        lambda d: lmf.lmer("normexam ~ frobnicate(standLRT) + (1 | school)", d),
        FormulaError,
        ValueError,
        ["frobnicate"],
    ),
    (
        "no complete rows",
        lambda d: lmf.lmer(SEED, _with(d, standLRT=np.nan)),
        DataError,
        ValueError,
        ["no complete rows", "standLRT"],
    ),
    (
        "crossed correlated effects in MixedLM",
        lambda d: lmf.to_mixedlm(
            "normexam ~ standLRT + (1 + standLRT | school) + (1 + standLRT | intake)", d
        ),
        NotExpressibleError,
        ValueError,
        ["'school'", "'intake'", "||"],
    ),
    (
        "R's REML= spelling",
        lambda d: lmf.lmer(SEED, d, REML=False),
        ArgumentTypeError,
        TypeError,
        ["REML=", "reml=False"],
    ),
    (
        "misspelt keyword",
        lambda d: lmf.lmer(SEED, d, rml=False),
        ArgumentTypeError,
        TypeError,
        ["rml=", "reml"],
    ),
    (
        "negative weights",
        lambda d: lmf.lmer(SEED, d, weights=-np.ones(len(d))),
        DataError,
        ValueError,
        ["weights", "positive"],
    ),
    (
        "weights of the wrong length",
        lambda d: lmf.lmer(SEED, d, weights=np.ones(10)),
        DataError,
        ValueError,
        ["10 values", "4059 rows"],
    ),
    (
        "unknown weights column",
        lambda d: lmf.lmer(SEED, d, weights="wt"),
        DataError,
        ValueError,
        ["'wt'"],
    ),
    (
        "constant response",
        lambda d: lmf.lmer("c ~ standLRT + (1 | school)", _with(d, c=1.0)),
        DataError,
        ValueError,
        ["'c'", "constant"],
    ),
    (
        "response reproduced by the fixed effects",
        lambda d: lmf.lmer("y ~ standLRT + (1 | school)", _with(d, y=2 * d["standLRT"])),
        DataError,
        ValueError,
        ["'y'", "exactly"],
    ),
    (
        "date column as covariate",
        lambda d: lmf.lmer(
            "normexam ~ when + (1 | school)", _with(d, when=pd.Timestamp("2020-01-01"))
        ),
        DataError,
        ValueError,
        ["'when'", "dates", "number"],
    ),
    (
        "R's data$column",
        lambda d: lmf.lmer("exam$normexam ~ standLRT + (1 | school)", d),
        FormulaError,
        ValueError,
        ["'$'", "column by its name"],
    ),
    (
        "numpy array as data",
        lambda d: lmf.lmer(SEED, d.to_numpy()),
        ArgumentTypeError,
        TypeError,
        ["DataFrame", "ndarray"],
    ),
    (
        "unknown dataset",
        lambda d: lmf.datasets.load("exams"),
        DataError,
        ValueError,
        ["'exams'", "exam"],
    ),
    (
        "unknown engine",
        lambda d: lmf.lmer(SEED, d, engine="lme4"),
        ArgumentTypeError,
        TypeError,
        ["engine", "'lme4'"],
    ),
    # -- formulas: functions, names ----------------------------------------------------
    (
        "misspelt function",
        lambda d: lmf.lmer("normexam ~ lg(standLRT) + (1 | school)", d),
        FormulaError,
        ValueError,
        ["lg()", "did you mean log()"],
    ),
    (
        "R function that is not available",
        lambda d: lmf.lmer("normexam ~ as.numeric(standLRT) + (1 | school)", d),
        FormulaError,
        ValueError,
        ["as.numeric()", "pandas"],
    ),
    (
        "Python keyword as a column inside I()",
        lambda d: lmf.lmer(
            "normexam ~ I(`if` * 2) + (1 | school)", d.rename(columns={"standLRT": "if"})
        ),
        FormulaError,
        ValueError,
        ["'if'", "Python keyword", "rename"],
    ),
    (
        "arithmetic on a logical column",
        lambda d: lmf.lmer(
            "normexam ~ I(standLRT * b) + (1 | school)", _with(d, b=d["sex"] == "F")
        ),
        FormulaError,
        ValueError,
        ["logical column 'b'", "FALSE and TRUE", "(b == 'TRUE')"],
    ),
    (
        "column name with a space, not backticked",
        lambda d: lmf.lmer("normexam ~ my x + (1 | school)", _with(d, **{"my x": 1.0})),
        FormulaError,
        ValueError,
        ["'x'", "`my x`"],
    ),
    (
        "emmeans formula with a dangling operator",
        lambda d: _fit(d, "normexam ~ sex + (1 | school)").emmeans("~ sex +"),
        FormulaError,
        ValueError,
        ["specs='~ sex +'", "no term on its right"],
    ),
    # -- wrong types -------------------------------------------------------------------
    (
        "formula and data swapped",
        lambda d: lmf.lmer(d, SEED),
        ArgumentTypeError,
        TypeError,
        ["DataFrame", "swapped"],
    ),
    (
        "a structure class without its form",
        lambda d: lmf.lmer(SEED, d, residual=lmf.AR1),
        ArgumentTypeError,
        TypeError,
        ["the class AR1 itself", "AR1('...')"],
    ),
    (
        "a variance function given as residual=",
        lambda d: lmf.lmer(SEED, d, residual=lmf.VarIdent("sex")),
        ArgumentTypeError,
        TypeError,
        ["VarIdent", "goes to variance="],
    ),
    (
        "lmerTest's capitalised ddf",
        lambda d: _fit(d).anova(ddf="Satterthwaite"),
        ArgumentTypeError,
        TypeError,
        ["'Satterthwaite'", "write 'satterthwaite'"],
    ),
    (
        "formula as bytes",
        lambda d: lmf.lmer(SEED.encode(), d),
        ArgumentTypeError,
        TypeError,
        ["formula", "bytes"],
    ),
    ("data None", lambda d: lmf.lmer(SEED, None), ArgumentTypeError, TypeError, ["NoneType"]),
    (
        "data a Series",
        lambda d: lmf.lmer(SEED, d["normexam"]),
        ArgumentTypeError,
        TypeError,
        ["DataFrame", "Series"],
    ),
    (
        "engine None",
        lambda d: lmf.lmer(SEED, d, engine=None),
        ArgumentTypeError,
        TypeError,
        ["engine", "None"],
    ),
    (
        "weights a single number",
        lambda d: lmf.lmer(SEED, d, weights=2.0),
        DataError,
        ValueError,
        ["weights", "one value per row"],
    ),
    (
        "data_name not a string",
        lambda d: lmf.lmer(SEED, d, data_name=["exam"]),
        ArgumentTypeError,
        TypeError,
        ["data_name", "list"],
    ),
    (
        "gls with R's REML= spelling",
        lambda d: lmf.gls("normexam ~ standLRT", d, REML=True),
        ArgumentTypeError,
        TypeError,
        ["gls()", "REML=", "reml="],
    ),
    (
        "reml as a string in refit",
        lambda d: lmf.refit(_fit(d), reml="ML"),
        ArgumentTypeError,
        TypeError,
        ["reml", "'ML'"],
    ),
    (
        "refit of something that is not a fit",
        lambda d: lmf.refit(None),
        ArgumentTypeError,
        TypeError,
        ["refit", "NoneType"],
    ),
    (
        "anova's refit as a string",
        lambda d: lmf.anova(_fit(d), _fit(d), refit="no"),
        ArgumentTypeError,
        TypeError,
        ["refit", "'no'"],
    ),
    (
        "contrast as a coefficient name",
        lambda d: _fit(d).contrast("standLRT"),
        ArgumentTypeError,
        TypeError,
        ["L must be", "{'standLRT': {'standLRT': 1}}"],
    ),
    (
        "contrast rows of unequal length",
        lambda d: _fit(d).contrast([[1, 0], [1]]),
        ArgumentTypeError,
        TypeError,
        ["equal length", "2 columns"],
    ),
    (
        "contrast weight as text",
        lambda d: _fit(d).contrast({"slope": {"standLRT": "1"}}),
        ArgumentTypeError,
        TypeError,
        ["'slope'", "weight '1'"],
    ),
    (
        "contrast of a label without weights",
        lambda d: _fit(d).contrast({"slope": 1}),
        ArgumentTypeError,
        TypeError,
        ["'slope'", "must map coefficient names"],
    ),
    (
        "contrast with a missing weight",
        lambda d: _fit(d).contrast([np.nan, 1.0]),
        DataError,
        ValueError,
        ["missing or infinite"],
    ),
    (
        "contrast as a 3-d array",
        lambda d: _fit(d).contrast(np.zeros((2, 2, 2))),
        ArgumentTypeError,
        TypeError,
        ["3 dimensions"],
    ),
    (
        "emmeans level as text",
        lambda d: _fit(d, "normexam ~ sex + (1 | school)").emmeans("sex", level="95%"),
        ArgumentTypeError,
        TypeError,
        ["level", "'95%'"],
    ),
    (
        "emmeans at a missing value",
        lambda d: _fit(d).emmeans("standLRT", at={"standLRT": [np.nan, 1.0]}),
        DataError,
        ValueError,
        ["at['standLRT']", "finite"],
    ),
    (
        "is_singular's tol as text",
        lambda d: _fit(d).is_singular("1e-4"),
        ArgumentTypeError,
        TypeError,
        ["tol", "str"],
    ),
    (
        "allow_new_levels as text",
        lambda d: _fit(d).predict(d.head(), allow_new_levels="yes"),
        ArgumentTypeError,
        TypeError,
        ["allow_new_levels", "'yes'"],
    ),
    (
        "ranova's reduce_terms as text",
        lambda d: _fit(d).ranova(reduce_terms="no"),
        ArgumentTypeError,
        TypeError,
        ["reduce_terms"],
    ),
    (
        "tidy's conf_int as text",
        lambda d: _fit(d).tidy(conf_int="yes"),
        ArgumentTypeError,
        TypeError,
        ["conf_int"],
    ),
    (
        "select_random with one candidate",
        lambda d: lmf.select_random("normexam ~ standLRT", d, candidates=["(1 | school)"]),
        ArgumentTypeError,
        TypeError,
        ["at least two candidates"],
    ),
    (
        "select_random candidates as one string",
        lambda d: lmf.select_random("normexam ~ standLRT", d, candidates="(1 | school)"),
        ArgumentTypeError,
        TypeError,
        ["candidates must be a list"],
    ),
    (
        "select_covariance subject not in the data",
        lambda d: lmf.select_covariance("normexam ~ standLRT", d, subject="schol"),
        DataError,
        ValueError,
        ["'schol'", "'school'"],
    ),
    (
        "select_random slope not in the data",
        lambda d: lmf.select_random("normexam ~ 1", d, group="school", slope="standLRTT"),
        DataError,
        ValueError,
        ["'standLRTT'", "'standLRT'"],
    ),
    (
        "select_covariance weights of the wrong length",
        lambda d: lmf.select_covariance(
            "normexam ~ 1", d, subject="school", weights=[1.0, 2.0], candidates=["CS", "AR1"]
        ),
        DataError,
        ValueError,
        ["2 values for 4059 rows"],
    ),
    (
        "read_csv of a number",
        lambda d: lmf.datasets.read_csv(3),
        ArgumentTypeError,
        TypeError,
        ["path", "int"],
    ),
    (
        "read_csv of a binary file",
        lambda d: lmf.datasets.read_csv(_binary_file()),
        DataError,
        ValueError,
        ["UTF-8", "CSV"],
    ),
    (
        "variance function with nothing after the bar",
        lambda d: lmf.lmer(SEED, d, variance=lmf.VarPower("standLRT | ")),
        DataError,
        ValueError,
        ["nothing right of '|'"],
    ),
    # -- data: tables and column labels ------------------------------------------------
    (
        "frame without columns",
        lambda d: lmf.lmer(SEED, pd.DataFrame()),
        DataError,
        ValueError,
        ["no rows"],
    ),
    (
        "dict of columns of unequal length",
        lambda d: lmf.lmer(SEED, {"normexam": [1.0, 2.0], "school": ["a"]}),
        DataError,
        ValueError,
        ["same number of values"],
    ),
    (
        "MultiIndex column labels",
        lambda d: lmf.lmer(SEED, pd.concat({"exam": d}, axis=1)),
        DataError,
        ValueError,
        ["MultiIndex", "Flatten"],
    ),
    (
        "duplicated column name",
        lambda d: lmf.lmer(SEED, pd.concat([d, d[["standLRT"]]], axis=1)),
        DataError,
        ValueError,
        ["2 columns named 'standLRT'", "duplicated"],
    ),
    (
        "all-missing response",
        lambda d: lmf.lmer(SEED, _with(d, normexam=np.nan)),
        DataError,
        ValueError,
        ["no complete rows", "normexam"],
    ),
    (
        "all-missing grouping column",
        lambda d: lmf.lmer(SEED, _with(d, school=None)),
        DataError,
        ValueError,
        ["no complete rows", "school"],
    ),
    # -- data: column values -----------------------------------------------------------
    (
        "object column mixing numbers and text",
        lambda d: lmf.lmer(
            SEED, _with(d, standLRT=d["standLRT"].astype(object).where(d.index != 5, "n/a"))
        ),
        DataError,
        ValueError,
        ["'standLRT'", "mixes numbers and text", "'n/a'", "to_numeric"],
    ),
    (
        "grouping column mixing numbers and text",
        lambda d: lmf.lmer(
            SEED, _with(d, school=d["school"].astype(object).where(d.index % 2 == 0, 7))
        ),
        DataError,
        ValueError,
        ["'school'", "mixes numbers and text"],
    ),
    (
        "lists in cells",
        lambda d: lmf.lmer("normexam ~ v + (1 | school)", _with(d, v=[[1, 2]] * len(d))),
        DataError,
        ValueError,
        ["'v'", "list"],
    ),
    (
        "complex numbers",
        lambda d: lmf.lmer("normexam ~ v + (1 | school)", _with(d, v=1 + 1j)),
        DataError,
        ValueError,
        ["'v'", "complex"],
    ),
    (
        "periods",
        lambda d: lmf.lmer("normexam ~ v + (1 | school)", _with(d, v=pd.Period("2020-01"))),
        DataError,
        ValueError,
        ["'v'", "period"],
    ),
    (
        "time-zone dates",
        lambda d: lmf.lmer(
            "normexam ~ v + (1 | school)", _with(d, v=pd.Timestamp("2020-01-01", tz="UTC"))
        ),
        DataError,
        ValueError,
        ["'v'", "dates", "days since"],
    ),
    (
        "durations",
        lambda d: lmf.lmer("normexam ~ v + (1 | school)", _with(d, v=pd.Timedelta("1D"))),
        DataError,
        ValueError,
        ["'v'", "durations"],
    ),
    (
        "factor with one level",
        lambda d: lmf.lmer("normexam ~ sex + (1 | school)", _with(d, sex="F")),
        DataError,
        ValueError,
        ["'sex'", "single level ('F')", "2 or more levels"],
    ),
    (
        "log of values <= 0",
        lambda d: lmf.lmer("normexam ~ log(standLRT) + (1 | school)", d),
        DataError,
        ValueError,
        ["'log(standLRT)'", "missing or infinite", "log"],
    ),
    (
        "offset of a text column",
        lambda d: lmf.lmer("normexam ~ offset(sex) + (1 | school)", d),
        DataError,
        ValueError,
        ["offset(sex)", "one numeric value per row"],
    ),
    (
        "response of 1e200",
        lambda d: lmf.lmer(SEED, _with(d, normexam=d["normexam"] * 1e200)),
        DataError,
        ValueError,
        ["'normexam'", "e+200", "Rescale"],
    ),
    (
        "covariate of 1e-200",
        lambda d: lmf.lmer(SEED, _with(d, standLRT=d["standLRT"] * 1e-200)),
        DataError,
        ValueError,
        ["'standLRT'", "e-200", "Rescale"],
    ),
    (
        "infinite response",
        lambda d: lmf.lmer(SEED, _with(d, normexam=d["normexam"].where(d.index != 0, np.inf))),
        DataError,
        ValueError,
        ["'normexam'", "infinite"],
    ),
    (
        "-inf in a numeric grouping column",
        lambda d: lmf.lmer(SEED, _with(d, school=np.where(d.index == 0, -np.inf, d.index % 9))),
        DataError,
        ValueError,
        ["'school'", "infinite"],
    ),
    (
        "more fixed effects than rows",
        lambda d: lmf.lmer("normexam ~ factor(v) + (1 | school)", _with(d.head(300), v=range(300))),
        DataError,
        ValueError,
        ["300 estimable columns for 300 observations", "'factor(v)'", "fewer fixed effects"],
    ),
    (
        "more random effects than rows",
        lambda d: lmf.lmer(
            "normexam ~ standLRT + (1 + standLRT | pair)", _with(d, pair=np.arange(len(d)) // 2)
        ),
        DataError,
        ValueError,
        ["number of observations (=4059) <= number of random effects (=4060)", "'pair'"],
    ),
    # -- weights -----------------------------------------------------------------------
    (
        "zero weights",
        lambda d: lmf.lmer(SEED, d, weights=np.zeros(len(d))),
        DataError,
        ValueError,
        ["weights", "positive"],
    ),
    (
        "infinite weights",
        lambda d: lmf.lmer(SEED, d, weights=np.full(len(d), np.inf)),
        DataError,
        ValueError,
        ["weights", "finite"],
    ),
    (
        "weights all missing",
        lambda d: lmf.lmer(SEED, d, weights=np.full(len(d), np.nan)),
        DataError,
        ValueError,
        ["no complete rows"],
    ),
    (
        "weights Series with another index",
        lambda d: lmf.lmer(SEED, d, weights=pd.Series(1.0, index=d.index + 10_000)),
        DataError,
        ValueError,
        ["index", "weights.reindex(data.index)"],
    ),
    # -- newdata -----------------------------------------------------------------------
    (
        "newdata with a factor level the fit never saw",
        lambda d: _fit(d, "normexam ~ sex + (1 | school)").predict(d.head().assign(sex="Q")),
        DataError,
        ValueError,
        ["['Q']", "'sex'", "never saw", "['F', 'M']"],
    ),
    (
        "newdata with a value factor() never saw",
        lambda d: _fit(d, "normexam ~ factor(vr) + (1 | school)").predict(
            d.head().assign(vr="nowhere")
        ),
        DataError,
        ValueError,
        ["'nowhere'"],
    ),
    (
        "newdata with a number factor() never saw",
        lambda d: _fit(_with(d, k=d.index % 3), "normexam ~ factor(k) + (1 | school)").predict(
            _with(d.head(), k=7)
        ),
        DataError,
        ValueError,
        # factor() labels numbers as R does: the level "7".
        ["{'7'}", "fitted levels"],
    ),
    (
        "newdata with text in a numeric column",
        lambda d: _fit(d).predict(d.head().assign(standLRT="0.5")),
        DataError,
        ValueError,
        ["'standLRT'", "numeric in the fit", "to_numeric"],
    ),
    (
        "newdata as a list",
        lambda d: _fit(d).predict([1.0, 2.0]),
        ArgumentTypeError,
        TypeError,
        ["newdata", "list"],
    ),
]


_FITS: dict[tuple[str, int], lmf.LmerResult] = {}


def _fit(d: pd.DataFrame, formula: str = "normexam ~ standLRT + (1 | school)") -> Any:
    """A fit of the exam data (once per formula and data)."""
    key = (formula, id(d) if "k" in d.columns else 0)
    if key not in _FITS:
        _FITS[key] = lmf.lmer(formula, d)
    return _FITS[key]


def _binary_file() -> str:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "data.csv"
    path.write_bytes(bytes(range(128, 256)) * 4)
    return str(path)


@pytest.mark.parametrize(
    ("call", "error", "builtin", "parts"),
    [row[1:] for row in CATALOGUE],
    ids=[row[0] for row in CATALOGUE],
)
def test_bad_input(
    exam: pd.DataFrame,
    call: Callable[[pd.DataFrame], Any],
    error: type,
    builtin: type,
    parts: list[str],
) -> None:
    with pytest.raises(error) as info:
        call(exam)
    assert isinstance(info.value, builtin)
    assert isinstance(info.value, lmf.LmeFormulaError)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))


def test_new_levels_need_permission(exam: pd.DataFrame) -> None:
    fit = lmf.lmer("normexam ~ standLRT + (1 | school)", exam)
    new = exam.head(3).assign(school="new school")
    with pytest.raises(DataError, match="allow_new_levels=True"):
        fit.predict(new)
    # A new level gets random effect 0: the fixed-effects prediction.
    np.testing.assert_allclose(
        fit.predict(new, allow_new_levels=True), fit.predict(new, re_form="~0")
    )


def test_population_predictions_need_no_grouping_column(exam: pd.DataFrame) -> None:
    # R: predict(m, newdata = data.frame(standLRT = ...), re.form = NA) reads no school.
    fit = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", exam)
    new = exam.head(3)
    np.testing.assert_allclose(
        fit.predict(new[["standLRT"]], re_form="~0"), fit.predict(new, re_form="~0")
    )
    # With the random effects the grouping column is needed, and the error says so.
    with pytest.raises(DataError, match="school"):
        fit.predict(new[["standLRT"]])


def test_missing_values_dropped_counted_reported(exam: pd.DataFrame) -> None:
    data = exam.copy()
    data.loc[data.index[[3, 10]], "standLRT"] = np.nan
    data.loc[data.index[20], "normexam"] = np.nan
    data.loc[data.index[30], "vr"] = None  # not in the model: the row stays
    before = data.copy()
    fit = lmf.lmer("normexam ~ standLRT + (1 | school)", data)
    assert fit.nobs == len(exam) - 3
    assert fit.n_dropped == 3
    assert "3 observations deleted due to missingness" in str(fit.summary())
    pd.testing.assert_frame_equal(data, before)


def test_predict_newdata_missing_column(exam: pd.DataFrame) -> None:
    fit = lmf.lmer("normexam ~ standLRT + (1 | school)", exam)
    with pytest.raises(DataError, match=r"\['standLRT'\]"):
        fit.predict(exam.drop(columns=["standLRT", "normexam"]))


def test_caller_data_not_modified(exam: pd.DataFrame) -> None:
    before = exam.copy()
    lmf.lmer("normexam ~ standLRT + sex + (1 + standLRT | school)", exam)
    pd.testing.assert_frame_equal(exam, before)


# -- awkward but valid data: fitted as R fits it, never modified ---------------------------


def _awkward(exam: pd.DataFrame) -> pd.DataFrame:
    """Exam with pandas' awkward dtypes and missing values in the model's columns."""
    d = exam.copy()
    d["lrt"] = d["standLRT"].astype("Float64")
    d.loc[d.index[[1, 2]], "lrt"] = pd.NA
    d["sex_s"] = d["sex"].astype("string")
    d.loc[d.index[3], "sex_s"] = pd.NA
    d["sch"] = pd.Categorical(d["school"], categories=[*sorted(d["school"].unique()), "99"])
    d["high"] = d["standLRT"] > 0
    d["w"] = np.where(d.index % 7 == 0, 2.0, 1.0)
    d.loc[d.index[4], "w"] = np.nan
    return d


AWKWARD = "normexam ~ lrt + sex_s + high + (1 + lrt | sch)"


def test_awkward_dtypes_fit_as_plain_ones(exam: pd.DataFrame) -> None:
    # Nullable floats and strings, a categorical with an unused level, a logical: the same
    # fit as the plain columns, rows with missing values dropped and counted (na.omit).
    d = _awkward(exam)
    fit = lmf.lmer(AWKWARD, d, weights="w")
    plain = d.assign(
        lrt=d["lrt"].astype(float), sex_s=d["sex_s"].astype(object), sch=d["sch"].astype(str)
    ).dropna(subset=["lrt", "sex_s", "w"])
    ref = lmf.lmer(AWKWARD, plain, weights="w")
    assert fit.n_dropped == 4 and fit.nobs == len(exam) - 4
    assert "4 observations deleted due to missingness" in str(fit.summary())
    assert list(fit.fixef.index) == ["(Intercept)", "lrt", "sex_sM", "highTRUE"]
    np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-10)
    assert fit.loglik == pytest.approx(ref.loglik, abs=1e-9)
    assert fit.ngroups == {"sch": 65}


@pytest.mark.parametrize(
    ("column", "formula"),
    [
        ("class", "normexam ~ `class` + (1 | school)"),
        ("my x", "normexam ~ `my x` + (1 | school)"),
        (0, "normexam ~ `0` + (1 | school)"),
    ],
    ids=["keyword", "space", "integer label"],
)
def test_awkward_column_names(exam: pd.DataFrame, column: object, formula: str) -> None:
    plain = lmf.lmer("normexam ~ standLRT + (1 | school)", exam)
    d = exam.rename(columns={"standLRT": column})
    fit = lmf.lmer(formula, d)
    assert fit.loglik == pytest.approx(plain.loglik, abs=1e-8)
    assert fit.fixef.iloc[1] == pytest.approx(plain.fixef["standLRT"])
    np.testing.assert_allclose(fit.predict(d.head()), plain.predict(exam.head()), rtol=1e-9)


def test_logical_grouping_factor(exam: pd.DataFrame) -> None:
    with pytest.warns(lmf.SingularFitWarning):
        fit = lmf.lmer("normexam ~ standLRT + (1 | high)", exam.assign(high=exam["standLRT"] > 0))
    assert list(fit.ranef["high"].index) == ["FALSE", "TRUE"]


def test_empty_newdata_predicts_nothing(exam: pd.DataFrame) -> None:
    fit = _fit(exam)
    assert fit.predict(exam.iloc[:0]).shape == (0,)


def test_contrast_as_a_series_of_named_weights(exam: pd.DataFrame) -> None:
    fit = _fit(exam)
    got = fit.contrast(pd.Series({"standLRT": 1.0}, name="slope"))
    assert list(got.index) == ["slope"]
    assert got["estimate"].iloc[0] == pytest.approx(fit.fixef["standLRT"])


def test_predict_passes_missing_values_through(exam: pd.DataFrame) -> None:
    # R's predict(m, newdata) with na.action = na.pass: NA where a row lacks a value.
    fit = _fit(exam)
    new = exam.head(4).copy()
    new.loc[new.index[1], "standLRT"] = np.nan
    new.loc[new.index[2], "school"] = None
    got = fit.predict(new)
    assert np.isnan(got[1]) and np.isnan(got[2])
    np.testing.assert_array_equal(got[[0, 3]], fit.predict(exam.head(4))[[0, 3]])


@pytest.mark.parametrize(
    "call",
    [
        lambda d: lmf.lmer(AWKWARD, d, weights="w"),
        lambda d: lmf.lmer(AWKWARD, d, residual=lmf.AR1("1 | sch")),
        lambda d: lmf.gls("normexam ~ lrt + high", d, variance=lmf.VarIdent("sex_s")),
        lambda d: lmf.to_mixedlm("normexam ~ lrt + (1 | sch)", d),
        lambda d: lmf.lmer(AWKWARD, d).predict(d, allow_new_levels=True),
        lambda d: lmf.lmer(AWKWARD, d).emmeans("high"),
        lambda d: lmf.refit(lmf.lmer(AWKWARD, d), "normexam ~ lrt + (1 | sch)"),
        lambda d: lmf.select_random("normexam ~ lrt", d, group="sch", slope="lrt"),
        lambda d: lmf.select_covariance(
            "normexam ~ lrt", d.head(400), subject="sch", candidates=["CS", "AR1"]
        ),
    ],
    ids=[
        "lmer",
        "lmer residual",
        "gls",
        "to_mixedlm",
        "predict",
        "emmeans",
        "refit",
        "select_random",
        "select_covariance",
    ],
)
def test_data_never_modified(exam: pd.DataFrame, call: Callable[[pd.DataFrame], Any]) -> None:
    d = _awkward(exam)
    before = d.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.LmeFormulaWarning)
        call(d)
    pd.testing.assert_frame_equal(d, before, check_exact=True)
    assert list(d.columns) == list(before.columns)
