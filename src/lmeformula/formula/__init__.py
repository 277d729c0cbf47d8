"""The lme4 formula grammar: ``parse`` turns an R mixed-model formula into terms.

Modules, one job each: :mod:`.tokens` (characters to tokens), :mod:`.parser` (tokens to
the syntax tree of :mod:`.nodes`), :mod:`.specials` (covariance specials), :mod:`.expand`
(lme4's reading of sums, intercepts and bars), :mod:`.render` (formulaic and R text),
:mod:`.variables` (columns used), :mod:`.build` (``parse`` itself), :mod:`.terms` (the
output dataclasses).
"""

from __future__ import annotations

from lmeformula.formula.build import parse
from lmeformula.formula.specials import SPECIALS
from lmeformula.formula.terms import STRUCTURES, ParsedFormula, RandomTerm, Structure

__all__ = ["SPECIALS", "STRUCTURES", "ParsedFormula", "RandomTerm", "Structure", "parse"]
