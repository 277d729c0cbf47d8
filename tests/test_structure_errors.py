"""Bad covariance-structure input: each error is lmeformula's own, subclasses the builtin
users catch, and names the culprit and what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
from lmeformula.errors import ArgumentTypeError, DataError, FormulaError, NotExpressibleError


@pytest.fixture(scope="module")
def orth() -> pd.DataFrame:
    return lmf.datasets.load("orthodont")


def _with(d: pd.DataFrame, **changes: Any) -> pd.DataFrame:
    out = d.copy()
    for col, value in changes.items():
        out[col] = value
    return out


def _split_times(d: pd.DataFrame) -> pd.DataFrame:
    # Half the subjects seen at 8 and 10 only, the others at 12 and 14 only.
    first = d["Subject"].isin(d["Subject"].unique()[::2])
    return d[(first & d["age"].isin([8, 10])) | (~first & d["age"].isin([12, 14]))]


FML = "distance ~ Sex * I(age - 11)"
LME = "distance ~ age + (1 | Subject)"

CATALOGUE: list[tuple[str, Callable[[pd.DataFrame], Any], type, type, list[str]]] = [
    (
        "nlme's starting value given to a structure",
        lambda d: lmf.AR1("age | Subject", value=0.5),
        ArgumentTypeError,
        TypeError,
        ["'value'", "form, nugget", "estimated"],
    ),
    (
        "structure without its form",
        lambda d: lmf.CS(),
        ArgumentTypeError,
        TypeError,
        ["CS() needs its form", "lmf.CS('time | id')"],
    ),
    (
        "variance function with an unknown argument",
        lambda d: lmf.VarIdent("Sex", fixed={"Male": 1}),
        ArgumentTypeError,
        TypeError,
        ["'fixed'", "lmf.VarIdent('g')"],
    ),
    (
        "time column not in the data",
        lambda d: lmf.gls(FML, d, residual=lmf.AR1("agee | Subject")),
        DataError,
        ValueError,
        ["'agee'", "residual=AR1", "'age'"],
    ),
    (
        "subject column not in the data",
        lambda d: lmf.lmer(LME, d, residual=lmf.CS("age | Subj")),
        DataError,
        ValueError,
        ["'Subj'", "'Subject'"],
    ),
    (
        "time repeated within a subject",
        lambda d: lmf.gls(FML, d, residual=lmf.UN("Sex | Subject")),
        DataError,
        ValueError,
        ["'M01'", "'Male'", "more than once", "'1 | id'"],
    ),
    (
        "two times never seen together",
        lambda d: lmf.gls(FML, _split_times(d), residual=lmf.UN("age | Subject")),
        DataError,
        ValueError,
        ["no subject has both time", "TOEP"],
    ),
    (
        "a lag never observed",
        lambda d: lmf.gls(FML, _split_times(d), residual=lmf.TOEP("age | Subject")),
        DataError,
        ValueError,
        ["apart", "AR1"],
    ),
    (
        "one row per subject",
        lambda d: lmf.gls(FML, _with(d, row=np.arange(len(d))), residual=lmf.AR1("1 | row")),
        DataError,
        ValueError,
        ["single row", "subject column"],
    ),
    (
        "per-time variances without a time",
        lambda d: lmf.gls(FML, d, residual=lmf.CSH("1 | Subject")),
        DataError,
        ValueError,
        ["CSH", "time variable", "'age | Subject'"],
    ),
    (
        "correlation without a subject",
        lambda d: lmf.gls(FML, d, residual=lmf.AR1("age")),
        DataError,
        ValueError,
        ["subject after '|'"],
    ),
    (
        "two bars in a form",
        lambda d: lmf.gls(FML, d, residual=lmf.AR1("age | Subject | Sex")),
        DataError,
        ValueError,
        ["more than one '|'"],
    ),
    (
        "continuous time that is not numeric",
        lambda d: lmf.gls(FML, d, residual=lmf.CAR1("Sex | Subject")),
        DataError,
        ValueError,
        ["'Sex'", "numeric"],
    ),
    (
        "nugget on compound symmetry",
        lambda d: lmf.gls(FML, d, residual=lmf.CS("age | Subject", nugget=True)),
        ArgumentTypeError,
        TypeError,
        ["nugget", "CS"],
    ),
    (
        "residual given as a string",
        lambda d: lmf.gls(FML, d, residual="AR1"),
        ArgumentTypeError,
        TypeError,
        ["residual=", "lmf.AR1('time | id')", "str"],
    ),
    (
        "variance given as a string",
        lambda d: lmf.lmer(LME, d, variance="Sex"),
        ArgumentTypeError,
        TypeError,
        ["variance=", "lmf.VarIdent"],
    ),
    (
        "nlme's correlation= spelling",
        lambda d: lmf.lmer(LME, d, correlation=lmf.AR1("age | Subject")),
        ArgumentTypeError,
        TypeError,
        ["correlation=", "residual="],
    ),
    (
        "VarPower with zeros",
        lambda d: lmf.lmer(LME, _with(d, x=d["age"] - 8), variance=lmf.VarPower("x")),
        DataError,
        ValueError,
        ["'x'", "zeros", "VarExp"],
    ),
    (
        "VarIdent with one level",
        lambda d: lmf.lmer(LME, _with(d, g="a"), variance=lmf.VarIdent("g")),
        DataError,
        ValueError,
        ["'g'", "one value"],
    ),
    (
        "variance covariate not in the data",
        lambda d: lmf.lmer(LME, d, variance=lmf.VarExp("agge")),
        DataError,
        ValueError,
        ["'agge'", "variance=VarExp"],
    ),
    (
        "random effects crossing the residual subjects",
        lambda d: lmf.lmer(
            "distance ~ Sex + (1 | Subject) + (1 | age)",
            d,
            residual=lmf.AR1("age | Subject"),
        ),
        NotExpressibleError,
        ValueError,
        ["'Subject' crosses 'age'", "nest"],
    ),
    (
        "gls with random effects",
        lambda d: lmf.gls(LME, d, residual=lmf.AR1("age | Subject")),
        FormulaError,
        ValueError,
        ["gls()", "1 | Subject", "lmer()"],
    ),
    (
        "residual structure on the statsmodels engine",
        lambda d: lmf.lmer(LME, d, engine="statsmodels", residual=lmf.AR1("age | Subject")),
        NotExpressibleError,
        ValueError,
        ["statsmodels", "residual structures", "engine='auto'"],
    ),
    (
        "correlation of a one-column term",
        lambda d: lmf.lmer("distance ~ age + cs(1 | Subject)", d),
        FormulaError,
        ValueError,
        ["cs(1 | Subject)", "one column", "cannot be identified"],
    ),
    (
        "AR(1) term with an intercept",
        lambda d: lmf.lmer("distance ~ age + ar1(1 + factor(age) | Subject)", d),
        FormulaError,
        ValueError,
        ["no intercept", "ar1(0 + factor(time) | Subject)"],
    ),
    (
        "AR(1) term over a non-integer time",
        lambda d: lmf.lmer("distance ~ age + ar1(0 + t | Subject)", _with(d, t=d["age"] / 3)),
        FormulaError,
        ValueError,
        ["'t'", "whole numbers", "CAR1"],
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "builtin", "needles"),
    [pytest.param(c, e, b, n, id=i) for i, c, e, b, n in CATALOGUE],
)
def test_bad_structure_input(
    orth: pd.DataFrame, call: Callable[[pd.DataFrame], Any], error: type, builtin: type, needles
) -> None:
    with pytest.raises(error) as info:
        call(orth)
    assert isinstance(info.value, builtin)
    for needle in needles:
        assert needle in str(info.value), f"{needle!r} not in: {info.value}"


def test_data_left_unchanged(orth: pd.DataFrame) -> None:
    before = orth.copy()
    lmf.lmer(LME, orth, residual=lmf.AR1("age | Subject"), variance=lmf.VarIdent("Sex"))
    lmf.gls(FML, orth, residual=lmf.UN("age | Subject"))
    pd.testing.assert_frame_equal(orth, before)


def test_missing_rows_dropped_and_counted(orth: pd.DataFrame) -> None:
    # A missing time drops its row, as R's na.omit; the structure still fits the rest.
    d = orth.copy()
    d.loc[[0, 5], "age"] = np.nan
    fit = lmf.gls(FML, d, residual=lmf.AR1("age | Subject"))
    assert fit.n_dropped == 2 and fit.nobs == len(d) - 2
