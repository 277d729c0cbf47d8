"""Optimising lme4's profiled deviance and recording how it went.

- :func:`bobyqa`: lme4's default optimizer (NLopt's LN_BOBYQA with lme4's tolerances),
  with lme4's ``restart_edge`` and boundary checks and its convergence check.
- :func:`newton_polish`: Newton steps from a point near the optimum. An optimizer that
  stops on a loose tolerance leaves estimates a few units in the fifth digit away from
  lme4's; near the optimum the deviance is quadratic, so one or two Newton steps with the
  finite-difference Hessian the convergence check computes anyway close the gap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nlopt
import numpy as np
from threadpoolctl import ThreadpoolController

from lmeformula.engines.solution import Derivatives, ProfiledDeviance

__all__ = [
    "GRADIENT_TOL",
    "Attempt",
    "OptInfo",
    "bobyqa",
    "bobyqa_minimize",
    "convergence_messages",
    "newton_polish",
]

# Discovering the loaded BLAS libraries takes milliseconds: do it once per process.
_THREADS: ThreadpoolController | None = None


def _blas_controller() -> ThreadpoolController:
    global _THREADS
    if _THREADS is None:
        _THREADS = ThreadpoolController()
    return _THREADS


#: Dense blocks at least this large are factored with all BLAS threads (10,000 levels: 8.3 s
#: on two threads against 11.5 s on one).
LARGE_DENSE_BLOCK = 2000


def blas_threads(largest_dense_block: int) -> Any:
    """A context in which BLAS uses one thread, unless the model has a dense block of
    ``LARGE_DENSE_BLOCK`` levels or more (one big factorisation, where threads pay).

    Many small BLAS and LAPACK calls only pay the threads' synchronisation: on two cores
    shared with other work, a 2 x 2 triangular solve took 4 ms with two threads and 2 µs
    with one. Fits, refits and profiles run inside it.
    """
    threads = None if largest_dense_block >= LARGE_DENSE_BLOCK else 1
    return _blas_controller().limit(limits=threads, user_api="blas")


#: lme4's tolerance on the scaled gradient (``check.conv.grad``).
GRADIENT_TOL = 2e-3


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
    theta_start, theta
        θ at the start and at the end.
    deviance
        The objective at the end.
    max_gradient
        Largest absolute (projected) gradient component at the end.
    evaluations
        Objective evaluations (fits tried, for the statsmodels engine).
    attempts
        Every fit tried, in order (statsmodels engine).
    messages
        Warnings to print with the summary.
    history
        The objective at every evaluation, in order.
    """

    optimizer: str
    converged: bool
    theta_start: np.ndarray
    theta: np.ndarray
    deviance: float
    max_gradient: float
    evaluations: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    history: np.ndarray = field(default_factory=lambda: np.zeros(0))


def newton_polish(
    problem: ProfiledDeviance,
    theta: np.ndarray,
    max_steps: int = 3,
    derivs: Derivatives | None = None,
) -> tuple[np.ndarray, float, Derivatives, int]:
    """Take Newton steps from θ while they lower the deviance.

    Parameters
    ----------
    problem
        The profiled deviance.
    theta
        A point near the optimum.
    max_steps
        At most this many accepted steps.
    derivs
        The derivatives at θ when the caller has them (a Hessian costs O(k²) evaluations).

    Returns
    -------
    theta, deviance, derivatives, steps
        The refined θ, its deviance, the derivatives there and how many steps were taken.
    """
    theta = np.asarray(theta, dtype=float)
    dev = problem.deviance(theta)
    if derivs is None:
        derivs = problem.derivatives(theta)
    steps = 0
    for _ in range(max_steps):
        step = derivs.newton_step()
        if step is None or not np.any(step):
            break
        accepted = False
        for shrink in (1.0, 0.5, 0.25):
            cand = _clip(problem, theta + shrink * step)
            cand_dev = problem.deviance(cand)
            if cand_dev < dev - 1e-12:
                theta, dev, accepted = cand, cand_dev, True
                break
        if not accepted:
            break
        steps += 1
        derivs = problem.derivatives(theta)
        if derivs.scaled_gradient() < 1e-6:
            break
    return theta, dev, derivs, steps


def convergence_messages(max_gradient: float, tol: float = GRADIENT_TOL) -> list[str]:
    """lme4's warning text when the scaled gradient fails the check, else nothing."""
    if max_gradient < tol:
        return []
    return [f"Model failed to converge with max|grad| = {max_gradient:.3g} (tol = {tol})"]


