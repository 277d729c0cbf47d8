"""Results: the fitted model's state and the accessors, tables and printouts read from it."""

from lmeformula.results.lmer import LmerResult, Summary

__all__ = ["LmerResult", "Summary"]
