"""Minimising an engine's objective and recording how it went (lme4's ``optimizeLmer``).

- :func:`bobyqa`: lme4's default optimizer (NLopt's LN_BOBYQA with lme4's tolerances), with
  lme4's ``restart_edge`` and boundary checks, then :func:`newton_finish`, then lme4's
  convergence check.
  LMMs with many θ entries and a compiled gradient start by NLopt's SLSQP on the exact
  gradient instead (:func:`_uses_gradient`, :func:`_quasi_newton`; Machines' 3 x 3 term:
  31 deviance evaluations where BOBYQA takes 327); one that ends near a bound is refitted
  by BOBYQA.
- One-term models whose deviance and exact gradient are one compiled function are
  minimised by :func:`_compiled_newton` first (damped Newton steps in C from lme4's
  start, no Python call until the optimum); BOBYQA as above where it does not converge in
  the interior.
- :func:`newton_finish`: Newton steps from BOBYQA's point, accepted only when they lower
  the objective, until the next step is below 1e-7 (relative). BOBYQA stops on a loose
  tolerance (nloptr's ``xtol_rel = 1e-4``): on a flat likelihood such as Machines' its last
  digits, and θ's third, depend on rounding, which differs between CPUs' BLAS kernels. Near
  the optimum the deviance is quadratic, so a few Newton steps with the finite-difference
  Hessian that lme4's convergence check computes anyway reach the optimum itself, the same
  on every machine to far more digits than a summary prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import nlopt
import numpy as np

from lmeformula.engines.derivatives import (
    Derivatives,
    Gradient,
    exact_gradient,
    finite_gradient,
    finite_hessian,
    gradient_hessian,
)
from lmeformula.engines.protocol import Engine
from lmeformula.engines.threads import blas_threads

__all__ = [
    "GRADIENT_TOL",
    "STEP_TOL",
    "Attempt",
    "OptInfo",
    "bobyqa",
    "bobyqa_minimize",
    "check_gradient",
    "convergence_messages",
    "gradient_minimize",
    "newton",
    "newton_finish",
]

#: lme4's tolerance on the scaled gradient (``check.conv.grad``).
GRADIENT_TOL = 2e-3

#: Newton steps stop once the next would move no component by more than this (relative to
#: max(1, |x|)): the point is then the optimum to about the objective's rounding.
STEP_TOL = 1e-9

#: The same where the gradient comes from central differences: with lme4's step h = 1e-4
#: they err by O(h²), so a step below h² is within their error (InstEval: the second step
#: would move θ by 8e-9 and cost a gradient, six evaluations of the deviance).
FD_STEP_TOL = 1e-8

#: Differences of the objective below this (relative) are taken for rounding.
ROUNDING = 1e-10

#: From several starts BOBYQA first runs to this tolerance (relative, on the parameters)
#: from each, then on from the best ``FOLLOW`` of where they stopped.
SCOUT_XTOL = 1e-2
#: How far :func:`scout` runs BOBYQA (relative, on the parameters): a start for Newton
#: steps on an exact gradient, which converge from there in as many steps as from lme4's
#: tolerance (VerbAgg, Contraception, grouseticks, cbpp: the same 5-6 steps) for 40 %
#: fewer evaluations; from 0.2 they fail on grouseticks and BOBYQA has to take over.
START_XTOL = 5e-2
#: With an exact gradient :func:`scout` takes quasi-Newton steps on it
#: (:func:`_bfgs_scout`) until a step moves no parameter by more than this (relative):
#: the second stage's Newton steps converge from there in as many steps as from a tighter
#: start.
SCOUT_XTOL_GRADIENT = 3e-2
#: The quasi-Newton scout's first Hessian: forward differences of the gradient at this
#: step (relative), well above the rough PIRLS's noise (1e-6).
SCOUT_HESSIAN_STEP = 1e-2
#: Its steps move no parameter by more than this times max(1, |θ_i|) at first (a trust
#: region, halved or doubled as the deviance follows its quadratic model or not): from
#: lme4's start a full Newton step on the start's curvature overshoots (VerbAgg's item
#: variance went to 0). 0.25 and 1 took 1-5 more PIRLS runs on every model benchmarked.
SCOUT_RADIUS = 0.5
FOLLOW = 2

#: From this many parameters on, an LMM with a compiled gradient starts by SLSQP on it
#: (:func:`_uses_gradient`: Machines' 6 and 7 pay, sleepstudy's 4 and Penicillin's 2 do
#: not).
GRADIENT_MIN_THETA = 6

#: Where SLSQP ends closer than this to a bound, BOBYQA fits the model instead.
BOUNDARY_GAP = 1e-3

#: BOBYQA's tolerance (relative, on the parameters) from a start near the optimum (a
#: refit's, a large model's warm start), where the Newton finish follows from an interior
#: point: lme4's 1e-4 takes BOBYQA a third more evaluations to a point the Newton steps
#: then move anyway (InstEval from its warm start 38 -> 28 deviance evaluations, 1.1 ->
#: 0.9 s, one Newton step either way, the REML criterion the same to 1e-15 relative).
#: Nearer a bound than :data:`BOUNDARY_GAP` BOBYQA goes on to 1e-4. From lme4's start
#: it keeps 1e-4: there the finish's finite differences can stop short on a flat
#: likelihood (wheat2's spherical correlation with a nugget: 0.002 lower at 1e-3).
FINISHED_XTOL = 1e-3

#: At most this many accepted Newton steps.
MAX_NEWTON_STEPS = 12

#: A generalized model's Hessian, which its standard errors read (lme4's at the optimum),
#: is taken within this distance (relative) of the optimum by :func:`newton`'s steps on an
#: exact gradient. Kept from the second stage's start, 3 % away, it had put Contraception's
#: and binary 100k's standard errors 0.6 % off; within 1e-4 they are within 4e-5 of the
#: Hessian's at the optimum, for 0-8 more PIRLS runs (Contraception 34 -> 42, binary 100k
#: 29 -> 33, VerbAgg 44 -> 43, grouseticks 44 -> 50, cbpp 28).
HESSIAN_WITHIN = 1e-4


@dataclass
class Attempt:
    """One MixedLM fit tried while looking for the optimum."""

    method: str
    deviance: float
    max_gradient: float
    error: str = ""


@dataclass
class OptInfo:
    """The optimisation, recorded on every result (MixedModels.jl's OptSummary).

    Attributes
    ----------
    optimizer
        What fitted the model.
    converged
        Whether the gradient check at the optimum passed.
    par_start, par
        The engine's parameter vector at the start and at the end (its blocks are named
        by the engine's layout, ``fit.state.layout``).
    deviance
        The objective at the end.
    max_gradient
        lme4's scaled gradient at the end (largest component).
    evaluations
        Objective evaluations by the optimizer (fits tried, for the statsmodels engine).
    newton_steps
        Newton steps accepted after the optimizer.
    attempts
        Every fit tried, in order (statsmodels engine).
    messages
        Warnings to print with the summary.
    history
        The objective at every evaluation of the optimizer, in order.
    derivs
        Gradient and Hessian at the end (lme4's ``optinfo$derivs``; the Hessian where the
        last Newton step took it), or None.
    """

    optimizer: str
    converged: bool
    par_start: np.ndarray
    par: np.ndarray
    deviance: float
    max_gradient: float
    evaluations: int = 0
    newton_steps: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    derivs: Derivatives | None = None


#: A block of the objective's Hessian at a point as an engine gives it: (the block's
#: components in the parameter vector, the block, whether it is exact), or None.
Curvature = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray, bool] | None"]


def _last_remembered(fn: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], float]:
    # The checks after BOBYQA start where it stopped: its last point's value is asked for
    # again (twice on InstEval, 30 ms each).
    last: list[Any] = [None, 0.0]

    def remembered(x: np.ndarray) -> float:
        key = np.asarray(x, dtype=float).tobytes()
        if key != last[0]:
            last[0], last[1] = key, fn(x)
        return float(last[1])

    return remembered


@dataclass
class _Box:
    """An objective with its bounds and, where the engine has one, its exact gradient."""

    fn: Callable[[np.ndarray], float]
    lower: np.ndarray
    upper: np.ndarray
    grad: Callable[[np.ndarray], np.ndarray | None] | None = None

    @classmethod
    def of(cls, engine: Engine) -> _Box:
        layout = engine.layout
        grad = engine.gradient if layout.size else None
        return cls(_last_remembered(engine.deviance), layout.lower, layout.upper, grad)

    def clip(self, x: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(x, self.lower), self.upper)

    def gradient(self, x: np.ndarray, value: float) -> Gradient:
        if self.grad is not None:
            g = self.grad(x)
            if g is not None:
                return exact_gradient(g, x, self.lower, self.upper, value)
            # An engine has an exact gradient everywhere or nowhere: finite differences
            # from now on, without asking again.
            self.grad = None
        return finite_gradient(self.fn, x, self.lower, self.upper, f0=value)

    def hessian(
        self, g: Gradient, known: tuple[np.ndarray, np.ndarray] | None = None
    ) -> Derivatives:
        if g.f_plus is None:  # an exact gradient: the Hessian from differences of it
            return gradient_hessian(self._exact, g, self.upper, known)
        return finite_hessian(self.fn, g)

    def _exact(self, x: np.ndarray) -> np.ndarray:
        assert self.grad is not None
        g = self.grad(x)
        if g is None:
            raise np.linalg.LinAlgError(f"the engine gave no gradient at {x}")
        return g


def convergence_messages(max_gradient: float, tol: float = GRADIENT_TOL) -> list[str]:
    """lme4's warning text when the scaled gradient fails the check, else nothing."""
    if max_gradient < tol:
        return []
    return [f"Model failed to converge with max|grad| = {max_gradient:.3g} (tol = {tol})"]


def newton_finish(
    engine: Engine,
    par: np.ndarray,
    max_steps: int = MAX_NEWTON_STEPS,
) -> tuple[np.ndarray, float, Derivatives, int]:
    """Newton steps from ``par`` while they lower the objective.

    Each step is -H⁻¹g on the components not held at a bound, halved up to twice until the
    objective falls. The gradient is then taken anew at the new point and the Hessian kept
    (a chord step: near the optimum it hardly changes), unless the steps stop shrinking
    fast (the next more than a tenth of the last), when the Hessian is taken anew too. The
    steps stop once the next one would move no component by more than ``STEP_TOL``
    (relative), would not be half the last one even with a fresh Hessian (the rounding of
    the finite differences then drives it), or fails (see :func:`_newton_candidate`).

    Parameters
    ----------
    engine
        The objective.
    par
        A point near the optimum.
    max_steps
        At most this many accepted steps.

    Returns
    -------
    par, deviance, derivatives, steps
        The refined point, its objective, the derivatives there (gradient at the point,
        Hessian from the last point where it was taken) and the number of steps taken.
    """
    return _newton_finish(_Box.of(engine), par, max_steps)


def _newton_finish(
    box: _Box,
    par: np.ndarray,
    max_steps: int = MAX_NEWTON_STEPS,
    hessian_within: float | None = None,
    curvature: Curvature | None = None,
) -> tuple[np.ndarray, float, Derivatives, int]:
    # hessian_within (with an exact gradient): the Hessian returned is taken within this
    # distance (relative) of the final point: anew once the steps fall below it, and at
    # the end where it is still farther (see HESSIAN_WITHIN). curvature: a block of the
    # first Hessian as the engine gives it (differences along the other components only),
    # good enough for the first steps; the Hessian is then taken whole near the optimum.
    par = np.asarray(par, dtype=float)
    dev = box.fn(par)
    g = box.gradient(par, dev)
    if par.size == 0:
        # Nothing to step (gls with independent residuals: the linear model).
        return par, dev, Derivatives(par, par, np.zeros((0, 0)), np.zeros(0, dtype=int)), 0
    derivs, whole = _curved_hessian(box, g, curvature, approximate=True)
    fresh = True
    # Where the Hessian was taken whole or with an exact block (None: part of it
    # approximated).
    taken: np.ndarray | None = par if whole else None
    step_tol = STEP_TOL if g.f_plus is None else FD_STEP_TOL
    steps, last = 0, np.inf
    within = np.inf if hessian_within is None or g.f_plus is not None else hessian_within
    while steps < max_steps:
        step = derivs.newton_step()
        size = (
            np.inf if step is None else float(np.max(np.abs(step) / np.maximum(1.0, np.abs(par))))
        )
        near = size < within < _distance(par, taken)
        if not fresh and (size > 0.1 * last or near):
            # The chord steps converge slowly: a Hessian here, approximated as the first was
            # where it can be. Or near the optimum the Hessian is still that of a point
            # farther away, or approximated: the one returned is taken whole here.
            derivs, whole = _curved_hessian(box, g, curvature, approximate=not near)
            fresh, taken = True, par if whole else None
            continue
        # A step this small changes no digit anyone reads: the point is the optimum. One
        # not much smaller than the last, with a fresh Hessian, is driven by the rounding
        # of the finite differences: the point is the optimum as far as they can tell.
        if step is None or size < step_tol or size > 0.5 * last:
            cand = None
        else:
            cand, cand_dev, cand_g = _newton_candidate(box, par, dev, step, derivs)
        if cand is None:
            if taken is None:
                # The approximated Hessian gave no step that helps: the whole one may.
                derivs, _ = _curved_hessian(box, g, curvature, approximate=False)
                fresh, taken = True, par
                continue
            break
        par, dev, last = cand, cand_dev, size
        steps += 1
        g = cand_g or box.gradient(par, dev)
        if np.array_equal(g.free, derivs.free):
            derivs, fresh = derivs.with_gradient(g), False
        else:
            derivs, fresh = box.hessian(g), True
            taken = par
    if _distance(par, taken) > within:
        derivs, _ = _curved_hessian(box, g, curvature, approximate=False)
    return par, dev, derivs, steps


def _curved_hessian(
    box: _Box, g: Gradient, curvature: Curvature | None, approximate: bool
) -> tuple[Derivatives, bool]:
    """The Hessian at the gradient's point with the engine's block of ``curvature`` in
    place of its differences where the block is exact, or where ``approximate`` allows an
    approximated one; and whether the Hessian is as good as taken whole."""
    known = curvature(g.par) if curvature is not None and g.f_plus is None else None
    if known is not None and not (known[2] or approximate):
        known = None
    derivs = box.hessian(g, None if known is None else (known[0], known[1]))
    return derivs, known is None or known[2]


def _distance(a: np.ndarray, b: np.ndarray | None) -> float:
    """The largest relative difference, |a - b| / max(1, |a|) (inf from no point)."""
    if b is None:
        return np.inf
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a)), initial=0.0))


