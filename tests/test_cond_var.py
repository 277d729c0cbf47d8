"""Conditional variances (lme4's condVar) from the blocked factor, against dense algebra.

The reference is diag(Λ (Λ'Z'WZΛ + I)⁻¹ Λ') from a dense inverse computed here, independently
of both engines. lme4's own condsd values are checked in test_reference.py (``ranef_head``)
and test_partially_crossed.py.
"""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as la
from test_extra_reference import MODELS
from test_partially_crossed import MODELS as PARTIALLY_CROSSED
from test_restart_edge import DATA as RESTART_EDGE_DATA
from test_restart_edge import FORMULA as RESTART_EDGE_FORMULA

import lmeformula as lmf
from lmeformula.engines import factor
from lmeformula.engines.blocked import BlockedPLS
from lmeformula.engines.dense import DensePLS
from lmeformula.engines.onefactor import OneFactorPLS
from lmeformula.formula import parse
from lmeformula.model.design import Design, build_design
from lmeformula.model.frame import build_frame

REFERENCE = json.loads((Path(__file__).parent / "reference" / "reference.json").read_text())

REL = 1e-10


def _design(formula: str, data: pd.DataFrame, weights: str | None = None) -> Design:
    parsed = parse(formula, columns=list(data.columns))
    return build_design(parsed, build_frame(parsed, data, weights))


def _theta(design: Design, seed: int = 0) -> np.ndarray:
    # A generic θ: bounded components well inside, correlations non-zero.
    rng = np.random.default_rng(seed)
    k = design.lower.size
    return np.where(design.lower == 0, 0.3 + rng.random(k), rng.normal(scale=0.5, size=k))


def _dense_cond_var(design: Design, theta: np.ndarray) -> np.ndarray:
    lam = design.lambda_matrix(theta)
    Z = design.Z
    if design.weights is not None:
        Z = Z.multiply(np.sqrt(design.weights)[:, None]).tocsc()
    A = (lam.T @ (Z.T @ Z) @ lam).toarray() + np.eye(lam.shape[0])
    # The explicit inverse (Cholesky, then LAPACK's potri): q³ flops, no q x q right side.
    c, info = la.lapack.dpotrf(A, lower=1)
    assert info == 0
    inv, info = la.lapack.dpotri(c, lower=1)
    assert info == 0
    inv = np.tril(inv) + np.tril(inv, -1).T
    return np.asarray(lam.multiply(lam @ inv).sum(axis=1)).ravel()


def _assert_close(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=REL, atol=0.0)


def _reference_designs() -> dict[str, Callable[[], Design]]:
    out: dict[str, Callable[[], Design]] = {}
    for case in REFERENCE["cases"]:
        if case["reference"] == "lme4":
            out[case["id"]] = lambda c=case: _design(
                c["call"]["formula"], lmf.datasets.load(c["dataset"])
            )
    for case_id, (source, formula, *extra) in MODELS.items():
        weights = extra[0].get("weights") if extra else None

        def make(s=source, f=formula, w=weights) -> Design:
            return _design(f, s() if callable(s) else lmf.datasets.load(s), w)

        out[case_id] = make
    crossed = Path(__file__).parent / "reference" / "partially_crossed.csv"
    for case_id, (formula, _) in PARTIALLY_CROSSED.items():
        out[f"partially_crossed_{case_id}"] = lambda f=formula: _design(
            f, lmf.datasets.read_csv(crossed)
        )
    out["restart_edge"] = lambda: _design(
        RESTART_EDGE_FORMULA, lmf.datasets.read_csv(RESTART_EDGE_DATA)
    )
    return out


DESIGNS = _reference_designs()


