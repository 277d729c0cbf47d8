"""The Laplace derivatives' compiled row passes (lmeformula.engines.laplace_kernels) against
the NumPy expressions they replace, on random rows: exact arithmetic up to the order of the
sums, so to 1e-12."""

import numpy as np
import pytest

from lmeformula.engines import laplace_kernels

RNG = np.random.default_rng(15)
N, R, Q = 200, 3, 40
COLS = np.ascontiguousarray(np.sort(RNG.choice(Q, size=(N, R)), axis=1), dtype=np.int64)
A = RNG.normal(size=(N, R))
PI = RNG.normal(size=(N, R, R))
W = RNG.uniform(0.1, 1.0, size=N)
G = RNG.normal(size=Q)


def test_leverages() -> None:
    m, h = laplace_kernels.leverages(PI, A)
    want = np.einsum("nab,nb->na", PI, A)
    assert m == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert h == pytest.approx(np.einsum("na,na->n", A, want), rel=1e-12, abs=1e-12)


def test_scatter_rows() -> None:
    got = laplace_kernels.scatter_rows(COLS, A, W, Q)
    want = np.bincount(COLS.ravel(), weights=(A * W[:, None]).ravel(), minlength=Q)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_row_products() -> None:
    got = laplace_kernels.row_products(COLS, A, G)
    assert got == pytest.approx(np.einsum("na,na->n", A, G[COLS]), rel=1e-12, abs=1e-12)


def test_theta_gradient() -> None:
    x, e, s, u, m = (RNG.normal(size=shape) for shape in [(N, R), N, N, Q, (N, R)])
    ca, cb, which = (
        np.array(v, dtype=np.int64) for v in ([0, 1, 1, 2], [0, 0, 1, 2], [0, 1, 2, 1])
    )
    got = laplace_kernels.theta_gradient(x, COLS, e, s, W, u, G, m, ca, cb, which, 3)
    want = np.zeros(3)
    for a, b, j in zip(ca, cb, which, strict=True):
        want[j] += x[:, a] @ (e * u[COLS[:, b]] + s * G[COLS[:, b]] + 2.0 * W * m[:, b])
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


# One term: 20 levels of k = 3 effects, P's blocks L_l⁻ᵀ L_l⁻¹ from random lower triangles.
LEVELS = np.ascontiguousarray(RNG.integers(0, 20, size=N), dtype=np.int64)
L0INV = np.tril(RNG.normal(size=(20, R, R))) + 3.0 * np.eye(R)
P_BLOCKS = np.matmul(L0INV.transpose(0, 2, 1), L0INV)


def test_block_leverages() -> None:
    m, h = laplace_kernels.block_leverages(L0INV, LEVELS, A)
    want = np.einsum("nab,nb->na", P_BLOCKS[LEVELS], A)
    assert m == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert h == pytest.approx(np.einsum("na,na->n", A, want), rel=1e-12, abs=1e-12)


def test_block_solve_rows() -> None:
    g, ag = laplace_kernels.block_solve_rows(L0INV, LEVELS, A, W)
    cols = LEVELS[:, None] * R + np.arange(R)
    t = np.bincount(cols.ravel(), weights=(A * W[:, None]).ravel(), minlength=20 * R)
    want = np.einsum("lab,lb->la", P_BLOCKS, t.reshape(20, R)).ravel()
    assert g == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert ag == pytest.approx(np.einsum("na,na->n", A, want[cols]), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("kernel", ["block_leverages", "block_solve_rows"])
def test_block_kernels_refuse_wide_levels(kernel: str) -> None:
    wide = np.zeros((N, 17))
    args = (np.zeros((20, 17, 17)), LEVELS, wide) + ((W,) if kernel == "block_solve_rows" else ())
    with pytest.raises(ValueError, match="at most 16"):
        getattr(laplace_kernels, kernel)(*args)


def test_block_beta_rows() -> None:
    p = 4
    X, Y = RNG.normal(size=(N, p)), RNG.normal(size=(p, 20 * R))
    mx, b = laplace_kernels.block_beta_rows(L0INV, LEVELS, A, X, Y, W)
    # P A'WX per level, L_l⁻ᵀ Y_l, then MX = X - A (P A'WX) row by row.
    D = np.einsum("lba,jlb->laj", L0INV, Y.reshape(p, 20, R))
    assert mx == pytest.approx(X - np.einsum("na,naj->nj", A, D[LEVELS]), rel=1e-12, abs=1e-12)
    want = np.zeros((20, R * R, p))
    outer = (A[:, :, None] * A[:, None, :]).reshape(N, R * R)
    np.add.at(want, LEVELS, (W[:, None] * outer)[:, :, None] * mx[:, None, :])
    assert b == pytest.approx(want, rel=1e-12, abs=1e-12)
