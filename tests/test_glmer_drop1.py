"""drop1 of glmer fits against R's ``drop1(m, test = "Chisq")`` (lme4 1.1.31; the values in
tests/reference/glmer_drop1.json, written by tests/reference/make_glmer_drop1.R): the
terms dropped, their df, the reduced models' AIC, the LRT and its p-value."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import lmeformula as lmf

REF = json.loads((Path(__file__).parent / "reference" / "glmer_drop1.json").read_text())
LOGLIK_TOL = 2e-3  # the reference tests' tolerance per log-likelihood

CASES = [
    (
        "owls",
        "owls",
        "SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest)",
        "poisson",
    ),
    (
        "contraception",
        "contraception",
        "use ~ age + I(age^2) + urban + livch + (1 | district)",
        "binomial",
    ),
]


@pytest.mark.parametrize(("name", "dataset", "formula", "family"), CASES, ids=[c[0] for c in CASES])
def test_drop1_matches_r(name: str, dataset: str, formula: str, family: str) -> None:
    ref = REF[name]  # R: drop1(m, test = "Chisq")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmf.glmer(formula, lmf.datasets.load(dataset), family=family)
    table = fit.drop1()
    assert list(table.index) == ref["terms"]
    np.testing.assert_array_equal(table["npar"].to_numpy()[1:], ref["npar"][1:])
    # Two fits per row, each within the log-likelihood tolerance of lme4's (ours at least
    # as high): the AIC and LRT within twice that on either side.
    np.testing.assert_allclose(table["AIC"], ref["AIC"], atol=4 * LOGLIK_TOL)
    np.testing.assert_allclose(table["LRT"].to_numpy()[1:], ref["LRT"][1:], atol=4 * LOGLIK_TOL)
    np.testing.assert_allclose(table["Pr(Chi)"].to_numpy()[1:], ref["p"][1:], rtol=0.01)


def test_poisson_against_negative_binomial() -> None:
    # R (lme4 1.1.31): mp <- glmer(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION), g, poisson);
    # mnb <- glmer.nb(same); anova(mp, mnb)$Chisq[2] = 455.3238343, on 1 df. Our Poisson
    # log-likelihood is 2.2e-3 above lme4's, so the statistic is 3.7e-3 below.
    ticks = lmf.datasets.load("grouseticks")
    formula = "TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)"
    mp = lmf.glmer(formula, ticks, family="poisson")
    mnb = lmf.glmer_nb(formula, ticks)
    table = lmf.anova(mp, mnb)
    assert table["Df"].iloc[1] == 1
    assert abs(table["Chisq"].iloc[1] - 455.3238343) < 2 * 2 * LOGLIK_TOL
    # θ = ∞ is the boundary: the mixture halves the χ²₁ p-value.
    p = table["Pr(>Chisq)"].iloc[1]
    assert table["Pr(>Chisq) mixture"].iloc[1] == 0.5 * p
    assert "θ" in table.attrs["note"]
    # Other families still refuse.
    gamma = lmf.glmer("y ~ x + (1 | g)", lmf.datasets.load("gammasim"), family="Gamma")
    with pytest.raises(lmf.DataError, match="different families"):
        lmf.anova(mp, gamma)


def test_compare_ranks_glmer_fits() -> None:
    cbpp = lmf.datasets.load("cbpp")
    m0 = lmf.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp)
    m1 = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    table = lmf.compare(m0, m1, names=["m0", "m1"])
    # The ranking is by AIC (R: AIC(m0, m1)); the test between them is anova's.
    assert list(table.index) == ["m1", "m0"]
    assert table.loc["m1", "aic"] == m1.aic
    assert table.loc["m0", "aic"] == m0.aic
    chisq = lmf.anova(m0, m1)["Chisq"].iloc[1]
    assert table.loc["m1", "lrt"] == pytest.approx(chisq, rel=1e-12)
    ticks = lmf.datasets.load("grouseticks")
    mp = lmf.glmer("TICKS ~ YEAR + (1 | LOCATION)", ticks, family="poisson")
    with pytest.raises(lmf.DataError, match="different families"):
        lmf.compare(m1, mp)