def _newton_candidate(
    box: _Box, par: np.ndarray, dev: float, step: np.ndarray, derivs: Derivatives
) -> tuple[np.ndarray | None, float, Gradient | None]:
    """The point a Newton step goes to, or None when no step along it helps.

    A step that lowers the objective is taken (halved up to twice). Near the optimum the
    decrease a step promises, ½ g'H⁻¹g, falls below the objective's rounding, and the
    objective cannot tell a better point from a worse one; the gradient still can. A full
    step whose objective is within rounding of the current one is then taken when the
    scaled gradient there is smaller.
    """
    for shrink in (1.0, 0.5, 0.25):
        cand = box.clip(par + shrink * step)
        cand_dev = box.fn(cand)
        if cand_dev < dev:
            return cand, cand_dev, None
        if shrink == 1.0 and cand_dev - dev <= ROUNDING * max(1.0, abs(dev)):
            g = box.gradient(cand, cand_dev)
            if np.array_equal(g.free, derivs.free) and (
                derivs.with_gradient(g).scaled_gradient() < derivs.scaled_gradient()
            ):
                return cand, cand_dev, g
            return None, dev, None
    return None, dev, None


def check_gradient(engine: Engine, par: np.ndarray) -> float:
    """lme4's convergence measure at ``par``: the largest scaled gradient component
    (:meth:`~lmeformula.engines.derivatives.Derivatives.scaled_gradient`)."""
    box = _Box.of(engine)
    par = np.asarray(par, dtype=float)
    if par.size == 0:
        return 0.0
    return box.hessian(box.gradient(par, box.fn(par))).scaled_gradient()


