"""lme4's profiled deviance of a Gaussian model, on the blocked Cholesky factor.

The objective is a function of the factor at θ only (:class:`~.factor.BlockedFactor`):

    ML:   d(θ) = log|L|² - log|W| + n (1 + log(2π r² / n))
    REML: d(θ) = log|L|² - log|W| + log|R_X|² + (n - p) (1 + log(2π r² / (n - p)))

:meth:`BlockedPLS.deviance` and :meth:`BlockedPLS.solve` factor the same way (one
:meth:`~.factor.BlockedFactor.update`); ``solve`` then reads β and u off the factor by
back-substitution.
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.linalg as la

from lmeformula.engines.factor import BlockedFactor
from lmeformula.engines.layout import layout_of
from lmeformula.engines.lmm_kernels import Objective
from lmeformula.engines.solution import Criteria, PLSSolution
from lmeformula.model.design import Design

__all__ = ["BlockedPLS"]


class BlockedPLS:
    """lme4's profiled deviance evaluated by blocked Cholesky.

    Parameters
    ----------
    design
        The model's design (terms sorted by number of levels, largest first).
    reml
        REML (True) or ML (False) criterion.
    factor
        The factor of the design's system (built from the design when not given).
    """

    def __init__(self, design: Design, reml: bool, factor: BlockedFactor | None = None) -> None:
        self.design = design
        self.reml = reml
        self.factor = BlockedFactor(design) if factor is None else factor
        self.layout = layout_of(design)
        self.n, self.p = design.X.shape
        self.largest_dense_block = self.factor.largest_dense_block

    @property
    def has_gradient(self) -> bool:
        """Whether :meth:`gradient` is exact (else None, finite differences)."""
        return bool(self.factor.has_gradient)

    @property
    def objective(self) -> Objective | None:
        """The deviance and its exact gradient as one compiled function of θ, where the
        system is small and Λ is θ among zeros
        (:meth:`~lmeformula.engines.factor.BlockedFactor.objective`), else None."""
        return self.factor.objective(self.n, self.reml)

    def with_response(self, y: np.ndarray) -> BlockedPLS:
        """The same model for another response (the factor's X and Z products shared)."""
        factor = self.factor.with_response(y)
        # A copy: the layout is the terms', and made anew it costs a small refit 20 us.
        new = copy.copy(self)
        new.design, new.factor = factor.design, factor
        return new

    def gradient(self, par: np.ndarray) -> np.ndarray | None:
        """The exact gradient of the deviance where the factor has one (small models with
        unstructured or diagonal terms, see :meth:`.factor.BlockedFactor.gradient`), else
        None: the optimizer then takes finite differences."""
        return self.factor.gradient(par, self.n, self.reml)

    def criteria(self, par: np.ndarray) -> Criteria:
        """The criteria at θ, without solving for β and u."""
        fac = self.factor.update(par)
        return fac.criteria(self.n, self.reml, self.factor.log_weights)

    def deviance(self, par: np.ndarray) -> float:
        """The profiled deviance (REML criterion for REML) at θ; inf where the system is
        not positive definite."""
        try:
            return self.factor.deviance(par, self.n, self.reml)
        except (la.LinAlgError, np.linalg.LinAlgError):
            return np.inf

    def solve(self, par: np.ndarray) -> PLSSolution:
        """β, u, b, σ and the criteria at θ."""
        theta = np.asarray(par, dtype=float)
        fac = self.factor.update(theta, keep=True)
        criteria, beta, u, b, RX = fac.solution(self.n, self.reml, self.factor.log_weights)
        return PLSSolution(
            theta=theta,
            beta=beta,
            u=u,
            b=b,
            criteria=criteria,
            RX=RX,
            # Lazy: for a crossed factor of thousands of levels this inverts L_11. The bound
            # method holds the factorisation's arrays only, not the engine and its products.
            cond_var=fac.cond_var,
        )
