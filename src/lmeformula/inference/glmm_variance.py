"""The variance decomposition of a generalized mixed model, as R's performance 0.10.2
computes it for ``icc`` and ``r2_nakagawa`` (Nakagawa, Johnson & Schielzeth 2017).

On the link scale: the fixed part's variance var(Xβ), the random part's (as for a linear
mixed model, :func:`lmeformula.results.decomposition.variance_parts`), and in place of σ²
the distribution-specific variance:

- binomial: π²/3 for the logit link, 1 for probit, π²/6 for cloglog;
- Poisson with the log link: the lognormal approximation log(1 + 1/μ₀), μ₀ = exp(β₀) of
  the null model (the same random effects and offsets, fixed part an intercept), which
  performance refits, as here;
- negative binomial with the log link: log(1 + 1/μ₀ + 1/θ), the null model refitted with
  θ held at the fit's.

A random intercept with one level per observation (grouseticks' ``(1 | INDEX)``) models
overdispersion: performance counts its variance with the residual, not the random part.
"""

from __future__ import annotations

import math
import warnings

from lmeformula.errors import ArgumentTypeError
from lmeformula.families import Binomial, NegativeBinomial, Poisson, negative_binomial
from lmeformula.results.decomposition import variance_parts
from lmeformula.results.glmer import GlmerResult

__all__ = ["distribution_variance", "glmm_variance_parts", "icc", "r2"]

_BINOMIAL = {"logit": math.pi**2 / 3, "probit": 1.0, "cloglog": math.pi**2 / 6}


def _null_formula(fit: GlmerResult) -> str:
    parsed = fit.state.parsed
    response = fit.formula.split("~", 1)[0].strip()
    offsets = [f"offset({o})" for o in parsed.offsets]
    random = [f"({t.text})" for t in parsed.random]
    return f"{response} ~ " + " + ".join(["1", *offsets, *random])


def distribution_variance(fit: GlmerResult) -> float:
    """The distribution-specific variance on the link scale (see the module).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 lmf.datasets.load("cbpp"))
    >>> round(distribution_variance(fit), 4)  # pi^2 / 3
    3.2899
    """
    family, link = fit.family, fit.family.link.name
    if isinstance(family, Binomial) and link in _BINOMIAL:
        return _BINOMIAL[link]
    counts = isinstance(family, (Poisson, NegativeBinomial)) and link == "log"
    if counts:
        from lmeformula.fitting.glmm import glmer

        # The null model with the fit's family; a negative binomial's θ held at θ̂, as R's
        # update() of a glmer.nb fit keeps its family.
        null_family = (
            negative_binomial(family.theta) if isinstance(family, NegativeBinomial) else family
        )
        weights = fit.state.frame.weights
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            null = glmer(
                _null_formula(fit),
                fit.state.frame.data,
                family=null_family,
                weights=weights,
                data_name=fit.data_name,
            )
        mu0 = math.exp(float(null.fixef.iloc[0]))
        if isinstance(family, NegativeBinomial):
            return math.log1p(1.0 / mu0 + 1.0 / family.theta)
        return math.log1p(1.0 / mu0)
    raise ArgumentTypeError(
        f"the distribution-specific variance of the {family.name} family with the {link} "
        "link is not one performance defines here (binomial: logit, probit, cloglog; "
        "poisson and negative binomial: log)."
    )


def glmm_variance_parts(fit: GlmerResult) -> tuple[float, float, float]:
    """(fixed, random, residual) variances on the link scale, as performance's
    ``get_variance``: var.fixed, var.random, var.residual (see the module).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 lmf.datasets.load("cbpp"))
    >>> [round(v, 3) for v in glmm_variance_parts(fit)]
    [0.346, 0.412, 3.29]
    """
    fixed, random, _ = variance_parts(fit, "performance")
    residual = distribution_variance(fit)
    for block in fit.state.term_blocks:
        term = block.term
        if term.factor.nlevels == fit.nobs and term.p == 1:
            # An observation-level random effect: overdispersion, with the residual.
            var = float(block.rel_cov[0, 0]) * fit.sigma**2
            random -= var
            residual += var
    return fixed, random, residual


def _check(fit: object) -> GlmerResult:
    if not isinstance(fit, GlmerResult):
        raise ArgumentTypeError(f"expected a glmer fit, got {type(fit).__name__}.")
    return fit


def icc(fit: GlmerResult) -> dict[str, float]:
    """performance's ``icc``: ``adjusted`` and ``unadjusted``."""
    fixed, random, residual = glmm_variance_parts(_check(fit))
    return {
        "adjusted": random / (random + residual),
        "unadjusted": random / (fixed + random + residual),
    }


def r2(fit: GlmerResult) -> dict[str, float]:
    """performance's ``r2_nakagawa``: ``marginal`` and ``conditional``."""
    fixed, random, residual = glmm_variance_parts(_check(fit))
    total = fixed + random + residual
    return {"marginal": fixed / total, "conditional": (fixed + random) / total}
