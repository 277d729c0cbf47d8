"""Likelihood profiles and profile confidence intervals, as lme4's ``profile.merMod`` and
``confint.thpr``.

lme4 profiles the *maximum-likelihood* fit (a REML fit is refitted by ML first: its
``devfun2`` calls ``refitML``). Parameters are the standard deviations and correlations of
the random effects (``.sig01``, ...), σ (``.sigma``) and the fixed effects. For one
parameter held at a value x, the others are optimised and

    ζ(x) = sign(x - x̂) √(d(x) - d̂)

with d the ML deviance (-2 log L). For a variance parameter d is lme4's ``devfun2``: the
deviance at given standard deviations, correlations and σ, with β at its conditional
optimum; BOBYQA optimises the other variance parameters. For a fixed effect β_j the model
is refitted with β_j x_j as an offset (the profiled ML deviance, optimised over θ).

The points are placed as lme4 places them: from the optimum outwards in steps of
Δζ ≈ cutoff / 8, cutoff = √χ²_{1-α_max}(number of parameters), extrapolating the last
two points' slope (``nextpar``), until |ζ| exceeds the cutoff or a bound is reached. The
interval at level 1 - α reads x(±z_{α/2}) off the inverse of the interpolating spline
(:mod:`.splines`); where the profile does not reach z_{α/2} the bound is the parameter's
bound (0 for a standard deviation, ±1 for a correlation).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as la
from scipy import stats

from lmeformula.engines.factory import make_engine
from lmeformula.engines.protocol import GaussianEngine
from lmeformula.engines.solution import deviance_at_sigma
from lmeformula.engines.threads import blas_threads
from lmeformula.errors import ArgumentTypeError, NotExpressibleError, ProfileWarning
from lmeformula.fitting.optimize import bobyqa, bobyqa_minimize
from lmeformula.fitting.progress import check_progress, progress_bar
from lmeformula.inference.splines import back_spline, interp_spline
from lmeformula.model.model import Model
from lmeformula.results.lmer import LmerResult
from lmeformula.results.memo import once_per_fit
from lmeformula.results.varpar import sdcor_bounds, sdcor_names, sdcor_to_theta, theta_to_sdcor

__all__ = ["ProfileWalk", "profile", "profile_confint", "profile_table", "select_parameters"]


def check_profilable(result: LmerResult) -> None:
    """Refuse what lme4 cannot profile either, with what to do instead."""
    if not isinstance(result, LmerResult):
        raise ArgumentTypeError(
            f"expected a fitted model (LmerResult), got {type(result).__name__}."
        )
    if result.state.residual is not None or not result.state.design.terms:
        raise NotExpressibleError(
            "likelihood profiles are available for lmer models without a residual structure, "
            "variance function or gls form (as lme4's profile); use confint(method='boot') "
            "or confint(method='wald') for this model."
        )


@dataclass
class _MLFit:
    """The ML fit that lme4's profile works from (``refitML``)."""

    model: Model
    problem: GaussianEngine
    theta: np.ndarray
    sigma: float
    stderr: np.ndarray
    base: float
    opt: np.ndarray  # [sdcor..., sigma, beta...]
    names: list[str]
    nvp: int
    lower: np.ndarray
    upper: np.ndarray


def _ml_fit(result: LmerResult) -> _MLFit:
    design = result.state.design
    problem = make_engine(result.state.model, reml=False)
    assert isinstance(problem, GaussianEngine)
    theta = np.asarray(result.theta, dtype=float)
    if result.reml:
        theta = bobyqa(problem, start=theta).par
    sol = problem.solve(theta)
    p = len(sol.beta)
    rinv = la.solve_triangular(sol.RX, np.eye(p)) if p else np.zeros((0, 0))
    stderr = sol.sigma * np.sqrt(np.sum(rinv**2, axis=1))
    var_names = sdcor_names(design)
    low, up = sdcor_bounds(design)
    opt = np.r_[theta_to_sdcor(design, theta, sol.sigma), sol.sigma, sol.beta]
    return _MLFit(
        model=result.state.model,
        problem=problem,
        theta=theta,
        sigma=sol.sigma,
        stderr=stderr,
        base=sol.deviance,
        opt=opt,
        names=var_names + list(design.fixed_names),
        nvp=len(var_names),
        lower=np.r_[low, np.full(p, -np.inf)],
        upper=np.r_[up, np.full(p, np.inf)],
    )


