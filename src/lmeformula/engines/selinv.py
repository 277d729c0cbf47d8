"""(L L')⁻¹ where a gradient reads it: at the random effects that share a row of Z, and
applied to a vector.

The Laplace objective's gradient (:mod:`lmeformula.engines.laplace_gradient`) needs, for
every row i, the entries of P = (L L')⁻¹ among the random effects row i touches (each
term's ``p`` columns of its level), and P b for a few vectors b. Neither needs P whole:

- a small dense system (:class:`~lmeformula.engines.factor.DenseFactorization`) inverts
  its q x q factor;
- the blocked factor L = [[L_00, 0], [L_10, L_11]] (L_00 block diagonal over the first
  term's levels, L_11 dense over the later terms) has L⁻¹ = [[L_00⁻¹, 0], [-H', Q]] with
  Q = L_11⁻¹ and H' = Q M, M = L_10 L_00⁻¹, so P's blocks are
  P_00 (level c) = L_00,c⁻ᵀ L_00,c⁻¹ + M_c' P_11 M_c, P_10 = -P_11 M, and
  P_11 = Q'Q = (L_11 L_11')⁻¹ (LAPACK's dpotri).
  Only the first term's diagonal blocks of P_00 are formed. Where the couplings are
  dense, P_10 is too (q_1 x q_0, which bounds the models this serves: :data:`MAX_CROSS`);
  where they are sparse, P_00's blocks and P_10 at L_10's pattern are sums over each
  level's entries (compiled: ``lmm_kernels.coupling_inverse_products``), and nothing of
  size q_1 x q_0 is formed (fresh arrays of a megabyte cost more in page faults than
  their arithmetic at these sizes).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from lmeformula.engines import lmm_kernels
from lmeformula.engines.factor import BlockedFactorization, DenseFactorization, inverse_later

__all__ = ["MAX_CROSS", "PatternInverse", "pattern_inverse"]

#: The largest q_1 x q_0 (later terms' by first term's random effects) formed dense.
MAX_CROSS = 8_000_000


class PatternInverse(Protocol):
    """P = (L L')⁻¹ at row patterns and applied to vectors."""

    def at_rows(self, cols: np.ndarray, first: int, design_rows: bool = False) -> np.ndarray:
        """P[cols[i, a], cols[i, b]] for every row i: an (n, r, r) array. ``cols`` holds
        each row's r random-effect columns, its first ``first`` those of the first term
        (all at one level of it), then each later term's in order; ``design_rows``: one
        row of ``cols`` per row of the design, in its order."""
        ...

    def solve(self, b: np.ndarray) -> np.ndarray:
        """P b."""
        ...


class _DenseInverse:
    def __init__(self, fac: DenseFactorization) -> None:
        q = fac.q
        P, info = la.lapack.dpotri(np.asfortranarray(fac.L[:q, :q]), lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("singular factor")
        P = np.tril(P)
        self.P = P + np.tril(P, -1).T

    def at_rows(self, cols: np.ndarray, first: int, design_rows: bool = False) -> np.ndarray:
        return self.P[cols[:, :, None], cols[:, None, :]]

    def solve(self, b: np.ndarray) -> np.ndarray:
        return self.P @ b


class _BlockedInverse:
    def __init__(self, fac: BlockedFactorization) -> None:
        L0inv = fac.L0inv
        self.l0, self.p0 = L0inv.shape[0], L0inv.shape[1]
        self.q0 = self.l0 * self.p0
        self.L0inv = L0inv
        # L_00,c⁻ᵀ L_00,c⁻¹ per level; H's part is added below.
        self.P00 = L0inv.transpose(0, 2, 1) @ L0inv
        self.K = len(fac.lams)
        self._pattern: np.ndarray | None = None
        self._pos: np.ndarray | None = None
        if self.K == 1:
            return
        sizes = [m.shape[0] for m in fac.Lk0]
        self.P11 = inverse_later(fac.Ldense, sizes)
        # M = L_10 L_00⁻¹ level by level; then Q'H' = P_11 M, and H_c H_c' = M_c' P_11 M_c
        # is M's columns against Q'H''s: one q_1 x q_1 x q_0 product where the couplings
        # are dense, Σ_levels (entries)² p_0 flops where they are sparse.
        if all(sp.issparse(m) for m in fac.Lk0):
            self._sparse(fac)
            return
        parts = [m.toarray() if sp.issparse(m) else np.asarray(m) for m in fac.Lk0]
        L10 = parts[0] if len(parts) == 1 else np.vstack(parts)
        self.L10 = L10
        q1 = L10.shape[0]
        if self.p0 == 1:
            M = L10 * L0inv[:, 0, 0]
            self.QtH = self.P11 @ M  # -P_10
            self.P00[:, 0, 0] += np.einsum("rl,rl->l", M, self.QtH)
        else:
            L10r = L10.reshape(q1, self.l0, self.p0).transpose(1, 0, 2)
            M = (L10r @ L0inv).transpose(1, 0, 2).reshape(q1, self.q0)
            self.QtH = self.P11 @ M
            Mr = M.reshape(q1, self.l0, self.p0).transpose(1, 2, 0)
            Hr = self.QtH.reshape(q1, self.l0, self.p0).transpose(1, 0, 2)
            self.P00 += Mr @ Hr

    def _sparse(self, fac: BlockedFactorization) -> None:
        """P_00's blocks and P_10 at L_10's pattern from L_10's entries (each first-term
        level's later rows, with its p_0 columns' values there), no q_1 x q_0 array."""
        p0 = self.p0
        if fac.coupling is not None:
            ptr, at, values, self._pos = fac.coupling
            level = np.repeat(np.arange(self.l0), np.diff(ptr))
            columns = level[:, None] * p0 + np.arange(p0)
            self._entries = (np.repeat(at, p0), columns.ravel(), values.ravel())
        else:
            rows, cols, vals, q1 = [], [], [], 0
            for m in fac.Lk0:
                m = m.tocoo()
                rows.append(m.row.astype(np.int64) + q1)
                cols.append(m.col.astype(np.int64))
                vals.append(m.data)
                q1 += m.shape[0]
            r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
            self._entries = (r, c, v)
            keys, where = np.unique((c // p0) * q1 + r, return_inverse=True)
            level = keys // q1
            values = np.zeros((keys.size, p0))
            np.add.at(values, (where, c % p0), v)
            ptr = np.concatenate([[0], np.cumsum(np.bincount(level, minlength=self.l0))])
            at = keys % q1
        T, m_at = lmm_kernels.coupling_inverse_products(
            ptr,
            at,
            np.ascontiguousarray(values),
            np.ascontiguousarray(self.L0inv),
            self.P11,
            self.P00,
        )
        self._pattern = -T  # P_10 at the pattern
        self._ptr, self._at, self._m = ptr, at, m_at

    def _p10(
        self, j: np.ndarray, level: np.ndarray, bs: range, e: np.ndarray | None = None
    ) -> list[np.ndarray]:
        """P_10[j_i, level_i p_0 + b] for pairs i and each b in ``bs``: at L_10's pattern
        from its table (at places ``e`` when known), elsewhere (an entry that is zero, say
        at a variance of 0) as -Σ_f P_11[j_i, r_f] m_f,b over the level's entries f."""
        assert self._pattern is not None
        if e is None:
            e = lmm_kernels.pattern_positions(self._ptr, self._at, level, j)
        missing = np.flatnonzero(e < 0)
        if missing.size:
            lo, hi = self._ptr[level[missing]], self._ptr[level[missing] + 1]
            pair = np.repeat(np.arange(missing.size), hi - lo)
            f = np.arange(pair.size) - np.repeat(np.cumsum(hi - lo) - (hi - lo), hi - lo)
            f += np.repeat(lo, hi - lo)
            gathered = self.P11[j[missing][pair], self._at[f]]
        out = []
        for b in bs:
            v = self._pattern[e, b]
            if missing.size:
                terms = gathered * self._m[f, b]
                v[missing] = -np.bincount(pair, weights=terms, minlength=missing.size)
            out.append(v)
        return out

    def at_rows(self, cols: np.ndarray, first: int, design_rows: bool = False) -> np.ndarray:
        n, r = cols.shape
        if self.K == 1 and first == r:
            # One term: each row's block is its level's.
            return np.take(self.P00, cols[:, 0] // self.p0, axis=0)
        # The design's rows, whose places in the coupling's pattern the PIRLS kept.
        places = self._pos if design_rows else None
        out = np.empty((n, r, r))
        q0, p0 = self.q0, self.p0
        level = cols[:, 0] // p0 if first else None
        for b in range(first, r):
            # A row's first-term columns are one level's p_0: ca % p0 is a, its place.
            cb = cols[:, b]
            if first and self._pattern is not None:
                assert level is not None
                e = None if places is None else places[:, b - first]
                for a, v in enumerate(self._p10(cb - q0, level, range(first), e)):
                    out[:, a, b] = out[:, b, a] = v
            elif first:
                for a in range(first):
                    out[:, a, b] = out[:, b, a] = -self.QtH[cb - q0, cols[:, a]]
            for a in range(first, b + 1):
                out[:, a, b] = out[:, b, a] = self.P11[cols[:, a] - q0, cb - q0]
        for a in range(first):
            assert level is not None
            for b in range(a, first):
                out[:, a, b] = out[:, b, a] = self.P00[level, a, b]
        return out

    def solve(self, b: np.ndarray) -> np.ndarray:
        q0 = self.q0
        b0 = b[:q0].reshape(self.l0, self.p0)
        if self.K == 1:
            return np.matmul(self.P00, b0[:, :, None]).ravel()
        x0 = np.matmul(self.L0inv, b0[:, :, None]).ravel()
        q1 = self.P11.shape[0]
        if self._pattern is not None:
            r, c, v = self._entries
            g1 = self.P11 @ (b[q0:] - np.bincount(r, weights=v * x0[c], minlength=q1))
            back = np.bincount(c, weights=v * g1[r], minlength=q0)
        else:
            g1 = self.P11 @ (b[q0:] - self.L10 @ x0)
            back = self.L10.T @ g1
        r0 = (x0 - back).reshape(self.l0, self.p0)
        g0 = np.einsum("lba,lb->la", self.L0inv, r0).ravel()
        return np.concatenate([g0, g1])


def pattern_inverse(fac: DenseFactorization | BlockedFactorization) -> PatternInverse | None:
    """P = (L L')⁻¹ of a factorisation at rows and vectors, or None where the blocked
    factor's later terms are too many for the dense q_1 x q_0 arrays (:data:`MAX_CROSS`).

    Examples
    --------
    >>> import numpy as np
    >>> import lmeformula as lmf
    >>> from lmeformula.engines.factor import BlockedFactor
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> fac = BlockedFactor(fit.state.design).update(fit.theta, keep=True)
    >>> P = pattern_inverse(fac)
    >>> b = np.ones(36)
    >>> bool(np.allclose(P.solve(b), np.linalg.solve(fac.L[:36, :36] @ fac.L[:36, :36].T, b)))
    True
    """
    if isinstance(fac, DenseFactorization):
        return _DenseInverse(fac)
    if len(fac.lams) > 1:
        q0 = fac.L0inv.shape[0] * fac.L0inv.shape[1]
        q1 = sum(m.shape[0] for m in fac.Lk0)
        if q0 * q1 > MAX_CROSS:
            return None
    return _BlockedInverse(fac)
