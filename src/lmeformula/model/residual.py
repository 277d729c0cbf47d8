"""Residual structures and variance functions bound to the model's rows.

A structure written by the user (``lmf.AR1("time | id")``) names columns; bound to the model
frame it becomes arrays: each row's subject, the rank and value of its time (or its
coordinates), the variance function's covariate. Binding checks what the data must give
(the columns, distinct times within a subject, numbers where positions are needed,
parameters the data identify).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmeformula.errors import DataError
from lmeformula.model.datacheck import missing_columns
from lmeformula.model.frame import code_factor, interaction_factor
from lmeformula.structures.residual import BoundResidual, ResidualStructure
from lmeformula.structures.variance import BoundVariance, VarianceFunction

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


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def bind_residual(structure: ResidualStructure, data: pd.DataFrame) -> BoundResidual:
    """Check the structure against the model's rows and fix its parameters.

    Raises
    ------
    DataError
        For a missing column, a time repeated within a subject, times that are not
        numbers where distances are needed, or parameters the data cannot identify.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> bound = bind_residual(lmf.AR1("age | Subject"), lmf.datasets.load("orthodont"))
    >>> bound.tlabels, bound.n_par
    (('8', '10', '12', '14'), 1)
    """
    where = repr(structure)
    missing_columns(structure.columns, data, f"residual={where}")
    n = len(data)
    if structure.group:
        codes, levels = _subject_codes(data, structure.group)
    else:
        codes, levels = np.zeros(n, dtype=int), ("all",)
    of_distance = structure.pattern().of_distance
    if not structure.coords:
        # Order within the subject, as the rows come.
        order = pd.Series(np.arange(n)).groupby(codes).cumcount().to_numpy()
        tval: np.ndarray = order.astype(float)
        tidx = order
        tlabels: tuple[str, ...] = tuple(str(i + 1) for i in range(int(order.max()) + 1))
    else:
        columns = [data[c] for c in structure.coords]
        bad = [c.name for c in columns if not _numeric(c)]
        if of_distance and bad:
            raise DataError(
                f"residual={where}: the coordinate {bad[0]!r} must be numeric for a "
                "correlation of distance."
            )
        if len(columns) == 1:
            series = columns[0]
            tidx, tlabels = code_factor(series)
            tval = series.to_numpy(dtype=float) if _numeric(series) else tidx.astype(float)
        else:
            tval = np.column_stack([c.to_numpy(dtype=float) for c in columns])
            key = pd.Series([tuple(row) for row in tval])
            tidx, tlabels = code_factor(key.astype(str))
        pairs = pd.DataFrame({"s": codes, "t": tidx})
        dup = pairs.duplicated()
        if dup.any():
            first = int(np.flatnonzero(dup.to_numpy())[0])
            what = "time" if len(columns) == 1 else "coordinates"
            raise DataError(
                f"residual={where}: subject {levels[codes[first]]!r} has {what} "
                f"{tlabels[tidx[first]]!r} more than once; each subject needs distinct "
                f"{what} (or use '1 | id' to order rows as they come)."
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
    if function.stratified:
        codes, levels = code_factor(series)
        if len(levels) < 2:
            raise DataError(
                f"variance={function!r}: {function.column!r} takes one value, so a variance "
                "per level is σ itself; drop the variance function."
            )
        return BoundVariance(function, codes.astype(float), levels)
    if not _numeric(series):
        raise DataError(
            f"variance={function!r}: {function.column!r} must be numeric (it is {series.dtype})."
        )
    x = series.to_numpy(dtype=float)
    function.check(x)
    return BoundVariance(function, x, ())
