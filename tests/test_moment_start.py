"""The compiled Newton's start from the data's moments
(:meth:`lmeformula.engines.lmm_kernels.OneTermObjective.moment_start` for one-term models,
:meth:`~lmeformula.engines.lmm_kernels.ScalarTermsObjective.moment_start` for small systems
of scalar terms).

In a balanced design (crossed, for scalar terms) the moment estimate is the REML estimate
itself, so it must equal the optimum that Newton steps reach from lme4's start (to their
step tolerance); in any design Newton from it must reach that same optimum. The one-term
start is checked against the estimate computed here with NumPy from the engine's
per-level products, and the cases where there is none return None.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lmeformula as lmf
from lmeformula.engines.blocked import BlockedPLS
from lmeformula.engines.factory import make_engine
from lmeformula.engines.onefactor import OneFactorPLS
from lmeformula.fitting import optimize as opt
from lmeformula.fitting.stages import build_model

#: (formula, dataset, balanced: the same rows in every level, and the fixed effects within
#: the term's columns, where the moment estimate is the REML one)
CASES = {
    "sleepstudy slope": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", True),
    "sleepstudy uncorrelated": ("Reaction ~ Days + (Days || Subject)", "sleepstudy", False),
    "sleepstudy intercept": ("Reaction ~ Days + (1 | Subject)", "sleepstudy", False),
    "Machines 0 + Machine": ("score ~ Machine + (0 + Machine | Worker)", "machines", True),
    "Machines intercept": ("score ~ Machine + (1 | Worker)", "machines", False),
    "Pastes batch": ("strength ~ 1 + (1 | batch)", "pastes", True),
    "Dyestuff": ("Yield ~ 1 + (1 | Batch)", "dyestuff", True),
    "Exam slope": ("normexam ~ standLRT + (1 + standLRT | school)", "exam", False),
    "Exam intercept": ("normexam ~ standLRT + (1 | school)", "exam", False),
    "Exam slope and sex": ("normexam ~ standLRT + sex + (1 + standLRT | school)", "exam", False),
    "Orthodont age": ("distance ~ age + (age | Subject)", "orthodont", False),
    "Orthodont age * Sex": ("distance ~ age * Sex + (age | Subject)", "orthodont", False),
}

#: Newton's steps stop below 1e-9 relative to max(1, |θ|): the optima agree to about that.
SAME_THETA = 1e-7
#: The deviance at two points within SAME_THETA of one optimum (a flat minimum).
SAME_DEVIANCE = 1e-8


#: Small systems of scalar terms: (formula, dataset, balanced and crossed)
SCALAR_CASES = {
    "Penicillin crossed": ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin", True),
    "Pastes nested": ("strength ~ 1 + (1 | batch/cask)", "pastes", False),
    "Machines nested": ("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", "machines", False),
    "sleepstudy two scalar terms": (
        "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
        "sleepstudy",
        False,
    ),
}


def _engine(formula: str, dataset: str, reml: bool = True) -> OneFactorPLS | BlockedPLS:
    engine = make_engine(build_model(formula, lmf.datasets.load(dataset), reml=reml))
    assert isinstance(engine, (OneFactorPLS, BlockedPLS))
    return engine


def _newton(engine: OneFactorPLS | BlockedPLS, start: np.ndarray) -> dict:
    box = opt._Box.of(engine)
    objective = engine.objective
    assert objective is not None
    return objective.newton(
        box.clip(start), box.lower, box.upper, step_tol=opt.STEP_TOL, gap=opt.BOUNDARY_GAP
    )


def _numpy_start(engine: OneFactorPLS) -> np.ndarray:
    """The moment estimate as the kernel's docstring states it, by NumPy."""
    A, B, XyXy, n = engine._A, engine._B, engine._XyXy, engine.n
    m, k, _ = A.shape
    p = XyXy.shape[0] - 1
    beta = np.linalg.solve(XyXy[:p, :p], XyXy[:p, p]) if p else np.zeros(0)
    rss = XyXy[p, p] - beta @ XyXy[:p, p]
    c = B[:, :, p] - B[:, :, :p] @ beta
    good = []
    for level in range(m):
        L = np.linalg.cholesky(A[level])
        if (np.diag(L) ** 2 / np.diag(A[level])).min() >= 1e-2:
            good.append(level)
    inv = np.linalg.inv(A[good])
    b = np.einsum("lij,lj->li", inv, c[good])
    s2 = (rss - np.einsum("li,li->", c[good], b)) / (n - k * len(good))
    rel = (np.cov(b.T, ddof=1).reshape(k, k) - s2 * inv.mean(axis=0)) / s2
    rows, cols, which = engine._positions
    theta = np.zeros(len(which))
    if np.all(rows == cols):
        floor = max(1e-2 * np.diag(rel).max(), 1e-4)
        theta[which] = np.sqrt(np.maximum(np.diag(rel)[rows], floor))
        return theta
    w, V = np.linalg.eigh(rel)
    floor = max(1e-2 * w.max(), 1e-4)
    factor = np.linalg.cholesky((V * np.maximum(w, floor)) @ V.T)
    theta[which] = factor[rows, cols]
    return theta


