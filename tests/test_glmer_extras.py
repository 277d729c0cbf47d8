"""Marginal means of models with offsets, and profile intervals of a Gamma glmer, against R.

The reference is tests/reference/glmer_extras.json (tests/reference/make_glmer_extras.R:
lme4 1.1.31, emmeans 1.8.4-1). emmeans puts the mean of the fit's offset vector in the
grid (``ref_grid(m)@grid$.offset.``), for an ``offset()`` term and for glmer's
``offset=`` alike; its own ``offset=`` replaces it. lme4's profile() refuses a family
with a scale, so the Gamma intervals were computed in R from lme4's deviance function
(``devFunOnly = TRUE``) by root-finding on the minimised deviance.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
from lmeformula.errors import ArgumentTypeError

REF = json.loads((Path(__file__).parent / "reference" / "glmer_extras.json").read_text())
# As tests/test_glmer_reference.py: means within 2e-3, SEs within 1.5 % (ours come from the
# Hessian at our optimum, lme4's from its lagged objective), limits within both.
EST_TOL = 2e-3
SE_TOL = 0.015
LMM_TOL = 1e-6  # an lmer fit's means are β's linear functions: the optimum's digits
OWLS = "SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest)"


@pytest.fixture(scope="module")
def owls() -> lmf.GlmerResult:
    return lmf.glmer(OWLS, lmf.datasets.load("owls"), family="poisson")


@pytest.fixture(scope="module")
def owls_offset_argument() -> lmf.GlmerResult:
    data = lmf.datasets.load("owls")
    return lmf.glmer(
        "SiblingNegotiation ~ FoodTreatment * SexParent + (1 | Nest)",
        data,
        family="poisson",
        offset=np.log(data["BroodSize"].to_numpy()),
    )


def _check(table: pd.DataFrame, column: str, ref: dict) -> None:
    np.testing.assert_allclose(table[column], ref["estimate"], rtol=0, atol=EST_TOL)
    np.testing.assert_allclose(table["std_error"], ref["se"], rtol=SE_TOL)
    for col, key in (("lower_cl", "lower"), ("upper_cl", "upper")):
        slack = EST_TOL + 2 * SE_TOL * np.asarray(ref["se"])
        assert np.all(np.abs(table[col].to_numpy() - ref[key]) < slack), col


def test_grid_offset_is_the_mean_offset(owls) -> None:
    from lmeformula.inference.emmeans import grid_offset

    # R: ref_grid(m)@grid$.offset.[1], the mean of log(BroodSize)
    assert grid_offset(owls) == pytest.approx(REF["owls"]["grid_offset"], abs=1e-12)
    assert grid_offset(owls, 0) == 0.0


@pytest.mark.parametrize(
    ("key", "kwargs", "column"),
    [
        # R: emmeans(m, ~ FoodTreatment, type = "response")
        ("food_response", {"type": "response"}, "rate"),
        # R: emmeans(m, ~ FoodTreatment | SexParent)
        ("food_by_sex_link", {"by": "SexParent"}, "emmean"),
        # R: emmeans(m, ~ FoodTreatment, offset = 0, type = "response")
        ("food_offset0", {"type": "response", "offset": 0}, "rate"),
    ],
)
def test_owls_means_carry_the_offset(owls, key: str, kwargs: dict, column: str) -> None:
    _check(owls.emmeans("FoodTreatment", **kwargs), column, REF["owls"][key])


def test_offset_argument_is_an_offset_term(owls_offset_argument) -> None:
    # R: emmeans(m_arg, ~ FoodTreatment, type = "response"), glmer(..., offset = log(BroodSize))
    table = owls_offset_argument.emmeans("FoodTreatment", type="response")
    _check(table, "rate", REF["owls"]["food_offset_arg"])


def test_ratios_do_not_depend_on_the_offset(owls) -> None:
    # R: summary(pairs(emmeans(m, ~ FoodTreatment, type = "response")))$ratio
    for offset in (None, 0.0, 3.0):
        out = owls.emmeans_contrasts("FoodTreatment", type="response", offset=offset)
        assert out["ratio"].iloc[0] == pytest.approx(REF["owls"]["pairs_ratio"], rel=EST_TOL)


def test_regridded_differences_move_with_the_offset() -> None:
    # An identity-link Poisson is linear, so its differences would not move: sqrt is not.
    fit = lmf.glmer(
        "SiblingNegotiation ~ FoodTreatment + offset(log(BroodSize)) + (1 | Nest)",
        lmf.datasets.load("owls"),
        family=lmf.families.poisson(link="sqrt"),
    )
    means = fit.emmeans("FoodTreatment", type="response", offset=1.0)["rate"].to_numpy()
    out = fit.emmeans_contrasts("FoodTreatment", type="response", offset=1.0)
    assert out["estimate"].iloc[0] == pytest.approx(means[0] - means[1], rel=1e-12)
    other = fit.emmeans_contrasts("FoodTreatment", type="response", offset=0.0)
    assert abs(other["estimate"].iloc[0] - out["estimate"].iloc[0]) > 0.1


def test_lmer_means_carry_the_offset() -> None:
    data = lmf.datasets.load("orthodont")
    fit = lmf.lmer("distance ~ Sex + offset(age / 2) + (1 | Subject)", data)
    ref = REF["orthodont"]["sex"]  # R: emmeans(ml, ~ Sex, lmer.df = "satterthwaite")
    table = fit.emmeans("Sex")
    np.testing.assert_allclose(table["emmean"], ref["estimate"], rtol=LMM_TOL)
    np.testing.assert_allclose(table["std_error"], ref["se"], rtol=1e-4)
    np.testing.assert_allclose(table["df"], ref["df"], rtol=1e-4)
    np.testing.assert_allclose(table["lower_cl"], ref["lower"], rtol=1e-4)


@pytest.mark.parametrize("bad", ["0", True, np.nan, [0.0]])
def test_a_bad_offset_is_refused(owls, bad) -> None:
    with pytest.raises(ArgumentTypeError, match="offset must be"):
        owls.emmeans("FoodTreatment", offset=bad)


def test_gamma_profile_intervals() -> None:
    ref = REF["gamma_profile"]
    fit = lmf.glmer(
        "y ~ x + (1 | g)", lmf.datasets.load("gammasim"), family=lmf.families.Gamma(link="log")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.ProfileWarning)
        ci = fit.confint(method="profile", progress=False)
    # R: the roots of min d(θ, β) - d̂ = qchisq(0.95, 1) on lme4's devfun; .sig01 is θ's
    # limits times sigma(m). No .sigma row: lme4's σ of a Gamma fit is a moment estimate,
    # not a parameter of its likelihood.
    assert list(ci.index) == ref["names"]
    se = np.r_[np.nan, fit.fixef_se.to_numpy()]
    for col, key in zip(ci.columns, ("lower", "upper"), strict=True):
        diff = np.abs(ci[col].to_numpy() - ref[key])
        # Fixed effects within 1 % of their SE; .sig01 within the variance tolerance (1 %).
        assert np.all(diff[1:] < 0.01 * se[1:]), col
        assert diff[0] < 0.01 * abs(ref[key][0]), col