#: BOBYQA's first steps from a start near the optimum (a refit's): this fraction of each
#: entry, at least :data:`NEAR_STEP_MIN`. NLopt's default steps are sized for lme4's start
#: and took a bootstrap replicate of sleepstudy 68 evaluations from the fit's optimum; these
#: take 38, to the same optimum after the Newton finish.
NEAR_STEP = 0.2
NEAR_STEP_MIN = 0.05


def _nlopt(algorithm: int, box: _Box, objective: Callable[..., float]) -> Any:
    """An NLopt optimizer of ``algorithm`` over the box's parameters, minimising
    ``objective`` (NLopt's (x, grad) signature) within its bounds."""
    opt = nlopt.opt(algorithm, box.lower.size)
    opt.set_lower_bounds(box.lower)
    if np.isfinite(box.upper).any():
        opt.set_upper_bounds(box.upper)
    opt.set_min_objective(objective)
    return opt


def _minimize(
    box: _Box,
    start: np.ndarray,
    log: list[float],
    xtol_rel: float = 1e-4,
    near: bool = False,
) -> tuple[np.ndarray, int]:
    def objective(x: np.ndarray, grad: np.ndarray) -> float:
        value = box.fn(x)
        log.append(value)
        return value

    if start.size == 0:
        # Nothing to optimise (gls with independent residuals, the linear model); NLopt
        # refuses a zero-dimensional problem.
        objective(start, start)
        return start, 1
    opt = _nlopt(nlopt.LN_BOBYQA, box, objective)
    # lme4's nloptwrap defaults, plus nloptr's own default xtol_rel = 1e-4 that lme4 runs
    # with (InstEval: 68 evaluations with it, 113 without).
    opt.set_xtol_abs(1e-8)
    opt.set_ftol_abs(1e-8)
    opt.set_xtol_rel(xtol_rel)
    opt.set_maxeval(100_000)
    x0 = box.clip(start)
    if near:
        opt.set_initial_step(np.maximum(NEAR_STEP * np.abs(x0), NEAR_STEP_MIN))
    x = opt.optimize(x0)
    return np.asarray(x, dtype=float), int(opt.last_optimize_result())


