"""Refining an optimum: Newton steps on lme4's profiled deviance.

An optimizer that stops on a loose tolerance leaves estimates a few units in the fifth
digit away from lme4's. Near the optimum the deviance is quadratic, so one or two Newton
steps with the finite-difference Hessian the convergence check computes anyway close the gap.
"""

from __future__ import annotations

import numpy as np

from .engines.pls import Derivatives, PLSProblem

__all__ = ["newton_polish"]


def newton_polish(
    problem: PLSProblem, theta: np.ndarray, max_steps: int = 3
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

    Returns
    -------
    theta, deviance, derivatives, steps
        The refined θ, its deviance, the derivatives there and how many steps were taken.
    """
    theta = np.asarray(theta, dtype=float)
    dev = problem.deviance(theta)
    derivs = problem.derivatives(theta)
    steps = 0
    for _ in range(max_steps):
        step = derivs.newton_step()
        if step is None or not np.any(step):
            break
        accepted = False
        for shrink in (1.0, 0.5, 0.25):
            cand = np.maximum(theta + shrink * step, problem.lower)
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