@pytest.mark.parametrize("case_id", list(DESIGNS))
def test_reference_designs_match_dense(case_id: str) -> None:
    design = DESIGNS[case_id]()
    theta = _theta(design)
    ref = _dense_cond_var(design, theta)
    sol = BlockedPLS(design, reml=True).solve(theta)
    _assert_close(sol.cond_var(), ref)
    if len(design.terms) == 1:
        _assert_close(OneFactorPLS(design, reml=True).solve(theta).cond_var(), ref)
    if design.Z.shape[1] <= 1000:
        # The dense engine's factor gives the same.
        _assert_close(DensePLS(design, reml=True).solve(theta).cond_var(), ref)


def _crossed(n: int = 700, seed: int = 3) -> pd.DataFrame:
    # Three crossed factors, not every combination present, a covariate for random slopes.
    rng = np.random.default_rng(seed)
    g1, g2, g3 = rng.integers(0, 45, n), rng.integers(0, 17, n), rng.integers(0, 5, n)
    x = rng.normal(size=n)
    y = x + rng.normal(size=45)[g1] + rng.normal(size=17)[g2] + rng.normal(size=n)
    return pd.DataFrame(
        {"y": y, "x": x, "g1": g1.astype(str), "g2": g2.astype(str), "g3": g3.astype(str)}
    )


# Later terms with p > 1, diagonal and correlated, and up to three terms: every shape of the
# block formulas (first-term Λ a full 2 x 2 block; L_11 of several terms).
CROSSED = [
    "y ~ x + (1 | g1) + (1 | g2) + (1 | g3)",
    "y ~ x + (x | g1) + (x | g2)",
    "y ~ x + (1 | g1) + (x || g2) + (1 | g3)",
    "y ~ x + (x | g1) + (1 | g2) + (x | g3)",
]


@pytest.mark.parametrize("coupling", ["dense", "sparse"])
@pytest.mark.parametrize("formula", CROSSED)
def test_crossed_designs_match_dense(
    formula: str, coupling: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of a few levels, so the chunk loops run many times with ragged last chunks.
    monkeypatch.setattr(factor, "_CHUNK_ELEMENTS", 50)
    design = _design(formula, _crossed())
    problem = BlockedPLS(design, reml=False)
    # Small designs couple densely; the sparse couplings (scalar and general) are the paths
    # of large ones, so force them here.
    problem.dense_coupling = coupling == "dense"
    theta = _theta(design, seed=1)
    _assert_close(problem.solve(theta).cond_var(), _dense_cond_var(design, theta))


def test_many_levels_with_random_slopes() -> None:
    # More than 1,000 levels of a 2 x 2 term: the first term's factor is the vectorised
    # batch, not LAPACK per block.
    rng = np.random.default_rng(5)
    n = 3000
    g, h = rng.integers(0, 1200, n), rng.integers(0, 8, n)
    x = rng.normal(size=n)
    data = pd.DataFrame(
        {"y": x + rng.normal(size=n), "x": x, "g": g.astype(str), "h": h.astype(str)}
    )
    design = _design("y ~ x + (x | g) + (1 | h)", data)
    theta = _theta(design, seed=2)
    sol = BlockedPLS(design, reml=True).solve(theta)
    _assert_close(sol.cond_var(), _dense_cond_var(design, theta))


def test_cond_var_is_lazy_and_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = factor.DenseFactorization.cond_var

    def counting(self: factor.DenseFactorization) -> np.ndarray:
        calls.append(1)
        return original(self)

    # Penicillin's 30 random effects are factored as one dense system.
    monkeypatch.setattr(factor.DenseFactorization, "cond_var", counting)
    fit = lmf.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", lmf.datasets.load("penicillin"))
    assert calls == []
    first = fit.ranef_table()
    second = fit.ranef_table()
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, second)


def test_cond_var_does_not_keep_the_solver() -> None:
    # The result keeps the factor, not the solver with its cross-products of the data.
    design = _design("y ~ x + (x | g1) + (1 | g2)", _crossed())
    problem = BlockedPLS(design, reml=True)
    theta = _theta(design)
    sol = problem.solve(theta)
    alive = weakref.ref(problem)
    del problem
    gc.collect()
    assert alive() is None
    _assert_close(sol.cond_var(), _dense_cond_var(design, theta))
