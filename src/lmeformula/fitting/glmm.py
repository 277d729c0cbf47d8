"""``glmer()``: lme4's generalized linear mixed models, the stages chained.

As lme4's ``glmer``: the model (``glFormula``), then two optimisations of the deviance
(``mkGlmerDevfun`` and ``optimizeGlmer`` twice): first θ alone with β found inside PIRLS
(nAGQ = 0), then θ and β together from there by the Laplace approximation (nAGQ = 1) or
adaptive Gauss-Hermite quadrature (nAGQ > 1), and the results object (``mkMerMod``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from lmeformula.engines.laplace import LaplaceDeviance, has_exact_gradient
from lmeformula.engines.solution import PLSSolution
from lmeformula.engines.threads import limit_blas
from lmeformula.errors import ArgumentTypeError, FormulaError
from lmeformula.families import Family, Gaussian, NegativeBinomial, as_family, negative_binomial
from lmeformula.fitting.api import check_args, data_name_of
from lmeformula.fitting.checks import warn_fit, warn_rank_deficiency
from lmeformula.fitting.optimize import scout
from lmeformula.fitting.stages import build_model, make_engine, make_result, optimize
from lmeformula.model.model import Model
from lmeformula.results.glmer import GlmerResult
from lmeformula.validate import reject_unknown

__all__ = ["fit_glmm", "glmer", "glmer_nb", "refit_glmer_response"]

_GLMER_ARGS = ("formula", "data", "family", "nagq", "weights", "offset", "data_name")


def _check_nagq(nagq: Any, model_terms: list[Any], formula: str) -> int:
    if isinstance(nagq, bool) or not isinstance(nagq, (int, np.integer)) or nagq < 0:
        raise ArgumentTypeError(f"nagq must be a whole number >= 0, got {nagq!r}.")
    nagq = int(nagq)
    # lme4: "nAGQ > 1 is only available for models with a single, scalar random-effects
    # term" (each group's integral is then one-dimensional).
    if nagq > 1 and (len(model_terms) != 1 or model_terms[0].p != 1):
        raise FormulaError(
            f"nagq={nagq} (adaptive Gauss-Hermite quadrature) needs a single scalar "
            f"random-effects term such as (1 | g); '{formula}' has "
            f"{len(model_terms)} term(s) with {sum(t.p for t in model_terms)} random "
            "effect(s) per level. Use nagq=1 (Laplace)."
        )
    return nagq


def glmer(
    formula: str,
    data: Any,
    family: Any = "binomial",
    *,
    nagq: int = 1,
    weights: Any = None,
    offset: Any = None,
    data_name: str | None = None,
    **unexpected: Any,
) -> GlmerResult:
    """Fit a generalized linear mixed model written as lme4 writes it.

    Parameters
    ----------
    formula
        An lme4 formula. The response of a binomial model may be 0/1 or logical, a
        two-level factor or string column (the first level is failure), ``cbind(successes,
        failures)``, or a proportion with ``weights=`` the number of trials.
    data
        A table as :func:`~lmeformula.lmer` takes (pandas, polars, Arrow; not modified;
        rows with missing values dropped and counted).
    family
        ``"binomial"``, ``"poisson"``, ``"Gamma"`` (or ``"gamma"``), ``"inverse.gaussian"``,
        a family of :mod:`lmeformula.families` (``lmf.families.binomial(link="probit")``) or
        a statsmodels family.
    nagq
        Quadrature points per group: 1 (the default) for the Laplace approximation, 0 for
        lme4's fast first stage only (β estimated inside PIRLS), more for adaptive
        Gauss-Hermite quadrature (one scalar random-effects term only, as lme4).
    weights
        Prior weights (a column name or one value per row); for a binomial proportion, the
        number of trials.
    offset
        An offset besides ``offset()`` terms in the formula: a column name or one value per
        row.
    data_name
        Shown after "Data:" in the summary; by default the caller's variable name.

    Returns
    -------
    GlmerResult

    Warns
    -----
    ConvergenceWarning, SingularFitWarning, RankDeficiencyWarning
        As :func:`lmeformula.lmer`.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> cbpp = lmf.datasets.load("cbpp")
    >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
    ...                 family="binomial")
    >>> fit.fixef.round(2).to_dict()  # R: fixef(glmer(...))
    {'(Intercept)': -1.4, 'period2': -0.99, 'period3': -1.13, 'period4': -1.58}
    """
    reject_unknown("glmer", unexpected, _GLMER_ARGS)
    check_args(formula, False, data_name)
    fam = as_family(family)
    if isinstance(fam, Gaussian) and fam.link.name == "identity":
        raise ArgumentTypeError(
            "family='gaussian' with the identity link is a linear mixed model: fit it with "
            "lmf.lmer(formula, data, reml=False), as lme4's glmer hands it to lmer."
        )
    name = data_name if data_name is not None else data_name_of(data)
    return _glmer(formula, data, fam, nagq, weights, offset, name)


def _glmer(
    formula: str,
    data: Any,
    fam: Family,
    nagq: Any,
    weights: Any,
    offset: Any,
    name: str | None,
) -> GlmerResult:
    with limit_blas(1):  # as lmer
        model = build_model(formula, data, reml=False, weights=weights, family=fam, offset=offset)
        nagq = _check_nagq(nagq, model.design.terms, formula)
        if nagq != model.nagq:
            model = replace(model, nagq=nagq)
        warn_rank_deficiency(model.design, stacklevel=4)
        result = fit_glmm(model, name)
        warn_fit(result, stacklevel=4)
        return result


def fit_glmm(model: Model, data_name: str | None = None) -> GlmerResult:
    """lme4's two stages on a generalized model (``glFormula``'s output): θ alone with β
    inside PIRLS (nAGQ = 0), then, unless ``model.nagq`` is 0, θ and β together from there
    by the Laplace approximation or quadrature; no warnings (see :func:`glmer`).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> from lmeformula.fitting.stages import build_model
    >>> model = build_model("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                     lmf.datasets.load("cbpp"), family=lmf.families.binomial())
    >>> round(fit_glmm(model).loglik, 2)
    -92.03
    """
    nagq = model.nagq
    name = data_name
    fast = make_engine(model, fast=True)
    # With an exact gradient the second stage's Newton steps need only a rough start.
    assert model.family is not None
    rough = nagq > 0 and has_exact_gradient(model.design, model.family, nagq)
    warm: PLSSolution | None = None
    if rough:
        assert isinstance(fast, LaplaceDeviance)
        fast.rough = True
        first = scout(fast)
        # The scout's last run, remembered where it ended there: the second stage's Newton
        # steps start from its modes as well as from a run to full precision.
        warm = fast.solve(first.par)
        fast.rough = False
    else:
        first = optimize(fast)
    if nagq == 0:
        engine, optinfo = fast, first
    else:
        if warm is None:
            warm = fast.solve(first.par)
        engine = make_engine(model, fast=False, warm=warm, share=fast)
        parts = {name: fast.layout.get(first.par, name) for name in fast.layout.names}
        start = engine.layout.join(**parts, beta=warm.beta)
        assert isinstance(engine, LaplaceDeviance)
        optinfo = optimize(engine, start=start, optimizer="newton", curvature=engine.beta_curvature)
    result = make_result(model, engine, optinfo, data_name=name)
    assert isinstance(result, GlmerResult)
    return result


def refit_glmer_response(fit: GlmerResult, y: Any) -> GlmerResult:
    """A glmer fit refitted to a new response on the scale the model reads it (a
    binomial's proportions of the same trials), as lme4's ``refit``; no warnings.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 lmf.datasets.load("cbpp"))
    >>> again = refit_glmer_response(fit, fit.state.y)
    >>> abs(again.loglik - fit.loglik) < 1e-6
    True
    """
    model = fit.state.model
    y = np.asarray(y, dtype=float).ravel()
    return fit_glmm(replace(model, design=model.design.with_response(y)), fit.data_name)


_GLMER_NB_ARGS = ("formula", "data", "link", "nagq", "weights", "offset", "data_name")


def glmer_nb(
    formula: str,
    data: Any,
    *,
    link: str = "log",
    nagq: int = 1,
    weights: Any = None,
    offset: Any = None,
    data_name: str | None = None,
    **unexpected: Any,
) -> GlmerResult:
    """Fit a negative binomial mixed model with its θ estimated, as lme4's ``glmer.nb``.

    The variance is μ + μ²/θ. lme4 alternates glmer fits at fixed θ with a search over θ;
    here θ (on the log scale) is one more parameter of the same optimisation, which ends
    at the same maximum. ``fit.family.theta`` is θ̂, as ``getME(m, "glmer.nb.theta")``.

    Parameters
    ----------
    formula, data, nagq, weights, offset, data_name
        As :func:`glmer`.
    link
        ``"log"`` (default), ``"sqrt"`` or ``"identity"``.

    Returns
    -------
    GlmerResult

    Examples
    --------
    >>> import lmeformula as lmf
    >>> ticks = lmf.datasets.load("grouseticks")
    >>> fit = lmf.glmer_nb("TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)", ticks)
    >>> round(fit.family.theta, 2)  # R: getME(glmer.nb(...), "glmer.nb.theta")
    2.05
    """
    reject_unknown("glmer_nb", unexpected, _GLMER_NB_ARGS)
    check_args(formula, False, data_name)
    fam = negative_binomial(1.0, link=link)
    assert isinstance(fam, NegativeBinomial)
    fam = replace(fam, estimated=True)
    name = data_name if data_name is not None else data_name_of(data)
    return _glmer(formula, data, fam, nagq, weights, offset, name)
