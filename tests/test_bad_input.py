"""Bad input gets lmeformula's own errors, naming the culprit and saying what to do.

The catalogue is a table: (id, call, error class, builtin it must also be, message parts).
"""

from __future__ import annotations

from collections.abc import Callable
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
]


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
