"""lme4's warnings after a fit, for every fitting function: rank deficiency of X,
failed convergence, a singular fit."""

from __future__ import annotations

import warnings
from typing import Any

from lmeformula.errors import ConvergenceWarning, RankDeficiencyWarning, SingularFitWarning
from lmeformula.model.design import Design

__all__ = ["warn_fit", "warn_rank_deficiency"]


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


def warn_fit(result: Any, stacklevel: int = 4) -> None:
    """lme4's convergence and singular-fit warnings for a fitted model."""
    optinfo = result.optinfo
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
