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

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from lmeformula.model.design import Design

__all__ = [
    "Derivatives",
    "PLSProblem",
    "PLSSolution",
    "ProfiledDeviance",
    "criteria_from_factor",
    "profiled_deviance",
]


@dataclass(frozen=True)
class PLSSolution:
    """The penalised least-squares solution at one θ: what any engine hands to the results.

    Attributes
    ----------
    theta
        The covariance parameters.
    beta
        Fixed effects.
    u
        Spherical random effects; the conditional modes are ``b = Λ u``.
    b
        Conditional modes of the random effects (length q, terms in lme4's order).
    pwrss
        Penalised weighted residual sum of squares r².
    logdet_L
        log|L|² (twice the log-determinant of the Cholesky factor of Λ'Z'WZΛ + I).
    logdet_RX
        log|R_X|².
    deviance
        The ML or REML profiled deviance (the REML criterion for REML).
    ml_deviance
        The ML deviance at θ (lme4's "dev", also kept for REML fits).
    sigma
        Residual standard deviation.
    RX
        Upper-triangular factor with R_X'R_X = X'WX - R_ZX'R_ZX; vcov(β) = σ² (R_X'R_X)⁻¹.
    cond_var
        Zero-argument function returning diag(Λ (L L')⁻¹ Λ') (length q, in the order of
        ``b``): the conditional variances of the random effects relative to σ², lme4's
        ``condVar``. Computed from the engine's factor only when called, since for a large
        crossed factor it inverts a dense block of the factor (8 s for 10,000 levels). None
        when the engine does not provide it.
    """

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    pwrss: float
    logdet_L: float
    logdet_RX: float
    deviance: float
    ml_deviance: float
    sigma: float
    RX: np.ndarray
    cond_var: Callable[[], np.ndarray] | None = None


def profiled_deviance(
    *,
    logdet_L: float,
    logdet_RX: float,
    pwrss: float,
    n: int,
    p: int,
    reml: bool,
    log_weights: float = 0.0,
) -> tuple[float, float, float]:
    """lme4's profiled deviances and σ from the factor's pieces.

    Returns
    -------
    deviance, ml_deviance, sigma
        The criterion (REML or ML), the ML deviance and the profiled σ.
    """
    ml = logdet_L - log_weights + n * (1.0 + math.log(2.0 * math.pi * pwrss / n))
    if reml:
        nmp = n - p
        dev = (
            logdet_L - log_weights + logdet_RX + nmp * (1.0 + math.log(2.0 * math.pi * pwrss / nmp))
        )
        return float(dev), float(ml), math.sqrt(pwrss / nmp)
    return float(ml), float(ml), math.sqrt(pwrss / n)


def criteria_from_factor(
    Lyy: np.ndarray, logdet_L: float, n: int, reml: bool, log_weights: float = 0.0
) -> tuple[float, float, float, float, float]:
    """lme4's criteria from the last block's factor: Lyy is the lower Cholesky factor of
    [X y]'[X y] less what the random effects explain, so its last diagonal entry is r and
    the others make R_X.

    Returns
    -------
    deviance, ml_deviance, sigma, pwrss, logdet_RX
    """
    # Python floats: on small models the optimizer calls this hundreds of times, and numpy's
    # per-call cost on a handful of numbers is most of the work.
    diag = Lyy.diagonal().tolist()
    p = len(diag) - 1
    pwrss = max(diag[p] ** 2, 1e-300)
    logdet_rx = 2.0 * sum(math.log(abs(v)) for v in diag[:p])
    dev, ml, sigma = profiled_deviance(
        logdet_L=logdet_L,
        logdet_RX=logdet_rx,
        pwrss=pwrss,
        n=n,
        p=p,
        reml=reml,
        log_weights=log_weights,
    )
    return dev, ml, sigma, pwrss, logdet_rx


class ProfiledDeviance:
    """What every engine's objective offers: d(θ), its bounds and its derivatives.

    Subclasses set ``design``, ``reml``, ``lower`` and ``start`` and implement ``solve``.
    """

    design: Design
    reml: bool
    lower: np.ndarray
    start: np.ndarray
    #: Upper bounds (+inf but for correlation parameters); ``None`` means none at all.
    upper: np.ndarray | None = None
    #: Order of the largest dense block factored per evaluation (decides BLAS threads).
    largest_dense_block: int = 0

    def solve(self, theta: np.ndarray) -> PLSSolution:  # pragma: no cover - abstract
        raise NotImplementedError

    def with_response(self, y: np.ndarray) -> ProfiledDeviance:
        """The same model (design, weights, structures) for another response, reusing
        everything that does not depend on y."""
        # The dense reference engine precomputes little: rebuild it.
        return type(self)(self.design.with_response(y), self.reml)  # type: ignore[call-arg]

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

        upper = np.full(k, np.inf) if self.upper is None else self.upper
        near = theta - h < self.lower
        near_upper = theta + h > upper
        grad = np.zeros(k)
        free = np.ones(k, dtype=bool)
        fi = np.zeros(k)
        for i in range(k):
            e = np.zeros(k)
            e[i] = h[i]
            if near_upper[i]:
                # A correlation on its bound of 1: difference inwards, and hold it there
                # when the deviance falls outwards.
                fi[i] = f(-e)
                grad[i] = (f0 - fi[i]) / h[i]
                free[i] = grad[i] > 0
                h[i] = -h[i]
                continue
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


class PLSProblem(ProfiledDeviance):
    """The profiled deviance of a design, computed densely (the reference implementation).

    Forms the q x q matrix Λ'Z'WZΛ + I and factors it whole; simple and exact, for small q
    and for checking faster engines.

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
        self.lower = design.lower
        self.upper = design.upper if np.isfinite(design.upper).any() else None
        self.start = design.start

    def solve(self, theta: np.ndarray) -> PLSSolution:
        """Solve the penalised least-squares problem at θ."""
        theta = np.asarray(theta, dtype=float)
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
        dev, ml, sigma = profiled_deviance(
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
            pwrss=pwrss,
            logdet_L=logdet_L,
            logdet_RX=logdet_RX,
            deviance=dev,
            ml_deviance=ml,
            sigma=sigma,
            RX=RX,
            cond_var=partial(_dense_cond_var, L, lam),
        )


def _dense_cond_var(L: np.ndarray, lam: sp.spmatrix) -> np.ndarray:
    """diag(Λ (L L')⁻¹ Λ') from a dense factor: squared column norms of L⁻¹ Λ'."""
    M = la.solve_triangular(L, lam.T.toarray(), lower=True)
    return np.einsum("ij,ij->j", M, M)


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
            # R's solve(chol(H), g): R x = g with R upper triangular, R'R = H.
            R = la.cholesky(self.hessian, lower=False)
            scaled = la.solve_triangular(R, g)
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