def select_parameters(which: Any, names: Sequence[str], nvp: int) -> list[int]:
    """lme4's ``get.which``: parameter positions from names, positions, ``"theta_"`` (the
    variance parameters) or ``"beta_"`` (the fixed effects); None for all."""
    if which is None:
        return list(range(len(names)))
    items = [which] if isinstance(which, (str, int, np.integer)) else list(which)
    out: set[int] = set()
    for item in items:
        if isinstance(item, str):
            if item == "theta_":
                out.update(range(nvp))
            elif item == "beta_":
                out.update(range(nvp, len(names)))
            elif item in names:
                out.add(list(names).index(item))
            else:
                raise ArgumentTypeError(
                    f"{item!r} is not a parameter of this model; use one of {list(names)}, "
                    "'theta_' (all variance parameters) or 'beta_' (all fixed effects)."
                )
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= item < len(names):
                raise ArgumentTypeError(
                    f"parameter position {item} is out of range: the model has {len(names)} "
                    f"parameters ({list(names)}), counted from 0."
                )
            out.add(int(item))
        else:
            raise ArgumentTypeError(
                f"parameters are given by name or position, got {type(item).__name__}."
            )
    return sorted(out)


class ProfileWalk:
    """lme4's stepping along one parameter's profile (``nextpar``, ``fillmat``): from the
    optimum outwards in steps of Δζ ≈ ``delta``, extrapolating the last two points' slope,
    until |ζ| passes ``cutoff`` or a bound is reached. Rows of the matrices it fills are
    ``[ζ, parameters...]``; ``zetafun(x, start)`` gives the row at x, started from the
    previous row's parameters ``start``."""

    def __init__(self, cutoff: float, delta: float, maxmult: float, nvp: int) -> None:
        self.cutoff = cutoff
        self.delta = delta
        self.maxmult = maxmult
        self.nvp = nvp
        self.notes: list[str] = []

    def nextpar(
        self, mat: np.ndarray, cc: int, r: int, lower: float, upper: float, name: str
    ) -> float:
        """The next value of the parameter in column ``cc`` after row ``r``."""
        pvals = mat[[r - 1, r], cc]
        zeta = mat[[r - 1, r], 0]
        num = pvals[1] - pvals[0]
        denom = zeta[1] - zeta[0]
        minstep = 1e-6
        if np.isnan(denom) or denom == 0:
            self.notes.append(f"{name}: last two points have equal or NaN zeta; used minstep")
            step = minstep
        else:
            step = self.delta * num / denom
            if step < 0:
                self.notes.append(f"{name}: unexpected decrease in the profile; used minstep")
                step = minstep
            else:
                maxstep = abs(self.maxmult * num)
                if abs(step) > maxstep:
                    step = np.sign(step) * maxstep
        return float(min(upper, max(lower, pvals[1] + np.sign(num) * step)))

    def fill(
        self,
        mat: np.ndarray,
        lowcut: float,
        upcut: float,
        zetafun: Callable[[float, np.ndarray], np.ndarray],
        cc: int,
        name: str,
    ) -> np.ndarray:
        """Rows from the second on, until the cutoff, a bound or the last row."""
        nr = mat.shape[0]
        i = 1
        while i < nr - 1 and lowcut < mat[i, cc] < upcut:
            z = abs(mat[i, 0])
            if not (np.isnan(z) or z <= self.cutoff):
                break
            x = self.nextpar(mat, cc, i, lowcut, upcut, name)
            mat[i + 1] = zetafun(x, mat[i, 1 : 1 + self.nvp])
            i += 1
        return mat

    @staticmethod
    def collect(upper: np.ndarray, lower: np.ndarray, cc: int) -> np.ndarray:
        """Both directions' rows, once each, sorted by the parameter."""
        seen: dict[bytes, np.ndarray] = {}
        for row in np.vstack([upper, lower]):
            seen.setdefault(row.tobytes(), row)
        rows = np.array(list(seen.values()))
        return rows[np.argsort(rows[:, cc], kind="stable")]


