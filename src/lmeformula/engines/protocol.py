"""The engine contract: what every objective offers the optimizer and the results.

Interface notes (every engine implements all of these; nothing else is read from one):

- ``design``: the model's design (:class:`lmeformula.model.design.Design`), and ``reml``:
  whether the objective is the REML criterion (True) or the ML deviance (False).
- ``layout``: the :class:`~lmeformula.engines.layout.ParameterLayout` of the parameter
  vector ``par``: named blocks (``"theta"``, ``"residual"``, ``"variance"``, later
  ``"dispersion"`` and ``"beta"``) with bounds and a start. Read a block with
  ``layout.get(par, "theta")``, never by position.
- ``deviance(par) -> float``: the objective at ``par`` (-2 log-likelihood, profiled over
  β and σ for the Gaussian engines; the REML criterion when ``reml``). ``inf`` where the
  model is not defined (a factor that is not positive definite), so that a bounded
  derivative-free optimizer steps back.
- ``solve(par) -> PLSSolution``: everything that follows from the parameters (β, the
  spherical and conditional random effects, σ, the criteria and the factors the results
  need). The same computation as ``deviance``: ``solve(par).deviance == deviance(par)``.
- ``gradient(par) -> numpy.ndarray | None``: the exact gradient of ``deviance`` where the
  engine has one, else None (the optimizer then uses finite differences,
  :func:`lmeformula.engines.derivatives.finite_differences`).
- ``with_response(y) -> Engine``: the same model for another response, reusing what does
  not depend on y (a bootstrap replicate, a profile over a fixed effect, ``fit_many``).
- ``largest_dense_block``: order of the largest dense block factored per evaluation,
  which decides how many BLAS threads pay (:func:`lmeformula.engines.threads.blas_threads`).

Engines are built by one factory, :func:`lmeformula.engines.factory.make_engine`, from a
:class:`~lmeformula.model.model.Model`; an engine hands back estimates and never builds a
results object.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from lmeformula.engines.layout import ParameterLayout
from lmeformula.engines.solution import Criteria, PLSSolution
from lmeformula.model.design import Design

__all__ = ["Engine", "GaussianEngine"]


@runtime_checkable
class Engine(Protocol):
    """The objective of a fit as a function of its parameter vector (see the module)."""

    design: Design
    reml: bool
    layout: ParameterLayout
    largest_dense_block: int

    def deviance(self, par: np.ndarray) -> float:
        """The objective at ``par``."""
        ...

    def solve(self, par: np.ndarray) -> PLSSolution:
        """Everything that follows from ``par``."""
        ...

    def gradient(self, par: np.ndarray) -> np.ndarray | None:
        """The exact gradient of :meth:`deviance`, or None where there is none."""
        ...

    def with_response(self, y: np.ndarray) -> Engine:
        """The same model for the response ``y``."""
        ...


@runtime_checkable
class GaussianEngine(Engine, Protocol):
    """A Gaussian engine also gives the criteria without solving for β and u: what a
    deviance not profiled over σ needs (lme4's ``devfun2`` in ``profile``)."""

    def criteria(self, par: np.ndarray) -> Criteria:
        """log|L|², log|R_X|², the penalised residual sum of squares and the deviances."""
        ...
