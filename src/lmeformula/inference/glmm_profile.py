"""Likelihood profiles of a generalized mixed model, as lme4's ``profile(glmerMod)``.

The parameters are the random effects' standard deviations and correlations (``.sig01``,
...; on the linear predictor's scale, σ = 1) and the fixed effects. For one of them held
at x, the Laplace (or quadrature) deviance is minimised over all the others by BOBYQA,
started from the previous point's, and ζ(x) = sign(x - x̂) √(d(x) - d̂). The points are
stepped as lme4 steps them (:class:`lmeformula.inference.profile.ProfileWalk`); intervals
read x(±z) off the interpolating spline (:func:`lmeformula.inference.profile.profile_confint`).
glmer.nb's θ is held at its estimate, as lme4 profiles the last glmer of ``glmer.nb``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from lmeformula.engines.factory import make_engine
from lmeformula.engines.threads import blas_threads
from lmeformula.errors import ArgumentTypeError, NotExpressibleError
from lmeformula.families import NegativeBinomial
from lmeformula.fitting.optimize import bobyqa_minimize
from lmeformula.fitting.progress import check_progress, progress_bar
from lmeformula.inference.profile import ProfileWalk, profile_table, select_parameters
from lmeformula.results.glmer import GlmerResult
from lmeformula.results.varpar import sdcor_bounds, sdcor_names, sdcor_to_theta, theta_to_sdcor

__all__ = ["glmm_profile"]


def _variance_names(fit: GlmerResult) -> tuple[list[str], np.ndarray, np.ndarray]:
    design = fit.state.design
    names = sdcor_names(design)
    low, up = sdcor_bounds(design)
    # The last entry is σ's; a glmer fit without a dispersion has none to profile.
    return names[:-1], np.asarray(low)[:-1], np.asarray(up)[:-1]


def glmm_profile(
    fit: GlmerResult,
    which: Any = None,
    alphamax: float = 0.01,
    maxpts: int = 100,
    delta: float | None = None,
    delta_cutoff: float = 1 / 8,
    maxmult: float = 10.0,
    progress: bool | None = None,
) -> pd.DataFrame:
    """The likelihood profile of a glmer fit (see the module).

    Returns
    -------
    pandas.DataFrame
        As :meth:`lmeformula.LmerResult.profile`: ``parameter, value, zeta`` and every
        parameter's value along the profile.
    """
    if not isinstance(fit, GlmerResult):
        raise ArgumentTypeError(f"expected a glmer fit, got {type(fit).__name__}.")
    if fit.family.has_dispersion:
        raise NotExpressibleError(
            f"likelihood profiles of a {fit.family.name} glmer fit (a family with a "
            "dispersion) are not available; use confint(method='Wald')."
        )
    if fit.nagq == 0:
        raise NotExpressibleError(
            "a fit with nagq=0 has no likelihood in β to profile; refit with nagq=1."
        )
    if isinstance(maxpts, bool) or not isinstance(maxpts, (int, np.integer)) or maxpts < 3:
        raise ArgumentTypeError(f"maxpts must be an integer of at least 3, got {maxpts!r}.")
    progress = check_progress(progress)
    state = fit.state
    model = state.model
    family = fit.family
    if isinstance(family, NegativeBinomial):
        model = replace(model, family=replace(family, estimated=False))
    engine = make_engine(model, fast=False)
    layout, design = engine.layout, model.design
    vnames, vlow, vup = _variance_names(fit)
    nvp = len(vnames)
    names = vnames + list(design.fixed_names)
    opt = np.r_[theta_to_sdcor(design, fit.theta, 1.0), fit.fixef.to_numpy()]
    lower = np.r_[vlow, np.full(len(fit.fixef), -np.inf)]
    upper = np.r_[vup, np.full(len(fit.fixef), np.inf)]

    def deviance(x: np.ndarray) -> float:
        if not np.all(np.isfinite(x)):
            return np.inf
        theta = sdcor_to_theta(design, x[:nvp], 1.0)
        return engine.deviance(layout.join(theta=theta, beta=x[nvp:]))

    base = deviance(opt)
    ntot = opt.size
    cutoff = float(np.sqrt(stats.chi2.ppf(1 - alphamax, ntot)))
    walk = ProfileWalk(
        cutoff, cutoff * delta_cutoff if delta is None else float(delta), maxmult, ntot
    )
    stderr = np.r_[np.full(nvp, np.nan), fit.fixef_se.to_numpy()]
    lowest = [0.0]

    def profile_one(w: int) -> np.ndarray:
        free = np.array([i for i in range(ntot) if i != w], dtype=int)
        est = opt[w]

        def zeta(xx: float, start: np.ndarray) -> np.ndarray:
            start = np.asarray(start, dtype=float)
            s0 = start[free] if np.all(np.isfinite(start)) else opt[free]

            def fn(x: np.ndarray) -> float:
                par = np.empty(ntot)
                par[w] = xx
                par[free] = x
                return deviance(par)

            par = np.empty(ntot)
            par[w] = xx
            try:
                x, fval, _ = bobyqa_minimize(fn, s0, lower[free], upper[free])
                if not np.isfinite(fval):
                    raise FloatingPointError("the deviance is not finite here")
            except Exception:  # lme4 records a failed optimisation as NA and goes on
                walk.notes.append(f"{names[w]}: the optimisation failed at {xx:.6g}")
                row = np.full(1 + ntot, np.nan)
                row[1 + w] = xx
                return row
            par[free] = x
            diff = fval - base
            lowest[0] = min(lowest[0], diff)
            return np.r_[np.sign(xx - est) * np.sqrt(max(diff, 0.0)), par]

        res = np.tile(np.r_[0.0, opt], (maxpts, 1))
        pres, nres = res.copy(), res.copy()
        if w < nvp:
            first = 0.001 if est == 0 else est * 1.01
            lowcut, upcut = lower[w], upper[w]
        else:
            first = est + walk.delta * stderr[w]
            lowcut, upcut = -np.inf, np.inf
        nres[0] = pres[1] = zeta(first, opt)
        up = walk.fill(pres, lowcut, upcut, zeta, w + 1, names[w])
        down = walk.fill(nres, lowcut, upcut, zeta, w + 1, names[w]) if est > lowcut else nres
        return walk.collect(up, down, w + 1)

    idx = select_parameters(which, names, nvp)
    largest = max((t.q for t in design.terms[1:]), default=0)
    profiled = []
    with (
        blas_threads(largest),
        progress_bar(len(idx), "profile", progress, unit="parameter") as bar,
    ):
        for i in idx:
            profiled.append((i, profile_one(i)))
            bar.update(1)
    return profile_table(profiled, names, nvp, lower, upper, lowest[0], walk.notes)
