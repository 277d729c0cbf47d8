"""lme4's warnings after a fit, for every fitting function: rank deficiency of X,
failed convergence, a singular fit, and lme4's Hessian checks (``check.conv.hess``)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from lmeformula.engines.lmm_kernels import hessian_spectrum
from lmeformula.errors import ConvergenceWarning, RankDeficiencyWarning, SingularFitWarning
from lmeformula.model.design import Design

__all__ = ["HESSIAN_TOL", "hessian_messages", "warn_fit", "warn_rank_deficiency"]

#: lme4's ``check.conv.hess`` tolerance (lmerControl and glmerControl: 1e-6).
HESSIAN_TOL = 1e-6


def warn_rank_deficiency(design: Design, stacklevel: int = 4) -> None:
    """lme4's message when fixed-effect columns were dropped."""
    if design.dropped_fixed:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping "
            f"{len(design.dropped_fixed)} column(s): {', '.join(design.dropped_fixed)}. "
            "Those effects are not estimable from these data (aliased with other columns).",
            RankDeficiencyWarning,
            stacklevel=stacklevel,
        )


def hessian_messages(H: np.ndarray, tol: float = HESSIAN_TOL, kind: str = "") -> list[str]:
    """lme4's ``checkHess``: what the eigenvalues of the Hessian at the optimum say.

    Negative ones (below -tol): no minimum; near zero (or no Cholesky factor): the
    parameters are not determined; the largest above 1/tol, or smallest / largest below
    tol: nearly unidentifiable, usually covariates on very different scales.

    Parameters
    ----------
    H
        The Hessian of the deviance (-2 log L) at the optimum.
    tol
        lme4's tolerance.
    kind
        ``"fixed-effect"`` for the fixed effects' block, as lme4 words it.

    Returns
    -------
    list of str
        lme4's messages, empty when the Hessian passes.

    Examples
    --------
    >>> hessian_messages(np.diag([2.0, 3e7]))[0].split(":")[0]
    'Model is nearly unidentifiable'
    >>> hessian_messages(np.eye(2))
    []
    """
    what = f"{kind} Hessian" if kind else "Hessian"
    if H.size == 0:
        return []
    # The eigenvalues as floats and the Cholesky factor's existence in one compiled call:
    # a few of each, and numpy's and scipy's wrappers cost more than the decompositions
    # (every fit runs this check).
    spectrum = hessian_spectrum(H)
    if spectrum is None:
        return ["Problem with Hessian check (infinite or missing values?)"]
    ev, factored = spectrum
    negative = sum(e < -tol for e in ev)
    if negative:
        return [f"Model failed to converge: degenerate {what} with {negative} negative eigenvalues"]
    if any(abs(e) < tol for e in ev) or not factored:
        return [f"{what} is numerically singular: parameters are not uniquely determined"]
    out = []
    rescale = "rescale the covariates (center them, or change their units) and refit"
    top, bottom = max(ev), min(ev)
    if top * tol > 1:
        out.append(
            f"Model is nearly unidentifiable: very large eigenvalue of the {what}; {rescale}"
        )
    if bottom / top < tol:
        out.append(
            f"Model is nearly unidentifiable: large eigenvalue ratio of the {what}; {rescale}"
        )
    return out


def _hessian_checks(result: Any) -> list[str]:
    """lme4's Hessian check at the optimum, on the whole Hessian (lme4's fixed-effect block
    check never runs for glmer, whose bounds cover β too; lmer's parameters are θ alone),
    and skipped for singular fits as lme4 skips it."""
    derivs = result.optinfo.derivs
    if derivs is None or result.singular or derivs.free.size != derivs.par.size:
        return []
    return hessian_messages(np.asarray(derivs.hessian, dtype=float))


def warn_fit(result: Any, stacklevel: int = 4) -> None:
    """lme4's convergence, Hessian and singular-fit warnings for a fitted model."""
    optinfo = result.optinfo
    for message in _hessian_checks(result):
        warnings.warn(message + ".", ConvergenceWarning, stacklevel=stacklevel)
    if not optinfo.converged:
        warnings.warn(
            f"{optinfo.messages[0]} ({optinfo.optimizer}); the "
            "estimates may not be the optimum. Check the model (rescale covariates, simplify "
            "the random effects) and compare with fit.optinfo.attempts.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    if result.singular:
        warnings.warn(
            "boundary (singular) fit: a variance is estimated as 0 or a correlation as +-1 "
            "(see fit.varcorr()). The random-effects structure is too complex for these data; "
            "consider dropping the term or its correlations (||).",
            SingularFitWarning,
            stacklevel=stacklevel,
        )
