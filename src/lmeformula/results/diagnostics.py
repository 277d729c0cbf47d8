"""Residual diagnostics as nlme computes them: normalized residuals, ACF and variogram.

nlme's normalized residuals are the Pearson residuals premultiplied, subject by subject, by
the inverse of the lower Cholesky factor of the residual correlation matrix: if the residual
structure is right they are uncorrelated with unit variance, so their autocorrelation
(:func:`acf_data`, nlme's ``ACF``) and semivariogram (:func:`variogram_data`, nlme's
``Variogram``) show what correlation the structure has left unexplained. Without a residual
structure they are the Pearson residuals.

Rows keep their order in the data within each subject (nlme orders each subject's rows as
they come). The plots of :mod:`lmeformula.plots.figures` draw these tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.linalg as la

from lmeformula.errors import ArgumentTypeError, DataError

if TYPE_CHECKING:
    from lmeformula.results.lmer import LmerResult

__all__ = [
    "acf_data",
    "normalized_residuals",
    "residuals_of_type",
    "subject_codes",
    "variogram_data",
]

RESID_TYPES = ("normalized", "pearson", "response")
COLLAPSE = ("quantiles", "fixed", "none")


def normalized_residuals(result: LmerResult) -> np.ndarray:
    """nlme's ``residuals(m, type = "normalized")``: Pearson residuals decorrelated within
    each subject of the residual structure.

    For each subject, with K its residual covariance over σ² (correlation, per-time standard
    deviations, variance function and weights) and K = L L' (L lower triangular), the
    normalized residuals are L⁻¹ (y - fitted) / σ, rows in data order.

    Parameters
    ----------
    result
        A fitted model.

    Returns
    -------
    numpy.ndarray
        One value per row used in the fit.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> ovary = lmf.datasets.load("ovary")
    >>> fit = lmf.lmer("follicles ~ sin(2*pi*Time) + cos(2*pi*Time) + (1 | Mare)", ovary,
    ...                residual=lmf.AR1("1 | Mare"))
    >>> fit.residuals("normalized")[:3].round(4)
    array([ 0.8673, -1.0145,  1.5337])
    """
    model = result.state.residual
    res = model.residual if model is not None else None
    if model is None or res is None or not res.structure.correlated:
        # K is diagonal: decorrelating is dividing by the row's standard deviation.
        return result.residuals("pearson")
    raw = result.residuals("response") / result.sigma
    out = np.empty_like(raw)
    par = result.state.residual_params
    for rows in _subject_rows(res.codes).values():
        K = model.cov(par, rows)
        L = np.linalg.cholesky(K)
        for k in range(rows.shape[0]):
            out[rows[k]] = la.solve_triangular(L[k], raw[rows[k]], lower=True)
    return out


def _subject_rows(codes: np.ndarray) -> dict[int, np.ndarray]:
    """Rows of each subject in data order, stacked by subject size: {m: (G, m) array}."""
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    stacks: dict[int, list[np.ndarray]] = {}
    for start, size in zip(starts, sizes, strict=True):
        if size:
            stacks.setdefault(int(size), []).append(order[start : start + size])
    return {m: np.vstack(rows) for m, rows in stacks.items()}


def subject_codes(
    result: LmerResult, group: str | None = None
) -> tuple[np.ndarray, tuple[str, ...], str]:
    """The subjects residuals are split by: (code of each row, levels, name).

    By default the residual structure's subjects, else the grouping factor with the most
    levels (nlme's innermost level); ``group`` may name a grouping factor, the residual
    structure's subject column(s), or any grouping column of the model frame.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)",
    ...                lmf.datasets.load("machines"))
    >>> codes, levels, name = subject_codes(fit)
    >>> name, len(levels)
    ('Worker:Machine', 18)
    """
    frame = result.state.frame
    model = result.state.residual
    res = model.residual if model is not None else None
    if group is None:
        if res is not None and res.structure.group:
            return res.codes, res.levels, ":".join(res.structure.group)
        if not frame.groups:
            raise DataError(
                "this model has no subjects (no random effects and no residual structure); "
                "pass group= with the column whose rows are a subject's repeated measures."
            )
        factor = max(frame.groups.values(), key=lambda f: f.nlevels)
        return factor.codes, factor.levels, factor.name
    if not isinstance(group, str):
        raise ArgumentTypeError(f"group must be a column name, got {type(group).__name__}.")
    if group in frame.groups:
        factor = frame.groups[group]
        return factor.codes, factor.levels, factor.name
    if res is not None and group == ":".join(res.structure.group):
        return res.codes, res.levels, group
    if group in frame.data.columns:
        from lmeformula.model.frame import code_factor

        codes, levels = code_factor(frame.data[group])
        return codes, levels, group
    choices = [*frame.groups, *frame.data.columns]
    raise DataError(
        f"group {group!r} is neither a grouping factor nor a column of the model frame; "
        f"use one of {list(dict.fromkeys(choices))}."
    )


def residuals_of_type(result: LmerResult, resid_type: str) -> np.ndarray:
    """Residuals of nlme's ``type``: ``"normalized"``, ``"pearson"`` or ``"response"``.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> residuals_of_type(fit, "pearson")[:2].round(3)
    array([-0.16 , -0.571])
    """
    if resid_type not in RESID_TYPES:
        raise DataError(f"resid_type must be one of {RESID_TYPES}, got {resid_type!r}.")
    return result.residuals(resid_type)


def acf_data(
    result: LmerResult,
    max_lag: int | None = None,
    resid_type: str = "normalized",
    group: str | None = None,
) -> pd.DataFrame:
    """Autocorrelation of the residuals within subjects, as nlme's
    ``ACF(m, maxLag, resType = "normalized")``.

    The lag-k autocorrelation pools the products of residuals k rows apart within each
    subject (rows in data order) over all subjects, divided by the number of such pairs,
    relative to lag 0.

    Parameters
    ----------
    result
        A fitted model.
    max_lag
        The largest lag; by default nlme's min(L, ⌊10 log10(L + 1)⌋), L the largest
        subject's size minus 1.
    resid_type
        ``"normalized"`` (default), ``"pearson"`` or ``"response"``.
    group
        The subjects (see ``subject_codes``): by default the residual structure's, else
        the grouping factor with the most levels (nlme's innermost level).

    Returns
    -------
    pandas.DataFrame
        Columns ``lag, acf, n_used`` (R's ``attr(, "n.used")``: the number of pairs).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> lmf.plots.acf_data(fit).head(3).round(4)
       lag     acf  n_used
    0    0  1.0000     180
    1    1  0.1161     162
    2    2 -0.1671     144
    """
    r = residuals_of_type(result, resid_type)
    codes, _, _ = subject_codes(result, group)
    order = np.argsort(codes, kind="stable")
    x, g = r[order], codes[order]
    sizes = np.bincount(codes)
    longest = int(sizes.max()) - 1
    if max_lag is None:
        max_lag = min(longest, int(10 * np.log10(longest + 1)))
    if not isinstance(max_lag, (int, np.integer)) or isinstance(max_lag, bool) or max_lag < 0:
        raise ArgumentTypeError(f"max_lag must be a non-negative integer, got {max_lag!r}.")
    sums = np.zeros(max_lag + 1)
    counts = np.zeros(max_lag + 1, dtype=int)
    for k in range(max_lag + 1):
        same = g[: g.size - k] == g[k:]
        sums[k] = np.sum(x[: x.size - k][same] * x[k:][same])
        counts[k] = int(same.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
    return pd.DataFrame({"lag": np.arange(max_lag + 1), "acf": mean / mean[0], "n_used": counts})


def variogram_data(
    result: LmerResult,
    time: str | None = None,
    group: str | None = None,
    resid_type: str = "normalized",
    collapse: str = "quantiles",
    nint: int = 20,
    robust: bool = False,
    max_dist: float | None = None,
) -> pd.DataFrame:
    """The semivariogram of the residuals within subjects, as nlme's
    ``Variogram(m, form = ~ time | group, resType = "normalized")``.

    For every pair of rows of one subject: the semivariogram (r_i - r_j)² / 2 and the
    distance ``|t_i - t_j|``, then averaged within classes of distance as nlme does: with more
    than ``nint`` distinct distances, classes between the quantiles of the distances
    (``collapse="quantiles"``, right-closed, so that pairs at the smallest distance fall
    out, as in nlme) or ``nint`` classes of equal width (``"fixed"``); otherwise one class
    per distance. Each class reports the mean semivariogram (Cressie-Hawkins' robust
    estimate with ``robust=True``) and the median distance.

    Parameters
    ----------
    result
        A fitted model.
    time
        The numeric column giving each row's position (nlme's covariate in ``form``); by
        default the row's position within its subject (1, 2, ...).
    group
        The subjects (see ``subject_codes``).
    resid_type
        ``"normalized"`` (default), ``"pearson"`` or ``"response"``.
    collapse
        ``"quantiles"`` (default), ``"fixed"`` or ``"none"`` (every pair).
    nint
        Number of distance classes.
    robust
        Cressie-Hawkins' robust estimate, ``((mean |Δr|^½)⁴ / 2) / (0.457 + 0.494 / n)``.
    max_dist
        Drop pairs farther apart (nlme's ``maxDist``).

    Returns
    -------
    pandas.DataFrame
        Columns ``variog, dist, n_pairs`` (R's ``variog, dist, n.pairs``), one row per
        class (per pair, with ``n_pairs`` 1, for ``collapse="none"``).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> lmf.plots.variogram_data(fit, time="Days").head(3).round(4)
       variog  dist  n_pairs
    0  0.7181   1.0      162
    1  1.0056   2.0      144
    2  1.1529   3.0      126
    """
    if collapse not in COLLAPSE:
        raise DataError(f"collapse must be one of {COLLAPSE}, got {collapse!r}.")
    if not isinstance(nint, (int, np.integer)) or isinstance(nint, bool) or nint < 1:
        raise ArgumentTypeError(f"nint must be a positive integer, got {nint!r}.")
    r = residuals_of_type(result, resid_type)
    codes, _, _ = subject_codes(result, group)
    position = _time_values(result, time, codes)
    variog, dist = _pairs(r, position, codes)
    if max_dist is not None:
        keep = dist <= max_dist
        variog, dist = variog[keep], dist[keep]
    if variog.size == 0:
        raise DataError("no pairs of rows within a subject (every subject has one row).")
    if collapse == "none":
        return pd.DataFrame({"variog": variog, "dist": dist, "n_pairs": 1})
    udist = np.unique(dist)
    if nint < udist.size:
        if collapse == "quantiles":
            breaks = np.unique(_quantile7(dist, _r_seq_by(nint)))
        else:
            breaks = _r_seq_length(udist[0], udist[-1], nint + 1)
        # R's cut(): classes (b_k, b_k+1]; a distance equal to the first break is NA.
        cls = np.searchsorted(breaks, dist, side="left") - 1
        valid = (cls >= 0) & (cls < breaks.size - 1)
        n_cls = breaks.size - 1
    else:
        cls = np.searchsorted(udist, dist)
        valid = np.ones(dist.size, dtype=bool)
        n_cls = udist.size
    rows = []
    for k in range(n_cls):
        sel = valid & (cls == k)
        n = int(sel.sum())
        if n == 0:
            continue
        v = variog[sel]
        est = np.mean(v**0.25) ** 4 / (0.457 + 0.494 / n) if robust else np.mean(v)
        rows.append((est, float(np.median(dist[sel])), n))
    return pd.DataFrame(rows, columns=["variog", "dist", "n_pairs"])


def _time_values(result: LmerResult, time: str | None, codes: np.ndarray) -> np.ndarray:
    data = result.state.frame.data
    if time is None:
        # Position within the subject, 1, 2, ..., as nlme's default form = ~1.
        return pd.Series(codes).groupby(codes).cumcount().to_numpy(dtype=float) + 1.0
    if not isinstance(time, str):
        raise ArgumentTypeError(f"time must be a column name, got {type(time).__name__}.")
    if time not in data.columns:
        raise DataError(
            f"time {time!r} is not a column of the model frame ({list(data.columns)}); the "
            "time must be a column the model uses (in the formula or the residual structure)."
        )
    series = data[time]
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise DataError(f"time {time!r} must be numeric to measure distances ({series.dtype}).")
    return series.to_numpy(dtype=float)


def _pairs(r: np.ndarray, t: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Semivariogram and distance of every pair within a subject, in nlme's order (by
    subject, then R's lower triangle column by column)."""
    variog, dist = [], []
    for m, rows in sorted(_subject_rows(codes).items()):
        if m < 2:
            continue
        i, j = np.triu_indices(m, 1)
        variog.append(((r[rows[:, i]] - r[rows[:, j]]) ** 2 / 2).ravel())
        dist.append(np.abs(t[rows[:, i]] - t[rows[:, j]]).ravel())
    if not variog:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(variog), np.concatenate(dist)


def _r_seq_by(nint: int) -> np.ndarray:
    # R's seq(0, 1, 1 / nint): from + (0:n) * by, capped at 1. Computing the probabilities
    # as R does matters: quantile breaks decide which class a tied distance falls in.
    return np.minimum(np.arange(nint + 1) * (1.0 / nint), 1.0)


def _r_seq_length(start: float, stop: float, n: int) -> np.ndarray:
    # R's seq(from, to, length.out = n): from + (1:(n-2)) * ((to - from) / (n - 1)), to.
    if n < 2 or start == stop:
        return np.full(max(n, 1), start)
    step = (stop - start) / (n - 1)
    return np.concatenate([[start], start + np.arange(1, n - 1) * step, [stop]])


def _quantile7(x: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """R's ``quantile(x, probs)`` (type 7), with R's arithmetic."""
    xs = np.sort(x)
    n = xs.size
    index = 1 + (n - 1) * probs
    lo = np.floor(index).astype(int)
    hi = np.ceil(index).astype(int)
    qs = xs[lo - 1]
    h = index - lo
    move = (index > lo) & (xs[hi - 1] != qs)
    qs = np.where(move, (1 - h) * qs + h * xs[hi - 1], qs)
    return qs
