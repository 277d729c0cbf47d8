"""Correlation matrices of the classic structures, as pure functions of their parameters.

Shared by the random-effects structures (G side) and the residual structures (R side): a
structure decides which parameters it has and how they are bounded; these functions only
turn parameters into matrices (and back, for carrying estimates between engines).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "acf_from_pacf",
    "ar1_corr",
    "cs_corr",
    "pacf_from_acf",
    "psd_sqrt",
    "toeplitz_corr",
]


def ar1_corr(rho: float, positions: np.ndarray) -> np.ndarray:
    """ρ^|t_i - t_j| for the positions ``t`` (the last axis; leading axes are batches).

    Examples
    --------
    >>> ar1_corr(0.5, np.arange(3))
    array([[1.  , 0.5 , 0.25],
           [0.5 , 1.  , 0.5 ],
           [0.25, 0.5 , 1.  ]])
    """
    t = np.asarray(positions, dtype=float)
    lag = np.abs(t[..., :, None] - t[..., None, :])
    # numpy keeps 0**0 = 1 and a negative ρ to integer lags; continuous-time structures
    # bound ρ to [0, 1], where non-integer lags keep their meaning too.
    return float(rho) ** lag


def cs_corr(rho: float, m: int) -> np.ndarray:
    """Compound symmetry: 1 on the diagonal, ρ elsewhere.

    Examples
    --------
    >>> cs_corr(0.25, 2)
    array([[1.  , 0.25],
           [0.25, 1.  ]])
    """
    return np.full((m, m), rho) + (1.0 - rho) * np.eye(m)


def acf_from_pacf(pacf: np.ndarray) -> np.ndarray:
    """Autocorrelations ρ_1..ρ_K of the stationary process with partial autocorrelations
    π_1..π_K (Durbin-Levinson).

    Any π in [-1, 1]^K gives a positive semi-definite Toeplitz correlation (and every such
    correlation has one), which is why Toeplitz structures are parameterised by π: box
    bounds for the optimizer, no definiteness check.

    Examples
    --------
    >>> acf_from_pacf(np.array([0.5, 0.0]))
    array([0.5 , 0.25])
    """
    pacf = np.asarray(pacf, dtype=float)
    k_max = pacf.size
    rho = np.ones(k_max + 1)
    phi = np.zeros(0)
    for k in range(1, k_max + 1):
        pk = pacf[k - 1]
        phi = np.concatenate([phi - pk * phi[::-1], [pk]])
        # ρ_k = Σ_j φ_kj ρ_{k-j}
        rho[k] = phi @ rho[k - 1 :: -1][:k]
    return rho[1:]


def pacf_from_acf(acf: np.ndarray) -> np.ndarray:
    """The inverse of :func:`acf_from_pacf` (Levinson recursion), clipped to [-1, 1].

    Examples
    --------
    >>> pacf_from_acf(np.array([0.5, 0.25]))
    array([0.5, 0. ])
    """
    acf = np.asarray(acf, dtype=float)
    rho = np.concatenate([[1.0], acf])
    pacf = np.zeros(acf.size)
    phi = np.zeros(0)
    for k in range(1, acf.size + 1):
        denom = 1.0 - phi @ rho[1:k]
        num = rho[k] - phi @ rho[k - 1 : 0 : -1]
        pk = float(np.clip(num / denom if denom > 1e-12 else 0.0, -1.0, 1.0))
        pacf[k - 1] = pk
        phi = np.concatenate([phi - pk * phi[::-1], [pk]])
    return pacf


def toeplitz_corr(acf: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Correlation ρ_|i-j| between integer positions i, j (ρ_0 = 1)."""
    rho = np.concatenate([[1.0], np.asarray(acf, dtype=float)])
    t = np.asarray(positions, dtype=int)
    return rho[np.abs(t[..., :, None] - t[..., None, :])]


def psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """A square root F with F F' = cov: the Cholesky factor when cov is positive definite,
    else the symmetric root of its non-negative part (a correlation of ±1 on the boundary
    is a legitimate singular fit, which Cholesky would refuse)."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(cov)
        return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