def _minimize_from(
    box: _Box,
    starts: list[np.ndarray],
    log: list[float],
    near: bool = False,
    xtol_rel: float = 1e-4,
) -> tuple[np.ndarray, int]:
    """BOBYQA from each of several starts to a loose tolerance (``SCOUT_XTOL``), then on to
    ``xtol_rel`` (lme4's by default) from the best ``FOLLOW`` of where they stopped; the
    best end. ``near``: a single start near the optimum (:data:`NEAR_STEP`)."""
    if len(starts) == 1:
        return _minimize(box, starts[0], log, xtol_rel=xtol_rel, near=near)
    scouts = [_minimize(box, s, log, xtol_rel=SCOUT_XTOL)[0] for s in starts]
    order = np.argsort([box.fn(s) for s in scouts], kind="stable")[:FOLLOW]
    ends = [_minimize(box, scouts[i], log, xtol_rel=xtol_rel) for i in order]
    return min(ends, key=lambda end: box.fn(end[0]))


def bobyqa_minimize(
    fn: Callable[[np.ndarray], float],
    start: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray | None = None,
) -> tuple[np.ndarray, float, int]:
    """Minimise any function by BOBYQA with lme4's ``nloptwrap`` settings.

    lme4's ``profile`` optimises the deviance over all parameters but one with the fit's
    optimizer; this is that optimizer, without the restarts and checks of :func:`bobyqa`.

    Parameters
    ----------
    fn
        The objective.
    start
        Starting point (moved inside the bounds).
    lower, upper
        Bounds (``upper`` None: none).

    Returns
    -------
    x, value, evaluations

    Examples
    --------
    >>> x, value, _ = bobyqa_minimize(lambda x: float(((x - 2.0) ** 2).sum()),
    ...                               np.zeros(2), np.full(2, -10.0))
    >>> x.round(6).tolist(), round(value, 10)
    ([2.0, 2.0], 0.0)
    """
    log: list[float] = []
    lower = np.asarray(lower, dtype=float)
    box = _Box(fn, lower, np.full(lower.size, np.inf) if upper is None else np.asarray(upper))
    x, _ = _minimize(box, np.asarray(start, dtype=float), log)
    return x, float(fn(x)), len(log)


