"""Likelihood profiles of a generalized mixed model, as lme4's ``profile(glmerMod)``.

The parameters are the random effects' standard deviations and correlations (``.sig01``,
...; on the linear predictor's scale, σ = 1) and the fixed effects. For one of them held
at x, the Laplace (or quadrature) deviance is minimised over all the others, started
from the previous point's: by L-BFGS-B with the exact gradient where the Laplace deviance
has one (canonical links), else by BOBYQA as lme4; ζ(x) = sign(x - x̂) √(d(x) - d̂). The
points are stepped as lme4 steps them (:class:`lmeformula.inference.profile.ProfileWalk`); intervals
read x(±z) off the interpolating spline (:func:`lmeformula.inference.profile.profile_confint`).
glmer.nb's θ is held at its estimate, as lme4 profiles the last glmer of ``glmer.nb``.

A family with a dispersion (Gamma, inverse.gaussian, gaussian with a link), which lme4
refuses to profile ("can't (yet) profile GLMMs with non-fixed scale parameters"): its
Laplace deviance is lme4's, a function of (θ, β) with the dispersion profiled out, so the
same walk applies. The standard deviations are on VarCorr's scale, θ σ̂ with the fit's
σ̂ held; σ̂ itself, a moment estimate rather than a parameter of that deviance, is not
profiled (no ``.sigma`` row).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg as la
from scipy import stats

from lmeformula.engines.factory import make_engine
from lmeformula.engines.threads import blas_threads
from lmeformula.errors import ArgumentTypeError, NotExpressibleError
from lmeformula.families import NegativeBinomial
from lmeformula.fitting.optimize import bobyqa_minimize, gradient_minimize
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


class _BetaScale:
    """The free fixed effects in the coordinates of their Wald covariance's Cholesky factor.

    Fixed effects on unlike scales (age and age², an uncentred intercept) make the
    deviance's Hessian ill-conditioned, and a quasi-Newton method then takes hundreds of
    steps per profile point (Contraception: ~200). In z = C⁻¹(β - β̂), with C Cholesky of
    vcov(β), the Hessian's β block is about 2 I. The variance parameters keep their box.
    """

    def __init__(self, is_beta: np.ndarray, centre: np.ndarray, vcov: np.ndarray, idx: np.ndarray):
        self.is_beta = is_beta
        self.centre = centre[is_beta]
        try:
            self.chol = np.linalg.cholesky(vcov[np.ix_(idx, idx)])
        except np.linalg.LinAlgError:  # a rank-deficient vcov: plain coordinates
            self.chol = np.eye(idx.size)

    def to_x(self, z: np.ndarray) -> np.ndarray:
        x = np.array(z, dtype=float)
        x[self.is_beta] = self.centre + self.chol @ z[self.is_beta]
        return x

    def to_z(self, x: np.ndarray) -> np.ndarray:
        z = np.array(x, dtype=float)
        z[self.is_beta] = la.solve_triangular(self.chol, x[self.is_beta] - self.centre, lower=True)
        return z

    def gradient(self, gx: np.ndarray) -> np.ndarray:
        g = np.array(gx, dtype=float)
        g[self.is_beta] = self.chol.T @ gx[self.is_beta]
        return g

    def bounds(self, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.array(lower, dtype=float), np.array(upper, dtype=float)
        lo[self.is_beta], hi[self.is_beta] = -np.inf, np.inf
        return lo, hi


def _sdcor_jacobian(
    design: Any, sdcor: np.ndarray, low: np.ndarray, up: np.ndarray, sigma: float
) -> np.ndarray:
    """d θ / d (σ, ρ) by central differences (one-sided at a bound) of the closed-form map."""
    base = sdcor_to_theta(design, sdcor, sigma)
    jac = np.empty((base.size, sdcor.size))
    for i in range(sdcor.size):
        h = 1e-7 * max(1.0, abs(sdcor[i]))
        hi = min(sdcor[i] + h, up[i])
        lo = max(sdcor[i] - h, low[i])
        a, b = sdcor.copy(), sdcor.copy()
        a[i], b[i] = hi, lo
        step = sdcor_to_theta(design, a, sigma) - sdcor_to_theta(design, b, sigma)
        jac[:, i] = step / (hi - lo)
    return jac


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
    # The standard deviations on VarCorr's scale, θ σ̂ (σ̂ = 1 without a dispersion).
    sigma = fit.sigma
    nvp = len(vnames)
    names = vnames + list(design.fixed_names)
    opt = np.r_[theta_to_sdcor(design, fit.theta, sigma), fit.fixef.to_numpy()]
    lower = np.r_[vlow, np.full(len(fit.fixef), -np.inf)]
    upper = np.r_[vup, np.full(len(fit.fixef), np.inf)]

    def deviance(x: np.ndarray) -> float:
        if not np.all(np.isfinite(x)):
            return np.inf
        theta = sdcor_to_theta(design, x[:nvp], sigma)
        return engine.deviance(layout.join(theta=theta, beta=x[nvp:]))

    def gradient(x: np.ndarray) -> np.ndarray | None:
        theta = sdcor_to_theta(design, x[:nvp], sigma)
        g = engine.gradient(layout.join(theta=theta, beta=x[nvp:]))
        if g is None:
            return None
        # The chain rule through (σ, ρ) -> θ, whose Jacobian costs no deviance.
        jac = _sdcor_jacobian(design, x[:nvp], vlow, vup, sigma)
        return np.r_[jac.T @ layout.get(g, "theta"), layout.get(g, "beta")]

    base = deviance(opt)
    # Where the Laplace deviance has its exact gradient (canonical links), each profile
    # point is minimised by L-BFGS-B from the last (BOBYQA where that fails), as fits are.
    exact = gradient(opt) is not None
    ntot = opt.size
    cutoff = float(np.sqrt(stats.chi2.ppf(1 - alphamax, ntot)))
    walk = ProfileWalk(
        cutoff, cutoff * delta_cutoff if delta is None else float(delta), maxmult, ntot
    )
    stderr = np.r_[np.full(nvp, np.nan), fit.fixef_se.to_numpy()]
    lowest = [0.0]

    vcov = np.asarray(fit.vcov, dtype=float)

    def profile_one(w: int) -> np.ndarray:
        free = np.array([i for i in range(ntot) if i != w], dtype=int)
        est = opt[w]
        scale = _BetaScale(free >= nvp, opt[free], vcov, free[free >= nvp] - nvp)

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

            def fn_z(z: np.ndarray) -> float:
                return fn(scale.to_x(z))

            def grad_z(z: np.ndarray) -> np.ndarray | None:
                par = np.empty(ntot)
                par[w] = xx
                par[free] = scale.to_x(z)
                g = gradient(par)
                return None if g is None else scale.gradient(g[free])

            try:
                found = None
                if exact:
                    lo, hi = scale.bounds(lower[free], upper[free])
                    found = gradient_minimize(fn_z, grad_z, scale.to_z(s0), lo, hi)
                    if found is not None:
                        found = (scale.to_x(found[0]), found[1], found[2])
                        # On a bound (ρ = ±1, σ = 0) L-BFGS-B's projected gradient can
                        # vanish short of the minimum (cbpp's slope model at σ₀ = 0.05:
                        # 2.7e-4 above it): BOBYQA goes on from there, the better end kept.
                        if np.any(
                            (found[0] <= lower[free] + 1e-8) | (found[0] >= upper[free] - 1e-8)
                        ):
                            # ... and from the start, as without a gradient: never worse
                            # than BOBYQA alone at such a point.
                            polished = bobyqa_minimize(fn, found[0], lower[free], upper[free])
                            plain = bobyqa_minimize(fn, s0, lower[free], upper[free])
                            found = min(found, polished, plain, key=lambda f: f[1])
                if found is None:
                    found = bobyqa_minimize(fn, s0, lower[free], upper[free])
                x, fval, _ = found
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
