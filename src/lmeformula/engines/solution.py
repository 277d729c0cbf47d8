"""lme4's penalised least squares and profiled deviance (Bates et al. 2015, JSS 67(1)).

For a given θ the relative covariance factor Λ(θ) is built from each term's structure, and

    Λ'Z'WZΛ + I = L L'
    [u; β] solves the penalised normal equations
    r² = ||W^½(y - Xβ - ZΛu)||² + ||u||²
    ML:   d(θ) = log|L|² - log|W| + n (1 + log(2π r² / n))
    REML: d(θ) = log|L|² - log|W| + log|R_X|² + (n - p) (1 + log(2π r² / (n - p)))

This module holds what an engine hands back: the criteria read off a factor
(:class:`Criteria`) and the whole solution at one parameter vector (:class:`PLSSolution`).
It evaluates nothing itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Criteria",
    "PLSSolution",
    "criteria_from_factor",
    "deviance_at_sigma",
    "profiled_deviance",
]


@dataclass(frozen=True)
class Criteria:
    """lme4's criteria at one parameter vector.

    Attributes
    ----------
    deviance
        The ML or REML profiled deviance (the REML criterion for REML).
    ml_deviance
        The ML deviance there (lme4's "dev", also kept for REML fits).
    sigma
        The profiled residual standard deviation.
    pwrss
        Penalised weighted residual sum of squares r².
    logdet_L
        log|L|² (twice the log-determinant of the Cholesky factor of Λ'Z'WZΛ + I; the
        marginal engine's log|H|).
    logdet_RX
        log|R_X|².
    """

    deviance: float
    ml_deviance: float
    sigma: float
    pwrss: float
    logdet_L: float
    logdet_RX: float


@dataclass(frozen=True)
class PLSSolution:
    """The penalised least-squares solution at one parameter vector: what any engine hands
    to the results.

    Attributes
    ----------
    theta
        The random-effects structures' θ (the layout's ``"theta"`` block).
    beta
        Fixed effects.
    u
        Spherical random effects; the conditional modes are ``b = Λ u`` (empty for the
        marginal engine, which gives ``b`` directly).
    b
        Conditional modes of the random effects (length q, terms in lme4's order).
    criteria
        The deviances, σ and the factor's determinants (:class:`Criteria`).
    RX
        Upper-triangular factor with R_X'R_X = X'WX - R_ZX'R_ZX; vcov(β) = σ² (R_X'R_X)⁻¹.
    cond_var
        Zero-argument function returning diag(Λ (L L')⁻¹ Λ') (length q, in the order of
        ``b``): the conditional variances of the random effects relative to σ², lme4's
        ``condVar``. Computed from the engine's factor only when called, since for a large
        crossed factor it inverts a dense block of the factor (8 s for 10,000 levels). None
        when the engine does not provide it.
    """

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    criteria: Criteria
    RX: np.ndarray
    cond_var: Callable[[], np.ndarray] | None = None

    @property
    def deviance(self) -> float:
        """The objective: the REML criterion or the ML deviance."""
        return self.criteria.deviance

    @property
    def ml_deviance(self) -> float:
        """The ML deviance."""
        return self.criteria.ml_deviance

    @property
    def sigma(self) -> float:
        """The residual standard deviation."""
        return self.criteria.sigma

    @property
    def pwrss(self) -> float:
        """The penalised weighted residual sum of squares."""
        return self.criteria.pwrss


_LOG_2PI = math.log(2.0 * math.pi)


def _criteria(
    logdet_L: float, logdet_RX: float, pwrss: float, n: int, p: int, reml: bool, log_w: float
) -> Criteria:
    # Python floats, positional: on small models the optimizer calls this hundreds of times,
    # and numpy's (and keyword passing's) per-call cost on a handful of numbers is most of
    # the work.
    ml = logdet_L - log_w + n * (1.0 + _LOG_2PI + math.log(pwrss / n))
    if reml:
        nmp = n - p
        dev = logdet_L - log_w + logdet_RX + nmp * (1.0 + _LOG_2PI + math.log(pwrss / nmp))
        return Criteria(dev, ml, math.sqrt(pwrss / nmp), pwrss, logdet_L, logdet_RX)
    return Criteria(ml, ml, math.sqrt(pwrss / n), pwrss, logdet_L, logdet_RX)


def profiled_deviance(
    *,
    logdet_L: float,
    logdet_RX: float,
    pwrss: float,
    n: int,
    p: int,
    reml: bool,
    log_weights: float = 0.0,
) -> Criteria:
    """lme4's profiled deviances and σ from the factor's pieces.

    Examples
    --------
    >>> c = profiled_deviance(logdet_L=0.0, logdet_RX=0.0, pwrss=10.0, n=10, p=1, reml=False)
    >>> round(c.deviance, 6), c.sigma
    (28.378771, 1.0)
    """
    return _criteria(
        float(logdet_L), float(logdet_RX), float(pwrss), n, p, reml, float(log_weights)
    )


def criteria_from_factor(
    Lyy: np.ndarray, logdet_L: float, n: int, reml: bool, log_weights: float = 0.0
) -> Criteria:
    """lme4's criteria from the last block's factor: Lyy is the lower Cholesky factor of
    [X y]'W[X y] less what the random effects explain, so its last diagonal entry is r and
    the others make R_X."""
    diag = Lyy.diagonal().tolist()
    p = len(diag) - 1
    r = diag[p]
    logdet_rx = 0.0
    for v in diag[:p]:
        logdet_rx += math.log(abs(v))
    return _criteria(
        float(logdet_L), 2.0 * logdet_rx, max(r * r, 1e-300), n, p, reml, float(log_weights)
    )


def deviance_at_sigma(profiled: float, pwrss: float, m: int, sigma: float) -> float:
    """The deviance at a given σ from the one profiled over σ: -2 log L(θ, σ) with β at its
    conditional optimum (lme4's ``devfun2``; lmerTest's deviance for Satterthwaite).

    Profiling replaced m log(2πσ²) + r²/σ² by its minimum m (1 + log(2π r²/m)), m being
    n (ML) or n - p (REML); this puts it back.

    Examples
    --------
    >>> c = profiled_deviance(logdet_L=1.0, logdet_RX=0.0, pwrss=8.0, n=10, p=1, reml=False)
    >>> deviance_at_sigma(c.deviance, c.pwrss, 10, c.sigma) == c.deviance
    True
    """
    s2 = sigma * sigma
    return float(
        profiled
        - m * (1.0 + math.log(2.0 * math.pi * pwrss / m))
        + m * math.log(2.0 * math.pi * s2)
        + pwrss / s2
    )