def gradient_minimize(
    fn: Callable[[np.ndarray], float],
    grad: Callable[[np.ndarray], np.ndarray | None],
    start: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray | None = None,
) -> tuple[np.ndarray, float, int] | None:
    """Minimise a function with an exact gradient by L-BFGS-B, as :func:`bobyqa_minimize`.

    A profile's next point starts at the last one's optimum, where a quasi-Newton method
    with the exact gradient converges in a few evaluations that BOBYQA spends tens on.

    Parameters
    ----------
    fn, grad
        The objective and its gradient (``grad`` None at a point: no gradient there).
    start
        Starting point (moved inside the bounds).
    lower, upper
        Bounds (``upper`` None: none).

    Returns
    -------
    (x, value, evaluations) or None
        None where the gradient is missing or L-BFGS-B stops without converging: the
        caller then takes BOBYQA.

    Examples
    --------
    >>> fn = lambda x: float(((x - 2.0) ** 2).sum())
    >>> x, value, _ = gradient_minimize(fn, lambda x: 2 * (x - 2.0), np.zeros(2),
    ...                                 np.full(2, -10.0))
    >>> x.round(6).tolist(), round(value, 10)
    ([2.0, 2.0], 0.0)
    """
    # scipy.optimize is imported here: a fit itself never needs it.
    from scipy import optimize

    lower = np.asarray(lower, dtype=float)
    upper = np.full(lower.size, np.inf) if upper is None else np.asarray(upper, dtype=float)
    x0 = np.clip(np.asarray(start, dtype=float), lower, upper)
    count = [0]

    class _NoGradient(Exception):
        pass

    def both(x: np.ndarray) -> tuple[float, np.ndarray]:
        count[0] += 1
        value = fn(x)
        g = grad(x) if np.isfinite(value) else None
        if g is None:
            raise _NoGradient
        return value, np.asarray(g, dtype=float)

    bounds = optimize.Bounds(lower, upper)
    try:
        # The deviance's scale: ftol relative 1e-15 and a gradient below 1e-6 leave it
        # within ~1e-10 of its minimum, well inside what a profile's ζ reads.
        res = optimize.minimize(
            both,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 1e-15, "gtol": 1e-6, "maxiter": 500},
        )
    except _NoGradient:
        return None
    if not res.success or not np.isfinite(res.fun):
        return None
    return np.asarray(res.x, dtype=float), float(res.fun), count[0]


def _nlopt_gradient(box: _Box, start: np.ndarray, log: list[float]) -> np.ndarray | None:
    """NLopt's SLSQP on the exact gradient from ``start``, to a tight tolerance; None where
    the gradient is missing or NLopt fails.

    A quasi-Newton method run from C: scipy's L-BFGS-B took as few evaluations on Machines'
    6 θ (19 against 31) but three times the wall time, its Python loop costing more per
    iteration than the compiled deviance and gradient together.
    """
    grad = box.grad
    assert grad is not None

    class _NoGradient(Exception):
        pass

    def objective(x: np.ndarray, g: np.ndarray) -> float:
        # The gradient first: an engine whose gradient pass also gives the deviance then
        # answers the deviance without a second pass.
        exact = grad(x) if g.size else None
        value = box.fn(x)
        log.append(value)
        if g.size:
            if exact is None or not np.isfinite(value):
                raise _NoGradient
            g[:] = exact
        return value

    opt = _nlopt(nlopt.LD_SLSQP, box, objective)
    opt.set_ftol_rel(1e-12)
    opt.set_xtol_rel(1e-8)
    opt.set_maxeval(2000)
    try:
        x = opt.optimize(box.clip(start))
    except (_NoGradient, RuntimeError, ValueError):
        return None
    if opt.last_optimize_result() < 0 or not np.isfinite(opt.last_optimum_value()):
        return None
    return np.asarray(x, dtype=float)


def _snap_to_boundary(box: _Box, par: np.ndarray, tol: float = 1e-5) -> np.ndarray:
    # lme4's check.boundary: a parameter within tol of its bound goes onto it when that
    # does not raise the deviance (a singular fit then reports exactly 0).
    near = np.isfinite(box.lower) & (par - box.lower < tol) & (par != box.lower)
    if not near.any():
        return par
    snapped = np.where(near, box.lower, par)
    return snapped if box.fn(snapped) <= box.fn(par) else par


def _edge_descent(box: _Box, par: np.ndarray, btol: float = 1e-5) -> bool:
    # lme4's restart_edge: does the deviance fall when a boundary parameter leaves 0?
    d0 = box.fn(par)
    for i in np.flatnonzero(np.isfinite(box.lower) & (par == box.lower)):
        moved = par.copy()
        moved[i] = box.lower[i] + btol
        if box.fn(moved) < d0:
            return True
    return False


