"""The fitted model's state: the model and its estimates, read by every other module.

:class:`ModelState` is what lme4's ``getME`` reads: the model (parsed formula, frame,
design, residual model, criterion), the engine's parameter layout and the estimates
(the parameter vector, the penalised least-squares solution there, the optimizer's
record). It is frozen: a fit does not change after it is made. Everything a result
reports (``fixef``, ``VarCorr``, ``ranef``, tests, intervals, plots) is a function of it.

Examples
--------
>>> import lmeformula as lmf
>>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
>>> s = fit.state
>>> s.X.shape, s.Z.shape, s.theta.round(4).tolist()
((180, 2), (180, 36), [0.9667, 0.0152, 0.2309])
>>> float(abs(s.Lambda @ s.u - s.b).max()) < 1e-12
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from lmeformula.engines.layout import ParameterLayout
from lmeformula.engines.solution import PLSSolution
from lmeformula.formula.terms import ParsedFormula
from lmeformula.model.design import Design, ReTerm
from lmeformula.model.frame import ModelFrame
from lmeformula.model.model import Model
from lmeformula.structures.residual import ResidualModel

__all__ = ["ModelState", "TermBlock"]


@dataclass(frozen=True)
class TermBlock:
    """One random-effects term at the estimates.

    Attributes
    ----------
    term
        The term's design (grouping factor, columns, structure).
    theta
        Its block of θ.
    rel_cov
        Σ_k / σ², the relative covariance of its random effects.
    columns
        Where its random effects sit in ``b`` (and in Z's columns).
    """

    term: ReTerm
    theta: np.ndarray
    rel_cov: np.ndarray
    columns: slice


@dataclass(frozen=True)
class ModelState:
    """The model and its estimates (see the module docstring).

    Attributes
    ----------
    model
        The model that was fitted (:class:`lmeformula.model.model.Model`).
    layout
        The parameter layout of the objective that was minimised: its blocks by name.
    params
        The parameter vector at the optimum (``layout.get(params, "theta")`` is θ).
    solution
        The penalised least-squares solution at ``params``: β, u, b, σ, the criteria.
    optinfo
        How the optimizer got there (:class:`lmeformula.fitting.optimize.OptInfo`).
    """

    model: Model
    layout: ParameterLayout
    params: np.ndarray
    solution: PLSSolution
    optinfo: Any

    # -- the model -----------------------------------------------------------------------

    @property
    def parsed(self) -> ParsedFormula:
        """The parsed formula."""
        return self.model.parsed

    @property
    def frame(self) -> ModelFrame:
        """The model frame (rows and columns used)."""
        return self.model.frame

    @property
    def design(self) -> Design:
        """The design: y, X, Z, weights, offset and the random-effects terms."""
        return self.model.design

    @property
    def residual(self) -> ResidualModel | None:
        """The residual model (structure, variance function, weights), or None."""
        return self.model.residual

    @property
    def reml(self) -> bool:
        """Whether the criterion is REML."""
        return self.model.reml

    # -- lme4's getME ------------------------------------------------------------------

    @property
    def X(self) -> np.ndarray:
        """The fixed-effects model matrix (rank-deficient columns dropped)."""
        return self.design.X

    @property
    def Z(self) -> sp.csc_matrix:
        """The random-effects model matrix, n x q, sparse (terms in lme4's order)."""
        return self.design.Z

    @property
    def y(self) -> np.ndarray:
        """The response."""
        return self.design.y

    @property
    def weights(self) -> np.ndarray | None:
        """The prior weights (None: all 1)."""
        return self.design.weights

    @property
    def offset(self) -> np.ndarray:
        """The offset (zeros when none)."""
        return self.design.offset

    @property
    def theta(self) -> np.ndarray:
        """lme4's θ: the random-effects structures' parameters."""
        return self.layout.get(self.params, "theta")

    @property
    def residual_params(self) -> np.ndarray:
        """The residual model's parameters on the optimizer's scale (structure's, then
        variance function's; empty without a residual model)."""
        return np.concatenate(
            [self.layout.get(self.params, "residual"), self.layout.get(self.params, "variance")]
        )

    @cached_property
    def Lambda(self) -> sp.csc_matrix:
        """Λ(θ̂), the relative covariance factor, q x q sparse."""
        return self.design.lambda_matrix(self.theta)

    @cached_property
    def Z_Lambda(self) -> sp.csc_matrix:
        """Z Λ(θ̂), n x q sparse: what simulated random effects u enter the linear predictor
        through (made once: a bootstrap draws from it at every replicate)."""
        return self.design.Z @ self.Lambda

    @property
    def beta(self) -> np.ndarray:
        """The fixed effects."""
        return self.solution.beta

    @property
    def u(self) -> np.ndarray:
        """The spherical random effects (b = Λu); empty for models with a residual
        structure, whose engine gives b directly."""
        return self.solution.u

    @property
    def b(self) -> np.ndarray:
        """The conditional modes of the random effects (length q)."""
        return self.solution.b

    @property
    def sigma(self) -> float:
        """The residual standard deviation."""
        return self.solution.sigma

    @property
    def mu(self) -> np.ndarray:
        """The fitted values X β + Z b + offset."""
        d = self.design
        return d.X @ self.beta + np.asarray(d.Z @ self.b).ravel() + d.offset

    @cached_property
    def term_blocks(self) -> tuple[TermBlock, ...]:
        """Each random-effects term at the estimates, in lme4's order."""
        out = []
        start = 0
        for term, sl in zip(self.design.terms, self.design.theta_slices, strict=True):
            theta = self.theta[sl]
            out.append(
                TermBlock(term, theta, term.structure.rel_cov(theta), slice(start, start + term.q))
            )
            start += term.q
        return tuple(out)
