"""Derivatives of an objective for the convergence check and the finishing Newton steps.

Where an engine offers no exact gradient (:meth:`Engine.gradient` returns None) the
gradient and Hessian come from central differences of the objective, with lme4's step of
1e-4 (relative, at least absolute), as lme4's ``deriv12``. Where it does, the gradient is
exact and the Hessian comes from differences of the gradient: its rounding is then that of
the gradient, not that of the objective divided by the step, which is what pins a flat
optimum (Machines' unstructured covariance) to the same digits on every CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

from lmeformula.engines.lmm_kernels import scaled_gradient

__all__ = [
    "Derivatives",
    "Gradient",
    "exact_gradient",
    "finite_differences",
    "finite_gradient",
    "finite_hessian",
    "gradient_hessian",
]


@dataclass(frozen=True)
class Derivatives:
    """Gradient and Hessian of an objective at one point.

    Attributes
    ----------
    par
        Where they were taken.
    gradient
        Full gradient.
    hessian
        Hessian over the free components.
    free
        Indices of the components not held at a bound.
    """

    par: np.ndarray
    gradient: np.ndarray
    hessian: np.ndarray
    free: np.ndarray

    def scaled_gradient(self) -> float:
        """lme4's ``checkConv``: the largest ``min(|solve(chol(H), g)|, |g|)``."""
        if self.free.size == 0:
            return 0.0
        # R's solve(chol(H), g) compiled: on these few-by-few matrices numpy's and scipy's
        # wrappers cost ten times the arithmetic, and fit_many takes thousands of them.
        return scaled_gradient(self.hessian, self.gradient[self.free])

    def newton_step(self) -> np.ndarray | None:
        """The Newton step -H⁻¹g on the free components, or None where H is not definite."""
        step = np.zeros_like(self.par)
        if self.free.size == 0:
            return step
        R = _cholesky_upper(self.hessian)
        if R is None:
            return None
        step[self.free] = -lapack.dpotrs(R, self.gradient[self.free], lower=0)[0]
        return step

    def with_gradient(self, g: Gradient) -> Derivatives:
        """Another point's gradient beside this point's Hessian (a chord step's
        derivatives); the free components must be the same."""
        if not np.array_equal(g.free, self.free):
            raise ValueError("the free components changed; take the Hessian anew.")
        return Derivatives(g.par, g.gradient, self.hessian, self.free)


def _cholesky_upper(H: np.ndarray) -> np.ndarray | None:
    """R with R'R = H (upper triangular), or None where H is not finite and definite."""
    if not np.isfinite(H).all():
        return None
    R, info = lapack.dpotrf(H, lower=0, clean=1)
    return R if info == 0 else None


def _steps(par: np.ndarray, step: float) -> np.ndarray:
    return step * np.maximum(1.0, np.abs(par))


@dataclass(frozen=True)
class Gradient:
    """A finite-difference gradient and what the Hessian at the same point reuses.

    Attributes
    ----------
    par
        Where it was taken.
    value
        The objective there.
    gradient
        The gradient.
    free
        Indices of the components not held at a bound (see :func:`finite_gradient`).
    h
        The signed steps (negative where the difference went inwards from an upper bound).
    f_plus
        The objective at par + h_i e_i (None for an exact gradient).
    f_minus
        The objective at par - h_i e_i where the difference was central, else NaN (None
        for an exact gradient).
    """

    par: np.ndarray
    value: float
    gradient: np.ndarray
    free: np.ndarray
    h: np.ndarray
    f_plus: np.ndarray | None = None
    f_minus: np.ndarray | None = None


def finite_gradient(
    fn: Callable[[np.ndarray], float],
    par: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    step: float = 1e-4,
    f0: float | None = None,
) -> Gradient:
    """The gradient by central differences (one-sided at a bound), as lme4's ``deriv12``.

    A component at its lower bound with an outward gradient (a constrained optimum, as in a
    singular fit) is held there; so is one at its upper bound (a correlation of 1) whose
    objective falls outwards.
    """
    par = np.asarray(par, dtype=float)
    k = par.size
    f0 = fn(par) if f0 is None else f0
    h = _steps(par, step)
    near = par - h < lower
    near_upper = par + h > upper
    grad = np.zeros(k)
    free = np.ones(k, dtype=bool)
    fi = np.zeros(k)
    fm = np.full(k, np.nan)
    e = np.zeros(k)
    for i in range(k):
        e[:] = 0.0
        e[i] = h[i]
        if near_upper[i]:
            fi[i] = fn(par - e)
            grad[i] = (f0 - fi[i]) / h[i]
            free[i] = grad[i] > 0
            h[i] = -h[i]
            continue
        fi[i] = fn(par + e)
        if near[i]:
            grad[i] = (fi[i] - f0) / h[i]
            free[i] = grad[i] < 0
        else:
            fm[i] = fn(par - e)
            grad[i] = (fi[i] - fm[i]) / (2 * h[i])
    return Gradient(par, f0, grad, np.flatnonzero(free), h, fi, fm)