def newton(engine: Engine, start: np.ndarray, curvature: Curvature | None = None) -> OptInfo:
    """Newton steps from a point already near the optimum, with BOBYQA where they fail.

    A generalized model's second stage starts where its first (nAGQ = 0) ended, which is
    near the Laplace optimum: Newton steps on finite differences reach it in a few
    iterations, a third of BOBYQA's evaluations (VerbAgg: 95 against 310). Where they stop
    short of lme4's gradient check (an indefinite Hessian, a step that does not lower the
    deviance), :func:`bobyqa` runs from the best point found. With an exact gradient the
    Hessian returned (the standard errors') is taken within :data:`HESSIAN_WITHIN` of the
    optimum, and the first one's block of ``curvature`` (a generalized model's β: 2 R_X'R_X,
    :meth:`~lmeformula.engines.laplace.LaplaceDeviance.beta_curvature`) is the engine's,
    the differences taken along the other components only (PIRLS runs: Contraception
    42 -> 35, cbpp 28 -> 24, grouseticks 50 -> 46, binary 100k 33 -> 31, VerbAgg 43 -> 44);
    so is every later Hessian the steps take, all but the one returned (the second stage's
    runs: VerbAgg 23 -> 18, grouseticks 30 -> 22, Poisson 200k 20 -> 16), and that one too
    where the block is exact (one random-effects term: Contraception 18 -> 11, cbpp 12 -> 8,
    owls 11 -> 7, salamanders 15 -> 7).

    Parameters
    ----------
    engine
        The objective.
    start
        The point to start from.
    curvature
        A block of the Hessian at a point: (its components' indices, the block, whether it
        is exact), or None.

    Returns
    -------
    OptInfo
    """
    box = _Box.of(engine)
    start = np.asarray(start, dtype=float)
    calls: list[float] = []
    fn = box.fn

    def counted(x: np.ndarray) -> float:
        value = fn(x)
        calls.append(value)
        return value

    box.fn = counted
    with blas_threads(engine.largest_dense_block):
        par, deviance, derivs, steps = _newton_finish(
            box,
            box.clip(start),
            max_steps=30,
            hessian_within=HESSIAN_WITHIN,
            curvature=curvature,
        )
        grad = derivs.scaled_gradient()
    if grad >= GRADIENT_TOL:
        info = bobyqa(engine, par)
        info.evaluations += len(calls)
        return info
    return OptInfo(
        optimizer=f"Newton ({steps} step(s))",
        converged=True,
        par_start=start,
        par=par,
        deviance=deviance,
        max_gradient=grad,
        evaluations=len(calls),
        newton_steps=steps,
        history=np.asarray(calls),
        derivs=derivs,
    )


def scout(engine: Engine, start: np.ndarray | None = None) -> OptInfo:
    """A start for another stage, not an optimum to report (no checks, no Newton finish):
    with an exact gradient, quasi-Newton steps on it (:func:`_bfgs_scout`); without one,
    or where it fails, BOBYQA to a loose tolerance (:data:`START_XTOL`).

    Parameters
    ----------
    engine
        The objective.
    start
        Where to start (by default the layout's first start).

    Returns
    -------
    OptInfo
        ``converged`` False: nothing was checked.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> from lmeformula.engines.factory import make_engine
    >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    >>> info = scout(make_engine(fit.state.model))
    >>> bool(abs(info.par[0] - fit.theta[0]) < 0.1)
    True
    """
    box = _Box.of(engine)
    start = engine.layout.starts()[0] if start is None else np.asarray(start, dtype=float)
    log: list[float] = []
    with blas_threads(engine.largest_dense_block):
        par = None
        if box.grad is not None:
            par = _bfgs_scout(box, start, log)
            name = "quasi-Newton (exact gradient, to a start)"
        if par is None:
            par, _ = _minimize(box, start, log, xtol_rel=START_XTOL)
            name = "bobyqa (NLopt, to a start)"
    return OptInfo(
        optimizer=name,
        converged=False,
        par_start=start,
        par=par,
        deviance=float(min(log)) if log else np.inf,
        max_gradient=np.nan,
        evaluations=len(log),
        history=np.asarray(log),
    )


def _bfgs_scout(box: _Box, start: np.ndarray, log: list[float]) -> np.ndarray | None:
    """BFGS steps on the exact gradient within a trust region, from the Hessian of forward
    differences at the start (:data:`SCOUT_HESSIAN_STEP`), until a step moves no parameter
    by more than :data:`SCOUT_XTOL_GRADIENT`; None where the gradient fails.

    The first Hessian carries the scales: a generalized model's θ entries can differ
    1000-fold in curvature (Poisson 200k's sites and years), where NLopt's L-BFGS from the
    identity wandered (35 PIRLS runs against BOBYQA's 14) and BOBYQA's model of a flat
    direction took many (VerbAgg 21). The region (:data:`SCOUT_RADIUS`, relative) keeps
    the first steps, far from the optimum, from overshooting. Components at a bound with
    the gradient pointing out are held there. First-stage PIRLS runs, BOBYQA or L-BFGS →
    this: VerbAgg 21 → 8, Contraception 13 → 11, grouseticks 15 → 10, cbpp 12 → 8, binary
    100k 13 → 11, Poisson 200k 15 → 11, the second stage's optimum the same.
    """
    grad = box.grad
    assert grad is not None
    x = box.clip(np.asarray(start, dtype=float))
    n = x.size
    f = box.fn(x)
    log.append(f)
    g = grad(x)
    if g is None or not np.isfinite(f):
        return None
    H = np.empty((n, n))
    for i in range(n):
        h = SCOUT_HESSIAN_STEP * max(1.0, abs(x[i]))
        if x[i] + h > box.upper[i]:
            h = -h
        e = np.zeros(n)
        e[i] = h
        log.append(box.fn(x + e))
        gh = grad(x + e)
        if gh is None:
            return None
        H[:, i] = (gh - g) / h
    # Positive definite as BFGS keeps it: the start's curvature, its signs dropped.
    w, V = np.linalg.eigh(0.5 * (H + H.T))
    B = (V * np.maximum(np.abs(w), 1e-6 * max(float(np.max(np.abs(w))), 1e-300))) @ V.T
    radius = SCOUT_RADIUS
    for _ in range(60):
        free = ~(((x <= box.lower) & (g > 0)) | ((x >= box.upper) & (g < 0)))
        p = np.zeros(n)
        if free.any():
            p[free] = -np.linalg.solve(B[np.ix_(free, free)], g[free])
        scale = np.maximum(1.0, np.abs(x))
        size = float(np.max(np.abs(p) / scale))
        if size > radius:
            p *= radius / size
        cand = box.clip(x + p)
        step = cand - x
        predicted = -(float(g @ step) + 0.5 * float(step @ B @ step))
        fc = box.fn(cand)
        log.append(fc)
        ratio = (f - fc) / predicted if predicted > 0 else -1.0
        moved = float(np.max(np.abs(step) / scale))
        if ratio < 0.1:
            radius = moved / 4.0
            if not fc < f:
                if radius < 1e-5:
                    return x
                continue
        elif ratio > 0.75 and moved >= 0.99 * radius:
            radius *= 2.0
        gc = grad(cand)
        if gc is None:
            return None
        y = gc - g
        sy = float(step @ y)
        if sy > 1e-12 * float(np.linalg.norm(step) * np.linalg.norm(y)):
            Bs = B @ step
            B = B - np.outer(Bs, Bs) / float(step @ Bs) + np.outer(y, y) / sy
        x, f, g = cand, fc, gc
        if moved < SCOUT_XTOL_GRADIENT:
            break
    return x