class _Profiler:
    """lme4's profile of one ML fit (:class:`ProfileWalk` steps it)."""

    def __init__(
        self,
        ml: _MLFit,
        alphamax: float,
        maxpts: int,
        delta: float | None,
        delta_cutoff: float,
        maxmult: float,
    ) -> None:
        self.ml = ml
        self.nptot = ml.opt.size
        cutoff = float(np.sqrt(stats.chi2.ppf(1 - alphamax, self.nptot)))
        self.walk = ProfileWalk(
            cutoff, cutoff * delta_cutoff if delta is None else float(delta), maxmult, ml.nvp
        )
        self.notes = self.walk.notes
        self.maxpts = maxpts
        self.min_devdiff = 0.0
        problem, design = ml.problem, ml.problem.design
        n = design.y.size

        def solve(pars: np.ndarray) -> Any:
            sigma = pars[-1]
            theta = sdcor_to_theta(design, pars[:-1], sigma)
            return problem.solve(theta)

        def devfun2(pars: np.ndarray) -> float:
            # The ML deviance at given standard deviations, correlations and σ, with β at
            # its conditional optimum (lme4's devfun2).
            sigma = pars[-1]
            if not sigma > 0 or not np.all(np.isfinite(pars)):
                return np.inf
            try:
                crit = problem.criteria(sdcor_to_theta(design, pars[:-1], sigma))
            except (la.LinAlgError, np.linalg.LinAlgError):
                return np.inf
            return deviance_at_sigma(crit.ml_deviance, crit.pwrss, n, sigma)

        self.solve = solve
        self.devfun2 = devfun2

    def _failed(self, k: int, value: float) -> np.ndarray:
        row = np.full(1 + self.nptot, np.nan)
        row[1 + k] = value
        return row

    def variance(self, w: int) -> np.ndarray:
        ml = self.ml
        nvp = ml.nvp
        free = np.array([i for i in range(nvp) if i != w], dtype=int)
        pw = ml.opt[w]
        lowcut, upcut = ml.lower[w], ml.upper[w]
        name = ml.names[w]

        def zeta(xx: float, start: np.ndarray) -> np.ndarray:
            start = np.asarray(start, dtype=float)[free] if start.size == nvp else start
            if not np.all(np.isfinite(start)):
                start = ml.opt[free]

            def fn(x: np.ndarray) -> float:
                par = np.empty(nvp)
                par[w] = xx
                par[free] = x
                return self.devfun2(par)

            par = np.empty(nvp)
            par[w] = xx
            try:
                x, fval, _ = bobyqa_minimize(fn, start, ml.lower[free], ml.upper[free])
                par[free] = x
                if not np.isfinite(fval):
                    raise FloatingPointError("the deviance is not finite here")
                beta = self.solve(par).beta
            except Exception:  # lme4 records a failed optimisation as NA and goes on
                self.notes.append(f"{name}: the optimisation failed at {xx:.6g}")
                return self._failed(w, xx)
            devdiff = fval - ml.base
            self.min_devdiff = min(self.min_devdiff, devdiff)
            return np.r_[np.sign(xx - pw) * np.sqrt(max(devdiff, 0.0)), par, beta]

        res = np.tile(np.r_[0.0, ml.opt], (self.maxpts, 1))
        pres, nres = res.copy(), res.copy()
        shift = 0.001 if pw == 0 else pw * 1.01
        nres[0] = pres[1] = zeta(shift, ml.opt[free])
        up = self.walk.fill(pres, lowcut, upcut, zeta, w + 1, name)
        down = self.walk.fill(nres, lowcut, upcut, zeta, w + 1, name) if pw > lowcut else nres
        return self.walk.collect(up, down, w + 1)

    def fixed(self, j: int) -> np.ndarray:
        ml = self.ml
        design = ml.problem.design
        nvp = ml.nvp
        est = ml.opt[nvp + j]
        keep = [k for k in range(design.X.shape[1]) if k != j]
        reduced = replace(
            design, X=design.X[:, keep], fixed_names=[design.fixed_names[k] for k in keep]
        )
        engine = make_engine(replace(ml.model, design=reduced), reml=False)
        lower, upper = engine.layout.lower, engine.layout.upper
        xj = design.X[:, j]
        name = ml.names[nvp + j]

        def zeta(fw: float, start: np.ndarray | None = None) -> np.ndarray:
            # β_j x_j moves into the offset; lme4 starts every refit from the ML θ.
            moved = engine.with_response(design.y - xj * fw)
            try:
                theta, fval, _ = bobyqa_minimize(moved.deviance, ml.theta, lower, upper)
                sol = moved.solve(theta)
            except Exception:  # as for the variance parameters: NA, and go on
                self.notes.append(f"{name}: the optimisation failed at {fw:.6g}")
                return self._failed(nvp + j, fw)
            sig = float(np.sqrt(sol.pwrss / design.y.size))
            diff = fval - ml.base
            self.min_devdiff = min(self.min_devdiff, diff)
            z = np.sign(fw - est) * np.sqrt(diff) if diff >= 0 else np.nan
            beta = np.insert(sol.beta, j, fw)
            return np.r_[z, theta_to_sdcor(design, theta, sig), sig, beta]

        res = np.tile(np.r_[0.0, ml.opt], (self.maxpts, 1))
        pres, nres = res.copy(), res.copy()
        cc = 1 + nvp + j
        nres[0] = pres[1] = zeta(est + self.walk.delta * ml.stderr[j])
        up = self.walk.fill(pres, -np.inf, np.inf, zeta, cc, name)
        down = self.walk.fill(nres, -np.inf, np.inf, zeta, cc, name)
        return self.walk.collect(up, down, cc)


