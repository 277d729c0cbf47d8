"""glmer's arguments and responses: bad input gets lmeformula's own errors naming the culprit
(a table: id, call, error class, builtin it must also be, message parts), and every way R
writes a binomial response gives the same fit."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
from lmeformula.errors import ArgumentTypeError, DataError, FormulaError


@pytest.fixture(scope="module")
def cbpp() -> pd.DataFrame:
    return lmf.datasets.load("cbpp")


CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _with(d: pd.DataFrame, **changes: Any) -> pd.DataFrame:
    out = d.copy()
    for col, value in changes.items():
        out[col] = value
    return out


CATALOGUE: list[tuple[str, Callable[[pd.DataFrame], Any], type, type, list[str]]] = [
    (
        "unknown family",
        lambda d: lmf.glmer(CBPP, d, family="binomal"),
        ArgumentTypeError,
        TypeError,
        ["'binomal'", "'binomial'"],
    ),
    (
        "link the family does not take",
        lambda d: lmf.glmer(CBPP, d, family=lmf.families.binomial(link="inverse")),
        ArgumentTypeError,
        TypeError,
        ["'inverse'", "logit", "probit"],
    ),
    (
        "gaussian identity is lmer",
        lambda d: lmf.glmer("incidence ~ period + (1 | herd)", d, family="gaussian"),
        ArgumentTypeError,
        TypeError,
        ["lmf.lmer"],
    ),
    (
        "negative binomial by name",
        lambda d: lmf.glmer("incidence ~ period + (1 | herd)", d, family="negative.binomial"),
        ArgumentTypeError,
        TypeError,
        ["glmer_nb"],
    ),
    (
        "proportion above 1",
        lambda d: lmf.glmer("p ~ period + (1 | herd)", _with(d, p=np.r_[1.5, np.zeros(55)])),
        DataError,
        ValueError,
        ["'p'", "1.5", "row 1", "[0, 1]"],
    ),
    (
        "proportion without trials",
        lambda d: lmf.glmer("incidence / size ~ period + (1 | herd)", d),
        DataError,
        ValueError,
        ["incidence / size", "neither 0 nor 1", "weights="],
    ),
    (
        "proportion not a whole number of successes",
        lambda d: lmf.glmer(
            "incidence / size ~ period + (1 | herd)", d, weights=d["size"].to_numpy() + 1
        ),
        DataError,
        ValueError,
        ["whole number of successes", "weights="],
    ),
    (
        "negative count",
        lambda d: lmf.glmer(
            "n ~ period + (1 | herd)", _with(d, n=np.r_[-1, d["incidence"][1:]]), family="poisson"
        ),
        DataError,
        ValueError,
        ["'n'", "-1", "negative count"],
    ),
    (
        "non-integer count",
        lambda d: lmf.glmer(
            "n ~ period + (1 | herd)", _with(d, n=d["incidence"] + 0.5), family="poisson"
        ),
        DataError,
        ValueError,
        ["'n'", "2.5", "non-integer", "offset(log("],
    ),
    (
        "Gamma needs positive values",
        lambda d: lmf.glmer("incidence ~ period + (1 | herd)", d, family="Gamma"),
        DataError,
        ValueError,
        ["'incidence'", "0 (row", "positive"],
    ),
    (
        "cbind with three arguments",
        lambda d: lmf.glmer("cbind(incidence, size, size) ~ period + (1 | herd)", d),
        FormulaError,
        ValueError,
        ["cbind()", "two arguments", "got 3"],
    ),
    (
        "cbind with negative failures",
        lambda d: lmf.glmer("cbind(incidence, incidence - size) ~ period + (1 | herd)", d),
        DataError,
        ValueError,
        ["failures", "incidence - size", "whole numbers of at least 0"],
    ),
    (
        "cbind for a Poisson family",
        lambda d: lmf.glmer(CBPP, d, family="poisson"),
        FormulaError,
        ValueError,
        ["cbind()", "binomial", "poisson"],
    ),
    (
        "factor response for a Poisson family",
        lambda d: lmf.glmer("herd ~ period + (1 | size)", d, family="poisson"),
        DataError,
        ValueError,
        ["'herd'", "not numeric", "binomial"],
    ),
    (
        "one-level factor response",
        lambda d: lmf.glmer("r ~ period + (1 | herd)", _with(d, r="yes")),
        DataError,
        ValueError,
        ["'r'", "one level", "'yes'"],
    ),
    (
        "nagq negative",
        lambda d: lmf.glmer(CBPP, d, nagq=-1),
        ArgumentTypeError,
        TypeError,
        ["nagq", "-1"],
    ),
    (
        "nagq with two terms",
        lambda d: lmf.glmer(
            "cbind(incidence, size - incidence) ~ 1 + (1 | herd) + (1 | period)", d, nagq=5
        ),
        FormulaError,
        ValueError,
        ["nagq=5", "single scalar", "nagq=1"],
    ),
    (
        "offset of the wrong length",
        lambda d: lmf.glmer(CBPP, d, offset=[0.0, 1.0]),
        DataError,
        ValueError,
        ["offset=", "56", "2 value"],
    ),
    (
        "offset column missing",
        lambda d: lmf.glmer(CBPP, d, offset="exposure"),
        DataError,
        ValueError,
        ["'exposure'"],
    ),
    (
        "unknown argument",
        lambda d: lmf.glmer(CBPP, d, nAGQ=25),
        ArgumentTypeError,
        TypeError,
        ["nAGQ"],
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "builtin", "parts"),
    [row[1:] for row in CATALOGUE],
    ids=[row[0] for row in CATALOGUE],
)
def test_bad_input(
    cbpp: pd.DataFrame,
    call: Callable[[pd.DataFrame], Any],
    error: type,
    builtin: type,
    parts: list[str],
) -> None:
    with pytest.raises(error) as info:
        call(cbpp)
    assert isinstance(info.value, builtin)
    assert isinstance(info.value, lmf.LmeFormulaError)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))


def _bernoulli(cbpp: pd.DataFrame) -> pd.DataFrame:
    """cbpp's counts as one row per animal, y 1 for a case."""
    rows = []
    for r in cbpp.itertuples(index=False):
        rows += [(r.herd, r.period, 1)] * int(r.incidence)
        rows += [(r.herd, r.period, 0)] * int(r.size - r.incidence)
    return pd.DataFrame(rows, columns=["herd", "period", "y"])


