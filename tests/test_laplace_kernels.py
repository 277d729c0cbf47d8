"""The Laplace gradient's compiled row passes (lmeformula.engines.laplace_kernels) against
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
