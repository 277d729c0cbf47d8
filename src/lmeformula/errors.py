"""Errors and warnings of lmeformula.

Every error also subclasses the builtin a caller would catch (``ValueError`` or
``TypeError``), as scikit-learn's ``NotFittedError`` does, and every message says what went
wrong, names the culprit and says what to do next.
"""

from __future__ import annotations

__all__ = [
    "ArgumentTypeError",
    "BootstrapWarning",
    "ComparisonWarning",
    "ConvergenceWarning",
    "DataError",
    "DataFileNotFoundError",
    "FitManyWarning",
    "FormulaError",
    "LmeFormulaError",
    "LmeFormulaWarning",
    "MissingDependencyError",
    "NotExpressibleError",
    "ProfileWarning",
    "RankDeficiencyWarning",
    "SingularFitWarning",
]


class LmeFormulaError(Exception):
    """Base class of every error raised by lmeformula."""


class FormulaError(LmeFormulaError, ValueError):
    """A formula that cannot be parsed or has no meaning.

    Parameters
    ----------
    message
        What is wrong and what to do.
    formula
        The formula as written; when given with ``position``, the message shows it with a
        caret under the offending token.
    position
        Zero-based character offset of the offending token in ``formula``.
    token
        The offending token's text.
    """

    def __init__(
        self,
        message: str,
        *,
        formula: str | None = None,
        position: int | None = None,
        token: str | None = None,
    ) -> None:
        self.formula = formula
        self.position = position
        self.token = token
        self.reason = message
        text = message
        if formula is not None and position is not None:
            # Show the formula on one line so the caret lines up under the token.
            flat = formula.replace("\n", " ").replace("\t", " ")
            text = f"{message}\n    {flat}\n    {' ' * position}^"
        super().__init__(text)


class DataError(LmeFormulaError, ValueError):
    """Data that cannot be used for the model asked for (missing column, bad values, ...)."""


class DataFileNotFoundError(LmeFormulaError, FileNotFoundError):
    """A data file to read (:func:`lmeformula.read_r`) that does not exist."""


class MissingDependencyError(LmeFormulaError, ImportError):
    """An optional dependency that a feature needs is not installed; the message says
    which extra installs it (``pip install "lmeformula[r]"``)."""


class NotExpressibleError(LmeFormulaError, ValueError):
    """A model that a particular engine (statsmodels' MixedLM) cannot express."""


class ArgumentTypeError(LmeFormulaError, TypeError):
    """An argument of the wrong type."""


class LmeFormulaWarning(UserWarning):
    """Base class of every warning issued by lmeformula."""


class ConvergenceWarning(LmeFormulaWarning):
    """The optimizer could not confirm that it reached the optimum."""


class SingularFitWarning(LmeFormulaWarning):
    """The fit is singular: a variance is zero or a correlation is +-1."""


class RankDeficiencyWarning(LmeFormulaWarning):
    """The fixed-effects design is rank deficient and columns were dropped."""


class BootstrapWarning(LmeFormulaWarning):
    """Some bootstrap refits failed; they are counted and left out."""


class FitManyWarning(LmeFormulaWarning):
    """Some responses of ``fit_many`` could not be fitted; they are reported, not raised."""


class ProfileWarning(LmeFormulaWarning):
    """A likelihood profile is not monotone or found a lower deviance than the fit's."""


class ComparisonWarning(LmeFormulaWarning):
    """Models compared whose likelihoods are not comparable: fitted to different rows, or
    REML fits with different fixed effects (their restricted likelihoods are of different
    data), or a candidate that could not be fitted."""
