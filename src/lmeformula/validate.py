"""Checks of the arguments public functions take: one place, so that every entry point
answers a wrong argument the same way (an :class:`~lmeformula.errors.ArgumentTypeError`
naming the argument, what it got, and what it takes).

Data (DataFrames and their columns) are checked in :mod:`lmeformula.model.datacheck`.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lmeformula.errors import ArgumentTypeError, DataError

__all__ = [
    "DDF_METHODS",
    "check_bool",
    "check_ddf",
    "check_level",
    "check_name",
    "check_positive",
    "contrast_matrix",
    "is_fixed_only",
    "reject_unknown",
]

# Arguments an R user reaches for, and what to write instead.
R_ARGUMENTS: dict[str, str] = {
    "REML": "write reml=True or reml=False",
    "offset": "write offset(x) in the formula",
    "subset": "subset the DataFrame first, e.g. data[data['x'] > 0]",
    "na_action": "rows with missing values are always dropped and counted, as R's na.omit",
    "na.action": "rows with missing values are always dropped and counted, as R's na.omit",
    "control": "the optimizer is chosen and checked automatically; see fit.optinfo",
    "family": "lmer fits linear (Gaussian) models only",
    "correlation": "write residual=lmf.AR1('time | id') (nlme's correlation=)",
    "random": "write the random terms in the formula, e.g. 'y ~ x + (1 | g)'",
    "contrasts": "write the coding in the formula, e.g. C(f, contr.sum)",
}


def reject_unknown(function: str, unexpected: Mapping[str, Any], known: Sequence[str]) -> None:
    """Raise for keyword arguments ``function`` does not take, with R's spelling explained
    or the closest known name suggested.

    Examples
    --------
    >>> reject_unknown("lmer", {"rml": False}, ["formula", "data", "reml"])
    Traceback (most recent call last):
    ...
    lmeformula.errors.ArgumentTypeError: lmer() got an unexpected argument rml=: did you mean reml=?
    """
    for name in unexpected:
        hint = R_ARGUMENTS.get(name) if name not in known else None
        if hint is None:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = (
                f"did you mean {close[0]}=?"
                if close
                else f"{function} takes {', '.join(known[:-1])} and {known[-1]}"
            )
        end = "" if hint.endswith("?") else "."
        raise ArgumentTypeError(f"{function}() got an unexpected argument {name}=: {hint}{end}")


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is True or False (numpy's booleans too), else an error.

    Examples
    --------
    >>> check_bool("reml", True)
    True
    >>> check_bool("reml", "yes")
    Traceback (most recent call last):
    ...
    lmeformula.errors.ArgumentTypeError: reml must be True or False, got 'yes'.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ArgumentTypeError(f"{name} must be True or False, got {value!r}.")


def check_name(name: str, value: Any, *, allow_none: bool = True) -> str | None:
    """``value`` if it is a string (or None when allowed), else an error."""
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        return value
    what = "a string or None" if allow_none else "a string"
    raise ArgumentTypeError(f"{name} must be {what}, got {type(value).__name__} {value!r}.")


def _real(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {type(value).__name__} {value!r}.")
    return float(value)


def check_level(name: str, value: Any) -> float:
    """A confidence level strictly between 0 and 1.

    Examples
    --------
    >>> check_level("level", 0.9)
    0.9
    >>> check_level("level", 95)
    Traceback (most recent call last):
    ...
    lmeformula.errors.ArgumentTypeError: level must be between 0 and 1 (e.g. 0.95), got 95.
    """
    level = _real(name, value)
    if not 0.0 < level < 1.0:
        raise ArgumentTypeError(f"{name} must be between 0 and 1 (e.g. 0.95), got {value!r}.")
    return level


def check_positive(name: str, value: Any) -> float:
    """A finite number above 0."""
    number = _real(name, value)
    if not (np.isfinite(number) and number > 0):
        raise ArgumentTypeError(f"{name} must be a finite number above 0, got {value!r}.")
    return number


def contrast_matrix(L: Any, names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The rows of contrast weights ``L`` asks for, over the coefficients ``names``.

    ``L`` is a dict ``{label: {coefficient: weight}}``, a DataFrame whose columns are
    coefficient names, or a vector / matrix with one column per coefficient.

    Returns
    -------
    matrix, labels
        A finite (contrasts x coefficients) matrix and a label per row.

    Examples
    --------
    >>> m, labels = contrast_matrix({"slope": {"x": 1}}, ["(Intercept)", "x"])
    >>> m.tolist(), labels
    ([[0.0, 1.0]], ['slope'])
    >>> contrast_matrix("x", ["(Intercept)", "x"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lmeformula.errors.ArgumentTypeError: L must be a dict {label: {coefficient: weight}}, ...
    """
    names = list(names)
    example = names[-1] if names else "x"
    if isinstance(L, pd.Series) and all(isinstance(k, str) for k in L.index):
        # A Series of weights indexed by coefficient names: one contrast.
        L = {str(L.name) if L.name is not None else "0": L.to_dict()}
    if isinstance(L, Mapping):
        rows, labels = [], [str(k) for k in L]
        for label, weights in L.items():
            if not isinstance(weights, Mapping):
                raise ArgumentTypeError(
                    f"contrast {label!r} must map coefficient names to weights, e.g. "
                    f"{{{label!r}: {{{example!r}: 1}}}}; got {type(weights).__name__}."
                )
            unknown = [k for k in weights if k not in names]
            if unknown:
                raise DataError(
                    f"contrast {label!r} names {unknown}, not fixed effects of this model "
                    f"({names})."
                )
            rows.append([_weight(label, n, weights.get(n, 0.0)) for n in names])
        matrix = np.array(rows, dtype=float).reshape(len(rows), len(names))
    elif isinstance(L, pd.DataFrame):
        unknown = [c for c in L.columns if c not in names]
        if unknown:
            raise DataError(f"contrast columns {unknown} are not fixed effects ({names}).")
        labels = [str(i) for i in L.index]
        try:
            matrix = L.reindex(columns=names, fill_value=0.0).to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise ArgumentTypeError(f"the contrast weights must be numbers: {exc}.") from None
    else:
        if isinstance(L, (str, bytes)) or not isinstance(L, (Sequence, np.ndarray, pd.Series)):
            raise ArgumentTypeError(
                "L must be a dict {label: {coefficient: weight}}, a DataFrame with "
                f"coefficient columns, or a matrix with {len(names)} columns; got "
                f"{type(L).__name__}. For one coefficient write "
                f"{{{example!r}: {{{example!r}: 1}}}}."
            )
        try:
            matrix = np.asarray(L, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ArgumentTypeError(
                f"L must be numbers in rows of equal length ({len(names)} columns): {exc}."
            ) from None
        if matrix.ndim > 2:
            raise ArgumentTypeError(
                f"L must be a vector or a matrix, got an array of {matrix.ndim} dimensions."
            )
        matrix = np.atleast_2d(matrix)
        if matrix.shape[1] != len(names):
            raise DataError(
                f"L has {matrix.shape[1]} columns but the model has {len(names)} fixed "
                f"effects ({names})."
            )
        labels = [str(i) for i in range(matrix.shape[0])]
    if matrix.shape[0] == 0:
        raise DataError("L has no rows; give at least one contrast.")
    if not np.all(np.isfinite(matrix)):
        raise DataError("L has missing or infinite weights; every weight must be a number.")
    return matrix, labels


def _weight(label: Any, name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(
            f"contrast {label!r} gives {name!r} the weight {value!r}; weights are numbers."
        )
    return float(value)


#: The degrees-of-freedom methods of the fixed effects' tests.
DDF_METHODS = ("satterthwaite", "kenward-roger", "wald")


def check_ddf(ddf: Any, reml: bool) -> None:
    """A degrees-of-freedom method for the fixed effects' tests (lmerTest's ``ddf``)."""
    if ddf not in DDF_METHODS:
        close = [m for m in DDF_METHODS if isinstance(ddf, str) and m == ddf.lower()]
        hint = f"; write {close[0]!r} (lower case)" if close else ""
        raise ArgumentTypeError(f"ddf must be one of {DDF_METHODS}, got {ddf!r}{hint}.")
    if ddf == "kenward-roger" and not reml:
        raise ArgumentTypeError(
            "Kenward-Roger is defined for REML fits (as pbkrtest); refit with reml=True or "
            "use ddf='satterthwaite'."
        )


def is_fixed_only(re_form: Any) -> bool:
    """Whether ``re_form`` asks for the fixed effects only (R's ``re.form = NA``): None
    means all random effects, ``"~0"`` (or ``"NA"``, ``False``) none."""
    if re_form is None:
        return False
    if isinstance(re_form, str) and re_form.replace(" ", "") in ("~0", "NA", "~1-1"):
        return True
    if re_form is False:
        return True
    raise ArgumentTypeError(
        f"re_form={re_form!r} is not supported; use None (all random effects) or '~0' "
        "(fixed effects only, R's re.form = NA)."
    )
