"""lmeformula: lme4's formulas, numbers and printout for linear mixed models in Python.

Examples
--------
>>> import lmeformula as lmf
>>> exam = lmf.datasets.load("exam")
>>> fit = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", data=exam)
>>> print(fit.summary())  # doctest: +SKIP
"""

from . import datasets, errors, plots
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
from .fit import gls, lmer, to_mixedlm
from .formula import parse
from .formula.terms import STRUCTURES
from .results import LmerResult
from .structures.residual import (
    AR1,
    ARH1,
    CAR1,
    CS,
    CSH,
    DIAG,
    TOEP,
    TOEPH,
    UN,
    VarExp,
    VarIdent,
    VarPower,
)

__version__ = "0.1.0"

__all__ = [
    "AR1",
    "ARH1",
    "CAR1",
    "CS",
    "CSH",
    "DIAG",
    "STRUCTURES",
    "TOEP",
    "TOEPH",
    "UN",
    "ConvergenceWarning",
    "DataError",
    "FormulaError",
    "LmeFormulaError",
    "LmeFormulaWarning",
    "LmerResult",
    "NotExpressibleError",
    "RankDeficiencyWarning",
    "SingularFitWarning",
    "VarExp",
    "VarIdent",
    "VarPower",
    "anova",
    "datasets",
    "errors",
    "gls",
    "lmer",
    "parse",
    "plots",
    "to_mixedlm",
]
