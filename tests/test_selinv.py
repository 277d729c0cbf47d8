"""The selected inverse P = (L L')⁻¹ (engines/selinv.py) against the inverse of the whole
factor assembled dense, on blocked factors whose couplings are dense and sparse, with
vector and scalar first terms, and where an entry of the coupling's pattern is missing
(a zero dropped): its P_10 entries are then sums over the level's other entries."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as la
import scipy.sparse as sp

from lmeformula.engines.factor import BlockedFactor, BlockedFactorization
from lmeformula.engines.laplace_gradient import RowPattern
from lmeformula.engines.selinv import pattern_inverse
from lmeformula.fitting.stages import build_model


def _crossed(subjects: int, items: int, n: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s, i, x = rng.integers(0, subjects, n), rng.integers(0, items, n), rng.normal(size=n)
    y = 0.5 * x + rng.normal(0, 1, subjects)[s] + rng.normal(0, 1, items)[i] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "s": s.astype(str), "i": i.astype(str)})


CASES = [
    # (formula, subjects, items, rows): the coupling L_10 each gives
    ("y ~ x + (x | s) + (1 | i)", 30, 8, 400, "dense"),  # vector first term, dense
    ("y ~ x + (x | s) + (1 | i)", 600, 500, 3000, "sparse"),  # vector first term, sparse
    ("y ~ x + (1 | s) + (1 | i)", 600, 500, 3000, "sparse"),  # scalar first term, sparse
]


def _dense_L(fac: BlockedFactorization) -> np.ndarray:
    """The whole lower factor of the random effects' block, assembled."""
    L00 = la.block_diag(*np.linalg.inv(fac.L0inv))
    Lk0 = [m.toarray() if sp.issparse(m) else np.asarray(m) for m in fac.Lk0]
    sizes = [m.shape[0] for m in Lk0]
    q0, q1 = L00.shape[0], sum(sizes)
    L = np.zeros((q0 + q1, q0 + q1))
    L[:q0, :q0] = L00
    L[q0:, :q0] = np.vstack(Lk0)
    ends = q0 + np.cumsum(sizes)
    starts = ends - np.asarray(sizes)
    for (i, j), block in fac.Ldense.items():
        L[starts[i - 1] : ends[i - 1], starts[j - 1] : ends[j - 1]] = block
    return L


def _factor(formula: str, subjects: int, items: int, n: int):
    model = build_model(formula, _crossed(subjects, items, n))
    factor = BlockedFactor(model.design)
    theta = np.linspace(0.6, 1.1, sum(t.structure.n_theta for t in model.design.terms))
    if model.design.terms[0].p == 2:
        theta[1] = 0.3  # a non-zero covariance
    return model.design, factor.update(theta, keep=True)


def _check(fac: BlockedFactorization, cols: np.ndarray, first: int) -> None:
    L = _dense_L(fac)
    P = np.linalg.inv(L @ L.T)
    inverse = pattern_inverse(fac)
    assert inverse is not None
    got = inverse.at_rows(cols, first)
    want = P[cols[:, :, None], cols[:, None, :]]
    assert np.max(np.abs(got - want)) < 1e-10 * np.max(np.abs(P))
    b = np.random.default_rng(0).normal(size=P.shape[0])
    assert np.allclose(inverse.solve(b), P @ b, rtol=0, atol=1e-10 * np.max(np.abs(P @ b)))


@pytest.mark.parametrize(("formula", "subjects", "items", "n", "coupling"), CASES)
def test_selected_inverse_is_the_inverse(
    formula: str, subjects: int, items: int, n: int, coupling: str
) -> None:
    design, fac = _factor(formula, subjects, items, n)
    assert all(sp.issparse(m) for m in fac.Lk0) == (coupling == "sparse")
    rows = RowPattern(design)
    _check(fac, rows.cols, rows.first)


@pytest.mark.parametrize("formula", ["y ~ x + (x | s) + (1 | i)", "y ~ x + (1 | s) + (1 | i)"])
def test_rows_off_the_couplings_pattern(formula: str) -> None:
    # Every row's (level, item) pair is in L_10's pattern unless its entries were dropped
    # as zeros: drop a tenth of the pairs (all p_0 columns of the level) and ask for P there
    # all the same.
    design, fac = _factor(formula, 600, 500, 3000)
    m = fac.Lk0[0].tocoo()
    p0 = design.terms[0].p
    keep = (m.row * 7 + m.col // p0) % 10 != 0
    assert not keep.all()
    m = sp.csr_matrix((m.data[keep], (m.row[keep], m.col[keep])), shape=m.shape)
    fac = replace(fac, Lk0=[m])
    rows = RowPattern(design)
    _check(fac, rows.cols, rows.first)
