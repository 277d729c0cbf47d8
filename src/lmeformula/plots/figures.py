"""Diagnostic plots of a fitted model, the ones R users draw with lme4, lattice and nlme.

===========================  =================================================================
Function                     R
===========================  =================================================================
:func:`caterpillar`          ``dotplot(ranef(m, condVar = TRUE))`` (lme4, lattice)
:func:`residuals_vs_fitted`  ``plot(m)`` (lme4: Pearson residuals against fitted values)
:func:`qq`                   ``qqnorm(resid(m)); qqline(resid(m))``
:func:`ranef_qq`             ``qqmath(ranef(m))`` (lme4, lattice)
:func:`trajectories`         ``xyplot(y ~ x | subject)`` with fitted lines (lattice)
:func:`variogram`            ``plot(Variogram(m, form = ~ t | g, resType = "normalized"))``
:func:`acf`                  ``plot(ACF(m, resType = "normalized"), alpha = 0.05)`` (nlme)
===========================  =================================================================

Every function returns a :class:`matplotlib.figure.Figure` made without pyplot (nothing is
shown or kept open behind the caller's back; in a notebook the figure shows as the cell's
value, in a script save it with ``fig.savefig("name.png")``) and draws into the caller's
axes when given ``ax=`` (or ``axes=`` for several panels). matplotlib is imported inside
the functions, so ``import lmeformula`` does not pay for it. The numbers behind the ACF and
variogram panels are tables of their own: :func:`acf_data`, :func:`variogram_data`.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from lmeformula.errors import ArgumentTypeError, DataError
from lmeformula.model.datacheck import as_frame, column_names
from lmeformula.results.diagnostics import (
    acf_data,
    residuals_of_type,
    subject_codes,
    variogram_data,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lmeformula.results.lmer import LmerResult

__all__ = [
    "acf",
    "acf_data",
    "caterpillar",
    "qq",
    "ranef_qq",
    "residuals_vs_fitted",
    "trajectories",
    "variogram",
    "variogram_data",
]

RESID_LABELS = {
    "pearson": "Pearson residuals",
    "normalized": "Normalized residuals",
    "response": "Residuals",
}
# The same in running text ("Variogram of normalized residuals").
RESID_WORDS = {
    "pearson": "Pearson residuals",
    "normalized": "normalized residuals",
    "response": "residuals",
}
# Above this many points, scatter layers are rasterized: a vector file with InstEval's
# 73,421 points would weigh megabytes and render slowly.
_RASTERIZE_ABOVE = 5000
_INLINE_BACKENDS = ("inline", "module://matplotlib_inline.backend_inline")


# -- figures and axes ------------------------------------------------------------------------


def _enable_notebook_display() -> None:
    # A Figure made without pyplot shows as a cell's value only once matplotlib-inline has
    # registered its PNG formatter, which it does when its backend module is imported
    # (pyplot does so on the first plt.figure()). Import it if that is the backend in use.
    ipython = sys.modules.get("IPython")
    if ipython is None or "matplotlib_inline.backend_inline" in sys.modules:
        return
    if ipython.get_ipython() is None:
        return
    import matplotlib

    backend = os.environ.get("MPLBACKEND") or dict.__getitem__(matplotlib.rcParams, "backend")
    if backend in _INLINE_BACKENDS:
        # matplotlib-inline comes with ipykernel; without it there is nothing to register.
        with contextlib.suppress(ImportError):
            importlib.import_module("matplotlib_inline.backend_inline")


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    _enable_notebook_display()
    return Figure(figsize=(width, height), layout="constrained")


def _root(ax: Axes) -> Figure:
    # ax.figure is a SubFigure for axes in a subfigure; its .figure is the root Figure.
    return ax.figure.figure  # type: ignore[return-value]


def _one_axes(ax: Any, width: float, height: float) -> tuple[Figure, Axes]:
    if ax is None:
        fig = _new_figure(width, height)
        return fig, fig.add_subplot()
    _check_axes(ax, "ax")
    return _root(ax), ax


def _check_axes(ax: Any, name: str) -> None:
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise ArgumentTypeError(
            f"{name} must be a matplotlib Axes (e.g. from fig.subplots()), got {type(ax).__name__}."
        )


def _given_axes(axes: Any, n: int) -> list[Axes]:
    flat = list(np.asarray(axes, dtype=object).ravel())
    if len(flat) != n:
        raise ArgumentTypeError(f"axes must hold {n} Axes (one per panel), got {len(flat)}.")
    for ax in flat:
        _check_axes(ax, "axes")
    return flat


def _grid(n: int, max_cols: int, panel_w: float, panel_h: float) -> tuple[Figure, list[Axes]]:
    ncols = min(n, max_cols)
    nrows = math.ceil(n / ncols)
    fig = _new_figure(panel_w * ncols + 0.4, panel_h * nrows + 0.3)
    grid = fig.subplots(nrows, ncols, squeeze=False)
    flat = list(grid.ravel())
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig, flat[:n]


def _check_choice(value: Any, name: str, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise DataError(f"{name} must be one of {tuple(choices)}, got {value!r}.")


def _check_level(level: Any) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ArgumentTypeError(f"level must be a number between 0 and 1, got {level!r}.")
    return float(level)


def _point_style(n: int) -> dict[str, Any]:
    """Markers that stay readable from 20 to 70,000 points."""
    if n <= 500:
        return {"markersize": 4, "alpha": 0.8}
    if n <= _RASTERIZE_ABOVE:
        return {"markersize": 2.5, "alpha": 0.5}
    return {"markersize": 1.2, "alpha": 0.25, "rasterized": True}


def _lowess(x: np.ndarray, y: np.ndarray, frac: float) -> tuple[np.ndarray, np.ndarray]:
    from statsmodels.nonparametric.smoothers_lowess import lowess

    # delta skips refitting at points closer than 1% of the range (interpolating there),
    # which makes lowess linear-time on 70,000 points.
    delta = 0.01 * float(np.ptp(x)) if x.size > 1000 else 0.0
    out = lowess(y, x, frac=frac, it=3, delta=delta, return_sorted=True)
    return out[:, 0], out[:, 1]


def _qq_line(sample: np.ndarray) -> tuple[float, float]:
    """R's ``qqline``: the line through the first and third quartiles (type 7)."""
    y = np.quantile(sample, [0.25, 0.75])
    x = stats.norm.ppf([0.25, 0.75])
    slope = (y[1] - y[0]) / (x[1] - x[0])
    return float(y[0] - slope * x[0]), float(slope)


