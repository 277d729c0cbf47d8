"""The exact gradient of the Laplace deviance in (θ, β), for canonical links.

With A = ZΛ, η = offset + Xβ + Au, s = ∂ log p / ∂η and W the working weights, the
Laplace deviance at the conditional modes u* (A's = u*) is

    d(θ, β) = -2 log p(y | η*) + ||u*||² + log|A'WA + I|.

Where the link is canonical and the dispersion fixed, W = -∂s/∂η, so the modes move as
du*/dβ = -P A'W X and du*/dθ_k = P (∂Λ_k'Z's - A'W Z ∂Λ_k u*), with P = (A'WA + I)⁻¹
(:mod:`lmeformula.engines.selinv`). The first two terms of d are stationary in u (their
derivative is the explicit one, -2 s'∂η); log|A'WA + I| moves with Λ directly and with W
through η*, W's slope w' = dw/dη weighted by h_i = a_i' P a_i, the leverage of row i.
With v = h w', g = P A'v and e = -2s + v - WAg:

    ∂d/∂β = X'e,
    ∂d/∂Λ_t[a, b] = Σ_i x_ti,a (e_i u_t,c(i)b + s_i g_t,c(i)b + 2 w_i (P a_i)_t,b).

Each term is a sum over rows of products of n-vectors with P at the random effects the
row touches, so an evaluation costs O(n r²) beyond the factor, r the random effects per
row.

With β inside PIRLS too (nAGQ = 0: the modes γ* = (u*, β*) of [A X] together), the modes
move by the joint system's inverse: g is the solve of H = [A'WA + I, A'WX; X'WA, X'WX]
against [A'v; X'v], by its Schur complement R_X'R_X (the factor's last block), and e takes
X g_β as well, e = -2s + v - W(A g_u + X g_β). The θ components keep their form; β's,
X'e, vanish (β is at its mode).

Elsewhere (non-canonical links, an estimated dispersion, quadrature, Λ not θ among
zeros) there is no gradient here and the optimiser takes finite differences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.linalg import lapack

from lmeformula.engines import laplace_kernels
from lmeformula.engines.factor import BlockedFactorization
from lmeformula.engines.pirls import GlmData, PirlsResult
from lmeformula.engines.selinv import pattern_inverse
from lmeformula.model.design import Design

__all__ = ["RowPattern", "laplace_beta_hessian", "laplace_gradient"]


#: The most random effects a level of one term has for the block kernels (their buffer).
MAX_BLOCK = 16


class RowPattern:
    """Each row's random-effect columns and Z's values there (r per row: every term's
    p columns at the row's level), fixed for a design."""

    def __init__(self, design: Design) -> None:
        cols, xs, start = [], [], 0
        for t in design.terms:
            base = start + t.factor.codes * t.p
            for a in range(t.p):
                cols.append(base + a)
                xs.append(t.X[:, a])
            start += t.q
        self.cols = np.ascontiguousarray(np.column_stack(cols), dtype=np.int64)
        self.x = np.ascontiguousarray(np.column_stack(xs), dtype=float)
        self.q = start
        self.first = design.terms[0].p
        # One term: each row's level, where P is block diagonal (the blocks' own kernels,
        # which hold a level's effects in a fixed buffer of MAX_BLOCK).
        self.level = (
            np.ascontiguousarray(design.terms[0].factor.codes, dtype=np.int64)
            if len(design.terms) == 1 and design.terms[0].p <= MAX_BLOCK
            else None
        )
        # Which θ entry each Λ_t[a, b] is: (term, a, b, θ index), or None where some Λ is
        # not θ placed among zeros.
        self.places: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] | None = []
        for k, (t, sl) in enumerate(zip(design.terms, design.theta_slices, strict=True)):
            pos = t.structure.theta_positions()
            if pos is None:
                self.places = None
                break
            rows, cols_, which = pos
            self.places.append((k, rows, cols_, sl.start + which))
        self.offsets = np.cumsum([0] + [t.p for t in design.terms])
        # The places flattened for the compiled pass: Λ_t[a, b]'s row columns and θ entry.
        flat: list[tuple[int, int, int]] = [
            (self.offsets[k] + a, self.offsets[k] + b, j)
            for k, rows, cols_, which in self.places or []
            for a, b, j in zip(rows, cols_, which, strict=True)
        ]
        self.ca, self.cb, self.which = np.array(flat, dtype=np.int64).reshape(-1, 3).T.copy()

    def values(self, lams: list[np.ndarray]) -> np.ndarray:
        """The rows of A = ZΛ at the pattern's columns: x_t' Λ_t per term."""
        parts = []
        for k, lam in enumerate(lams):
            lo, hi = self.offsets[k], self.offsets[k + 1]
            parts.append(self.x[:, lo:hi] @ lam)
        return np.ascontiguousarray(np.column_stack(parts) if len(parts) > 1 else parts[0])


