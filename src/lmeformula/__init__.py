"""lmeformula: lme4's formulas, numbers and printout for mixed models in Python.

Examples
--------
>>> import lmeformula as lmf
>>> exam = lmf.datasets.load("exam")
>>> fit = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", data=exam)
>>> print(fit.summary())  # doctest: +SKIP
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from lmeformula import datasets, errors, families
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
from lmeformula.fitting.glmm import glmer, glmer_nb
from lmeformula.formula import parse
from lmeformula.formula.terms import STRUCTURES
from lmeformula.results.glmer import GlmerResult
from lmeformula.results.lmer import LmerResult
from lmeformula.rfiles import read_r
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
from lmeformula.versions import VERSION, show_versions

__version__ = VERSION

# What only some analyses need is imported on first use: ``import lmeformula`` stays light
# (no scipy.stats, matplotlib or statsmodels until a test, a plot or MixedLM asks).
_LAZY = {
    "plots": ("lmeformula.plots", None),
    "inference": ("lmeformula.inference", None),
    "anova": ("lmeformula.comparison.compare", "anova"),
    "Selection": ("lmeformula.comparison.selection", "Selection"),
    "compare": ("lmeformula.comparison.selection", "compare"),
    "select_covariance": ("lmeformula.comparison.selection", "select_covariance"),
    "select_random": ("lmeformula.comparison.selection", "select_random"),
    "ManyFits": ("lmeformula.fitting.many", "ManyFits"),
    "fit_many": ("lmeformula.fitting.many", "fit_many"),
    "refit": ("lmeformula.fitting.refit", "refit"),
    "BootstrapResult": ("lmeformula.inference.bootstrap", "BootstrapResult"),
    "to_bayes_mixed_glm": ("lmeformula.fitting.bayes", "to_bayes_mixed_glm"),
}

if TYPE_CHECKING:
    from lmeformula import inference, plots
    from lmeformula.comparison.compare import anova
    from lmeformula.comparison.selection import Selection, compare, select_covariance, select_random
    from lmeformula.fitting.bayes import to_bayes_mixed_glm
    from lmeformula.fitting.many import ManyFits, fit_many
    from lmeformula.fitting.refit import refit
    from lmeformula.inference.bootstrap import BootstrapResult


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'lmeformula' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = import_module(module) if attr is None else getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


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
    "GlmerResult",
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
    "families",
    "fit_many",
    "glmer",
    "glmer_nb",
    "gls",
    "inference",
    "lmer",
    "parse",
    "plots",
    "read_r",
    "refit",
    "select_covariance",
    "select_random",
    "show_versions",
    "to_bayes_mixed_glm",
    "to_mixedlm",
]