def _compiled_newton(
    engine: Engine, box: _Box, starts: list[np.ndarray], near: bool = False
) -> OptInfo | None:
    """The whole minimisation in compiled code, where the engine's deviance and exact
    gradient are one C function (one-term models with unstructured or diagonal blocks,
    :attr:`~lmeformula.engines.onefactor.OneFactorPLS.objective`, and small systems of
    such terms, :attr:`~lmeformula.engines.blocked.BlockedPLS.objective`): damped Newton steps on
    the exact gradient to the optimum itself (steps below :data:`STEP_TOL`), with the
    Hessian the convergence check reads. None where it does not apply or does not converge
    in the interior (a singular fit comes within :data:`BOUNDARY_GAP` of a bound): BOBYQA
    then fits the model as before.

    From lme4's start (and not ``near``: a refit starts at the fit's optimum), the steps
    start where the objective's moment estimate is
    (:meth:`~lmeformula.engines.lmm_kernels.OneTermObjective.moment_start`), when it has
    one, and from lme4's start where they do not converge from there. Over twelve one-term
    models 312 evaluations from lme4's start, 109 from the moments (sleepstudy 24 -> 4,
    Exam 39 -> 12, Machines 59 -> 7), at the same optima (deviances equal to 1e-7).

    No call returns to Python until the end: sleepstudy's optimum in 30 evaluations and
    0.1 ms, where BOBYQA's 43 and the Newton finish took 0.9 ms (Exam 45 evaluations,
    0.47 against 1.1 ms; Machines 71, 0.18 against 1.1 ms), at the same point (θ within
    2e-9, the deviance within 2e-11).
    """
    # Imported here: the optimizer otherwise knows engines by their contract only.
    from lmeformula.engines.blocked import BlockedPLS
    from lmeformula.engines.onefactor import OneFactorPLS

    if not isinstance(engine, (OneFactorPLS, BlockedPLS)) or len(starts) != 1:
        return None
    objective = engine.objective
    if objective is None:
        return None
    tries = [(box.clip(starts[0]), "")]
    if not near and starts[0].tobytes() == engine.layout.start.tobytes():
        guess = objective.moment_start()
        if guess is not None:
            tries.insert(0, (box.clip(guess), " from the moment estimate"))
    spent = 0
    for start, origin in tries:
        out = objective.newton(start, box.lower, box.upper, step_tol=STEP_TOL, gap=BOUNDARY_GAP)
        spent += int(out["evaluations"])
        if out["status"] != 0:
            continue
        par = out["par"]
        derivs = Derivatives(par, out["gradient"], out["hessian"], np.arange(par.size))
        grad = derivs.scaled_gradient()
        if not grad < GRADIENT_TOL:
            continue
        return OptInfo(
            optimizer=f"Newton, compiled ({out['iterations']} step(s){origin}, exact gradient)",
            converged=True,
            par_start=start,
            par=par,
            deviance=float(out["deviance"]),
            max_gradient=grad,
            evaluations=spent,
            newton_steps=int(out["iterations"]),
            history=out["history"],
            derivs=derivs,
        )
    return None


