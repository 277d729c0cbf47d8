"""The blocked Cholesky factor of lme4's penalised system, in MixedModels.jl's scheme.

For weights W (prior weights, or a generalized model's working weights) the system is

    [Λ'Z'WZΛ + I   Λ'Z'W[X y]]
    [ [X y]'WZΛ     [X y]'W[X y] ]  =  L L'

and everything the objectives need comes from L: log|L|², R_X and the penalised residual
sum of squares (the last block), β and the spherical random effects u (back-substitution)
and the conditional variances (lme4's ``condVar``).

A :class:`BlockedFactor` splits what is fixed from what is not:

- its *structure* follows from the design alone and is built once: the terms sorted by
  number of levels, the sparsity patterns of the blocks of Z'Z, the crossed factors'
  couplings by the first term's levels (their Schur complements' summands), the
  positions of Λ's entries in a small dense system;
- its *values* are the cross-products of [Z X y] with the weights. :meth:`reweight`
  refreshes them for new weights (and a new working response) without rebuilding the
  structure, which is what penalised iteratively reweighted least squares does at every
  inner step; :meth:`with_response` gives a copy for another response, sharing the
  cross-products of X and Z;
- :meth:`update` factors the system at θ and returns the factorisation.

The scheme: the first term's diagonal block is block-diagonal (one p x p block per level),
so its factor is a batch of small Cholesky factors, never a q_1 x q_1 matrix; each later
term's coupling to the first term, Λ_k' Z_k'WZ_1 Λ_1 L_11⁻ᵀ, stays sparse; each later
term's own block becomes dense once the coupling is subtracted (the Schur complement of
crossed factors), and is factored densely; the last block, [X y], yields R_X and the
penalised residual sum of squares. Nothing of size n x q is ever formed. Models with at
most ``SMALL_Q`` random effects are factored whole instead, as one dense matrix (one
LAPACK call costs less than the blocked scheme's many small ones there).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from lmeformula.engines.lmm_kernels import (
    DenseObjective,
    Objective,
    ScalarTermsObjective,
    dense_deviance,
    dense_factor,
    dense_solution,
    level_products,
    lower_triangle,
    schur_products,
    small_products,
    xy_cross,
    xy_rows,
)
from lmeformula.engines.solution import Criteria, criteria_from_factor, profiled_deviance
from lmeformula.model.design import Design

__all__ = ["SMALL_Q", "BlockedFactor", "BlockedFactorization", "DenseFactorization"]


def _scale_dense(A: np.ndarray, lam_i: np.ndarray, lam_j: np.ndarray) -> np.ndarray:
    """(I ⊗ Λ_i)' A (I ⊗ Λ_j) for a dense block whose rows and columns are level-major."""
    pi, pj = lam_i.shape[0], lam_j.shape[0]
    li, lj = A.shape[0] // pi, A.shape[1] // pj
    if pi == 1 and pj == 1:
        return A * (lam_i[0, 0] * lam_j[0, 0])
    B = A.reshape(li, pi, lj, pj)
    return np.einsum("ca,lcmd,db->lamb", lam_i, B, lam_j).reshape(A.shape)


