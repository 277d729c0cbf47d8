"""Refitting a model on its own rows: another formula, or ML instead of REML.

Comparisons refit models (lme4's ``anova`` refits REML fits by ML; lmerTest's ``ranova``
fits each reduced model). The refit keeps what the formula does not say: the rows used
(the model frame, so that every model sees the same observations), the prior weights, the
residual structure and the variance function.
"""

from __future__ import annotations

import warnings
from typing import Any

from .errors import ArgumentTypeError, RankDeficiencyWarning, SingularFitWarning
from .fit import gls, lmer
from .formula import parse
from .results import LmerResult
from .validate import check_bool

__all__ = ["refit"]


def refit(
    fit: LmerResult, formula: str | None = None, *, reml: bool | None = None, quiet: bool = True
) -> LmerResult:
    """Fit ``formula`` (by default the fit's own) to the rows ``fit`` used.

    Parameters
    ----------
    fit
        The model whose rows, weights, residual structure and variance function are kept.
    formula
        The new formula; with random terms it is fitted by ``lmer``, without by ``gls``.
    reml
        REML or ML; by default as ``fit``.
    quiet
        Silence singular-fit and rank-deficiency warnings (a reduced model is often
        singular); convergence warnings still show.

    Returns
    -------
    LmerResult

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    >>> round(refit(fit, "Yield ~ 1").loglik, 4)  # R: logLik(lm(Yield ~ 1), REML = TRUE)
    -163.0116
    """
    if not isinstance(fit, LmerResult):
        raise ArgumentTypeError(f"refit takes an lmer or gls fit, got {type(fit).__name__}.")
    check_bool("quiet", quiet)
    formula = fit.formula if formula is None else formula
    reml = fit.reml if reml is None else check_bool("reml", reml)
    structures: dict[str, Any] = {}
    model = fit._residual
    if model is not None:
        if model.residual is not None:
            structures["residual"] = model.residual.structure
        if model.variance is not None:
            structures["variance"] = model.variance.function
    fn = lmer if parse(formula).random else gls
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", SingularFitWarning)
            warnings.simplefilter("ignore", RankDeficiencyWarning)
        return fn(
            formula,
            fit._frame.data,
            reml=reml,
            weights=fit._frame.weights,
            data_name=fit.data_name,
            **structures,
        )
