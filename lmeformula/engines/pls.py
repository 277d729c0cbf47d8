"""lme4's penalised least squares and profiled deviance (Bates et al. 2015, JSS 67(1)).

For a given θ the relative covariance factor Λ(θ) is built from each term's structure, and

    Λ'Z'ZΛ + I = L L'
    [u; β] solves the penalised normal equations
    r² = ||y - Xβ - ZΛu||² + ||u||²
    ML:   d(θ) = log|L|² + n (1 + log(2π r² / n))
    REML: d(θ) = log|L|² + log|R_X|² + (n - p) (1 + log(2π r² / (n - p)))

This module evaluates that objective and everything that follows from it at a given θ
(β, σ, conditional modes and their variances); it does not optimise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from ..design import Design

__all__ = ["Derivatives", "PLSProblem", "PLSSolution"]


@dataclass(frozen=True)
class PLSSolution:
    """The penalised least-squares solution at one θ.

    Attributes
    ----------
    theta
        The covariance parameters.
    beta
        Fixed effects.
    u
        Spherical random effects; the conditional modes are ``b = Λ u``.
    b
        Conditional modes of the random effects (length q).
    pwrss
        Penalised weighted residual sum of squares r².
    logdet_L
        log|L|² (twice the log-determinant of the Cholesky factor).
    logdet_RX
        log|R_X|².
    deviance
        The ML or REML profiled deviance (the REML criterion for REML).
    sigma
        Residual standard deviation.
    L
        Lower Cholesky factor of Λ'Z'ZΛ + I (dense).
    RX
        Upper-triangular factor with R_X'R_X = X'X - R_ZX'R_ZX.
    Lambda
        Λ(θ) (sparse).
    """

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    pwrss: float
    logdet_L: float
    logdet_RX: float
    deviance: float
    sigma: float
    L: np.ndarray
    RX: np.ndarray
    Lambda: sp.csc_matrix


class PLSProblem:
    """The profiled deviance of a design, as a function of θ.

    Parameters
    ----------
    design
        The model's design.
    reml
        REML (True) or ML (False) criterion.
    """

    def __init__(self, design: Design, reml: bool) -> None:
        self.design = design
        self.reml = reml
        y = design.y - design.offset
        X = design.X
        Z = design.Z
        # Everything that does not depend on θ is computed once.
        self.n, self.p = X.shape
        self.q = Z.shape[1]
        self.ZtZ = (Z.T @ Z).tocsc()
        self.ZtX = np.asarray(Z.T @ X)
        self.Zty = np.asarray(Z.T @ y).ravel()
        self.XtX = X.T @ X
        self.Xty = X.T @ y
        self.yty = float(y @ y)
        sizes = [t.structure.n_theta for t in design.terms]
        self.theta_slices = [
            slice(a, b) for a, b in zip(np.cumsum([0, *sizes[:-1]]), np.cumsum(sizes), strict=True)
        ]
        self.lower = np.concatenate([t.structure.lower for t in design.terms])
        self.start = np.concatenate([t.structure.start() for t in design.terms])

    def lambda_matrix(self, theta: np.ndarray) -> sp.csc_matrix:
        """Λ(θ): block diagonal, each term's p x p block repeated once per level."""
        blocks = []
        for term, sl in zip(self.design.terms, self.theta_slices, strict=True):
            lam = term.structure.lambda_block(theta[sl])
            blocks.append(sp.kron(sp.identity(term.factor.nlevels), sp.csc_matrix(lam)))
        return sp.csc_matrix(sp.block_diag(blocks, format="csc"))

    def solve(self, theta: np.ndarray) -> PLSSolution:
        """Solve the penalised least-squares problem at θ."""
        theta = np.asarray(theta, dtype=float)
        lam = self.lambda_matrix(theta)
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
        if self.reml:
            nmp = self.n - self.p
            dev = logdet_L + logdet_RX + nmp * (1.0 + np.log(2.0 * np.pi * pwrss / nmp))
            sigma = np.sqrt(pwrss / nmp)
        else:
            dev = logdet_L + self.n * (1.0 + np.log(2.0 * np.pi * pwrss / self.n))
            sigma = np.sqrt(pwrss / self.n)
        return PLSSolution(
            theta=theta,
            beta=beta,
            u=u,
            b=np.asarray(lam @ u).ravel(),
            pwrss=float(pwrss),
            logdet_L=logdet_L,
            logdet_RX=logdet_RX,
            deviance=float(dev),
            sigma=float(sigma),
            L=L,
            RX=RX,
            Lambda=lam,
        )

    def deviance(self, theta: np.ndarray) -> float:
        """The profiled deviance (REML criterion for REML) at θ."""
        return self.solve(theta).deviance

    def derivatives(self, theta: np.ndarray, step: float = 1e-4) -> Derivatives:
        """Finite-difference gradient and Hessian of the deviance at θ, as lme4's ``deriv12``.

        Components at their lower bound with an outward gradient (a constrained optimum, as
        in a singular fit) are left out of the Hessian. Forward differences for the Hessian
        keep every evaluation inside the bounds.
        """
        theta = np.asarray(theta, dtype=float)
        f0 = self.deviance(theta)
        k = theta.size
        h = step * np.maximum(1.0, np.abs(theta))

        def f(delta: np.ndarray) -> float:
            return self.deviance(theta + delta)

        near = theta - h < self.lower
        grad = np.zeros(k)
        free = np.ones(k, dtype=bool)
        fi = np.zeros(k)
        for i in range(k):
            e = np.zeros(k)
            e[i] = h[i]
            fi[i] = f(e)
            if near[i]:
                grad[i] = (fi[i] - f0) / h[i]
                free[i] = grad[i] < 0
            else:
                grad[i] = (fi[i] - f(-e)) / (2 * h[i])
        idx = np.flatnonzero(free)
        hess = np.zeros((idx.size, idx.size))
        for a, r in enumerate(idx):
            for c, s in enumerate(idx[a:], start=a):
                e = np.zeros(k)
                e[r] += h[r]
                e[s] += h[s]
                hess[a, c] = hess[c, a] = (f(e) - fi[r] - fi[s] + f0) / (h[r] * h[s])
        return Derivatives(theta, grad, hess, idx)

    def convergence_gradient(self, theta: np.ndarray) -> float:
        """lme4's convergence measure at θ (see :meth:`Derivatives.scaled_gradient`)."""
        return self.derivatives(theta).scaled_gradient()


