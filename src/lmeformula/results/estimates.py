"""The estimates in lme4's terms, from a design and a solution alone.

One computation each, shared by the results object and by ``fit_many``'s table (which
never builds a results object per response), so that both give the same numbers bit for
bit: the covariance of the fixed effects, the variance components in lme4's and in
broom.mixed's layout, and lme4's singularity test.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg as la

from lmeformula.model.design import Design

__all__ = [
    "SINGULAR_TOL",
    "fixef_vcov",
    "is_singular",
    "ran_pars",
    "variance_components",
]

#: lme4's tolerance of ``isSingular``.
SINGULAR_TOL = 1e-4


def fixef_vcov(RX: np.ndarray, sigma: float) -> np.ndarray:
    """Var(β̂) = σ² (R_X'R_X)⁻¹ (lme4's ``vcov``)."""
    p = RX.shape[0]
    if not p:
        return np.zeros((0, 0))
    # LAPACK's triangular inverse directly: scipy's solve_triangular wrapper costs 20-40
    # µs (and, under load, milliseconds) of checks for a p x p system with p small.
    rinv, info = la.lapack.dtrtri(np.asarray(RX, dtype=float), lower=0)
    if info != 0:
        rinv = la.solve_triangular(RX, np.eye(p))
    return sigma**2 * (rinv @ rinv.T)


def variance_components(
    design: Design, theta: np.ndarray, sigma: float
) -> list[tuple[str, str, str, float, float]]:
    """lme4's ``as.data.frame(VarCorr(m))`` rows ``(grp, var1, var2, vcov, sdcor)``: per
    term its variances, then its covariances (``sdcor`` the correlation) where its random
    effects correlate; a second term on one factor is ``g.1``, as lme4 names it; last the
    residual.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    >>> [(g, round(v)) for g, _, _, v, _ in variance_components(
    ...     fit.state.design, fit.theta, fit.sigma)]  # R: as.data.frame(VarCorr(m))$vcov
    [('Batch', 1764), ('Residual', 2451)]
    """
    rows: list[tuple[str, str, str, float, float]] = []
    seen: dict[str, int] = {}
    s2 = sigma**2
    theta = np.asarray(theta, dtype=float)
    for term, sl in zip(design.terms, design.theta_slices, strict=True):
        k = seen.get(term.name, 0)
        seen[term.name] = k + 1
        grp = term.name if k == 0 else f"{term.name}.{k}"
        cov = s2 * term.structure.rel_cov(theta[sl])
        sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        for i, col in enumerate(term.columns):
            rows.append((grp, col, "", float(cov[i, i]), float(sd[i])))
        if term.structure.correlated:
            for i in range(term.p):
                for j in range(i + 1, term.p):
                    denom = sd[i] * sd[j]
                    corr = float(cov[i, j] / denom) if denom > 0 else np.nan
                    rows.append((grp, term.columns[i], term.columns[j], float(cov[i, j]), corr))
    rows.append(("Residual", "", "", s2, float(sigma)))
    return rows


def ran_pars(rows: list[tuple[str, str, str, float, float]]) -> list[tuple[str, str, float]]:
    """broom.mixed's ``ran_pars`` ``(group, term, estimate)`` from
    :func:`variance_components`' rows: each standard deviation followed by its correlations
    with later columns, the residual's ``sd__Observation`` last."""
    out: list[tuple[str, str, float]] = []
    for grp, var1, var2, _, sdcor in rows:
        if grp == "Residual":
            out.append(("Residual", "sd__Observation", sdcor))
        elif not var2:
            out.append((grp, f"sd__{var1}", sdcor))
            out += [
                (g, f"cor__{a}.{b}", c) for g, a, b, _, c in rows if g == grp and a == var1 and b
            ]
    return out


def is_singular(design: Design, theta: np.ndarray, tol: float = SINGULAR_TOL) -> bool:
    """lme4's ``isSingular``: a standard deviation at 0, or a structured correlation at a
    bound of its box, within ``tol``."""
    if not design.terms:
        return False
    # Entry by entry in Python: θ has a few entries, where NumPy's calls cost ten times.
    values = np.asarray(theta, dtype=float).tolist()
    for lo, up, t in zip(design.lower.tolist(), design.upper.tolist(), values, strict=True):
        if lo == 0 and t < tol:
            return True
        if math.isfinite(up) and up - t < tol:
            return True
        if math.isfinite(lo) and lo != 0 and t - lo < tol:
            return True
    return False