def _batched_cholesky_inverse(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses of the lower Cholesky factors of a stack of small SPD matrices, and the
    factors' diagonals.

    Vectorised across the stack, column by column: for thousands of 2 x 2 or 3 x 3 blocks
    one LAPACK call per block costs far more than the arithmetic.
    """
    p = M.shape[1]
    L = np.zeros_like(M)
    for j in range(p):
        d = M[:, j, j] - np.einsum("lk,lk->l", L[:, j, :j], L[:, j, :j])
        if np.any(d <= 0):
            raise np.linalg.LinAlgError("matrix not positive definite")
        L[:, j, j] = np.sqrt(d)
        if j + 1 < p:
            L[:, j + 1 :, j] = (
                M[:, j + 1 :, j] - np.einsum("lik,lk->li", L[:, j + 1 :, :j], L[:, j, :j])
            ) / L[:, j, j][:, None]
    # Forward substitution for L⁻¹ (lower triangular), again vectorised across the stack.
    inv = np.zeros_like(M)
    for j in range(p):
        inv[:, j, j] = 1.0 / L[:, j, j]
        for i in range(j + 1, p):
            inv[:, i, j] = -np.einsum("lk,lk->l", L[:, i, j:i], inv[:, j:i, j]) / L[:, i, i]
    return inv, np.diagonal(L, axis1=1, axis2=2)


def _lower_solve(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """L⁻¹ B for lower-triangular L, straight to LAPACK (the wrappers' checks cost more
    than the solve on small blocks)."""
    x, info = la.lapack.dtrtrs(L, B, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("singular triangular factor")
    return x


def _lower_solve_t(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """L⁻ᵀ b for the lower triangle of L."""
    x, info = la.lapack.dtrtrs(L, b, lower=1, trans=1)
    if info != 0:
        raise np.linalg.LinAlgError("singular triangular factor")
    return x


def _transpose_times(A: Any, x: np.ndarray) -> np.ndarray:
    """A' x for a dense or CSR matrix (CSR: one bincount, without a transposed copy)."""
    if isinstance(A, np.ndarray):
        return A.T @ x
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    return np.bincount(A.indices, weights=A.data * x[rows], minlength=A.shape[1])


def _cholesky(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor by LAPACK's dpotrf, overwriting A (40% faster than
    numpy.linalg.cholesky on a 1,128-square block here); the upper triangle is zeroed."""
    L, info = la.lapack.dpotrf(A, lower=1, clean=1, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError("matrix not positive definite")
    return L


@dataclass
class _SchurColumns:
    """A scalar later term's coupling to the first term, A_k0, by the first term's levels
    (CSC, rows sorted): what :func:`~.lmm_kernels.schur_products` reads to form the Schur
    complement λ_i λ_j A_i0 diag(d0²) A_j0' without a sparse product."""

    indptr: np.ndarray  # intp
    indices: np.ndarray  # intp
    #: Where each of these values sits among the coupling's CSR values (for reweights).
    order: np.ndarray
    data: np.ndarray

    @classmethod
    def of(cls, a: sp.csr_matrix) -> _SchurColumns:
        # The CSR values' positions carried through the conversion as values.
        tagged = sp.csr_matrix((np.arange(a.nnz, dtype=float), a.indices, a.indptr), a.shape)
        tagged = tagged.tocsc()
        tagged.sort_indices()
        order = tagged.data.astype(np.intp)
        return cls(
            tagged.indptr.astype(np.intp), tagged.indices.astype(np.intp), order, a.data[order]
        )

    def refresh(self, a: sp.csr_matrix) -> None:
        """The coupling's new values (same pattern)."""
        self.data = a.data[self.order]


def _schur(ci: _SchurColumns, cj: _SchurColumns, w: np.ndarray, shape: tuple[int, int]) -> Any:
    """A_i0 diag(w) A_j0' dense: C order, or for i == j (``ci is cj``) its lower triangle
    in Fortran order (what LAPACK factors without a copy)."""
    if ci is cj:
        out = np.zeros(shape, order="F")
        schur_products(
            ci.indptr, ci.indices, ci.data, ci.indptr, ci.indices, ci.data, w, out.T, True
        )
        return out
    out = np.zeros(shape)
    schur_products(ci.indptr, ci.indices, ci.data, cj.indptr, cj.indices, cj.data, w, out, False)
    return out


def _dense(m: Any) -> np.ndarray:
    return m.toarray() if sp.issparse(m) else np.asarray(m)


def _block_diag_sparse(blocks: np.ndarray) -> sp.csr_matrix:
    """A block-diagonal sparse matrix from an (l, p, p) array of blocks."""
    nblk = blocks.shape[0]
    return sp.bsr_matrix(
        (blocks, np.arange(nblk), np.arange(nblk + 1)),
        shape=(nblk * blocks.shape[1], nblk * blocks.shape[2]),
    ).tocsr()


#: Elements of a dense work array in the conditional variances (32 MB): bounds the memory of
#: L_11⁻¹ L_10 when the first term has tens of thousands of levels.
_CHUNK_ELEMENTS = 1 << 22


def _later_factor(Ldense: dict[tuple[int, int], np.ndarray], sizes: list[int]) -> np.ndarray:
    """L_11 assembled from its blocks, in Fortran order so that LAPACK works on it in
    place (the only extra q_1 x q_1 array)."""
    ends = np.cumsum(sizes)
    starts = ends - np.asarray(sizes)
    L = np.zeros((int(ends[-1]), int(ends[-1])), order="F")
    for (i, j), block in Ldense.items():
        L[starts[i - 1] : ends[i - 1], starts[j - 1] : ends[j - 1]] = block
    return L


def inverse_later(Ldense: dict[tuple[int, int], np.ndarray], sizes: list[int]) -> np.ndarray:
    """(L_11 L_11')⁻¹ for the later terms' block lower-triangular factor (LAPACK's dpotri
    on the assembled factor), dense and symmetric.

    Parameters
    ----------
    Ldense
        The blocks L_ij (i >= j >= 1) of the factor.
    sizes
        q_k of each later term, in order.
    """
    P, info = la.lapack.dpotri(_later_factor(Ldense, sizes), lower=1, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError("singular triangular factor")
    # dpotri fills the lower triangle only; C order for the row gathers that read it.
    P = np.tril(P)
    return np.ascontiguousarray(P + np.tril(P, -1).T)


def _inverse_lower(Ldense: dict[tuple[int, int], np.ndarray], sizes: list[int]) -> np.ndarray:
    """L_11⁻¹ for the later terms' block lower-triangular factor, as one dense array.

    Parameters
    ----------
    Ldense
        The blocks L_ij (i >= j >= 1) of the factor.
    sizes
        q_k of each later term, in order.

    Returns
    -------
    numpy.ndarray
        The lower-triangular inverse (Fortran order).
    """
    inv, info = la.lapack.dtrtri(_later_factor(Ldense, sizes), lower=1, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError("singular triangular factor")
    return inv


def _sum_sq_scaled(G: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Per level l, the diagonal of S_l G_l G_l' S_l' for a stack G of (nl, p, r) blocks.

    With G_l the transpose of one level's p columns of L⁻¹ and S_l = Λ, this is the diagonal
    of Λ (L L')⁻¹_ll Λ'. ``lam`` is one p x p matrix S for all levels or one per level,
    (nl, p, p).
    """
    if G.shape[1] == 1:
        scale = lam[..., 0, 0] if lam.ndim == 3 else lam[0, 0]
        return (scale**2 * np.einsum("lr,lr->l", G[:, 0, :], G[:, 0, :]))[:, None]
    GS = lam @ G
    return np.einsum("lbr,lbr->lb", GS, GS)


def _cond_var(
    D0: np.ndarray,
    Lk0: list[Any],
    Ldense: dict[tuple[int, int], np.ndarray],
    lams: list[np.ndarray],
) -> np.ndarray:
    """diag(Λ (L L')⁻¹ Λ'), lme4's condVar relative to σ², from the blocked factor.

    With L = [[L_00, 0], [L_10, L_11]] the diagonal blocks of (L L')⁻¹ are, for the later
    terms, those of (L_11 L_11')⁻¹ = L_11⁻ᵀ L_11⁻¹, and for level i of the first term
    L_00,i⁻ᵀ L_00,i⁻¹ + W_i'W_i with W = L_11⁻¹ L_10 L_00⁻¹. Scaled by Λ (b = Λu) these
    need only D0_i = Λ_1 L_00,i⁻ᵀ and G = L_11⁻¹ L_10: Λ_1 W_i'W_i Λ_1' = (G_i D0_i')'(G_i D0_i').

    Parameters
    ----------
    D0, Lk0, Ldense
        The factor's pieces (see :class:`_Factor`).
    lams
        Each term's Λ_k block at θ.

    Returns
    -------
    numpy.ndarray
        Length q, in the order of ``b``.
    """
    l0, p0 = D0.shape[0], D0.shape[1]
    # L_00,i⁻ᵀ L_00,i⁻¹ scaled by Λ_1: D0_i D0_i'.
    first = np.einsum("lba,lba->lb", D0, D0)
    if len(lams) == 1:
        return first.ravel()
    sizes = [m.shape[0] for m in Lk0]
    q1 = sum(sizes)
    Linv = _inverse_lower(Ldense, sizes)
    LinvT = Linv.T  # C order: the right operand of the sparse products below
    # G' = L_10' L_11⁻ᵀ, a chunk of first-term levels at a time. With L_10 sparse it costs
    # nnz(L_10) x q_1 flops, far less than solving with L_11 for every column.
    L10 = np.vstack(Lk0) if isinstance(Lk0[0], np.ndarray) else sp.vstack(Lk0).tocsc()
    step = max(1, _CHUNK_ELEMENTS // max(1, q1 * p0))
    for a in range(0, l0, step):
        b = min(a + step, l0)
        Gt = np.asarray(L10[:, a * p0 : b * p0].T @ LinvT).reshape(b - a, p0, q1)
        first[a:b] += _sum_sq_scaled(Gt, D0[a:b])
    out = [first.ravel()]
    # Later terms: columns of L_11⁻¹. Its rows above a column are zero (lower triangular), so
    # only the rows from the chunk's first column down enter.
    start = 0
    for k, qk in enumerate(sizes, start=1):
        lam = lams[k]
        pk = lam.shape[0]
        var = np.empty((qk // pk, pk))
        step = max(1, _CHUNK_ELEMENTS // max(1, q1 * pk))
        for a in range(0, qk // pk, step):
            b = min(a + step, qk // pk)
            c0, c1 = start + a * pk, start + b * pk
            Ht = np.ascontiguousarray(LinvT[c0:c1, c0:]).reshape(b - a, pk, q1 - c0)
            var[a:b] = _sum_sq_scaled(Ht, lam)
        out.append(var.ravel())
        start += qk
    return np.concatenate(out)


#: Up to this many random effects the system is factored whole, as one dense matrix: for a
#: few dozen random effects one LAPACK factorisation costs less than the blocked scheme's
#: many small numpy calls (measured here: Machines' 18 random effects 45 µs per evaluation
#: against 122, Penicillin's 30 43 against 149; the dense products grow as q³ and lose
#: beyond about 60).
SMALL_Q = 60
#: A small system with at most this many entries in [Z X] (2 MB) reweights it dense.
DENSE_ROWS = 250_000


def _tile(a: np.ndarray, reps: int) -> np.ndarray:
    # np.tile's copies cost more than the few entries it tiles.
    return np.broadcast_to(a, (reps, a.size)).ravel()


@dataclass
class _SmallSystem:
    """The dense cross-products of a small model and the work arrays of its factorisations."""

    ZtZ: np.ndarray  # q x q
    ZtXy: np.ndarray  # q x (p + 1)
    # Flat positions of every Λ_k entry in the q x q Λ, and which entry of the raveled Λ_k
    # blocks goes to each (None where θ is placed directly: theta_flat).
    lam_flat: np.ndarray | None
    lam_src: np.ndarray | None
    theta_flat: np.ndarray | None  # where θ's entries go in Λ, when Λ is θ among zeros
    theta_src: np.ndarray | None  # which θ entry goes to each of those positions
    lam: np.ndarray  # q x q, rewritten at each θ (its zeros never change)
    work: np.ndarray  # (q + p + 1) square, Fortran order: factored in place
    # The θ positions' rows and columns (the exact gradient reads A⁻¹ there only).
    theta_rows: np.ndarray | None = None
    theta_cols: np.ndarray | None = None


@dataclass
class DenseFactorization:
    """The whole system factored as one dense lower-triangular L (small models).

    ``L[:q, :q]`` is the random effects' factor, ``L[q:, :q]`` the [X y] rows, ``L[q:, q:]``
    the last block's factor. L may be the factor's work array, overwritten by the next
    :meth:`BlockedFactor.update`: read what is needed at once, or update with ``keep``.
    """

    L: np.ndarray
    q: int
    lam: np.ndarray  # q x q Λ at θ

    def criteria(self, n: int, reml: bool, log_weights: float) -> Criteria:
        """lme4's criteria from the diagonal of L, summed in order as the compiled
        :func:`~lmeformula.engines.lmm_kernels.dense_deviance` sums them (the deviance
        and the solution's criteria agree to the last bit)."""
        diag = self.L.diagonal().tolist()
        q = self.q
        logdet_L = 0.0
        for v in diag[:q]:
            logdet_L += 2.0 * math.log(v)
        logdet_rx = 0.0
        for v in diag[q:-1]:
            logdet_rx += math.log(abs(v))
        r = diag[-1]
        return profiled_deviance(
            logdet_L=logdet_L,
            logdet_RX=2.0 * logdet_rx,
            pwrss=max(r * r, 1e-300),
            n=n,
            p=self.L.shape[0] - q - 1,
            reml=reml,
            log_weights=log_weights,
        )

    @property
    def Lyy(self) -> np.ndarray:
        """The last block's lower factor: R_X' and r."""
        q = self.q
        return np.tril(self.L[q:, q:])

    def solution(
        self, n: int, reml: bool, log_weights: float
    ) -> tuple[Criteria, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The criteria, β, u, b = Λu and R_X (upper triangular), in one compiled call
        (:func:`~lmeformula.engines.lmm_kernels.dense_solution`): what :meth:`criteria`,
        :meth:`solve` and :attr:`Lyy` give, at a tenth of their calls."""
        logdet_L, logdet_RX, pwrss, beta, u, b, RX = dense_solution(self.L, self.q, self.lam)
        criteria = profiled_deviance(
            logdet_L=logdet_L,
            logdet_RX=logdet_RX,
            pwrss=pwrss,
            n=n,
            p=len(beta),
            reml=reml,
            log_weights=log_weights,
        )
        return criteria, beta, u, b, RX

    def solve(self, beta: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """β (from the factor, or as given), u and b = Λu."""
        L, q = self.L, self.q
        p = L.shape[0] - q - 1
        # LAPACK directly, reading the lower triangles only (the wrappers' checks and
        # copies cost more than these solves; PIRLS solves at every step).
        if beta is None:
            RXt = L[q : q + p, q : q + p]
            beta = _lower_solve_t(RXt, L[q + p, q : q + p]) if p else np.zeros(0)
        Ly = L[q:, :q]
        u = _lower_solve_t(L[:q, :q], Ly[p] - Ly[:p].T @ beta)
        return beta, u, self.lam @ u

    def cond_var(self) -> np.ndarray:
        """diag(Λ (L_ZZ L_ZZ')⁻¹ Λ'): squared column norms of L_ZZ⁻¹ Λ'."""
        M = la.solve_triangular(np.tril(self.L[: self.q, : self.q]), self.lam.T, lower=True)
        return np.einsum("ij,ij->j", M, M)


@dataclass
class BlockedFactorization:
    """The blocked Cholesky factor at one θ."""

    lams: list[np.ndarray]  # each term's Λ_k
    L0inv: np.ndarray  # (l_1, p_1, p_1) inverses of the first term's diagonal factors
    D0: np.ndarray | None  # (l_1, p_1, p_1): Λ_1 L_11,l⁻ᵀ per level (None: on demand)
    Lk0: list[Any]  # couplings of later terms to the first (sparse, or dense when small)
    Ldense: dict[tuple[int, int], np.ndarray]  # L_ij for i >= j >= 1 (dense)
    Ly: list[np.ndarray]  # the [X y] row: L_y0 (p+1 x q_1), L_yj (p+1 x q_j)
    Lyy: np.ndarray  # (p+1) x (p+1) lower factor of the last block
    logdet_L: float
    # L_10 at its pattern where the crossed PIRLS made it: (ptr, rows, values, pos), each
    # first-term level's later rows ascending, rows[ptr[c]:ptr[c + 1]], its p_1 columns'
    # values there (entries x p_1) and where each design row's later entries are in it
    # (:attr:`BlockedFactor.coupling_pattern`); the selected inverse reads it as it is.
    coupling: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def criteria(self, n: int, reml: bool, log_weights: float) -> Criteria:
        """lme4's criteria from the last block's factor."""
        return criteria_from_factor(self.Lyy, self.logdet_L, n, reml, log_weights)

    def solution(
        self, n: int, reml: bool, log_weights: float
    ) -> tuple[Criteria, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The criteria, β, u, b = Λu and R_X (upper triangular)."""
        p = self.Lyy.shape[0] - 1
        beta, u, b = self.solve()
        RX = np.ascontiguousarray(self.Lyy[:p, :p].T)
        return self.criteria(n, reml, log_weights), beta, u, b, RX

    def solve(self, beta: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """β (from the factor, or as given), u and b = Λu, by back-substitution through the
        blocks, last term first: L' u = c_u - L_X' β."""
        K = len(self.lams)
        p = self.Lyy.shape[0] - 1
        if beta is None:
            beta = _lower_solve_t(self.Lyy[:p, :p], self.Lyy[p, :p]) if p else np.zeros(0)
        us: list[np.ndarray] = [np.zeros(0)] * K
        for j in range(K - 1, 0, -1):
            rhs = self.Ly[j][p, :] - self.Ly[j][:p, :].T @ beta
            for i in range(j + 1, K):
                rhs = rhs - self.Ldense[(i, j)].T @ us[i]
            us[j] = _lower_solve_t(self.Ldense[(j, j)], rhs)
        rhs0 = self.Ly[0][p, :] - self.Ly[0][:p, :].T @ beta
        for k in range(1, K):
            rhs0 = rhs0 - _transpose_times(self.Lk0[k - 1], us[k])
        l0, p0 = self.L0inv.shape[0], self.L0inv.shape[1]
        us[0] = np.einsum("lba,lb->la", self.L0inv, rhs0.reshape(l0, p0)).ravel()
        bs = [
            np.einsum("ab,lb->la", lam, u.reshape(-1, lam.shape[0])).ravel()
            for lam, u in zip(self.lams, us, strict=True)
        ]
        return beta, np.concatenate(us), np.concatenate(bs)

    def cond_var(self) -> np.ndarray:
        """lme4's condVar relative to σ² (see :func:`_cond_var`)."""
        D0 = self.lams[0] @ self.L0inv.transpose(0, 2, 1) if self.D0 is None else self.D0
        return _cond_var(D0, self.Lk0, self.Ldense, self.lams)


@dataclass(frozen=True)
class CrossedRows:
    """A blocked factor's rows sorted by the first term's level, then by the first later
    column, for the compiled crossed PIRLS (:mod:`~lmeformula.engines.pirls`). Its sums
    into each level's blocks and each coupling entry then run along memory instead of
    jumping: a Poisson model's run on 200k rows (5,000 sites × 40 years, in random order)
    64 -> 52 ms, a binary one's with slopes 37 -> 32 ms.

    Attributes
    ----------
    order
        The rows' order (a permutation of the design's rows).
    codes, X0, later_X, later_columns, pos, X
        In that order: the first term's level codes and columns, each later term's
        columns, each row's later columns and their places in the coupling's pattern
        (:attr:`BlockedFactor.coupling_pattern`), and the fixed effects' X.
    """

    order: np.ndarray
    codes: np.ndarray
    X0: np.ndarray
    later_X: list[np.ndarray]
    later_columns: np.ndarray
    pos: np.ndarray
    X: np.ndarray


class _Blocked:
    """One of the blocked products (couplings, later terms' blocks, Schur columns): read,
    it makes a small system's deferred products first (:meth:`BlockedFactor._ensure_blocked`).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_blocked_" + name

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        if obj._blocked_response is not None:
            obj._ensure_blocked()
        return obj.__dict__[self.slot]

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value


class BlockedFactor:
    """The cross-products of [Z X y] with weights, and their blocked Cholesky factor.

    Parameters
    ----------
    design
        The model's design (terms sorted by number of levels, largest first).
    weights
        The weights W (None: the design's prior weights, or 1).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> factor = BlockedFactor(fit.state.design)
    >>> fac = factor.update(fit.theta)
    >>> round(fac.criteria(factor.n, True, factor.log_weights).deviance, 4)
    1743.6283
    """

    # The later terms' products, deferred for small systems (see :class:`_Blocked`).
    Ak0 = _Blocked()
    Ak0_cols = _Blocked()
    Ak0_dense = _Blocked()
    dense_coupling = _Blocked()
    schur = _Blocked()
    Adiag = _Blocked()
    Adense = _Blocked()
    XyZ = _Blocked()

    def __init__(self, design: Design, weights: np.ndarray | None = None) -> None:
        self.design = design
        terms = design.terms
        self.n, self.p = design.X.shape
        self.K = len(terms)
        t0 = terms[0]
        self._codes0, self._l0, self._p0 = t0.factor.codes, t0.factor.nlevels, t0.p
        self._diag0 = np.arange(t0.p)
        self.scalar = t0.p == 1 and all(t.p == 1 for t in terms)
        self.q = sum(t.q for t in terms)
        self.largest_dense_block = max((t.q for t in terms[1:]), default=0)
        w = design.weights if weights is None else np.asarray(weights, dtype=float)
        self.Ak0 = []
        # Set when a small system's reweight left the blocked products behind.
        self._stale: tuple[np.ndarray, np.ndarray, _WeightPlan] | None = None
        # The response of a small system whose blocked products wait for a first reader
        # (:meth:`_ensure_blocked`); None once they are made.
        self._blocked_response: np.ndarray | None = None
        self._fill(w, design.y - design.offset)
        # The small dense system, made on first use (a one-term LMM never asks for it).
        self._small_built: _SmallSystem | bool | None = False
        # The small system's compiled objective, with the arrays and criterion it was
        # made for (:meth:`objective`).
        self._objective_cache: tuple[Any, ...] | None = None
        # Where each weighted cross-product's entries come from: made on the first reweight.
        self._weight_plan: _WeightPlan | None = None
        # [Z X] dense for the compiled PIRLS (dense_system), made on first use.
        self._dense_rows: np.ndarray | None = None
        # The compiled PIRLS's row arrays (level_codes, X_rows, later_columns), on first use.
        self._rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._pattern: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None

    # -- values: the weighted cross-products ---------------------------------------------

    def _fill(self, w: np.ndarray | None, resp: np.ndarray, *, first: bool = True) -> None:
        """Every cross-product of [Z X y] with the weights w (None: all 1); a small
        system's blocked ones on first use (:meth:`_ensure_blocked`)."""
        if not first:
            self._ensure_blocked()  # the patterns the new products are checked against
        design = self.design
        sw = np.ones(self.n) if w is None else np.sqrt(w)
        self.weights = w
        self.log_weights = 0.0 if w is None else float(np.sum(np.log(w)))
        # Unit weights weigh nothing: X and the first term's columns as they are (read only).
        X = design.X if w is None else sw[:, None] * design.X
        yw = resp if w is None else sw * resp
        X0 = design.terms[0].X if w is None else sw[:, None] * design.terms[0].X
        # The first term's diagonal block (one p x p cross-product per level), its products
        # with [X y] and [X y]'[X y], in one pass over the rows.
        self.A00, self.XyZ0, self.XyXy = level_products(self._codes0, X0, X, yw, self._l0)
        # Kept for with_response: a new response changes only its own cross-products.
        self._sw, self._X, self._X0 = sw, X, X0
        # One term needs no sparse products: W^½ Z waits until something asks for it.
        self._Zs: list[sp.csc_matrix] | None = None
        if first and (self.q <= SMALL_Q or self.K == 1):
            # A small system factors its dense products, one term its levels' own: the
            # blocked ones (sparse products that cost a two-term model's set-up 0.6 ms)
            # wait until something reads them.
            self._blocked_response = np.asarray(resp, dtype=float)
            return
        Xy = xy_rows(X, yw)
        self._blocked_fill(Xy, first)
        if not first and self._small is not None:
            self._small.ZtZ, self._small.ZtXy = self._small_products(Xy)

    def _ensure_blocked(self) -> None:
        """The blocked products a small system deferred, at its weights and response."""
        resp = self._blocked_response
        if resp is None:
            return
        self._blocked_response = None
        self._blocked_fill(xy_rows(self._X, self._sw * resp), True)

    def _blocked_fill(self, Xy: np.ndarray, first: bool) -> None:
        """The later terms' cross-products (couplings to the first term, their own blocks,
        with [X y]) and the couplings' Schur columns, at the factor's weights."""
        K = self.K
        Zs = self._weighted_Z if K > 1 else []
        Ak0 = [sp.csr_matrix(Zs[k].T @ Zs[0]) for k in range(1, K)]
        if not first and any(
            a.nnz != b.nnz or not np.array_equal(a.indices, b.indices)
            for a, b in zip(Ak0, self.Ak0, strict=True)
        ):
            raise ValueError("the new weights changed the couplings' pattern (a weight of 0?).")
        self.Ak0 = Ak0
        # For scalar terms the coupling L_k0 = λ_k A_k0 diag(d0) keeps A_k0's pattern: scale
        # its values in place instead of multiplying sparse matrices on every evaluation.
        self.Ak0_cols = [a.indices for a in Ak0]
        # Small couplings are faster as dense arrays than through sparse bookkeeping.
        # Dense when small and not mostly zeros (an observation-level factor couples to
        # each other level through one entry per row: its Schur maps stay sparse).
        self.dense_coupling = all(
            a.shape[0] * a.shape[1] <= 250_000 and a.nnz >= 0.05 * a.shape[0] * a.shape[1]
            for a in Ak0
        )
        self.Ak0_dense = [a.toarray() for a in Ak0] if self.dense_coupling else []
        if first:
            self.schur = self._schur_columns(Ak0)
        else:
            for k, cols in self.schur.items():
                cols.refresh(Ak0[k - 1])
        self.Adiag = {
            j: np.asarray((Zs[j].multiply(Zs[j])).sum(axis=0)).ravel() for j in range(1, K)
        }
        self.Adense = {
            (i, j): np.asarray((Zs[i].T @ Zs[j]).toarray())
            for i in range(1, K)
            for j in range(1, i + 1)
            if not (self.schur and i == j)
        }
        self.XyZ = [np.asarray((Zs[k].T @ Xy).T) for k in range(1, K)]

    def _schur_columns(self, Ak0: list[sp.csr_matrix]) -> dict[int, _SchurColumns]:
        # Scalar terms with sparse couplings (crossed factors at scale): the Schur complement
        # λ_i λ_j A_i0 diag(d0²) A_j0' is summed level by level from the couplings' columns
        # (:func:`_schur`), and a scalar term's own A_jj (diagonal) is never stored dense.
        if not self.scalar or self.dense_coupling:
            return {}
        return {k: _SchurColumns.of(a) for k, a in enumerate(Ak0, start=1)}

    def reweight(self, weights: np.ndarray, response: np.ndarray | None = None) -> None:
        """New weights (and optionally a new working response, offsets subtracted): the
        cross-products' values are refreshed in place; the structure (patterns, maps,
        positions) is kept. A small dense system refreshes its dense products only, the
        blocked ones when they are next used (:meth:`catch_up`).

        Parameters
        ----------
        weights
            One positive weight per row.
        response
            The response the [X y] cross-products are taken with (by default the design's
            y less its offset).
        """
        w = np.asarray(weights, dtype=float)
        if w.shape != (self.n,) or not np.all(w > 0) or not np.all(np.isfinite(w)):
            raise ValueError(f"reweight takes {self.n} positive finite weights.")
        resp = self.design.y - self.design.offset if response is None else np.asarray(response)
        resp = np.asarray(resp, dtype=float)
        # Deferred products are made at the weights they were deferred at, before any moves.
        self._ensure_blocked()
        if self._weight_plan is None:
            self._weight_plan = _WeightPlan.of(self)
        if self._weight_plan is None:
            self._fill(w, resp, first=False)
        else:
            self._refill(w, resp, self._weight_plan)

    def _refill(self, w: np.ndarray, resp: np.ndarray, plan: _WeightPlan) -> None:
        """The cross-products at new weights by the plan: each a weighted sum of fixed
        per-row products (one bincount, or one product with a fixed sparse matrix), with no
        sparse products formed anew."""
        design = self.design
        sw = np.sqrt(w)
        self.weights = w
        self.log_weights = float(np.sum(np.log(w)))
        if self._small is not None and plan.rows is not None:
            # A small system with few rows: W^½ [Z X y] dense and one product gives every
            # block it factors; the blocked products wait until a copy asks for them.
            q = self.q
            R = sw[:, None] * np.column_stack([plan.rows, resp])
            C = R.T @ R
            self._small.ZtZ = np.ascontiguousarray(C[:q, :q])
            self._small.ZtXy = np.ascontiguousarray(C[:q, q:])
            self.XyXy = np.ascontiguousarray(C[q:, q:])
            self._sw, self._Zs = sw, None
            self._stale = (w, resp, plan)
            return
        X = sw[:, None] * design.X
        Xy = np.column_stack([X, sw * resp])
        X0 = sw[:, None] * design.terms[0].X
        if self._small is not None:
            # A small system factors the dense products only (PIRLS reweights a few
            # hundred times per fit); the blocked ones wait until a copy asks for them.
            self._sw, self._X, self._X0, self._Zs = sw, X, X0, None
            q = self.q
            self.XyXy = xy_cross(Xy)
            WXy = sw[:, None] * Xy
            self._small.ZtZ = plan.sum(("small", 0), w).reshape(q, q)
            self._small.ZtXy = np.asarray(plan.ZT_all @ WXy)
            self._stale = (w, resp, plan)
            return
        self._blocked_products(w, resp, plan, sw, X, Xy, X0)

    def catch_up(self) -> None:
        """The blocked products at the last weights, where a small system left them."""
        if self._stale is not None:
            w, resp, plan = self._stale
            sw = np.sqrt(w)
            X = sw[:, None] * self.design.X
            X0 = sw[:, None] * self.design.terms[0].X
            Xy = np.column_stack([X, sw * resp])
            self._blocked_products(w, resp, plan, sw, X, Xy, X0)

    def _blocked_products(
        self,
        w: np.ndarray,
        resp: np.ndarray,
        plan: _WeightPlan,
        sw: np.ndarray,
        X: np.ndarray,
        Xy: np.ndarray,
        X0: np.ndarray,
    ) -> None:
        design = self.design
        self._stale = None
        # The first term's products, per level: one sparse product for all columns.
        p, p0, l0 = self.p, self._p0, self._l0
        WXy = sw[:, None] * Xy  # W [X y]
        A00 = plan.level_sum @ (w[:, None] * plan.first_pairs)
        self.A00 = A00.reshape(l0, p0, p0)
        XyZ0 = plan.level_sum @ (WXy[:, :, None] * design.terms[0].X[:, None, :]).reshape(
            self.n, (p + 1) * p0
        )
        self.XyZ0 = XyZ0.reshape(l0, p + 1, p0).transpose(1, 0, 2).copy()
        # The weighted Z blocks only when a copy for another response asks (with_response).
        self._sw, self._X, self._X0, self._Zs = sw, X, X0, None
        for key, a in zip(plan.coupling_keys, plan.couplings, strict=True):
            a.data = plan.sum(key, w)
        self.Ak0 = plan.couplings
        if self.dense_coupling:
            self.Ak0_dense = [a.toarray() for a in self.Ak0]
        for k, cols in self.schur.items():
            cols.refresh(self.Ak0[k - 1])
        self.Adiag = {j: plan.sum(("diag", j), w) for j in range(1, self.K)}
        self.Adense = {
            key: plan.sum(("dense", key), w).reshape(self.Adense[key].shape) for key in self.Adense
        }
        self.XyZ = [np.asarray(ZT @ WXy).T for ZT in plan.ZT[1:]]
        self.XyXy = xy_cross(Xy)

    @cached_property
    def _Z(self) -> list[sp.csc_matrix]:
        """The unweighted Z blocks: the patterns every weighting shares."""
        return [t.z_block() for t in self.design.terms]

    @property
    def _small(self) -> _SmallSystem | None:
        """The whole system dense, where it is small (:data:`SMALL_Q`), else None."""
        if self._small_built is False:
            self._small_built = self._small_system() if self.q <= SMALL_Q else None
        return self._small_built  # type: ignore[return-value]

    @_small.setter
    def _small(self, value: _SmallSystem | None) -> None:
        self._small_built = value

    @property
    def _weighted_Z(self) -> list[sp.csc_matrix]:
        """W^½ Z_k, term by term."""
        if self._Zs is None and self.weights is None:
            # Unit weights: Z itself (nothing here writes into a Z block's values).
            self._Zs = list(self._Z)
        if self._Zs is None:
            sw = self._sw
            Zs = []
            for Z in self._Z:
                Zw = Z.copy()
                Zw.data = Z.data * sw[Z.indices]
                Zs.append(Zw)
            self._Zs = Zs
        return self._Zs

    def with_response(self, y: np.ndarray) -> BlockedFactor:
        """The same factor for another response (offsets not subtracted): the cross-products
        of X and Z are shared, only those with y are recomputed (what a bootstrap refit or a
        profile over a fixed effect, which moves y by an offset, needs)."""
        self.catch_up()
        design = self.design.with_response(y)
        new = copy.copy(self)
        new.design = design
        yw = self._sw * (design.y - design.offset)
        p = self.p
        codes, l0 = self._codes0, self._l0
        new.XyZ0 = self.XyZ0.copy()
        for a in range(self._p0):
            new.XyZ0[p, :, a] = np.bincount(codes, weights=yw * self._X0[:, a], minlength=l0)
        # Z_k'W y of the later terms, each once for the blocked and the small products.
        later = [self._term_response(k, yw) for k in range(1, self.K)]
        if self._blocked_response is not None:
            # Still deferred: the copy makes its own from its response when asked.
            new._blocked_response = design.y - design.offset
        else:
            new.XyZ = [m.copy() for m in self.XyZ]
            for k in range(1, self.K):
                new.XyZ[k - 1][p, :] = later[k - 1]
        new.XyXy = self.XyXy.copy()
        col = np.empty(p + 1)
        col[:p] = self._X.T @ yw
        col[p] = yw @ yw
        new.XyXy[p, :] = col
        new.XyXy[:, p] = col
        # The small system made here once, shared by every copy but for the response's
        # column: made by each copy instead, a refit would pay its products again.
        if self._small is not None:
            # Its own work arrays too: copies may be evaluated side by side (threads). The
            # first term's Z_0'W y is XyZ0's row, level-major as Z's columns.
            ZtXy = self._small.ZtXy.copy()
            ZtXy[:, p] = np.concatenate([new.XyZ0[p].ravel(), *later])
            new._small = replace(
                self._small,
                ZtXy=ZtXy,
                lam=self._small.lam.copy(),
                work=self._small.work.copy(order="F"),
            )
        return new

    def _term_response(self, k: int, yw: np.ndarray) -> np.ndarray:
        """Term k's (W^½ Z_k)' ``yw``, level-major as Z_k's columns, by one count per
        column of the term (a sparse product's call costs more on small data)."""
        t = self.design.terms[k]
        out = np.empty((t.factor.nlevels, t.p))
        for a in range(t.p):
            out[:, a] = np.bincount(
                t.factor.codes, weights=yw * self._sw * t.X[:, a], minlength=t.factor.nlevels
            )
        return out.ravel()

    # -- structure of the small dense system ----------------------------------------------

    def _small_system(self) -> _SmallSystem:
        """The whole system [Z X y]'W[Z X y] dense, and where each Λ_k entry goes in Λ."""
        design = self.design
        q = self.q
        # When every Λ_k is θ placed among zeros (UN, DIAG), θ is written straight into Λ;
        # else each Λ_k entry goes to its positions (a patterned structure's map).
        placed = [t.structure.theta_positions() for t in design.terms]
        theta_flat = theta_src = theta_rows = theta_cols = lam_flat = lam_src = None
        if self.scalar and all(pos is not None for pos in placed):
            # Every term one θ on Λ's diagonal (Penicillin's, nested and crossed (1 | g)):
            # the general placement below, in four operations instead of a dozen per term.
            theta_rows = theta_cols = np.arange(q)
            theta_flat = theta_rows * (q + 1)
            theta_src = np.repeat(
                [sl.start for sl in design.theta_slices], [t.factor.nlevels for t in design.terms]
            )
        elif all(pos is not None for pos in placed):
            tf, ts, start = [], [], 0
            for t, sl, pos in zip(design.terms, design.theta_slices, placed, strict=True):
                assert pos is not None
                rows, cols, which = pos
                base = start + t.p * np.arange(t.factor.nlevels)[:, None]
                tf.append(((base + rows) * q + base + cols).ravel())
                ts.append(_tile(sl.start + which, t.factor.nlevels))
                start += t.q
            theta_flat, theta_src = np.concatenate(tf), np.concatenate(ts)
            theta_rows, theta_cols = np.divmod(theta_flat, q)
        else:
            flat, src, start, offset = [], [], 0, 0
            for t in design.terms:
                base = start + t.p * np.arange(t.factor.nlevels)
                rows = (base[:, None, None] + np.arange(t.p)[None, :, None]).repeat(t.p, axis=2)
                cols = (base[:, None, None] + np.arange(t.p)[None, None, :]).repeat(t.p, axis=1)
                flat.append((rows * q + cols).ravel())
                # Entry (a, b) of Λ_k, for every level: positions in the raveled Λ blocks.
                src.append(_tile(offset + np.arange(t.p * t.p), t.factor.nlevels))
                start += t.q
                offset += t.p * t.p
            lam_flat, lam_src = np.concatenate(flat), np.concatenate(src)
        resp = design.y - design.offset
        Xy = xy_rows(self._X, resp if self.weights is None else self._sw * resp)
        ZtZ, ZtXy = self._small_products(Xy)
        return _SmallSystem(
            ZtZ=ZtZ,
            ZtXy=ZtXy,
            lam_flat=lam_flat,
            lam_src=lam_src,
            theta_flat=theta_flat,
            theta_src=theta_src,
            theta_rows=theta_rows,
            theta_cols=theta_cols,
            lam=np.zeros((q, q)),
            work=np.zeros((q + self.p + 1, q + self.p + 1), order="F"),
        )

    def _small_products(self, Xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Z'WZ and (W^½ Z)' ``Xy`` dense, in one compiled pass over the rows
        (:func:`~lmeformula.engines.lmm_kernels.small_products`; sparse products and the
        hstack of Z's blocks cost Penicillin's 144 rows 0.3 ms of a 4 ms fit)."""
        terms = self.design.terms
        # Each column kind (term t, its column a): every row's Z column and W^½ Z value,
        # written in place (stacking the columns cost a small fit more than the products).
        kinds = sum(t.p for t in terms)
        cols = np.empty((self.n, kinds), dtype=np.int64)
        vals = np.empty((self.n, kinds))
        j = start = 0
        for t in terms:
            p, codes = t.p, t.factor.codes
            for a in range(p):
                col = cols[:, j]
                np.multiply(codes, p, out=col)
                col += start + a
                if self.weights is None:
                    vals[:, j] = t.X[:, a]
                else:
                    np.multiply(self._sw, t.X[:, a], out=vals[:, j])
                j += 1
            start += p * t.factor.nlevels
        return small_products(cols, vals, Xy, self.q)

    # -- the factorisation at θ ---------------------------------------------------------

    def update(
        self, theta: np.ndarray, keep: bool = False
    ) -> DenseFactorization | BlockedFactorization:
        """Factor the system at θ.

        Parameters
        ----------
        theta
            The random-effects structures' parameters.
        keep
            Return a factorisation that the next update does not overwrite (small models
            factor in a work array).

        Raises
        ------
        numpy.linalg.LinAlgError
            Where the system is not positive definite.
        """
        theta = theta if isinstance(theta, np.ndarray) else np.asarray(theta, dtype=float)
        if self._small is not None:
            return self._dense(theta, keep)
        return self._blocked(theta)

    @property
    def level_codes(self) -> np.ndarray:
        """The first term's level of each row (int64, contiguous: the compiled PIRLS's)."""
        if self._rows is None:
            self._row_arrays()
        assert self._rows is not None
        return self._rows[0]

    @property
    def X_rows(self) -> np.ndarray:
        """X in row order (C-contiguous: the compiled PIRLS reads it row by row)."""
        if self._rows is None:
            self._row_arrays()
        assert self._rows is not None
        return self._rows[1]

    @property
    def later_columns(self) -> np.ndarray:
        """Each row's columns among the later terms' random effects (n x Σ_{k>1} p_k,
        int64), term after term: where the compiled PIRLS adds the row's Z_kΛ_k values."""
        if self._rows is None:
            self._row_arrays()
        assert self._rows is not None
        return self._rows[2]

    @property
    def coupling_pattern(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The later terms' coupling to the first by its pattern, for the compiled PIRLS:
        (pos, ptr, pat, work): where each row's later entries land (n x Σ_{k>1} p_k),
        each first-term level's stretch of ``pat`` (its later columns, ascending) and the
        flops of a Schur update of the later block, Σ_levels (columns)² p_1 + q_later³ / 3.
        """
        if self._pattern is None:
            q2 = sum(t.q for t in self.design.terms[1:])
            keys = self.level_codes[:, None] * q2 + self.later_columns
            uniq = np.unique(keys)
            pos = np.ascontiguousarray(np.searchsorted(uniq, keys), dtype=np.int64)
            counts = np.bincount(uniq // q2, minlength=self._l0)
            ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            work = int(np.sum(counts.astype(float) ** 2) * self._p0 + q2**3 / 3)
            self._pattern = (pos, ptr, np.ascontiguousarray(uniq % q2, dtype=np.int64), work)
        return self._pattern

    @cached_property
    def crossed_rows(self) -> CrossedRows:
        """The crossed PIRLS kernel's row arrays in the order of the first term's levels,
        then of the first later column (:class:`CrossedRows`)."""
        pos = self.coupling_pattern[0]
        codes, later = self.level_codes, self.later_columns
        first = later[:, 0] if later.shape[1] else np.zeros(self.n, dtype=np.int64)
        order = np.lexsort((first, codes))
        terms = self.design.terms

        def take(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a[order])

        return CrossedRows(
            order=order,
            codes=take(codes),
            X0=take(terms[0].X),
            later_X=[take(t.X) for t in terms[1:]],
            later_columns=take(later),
            pos=take(pos),
            X=take(self.X_rows),
        )

    def _row_arrays(self) -> None:
        cols: list[np.ndarray] = []
        start = 0
        for t in self.design.terms[1:]:
            base = start + t.factor.codes.astype(np.int64) * t.p
            cols.extend(base + c for c in range(t.p))
            start += t.q
        later = np.column_stack(cols) if cols else np.zeros((self.n, 0), dtype=np.int64)
        self._rows = (
            np.ascontiguousarray(self._codes0, dtype=np.int64),
            np.ascontiguousarray(self.design.X, dtype=float),
            np.ascontiguousarray(later, dtype=np.int64),
        )

    def dense_system(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """[ZΛ X] at θ as one dense n x (q + p) array (Fortran order) and Λ (q x q), for a
        small system with few rows (the compiled PIRLS's input, :mod:`~.pirls`); None
        otherwise.

        Parameters
        ----------
        theta
            The random-effects parameters.
        """
        s = self._small
        if s is None:
            return None
        if self._dense_rows is None:
            if self.n * (self.q + self.p) > DENSE_ROWS:
                return None
            Z = sp.hstack(self._Z, format="csc")
            self._dense_rows = np.asfortranarray(np.column_stack([Z.toarray(), self.design.X]))
        q = self.q
        lam = self._dense_lambda(np.asarray(theta, dtype=float)).copy()
        A = self._dense_rows.copy(order="F")
        A[:, :q] = self._dense_rows[:, :q] @ lam
        return A, lam

    @property
    def has_gradient(self) -> bool:
        """Whether :meth:`gradient` is exact here: a small dense system whose Λ is θ placed
        among zeros (UN and DIAG terms), so that ∂Λ/∂θ_i is an indicator."""
        return self._small is not None and self._small.theta_flat is not None

    def gradient(self, theta: np.ndarray, n: int, reml: bool) -> np.ndarray | None:
        """The exact gradient of the profiled deviance at θ on a small dense system.

        With A_k the leading k x k block of the system (k = q: the random effects; q + p:
        with X; q + p + 1: all of it), the deviance is, up to constants,

            ML:   log|A_q| + n (log|A| - log|A_{q+p}|)
            REML: log|A_{q+p}| + (n - p) (log|A| - log|A_{q+p}|)

        (log|A_{q+p}| - log|A_q| = log|R_X|², log|A| - log|A_{q+p}| = log r²), and
        ∂ log|A_k| / ∂θ_i = tr(A_k⁻¹ ∂A_k) = 2 Σ_ab (∂Λ/∂θ_i)_ab (Z'ZΛ P_ZZ + Z'[X y] P_XZ)_ab
        with P = A_k⁻¹ = L_k⁻ᵀ L_k⁻¹, read off the inverse of the one factor L. None where
        the structure is not θ among zeros, or the system is not small.
        """
        # Row r of W = L⁻¹ adds U[r]'U[r] (U = W[:, :q]) to A_k⁻¹'s Z block for every k > r,
        # and, below the Z rows, W[r, q:] to its X-Z block: so G_k(a, b) = Σ_{r<k} M[r, a]
        # U[r, b] with M = U (Z'ZΛ)' plus, below the Z rows, W[q:, q:] (Z'[X y])'. Only the
        # entries at Λ's θ positions (a, b) are needed (the compiled kernel's loop).
        objective = self.objective(n, reml)
        if objective is None:
            return None
        out = objective.gradient(np.asarray(theta, dtype=float))
        if out is None:
            raise np.linalg.LinAlgError("the system is not positive definite")
        return out[1]

    def objective(self, n: int, reml: bool) -> Objective | None:
        """The small system's deviance and exact gradient as one compiled function of θ
        (:class:`~lmeformula.engines.lmm_kernels.DenseObjective`, which the optimizer
        minimises without calling back into Python; with every term scalar, the first
        term's diagonal block eliminated first:
        :class:`~lmeformula.engines.lmm_kernels.ScalarTermsObjective`), made once for the
        current products; None where :attr:`has_gradient` is False."""
        if not self.has_gradient:
            return None
        s = self._small
        assert s is not None and s.theta_src is not None and s.theta_flat is not None
        assert s.theta_rows is not None and s.theta_cols is not None
        key = (n, reml, self.log_weights)
        c = self._objective_cache
        if (
            c is None
            or c[0] is not s.ZtZ
            or c[1] is not s.ZtXy
            or c[2] is not self.XyXy
            or (c[3] != key)
        ):
            lead = self.design.terms[0].q
            size = len(self.design.start)
            obj: Objective
            if self.scalar and lead < s.ZtZ.shape[0]:
                obj = ScalarTermsObjective(
                    s.ZtZ, s.ZtXy, self.XyXy, n, reml, self.log_weights, s.theta_rows,
                    s.theta_src, size, lead,
                )  # fmt: skip
            else:
                obj = DenseObjective(
                    s.ZtZ,
                    s.ZtXy,
                    self.XyXy,
                    n,
                    reml,
                    self.log_weights,
                    s.theta_flat,
                    s.theta_src,
                    s.theta_rows,
                    s.theta_cols,
                    size,
                    self.scalar,
                )
            c = self._objective_cache = (s.ZtZ, s.ZtXy, self.XyXy, key, obj)
        return c[4]

    def _dense_lambda(self, theta: np.ndarray) -> np.ndarray:
        """Λ (q x q, row-major) at θ, written into the small system's buffer."""
        s = self._small
        assert s is not None
        if s.theta_flat is not None:
            s.lam.flat[s.theta_flat] = theta[s.theta_src]
        else:
            assert s.lam_flat is not None and s.lam_src is not None
            lams = self.design.lambda_blocks(theta)
            raveled = (
                lams[0].ravel() if len(lams) == 1 else np.concatenate([m.ravel() for m in lams])
            )
            s.lam.flat[s.lam_flat] = raveled[s.lam_src]
        return s.lam

    def _dense_inputs(
        self, theta: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        s = self._small
        assert s is not None
        lam = self._dense_lambda(theta)
        return lam, s.ZtZ, np.ascontiguousarray(s.ZtXy), np.ascontiguousarray(self.XyXy)

    def deviance(self, theta: np.ndarray, n: int, reml: bool) -> float:
        """The profiled deviance at θ (REML criterion for ``reml``): a small system's from
        the compiled dense factor (:func:`~lmeformula.engines.lmm_kernels.dense_deviance`,
        inf where it is not positive definite), else the blocked factor's. Either is the
        factor :meth:`update` solves on, to the last digit (the optimizer's
        :meth:`objective` may sum in another order).

        Raises
        ------
        numpy.linalg.LinAlgError
            Where the blocked system is not positive definite.
        """
        theta = theta if isinstance(theta, np.ndarray) else np.asarray(theta, dtype=float)
        if self._small is not None:
            return float(
                dense_deviance(*self._dense_inputs(theta), n, reml, self.log_weights, self.scalar)
            )
        return self._blocked(theta).criteria(n, reml, self.log_weights).deviance

    def _dense(self, theta: np.ndarray, keep: bool) -> DenseFactorization:
        s = self._small
        assert s is not None
        A = s.work
        # Only the lower triangle is written (and read: the factor is lower).
        if dense_factor(*self._dense_inputs(theta), A, self.scalar) != 0:
            raise np.linalg.LinAlgError("the system is not positive definite")
        if keep:
            return DenseFactorization(lower_triangle(A), self.q, s.lam.copy())
        return DenseFactorization(A, self.q, s.lam)

    def _blocked(self, theta: np.ndarray) -> BlockedFactorization:
        self.catch_up()
        lams = self.design.lambda_blocks(theta)
        lam0 = lams[0]
        p0 = lam0.shape[0]
        # Stacked matmuls: einsum with three operands is ten times slower here.
        M = lam0.T @ self.A00 @ lam0
        M[:, self._diag0, self._diag0] += 1.0
        if p0 == 1:
            d = np.sqrt(M[:, 0, 0])
            logdet = 2.0 * float(np.sum(np.log(d)))
            L0inv = (1.0 / d)[:, None, None]
        elif M.shape[0] <= 1000:
            # Few blocks: LAPACK per block is cheaper than the vectorised loops' overhead.
            L0 = np.linalg.cholesky(M)
            logdet = 2.0 * float(np.sum(np.log(np.diagonal(L0, axis1=1, axis2=2))))
            L0inv = np.linalg.inv(L0)
        else:
            L0inv, diag = _batched_cholesky_inverse(M)
            logdet = 2.0 * float(np.sum(np.log(diag)))
        D0 = lam0 @ L0inv.transpose(0, 2, 1)
        Ly0 = (self.XyZ0.transpose(1, 0, 2) @ D0).transpose(1, 0, 2).reshape(self.p + 1, -1)
        Lk0: list[Any] = []
        if self.dense_coupling:
            for k in range(1, self.K):
                Lk0.append(_couple_dense(self.Ak0_dense[k - 1], lams[k], D0))
        elif self.scalar:
            d0 = D0[:, 0, 0]
            for k in range(1, self.K):
                a = self.Ak0[k - 1]
                data = a.data * (lams[k][0, 0] * d0[self.Ak0_cols[k - 1]])
                Lk0.append(sp.csr_matrix((data, a.indices, a.indptr), shape=a.shape))
        elif self.K > 1:
            D0s = _block_diag_sparse(D0)
            for k in range(1, self.K):
                nlev = self.design.terms[k].factor.nlevels
                lam_t = sp.kron(sp.identity(nlev), sp.csr_matrix(lams[k].T))
                Lk0.append(sp.csr_matrix(lam_t @ self.Ak0[k - 1] @ D0s))
        Lk0T = (
            [] if self.schur else [m.T if isinstance(m, np.ndarray) else m.T.tocsr() for m in Lk0]
        )
        Ldense: dict[tuple[int, int], np.ndarray] = {}
        Ly: list[np.ndarray] = [Ly0]
        # The Schur columns' weights d0² (only they read them).
        w0 = D0[:, 0, 0] ** 2 if self.schur else np.zeros(0)
        for j in range(1, self.K):
            lj = lams[j]
            if self.schur:
                # Lower triangle only: dpotrf reads no more.
                qj = self.Adiag[j].size
                Ljj = _schur(self.schur[j], self.schur[j], w0, (qj, qj))
                Ljj *= -(lj[0, 0] ** 2)
                Ljj.flat[:: qj + 1] += lj[0, 0] ** 2 * self.Adiag[j] + 1.0
            else:
                Ljj = _scale_dense(self.Adense[(j, j)], lj, lj)
                Ljj.flat[:: Ljj.shape[0] + 1] += 1.0
                Ljj -= _dense(Lk0[j - 1] @ Lk0T[j - 1])
            for m in range(1, j):
                Ljj -= Ldense[(j, m)] @ Ldense[(j, m)].T
            Ljj = _cholesky(Ljj)
            logdet += 2.0 * float(np.sum(np.log(np.diag(Ljj))))
            Ldense[(j, j)] = Ljj
            for i in range(j + 1, self.K):
                Bij = _scale_dense(self.Adense[(i, j)], lams[i], lj)
                if self.schur:
                    S = _schur(self.schur[i], self.schur[j], w0, Bij.shape)
                    Bij -= (lams[i][0, 0] * lj[0, 0]) * S
                else:
                    Bij -= _dense(Lk0[i - 1] @ Lk0T[j - 1])
                for m in range(1, j):
                    Bij -= Ldense[(i, m)] @ Ldense[(j, m)].T
                Ldense[(i, j)] = _lower_solve(Ljj, Bij.T).T
            Byj = _scale_cols(self.XyZ[j - 1], lj)
            Byj -= np.asarray(Lk0[j - 1] @ Ly0.T).T
            for m in range(1, j):
                Byj -= Ly[m] @ Ldense[(j, m)].T
            Ly.append(_lower_solve(Ljj, Byj.T).T)
        Syy = self.XyXy - Ly0 @ Ly0.T
        for j in range(1, self.K):
            Syy -= Ly[j] @ Ly[j].T
        Lyy = _cholesky(np.asfortranarray(Syy))
        return BlockedFactorization(lams, L0inv, D0, Lk0, Ldense, Ly, Lyy, logdet)


@dataclass
class _WeightPlan:
    """Each weighted cross-product Z_i'WZ_j as a fixed linear map of the weights: for every
    row, the products of its entries of Z_i and Z_j and where they land (an entry of the
    coupling's sparse pattern, or of a dense block). A reweight is then one bincount per
    product instead of sparse products formed anew (PIRLS reweights at every step)."""

    parts: dict[Any, tuple[np.ndarray, np.ndarray, np.ndarray, int]]
    coupling_keys: list[Any]
    #: The couplings' sparse matrices, the factor's own (their values are overwritten).
    couplings: list[sp.csr_matrix]
    #: Z_k' (unweighted), for Z_k'W[X y] as one sparse product.
    ZT: list[sp.csr_matrix]
    #: Z' whole (unweighted).
    ZT_all: sp.csr_matrix
    #: Sums rows by the first term's level (l_1 x n).
    level_sum: sp.csr_matrix
    #: Each row's products of the first term's columns, x_a x_b (n x p_1²).
    first_pairs: np.ndarray
    #: [Z X] dense (unweighted) for a small system with few rows (at most ``DENSE_ROWS``
    #: entries), else None.
    rows: np.ndarray | None = None

    def sum(self, key: Any, w: np.ndarray) -> np.ndarray:
        """The product's values at the weights w."""
        where, rows, vals, size = self.parts[key]
        return np.bincount(where, weights=w[rows] * vals, minlength=size)

    @staticmethod
    def _pairs(
        ti: Any, tj: Any, offset_i: int = 0, offset_j: int = 0, width: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat positions row * width + col, rows of the data and values of every product
        of an entry of Z_i with one of Z_j in the same row."""
        n = ti.X.shape[0]
        width = tj.q if width is None else width
        obs = np.arange(n)
        keys, rows, vals = [], [], []
        for c in range(ti.p):
            ri = offset_i + ti.factor.codes * ti.p + c
            for d in range(tj.p):
                cj = offset_j + tj.factor.codes * tj.p + d
                keys.append(ri * width + cj)
                rows.append(obs)
                vals.append(ti.X[:, c] * tj.X[:, d])
        return np.concatenate(keys), np.concatenate(rows), np.concatenate(vals)

    @classmethod
    def of(cls, factor: BlockedFactor) -> _WeightPlan | None:
        """The plan of a factor's products, or None where a coupling's sparse pattern does
        not hold every product (then reweights form the products anew)."""
        terms = factor.design.terms
        parts: dict[Any, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = {}
        coupling_keys = []
        for k in range(1, factor.K):
            a = factor.Ak0[k - 1]
            target = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr)) * a.shape[1] + a.indices
            order = np.argsort(target, kind="stable")
            keys, rows, vals = cls._pairs(terms[k], terms[0])
            idx = np.searchsorted(target[order], keys)
            idx = np.minimum(idx, target.size - 1)
            found = target[order][idx] == keys
            if not np.all(found | (vals == 0)):
                return None
            parts[("coupling", k)] = (order[idx][found], rows[found], vals[found], a.nnz)
            coupling_keys.append(("coupling", k))
        for j in range(1, factor.K):
            t = terms[j]
            keys, rows, vals = cls._pairs(t, t)
            diag = (keys // t.q) == (keys % t.q)
            parts[("diag", j)] = (keys[diag] % t.q, rows[diag], vals[diag], t.q)
        for i, j in factor.Adense:
            keys, rows, vals = cls._pairs(terms[i], terms[j])
            parts[("dense", (i, j))] = (keys, rows, vals, terms[i].q * terms[j].q)
        if factor._small is not None:
            q = factor.q
            starts = np.cumsum([0] + [t.q for t in terms])
            chunks = [
                cls._pairs(ti, tj, int(starts[i]), int(starts[j]), q)
                for i, ti in enumerate(terms)
                for j, tj in enumerate(terms)
            ]
            parts[("small", 0)] = (
                np.concatenate([c[0] for c in chunks]),
                np.concatenate([c[1] for c in chunks]),
                np.concatenate([c[2] for c in chunks]),
                q * q,
            )
        couplings = [
            sp.csr_matrix((a.data.copy(), a.indices.copy(), a.indptr.copy()), shape=a.shape)
            for a in factor.Ak0
        ]
        ZT = [sp.csr_matrix(Z.T) for Z in factor._Z]
        ZT_all = sp.csr_matrix(sp.vstack(ZT))
        t0 = terms[0]
        n = t0.X.shape[0]
        level_sum = sp.csr_matrix(
            (np.ones(n), (t0.factor.codes, np.arange(n))), shape=(t0.factor.nlevels, n)
        )
        X0 = t0.X
        first_pairs = np.einsum("na,nb->nab", X0, X0).reshape(n, -1)
        dense_rows: np.ndarray | None = None
        if factor._small is not None and n * (factor.q + factor.p) <= DENSE_ROWS:
            Z = sp.hstack(factor._Z, format="csc")
            dense_rows = np.column_stack([Z.toarray(), factor.design.X])
        return cls(parts, coupling_keys, couplings, ZT, ZT_all, level_sum, first_pairs, dense_rows)


def _couple_dense(A: np.ndarray, lam_k: np.ndarray, D0: np.ndarray) -> np.ndarray:
    """(I ⊗ Λ_k)' A blockdiag(D0) for a dense coupling block A (level-major both ways)."""
    l0, p0 = D0.shape[0], D0.shape[1]
    pk = lam_k.shape[0]
    if pk == 1 and p0 == 1:
        return A * (lam_k[0, 0] * D0[:, 0, 0])[None, :]
    rows = A.shape[0]
    B = (lam_k.T @ A.reshape(rows // pk, pk, -1)).reshape(rows, l0, p0)
    return (B.transpose(1, 0, 2) @ D0).transpose(1, 0, 2).reshape(rows, l0 * p0)


def _scale_cols(B: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """B (I ⊗ Λ) for a dense block whose columns are level-major."""
    p = lam.shape[0]
    if p == 1:
        return B * lam[0, 0]
    r = B.shape[0]
    return np.einsum("rla,ab->rlb", B.reshape(r, -1, p), lam).reshape(B.shape)