@dataclass(frozen=True)
class Derivatives:
    """Gradient and Hessian of the deviance at θ.

    Attributes
    ----------
    theta
        Where they were taken.
    gradient
        Full gradient (length of θ).
    hessian
        Hessian over the free components.
    free
        Indices of the components not held at a bound.
    """

    theta: np.ndarray
    gradient: np.ndarray
    hessian: np.ndarray
    free: np.ndarray

    def scaled_gradient(self) -> float:
        """lme4's ``checkConv``: the largest ``min(|solve(chol(H), g)|, |g|)``."""
        if self.free.size == 0:
            return 0.0
        g = self.gradient[self.free]
        try:
            R = la.cholesky(self.hessian, lower=False)
            scaled = la.solve_triangular(R, g, trans="T")
        except la.LinAlgError:
            scaled = g
        return float(np.max(np.minimum(np.abs(scaled), np.abs(g))))

    def newton_step(self) -> np.ndarray | None:
        """The Newton step -H⁻¹g on the free components, or None where H is not definite."""
        step = np.zeros_like(self.theta)
        if self.free.size == 0:
            return step
        try:
            c = la.cho_factor(self.hessian)
        except la.LinAlgError:
            return None
        step[self.free] = -la.cho_solve(c, self.gradient[self.free])
        return step
