"""lmeformula: lme4's formulas, numbers and printout for linear mixed models in Python.

Examples
--------
>>> import lmeformula as lmf
>>> exam = lmf.datasets.load("exam")
>>> fit = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", data=exam)
>>> print(fit.summary())  # doctest: +SKIP
"""

from . import datasets, errors
from .compare import anova
from .errors import (
    ConvergenceWarning,
    DataError,
    FormulaError,
    LmeFormulaError,
    LmeFormulaWarning,
    NotExpressibleError,
    RankDeficiencyWarning,
    SingularFitWarning,
)
from .fit import lmer, to_mixedlm
from .formula import parse
from .results import LmerResult

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "DataError",
    "FormulaError",
    "LmeFormulaError",
    "LmeFormulaWarning",
    "LmerResult",
    "NotExpressibleError",
    "RankDeficiencyWarning",
    "SingularFitWarning",
    "anova",
    "datasets",
    "errors",
    "lmer",
    "parse",
    "to_mixedlm",
]
