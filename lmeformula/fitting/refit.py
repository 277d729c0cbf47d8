"""Refitting a model: on its own rows with another formula or criterion (lme4's
``update``), or to a new response (lme4's ``refit(m, newresp)``).

Comparisons refit models (lme4's ``anova`` refits REML fits by ML; lmerTest's ``ranova``
fits each reduced model). Such a refit keeps what the formula does not say: the rows used
(the model frame, so that every model sees the same observations), the prior weights, the
residual structure and the variance function.

A bootstrap replicate, a simulation study or a profile over a fixed effect fits the same
model (formula, REML or ML, weights, structures) to another response. Nothing about the
model changes but y, so nothing is parsed or built again: the engine is made once from the
fit's design (:func:`engine_for`), and each new response reuses its cross-products of X
and Z (``engine.with_response(y)``), then BOBYQA starts from the fit's θ, as lme4's
``refit`` does.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from lmeformula.engines.blocked import BlockedPLS
from lmeformula.engines.marginal import MarginalDeviance
from lmeformula.engines.solution import ProfiledDeviance
from lmeformula.errors import ArgumentTypeError, RankDeficiencyWarning, SingularFitWarning
from lmeformula.fitting.api import gls, lmer
from lmeformula.fitting.optimize import bobyqa
from lmeformula.formula import parse
from lmeformula.results.lmer import LmerResult
from lmeformula.validate import check_bool

__all__ = ["engine_for", "refit", "refit_response"]


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


def engine_for(result: LmerResult, reml: bool | None = None) -> ProfiledDeviance:
    """The engine (profiled deviance) of a fitted model, built from its design.

    Parameters
    ----------
    result
        A fitted model.
    reml
        The criterion; by default the fit's own.

    Returns
    -------
    ProfiledDeviance
        Blocked Cholesky for models without a residual model, the marginal (per-subject)
        engine otherwise, as ``lmer`` chooses.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    >>> problem = engine_for(fit)
    >>> round(problem.deviance(fit.optinfo.theta), 4) == round(fit.reml_criterion, 4)
    True
    """
    if not isinstance(result, LmerResult):
        raise ArgumentTypeError(
            f"expected a fitted model (LmerResult), got {type(result).__name__}."
        )
    reml = result.reml if reml is None else reml
    if result._residual is None:
        return BlockedPLS(result._design, reml)
    return MarginalDeviance(result._design, reml, result._residual)


def refit_response(
    result: LmerResult,
    y: Any,
    *,
    problem: ProfiledDeviance | None = None,
    start: np.ndarray | None = None,
) -> LmerResult:
    """The model refitted to a new response, reusing its design (lme4's ``refit``).

    Parameters
    ----------
    result
        The fitted model.
    y
        The new response: one finite value per row the model was fitted on (``fit.nobs``
        values, in the order of ``fit.model_frame``).
    problem
        The fit's engine from :func:`engine_for`, when refitting many responses (it is then
        built once).
    start
        Where the optimizer starts; by default the fit's estimates.

    Returns
    -------
    LmerResult
        No warnings are issued: check ``optinfo.converged`` and ``singular`` yourself
        (a bootstrap counts them). When the response is a plain column, ``model_frame``
        holds the new values; a transformed response (``log(y)``) is replaced as it
        enters the model, and ``model_frame`` keeps the old column.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    >>> shifted = refit_response(fit, fit.model_frame["Yield"] + 100)
    >>> round(float(shifted.fixef.iloc[0] - fit.fixef.iloc[0]), 6)
    100.0
    """
    y = np.asarray(y, dtype=float).ravel()
    problem = engine_for(result) if problem is None else problem
    new = problem.with_response(y)
    new.start = np.asarray(result.optinfo.theta if start is None else start, dtype=float)
    optinfo = bobyqa(new)
    frame = result._frame
    response = (result._parsed.response or "").strip("`")
    if response in frame.data.columns:
        data = frame.data.copy()
        data[response] = new.design.y
        frame = replace(frame, data=data)
    return LmerResult(
        parsed=result._parsed,
        frame=frame,
        design=new.design,
        solution=new.solve(optinfo.theta),
        reml=new.reml,
        optinfo=optinfo,
        data_name=result.data_name,
        residual_model=result._residual,
    )
