"""The profiled deviance computed densely: the reference implementation.

Forms the q x q matrix Λ'Z'WZΛ + I and factors it whole: simple and exact, for small q and
for checking the faster engines (:mod:`.blocked`, :mod:`.onefactor`) against.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from lmeformula.engines.layout import layout_of
from lmeformula.engines.solution import PLSSolution, profiled_deviance
from lmeformula.model.design import Design

__all__ = ["DensePLS"]


class DensePLS:
    """lme4's profiled deviance by one dense Cholesky factorisation.

    Parameters
    ----------
    design
        The model's design.
    reml
        REML (True) or ML (False) criterion.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    >>> dense = DensePLS(fit.state.design, reml=True)
    >>> abs(dense.deviance(fit.theta) - fit.reml_criterion) < 1e-8
    True
    """

    largest_dense_block = 0

    def __init__(self, design: Design, reml: bool) -> None:
        self.design = design
        self.reml = reml
        self.layout = layout_of(design)
        w = design.weights
        sw = np.ones(len(design.y)) if w is None else np.sqrt(w)
        self.log_weights = 0.0 if w is None else float(np.sum(np.log(w)))
        y = sw * (design.y - design.offset)
        X = sw[:, None] * design.X
        Z = sp.csc_matrix(sp.diags(sw) @ design.Z)
        # Everything that does not depend on θ is computed once.
        self.n, self.p = X.shape
        self.q = Z.shape[1]
        self.ZtZ = (Z.T @ Z).tocsc()
        self.ZtX = np.asarray(Z.T @ X)
        self.Zty = np.asarray(Z.T @ y).ravel()
        self.XtX = X.T @ X
        self.Xty = X.T @ y
        self.yty = float(y @ y)

    def with_response(self, y: np.ndarray) -> DensePLS:
        """The same model for another response (rebuilt: this engine precomputes little)."""
        return DensePLS(self.design.with_response(y), self.reml)

    def gradient(self, par: np.ndarray) -> np.ndarray | None:
        """No exact gradient."""
        return None

    def deviance(self, par: np.ndarray) -> float:
        """The profiled deviance (REML criterion for REML) at θ."""
        return self.solve(par).deviance

    def solve(self, par: np.ndarray) -> PLSSolution:
        """Solve the penalised least-squares problem at θ."""
        theta = np.asarray(par, dtype=float)
        lam = self.design.lambda_matrix(theta)
        A = (lam.T @ self.ZtZ @ lam).toarray() + np.eye(self.q)
        L = la.cholesky(A, lower=True)
        cu = la.solve_triangular(L, lam.T @ self.Zty, lower=True)
        RZX = la.solve_triangular(L, np.asarray(lam.T @ self.ZtX), lower=True)
        RX = la.cholesky(self.XtX - RZX.T @ RZX, lower=False) if self.p else np.zeros((0, 0))
        rhs = self.Xty - RZX.T @ cu
        cbeta = la.solve_triangular(RX, rhs, trans="T") if self.p else np.zeros(0)
        beta = la.solve_triangular(RX, cbeta) if self.p else np.zeros(0)
        u = la.solve_triangular(L, cu - RZX @ beta, lower=True, trans="T")
        pwrss = max(float(self.yty - cu @ cu - cbeta @ cbeta), 1e-300)
        logdet_L = 2.0 * float(np.sum(np.log(np.diag(L))))
        logdet_RX = 2.0 * float(np.sum(np.log(np.abs(np.diag(RX))))) if self.p else 0.0
        criteria = profiled_deviance(
            logdet_L=logdet_L,
            logdet_RX=logdet_RX,
            pwrss=pwrss,
            n=self.n,
            p=self.p,
            reml=self.reml,
            log_weights=self.log_weights,
        )
        return PLSSolution(
            theta=theta,
            beta=beta,
            u=u,
            b=np.asarray(lam @ u).ravel(),
            criteria=criteria,
            RX=RX,
            cond_var=partial(_dense_cond_var, L, lam),
        )


def _dense_cond_var(L: np.ndarray, lam: sp.spmatrix) -> np.ndarray:
    """diag(Λ (L L')⁻¹ Λ') from a dense factor: squared column norms of L⁻¹ Λ'."""
    M = la.solve_triangular(L, lam.T.toarray(), lower=True)
    return np.einsum("ij,ij->j", M, M)