def _draw_qq_line(ax: Axes, theo: np.ndarray, sample: np.ndarray) -> None:
    a, b = _qq_line(sample)
    # Over the points' range rather than R's infinite abline: the same line, and its ends
    # are data a test can read.
    ends = np.array([theo.min(), theo.max()])
    ax.plot(ends, a + b * ends, color="C3", linewidth=1.0, gid="qqline")


def _ppoints(n: int) -> np.ndarray:
    """R's ``ppoints(n)``: (i - a) / (n + 1 - 2a), a = 3/8 for n <= 10, else 1/2."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


# -- random effects ----------------------------------------------------------------------------


def _ranef_long(result: LmerResult) -> tuple[pd.DataFrame, bool]:
    """Conditional modes and SDs per (grouping factor, term, level); SDs NaN if the engine
    has none."""
    try:
        return result.ranef_table(), True
    except NotImplementedError:
        rows = []
        for name, re in result.ranef.items():
            for col in re.columns:
                rows.append(
                    pd.DataFrame(
                        {
                            "grpvar": name,
                            "term": col,
                            "grp": list(re.index),
                            "condval": re[col].to_numpy(),
                            "condsd": np.nan,
                        }
                    )
                )
        return pd.concat(rows, ignore_index=True), False


def _check_has_ranef(result: LmerResult) -> None:
    if not result.ranef:
        raise DataError(
            "this model has no random effects to plot (a gls fit); plot its residuals "
            "instead (residuals_vs_fitted, qq, variogram, acf)."
        )


def _panels(result: LmerResult, table: pd.DataFrame, group: Any) -> list[tuple[str, list[str]]]:
    """(grouping factor, its term columns) in lme4's order, for the factors asked for."""
    names = list(dict.fromkeys(table["grpvar"]))
    if group is None:
        chosen = names
    else:
        chosen = [group] if isinstance(group, str) else list(group)
        unknown = [g for g in chosen if g not in names]
        if unknown:
            raise DataError(f"{unknown} are not grouping factors of this model; use {names}.")
    return [(g, list(dict.fromkeys(table.loc[table["grpvar"] == g, "term"]))) for g in chosen]


