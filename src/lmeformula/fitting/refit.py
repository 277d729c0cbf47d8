"""Refitting a model: on its own rows with another formula or criterion (lme4's
``update``), or to a new response (lme4's ``refit(m, newresp)``).

Comparisons refit models (lme4's ``anova`` refits REML fits by ML; lmerTest's ``ranova``
fits each reduced model). Such a refit keeps what the formula does not say: the rows used
(the model frame, so that every model sees the same observations), the prior weights, the
residual structure and the variance function.

A bootstrap replicate, a simulation study or a profile over a fixed effect fits the same
model (formula, REML or ML, weights, structures) to another response. Nothing about the
model changes but y, so nothing is parsed or built again: the engine is made once from the
fit's model (:func:`lmeformula.engines.factory.make_engine`), and each new response reuses
its cross-products of X and Z (``engine.with_response(y)``), then BOBYQA starts from the
fit's estimates, as lme4's ``refit`` does.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from lmeformula.engines.factory import make_engine
from lmeformula.engines.protocol import Engine
from lmeformula.engines.threads import blas_threads
from lmeformula.errors import ArgumentTypeError, RankDeficiencyWarning, SingularFitWarning
from lmeformula.fitting.api import gls, lmer
from lmeformula.fitting.stages import make_result, optimize
from lmeformula.formula import parse
from lmeformula.results.lmer import LmerResult
from lmeformula.validate import check_bool

__all__ = ["refit", "refit_response"]


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
    model = fit.state.residual
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
            fit.state.frame.data,
            reml=reml,
            weights=fit.state.frame.weights,
            data_name=fit.data_name,
            **structures,
        )


def refit_response(
    result: LmerResult,
    y: Any,
    *,
    engine: Engine | None = None,
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
    engine
        The fit's engine (``make_engine(fit.state.model)``), when refitting many responses
        (it is then built once).
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
    state = result.state
    new = (make_engine(state.model) if engine is None else engine).with_response(y)
    # One BLAS context for the optimisation and the results (each would enter its own).
    with blas_threads(new.largest_dense_block):
        optinfo = optimize(new, start=state.params if start is None else start, optimizer="refit")
        model = state.model
        response = (model.parsed.response or "").strip("`")
        frame = model.frame
        if response in frame.columns.columns:
            frame = frame.with_column(response, new.design.y)
        model = replace(model, frame=frame, design=new.design)
        fit = make_result(model, new, optinfo, data_name=result.data_name)
    assert isinstance(fit, LmerResult)
    return fit