@pytest.mark.parametrize("case", list(CASES))
def test_start_is_the_stated_estimate(case: str) -> None:
    formula, dataset, _ = CASES[case]
    engine = _engine(formula, dataset)
    assert isinstance(engine, OneFactorPLS) and engine.objective is not None
    got = engine.objective.moment_start()
    assert got is not None
    # Sums over levels in another order and LAPACK's eigenvectors: rounding only.
    np.testing.assert_allclose(got, _numpy_start(engine), rtol=1e-9, atol=1e-12)


ALL = {**CASES, **SCALAR_CASES}


@pytest.mark.parametrize("case", [c for c, (_, _, balanced) in ALL.items() if balanced])
def test_balanced_start_is_the_reml_optimum(case: str) -> None:
    formula, dataset, _ = ALL[case]
    engine = _engine(formula, dataset)
    assert engine.objective is not None
    start = engine.objective.moment_start()
    from_lme4 = _newton(engine, engine.layout.start)
    assert from_lme4["status"] == 0
    np.testing.assert_allclose(start, from_lme4["par"], rtol=SAME_THETA, atol=SAME_THETA)


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_newton_from_the_moments_reaches_lme4_starts_optimum(reml: bool) -> None:
    evaluations = {"lme4": 0, "moments": 0}
    for formula, dataset, _ in ALL.values():
        engine = _engine(formula, dataset, reml=reml)
        assert engine.objective is not None
        ours = _newton(engine, engine.objective.moment_start())
        theirs = _newton(engine, engine.layout.start)
        assert ours["status"] == theirs["status"] == 0, formula
        assert abs(ours["deviance"] - theirs["deviance"]) < SAME_DEVIANCE, formula
        np.testing.assert_allclose(ours["par"], theirs["par"], rtol=1e-6, atol=1e-6)
        evaluations["lme4"] += theirs["evaluations"]
        evaluations["moments"] += ours["evaluations"]
    # The point of the start (REML 396 -> 155 when written; ML too, less so): at least a
    # quarter fewer over the table.
    assert evaluations["moments"] < 0.75 * evaluations["lme4"], evaluations


def test_a_fit_starts_there_and_a_refit_at_its_optimum() -> None:
    from lmeformula.fitting.refit import refit_response

    d = lmf.datasets.load("sleepstudy")
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", d)
    assert "from the moment estimate" in fit.optinfo.optimizer
    assert fit.optinfo.evaluations < 10  # 24 from lme4's start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.LmeFormulaWarning)
        again = refit_response(fit, d["Reaction"].to_numpy() * 1.1 + 3.0)
    assert "moment" not in again.optinfo.optimizer


def test_none_with_fewer_than_two_usable_levels() -> None:
    # x constant within every level but one: those levels' A_l are singular (a pivot of 0),
    # so one level is left to estimate a covariance from.
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(30), 3)
    x = np.repeat(rng.normal(size=30), 3)
    x[:3] = [0.0, 1.0, 2.0]
    y = x + rng.normal(size=30)[g] + rng.normal(size=90)
    data = {"y": y, "x": x, "g": g.astype(str).astype(object)}
    engine = make_engine(build_model("y ~ x + (x | g)", data))
    assert isinstance(engine, OneFactorPLS) and engine.objective is not None
    assert engine.objective.moment_start() is None
