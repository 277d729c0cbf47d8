"""Responses simulated from a fitted model, as lme4's ``simulate.merMod``.

A simulated response is

    y* = X β̂ + offset + Z b* + e*

where, by default (R's ``re.form = NA``, ``use.u = FALSE``), b* = σ̂ Λ(θ̂) u with new
u ~ N(0, I) (new random effects from the fitted covariance), and with ``re_form=None``
(R's ``re.form = NULL``, ``use.u = TRUE``) b* is the fit's conditional modes. The residuals
e* are drawn from the fitted residual covariance: N(0, σ̂²/w) with prior weights w, and with
a residual structure or variance function σ̂² K_i for each subject i (nlme's marginal
model), drawn through the Cholesky factor of K_i.

lme4 1.1-31 ignores prior weights here (its residuals are N(0, σ̂²) whatever the weights);
the weighted model says σ̂²/w, which is what is drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmeformula.errors import ArgumentTypeError
from lmeformula.results.lmer import LmerResult
from lmeformula.validate import is_fixed_only

__all__ = ["draw_responses", "simulate"]


def _use_modes(re_form: Any, use_u: bool | None) -> bool:
    """Whether to condition on the conditional modes, from R's two spellings."""
    if use_u is not None:
        if not isinstance(use_u, bool):
            raise ArgumentTypeError(f"use_u must be True or False, got {use_u!r}.")
        if re_form != "~0":
            raise ArgumentTypeError(
                "give only one of use_u= and re_form= (as lme4's simulate): use_u=True is "
                "re_form=None, use_u=False is re_form='~0'."
            )
        return use_u
    return not is_fixed_only(re_form)


def check_nsim(nsim: Any) -> int:
    if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise ArgumentTypeError(f"nsim must be a positive integer, got {nsim!r}.")
    return int(nsim)


def _rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as err:
        raise ArgumentTypeError(
            f"seed must be None, an integer, a numpy SeedSequence or Generator, got {seed!r}."
        ) from err


def _residual_draws(result: LmerResult, rng: np.random.Generator, nsim: int) -> np.ndarray:
    """σ̂ e for nsim responses: (n, nsim)."""
    d = result.state.design
    n = len(d.y)
    z = rng.standard_normal((n, nsim))
    model = result.state.residual
    if model is None:
        w = d.weights
        return result.sigma * (z if w is None else z / np.sqrt(w)[:, None])
    par = result.state.residual_params
    if model.residual is None:
        # Variance functions and weights only: independent rows.
        return result.sigma * model.row_sd(par)[:, None] * z
    # One subject's rows at a time, stacked by size: K_i = C_i C_i', e_i = C_i z_i.
    codes = model.residual.codes
    out = np.empty((n, nsim))
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    sizes = np.diff(np.r_[starts, n])
    for m in np.unique(sizes):
        rows = order[starts[sizes == m][:, None] + np.arange(m)]
        C = np.linalg.cholesky(model.cov(par, rows))
        out[rows] = C @ z[rows]
    return result.sigma * out


def _draw_glmm(fit: Any, rng: np.random.Generator, nsim: int, use_modes: bool) -> np.ndarray:
    """A glmer fit's responses: η from new random effects b* = Λ(θ̂)u (or the conditional
    modes), then each row drawn from the family at μ = g⁻¹(η), on the scale the model
    reads it (a binomial's proportion of its trials)."""
    d = fit.state.design
    eta = d.X @ fit.state.beta + d.offset
    if use_modes:
        eta = eta + np.asarray(d.Z @ fit.state.b).ravel()
    eta = np.repeat(eta[:, None], nsim, axis=1)
    if not use_modes and d.terms:
        u = rng.standard_normal((d.Z.shape[1], nsim))
        eta = eta + np.asarray(fit.state.Z_Lambda @ u)
    family = fit.family
    wt = d.weights if d.weights is not None else np.ones(d.y.size)
    trials = fit.state.model.trials
    dispersion = fit.sigma**2
    out = np.empty_like(eta)
    for k in range(nsim):
        out[:, k] = family.draw(family.link.inverse(eta[:, k]), wt, trials, dispersion, rng)
    return out


def draw_responses(
    result: LmerResult, rng: np.random.Generator, nsim: int = 1, use_modes: bool = False
) -> np.ndarray:
    """nsim simulated responses as an (n, nsim) array (see the module docstring; a glmer
    fit's are drawn from its family).

    The draws come in a fixed order (random effects, then residuals), so a generator in
    the same state gives the same responses.
    """
    if getattr(result, "family", None) is not None:
        return _draw_glmm(result, rng, nsim, use_modes)
    d = result.state.design
    reff: Any = 0.0
    if use_modes:
        mean = result.fitted()
    else:
        mean = d.X @ result.state.beta + d.offset
        if d.terms:
            u = rng.standard_normal((d.Z.shape[1], nsim))
            reff = result.sigma * np.asarray(result.state.Z_Lambda @ u)
    return mean[:, None] + reff + _residual_draws(result, rng, nsim)


def simulate(
    result: LmerResult,
    nsim: int = 1,
    seed: Any = None,
    re_form: Any = "~0",
    use_u: bool | None = None,
) -> pd.DataFrame:
    """Responses simulated from the fitted model, as lme4's ``simulate(m, nsim, seed)``.

    See :meth:`lmeformula.LmerResult.simulate`.
    """
    nsim = check_nsim(nsim)
    use_modes = _use_modes(re_form, use_u)
    sims = draw_responses(result, _rng(seed), nsim, use_modes)
    return pd.DataFrame(
        sims, index=result.state.frame.data.index, columns=[f"sim_{i + 1}" for i in range(nsim)]
    )