def caterpillar(
    result: LmerResult,
    group: str | Sequence[str] | None = None,
    level: float = 0.95,
    max_labels: int = 70,
    axes: Any = None,
) -> Figure:
    """Caterpillar plot of the conditional modes of the random effects with their
    conditional intervals, as lme4's ``dotplot(ranef(m, condVar = TRUE))``.

    One panel per term column of each grouping factor (a row of panels per factor); levels
    sorted by the mode of the factor's first column (lme4's order, shared by the row's
    panels so that a level sits at the same height in each); intervals ±z conditional SD
    (z = 1.96 for ``level=0.95``) from :meth:`lmeformula.LmerResult.ranef_table`. A factor with more
    than ``max_labels`` levels, or too many for the panel's height, loses its level labels
    (the panel says so); beyond 100 levels points and intervals are drawn thinner.

    Parameters
    ----------
    result
        A fitted model with random effects.
    group
        A grouping factor or a list of them; by default all.
    level
        Coverage of the intervals.
    max_labels
        Most level labels a panel shows.
    axes
        Axes to draw into, one per panel, in order (factor by factor, columns in lme4's
        order); by default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> fig = lmf.plots.caterpillar(fit)
    >>> [ax.get_title() for ax in fig.axes]
    ['Subject: (Intercept)', 'Subject: Days']
    """
    from matplotlib.ticker import MaxNLocator

    z = stats.norm.ppf(0.5 + _check_level(level) / 2)
    if isinstance(max_labels, bool) or not isinstance(max_labels, (int, np.integer)):
        raise ArgumentTypeError(f"max_labels must be an integer, got {max_labels!r}.")
    _check_has_ranef(result)
    table, has_sd = _ranef_long(result)
    panels = _panels(result, table, group)
    n_panels = sum(len(cols) for _, cols in panels)
    nlev = [int((table["grpvar"] == g).sum() // len(cols)) for g, cols in panels]
    if axes is None:
        heights = [0.15 * n + 1.1 if n <= max_labels else 3.4 for n in nlev]
        ncols = max(len(cols) for _, cols in panels)
        fig = _new_figure((3.3 if ncols > 1 else 4.6) * ncols + 0.9, sum(heights))
        grid = fig.subplots(
            len(panels), ncols, squeeze=False, gridspec_kw={"height_ratios": heights}
        )
        flat = []
        for i, (_, cols) in enumerate(panels):
            flat += list(grid[i, : len(cols)])
            for ax in grid[i, len(cols) :]:
                fig.delaxes(ax)
    else:
        flat = _given_axes(axes, n_panels)
        fig = _root(flat[0])
    k = 0
    for (g, cols), n in zip(panels, nlev, strict=True):
        block = table[table["grpvar"] == g]
        first = block[block["term"] == cols[0]].set_index("grp")["condval"]
        order = list(first.sort_values(kind="stable").index)
        y = np.arange(n)
        row_axes = flat[k : k + len(cols)]
        k += len(cols)
        # Labels below ~4.5 pt cannot be read: a short panel drops them as a long list does.
        spacing = _axes_height_pt(row_axes[0]) / max(n, 1)
        labelled = n <= max_labels and spacing >= 5.5
        for j, (ax, col) in enumerate(zip(row_axes, cols, strict=True)):
            sub = block[block["term"] == col].set_index("grp").loc[order]
            vals = sub["condval"].to_numpy()
            half = z * sub["condsd"].to_numpy()
            many = n > 100
            if has_sd:
                ax.hlines(
                    y,
                    vals - half,
                    vals + half,
                    colors="C0",
                    linewidth=0.5 if many else 1.2,
                    alpha=0.6 if many else 1.0,
                    gid="intervals",
                    rasterized=n > 500,
                )
            ax.plot(
                vals,
                y,
                "o",
                color="C3" if many else "C0",
                markersize=1.2 if many else 3.5,
                gid="modes",
                rasterized=n > 500,
            )
            ax.axvline(0.0, color="0.5", linestyle="--", linewidth=0.8)
            # Five ticks at most: a 3-inch panel fits "-0.75" labels no closer.
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            ax.set_ylim(-0.8, n - 0.2)
            ax.set_title(f"{g}: {col}")
            what = f"± {z:.2f} conditional SD" if has_sd else "(no conditional SDs)"
            ax.set_xlabel(f"Conditional mode {what}")
            if labelled:
                if j == 0:
                    size = float(np.clip(0.8 * spacing, 4.4, 8.5))
                    ax.set_yticks(y, labels=order, fontsize=size)
                else:
                    ax.set_yticks(y)
                    ax.tick_params(axis="y", labelleft=False)
            else:
                ax.set_yticks([])
                ax.text(
                    0.03,
                    0.97,
                    f"{n:,} levels; labels omitted",
                    transform=ax.transAxes,
                    ha="left",
                    va="top",
                    fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "0.8", "alpha": 0.9},
                )
            if j == 0:
                ax.set_ylabel(f"{g}, sorted by {cols[0]}")
    return fig


def _axes_height_pt(ax: Axes) -> float:
    fig = _root(ax)
    return float(ax.get_position().height * fig.get_figheight() * 72.0)


def ranef_qq(
    result: LmerResult, group: str | Sequence[str] | None = None, axes: Any = None
) -> Figure:
    """Normal QQ plots of the conditional modes, one panel per term column of each grouping
    factor, with R's ``qqline`` reference line (lme4's ``qqmath(ranef(m))``).

    Parameters
    ----------
    result
        A fitted model with random effects.
    group
        A grouping factor or a list of them; by default all.
    axes
        Axes to draw into, one per panel; by default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> fig = lmf.plots.ranef_qq(fit)
    >>> fig.axes[1].get_title(), fig.axes[1].get_ylabel()
    ('Subject: Days', 'Conditional mode')
    """
    _check_has_ranef(result)
    table = pd.concat(
        [
            pd.DataFrame({"grpvar": name, "term": col, "condval": re[col].to_numpy()})
            for name, re in result.ranef.items()
            for col in re.columns
        ],
        ignore_index=True,
    )
    panels = [(g, c) for g, cols in _panels(result, table, group) for c in cols]
    if axes is None:
        fig, flat = _grid(len(panels), 3, 3.4, 3.0)
    else:
        flat = _given_axes(axes, len(panels))
        fig = _root(flat[0])
    for ax, (g, col) in zip(flat, panels, strict=True):
        vals = np.sort(table.loc[(table["grpvar"] == g) & (table["term"] == col), "condval"])
        theo = stats.norm.ppf(_ppoints(vals.size))
        ax.plot(theo, vals, "o", gid="points", **_point_style(vals.size))
        _draw_qq_line(ax, theo, vals)
        ax.set_title(f"{g}: {col}")
        ax.set_xlabel("Standard normal quantiles")
        ax.set_ylabel("Conditional mode")
    return fig


# -- residuals -----------------------------------------------------------------------------


def residuals_vs_fitted(
    result: LmerResult,
    resid_type: str = "pearson",
    smooth: bool = True,
    ax: Any = None,
) -> Figure:
    """Residuals against fitted values with a zero line and a lowess smooth, as lme4's
    ``plot(m)`` (Pearson residuals by default).

    Parameters
    ----------
    result
        A fitted model.
    resid_type
        ``"pearson"`` (default), ``"normalized"`` or ``"response"``.
    smooth
        Draw a lowess smooth (statsmodels' ``lowess``, span 2/3, as R's ``lowess``).
    ax
        Axes to draw into; by default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> fig = lmf.plots.residuals_vs_fitted(fit)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('Fitted values', 'Pearson residuals')
    """
    r = residuals_of_type(result, resid_type)
    fitted = result.fitted()
    fig, ax = _one_axes(ax, 6.0, 4.2)
    ax.plot(fitted, r, "o", color="C0", gid="points", **_point_style(r.size))
    ax.axhline(0.0, color="0.4", linestyle="--", linewidth=0.9)
    if smooth and r.size > 3:
        sx, sy = _lowess(fitted, r, 2.0 / 3.0)
        ax.plot(sx, sy, color="C3", linewidth=1.8, gid="smooth", label="lowess")
    ax.set_xlabel("Fitted values")
    ax.set_ylabel(RESID_LABELS[resid_type])
    ax.set_title("Residuals vs fitted")
    return fig


def binned_residuals(result: Any, n_bins: int | None = None, ax: Any = None) -> Figure:
    """performance's binned residuals plot of a binomial fit: each bin's mean residual
    against its mean fitted probability, with its ±1.96 sd/√n band; points outside the
    band in red (:meth:`lmeformula.GlmerResult.binned_residuals` gives the table).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.glmer("use ~ age + urban + (1 | district)", lmf.datasets.load("contraception"))
    >>> fig = lmf.plots.binned_residuals(fit)
    >>> fig.axes[0].get_xlabel()
    'Estimated probability of use'
    """
    from lmeformula.results.binned import binned_residuals as table_of

    table = table_of(result, n_bins)
    fig, ax = _one_axes(ax, 6.0, 4.2)
    x = table["xbar"].to_numpy()
    ax.plot(x, table["se"].to_numpy(), color="0.5", linewidth=1.0, gid="band")
    ax.plot(x, -table["se"].to_numpy(), color="0.5", linewidth=1.0)
    ax.axhline(0.0, color="0.4", linestyle="--", linewidth=0.9)
    inside = (table["group"] == "yes").to_numpy()
    ybar = table["ybar"].to_numpy()
    ax.plot(x[inside], ybar[inside], "o", color="C0", gid="inside")
    ax.plot(x[~inside], ybar[~inside], "o", color="C3", gid="outside")
    response = (result.state.parsed.response or "y").strip("`")
    ax.set_xlabel(f"Estimated probability of {response}")
    ax.set_ylabel("Average residual")
    ax.set_title(f"Binned residuals ({100 * table.attrs['resid_ok']:.0f}% inside the error bounds)")
    return fig


def qq(result: LmerResult, resid_type: str = "pearson", ax: Any = None) -> Figure:
    """Normal QQ plot of the residuals with R's ``qqline`` (the line through the
    quartiles), as ``qqnorm(resid(m)); qqline(resid(m))``.

    Parameters
    ----------
    result
        A fitted model.
    resid_type
        ``"pearson"`` (default), ``"normalized"`` or ``"response"``.
    ax
        Axes to draw into; by default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> lmf.plots.qq(fit).axes[0].get_title()
    'Normal Q-Q plot of Pearson residuals'
    """
    r = np.sort(residuals_of_type(result, resid_type))
    theo = stats.norm.ppf(_ppoints(r.size))
    fig, ax = _one_axes(ax, 4.8, 4.4)
    ax.plot(theo, r, "o", color="C0", gid="points", **_point_style(r.size))
    _draw_qq_line(ax, theo, r)
    ax.set_xlabel("Standard normal quantiles")
    ax.set_ylabel(f"{RESID_LABELS[resid_type]} (sorted)")
    ax.set_title(f"Normal Q-Q plot of {RESID_WORDS[resid_type]}")
    return fig


# -- trajectories ------------------------------------------------------------------------------


def _x_values(result: LmerResult, x: Any, data: Any) -> np.ndarray:
    if not isinstance(x, str):
        raise ArgumentTypeError(f"x must be a column name, got {type(x).__name__}.")
    frame = result.state.frame.data
    if x in frame.columns:
        series = frame[x]
    elif data is not None:
        if x not in column_names(data):
            raise DataError(f"x {x!r} is not a column of data.")
        # Of a polars or Arrow table, x alone is converted (its rows are numbered from 0).
        data = as_frame(data, columns=[x])
        missing = frame.index.difference(data.index)
        if len(missing):
            raise DataError(
                f"data lacks {len(missing)} of the fitted rows (index labels such as "
                f"{list(missing[:3])}); pass the data frame the model was fitted on."
            )
        series = data.loc[frame.index, x]
    else:
        raise DataError(
            f"x {x!r} is not a column the model uses ({list(frame.columns)}); pass "
            "data= (the data frame the model was fitted on) to take it from there."
        )
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise DataError(
            f"x {x!r} must be numeric for trajectories ({series.dtype}); convert it, e.g. "
            "to the visit number."
        )
    values = series.to_numpy(dtype=float)
    if np.isnan(values).any():
        raise DataError(f"x {x!r} has missing values in the fitted rows.")
    return values


def _default_group(result: LmerResult, group: str | None) -> str | None:
    if group is not None or not result.ngroups:
        return group
    # lme4's first grouping factor: the one with the most levels.
    return next(iter(result.ngroups))


def _population_curves(
    x: np.ndarray, pop: np.ndarray, codes: np.ndarray, chosen: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The distinct fixed-effects curves over x: one if the fixed part depends on x alone,
    else one per distinct (x, prediction) set of the subjects (e.g. one per diet)."""
    rows = np.flatnonzero(np.isin(codes, chosen))
    xs, ps = x[rows], pop[rows]
    order = np.lexsort((ps, xs))
    xs, ps = xs[order], ps[order]
    scale = max(float(np.ptp(pop)), 1.0)
    same_x = np.diff(xs) == 0
    if not np.any(same_x & (np.abs(np.diff(ps)) > 1e-9 * scale)):
        keep = np.concatenate([[True], ~same_x])
        return [(xs[keep], ps[keep])]
    curves: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    for s in chosen:
        r = np.flatnonzero(codes == s)
        o = np.argsort(x[r], kind="stable")
        cx, cp = x[r][o], pop[r][o]
        key = np.round(np.concatenate([cx, cp]) / scale, 9).tobytes()
        curves.setdefault(key, (cx, cp))
    return list(curves.values())


def trajectories(
    result: LmerResult,
    x: str,
    group: str | None = None,
    subjects: Sequence[Any] | None = None,
    facet: bool = False,
    data: Any = None,
    max_facets: int = 30,
    ax: Any = None,
    axes: Any = None,
) -> Figure:
    """Observed values and fitted lines per subject, with the population line on top.

    Each subject's observations (points) and fitted values (a line: fixed plus its random
    effects, ``fitted(m)``); the population-level line (``predict(m, re.form = NA)``, fixed
    effects only) drawn thick on top (one per distinct curve, e.g. per treatment, when the
    fixed part depends on more than ``x``). ``facet=True`` gives lattice's small multiples
    (``xyplot(y ~ x | subject)``), one panel per subject.

    Parameters
    ----------
    result
        A fitted model.
    x
        The numeric column on the horizontal axis (time or a covariate).
    group
        The subjects: a grouping factor or a column of the model frame; by default the
        first grouping factor (or the residual structure's subjects of a gls fit).
    subjects
        Draw only these levels of ``group``.
    facet
        One panel per subject (at most ``max_facets``).
    data
        The data frame the model was fitted on (pandas, polars, Arrow), when ``x`` is not a
        column the model uses.
    max_facets
        Most panels ``facet=True`` draws; choose ``subjects`` beyond.
    ax, axes
        Axes to draw into: ``ax`` for the single panel, ``axes`` (one per subject) with
        ``facet=True``; by default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> fig = lmf.plots.trajectories(fit, x="Days")
    >>> fig.axes[0].get_title()
    'Reaction by Subject: observed and fitted'
    >>> len(lmf.plots.trajectories(fit, x="Days", facet=True).axes)
    18
    """
    xv = _x_values(result, x, data)
    codes, levels, gname = subject_codes(result, _default_group(result, group))
    if subjects is None:
        chosen = np.arange(len(levels))
    else:
        labels = [str(s) for s in ([subjects] if isinstance(subjects, str) else subjects)]
        unknown = [s for s in labels if s not in levels]
        if unknown:
            raise DataError(
                f"subjects {unknown[:5]} are not levels of {gname!r} (e.g. {list(levels[:5])})."
            )
        lookup = {lvl: i for i, lvl in enumerate(levels)}
        chosen = np.array([lookup[s] for s in dict.fromkeys(labels)])
    y = result.state.design.y
    fitted = result.fitted()
    pop = result.predict(re_form="~0")
    yname = (result.state.parsed.response or "response").strip("`")
    if facet:
        return _facets(
            result, xv, y, fitted, pop, codes, levels, chosen, gname, x, yname, max_facets, axes
        )
    fig, ax = _one_axes(ax, 6.8, 4.6)
    many = chosen.size > 20
    for i, s in enumerate(chosen):
        r = np.flatnonzero(codes == s)
        o = np.argsort(xv[r], kind="stable")
        color = _subject_color(i, int(chosen.size))
        ax.plot(
            xv[r],
            y[r],
            "o",
            color="0.55" if many else color,
            gid=f"observed:{levels[s]}",
            **_point_style(int(codes.size)) | ({"alpha": 0.3} if many else {}),
        )
        ax.plot(
            xv[r][o],
            fitted[r][o],
            "-",
            color=color,
            linewidth=0.8 if many else 1.2,
            alpha=0.7 if many else 0.9,
            gid=f"fitted:{levels[s]}",
        )
    for k, (cx, cp) in enumerate(_population_curves(xv, pop, codes, chosen)):
        ax.plot(cx, cp, "-", color="black", linewidth=3.0, gid=f"population:{k}", zorder=5)
    ax.set_xlabel(x)
    ax.set_ylabel(yname)
    ax.set_title(f"{yname} by {gname}: observed and fitted")
    ax.legend(handles=_legend_handles(), loc="best", fontsize=8, framealpha=0.9)
    return fig


def _subject_color(i: int, n: int) -> Any:
    """Distinct colours up to 20 subjects; beyond, one colour (points go grey)."""
    if n > 20:
        return "C0"
    if n <= 10:
        return f"C{i}"
    from matplotlib import colormaps

    return colormaps["tab20"](i)


def _legend_handles() -> list[Any]:
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], marker="o", linestyle="", color="0.4", label="observed"),
        Line2D([], [], color="0.4", linewidth=1.2, label="fitted (subject)"),
        Line2D([], [], color="black", linewidth=3.0, label="population (fixed effects)"),
    ]


def _facets(
    result: LmerResult,
    xv: np.ndarray,
    y: np.ndarray,
    fitted: np.ndarray,
    pop: np.ndarray,
    codes: np.ndarray,
    levels: tuple[str, ...],
    chosen: np.ndarray,
    gname: str,
    x: str,
    yname: str,
    max_facets: int,
    axes: Any,
) -> Figure:
    n = int(chosen.size)
    if n > max_facets:
        raise DataError(
            f"{n} subjects make too many panels for facet=True (max_facets={max_facets}); "
            "choose some with subjects=[...], raise max_facets, or use facet=False."
        )
    if axes is None:
        ncols = min(n, max(1, math.ceil(math.sqrt(n * 1.6))), 6)
        nrows = math.ceil(n / ncols)
        fig = _new_figure(1.75 * ncols + 0.8, 1.6 * nrows + 0.9)
        grid = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
        flat = list(grid.ravel())
        for ax in flat[n:]:
            fig.delaxes(ax)
        flat = flat[:n]
        for ax in flat:
            ax.label_outer()
        fig.supxlabel(x)
        fig.supylabel(yname)
        fig.suptitle(f"{yname} by {gname}: observed, fitted and population (thick)")
    else:
        flat = _given_axes(axes, n)
        fig = _root(flat[0])
        for ax in flat:
            ax.set_xlabel(x)
            ax.set_ylabel(yname)
    for ax, s in zip(flat, chosen, strict=True):
        r = np.flatnonzero(codes == s)
        o = np.argsort(xv[r], kind="stable")
        ax.plot(xv[r], y[r], "o", color="C0", markersize=3, gid=f"observed:{levels[s]}")
        ax.plot(xv[r][o], fitted[r][o], "-", color="C0", linewidth=1.2, gid=f"fitted:{levels[s]}")
        ax.plot(
            xv[r][o],
            pop[r][o],
            "-",
            color="black",
            linewidth=2.2,
            alpha=0.6,
            gid=f"population:{levels[s]}",
        )
        ax.set_title(levels[s], fontsize=8, pad=2)
        ax.tick_params(labelsize=7)
    return fig


# -- serial correlation ---------------------------------------------------------------------


def variogram(
    result: LmerResult,
    time: str | None = None,
    group: str | None = None,
    resid_type: str = "normalized",
    collapse: str = "quantiles",
    nint: int = 20,
    robust: bool = False,
    max_dist: float | None = None,
    smooth: bool = True,
    span: float = 0.6,
    ax: Any = None,
) -> Figure:
    """The semivariogram of the residuals against distance, with a loess-like smooth, as
    nlme's ``plot(Variogram(m, form = ~ time | group, resType = "normalized"))``.

    Normalized residuals of a model whose residual structure is right have a flat
    semivariogram at 1 (drawn dashed): a rise at small distances is serial correlation the
    model has not taken up. The points are :func:`variogram_data`'s.

    Parameters
    ----------
    result
        A fitted model.
    time, group, resid_type, collapse, nint, robust, max_dist
        As in :func:`variogram_data`.
    smooth
        Draw a lowess smooth of the points (span ``span``; nlme's ``panel.loess`` with
        span 0.6).
    span
        The smooth's span.
    ax
        Axes to draw into; by default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> lmf.plots.variogram(fit, time="Days").axes[0].get_ylabel()
    'Semivariogram'
    """
    table = variogram_data(
        result,
        time=time,
        group=group,
        resid_type=resid_type,
        collapse=collapse,
        nint=nint,
        robust=robust,
        max_dist=max_dist,
    )
    fig, ax = _one_axes(ax, 5.6, 4.0)
    d, v = table["dist"].to_numpy(), table["variog"].to_numpy()
    ax.plot(d, v, "o", color="C0", gid="points", **_point_style(d.size))
    if smooth and np.unique(d).size > 3:
        sx, sy = _lowess(d, v, span)
        ax.plot(sx, sy, color="C3", linewidth=1.6, gid="smooth")
    if resid_type != "response":
        ax.axhline(1.0, color="0.4", linestyle="--", linewidth=0.9, gid="independence")
    top = max(float(np.nanmax(v)), 1.0 if resid_type != "response" else 0.0)
    ax.set_ylim(0.0, top * 1.05)
    _, _, gname = subject_codes(result, group)
    ax.set_xlabel(f"Distance in {time} within {gname}" if time else f"Rows apart within {gname}")
    ax.set_ylabel("Semivariogram")
    ax.set_title(f"Variogram of {RESID_WORDS[resid_type]}")
    return fig


def acf(
    result: LmerResult,
    max_lag: int | None = None,
    resid_type: str = "normalized",
    group: str | None = None,
    alpha: float = 0.05,
    ax: Any = None,
) -> Figure:
    """The autocorrelation of the residuals within subjects by lag, with nlme's bands
    ±z(1 - α/2) / √n(lag), as ``plot(ACF(m, resType = "normalized"), alpha = 0.05)``.

    Parameters
    ----------
    result
        A fitted model.
    max_lag, resid_type, group
        As in :func:`acf_data`.
    alpha
        Level of the bands (0 for none).
    ax
        Axes to draw into; by default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> lmf.plots.acf(fit).axes[0].get_title()
    'Autocorrelation of normalized residuals'
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < 1:
        raise ArgumentTypeError(f"alpha must be a number in [0, 1), got {alpha!r}.")
    table = acf_data(result, max_lag=max_lag, resid_type=resid_type, group=group)
    fig, ax = _one_axes(ax, 5.6, 3.8)
    lag, value = table["lag"].to_numpy(), table["acf"].to_numpy()
    ax.vlines(lag, 0.0, value, colors="C0", linewidth=2.0, gid="acf")
    ax.axhline(0.0, color="black", linewidth=0.8)
    if alpha:
        with np.errstate(divide="ignore"):
            band = stats.norm.ppf(1 - alpha / 2) / np.sqrt(table["n_used"].to_numpy())
        ax.plot(lag, band, "--", color="C3", linewidth=1.0, gid="band_upper")
        ax.plot(lag, -band, "--", color="C3", linewidth=1.0, gid="band_lower")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _, _, gname = subject_codes(result, group)
    ax.set_xlabel(f"Lag (rows apart within {gname})")
    ax.set_ylabel("Autocorrelation")
    ax.set_title(f"Autocorrelation of {RESID_WORDS[resid_type]}")
    return fig
