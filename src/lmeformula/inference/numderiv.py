"""Numerical derivatives as R's numDeriv computes them (Gilbert & Varadhan), which is what
lmerTest differentiates the deviance and the covariance of β̂ with.

Following numDeriv's steps and its Richardson extrapolation, not just its order of
accuracy, is what makes Satterthwaite's df agree with lmerTest's to about 1e-8 instead of
1e-5: the df of a balanced design sit next to a rounding boundary (sleepstudy's 16.9997
prints as 17.000), so the derivative scheme shows in the printed summary.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["hessian", "jacobian"]

# numDeriv's defaults: initial step d |x| (eps where x is nearly 0), r = 4 halvings.
_EPS = 1e-4
_ZERO_TOL = float(np.sqrt(np.finfo(float).eps / 7e-7))
_R = 4


def _initial_steps(x: np.ndarray, d: float) -> np.ndarray:
    return np.abs(d * x) + _EPS * (np.abs(x) < _ZERO_TOL)


def _extrapolate(approx: list[np.ndarray]) -> np.ndarray:
    """Richardson's table over steps h, h/2, h/4, ... (error terms in h², h⁴, ...)."""
    r = len(approx)
    for m in range(1, r):
        approx = [(approx[k + 1] * 4**m - approx[k]) / (4**m - 1) for k in range(r - m)]
    return approx[0]


def _along(x: np.ndarray, h: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    e = np.zeros_like(x)
    for i in axes:
        e[i] = h[i]
    return e


def jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, d: float = 1e-4) -> np.ndarray:
    """∂f/∂x_i for each i, stacked on the first axis (numDeriv's ``jacobian``).

    Examples
    --------
    >>> import numpy as np
    >>> J = jacobian(lambda v: np.array([v[0] ** 2, v[0] * v[1]]), np.array([3.0, 2.0]))
    >>> np.round(J, 8).tolist()
    [[6.0, 2.0], [0.0, 3.0]]
    """
    h0 = _initial_steps(x, d)
    out = []
    for i in range(x.size):
        approx = []
        for k in range(_R):
            e = _along(x, h0 / 2**k, (i,))
            approx.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * e[i]))
        out.append(_extrapolate(approx))
    return np.stack(out)


def hessian(f: Callable[[np.ndarray], float], x: np.ndarray, d: float = 0.1) -> np.ndarray:
    """Hessian of a scalar function (numDeriv's ``hessian``: ``genD`` with d = 0.1).

    Costs 8k + 4k(k - 1) + 1 evaluations for k parameters.

    Examples
    --------
    >>> import numpy as np
    >>> H = hessian(lambda v: v[0] ** 2 * v[1] + np.exp(v[1]), np.array([1.0, 0.0]))
    >>> np.round(H, 5).tolist()  # near 0 the step is eps = 1e-4: round-off ~1e-6
    [[0.0, 2.0], [2.0, 1.0]]
    """
    k = x.size
    h0 = _initial_steps(x, d)
    f0 = f(x)
    diag = np.empty(k)
    for i in range(k):
        approx = []
        for m in range(_R):
            e = _along(x, h0 / 2**m, (i,))
            approx.append(np.asarray((f(x + e) - 2 * f0 + f(x - e)) / e[i] ** 2))
        diag[i] = _extrapolate(approx)
    H = np.diag(diag)
    for i in range(k):
        for j in range(i):
            approx = []
            for m in range(_R):
                h = h0 / 2**m
                e = _along(x, h, (i, j))
                # The pure second derivatives are removed from the diagonal difference.
                num = f(x + e) - 2 * f0 + f(x - e) - diag[i] * h[i] ** 2 - diag[j] * h[j] ** 2
                approx.append(np.asarray(num / (2 * h[i] * h[j])))
            H[i, j] = H[j, i] = _extrapolate(approx)
    return H