RESPONSES: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], str]] = [
    ("0/1", lambda b: b, "y"),
    ("logical", lambda b: b.assign(y=b["y"] == 1), "y"),
    ("strings, failure first", lambda b: b.assign(y=np.where(b["y"] == 1, "yes", "no")), "y"),
    (
        "categorical, R's level order",
        lambda b: b.assign(
            y=pd.Categorical(np.where(b["y"] == 1, "a", "b"), categories=["b", "a"])
        ),
        "y",
    ),
]


@pytest.mark.parametrize(
    ("make", "response"), [r[1:] for r in RESPONSES], ids=[r[0] for r in RESPONSES]
)
def test_binary_responses_fit_as_the_counts(
    cbpp: pd.DataFrame, make: Callable[[pd.DataFrame], pd.DataFrame], response: str
) -> None:
    counts = lmf.glmer(CBPP, cbpp)
    data = make(_bernoulli(cbpp))
    fit = lmf.glmer(f"{response} ~ period + (1 | herd)", data)
    # The same likelihood up to the binomial coefficients (which 0/1 rows do not have).
    np.testing.assert_allclose(fit.fixef, counts.fixef, atol=1e-5)
    np.testing.assert_allclose(fit.theta, counts.theta, atol=1e-5)


def test_missing_rows_dropped_counted_and_data_unchanged(cbpp: pd.DataFrame) -> None:
    data = cbpp.copy()
    data.loc[3, "incidence"] = np.nan
    before = data.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmf.glmer(CBPP, data)
    assert fit.nobs == 55 and fit.n_dropped == 1
    pd.testing.assert_frame_equal(data, before)
    assert "(1 observation deleted due to missingness)" in str(fit.summary())


def test_offset_argument_equals_offset_term() -> None:
    owls = lmf.datasets.load("owls")
    base = "SiblingNegotiation ~ FoodTreatment * SexParent + (1 | Nest)"
    term = lmf.glmer(base.replace("~", "~ offset(log(BroodSize)) +"), owls, family="poisson")
    given = lmf.glmer(base, owls, family="poisson", offset=np.log(owls["BroodSize"]))
    np.testing.assert_allclose(given.fixef, term.fixef, rtol=1e-8)
    assert given.loglik == pytest.approx(term.loglik, rel=1e-10)


def test_statsmodels_family_accepted(cbpp: pd.DataFrame) -> None:
    sm = pytest.importorskip("statsmodels.api", reason="statsmodels is a dependency")
    probit = lmf.glmer(CBPP, cbpp, family=sm.families.Binomial(sm.families.links.Probit()))
    ours = lmf.glmer(CBPP, cbpp, family=lmf.families.binomial(link="probit"))
    assert probit.family.link.name == "probit"
    assert probit.loglik == pytest.approx(ours.loglik, rel=1e-12)