def _minimize(
    problem: ProfiledDeviance, start: np.ndarray, log: list[float]
) -> tuple[np.ndarray, int]:
    def objective(x: np.ndarray, grad: np.ndarray) -> float:
        value = problem.deviance(x)
        log.append(value)
        return value

    if start.size == 0:
        # Nothing to optimise (gls with independent residuals, the linear model); NLopt
        # refuses a zero-dimensional problem.
        objective(start, start)
        return start, 1
    opt = nlopt.opt(nlopt.LN_BOBYQA, start.size)
    opt.set_lower_bounds(problem.lower)
    if problem.upper is not None:
        opt.set_upper_bounds(problem.upper)
    opt.set_min_objective(objective)
    # lme4's nloptwrap defaults, plus nloptr's own default xtol_rel = 1e-4 that lme4 runs
    # with (InstEval: 68 evaluations with it, 113 without).
    opt.set_xtol_abs(1e-8)
    opt.set_ftol_abs(1e-8)
    opt.set_xtol_rel(1e-4)
    opt.set_maxeval(100_000)
    x = opt.optimize(_clip(problem, start))
    return np.asarray(x, dtype=float), int(opt.last_optimize_result())


@dataclass
class _Objective:
    """Any function minimised as the profiled deviance is (what ``_minimize`` reads)."""

    deviance: Callable[[np.ndarray], float]
    lower: np.ndarray
    upper: np.ndarray | None


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
    obj = _Objective(fn, np.asarray(lower, dtype=float), upper)
    x, _ = _minimize(obj, np.asarray(start, dtype=float), log)  # type: ignore[arg-type]
    return x, float(fn(x)), len(log)


def _clip(problem: ProfiledDeviance, theta: np.ndarray) -> np.ndarray:
    theta = np.maximum(theta, problem.lower)
    return theta if problem.upper is None else np.minimum(theta, problem.upper)


def _snap_to_boundary(
    problem: ProfiledDeviance, theta: np.ndarray, tol: float = 1e-5
) -> np.ndarray:
    # lme4's check.boundary: a parameter within tol of its bound goes onto it when that
    # does not raise the deviance (a singular fit then reports exactly 0).
    near = np.isfinite(problem.lower) & (theta - problem.lower < tol) & (theta != problem.lower)
    if not near.any():
        return theta
    snapped = np.where(near, problem.lower, theta)
    return snapped if problem.deviance(snapped) <= problem.deviance(theta) else theta


def _edge_descent(problem: ProfiledDeviance, theta: np.ndarray, btol: float = 1e-5) -> bool:
    # lme4's restart_edge: does the deviance fall when a boundary parameter leaves 0?
    d0 = problem.deviance(theta)
    for i in np.flatnonzero(np.isfinite(problem.lower) & (theta == problem.lower)):
        moved = theta.copy()
        moved[i] = problem.lower[i] + btol
        if problem.deviance(moved) < d0:
            return True
    return False


def bobyqa(problem: ProfiledDeviance) -> OptInfo:
    """Minimise the profiled deviance as lme4's default ``lmerControl()`` does.

    Parameters
    ----------
    problem
        The profiled deviance with its bounds and start.

    Returns
    -------
    OptInfo
        With the optimum, every objective value evaluated, and the convergence check.
    """
    log: list[float] = []
    # Many small BLAS calls: more threads only add synchronisation (2.5x slower on 2 cores);
    # a dense block of thousands of levels is one big factorisation, where threads pay.
    with blas_threads(problem.largest_dense_block):
        theta, code = _minimize(problem, problem.start, log)
        restarted = False
        if _edge_descent(problem, theta):
            theta, code = _minimize(problem, theta, log)
            restarted = True
        theta = _snap_to_boundary(problem, theta)
        derivs = problem.derivatives(theta)
        grad = derivs.scaled_gradient()
        steps = 0
        if grad >= GRADIENT_TOL:
            theta, _, derivs, steps = newton_polish(problem, theta, derivs=derivs)
            grad = derivs.scaled_gradient()
        deviance = problem.deviance(theta)
    converged = grad < GRADIENT_TOL
    messages = convergence_messages(grad)
    name = "bobyqa (NLopt)" + (", restarted at the boundary" if restarted else "")
    if steps:
        name += f" + {steps} Newton step(s)"
    return OptInfo(
        optimizer=name,
        converged=converged,
        theta_start=problem.start,
        theta=theta,
        deviance=deviance,
        max_gradient=grad,
        evaluations=len(log),
        messages=messages + ([f"NLopt return code {code}"] if code < 0 else []),
        history=np.asarray(log),
    )
