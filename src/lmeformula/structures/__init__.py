"""Covariance structures: correlation patterns written once (:mod:`.patterns`), used by the
random-effects side (:mod:`.base`, :mod:`.random`) and the residual side (:mod:`.residual`),
and variance functions (:mod:`.variance`)."""

from lmeformula.structures.base import CovStructure
from lmeformula.structures.random import KINDS, Diagonal, Scaled, Unstructured, make_structure

__all__ = ["KINDS", "CovStructure", "Diagonal", "Scaled", "Unstructured", "make_structure"]
