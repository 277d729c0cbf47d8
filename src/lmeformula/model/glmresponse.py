"""The response of a generalized model as R's families read it.

A binomial response comes as 0/1 numbers or logicals, as a factor or a string column whose
first level (in R's order: a categorical's own order, else sorted) is failure, as
``cbind(successes, failures)``, or as a proportion with ``weights=`` the number of trials;
the others are numbers in the family's support. What comes out is what R's
``family$initialize`` makes: y (a proportion for the binomial), the prior weights times
the number of trials, and the number of trials, which the binomial's likelihood needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmeformula.errors import DataError, FormulaError
from lmeformula.families import Binomial, Family
from lmeformula.model.datacheck import is_text_dtype
from lmeformula.model.design import formula_matrix
from lmeformula.model.frame import FrameColumns, ModelFrame

__all__ = ["GlmResponse", "glm_response"]

_CBIND = re.compile(r"^\s*cbind\s*\((.*)\)\s*$", re.S)


@dataclass(frozen=True)
class GlmResponse:
    """y, weights and trials of a generalized model's rows.

    Attributes
    ----------
    y
        The response (a proportion of successes for the binomial).
    weights
        Prior weights times the number of trials (R's ``weights`` after ``initialize``).
    trials
        The number of trials of each binomial row (ones otherwise).
    success
        For a factor response: the levels read as failure and success.
    """

    y: np.ndarray
    weights: np.ndarray
    trials: np.ndarray
    success: tuple[str, str] | None = None


def _split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments (commas inside brackets kept)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


_NAME = r"(`[^`]+`|[A-Za-z.][A-Za-z0-9._]*)"
_BINARY = re.compile(rf"^\s*{_NAME}\s*([-+*])\s*{_NAME}\s*$")


def _numeric(expr: str, frame: pd.DataFrame | ModelFrame, where: str) -> np.ndarray:
    data = frame.columns if isinstance(frame, ModelFrame) else frame
    name = expr.strip("`")
    if name in data.columns:
        col = data[name]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise DataError(
                f"{where} {name!r} is not numeric (dtype {col.dtype}); give counts of "
                "successes and failures."
            )
        return col.to_numpy(dtype=float)
    simple = _BINARY.match(expr)
    if simple is not None:
        # "size - incidence", the usual failures: two columns, without a model matrix.
        left, op, right = (g.strip("`") for g in simple.groups())
        if all(
            c in data.columns
            and pd.api.types.is_numeric_dtype(data[c])
            and not pd.api.types.is_bool_dtype(data[c])
            for c in (left, right)
        ):
            a, b = data[left].to_numpy(dtype=float), data[right].to_numpy(dtype=float)
            return {"+": a + b, "-": a - b, "*": a * b}[op]
    full = frame.data if isinstance(frame, ModelFrame) else frame
    mm = formula_matrix(f"0 + I({expr})", full, where)
    if mm.shape[1] != 1:
        raise DataError(f"{where} '{expr}' gives {mm.shape[1]} columns; it must be one.")
    return np.asarray(mm, dtype=float).ravel()


def _levels(col: pd.Series) -> list[str]:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return [str(c) for c in col.cat.categories]
    return sorted(map(str, pd.unique(col)))


def glm_response(
    response: str | None,
    formula: str,
    frame: pd.DataFrame | ModelFrame,
    family: Family,
    prior: np.ndarray | None,
) -> GlmResponse:
    """Read the response of ``formula`` for ``family``, as R's ``family$initialize``.

    Parameters
    ----------
    response
        The left of '~' as parsed.
    formula
        The formula, for messages.
    frame
        The model frame (its columns are read by name), or a DataFrame of its rows.
    family
        The family.
    prior
        Prior weights (None: all 1).

    Returns
    -------
    GlmResponse

    Raises
    ------
    DataError
        For a response outside the family's support, naming the column and the value.

    Examples
    --------
    >>> import pandas as pd
    >>> from lmeformula.families import binomial
    >>> d = pd.DataFrame({"s": [1, 3], "n": [4, 4]})
    >>> r = glm_response("cbind(s, n - s)", "cbind(s, n - s) ~ 1", d, binomial(), None)
    >>> r.y.tolist(), r.weights.tolist()
    ([0.25, 0.75], [4.0, 4.0])
    """
    if response is None:
        raise FormulaError(f"the formula '{formula}' has no response; write it as 'y ~ terms'.")
    data = frame.columns if isinstance(frame, ModelFrame) else frame
    n = len(data)
    w0 = np.ones(n) if prior is None else np.asarray(prior, dtype=float)
    binom = isinstance(family, Binomial)
    match = _CBIND.match(response)
    name = response.strip("`")
    success: tuple[str, str] | None = None
    if match is not None:
        if not binom:
            raise FormulaError(
                f"cbind() on the left of '~' gives successes and failures, which only the "
                f"binomial family models (family is {family.name}); write the response as "
                "one column."
            )
        args = _split_args(match.group(1))
        if len(args) != 2 or not all(args):
            raise FormulaError(
                f"cbind() of the response takes two arguments, successes and failures, got "
                f"{len(args)} in '{response}'; write cbind(successes, trials - successes)."
            )
        s = _numeric(args[0], frame, "the successes")
        f = _numeric(args[1], frame, "the failures")
        for what, v, expr in (("successes", s, args[0]), ("failures", f, args[1])):
            bad = (v < 0) | (np.abs(v - np.round(v)) > 1e-7 * np.maximum(1.0, np.abs(v)))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise DataError(
                    f"the {what} '{expr}' of cbind() have the value {v[i]:g} (row {i + 1}); "
                    "give whole numbers of at least 0."
                )
        trials = s + f
        y = np.divide(s, trials, out=np.zeros(n), where=trials > 0)
        return GlmResponse(y, w0 * trials, trials)
    col = data[name] if name in data.columns else None
    categorical = col is not None and (
        isinstance(col.dtype, pd.CategoricalDtype)
        or col.dtype == object
        or pd.api.types.is_string_dtype(col.dtype)
        or pd.api.types.is_bool_dtype(col.dtype)
    )
    if categorical:
        assert col is not None
        if not binom:
            raise DataError(
                f"the response {name!r} is not numeric (dtype {col.dtype}); the {family.name} "
                "family needs numbers (a factor response is for the binomial family)."
            )
        if pd.api.types.is_bool_dtype(col.dtype) or (
            col.dtype == object and pd.api.types.infer_dtype(col, skipna=False) == "boolean"
        ):
            y = col.to_numpy(dtype=bool).astype(float)
        else:
            coded = (
                data.codes(name)
                if isinstance(data, FrameColumns) and is_text_dtype(col.dtype)
                else None
            )
            levels = _levels(col) if coded is None else list(coded[1])
            if len(levels) < 2:
                raise DataError(
                    f"the response {name!r} has one level ({levels[0]!r}) in the rows used; a "
                    "binomial response needs two."
                )
            # R's binomial: every level but the first is success.
            y = (
                (col.astype(str).to_numpy() != levels[0]) if coded is None else (coded[0] != 0)
            ).astype(float)
            success = (levels[0], ", ".join(levels[1:]))
        return GlmResponse(y, w0, np.ones(n), success)
    y = _numeric(response, frame, "the response")
    if not np.all(np.isfinite(y)):
        raise DataError(f"the response '{response}' has non-finite values; drop those rows.")
    trials = w0 if binom else np.ones(n)
    problem = family.check(y, trials if binom and prior is not None else None)
    if problem is None and binom and prior is None:
        bad = (y != 0) & (y != 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            problem = (
                f"has the value {y[i]:g} (row {i + 1}), neither 0 nor 1; for a proportion give "
                "weights= the number of trials, or write cbind(successes, failures)"
            )
    if problem is not None:
        raise DataError(f"the response '{response}' {problem}.")
    return GlmResponse(y, w0, trials)
