"""The profiled deviance of models with residual structures, subject by subject.

With correlated or heteroscedastic residuals the cross-products of [Z X y] depend on the
parameters, so nothing can be formed once as in :mod:`.blocked`. Instead the data split
into independent blocks (the residual structure's subjects; without one, the levels of the
outermost random-effects factor; without random effects, single rows), and for each block

    H_i = Z_i Λ Λ' Z_i' + K_i            (the marginal covariance over σ²)
    C_i C_i' = H_i,   [X̃ ỹ]_i = C_i⁻¹ [X y]_i

so that, summing over blocks, log|H| = Σ 2 log|C_i| and [X̃ ỹ]'[X̃ ỹ] gives R_X and the
residual sum of squares of the GLS fit. The profiled deviances are lme4's, with log|H| in
place of log|L|² - log|W| (they are equal when K_i is diagonal). Blocks of equal size and
equal random-effects layout are stacked and factored together by numpy, so a 2,000-subject
study is a handful of batched calls per evaluation.

Random effects must be nested in the blocks (each level within one subject); crossed
factors with a residual structure are refused with a message.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import scipy.linalg as la

from lmeformula.engines.layout import layout_of
from lmeformula.engines.solution import Criteria, PLSSolution, criteria_from_factor
from lmeformula.errors import NotExpressibleError
from lmeformula.model.design import Design
from lmeformula.structures.residual import BoundResidual, ResidualModel

__all__ = ["MarginalDeviance", "block_codes"]


def block_codes(design: Design, residual: BoundResidual | None) -> np.ndarray:
    """The independent blocks of the data: the coarsest of the residual's subjects and the
    random-effects factors, in which all the others nest (Worker when the residual
    subjects are Worker:Machine); single rows when there are neither.

    Raises
    ------
    NotExpressibleError
        When the factors cross instead of nesting.
    """
    factors = [(t.factor.codes, t.factor.nlevels, repr(t.name)) for t in design.terms]
    if residual is not None:
        name = f"the subjects of residual={residual.structure!r}"
        factors.append((residual.codes, len(residual.levels), name))
    if not factors:
        return np.arange(len(design.y))
    codes, _, what = min(factors, key=lambda f: f[1])
    for other, n_other, name in factors:
        # The distinct (other, codes) pairs, as one integer each (np.unique over rows sorts
        # a structured copy: 30 ms on 16,000 rows).
        pairs = np.unique(np.asarray(other, dtype=np.int64) * (int(codes.max()) + 1) + codes)
        if len(pairs) != n_other:
            raise NotExpressibleError(
                f"{name} crosses {what}: with a residual structure or a variance function "
                "the random-effects factors and the residual's subjects must nest in one "
                "another (each level within one level of the coarsest). Crossed factors "
                "with correlated residuals are not supported; drop the residual structure "
                "or the crossed term."
            )
    return codes


@dataclass
class _Batch:
    """Blocks of equal size and random-effects layout, stacked."""

    rows: np.ndarray  # (G, m) row indices
    Z: np.ndarray  # (G, m, q_loc) local random-effects design
    cols: np.ndarray  # (G, q_loc) global columns of b
    layout: tuple[int, ...]  # levels per term within a block
    #: Every block has the same H (same Z, times, weights, covariates): factor it once.
    shared: bool = False
    #: For shared batches, Σ_g [X y]_g ⊗ [X y]_g as (m, m, k, k): then [X y]'H⁻¹[X y]
    #: summed over the batch is one small contraction with H⁻¹, whatever the batch size.
    outer: np.ndarray | None = None


#: Blocks of more rows than this are solved with, not inverted.
_SMALL_BLOCK = 64
#: Entries of Σ_g [X y]_g ⊗ [X y]_g beyond which it is not formed.
_OUTER_LIMIT = 4_000_000


def _outer_pays(G: int, m: int, k: int) -> bool:
    """Whether subjects sharing one H are summed as Σ_g [X y]_g ⊗ [X y]_g: contracting it
    with H⁻¹ costs m²k², applying C⁻¹ to each subject G m² k; and it holds m²k² numbers."""
    return k < G and m * m * k * k <= _OUTER_LIMIT


def _outer(XY: np.ndarray, rows: np.ndarray) -> np.ndarray:
    B = XY[rows]
    return np.einsum("gia,gjb->ijab", B, B, optimize=True)


class MarginalDeviance:
    """lme4's profiled deviance with a residual structure and/or a variance function.

    Parameters
    ----------
    design
        The model's design (random-effects terms may be empty: a gls model).
    reml
        REML (True) or ML (False).
    model
        The residual model: structure, variance function and prior weights.

    The parameter vector's layout is θ (random effects), then the residual structure's and
    the variance function's blocks (``"residual"``, ``"variance"``).
    """

    largest_dense_block = 0

    def __init__(self, design: Design, reml: bool, model: ResidualModel) -> None:
        self.design = design
        self.reml = reml
        self.model = model
        self.layout = layout_of(design, model)
        self._theta = self.layout.slice("theta")
        self._rest = slice(self._theta.stop, self.layout.size)
        self.XY = np.column_stack([design.X, design.y - design.offset])
        self.n, self.p = design.X.shape
        self.batches = self._batches(block_codes(design, model.residual))

    # -- layout, once ----------------------------------------------------------------------

    def _batches(self, codes: np.ndarray) -> list[_Batch]:
        # Vectorised over blocks: a study has thousands of subjects, and per-subject numpy
        # calls would cost more than the whole fit.
        d = self.design
        n = codes.size
        order = np.argsort(codes, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
        sizes = np.diff(np.r_[starts, n])
        nb = starts.size
        block = np.empty(n, dtype=int)
        block[order] = np.repeat(np.arange(nb), sizes)
        offsets = np.cumsum([0] + [t.q for t in d.terms])
        # Per term: each row's level rank within its block, the levels of each block.
        local, nlev, levels = [], [], []
        for term in d.terms:
            L = term.factor.nlevels
            pairs, inv = np.unique(block * L + term.factor.codes, return_inverse=True)
            first = np.searchsorted(pairs // L, np.arange(nb))
            local.append(inv - first[block])
            nlev.append(np.bincount(pairs // L, minlength=nb))
            levels.append((pairs % L, first))
        res = self.model.residual
        tidx = res.tidx if res is not None else None
        if res is not None:
            # Which rows of a block share a residual subject is part of its layout.
            S = len(res.levels)
            pairs, inv = np.unique(block * S + res.codes, return_inverse=True)
            first = np.searchsorted(pairs // S, np.arange(nb))
            subject = inv - first[block]
        groups: dict[tuple[Any, ...], list[int]] = {}
        for bi in range(nb):
            rows = order[starts[bi] : starts[bi] + sizes[bi]]
            # Subjects seen at the same times stack together (and may share one H).
            pattern = tidx[rows].tobytes() + subject[rows].tobytes() if tidx is not None else b""
            key: tuple[Any, ...] = (int(sizes[bi]), *(int(v[bi]) for v in nlev), pattern)
            groups.setdefault(key, []).append(bi)
        signature = self.model.row_signature()
        batches = []
        for key, members in groups.items():
            blocks = np.asarray(members)
            m = int(key[0])
            rows = order[starts[blocks][:, None] + np.arange(m)]
            G = rows.shape[0]
            widths = [k * t.p for k, t in zip(key[1:-1], d.terms, strict=True)]
            Z = np.zeros((G, m, int(sum(widths))))
            cols = np.zeros((G, Z.shape[2]), dtype=int)
            at = 0
            gi, ri = np.arange(G)[:, None], np.arange(m)[None, :]
            for k, term in enumerate(d.terms):
                for j in range(term.p):
                    Z[gi, ri, at + local[k][rows] * term.p + j] = term.X[rows, j]
                lev_all, first = levels[k]
                lev = lev_all[first[blocks][:, None] + np.arange(key[1 + k])]
                block_cols = offsets[k] + lev[:, :, None] * term.p + np.arange(term.p)
                cols[:, at : at + widths[k]] = block_cols.reshape(G, -1)
                at += widths[k]
            shared = bool(np.all(Z[:1] == Z) and np.all(signature[rows[:1]] == signature[rows]))
            outer = _outer(self.XY, rows) if shared and _outer_pays(G, m, self.p + 1) else None
            batches.append(_Batch(rows, Z, cols, tuple(key[:-1]), shared, outer))
        return batches

    def with_response(self, y: np.ndarray) -> MarginalDeviance:
        """The same model for another response: the blocks and their layout are shared;
        only [X y] and the batches' cross-products with it are recomputed."""
        design = self.design.with_response(y)
        new = copy.copy(self)
        new.design = design
        new.XY = np.column_stack([design.X, design.y - design.offset])
        batches = []
        for b in self.batches:
            outer = _outer(new.XY, b.rows) if b.outer is not None else None
            batches.append(replace(b, outer=outer))
        new.batches = batches
        return new

    # -- one evaluation --------------------------------------------------------------------

    def _split(self, par: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # θ, then the residual model's parameters (its structure's, then its variance
        # function's, as ResidualModel splits them).
        par = np.asarray(par, dtype=float)
        return par[self._theta], par[self._rest]

    def _lambda_local(self, lams: list[np.ndarray], layout: tuple[int, ...]) -> np.ndarray:
        blocks = [np.kron(np.eye(n), lam) for n, lam in zip(layout[1:], lams, strict=True)]
        return la.block_diag(*blocks) if blocks else np.zeros((0, 0))

    def _marginal(self, batch: _Batch, lams: list[np.ndarray], phi: np.ndarray) -> Any:
        """H (G, m, m), ZΛ (G, m, q_loc) and the local Λ of one batch; G = 1 when the
        batch's blocks share H."""
        rows, Z = (batch.rows[:1], batch.Z[:1]) if batch.shared else (batch.rows, batch.Z)
        K = self.model.cov(phi, rows)
        lam = self._lambda_local(lams, batch.layout)
        ZL = Z @ lam if lam.size else Z
        H = K + ZL @ ZL.transpose(0, 2, 1) if lam.size else K
        return H, ZL, lam

    def _accumulate(self, par: np.ndarray):
        theta, phi = self._split(par)
        lams = self.design.lambda_blocks(theta)
        S = np.zeros((self.p + 1, self.p + 1))
        logdet = 0.0
        factors = []
        k = self.p + 1
        for batch in self.batches:
            H, ZL, lam = self._marginal(batch, lams, phi)
            C = np.linalg.cholesky(H)
            G, m = batch.rows.shape
            logdet += (G / len(C)) * 2.0 * float(np.sum(np.log(np.diagonal(C, axis1=1, axis2=2))))
            if batch.outer is not None:
                Hinv = la.cho_solve((C[0], True), np.eye(m))
                S += np.tensordot(Hinv, batch.outer, axes=([0, 1], [0, 1]))
            elif len(C) == 1 and m > _SMALL_BLOCK:
                # One large block (a field of plots): a triangular solve, no inverse.
                XY = self.XY[batch.rows].transpose(1, 0, 2).reshape(m, G * k)
                W = la.solve_triangular(C[0], XY, lower=True).reshape(m, G, k)
                S += np.einsum("mga,mgb->ab", W, W)
            else:
                # Explicit inverses of the small factors beat a batched LU solve.
                W = (np.linalg.inv(C) @ self.XY[batch.rows]).reshape(G * m, k)
                S += W.T @ W
            factors.append((C, ZL, lam))
        return S, logdet, factors, lams

    def _criteria(self, S: np.ndarray, logdet: float) -> tuple[np.ndarray, Criteria]:
        Lyy = np.linalg.cholesky(S)
        return Lyy, criteria_from_factor(Lyy, logdet, self.n, self.reml)

    def gradient(self, par: np.ndarray) -> np.ndarray | None:
        """No exact gradient: the optimizer takes finite differences."""
        return None

    def deviance(self, par: np.ndarray) -> float:
        """The profiled deviance (REML criterion for REML) at the parameters."""
        try:
            S, logdet, _, _ = self._accumulate(par)
            return self._criteria(S, logdet)[1].deviance
        except np.linalg.LinAlgError:
            return np.inf

    def solve(self, par: np.ndarray) -> PLSSolution:
        """β, σ, the conditional modes and their variances at the parameters."""
        par = np.asarray(par, dtype=float)
        S, logdet, factors, _lams = self._accumulate(par)
        Lyy, criteria = self._criteria(S, logdet)
        p = self.p
        RXt = Lyy[:p, :p]
        beta = la.solve_triangular(RXt.T, Lyy[p, :p], lower=False) if p else np.zeros(0)
        q = int(sum(t.q for t in self.design.terms))
        b = np.zeros(q)
        cond = np.zeros(q)
        resid = self.XY[:, p] - self.XY[:, :p] @ beta
        for batch, (C, ZL, lam) in zip(self.batches, factors, strict=True):
            if not lam.size:
                continue
            # b_i = Λ (ZΛ)' H⁻¹ r_i;  Var(b_i | y) / σ² = Λ (I - (ZΛ)' H⁻¹ ZΛ) Λ'.
            Cr = np.linalg.solve(C, resid[batch.rows][:, :, None])
            CZ = np.linalg.solve(C, ZL)
            u = CZ.transpose(0, 2, 1) @ Cr
            b[batch.cols] = (lam @ u)[:, :, 0]
            inner = np.eye(lam.shape[0]) - CZ.transpose(0, 2, 1) @ CZ
            cond[batch.cols] = np.einsum("ab,gbc,ac->ga", lam, inner, lam)
        theta, _ = self._split(par)
        return PLSSolution(
            theta=theta,
            beta=beta,
            u=np.zeros(0),
            b=b,
            criteria=criteria,
            RX=RXt.T.copy(),
            # A partial, not a lambda: the fit pickles (parallel model searches return it).
            cond_var=partial(np.asarray, cond),
        )
