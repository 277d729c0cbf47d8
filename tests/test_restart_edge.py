"""lme4's ``restart_edge``: BOBYQA stops on the boundary, the deviance falls off it, restart.

tests/reference/restart_edge.csv (written by make_restart_edge_data.py beside it) is a
random-slope design on which BOBYQA from lme4's start stops with the slope's θ at 0 although
the ML deviance falls as that θ leaves 0; lme4 1.1.31 does the same. Its default
``restart_edge = TRUE`` restarts there and reaches a better optimum. The lme4 numbers below
come from R 4.2.2 with, for
``d <- read.csv("tests/reference/restart_edge.csv", colClasses = c(g = "character"))``, the
R expression given beside each.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from test_reference import loglik_tol

import lmeformula as lmf
from lmeformula.engines.blocked import BlockedPLS
from lmeformula.fitting import optimize
from lmeformula.formula import parse
from lmeformula.model.design import build_design
from lmeformula.model.frame import build_frame

DATA = Path(__file__).parent / "reference" / "restart_edge.csv"
FORMULA = "y ~ x + (x | g)"

# as.numeric(logLik(lmer(y ~ x + (x | g), d, REML = FALSE)))
LOGLIK_RESTARTED = -86.6562219545407
# getME(lmer(y ~ x + (x | g), d, REML = FALSE), "theta")
THETA_RESTARTED = [0.8611710838, 0.2378515156, 0.2099633955]
# as.numeric(logLik(lmer(y ~ x + (x | g), d, REML = FALSE,
#                        control = lmerControl(restart_edge = FALSE))))
LOGLIK_STUCK = -86.6795217368183
# getME(<that fit>, "theta")
THETA_STUCK = [0.8225022075, 0.2109727497, 0.0]


def _fit() -> lmf.LmerResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.SingularFitWarning)
        return lmf.lmer(FORMULA, lmf.datasets.read_csv(DATA), reml=False)


def _problem() -> BlockedPLS:
    data = lmf.datasets.read_csv(DATA)
    parsed = parse(FORMULA, columns=list(data.columns))
    return BlockedPLS(build_design(parsed, build_frame(parsed, data)), reml=False)


def test_restart_reaches_lme4_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    # BOBYQA's path (the compiled Newton steps, a one-term model's default, never stop on
    # that boundary: see the next test).
    monkeypatch.setattr(optimize, "_compiled_newton", lambda engine, box, starts, near=False: None)
    fit = _fit()
    assert "restarted at the boundary" in fit.optinfo.optimizer
    assert fit.loglik == pytest.approx(LOGLIK_RESTARTED, abs=loglik_tol(LOGLIK_RESTARTED))
    np.testing.assert_allclose(fit.theta, THETA_RESTARTED, atol=1e-3)
    assert not fit.singular
    assert fit.optinfo.converged


def test_compiled_newton_reaches_lme4_restarted_optimum() -> None:
    fit = _fit()
    assert fit.optinfo.optimizer.startswith("Newton, compiled")
    assert fit.loglik == pytest.approx(LOGLIK_RESTARTED, abs=loglik_tol(LOGLIK_RESTARTED))
    np.testing.assert_allclose(fit.theta, THETA_RESTARTED, atol=1e-3)
    assert not fit.singular
    assert fit.optinfo.converged


def test_without_restart_the_fit_stays_on_the_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    # What lme4 gives with restart_edge = FALSE: the boundary point, 0.023 worse in logLik
    # (far beyond the 1e-3 tolerance), so the test above fails when the restart does not run.
    monkeypatch.setattr(optimize, "_edge_descent", lambda problem, theta: False)
    monkeypatch.setattr(optimize, "_compiled_newton", lambda engine, box, starts, near=False: None)
    stuck = _fit()
    assert stuck.loglik == pytest.approx(LOGLIK_STUCK, abs=loglik_tol(LOGLIK_STUCK))
    np.testing.assert_allclose(stuck.theta, THETA_STUCK, atol=1e-3)
    assert stuck.theta[2] == 0.0
    assert stuck.singular
    assert LOGLIK_RESTARTED - stuck.loglik > 0.02


def test_edge_descent_sees_the_descent() -> None:
    problem = _problem()
    stuck = np.array(THETA_STUCK)
    # lme4's restart test at its stuck point: θ_3 from 0 to 1e-5 lowers the deviance. It
    # enters only as θ_3², so the fall is tiny (2e-10) but far above rounding (1e-14 here).
    moved = stuck + np.array([0.0, 0.0, 1e-5])
    assert problem.deviance(moved) < problem.deviance(stuck)
    box = optimize._Box.of(problem)
    assert optimize._edge_descent(box, stuck)
    # At the optimum nothing is on the boundary: nothing to restart.
    assert not optimize._edge_descent(box, np.array(THETA_RESTARTED))


def test_genuine_singular_fit_is_not_restarted() -> None:
    # A variance whose optimum is 0: the deviance rises off the boundary, no restart.
    data = lmf.datasets.load("sleepstudy")
    data["noise"] = np.random.default_rng(1).normal(size=len(data))
    with pytest.warns(lmf.SingularFitWarning):
        fit = lmf.lmer("noise ~ 1 + (1 | Subject)", data)
    assert fit.theta[0] == 0.0
    assert "restarted" not in fit.optinfo.optimizer
