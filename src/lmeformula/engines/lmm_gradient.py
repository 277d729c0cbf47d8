"""The exact gradient in θ of lme4's profiled deviance and REML criterion (Gaussian).

With A = ZΛ (n x q), prior weights W, H = A'WA + I = LL' and P = H⁻¹
(:mod:`lmeformula.engines.selinv`), the criteria are, up to constants,

    ML:   d(θ) = log|H| + n log r²
    REML: d(θ) = log|H| + log|S| + (n - p) log r²,   S = X'WX - X'WA P A'WX = R_X'R_X.

θ_j is Λ_t[a, b] (UN and DIAG terms: Λ is θ placed among zeros), so ∂A/∂θ_j has, in row
i, the single entry x_ti,a at the row's column c = cols[i, (t, b)]. Then

- ∂ log|H| = tr(P ∂H) = 2 Σ_i w_i x_ti,a (P a_i)_c. Where every Λ_t is invertible,
  Z∂Λ = AΛ⁻¹∂Λ and A'WA = H - I make this 2 tr((I - P) Λ⁻¹ ∂Λ), which reads P's diagonal
  blocks only (:func:`_block_sums`: on the blocked factor, P_11 = (L_11 L_11')⁻¹ and two
  sparse products); near a singular Λ_t (a boundary) the row sum is taken instead, with
  P among the random effects each row touches
  (:meth:`~.selinv.PatternInverse.at_rows`);
- ∂r² = -2 Σ_i w_i e_i x_ti,a u_c, e = y - Xβ - Au the residuals at the solution: r² is
  the minimum over (u, β) of the penalised sum of squares, so only its explicit
  dependence on Λ moves it (the envelope theorem);
- ∂ log|S| = tr(S⁻¹ ∂S) = -2 Σ_i w_i x_ti,a G_c · E_i, with G = P A'WX and
  E = (X - AG) S⁻¹: ∂S's four terms pair up into one because P is symmetric. G is
  L⁻ᵀ L_XZ', p back-substitutions through the factor already there.

Beyond the factor, the cost is one dense inverse of the later terms' block L_11 (about
what factoring it cost), p + 1 back-substitutions and O(n r) work for r random effects
per row (O(n r²) on the boundary path).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lmeformula.engines.factor import BlockedFactorization, DenseFactorization, inverse_later
from lmeformula.engines.laplace_gradient import RowPattern
from lmeformula.engines.selinv import pattern_inverse
from lmeformula.model.design import Design

__all__ = ["lmm_gradient"]


def lmm_gradient(
    design: Design,
    fac: DenseFactorization | BlockedFactorization,
    theta: np.ndarray,
    reml: bool,
    pattern: RowPattern | None = None,
) -> np.ndarray | None:
    """∂d/∂θ of the profiled deviance (ML) or the REML criterion at θ (see the module), or
    None where it is not exact here (a structure whose Λ is not θ among zeros) or the
    selected inverse would be too large (:data:`~.selinv.MAX_CROSS`).

    Parameters
    ----------
    design
        The model's design; its prior weights, if any, are the W of the factor.
    fac
        The factorisation at θ with the design's own weights
        (``BlockedFactor(design).update(theta, keep=True)``).
    theta
        θ.
    reml
        The REML criterion (True) or the ML deviance (False).
    pattern
        The design's :class:`~.laplace_gradient.RowPattern`, built here when not given
        (it depends on the design only: a caller evaluating many θ keeps one).

    Returns
    -------
    numpy.ndarray or None
        The gradient, one entry per θ.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> from lmeformula.engines.factor import BlockedFactor
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> fac = BlockedFactor(fit.state.design).update(fit.theta, keep=True)
    >>> g = lmm_gradient(fit.state.design, fac, fit.theta, reml=True)
    >>> bool(abs(g).max() < 1e-3)
    True
    """
    pattern = RowPattern(design) if pattern is None else pattern
    if pattern.places is None:
        return None
    theta = np.asarray(theta, dtype=float)
    n, p = design.X.shape
    w = np.ones(n) if design.weights is None else np.asarray(design.weights, dtype=float)
    lams = design.lambda_blocks(theta)
    A = pattern.values(lams)  # (n, r): row i of ZΛ at its columns
    cols = pattern.cols
    beta, u, _ = fac.solve()
    pwrss = fac.criteria(n, reml, 0.0).pwrss
    resid = design.y - design.offset - design.X @ beta - np.einsum("na,na->n", A, u[cols])
    logdet = _logdet_by_blocks(design, fac, lams, pattern)
    wres = w * resid
    # Per row and column of the row, the weight each θ entry's x_ti,a multiplies.
    m = (n - p) if reml else n
    per = -(2.0 * m / pwrss) * wres[:, None] * u[cols]
    if logdet is None:
        P = pattern_inverse(fac)
        if P is None:
            return None
        Pi = P.at_rows(cols, pattern.first)
        per += 2.0 * w[:, None] * np.einsum("nab,nb->na", Pi, A)  # w_i (P a_i) at the row
    if reml and p:
        X = design.X
        # G = P A'WX = L⁻ᵀ L_XZ': L's X rows are L_XZ = (A'WX)' L⁻ᵀ, and the factor's
        # back-substitution L'u = c_u - L_XZ'β gives L⁻ᵀ L_XZ' e_k as u(0) - u(e_k).
        u0 = fac.solve(np.zeros(p))[1]
        G = np.column_stack([u0 - fac.solve(e)[1] for e in np.eye(p)])
        F = np.einsum("na,nak->nk", A, G[cols])  # rows of AG
        RX = fac.Lyy[:p, :p]  # lower: S = RX RX'
        S = RX @ RX.T
        E = np.linalg.solve(S, (X - F).T).T
        per -= 2.0 * w[:, None] * np.einsum("nak,nk->na", G[cols], E)
    grad = np.zeros(theta.size) if logdet is None else logdet
    for k, rows, cols_k, which in pattern.places:
        lo = pattern.offsets[k]
        for a, b, j in zip(rows, cols_k, which, strict=True):
            grad[j] += float(pattern.x[:, lo + a] @ per[:, lo + b])
    return grad


#: Below this smallest |diagonal entry| of some Λ_t, ∂ log|H| is summed over the rows
#: instead (:func:`_logdet_by_blocks` divides by Λ_t: its rounding grows as 1/Λ_t).
MIN_DIAGONAL = 1e-4


def _logdet_by_blocks(
    design: Design,
    fac: DenseFactorization | BlockedFactorization,
    lams: list[np.ndarray],
    pattern: RowPattern,
) -> np.ndarray | None:
    """∂ log|H| / ∂θ from P's diagonal blocks alone, where every Λ_t is invertible.

    Then Z ∂Λ = A Λ⁻¹ ∂Λ, and A'WA = H - I turns tr(P ∂H) = 2 tr(P A'WA Λ⁻¹ ∂Λ) into
    2 tr((I - P) Λ⁻¹ ∂Λ): for θ_j = Λ_t[a, b], 2 ((l_t I - Σ_c P_t,c) Λ_t⁻¹)[b, a], the
    sum over the term's levels c of P's p_t x p_t diagonal blocks (:func:`_block_sums`).
    No row's pairs of random effects are read. None where some Λ_t is near singular
    (:data:`MIN_DIAGONAL`), as at a boundary.
    """
    assert pattern.places is not None
    if min(float(np.abs(np.diagonal(lam)).min()) for lam in lams) < MIN_DIAGONAL:
        return None
    sums = _block_sums(design, fac, pattern)
    if sums is None:
        return None
    grad = np.zeros(len(design.start))
    for (_, rows, cols_k, which), t, lam, S in zip(
        pattern.places, design.terms, lams, sums, strict=True
    ):
        M = (t.factor.nlevels * np.eye(t.p) - S) @ np.linalg.inv(lam)
        np.add.at(grad, which, 2.0 * M[cols_k, rows])
    return grad


def _block_sums(
    design: Design, fac: DenseFactorization | BlockedFactorization, pattern: RowPattern
) -> list[np.ndarray] | None:
    """Σ_c P_t,c per term t: the sum of P's p_t x p_t diagonal blocks over its levels.

    On the blocked factor, with M = L_10 L_00⁻¹ (sparse where the couplings are) and
    P_11 = (L_11 L_11')⁻¹, the first term's level c has P_00,c = L_00,c⁻ᵀ L_00,c⁻¹ +
    M_c' P_11 M_c, so Σ_c P_00,c[a, b] = Σ_c (L_00,c⁻ᵀ L_00,c⁻¹)[a, b] + <P_11, M_a M_b'>,
    M_a the columns of M at within-level index a: a sparse product read at its nonzeros,
    where :mod:`.selinv` sums over every pair of entries in a column one by one. The later
    terms' blocks are P_11's own.
    """
    if isinstance(fac, DenseFactorization):
        P = pattern_inverse(fac)
        assert P is not None
        out, start = [], 0
        for t in design.terms:
            own = start + t.p * np.arange(t.factor.nlevels)[:, None] + np.arange(t.p)
            out.append(P.at_rows(own, 0).sum(axis=0))
            start += t.q
        return out
    L0inv = fac.L0inv
    l0, p0 = L0inv.shape[0], L0inv.shape[1]
    S0 = np.einsum("lba,lbc->ac", L0inv, L0inv)
    if len(fac.lams) == 1:
        return [S0]
    sizes = [m.shape[0] for m in fac.Lk0]
    P11 = inverse_later(fac.Ldense, sizes)
    level = np.arange(l0)[:, None, None] * p0
    rows = (level + np.arange(p0)[None, :, None]).repeat(p0, axis=2).ravel()
    cols = (level + np.arange(p0)[None, None, :]).repeat(p0, axis=1).ravel()
    D = sp.csr_matrix((L0inv.ravel(), (rows, cols)), shape=(l0 * p0, l0 * p0))
    if all(sp.issparse(m) for m in fac.Lk0):
        M = sp.csc_matrix(sp.vstack(fac.Lk0, format="csr") @ D)
        for a in range(p0):
            for b in range(a, p0):
                C = (M[:, a::p0] @ M[:, b::p0].T).tocoo()
                v = float(C.data @ P11[C.row, C.col])
                S0[a, b] += v
                if a != b:
                    S0[b, a] += v
    else:
        L10 = np.vstack([m.toarray() if sp.issparse(m) else np.asarray(m) for m in fac.Lk0])
        Md = np.asarray(D.T @ L10.T).T
        for a in range(p0):
            for b in range(a, p0):
                v = float(np.sum(P11 * (Md[:, a::p0] @ Md[:, b::p0].T)))
                S0[a, b] += v
                if a != b:
                    S0[b, a] += v
    out, off = [S0], 0
    for t in design.terms[1:]:
        own = off + t.p * np.arange(t.factor.nlevels)[:, None] + np.arange(t.p)
        out.append(P11[own[:, :, None], own[:, None, :]].sum(axis=0))
        off += t.q
    return out
