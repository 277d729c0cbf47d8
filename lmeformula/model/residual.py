"""Residual structures and variance functions bound to the model's rows.

A structure written by the user (``lmf.AR1("time | id")``) names columns; bound to the model
frame it becomes arrays: each row's subject, the rank and value of its time, the
variance function's covariate. Binding checks what the data must give (the columns, distinct
times within a subject, numbers where positions are needed, parameters the data identify).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmeformula.errors import DataError
from lmeformula.model.datacheck import missing_columns
from lmeformula.model.frame import code_factor, interaction_factor
from lmeformula.structures.residual import (
    BoundResidual,
    BoundVariance,
    ResidualStructure,
    VarianceFunction,
)

__all__ = ["bind_residual", "bind_variance"]


def _subject_codes(
    data: pd.DataFrame, group: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The subjects as a factor, ``a:b`` as R's interaction (as the grouping factors)."""
    parts = [code_factor(data[g]) for g in group]
    if len(parts) == 1:
        return parts[0]
    factor = interaction_factor(":".join(group), parts)
    return factor.codes, factor.levels


def bind_residual(structure: ResidualStructure, data: pd.DataFrame) -> BoundResidual:
    """Check the structure against the model's rows and fix its parameters.

    Raises
    ------
    DataError
        For a missing column, a time repeated within a subject, times that are not
        numbers where positions are needed, or parameters the data cannot identify.
    """
    where = repr(structure)
    missing_columns(structure.columns, data, f"residual={where}")
    n = len(data)
    if structure.group:
        codes, levels = _subject_codes(data, structure.group)
    else:
        codes, levels = np.zeros(n, dtype=int), ("all",)
    if structure.time is None:
        # Order within the subject, as the rows come.
        order = pd.Series(np.arange(n)).groupby(codes).cumcount().to_numpy()
        tval = order.astype(float)
        tidx = order
        tlabels: tuple[str, ...] = tuple(str(i + 1) for i in range(int(order.max()) + 1))
    else:
        series = data[structure.time]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if structure.continuous and not numeric:
            raise DataError(
                f"residual={where}: the time {structure.time!r} must be numeric for "
                "continuous-time correlation."
            )
        tidx, tlabels = code_factor(series)
        tval = series.to_numpy(dtype=float) if numeric else tidx.astype(float)
        pairs = pd.DataFrame({"s": codes, "t": tidx})
        dup = pairs.duplicated()
        if dup.any():
            first = int(np.flatnonzero(dup.to_numpy())[0])
            raise DataError(
                f"residual={where}: subject {levels[codes[first]]!r} has time "
                f"{tlabels[tidx[first]]!r} more than once; each subject needs distinct "
                "times (or use '1 | id' to order rows as they come)."
            )
    bound = BoundResidual(structure, codes, levels, tidx, tval, tlabels)
    bound.check_identified()
    return bound


def bind_variance(function: VarianceFunction, data: pd.DataFrame) -> BoundVariance:
    """Check the covariate against the model's rows.

    Raises
    ------
    DataError
        For a missing or unusable column.
    """
    missing_columns(function.columns, data, f"variance={function!r}")
    series = data[function.column]
    if function.kind == "VarIdent":
        codes, levels = code_factor(series)
        if len(levels) < 2:
            raise DataError(
                f"variance={function!r}: {function.column!r} takes one value, so a variance per "
                "level is σ itself; drop the variance function."
            )
        return BoundVariance(function, codes.astype(float), levels)
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise DataError(
            f"variance={function!r}: {function.column!r} must be numeric (it is {series.dtype})."
        )
    x = series.to_numpy(dtype=float)
    if function.kind == "VarPower" and np.any(x == 0):
        raise DataError(
            f"variance={function!r}: {function.column!r} has zeros, where |x|^δ makes the "
            "variance 0 or infinite; shift the covariate (e.g. x + 1) or use VarExp."
        )
    return BoundVariance(function, x, ())
