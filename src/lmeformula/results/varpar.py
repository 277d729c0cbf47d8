"""The variance parameters on lme4's standard-deviation and correlation scale.

lme4's ``confint``, ``profile`` and ``bootMer`` report the covariance parameters not as θ
but as standard deviations and correlations (``Cv_to_Sv``), named ``.sig01``, ``.sig02``,
... in θ's order, then ``.sigma``. For an unstructured term θ is the lower triangle of Λ
by column, and the matching entries of Σ = σ² Λ Λ' are reported: a standard deviation on
the diagonal, a correlation below it (``(Days | Subject)``: sd of the intercept, their
correlation, sd of Days). A diagonal term (``||``) has its standard deviations. A
structured term (``cs()``, ``ar1()``, ...) has its standard deviations (θ's relative ones
times σ) and then its correlation parameters as θ holds them; so every term has as many
entries as θ, and the map is one to one, which the profile needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmeformula.model.design import Design
from lmeformula.results.lmer import LmerResult

__all__ = [
    "default_statistics",
    "sdcor_bounds",
    "sdcor_names",
    "sdcor_to_theta",
    "statistic_values",
    "theta_to_sdcor",
]


def sdcor_names(design: Design) -> list[str]:
    """lme4's names of the variance parameters: ``.sig01``, ..., then ``.sigma``."""
    k = len(design.start)
    return [f".sig{i:02d}" for i in range(1, k + 1)] + [".sigma"]


def theta_to_sdcor(design: Design, theta: np.ndarray, sigma: float) -> np.ndarray:
    """θ and σ to lme4's standard deviations and correlations (``Cv_to_Sv``, σ excluded)."""
    theta = np.asarray(theta, dtype=float)
    out = [t.structure.sdcor(theta[sl], sigma) for t, sl in _slices(design)]
    return np.concatenate([np.zeros(0), *out])


def sdcor_to_theta(design: Design, sdcor: np.ndarray, sigma: float) -> np.ndarray:
    """The inverse map (``Sv_to_Cv``): standard deviations and correlations to θ."""
    sdcor = np.asarray(sdcor, dtype=float)
    out = [t.structure.theta_from_sdcor(sdcor[sl], sigma) for t, sl in _slices(design)]
    return np.concatenate([np.zeros(0), *out])


def sdcor_bounds(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the standard deviations and correlations, then of σ (as lme4's profile:
    [0, ∞) for a standard deviation, [-1, 1] for a correlation, a structure's own box for
    its correlation parameters)."""
    bounds = [t.structure.sdcor_bounds() for t in design.terms]
    lower = [b[0] for b in bounds] + [np.zeros(1)]
    upper = [b[1] for b in bounds] + [np.full(1, np.inf)]
    return np.concatenate(lower), np.concatenate(upper)


def _slices(design: Design) -> list[tuple[Any, slice]]:
    return list(zip(design.terms, design.theta_slices, strict=True))


def default_statistics(result: LmerResult) -> pd.Series:
    """What lme4's ``confint(method = "boot")`` bootstraps: the standard deviations and
    correlations (``.sig01``, ...), ``.sigma``, then a residual structure's parameters as
    nlme reports them (``rho``, ...), then the fixed effects.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> default_statistics(fit).round(2)
    .sig01          24.74
    .sig02           0.07
    .sig03           5.92
    .sigma          25.59
    (Intercept)    251.41
    Days            10.47
    Name: estimate, dtype: float64
    """
    values, names = _statistics(result)
    return pd.Series(values, index=names, name="estimate")


def statistic_values(result: LmerResult) -> np.ndarray:
    """:func:`default_statistics`' values alone, in its order: what a bootstrap replicate
    records (a Series of text labels costs a small refit as much as its optimisation).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    >>> statistic_values(fit).round(2).tolist()
    [42.0, 49.51, 1527.5]
    """
    return _statistics(result)[0]


def _statistics(result: LmerResult) -> tuple[np.ndarray, list[str]]:
    design = result.state.design
    values = np.append(theta_to_sdcor(design, result.theta, result.sigma), result.sigma)
    names = sdcor_names(design)
    family = getattr(result, "family", None)
    if family is not None and not family.has_dispersion:
        # A glmer fit without a dispersion has no σ (lme4's confint drops .sigma).
        values, names = values[:-1], names[:-1]
    extra = result.residual_params() if family is None else {}
    if extra:
        values = np.concatenate([values, np.asarray(list(extra.values()), dtype=float)])
    return np.concatenate([values, result.state.beta]), [*names, *extra, *design.fixed_names]