@once_per_fit
def _profiles(result: LmerResult) -> dict[Any, pd.DataFrame]:
    """The profiles made of a fit so far, by their arguments."""
    return {}


def profile(
    result: LmerResult,
    which: Any = None,
    alphamax: float = 0.01,
    maxpts: int = 100,
    delta: float | None = None,
    delta_cutoff: float = 1 / 8,
    maxmult: float = 10.0,
    progress: bool | None = None,
) -> pd.DataFrame:
    """The likelihood profile; see :meth:`lmeformula.LmerResult.profile`."""
    check_profilable(result)
    progress = check_progress(progress)
    # A profile costs hundreds of refits; confint at several levels reuses it.
    cache = _profiles(result)
    key = (repr(which), alphamax, maxpts, delta, delta_cutoff, maxmult)
    if key not in cache:
        cache[key] = _profile(
            result, which, alphamax, maxpts, delta, delta_cutoff, maxmult, progress
        )
    table = cache[key].copy()
    table.attrs = {k: dict(v) for k, v in cache[key].attrs.items()}
    return table


def _profile(
    result: LmerResult,
    which: Any,
    alphamax: float,
    maxpts: int,
    delta: float | None,
    delta_cutoff: float,
    maxmult: float,
    progress: bool | None,
) -> pd.DataFrame:
    if not 0 < alphamax < 1:
        raise ArgumentTypeError(f"alphamax must be between 0 and 1, got {alphamax!r}.")
    if isinstance(maxpts, bool) or not isinstance(maxpts, (int, np.integer)) or maxpts < 3:
        raise ArgumentTypeError(f"maxpts must be an integer of at least 3, got {maxpts!r}.")
    # Many small factorisations: one BLAS thread, as the fit itself uses (see optimize).
    largest = max((t.q for t in result.state.design.terms[1:]), default=0)
    with blas_threads(largest):
        ml = _ml_fit(result)
        idx = select_parameters(which, ml.names, ml.nvp)
        prof = _Profiler(ml, alphamax, int(maxpts), delta, delta_cutoff, maxmult)
        profiled = []
        with progress_bar(len(idx), "profile", progress, unit="parameter") as bar:
            for i in idx:
                rows = prof.variance(i) if i < ml.nvp else prof.fixed(i - ml.nvp)
                profiled.append((i, rows))
                bar.update(1)
    return profile_table(
        profiled, ml.names, ml.nvp, ml.lower, ml.upper, prof.min_devdiff, prof.notes
    )


