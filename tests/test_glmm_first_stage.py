"""A generalized model's first stage (nAGQ = 0, θ alone with β inside PIRLS), scouted by
quasi-Newton steps on its exact gradient and by BOBYQA where the gradient fails
(lmeformula.fitting.optimize.scout). Either way the second stage ends at the same Laplace
optimum, lme4's (tests/test_glmer_reference.py)."""

from __future__ import annotations

import numpy as np
import pytest

import lmeformula as lmf
from lmeformula.fitting import optimize as opt
from lmeformula.fitting.glmm import fit_glmm
from lmeformula.fitting.stages import build_model, make_engine

CONTRACEPTION = "use ~ age + urban + (urban | district)"  # 3 θ
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"  # 1 θ


def _fast(formula: str, data: str):
    model = build_model(formula, lmf.datasets.load(data), family=lmf.families.binomial())
    return model, make_engine(model, fast=True)


def test_three_parameters_take_the_gradient() -> None:
    _, engine = _fast(CONTRACEPTION, "contraception")
    info = opt.scout(engine)
    assert info.optimizer.startswith("quasi-Newton")
    # BOBYQA's scout stops at its loose tolerance; the gradient's at a lower deviance.
    _, again = _fast(CONTRACEPTION, "contraception")
    again.gradient = lambda par: None  # type: ignore[method-assign]
    rough = opt.scout(again)
    assert rough.optimizer.startswith("bobyqa")
    assert info.deviance <= rough.deviance + 1e-6


def test_one_parameter_takes_fewer_evaluations_than_bobyqa() -> None:
    _, engine = _fast(CBPP, "cbpp")
    info = opt.scout(engine)
    assert info.optimizer.startswith("quasi-Newton")
    _, again = _fast(CBPP, "cbpp")
    again.gradient = lambda par: None  # type: ignore[method-assign]
    rough = opt.scout(again)
    # Measured: 8 PIRLS runs against BOBYQA's 12, each scout stopping short of the
    # optimum (the second stage's start): the deviances 2e-6 apart of 184.1.
    assert info.evaluations < rough.evaluations
    assert info.deviance == pytest.approx(rough.deviance, abs=1e-4)


def test_either_scout_ends_at_one_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = _fast(CONTRACEPTION, "contraception")
    by_gradient = fit_glmm(model)
    monkeypatch.setattr(opt, "_bfgs_scout", lambda box, start, log: None)
    by_bobyqa = fit_glmm(model)
    # The same Laplace optimum: -2 log L within the Newton finish's rounding.
    assert abs(by_gradient.deviance - by_bobyqa.deviance) < 1e-7
    assert np.allclose(by_gradient.theta, by_bobyqa.theta, rtol=0, atol=1e-5)
