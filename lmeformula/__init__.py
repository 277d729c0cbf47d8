"""lmeformula: lme4's formulas, numbers and printout for linear mixed models in Python.

Examples
--------
>>> import lmeformula as lmf
>>> exam = lmf.datasets.load("exam")
>>> fit = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", data=exam)
>>> print(fit.summary())  # doctest: +SKIP
"""

from lmeformula import datasets, errors, plots
from lmeformula.comparison.compare import anova
from lmeformula.comparison.selection import Selection, compare, select_covariance, select_random
from lmeformula.errors import (
    BootstrapWarning,
    ComparisonWarning,
    ConvergenceWarning,
    DataError,
    FitManyWarning,
    FormulaError,
    LmeFormulaError,
    LmeFormulaWarning,
    NotExpressibleError,
    ProfileWarning,
    RankDeficiencyWarning,
    SingularFitWarning,
)
from lmeformula.fitting.api import gls, lmer, to_mixedlm
from lmeformula.fitting.many import ManyFits, fit_many
from lmeformula.fitting.refit import refit
from lmeformula.formula import parse
from lmeformula.formula.terms import STRUCTURES
from lmeformula.inference.bootstrap import BootstrapResult
from lmeformula.results.lmer import LmerResult
from lmeformula.structures.residual import (
    AR1,
    ARH1,
    ARMA,
    CAR1,
    CS,
    CSH,
    DIAG,
    EXP,
    GAU,
    LIN,
    RATIO,
    SPH,
    TOEP,
    TOEPH,
    UN,
)
from lmeformula.structures.variance import VarExp, VarIdent, VarPower

__version__ = "0.1.0"

__all__ = [
    "AR1",
    "ARH1",
    "ARMA",
    "CAR1",
    "CS",
    "CSH",
    "DIAG",
    "EXP",
    "GAU",
    "LIN",
    "RATIO",
    "SPH",
    "STRUCTURES",
    "TOEP",
    "TOEPH",
    "UN",
    "BootstrapResult",
    "BootstrapWarning",
    "ComparisonWarning",
    "ConvergenceWarning",
    "DataError",
    "FitManyWarning",
    "FormulaError",
    "LmeFormulaError",
    "LmeFormulaWarning",
    "LmerResult",
    "ManyFits",
    "NotExpressibleError",
    "ProfileWarning",
    "RankDeficiencyWarning",
    "Selection",
    "SingularFitWarning",
    "VarExp",
    "VarIdent",
    "VarPower",
    "anova",
    "compare",
    "datasets",
    "errors",
    "fit_many",
    "gls",
    "lmer",
    "parse",
    "plots",
    "refit",
    "select_covariance",
    "select_random",
    "to_mixedlm",
]
