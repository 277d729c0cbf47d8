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
    """

    parsed: ParsedFormula
    frame: ModelFrame
    design: Design
    residual: ResidualModel | None
    reml: bool

    @property
    def formula(self) -> str:
        """The formula as written."""
        return self.parsed.formula