def finite_hessian(fn: Callable[[np.ndarray], float], g: Gradient) -> Derivatives:
    """The Hessian over the free components, beside the gradient ``g`` taken at the same
    point: on the diagonal the central second difference from the gradient's own
    evaluations where it took them (as lme4's ``deriv12``), else forward differences, which
    keep every evaluation inside the bounds; off the diagonal forward differences."""
    idx, h, fi, fm, f0 = g.free, g.h, g.f_plus, g.f_minus, g.value
    if fi is None or fm is None:
        raise ValueError("an exact gradient's Hessian comes from gradient_hessian().")
    hess = np.zeros((idx.size, idx.size))
    e = np.zeros(g.par.size)
    for a, r in enumerate(idx):
        if np.isfinite(fm[r]):
            hess[a, a] = (fi[r] - 2.0 * f0 + fm[r]) / (h[r] * h[r])
        for c, s in enumerate(idx[a:], start=a):
            if c == a and np.isfinite(fm[r]):
                continue
            e[:] = 0.0
            e[r] += h[r]
            e[s] += h[s]
            hess[a, c] = hess[c, a] = (fn(g.par + e) - fi[r] - fi[s] + f0) / (h[r] * h[s])
    return Derivatives(g.par, g.gradient, hess, idx)


def finite_differences(
    fn: Callable[[np.ndarray], float],
    par: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    step: float = 1e-4,
) -> Derivatives:
    """Finite-difference gradient and Hessian of ``fn`` at ``par``, as lme4's ``deriv12``:
    :func:`finite_gradient`, then :func:`finite_hessian`; components held at a bound are
    left out of the Hessian.

    Examples
    --------
    >>> d = finite_differences(lambda x: float((x[0] - 1) ** 2 + 3 * x[1] ** 2),
    ...                        np.array([1.0, 0.0]), np.full(2, -np.inf), np.full(2, np.inf))
    >>> d.hessian.round(6).tolist(), d.scaled_gradient() < 1e-8
    ([[2.0, 0.0], [0.0, 6.0]], True)
    """
    return finite_hessian(fn, finite_gradient(fn, par, lower, upper, step))


def _held(
    par: np.ndarray, grad: np.ndarray, lower: np.ndarray, upper: np.ndarray, h: np.ndarray
) -> np.ndarray:
    """The free components: those not at a bound with the gradient pointing outwards."""
    near = par - h < lower
    near_upper = par + h > upper
    return np.flatnonzero(~(near & (grad >= 0)) & ~(near_upper & (grad <= 0)))


def exact_gradient(
    gradient: np.ndarray,
    par: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    value: float,
    step: float = 1e-4,
) -> Gradient:
    """An engine's exact gradient at ``par`` as a :class:`Gradient` (components at a bound
    with the gradient pointing outwards are held, as :func:`finite_gradient` holds them)."""
    par = np.asarray(par, dtype=float)
    grad = np.asarray(gradient, dtype=float)
    h = _steps(par, step)
    return Gradient(par, value, grad, _held(par, grad, lower, upper, h), h, None)


def gradient_hessian(
    grad_fn: Callable[[np.ndarray], np.ndarray],
    g: Gradient,
    upper: np.ndarray,
    known: tuple[np.ndarray, np.ndarray] | None = None,
) -> Derivatives:
    """The Hessian over the free components from forward differences of an exact gradient
    (backward at an upper bound), symmetrised. Its error of O(h) slows a Newton iteration a
    little but moves none of its fixed points: the gradient it zeroes is exact.

    ``known`` (indices, block): the block among those components as given (an
    approximation good enough for Newton steps), the differences taken along the others
    only; their columns give the block's cross terms."""
    idx, par, h = g.free, g.par, g.h
    cols = np.zeros((par.size, idx.size))
    given = np.zeros(par.size, dtype=bool)
    if known is not None:
        given[known[0]] = True
    for c, i in enumerate(idx):
        if given[i]:
            continue
        e = np.zeros(par.size)
        e[i] = h[i] if par[i] + h[i] <= upper[i] else -h[i]
        cols[:, c] = (grad_fn(par + e) - g.gradient) / e[i]
    hess = cols[idx, :]
    if known is not None:
        at = given[idx]
        hess[:, at] = hess[at, :].T  # the given columns' cross terms, from the others'
        full = np.zeros((par.size, par.size))
        full[np.ix_(known[0], known[0])] = known[1]
        hess[np.ix_(at, at)] = full[np.ix_(idx[at], idx[at])]
    return Derivatives(par, g.gradient, 0.5 * (hess + hess.T), idx)
