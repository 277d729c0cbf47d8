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

import numpy as np
import pandas as pd

from .design import Design
from .results import LmerResult
from .structures.base import Diagonal, Unstructured, _psd_cholesky

__all__ = [
    "default_statistics",
    "sdcor_bounds",
    "sdcor_names",
    "sdcor_to_theta",
    "theta_to_sdcor",
]


def sdcor_names(design: Design) -> list[str]:
    """lme4's names of the variance parameters: ``.sig01``, ..., then ``.sigma``."""
    k = len(design.start)
    return [f".sig{i:02d}" for i in range(1, k + 1)] + [".sigma"]


def theta_to_sdcor(design: Design, theta: np.ndarray, sigma: float) -> np.ndarray:
    """θ and σ to lme4's standard deviations and correlations (``Cv_to_Sv``, σ excluded)."""
    theta = np.asarray(theta, dtype=float)
    out = []
    for term, sl in zip(design.terms, design.theta_slices, strict=True):
        s, th = term.structure, theta[sl]
        if isinstance(s, Unstructured):
            lam = s.lambda_block(th)
            cov = sigma**2 * (lam @ lam.T)
            sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
            denom = np.outer(sd, sd)
            cor = np.divide(cov, denom, out=np.zeros_like(cov), where=denom > 0)
            rows, cols = s._rows, s._cols
            out.append(np.where(rows == cols, sd[rows], cor[rows, cols]))
        elif isinstance(s, Diagonal):
            out.append(sigma * th)
        else:
            n_sd = s.n_sd  # type: ignore[attr-defined]
            out.append(np.concatenate([sigma * th[:n_sd], th[n_sd:]]))
    return np.concatenate([np.zeros(0), *out])


def sdcor_to_theta(design: Design, sdcor: np.ndarray, sigma: float) -> np.ndarray:
    """The inverse map (``Sv_to_Cv``): standard deviations and correlations to θ."""
    sdcor = np.asarray(sdcor, dtype=float)
    out = []
    for term, sl in zip(design.terms, design.theta_slices, strict=True):
        s, v = term.structure, sdcor[sl]
        if isinstance(s, Unstructured):
            rows, cols = s._rows, s._cols
            diag = rows == cols
            sd = np.zeros(s.p)
            sd[rows[diag]] = v[diag]
            cor = np.eye(s.p)
            cor[rows[~diag], cols[~diag]] = v[~diag]
            cor[cols[~diag], rows[~diag]] = v[~diag]
            # A correlation of ±1 leaves Σ semi-definite: lme4 pivots its Cholesky there.
            lam = _psd_cholesky(np.outer(sd, sd) * cor / sigma**2)
            out.append(lam[rows, cols])
        elif isinstance(s, Diagonal):
            out.append(v / sigma)
        else:
            n_sd = s.n_sd  # type: ignore[attr-defined]
            out.append(np.concatenate([v[:n_sd] / sigma, v[n_sd:]]))
    return np.concatenate([np.zeros(0), *out])


def sdcor_bounds(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the standard deviations and correlations, then of σ (as lme4's profile:
    [0, ∞) for a standard deviation, [-1, 1] for a correlation, a structure's own box for
    its correlation parameters)."""
    lower, upper = [], []
    for term in design.terms:
        s = term.structure
        if isinstance(s, Unstructured):
            diag = s._rows == s._cols
            lower.append(np.where(diag, 0.0, -1.0))
            upper.append(np.where(diag, np.inf, 1.0))
        else:
            lower.append(s.lower)
            upper.append(s.upper)
    lower.append(np.zeros(1))
    upper.append(np.full(1, np.inf))
    return np.concatenate(lower), np.concatenate(upper)


def default_statistics(result: LmerResult) -> pd.Series:
    """What lme4's ``confint(method = "boot")`` bootstraps: the standard deviations and
    correlations (``.sig01``, ...), ``.sigma``, then a residual structure's parameters as
    nlme reports them (``rho``, ...), then the fixed effects.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> default_statistics(fit).round(3)
    .sig01          24.741
    .sig02           0.066
    .sig03           5.922
    .sigma          25.592
    (Intercept)    251.405
    Days            10.467
    Name: estimate, dtype: float64
    """
    design = result._design
    values = np.r_[theta_to_sdcor(design, result.theta, result.sigma), result.sigma]
    parts: list[pd.Series] = [pd.Series(values, index=sdcor_names(design))]
    extra = result.residual_params()
    if extra:
        parts.append(pd.Series(extra, dtype=float))
    parts.append(result.fixef)
    out = pd.concat(parts)
    out.name = "estimate"
    return out
