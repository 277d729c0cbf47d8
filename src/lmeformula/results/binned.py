"""Binned residuals of a binomial model, as R's ``performance::binned_residuals`` (Gelman &
Hill 2007): the rows sorted by fitted probability into about √n bins of equal size, and
per bin the mean fitted value, the mean residual y - μ̂ and its interval ±1.96 sd/√n. About
95 % of the bins should have their mean residual inside it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmeformula.errors import ArgumentTypeError

__all__ = ["binned_residuals"]

_Z = 1.959963984540054  # qnorm(0.975)


def binned_residuals(fit: Any, n_bins: int | None = None) -> pd.DataFrame:
    """performance's ``binned_residuals`` of a glmer fit.

    Parameters
    ----------
    fit
        A binomial glmer fit.
    n_bins
        Number of bins, by default round(√n) as performance's.

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``xbar`` (mean fitted), ``ybar`` (mean residual), ``n``, ``x_lo``,
        ``x_hi``, ``se`` (performance's: 1.96 sd/√n), ``ci_range`` (sd/√n), ``ci_low``,
        ``ci_high`` and ``group`` (``"yes"`` where the mean residual is inside ±se, as
        performance labels it); ``attrs["resid_ok"]`` is the share of bins inside.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.glmer("use ~ age + urban + (1 | district)", lmf.datasets.load("contraception"))
    >>> table = binned_residuals(fit)
    >>> len(table), 0.5 < table.attrs["resid_ok"] <= 1
    (44, True)
    """
    family = getattr(fit, "family", None)
    if family is None or family.name != "binomial":
        raise ArgumentTypeError(
            "binned residuals are for binomial fits (a 0/1 or proportion response)."
        )
    pred = fit.fitted()
    y = fit.state.y - pred
    n = pred.size
    if n_bins is None:
        n_bins = int(np.floor(np.sqrt(n) + 0.5))  # R's round() of √n
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 2:
        raise ArgumentTypeError(f"n_bins must be an integer of at least 2, got {n_bins!r}.")
    # R: breaks <- unique(c(-Inf, sort(pred)[floor(n * (1:(n_bins - 1)) / n_bins)], Inf))
    idx = np.floor(n * np.arange(1, n_bins) / n_bins).astype(int) - 1
    breaks = np.unique(np.r_[-np.inf, np.sort(pred)[idx], np.inf])
    # cut() with right-closed intervals (a, b].
    which = np.searchsorted(breaks, pred, side="left") - 1
    rows = []
    for b in range(len(breaks) - 1):
        inside = which == b
        m = int(inside.sum())
        if m < 2:
            continue  # R drops bins whose sd is NA
        sd = float(np.std(y[inside], ddof=1))
        rows.append(
            {
                "xbar": float(pred[inside].mean()),
                "ybar": float(y[inside].mean()),
                "n": m,
                "x_lo": float(pred[inside].min()),
                "x_hi": float(pred[inside].max()),
                "se": _Z * sd / np.sqrt(m),
                "ci_range": sd / np.sqrt(m),
            }
        )
    table = pd.DataFrame(rows)
    table["ci_low"] = table["ybar"] - _Z * table["ci_range"]
    table["ci_high"] = table["ybar"] + _Z * table["ci_range"]
    table["group"] = np.where(np.abs(table["ybar"]) > np.abs(table["se"]), "no", "yes")
    table.attrs["resid_ok"] = float(np.mean(table["group"] == "yes"))
    return table
