"""R's ``splines::interpSpline`` and ``backSpline``, as lme4 interpolates a profile.

lme4 turns the points of a likelihood profile (parameter value, ζ) into a natural cubic
interpolating spline ζ(x) (``interpSpline``), inverts it into x(ζ) (``backSpline``: a
piecewise cubic through the same points with slopes 1/ζ'(x), natural-like at the ends and
kept monotone there), and reads the interval bounds off x(±z_{α/2}). Both are
``polySpline`` objects: at each knot the value and the polynomial coefficients of the
segment to its right; predicting outside the knots gives NaN (R's NA), which lme4 turns
into the parameter's bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

__all__ = ["PolySpline", "back_spline", "interp_spline"]


@dataclass(frozen=True)
class PolySpline:
    """A piecewise cubic in R's ``polySpline`` form.

    Attributes
    ----------
    knots
        Increasing knots.
    coef
        (len(knots), 4): the polynomial in (x - knot) of the segment right of each knot,
        constant term first; the last row holds the value and slope at the last knot.
    """

    knots: np.ndarray
    coef: np.ndarray

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """Values at x, NaN outside [first knot, last knot] (``predict.polySpline``).

        Examples
        --------
        >>> s = interp_spline(np.arange(5.0), np.arange(5.0) ** 2)
        >>> s(np.array([2.0, 9.0])).round(6).tolist()
        [4.0, nan]
        """
        x = np.atleast_1d(np.asarray(x, dtype=float))
        k = self.knots
        # R's cut(x, knots): right-closed intervals (k_i, k_{i+1}], the first knot in the first.
        i = np.searchsorted(k, x, side="left") - 1
        i = np.where(x == k[0], 0, i)
        inside = (i >= 0) & (i < k.size - 1) & np.isfinite(x)
        out = np.full(x.shape, np.nan)
        j = i[inside]
        dx = x[inside] - k[j]
        c = self.coef[j]
        out[inside] = c[:, 0] + dx * (c[:, 1] + dx * (c[:, 2] + dx * c[:, 3]))
        return out


def interp_spline(x: np.ndarray, y: np.ndarray) -> PolySpline:
    """The natural cubic spline through (x, y), as ``interpSpline(x, y)``.

    Raises
    ------
    ValueError
        With fewer than 4 points or repeated x (as R).
    """
    order = np.argsort(x, kind="stable")
    x = np.asarray(x, dtype=float)[order]
    y = np.asarray(y, dtype=float)[order]
    if x.size < 4:
        raise ValueError("must have at least 'ord'=4 points")
    if np.any(np.diff(x) == 0):
        raise ValueError("values of 'x' must be distinct")
    cs = CubicSpline(x, y, bc_type="natural")
    coef = np.zeros((x.size, 4))
    coef[:-1, 0] = cs.c[3]
    coef[:-1, 1] = cs.c[2]
    coef[:-1, 2] = cs.c[1]
    coef[:-1, 3] = cs.c[0]
    coef[-1, 0] = y[-1]
    coef[-1, 1] = cs(x[-1], 1)
    # interpSpline sets the quadratic terms at both ends to 0 (natural ends).
    coef[0, 2] = coef[-1, 2] = 0.0
    return PolySpline(x, coef)


def back_spline(spline: PolySpline) -> PolySpline:
    """The inverse of a monotone cubic spline, as ``backSpline`` (a port of its code).

    Raises
    ------
    ValueError
        When the spline's values at its knots are not monotone.

    Examples
    --------
    >>> s = interp_spline(np.arange(6.0), 2.0 * np.arange(6.0) + 1.0)
    >>> back_spline(s)(np.array([4.0])).round(6).tolist()
    [1.5]
    """
    knots, coeff = spline.knots, spline.coef
    nk = knots.size
    kdiff = np.diff(knots)
    if np.any(kdiff <= 0):
        raise ValueError("knot positions must be strictly increasing")
    bknots = coeff[:, 0]
    adiff = np.diff(bknots)
    if np.all(adiff < 0):
        rev = True
    elif np.all(adiff > 0):
        rev = False
    else:
        raise ValueError("spline must be monotone")
    b = np.zeros((nk, 4))
    b[:, 0] = knots
    with np.errstate(divide="ignore"):
        b[:, 1] = 1.0 / coeff[:, 1]
    for i in range(nk - 1):
        a = np.array([[adiff[i] ** 2, adiff[i] ** 3], [2 * adiff[i], 3 * adiff[i] ** 2]])
        rhs = np.array([kdiff[i] - adiff[i] * b[i, 1], b[i + 1, 1] - b[i, 1]])
        b[i, 2:4] = np.linalg.solve(a, rhs)
    b[nk - 1, 1:4] = np.nan
    if nk > 2:
        b[0, 3] = b[nk - 2, 3] = 0.0
        a0 = adiff[0]
        b[0, 1:3] = np.linalg.solve(
            np.array([[a0, a0**2], [1.0, 2 * a0]]), np.array([kdiff[0], 1.0 / coeff[1, 1]])
        )
        b[nk - 2, 2] = (kdiff[-1] - adiff[-1] * b[nk - 2, 1]) / adiff[-1] ** 2
    # Keep the end segments monotone: a curvature that turns back is dropped.
    if b[0, 2] > 0:
        b[0, 2] = 0.0
        b[0, 1] = kdiff[0] / adiff[0]
    if b[nk - 2, 2] < 0:
        b[nk - 2, 2] = 0.0
        b[nk - 2, 1] = kdiff[-1] / adiff[-1]
    if rev:
        return PolySpline(bknots[::-1].copy(), b[::-1].copy())
    return PolySpline(bknots.copy(), b)