def profile_table(
    profiled: list[tuple[int, np.ndarray]],
    names: Sequence[str],
    nvp: int,
    lower: np.ndarray,
    upper: np.ndarray,
    min_devdiff: float,
    notes: Sequence[str],
) -> pd.DataFrame:
    """The profile as R's ``as.data.frame(profile(m))`` from each parameter's rows
    ``[ζ, parameters...]``, with lme4's warnings (a deviance below the fit's, the
    stepping's notes) and the variance parameters' bounds in ``attrs``."""
    if min_devdiff < -1e-3:
        warnings.warn(
            f"the profile found a deviance {-min_devdiff:.3g} below the fit's: the fit "
            "may not have reached the optimum; refit (check fit.optinfo) before trusting "
            "the intervals.",
            ProfileWarning,
            stacklevel=4,
        )
    for note in dict.fromkeys(notes):
        warnings.warn(note, ProfileWarning, stacklevel=4)
    pieces = []
    for i, rows in profiled:
        df = pd.DataFrame(rows[:, 1:], columns=list(names))
        df.insert(0, "zeta", rows[:, 0])
        df.insert(0, "value", rows[:, 1 + i])
        df.insert(0, "parameter", names[i])
        pieces.append(df)
    table = pd.concat(pieces, ignore_index=True)
    table.attrs["lower"] = {names[i]: float(lower[i]) for i in range(nvp)}
    table.attrs["upper"] = {names[i]: float(upper[i]) for i in range(nvp)}
    return table


def profile_confint(table: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Intervals from a profile, as lme4's ``confint(profile(m))``.

    Parameters
    ----------
    table
        A profile from :meth:`lmeformula.LmerResult.profile`.
    level
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter, with R's column labels (``"2.5 %"``, ``"97.5 %"``).
    """
    from lmeformula.inference.bootstrap import format_percent, interval_tails

    a = interval_tails(level)
    zq = stats.norm.ppf(a)
    lower = table.attrs.get("lower", {})
    upper = table.attrs.get("upper", {})
    rows = {}
    for name, part in table.groupby("parameter", sort=False):
        x = part["value"].to_numpy(dtype=float)
        z = part["zeta"].to_numpy(dtype=float)
        is_var = name in lower
        ok = ~np.isnan(z) if is_var else np.ones(z.size, dtype=bool)
        try:
            if np.isnan(z[ok]).any():
                raise ValueError("NaN zeta")
            p = back_spline(interp_spline(x[ok], z[ok]))(zq)
        except (ValueError, np.linalg.LinAlgError):
            if np.all(np.isnan(z)):
                warnings.warn(f"bad profile for {name}", ProfileWarning, stacklevel=3)
                rows[name] = [np.nan, np.nan]
                continue
            warnings.warn(
                f"bad spline fit for {name}: falling back to linear interpolation",
                ProfileWarning,
                stacklevel=3,
            )
            good = ~np.isnan(z)
            order = np.argsort(z[good], kind="stable")
            zs, xs = z[good][order], x[good][order]
            p = np.interp(zq, zs, xs)
            p[(zq < zs[0]) | (zq > zs[-1])] = np.nan
        p = np.asarray(p, dtype=float)
        if np.isnan(p[0]):
            p[0] = lower.get(name, np.nan)
        if np.isnan(p[1]):
            p[1] = upper.get(name, np.nan)
        rows[name] = list(p)
    return pd.DataFrame.from_dict(rows, orient="index", columns=format_percent(a))