def _uses_gradient(engine: Engine) -> bool:
    """Whether an LMM's fit starts by a quasi-Newton method (:func:`_nlopt_gradient`) on the exact
    gradient instead of BOBYQA.

    Measured per fit (best of 5, 2 shared cores; BOBYQA → L-BFGS-B, deviance evaluations
    / gradients / ms): Machines' 6 θ 327/9/16.1 → 19/26/5.4; but Penicillin's 2 θ
    46/4/2.9 → 14/17/4.8, Exam's 3 θ 45/5/2.7 → 27/31/6.2 and sleepstudy's 3 θ, where
    L-BFGS-B stopped short and BOBYQA had to run after it, 45/6/2.8 → 106/67/14.2: scipy's
    overhead per iteration outweighs BOBYQA's few cheap evaluations until θ has several
    entries. With two terms (best of 3, machine loaded): Machines' ``(Machine | Worker) +
    (1 | Worker:Machine)``, 7 θ, 274 evaluations / 61 ms → 24 / 17 ms; sleepstudy with
    ``(Days | Subject) + (1 | g)``, 4 θ, 79-118 → 22-32 evaluations but 18-29 → 24-40 ms
    (each small-system gradient costs several of its deviances). InstEval (a large
    system, :func:`~.lmm_gradient.lmm_gradient` at 100 ms against 24 ms a deviance) took
    2.9 s by L-BFGS-B against BOBYQA's 2.8 s: BOBYQA there. So: the small dense systems
    with an exact gradient and at least :data:`GRADIENT_MIN_THETA` parameters, and one-term
    models (:class:`~lmeformula.engines.onefactor.OneFactorPLS`) likewise. (Measured with
    scipy's L-BFGS-B before the compiled kernels; with them and NLopt's SLSQP, Machines
    takes 31 evaluations and 0.75 ms to the optimum, sleepstudy 36 and 0.68 ms against
    BOBYQA's 43 and 0.52 ms: the threshold stands.)
    """
    # Imported here: the optimizer otherwise knows engines by their contract only.
    from lmeformula.engines.blocked import BlockedPLS
    from lmeformula.engines.onefactor import OneFactorPLS

    return (
        isinstance(engine, (BlockedPLS, OneFactorPLS))
        and engine.has_gradient
        and engine.layout.size >= GRADIENT_MIN_THETA
    )


def _quasi_newton(
    engine: Engine, box: _Box, starts: list[np.ndarray], log: list[float]
) -> np.ndarray | None:
    """SLSQP from lme4's start on the exact gradient, where :func:`_uses_gradient`
    says it pays; None (BOBYQA then runs) elsewhere or where it does not converge."""
    if len(starts) != 1 or not _uses_gradient(engine) or box.grad is None:
        return None
    par = _nlopt_gradient(box, starts[0], log)
    if par is None:
        return None
    # A quasi-Newton method stops at a bound where the projected gradient vanishes, also
    # where leaving it along another direction would pay (sleepstudy with a grouping of no
    # effect: 1743.62761 there against BOBYQA's 1743.62379 inside). A fit that ends at
    # or near a bound (a singular fit) is BOBYQA's from lme4's start, as before.
    if np.any(np.isfinite(box.lower) & (par - box.lower < BOUNDARY_GAP)):
        return None
    return par


def bobyqa(
    engine: Engine,
    start: np.ndarray | Sequence[np.ndarray] | None = None,
    near: bool = False,
) -> OptInfo:
    """Minimise an engine's objective as lme4's default ``lmerControl()`` does, then finish
    with Newton steps (:func:`newton_finish`).

    Parameters
    ----------
    engine
        The objective with its parameter layout (bounds and default start).
    start
        Where to start, or a list of starts to run from, keeping the best optimum; by
        default the layout's starts (lme4's: each Λ block the identity; and where a block
        offers others, such as a correlation's range, those too).
    near
        ``start`` is near the optimum (a refit's, from the fit's estimates): BOBYQA's first
        steps are sized to it (:data:`NEAR_STEP`).

    Returns
    -------
    OptInfo
        With the optimum, every objective value BOBYQA evaluated, and the convergence check.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> from lmeformula.engines.factory import make_engine
    >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    >>> info = bobyqa(make_engine(fit.state.model))
    >>> info.converged, round(info.deviance, 4)
    (True, 319.6543)
    """
    box = _Box.of(engine)
    if start is None:
        starts = engine.layout.starts()
    elif isinstance(start, np.ndarray) and start.ndim == 1:
        starts = [start.astype(float)]
    else:
        starts = [np.asarray(s, dtype=float) for s in start]
    start = starts[0]
    log: list[float] = []
    # Many small BLAS calls: more threads only add synchronisation (2.5x slower on 2 cores);
    # a dense block of thousands of levels is one big factorisation, where threads pay.
    with blas_threads(engine.largest_dense_block):
        compiled = _compiled_newton(engine, box, starts, near)
        if compiled is not None:
            return compiled
        quasi = _quasi_newton(engine, box, starts, log)
        if quasi is not None:
            par, code = quasi, 1
        else:
            xtol = FINISHED_XTOL if near else 1e-4
            par, code = _minimize_from(box, starts, log, near=near, xtol_rel=xtol)
            if xtol > 1e-4 and np.any(np.isfinite(box.lower) & (par - box.lower < BOUNDARY_GAP)):
                # Near a bound the Newton steps may hold a component there: BOBYQA goes on
                # to lme4's tolerance first.
                par, code = _minimize(box, par, log, near=True)
        restarted = False
        if _edge_descent(box, par):
            par, code = _minimize(box, par, log)
            restarted = True
        par = _snap_to_boundary(box, par)
        par, deviance, derivs, steps = _newton_finish(box, par)
        grad = derivs.scaled_gradient()
    name = ("SLSQP (exact gradient)" if quasi is not None else "bobyqa (NLopt)") + (
        ", restarted at the boundary" if restarted else ""
    )
    if steps:
        name += f" + {steps} Newton step(s)"
    return OptInfo(
        optimizer=name,
        converged=grad < GRADIENT_TOL,
        par_start=start,
        par=par,
        deviance=deviance,
        max_gradient=grad,
        evaluations=len(log),
        newton_steps=steps,
        messages=convergence_messages(grad) + ([f"NLopt return code {code}"] if code < 0 else []),
        history=np.asarray(log),
        derivs=derivs,
    )
