"""The model to fit, before any estimate: what lme4's ``lFormula`` returns.

A :class:`Model` bundles the parsed formula, the model frame (the rows and columns used),
the design (y, X, Z, weights, offset, the random-effects terms and their structures), the
residual model (a residual structure, a variance function and prior weights, bound to the
rows) and the criterion. The engine factory builds its objective from it, and the fitted
model's state (:class:`lmeformula.results.state.ModelState`) carries it beside the
estimates, so that a refit, a profile or a bootstrap rebuilds exactly the same objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmeformula.families import Family
from lmeformula.formula.terms import ParsedFormula
from lmeformula.model.design import Design
from lmeformula.model.frame import ModelFrame
from lmeformula.structures.residual import ResidualModel

__all__ = ["Model"]


@dataclass(frozen=True)
class Model:
    """The model to fit.

    Attributes
    ----------
    parsed
        The parsed formula.
    frame
        The model frame: the rows and columns used, missing-value rows dropped.
    design
        y, X, Z (per term), weights and offset.
    residual
        The residual model (structure, variance function, prior weights), or None for
        lme4's independent residuals with variance σ²/w.
    reml
        REML (True) or maximum likelihood.
    family
        A generalized model's family (None: lme4's linear mixed model).
    trials
        A generalized model's number of trials per row (the binomial's; ones otherwise).
    nagq
        A generalized model's quadrature points per group (0: lme4's nAGQ = 0, 1:
        Laplace).
    """

    parsed: ParsedFormula
    frame: ModelFrame
    design: Design
    residual: ResidualModel | None
    reml: bool
    family: Family | None = None
    trials: np.ndarray | None = None
    nagq: int = 1

    @property
    def formula(self) -> str:
        """The formula as written."""
        return self.parsed.formula