def laplace_gradient(
    design: Design,
    data: GlmData,
    r: PirlsResult,
    theta: np.ndarray,
    pattern: RowPattern,
    joint: bool = False,
) -> np.ndarray | None:
    """∂d/∂(θ, β) at the modes ``r`` (see the module), or None where it is not exact here.

    Parameters
    ----------
    design
        The model's design.
    data
        The family and rows, as PIRLS read them.
    r
        PIRLS's result at (θ, β), with the factor at the modes' weights.
    theta
        θ.
    pattern
        The design's :class:`RowPattern`.
    joint
        β was found inside PIRLS with u (nAGQ = 0): the gradient of θ alone, the modes of
        both moving with it.

    Returns
    -------
    numpy.ndarray or None
        The gradient, θ's components first, then β's (θ's alone with ``joint``).
    """
    if pattern.level is not None and isinstance(r.fac, BlockedFactorization):
        return _one_term_gradient(design, data, r, theta, pattern, joint)
    rows = _rows(design, data, r, theta, pattern)
    if rows is None:
        return None
    solve_rows, _, s, m, _, v, g, Ag = rows
    cols, w = pattern.cols, r.weights
    X = design.X
    if joint:
        # g_β from the Schur complement R_X'R_X = L_X L_X', then g_u = P(A'v - A'WX g_β).
        p = X.shape[1]
        Lx = r.fac.Lyy[:p, :p]
        # LAPACK's potrs directly: SciPy's cho_solve checks cost 80 µs a call on p = 7.
        g_beta, info = lapack.dpotrs(Lx, X.T @ (v - w * Ag), lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("the factor's fixed-effects block is singular")
        xb = X @ g_beta
        dg, dAg = solve_rows(w * xb)
        g = g - dg
        Ag = Ag - dAg + xb
    e = -2.0 * s + v - w * Ag
    grad_theta = laplace_kernels.theta_gradient(
        pattern.x, cols, e, s, w, r.u, g, m, pattern.ca, pattern.cb, pattern.which, theta.size
    )
    if joint:
        return grad_theta
    return np.concatenate([grad_theta, X.T @ e])


def _one_term_gradient(
    design: Design,
    data: GlmData,
    r: PirlsResult,
    theta: np.ndarray,
    pattern: RowPattern,
    joint: bool,
) -> np.ndarray | None:
    """The gradient of one random-effects term in one compiled call
    (:func:`~lmeformula.engines.laplace_kernels.block_gradient`: P block diagonal, every
    row pass and the joint solve there); None where there is no exact gradient."""
    fac = r.fac
    assert isinstance(fac, BlockedFactorization) and pattern.level is not None
    fam = data.family
    slope = fam.weight_slope(r.mu)
    if slope is None or fam.has_dispersion or pattern.places is None:
        return None
    A = pattern.values(design.lambda_blocks(theta))
    p = design.X.shape[1]
    Lx = np.ascontiguousarray(fac.Lyy[:p, :p]) if joint else np.zeros((0, 0))
    return laplace_kernels.block_gradient(
        np.ascontiguousarray(fac.L0inv),
        pattern.level,
        A,
        pattern.x,
        design.X,
        data.y,
        r.mu,
        data.wt,
        r.weights,
        np.ascontiguousarray(slope, dtype=float),
        r.u,
        Lx,
        joint,
        pattern.ca,
        pattern.cb,
        pattern.which,
        theta.size,
    )


class _RowTerms(NamedTuple):
    """The row terms both derivatives read (see the module)."""

    solve_rows: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # c -> P A'c, A P A'c
    A: np.ndarray  # (n, r): the rows of ZΛ at the pattern's columns
    s: np.ndarray  # ∂ log p / ∂η
    m: np.ndarray  # P a_i at the row's own columns
    h: np.ndarray  # the leverages a_i' P a_i
    v: np.ndarray  # h w'
    g: np.ndarray  # P A'v
    Ag: np.ndarray


def _rows(
    design: Design, data: GlmData, r: PirlsResult, theta: np.ndarray, pattern: RowPattern
) -> _RowTerms | None:
    """The row terms both derivatives read (see the module): solves by P at the rows, A's
    rows, s, m = P a_i, the leverages h, v = h w', g = P A'v and Ag; None where there is no
    exact derivative."""
    fam = data.family
    slope = fam.weight_slope(r.mu)
    if slope is None or fam.has_dispersion or pattern.places is None:
        return None
    A = pattern.values(design.lambda_blocks(theta))  # (n, r)
    fac = r.fac
    solve_rows: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    if pattern.level is not None and isinstance(fac, BlockedFactorization):
        # One term: P's blocks are the levels' L_l⁻ᵀ L_l⁻¹, applied as such row by row.
        L0inv, level = np.ascontiguousarray(fac.L0inv), pattern.level
        m, h = laplace_kernels.block_leverages(L0inv, level, A)

        def solve_rows(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return laplace_kernels.block_solve_rows(L0inv, level, A, c)

    else:
        P = pattern_inverse(fac)
        if P is None:
            return None
        cols, q = pattern.cols, pattern.q
        Pi = np.ascontiguousarray(P.at_rows(cols, pattern.first, design_rows=True))  # (n, r, r)
        m, h = laplace_kernels.leverages(Pi, A)  # m_i = P a_i at the row's own columns

        def solve_rows(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            g = P.solve(laplace_kernels.scatter_rows(cols, A, c, q))
            return g, laplace_kernels.row_products(cols, A, g)

    s = data.wt * (data.y - r.mu)
    v = h * r.weights * slope
    g, Ag = solve_rows(v)
    return _RowTerms(solve_rows, A, s, m, h, v, g, Ag)


def laplace_beta_hessian(
    design: Design,
    data: GlmData,
    r: PirlsResult,
    theta: np.ndarray,
    pattern: RowPattern,
) -> np.ndarray | None:
    """∂²d/∂β² at the modes ``r``, exact, for one random-effects term; None elsewhere.

    With M = I - APA'W (dη*/dβ = MX), c_j = w' ∘ (MX)_j and B_j = A' diag(c_j) A,

        ∂²d/∂β_j∂β_k = 2 X'W(MX) + (MX)' diag(h w'' - w' ∘ Ag) (MX) - tr(P B_j P B_k):

    the first term the penalised deviance's (the factor's 2 R_X'R_X), the others the
    log-determinant's, through the leverages and the modes' own slope in β. One term makes
    P and every B_j block diagonal, k x k a level, so the trace costs O(levels k³ p²); with
    more terms P is dense and there is none here.

    Examples
    --------
    >>> import numpy as np
    >>> import lmeformula as lmf
    >>> from lmeformula.engines.factory import make_engine
    >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 lmf.datasets.load("cbpp"))
    >>> engine = make_engine(fit.state.model)
    >>> par = fit.state.params
    >>> H = laplace_beta_hessian(engine.design, engine.data, engine.modes(par), fit.theta,
    ...                          RowPattern(engine.design))
    >>> H.shape
    (4, 4)
    >>> bool(np.all(np.linalg.eigvalsh(H) > 0))
    True
    """
    if pattern.level is None:  # not one term (or one of more than MAX_BLOCK effects)
        return None
    fac = r.fac
    curv = data.family.weight_curvature(r.mu)
    if curv is None or not isinstance(fac, BlockedFactorization):
        return None
    rows = _rows(design, data, r, theta, pattern)
    if rows is None:
        return None
    A, h, Ag = rows.A, rows.h, rows.Ag
    X, w = design.X, r.weights
    p = X.shape[1]
    L0inv = np.ascontiguousarray(fac.L0inv)  # (levels, k, k): P_l = L0inv_l' L0inv_l
    nlev, k, _ = L0inv.shape
    kk = k * k
    slope = data.family.weight_slope(r.mu)
    assert slope is not None  # as _rows found it
    wp = w * slope
    # MX = X - A (P A'WX), P A'WX per level L_l⁻ᵀ (L_l⁻¹ C_l) from the factor's row; and
    # B_j at each level, Σ_i c_ij a_i a_i' over its rows (one pass over the rows).
    Y = np.ascontiguousarray(fac.Ly[0][:p])
    MX, B = laplace_kernels.block_beta_rows(L0inv, pattern.level, A, X, Y, wp)
    hess = 2.0 * X.T @ (w[:, None] * MX)
    hess += MX.T @ ((h * w * curv - wp * Ag)[:, None] * MX)
    # tr(P B_j P B_k) = vec(B_j)'(P ⊗ P) vec(B_k), a level at a time.
    P = np.matmul(L0inv.transpose(0, 2, 1), L0inv)
    PP = (P[:, :, None, :, None] * P[:, None, :, None, :]).reshape(nlev, kk, kk)
    hess -= np.tensordot(B, np.matmul(PP, B), axes=([0, 1], [0, 1]))
    return 0.5 * (hess + hess.T)
