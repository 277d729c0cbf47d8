"""Simulation and the parametric bootstrap of glmer fits: draws have the moments the model
says, the same seed gives the same draws, and refits recover the estimates."""

from __future__ import annotations

import numpy as np
import pytest

import lmeformula as lmf

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def cbpp_fit() -> lmf.GlmerResult:
    return lmf.glmer(CBPP, lmf.datasets.load("cbpp"))


def _marginal_mean(inverse, eta: float, sd: float) -> float:  # type: ignore[no-untyped-def]
    """E g⁻¹(η + b), b ~ N(0, sd²), by 60-point Gauss-Hermite."""
    z, w = np.polynomial.hermite_e.hermegauss(60)
    return float(np.sum(w * inverse(eta + sd * z)) / np.sqrt(2 * np.pi))


def test_binomial_draws_have_the_marginal_mean(cbpp_fit: lmf.GlmerResult) -> None:
    nsim = 4000
    sims = cbpp_fit.simulate(nsim, seed=11).to_numpy()
    eta = cbpp_fit.predict(re_form="~0")
    sd = float(cbpp_fit.theta[0])
    for row in (0, 1, 20):
        expected = _marginal_mean(cbpp_fit.family.link.inverse, eta[row], sd)
        mc_se = sims[row].std() / np.sqrt(nsim)
        assert abs(sims[row].mean() - expected) < 4 * mc_se
    # Proportions of whole numbers of the row's trials.
    size = lmf.datasets.load("cbpp")["size"].to_numpy()
    k = sims * size[:, None]
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)


def test_poisson_draws_have_the_lognormal_mean() -> None:
    fit = lmf.glmer("count ~ spp + mined + (1 | site)", lmf.datasets.load("salamanders"), "poisson")
    nsim = 4000
    sims = fit.simulate(nsim, seed=3).to_numpy()
    eta = fit.predict(re_form="~0")
    sd = float(fit.theta[0])
    expected = np.exp(eta[:5] + sd**2 / 2)  # E exp(η + b) for b ~ N(0, sd²)
    mc_se = sims[:5].std(axis=1) / np.sqrt(nsim)
    assert np.all(np.abs(sims[:5].mean(axis=1) - expected) < 4 * mc_se)


def test_same_seed_same_draws_and_modes(cbpp_fit: lmf.GlmerResult) -> None:
    a = cbpp_fit.simulate(5, seed=42)
    b = cbpp_fit.simulate(5, seed=42)
    assert a.equals(b)
    assert not a.equals(cbpp_fit.simulate(5, seed=43))
    # With the conditional modes (re.form = NULL) the draws centre on the fitted means.
    sims = cbpp_fit.simulate(3000, seed=5, re_form=None).to_numpy()
    size = lmf.datasets.load("cbpp")["size"].to_numpy()
    mu = cbpp_fit.fitted()
    se = np.sqrt(mu * (1 - mu) / size / 3000)
    assert np.all(np.abs(sims.mean(axis=1) - mu) < 5 * se)


def test_bootstrap_recovers_the_estimates(cbpp_fit: lmf.GlmerResult) -> None:
    boot = cbpp_fit.bootstrap(40, seed=7, progress=False)
    again = cbpp_fit.bootstrap(40, seed=7, progress=False)
    assert boot.t.equals(again.t)
    assert list(boot.t.columns) == [".sig01", *cbpp_fit.fixef.index]
    assert boot.n_failed == 0
    # The replicates centre on the estimates (within a few of their standard errors).
    centre = boot.t[list(cbpp_fit.fixef.index)].mean()
    assert np.all(np.abs(centre - cbpp_fit.fixef) < 3 * cbpp_fit.fixef_se / np.sqrt(40) + 0.1)
    ci = cbpp_fit.confint(method="boot", nsim=40, seed=7, progress=False)
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    assert np.all(ci.iloc[:, 0] < np.r_[cbpp_fit.theta, cbpp_fit.fixef])
    assert np.all(ci.iloc[:, 1] > np.r_[cbpp_fit.theta, cbpp_fit.fixef])
