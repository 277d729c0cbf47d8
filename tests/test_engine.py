"""The profiled deviance and the MixedLM engine's optimum check."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmeformula as lmf
from lmeformula.engines.dense import DensePLS
from lmeformula.fitting import statsmodels as sm_engine
from lmeformula.formula import parse
from lmeformula.model.design import build_design
from lmeformula.model.frame import build_frame
from lmeformula.structures import Diagonal, Unstructured


def _problem(formula: str, dataset: str, reml: bool) -> DensePLS:
    data = lmf.datasets.load(dataset)
    parsed = parse(formula, columns=list(data.columns))
    return DensePLS(build_design(parsed, build_frame(parsed, data)), reml)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_unstructured_round_trip(p: int) -> None:
    rng = np.random.default_rng(p)
    a = rng.normal(size=(p, p))
    cov = a @ a.T + 0.1 * np.eye(p)
    s = Unstructured(p)
    theta = s.theta_from_cov(cov)
    np.testing.assert_allclose(s.rel_cov(theta), cov, rtol=1e-12)
    assert theta.size == s.n_theta == p * (p + 1) // 2
    assert np.all(s.lower[np.isfinite(s.lower)] == 0)


def test_diagonal_drops_correlation() -> None:
    s = Diagonal(2)
    theta = s.theta_from_cov(np.array([[4.0, 1.0], [1.0, 9.0]]))
    np.testing.assert_allclose(theta, [2.0, 3.0])
    np.testing.assert_allclose(s.rel_cov(theta), np.diag([4.0, 9.0]))


def test_ml_deviance_equals_dense_marginal_likelihood() -> None:
    # An independent check of the PLS algebra: -2 log N(y; Xβ, σ²(ZΛΛ'Z' + I)) by brute force.
    problem = _problem("Reaction ~ Days + (Days | Subject)", "sleepstudy", reml=False)
    theta = np.array([0.9, 0.05, 0.2])
    sol = problem.solve(theta)
    d = problem.design
    Z = d.Z.toarray()
    lam = d.lambda_matrix(theta).toarray()
    V = sol.sigma**2 * (Z @ lam @ lam.T @ Z.T + np.eye(problem.n))
    ll = stats.multivariate_normal(d.X @ sol.beta, V).logpdf(d.y)
    assert sol.deviance == pytest.approx(-2 * ll, rel=1e-10)


def test_reml_deviance_equals_dense_restricted_likelihood() -> None:
    problem = _problem("Yield ~ 1 + (1 | Batch)", "dyestuff", reml=True)
    theta = np.array([0.8])
    sol = problem.solve(theta)
    d = problem.design
    Z = d.Z.toarray()
    n, p = d.X.shape
    V = sol.sigma**2 * (0.64 * Z @ Z.T + np.eye(n))
    Vi = np.linalg.inv(V)
    r = d.y - d.X @ sol.beta
    reml_ll = -0.5 * (
        np.linalg.slogdet(V)[1]
        + np.linalg.slogdet(d.X.T @ Vi @ d.X)[1]
        + r @ Vi @ r
        + (n - p) * np.log(2 * np.pi)
    )
    assert sol.deviance == pytest.approx(-2 * reml_ll, rel=1e-10)


def test_wrong_optimum_is_caught_and_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    # statsmodels' default chain stops early on Orthodont's random-slope model (logLik
    # -217.66); the gradient check must catch it and the retry reach lme4's -216.29.
    monkeypatch.setattr(sm_engine, "_METHODS", [(["bfgs", "lbfgs"], False), (["lbfgs"], False)])
    fit = lmf.lmer(
        "distance ~ age * Sex + (age | Subject)",
        lmf.datasets.load("orthodont"),
        engine="statsmodels",
    )
    # logLik(lmer(distance ~ age * Sex + (age | Subject), Orthodont))
    assert fit.loglik == pytest.approx(-216.2908335323, abs=1e-3)
    assert fit.optinfo.converged
    first, second = fit.optinfo.attempts
    assert first.max_gradient > sm_engine.GRADIENT_TOL
    # -2 * -217.66 = 435.32: the default chain's point, which the check rejected.
    assert first.deviance > second.deviance + 1.0


def test_failed_check_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sm_engine, "GRADIENT_TOL", 0.0)
    monkeypatch.setattr(sm_engine, "_METHODS", [(["bfgs", "lbfgs"], False)])
    with pytest.warns(lmf.ConvergenceWarning, match="failed to converge"):
        fit = lmf.lmer(
            "Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"), engine="statsmodels"
        )
    assert not fit.optinfo.converged
    assert len(fit.optinfo.attempts) == 1


def test_singular_fit_warns() -> None:
    data = lmf.datasets.load("sleepstudy")
    rng = np.random.default_rng(1)
    data["noise"] = rng.normal(size=len(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error", lmf.ConvergenceWarning)
        with pytest.warns(lmf.SingularFitWarning, match="singular"):
            fit = lmf.lmer("noise ~ 1 + (1 | Subject)", data)
    assert fit.singular


@pytest.mark.parametrize("weighted", [False, True])
def test_crossed_schur_complement_equals_dense_engine(weighted: bool) -> None:
    # Crossed scalar terms with sparse couplings (700 subjects x 400 items: 280,000 > the
    # dense-coupling limit) take the precomputed A_i0 diag(d0²) A_j0' path; the dense
    # reference engine (DensePLS) must give the same deviance, estimates and condVar.
    from lmeformula.engines.blocked import BlockedPLS

    rng = np.random.default_rng(7)
    n = 6000
    subj, item = rng.integers(0, 700, n), rng.integers(0, 400, n)
    site = item % 13
    frame = pd.DataFrame(
        {
            "y": rng.normal(size=700)[subj] + rng.normal(size=400)[item] + rng.normal(size=n),
            "x": rng.normal(size=n),
            "subj": subj.astype(str),
            "item": item.astype(str),
            "site": site.astype(str),
            "w": rng.uniform(0.5, 2.0, n),
        }
    )
    formula = "y ~ x + (1 | subj) + (1 | item) + (1 | site)"
    parsed = parse(formula, columns=list(frame.columns))
    design = build_design(parsed, build_frame(parsed, frame, "w" if weighted else None))
    fast, dense = BlockedPLS(design, reml=True), DensePLS(design, reml=True)
    assert set(fast.factor.schur) == {1, 2}
    theta = np.array([0.7, 0.4, 0.9])
    a, b = fast.solve(theta), dense.solve(theta)
    assert a.deviance == pytest.approx(b.deviance, rel=1e-12)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
    np.testing.assert_allclose(a.b, b.b, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(a.cond_var(), b.cond_var(), rtol=1e-8)


@pytest.mark.parametrize("rows", [30, 5000])
def test_schur_products_kernel_equals_the_dense_product(rows: int) -> None:
    """The compiled Schur summation against A_i diag(w) A_j' by numpy, with zero weights
    (skipped levels) and, for 5,000 rows (more than one band of 512 KB: 5000 x 8 bytes a
    row gives 13 rows a band), several bands."""
    import scipy.sparse as sp

    from lmeformula.engines.lmm_kernels import schur_products

    rng = np.random.default_rng(rows)
    levels = 300
    ai = sp.random(rows, levels, density=0.05, random_state=1, format="csc")
    aj = sp.random(40, levels, density=0.2, random_state=2, format="csc")
    w = rng.uniform(0.1, 2.0, levels)
    w[::7] = 0.0
    args = []
    for a in (ai, aj):
        a.sort_indices()
        args += [a.indptr.astype(np.intp), a.indices.astype(np.intp), a.data]
    dense_i, dense_j = ai.toarray(), aj.toarray()
    out = np.zeros((rows, rows), order="F")
    schur_products(*args[:3], *args[:3], w, out.T, True)
    # The lower triangle (Fortran order) is summed, the upper left as it was (zeros).
    expected = (dense_i * w) @ dense_i.T
    np.testing.assert_allclose(out, np.tril(expected), rtol=1e-12, atol=1e-13)
    cross = np.zeros((rows, 40))
    schur_products(*args, w, cross, False)
    np.testing.assert_allclose(cross, (dense_i * w) @ dense_j.T, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("weighted", [False, True])
def test_small_products_kernel_equals_the_sparse_products(weighted: bool) -> None:
    """The small system's Z'WZ and (W^½ Z)'[X y] in one pass against scipy's products of
    Z itself: a two-column term (intercept and slope) and a scalar term crossed with it."""
    import scipy.sparse as sp

    from lmeformula.engines.lmm_kernels import small_products

    rng = np.random.default_rng(3)
    n, l0, l1 = 200, 7, 5
    g0, g1 = rng.integers(0, l0, n), rng.integers(0, l1, n)
    x = rng.normal(size=n)
    sw = np.sqrt(rng.uniform(0.2, 3.0, n)) if weighted else np.ones(n)
    # Z's columns level-major: term 0 at 2 g0 (intercept) and 2 g0 + 1 (x), term 1 after.
    cols = np.column_stack([2 * g0, 2 * g0 + 1, 2 * l0 + g1]).astype(np.int64)
    vals = np.column_stack([sw, sw * x, sw])
    q = 2 * l0 + l1
    Xy = sw[:, None] * np.column_stack([np.ones(n), x, rng.normal(size=n)])
    Zw = sp.csr_matrix((vals.ravel(), cols.ravel(), np.arange(0, 3 * n + 1, 3)), shape=(n, q))
    ZtZ, ZtXy = small_products(cols, np.ascontiguousarray(vals), Xy, q)
    np.testing.assert_allclose(ZtZ, (Zw.T @ Zw).toarray(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ZtXy, Zw.T @ Xy, rtol=1e-12, atol=1e-12)


def test_level_products_kernel_equals_numpy() -> None:
    """The first term's per-level products and [X y]'[X y] of one pass over the rows
    against NumPy's: a two-column term (intercept and slope) with three fixed columns."""
    from lmeformula.engines.lmm_kernels import level_products, xy_cross, xy_rows

    rng = np.random.default_rng(5)
    n, nlev = 300, 7
    codes = rng.integers(0, nlev, n).astype(np.int64)
    X0 = np.column_stack([np.ones(n), rng.normal(size=n)])
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = rng.normal(size=n)
    A, XyZ0, XyXy = level_products(codes, X0, X, y, nlev)
    Xy = np.column_stack([X, y])
    np.testing.assert_array_equal(xy_rows(X, y), Xy)
    np.testing.assert_allclose(XyXy, Xy.T @ Xy, rtol=1e-12)
    # Summed in the same order: a factor reweighted in place holds a fresh one's bits.
    np.testing.assert_array_equal(xy_cross(Xy), XyXy)
    for lev in range(nlev):
        rows = codes == lev
        np.testing.assert_allclose(A[lev], X0[rows].T @ X0[rows], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(XyZ0[:, lev, :], Xy[rows].T @ X0[rows], rtol=1e-12, atol=1e-12)


SMALL_MODELS = [
    ("score ~ Machine + (0 + Machine | Worker)", "machines"),
    ("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", "machines"),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin"),
    ("strength ~ 1 + (1 | batch/cask)", "pastes"),
    ("Reaction ~ Days + (Days || Subject)", "sleepstudy"),
    ("score ~ Machine + cs(0 + Machine | Worker)", "machines"),
]


@pytest.mark.parametrize(("formula", "dataset"), SMALL_MODELS)
@pytest.mark.parametrize("reml", [True, False])
def test_small_dense_factor_equals_blocked_factor(formula: str, dataset: str, reml: bool) -> None:
    # Models with at most SMALL_Q random effects are factored as one dense system; the
    # blocked factorisation of the same system must give the same criteria and solution.
    from lmeformula.engines.factor import SMALL_Q, BlockedFactor

    data = lmf.datasets.load(dataset)
    parsed = parse(formula, columns=list(data.columns))
    design = build_design(parsed, build_frame(parsed, data))
    factor = BlockedFactor(design)
    assert factor.q <= SMALL_Q
    rng = np.random.default_rng(3)
    for _ in range(3):
        theta = np.where(np.isfinite(design.lower), 0.2 + rng.random(design.lower.size), 0.3)
        theta = np.minimum(theta, design.upper)
        dense, blocked = factor._dense(theta, keep=True), factor._blocked(theta)
        n = len(design.y)
        a = dense.criteria(n, reml, factor.log_weights)
        b = blocked.criteria(n, reml, factor.log_weights)
        assert a.deviance == pytest.approx(b.deviance, rel=1e-11)
        assert a.pwrss == pytest.approx(b.pwrss, rel=1e-10)
        for x, y in zip(dense.solve(), blocked.solve(), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(dense.cond_var(), blocked.cond_var(), rtol=1e-9)
