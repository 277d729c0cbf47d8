"""A generalized model's first stage (nAGQ = 0, θ alone with β inside PIRLS), scouted by
L-BFGS on its exact gradient from ``SCOUT_GRADIENT_MIN_THETA`` θ entries on and by BOBYQA
below that or where the gradient fails (lmeformula.fitting.optimize.scout). Either way the
second stage ends at the same Laplace optimum, lme4's (tests/test_glmer_reference.py)."""

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
    assert info.optimizer.startswith("L-BFGS")
    # BOBYQA's scout stops at its loose tolerance; L-BFGS's at a lower deviance.
    _, again = _fast(CONTRACEPTION, "contraception")
    again.gradient = lambda par: None  # type: ignore[method-assign]
    rough = opt.scout(again)
    assert rough.optimizer.startswith("bobyqa")
    assert info.deviance <= rough.deviance + 1e-6


def test_one_parameter_keeps_bobyqa() -> None:
    _, engine = _fast(CBPP, "cbpp")
    assert engine.gradient(engine.layout.starts()[0]) is not None
    assert opt.scout(engine).optimizer.startswith("bobyqa")


def test_either_scout_ends_at_one_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = _fast(CONTRACEPTION, "contraception")
    by_gradient = fit_glmm(model)
    monkeypatch.setattr(opt, "SCOUT_GRADIENT_MIN_THETA", 100)
    by_bobyqa = fit_glmm(model)
    # The same Laplace optimum: -2 log L within the Newton finish's rounding.
    assert abs(by_gradient.deviance - by_bobyqa.deviance) < 1e-7
    assert np.allclose(by_gradient.theta, by_bobyqa.theta, rtol=0, atol=1e-5)
