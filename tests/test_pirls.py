"""PIRLS and the Laplace engine: the factor refreshed at new weights equals the factor built
with them; the modes are where the penalised deviance's gradient vanishes; adaptive
quadrature converges in its number of points."""

from __future__ import annotations

import numpy as np
import pytest

import lmeformula as lmf
from lmeformula.engines.factor import BlockedFactor
from lmeformula.engines.pirls import pirls
from lmeformula.fitting.stages import build_model, make_engine

DESIGNS = [
    ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", [0.8, 1.2]),  # small, crossed
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", [0.9, 0.1, 0.3]),  # 2 x 2 blocks
    ("verbagg", "Anger ~ btype + (1 | id) + (1 | item)", [0.7, 0.4]),  # crossed, Schur maps
    ("contraception", "age ~ urban + (urban | district)", [0.5, -0.2, 0.3]),  # 120 effects
]


@pytest.mark.parametrize(("dataset", "formula", "theta"), DESIGNS)
def test_reweight_equals_factor_built_with_the_weights(
    dataset: str, formula: str, theta: list[float]
) -> None:
    data = lmf.datasets.load(dataset)
    design = build_model(formula, data).design
    rng = np.random.default_rng(1)
    w = rng.uniform(0.2, 3.0, design.y.size)
    z = design.y + rng.normal(size=design.y.size)
    refreshed = BlockedFactor(design)
    refreshed.reweight(np.ones(design.y.size))  # the plan is made on the first reweight
    refreshed.reweight(w, z)
    built = BlockedFactor(design.with_response(z), weights=w)
    a = refreshed.update(np.array(theta), keep=True)
    b = built.update(np.array(theta), keep=True)
    n = design.y.size
    ca, cb = a.criteria(n, False, 0.0), b.criteria(n, False, 0.0)
    assert ca.logdet_L == pytest.approx(cb.logdet_L, rel=1e-12)
    assert ca.pwrss == pytest.approx(cb.pwrss, rel=1e-10)
    for x, y in zip(a.solve(), b.solve(), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)


def _cbpp_model(nagq: int = 1):  # type: ignore[no-untyped-def]
    return build_model(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        lmf.datasets.load("cbpp"),
        family=lmf.families.binomial(),
        nagq=nagq,
    )


def test_modes_zero_the_penalised_deviance_gradient() -> None:
    model = _cbpp_model()
    engine = make_engine(model, fast=False)
    par = np.array([0.7, -1.3, -1.0, -1.1, -1.5])
    r = engine.modes(par)
    assert r.converged
    d = model.design
    lam = d.lambda_matrix(par[:1])
    wt = d.weights
    # d/du [Σ dev + ||u||²] = -2 Λ'Z' wt (y - μ) μ'(η) / V(μ) + 2u
    fam = model.family
    assert fam is not None
    score = lam.T @ (d.Z.T @ (wt * (d.y - r.mu) * fam.link.mu_eta(r.eta) / fam.variance(r.mu)))
    np.testing.assert_allclose(score, r.u, atol=1e-8)


def test_quadrature_converges_and_differs_from_laplace() -> None:
    par = np.array([0.7, -1.3, -1.0, -1.1, -1.5])
    dev = {k: make_engine(_cbpp_model(k), fast=False).deviance(par) for k in (1, 15, 25, 40)}
    assert dev[25] == pytest.approx(dev[40], abs=1e-8)
    assert dev[15] == pytest.approx(dev[40], abs=1e-6)
    # The Laplace approximation is off by ~0.1 on cbpp (R: -92.027 against -91.983).
    assert 0.01 < dev[1] - dev[40] < 1.0


def test_pirls_joint_and_fixed_beta_agree_at_the_joint_modes() -> None:
    model = _cbpp_model(0)
    fast = make_engine(model, fast=True)
    theta = np.array([0.7])
    joint = fast.modes(theta)
    fixed = pirls(fast.factor, fast.data, theta, joint.beta, joint.u)
    np.testing.assert_allclose(fixed.u, joint.u, atol=1e-8)
    assert fixed.steps <= 2
