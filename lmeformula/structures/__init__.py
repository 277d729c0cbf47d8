"""Covariance structures of random-effects terms (see :mod:`.base` for the contract)."""

from lmeformula.structures.base import CovStructure, Diagonal, Unstructured, make_structure

__all__ = ["CovStructure", "Diagonal", "Unstructured", "make_structure"]
