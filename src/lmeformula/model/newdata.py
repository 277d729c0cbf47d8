"""New data for prediction, checked against the data the model was fitted to.

R's ``predict.merMod`` refuses a factor level the fit never saw ("factor f has new level
Q") and a column of another type than the fitted one ("variable 'x' was fitted with type
"numeric" but type "character" was supplied"); formulaic would instead turn an unseen
level into NaN (or zeros) and carry on. Here each column the model reads is cleaned as in
the model frame and compared with the fitted column before any design is evaluated.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd
from formulaic.errors import DataMismatchWarning

from lmeformula.errors import DataError
from lmeformula.model.datacheck import as_frame, column_names, select_columns
from lmeformula.model.frame import level_label, settle_column

__all__ = ["model_matrix", "prepare_newdata"]


def _is_factor(series: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(series.dtype) or isinstance(
        series.dtype, pd.CategoricalDtype
    )


def prepare_newdata(
    newdata: Any, variables: Sequence[str], fitted: pd.DataFrame, groups: Sequence[str]
) -> pd.DataFrame:
    """The model's columns of ``newdata``, typed as the fitted columns were.

    Parameters
    ----------
    newdata
        A table to predict for: a pandas, polars or Arrow frame (of which only
        ``variables`` are converted), or a dict of columns.
    variables
        The columns the prediction reads (the response excluded).
    fitted
        The model frame the fit used.
    groups
        Columns that only group random effects: their new levels are the caller's
        business (``allow_new_levels``), not an error here.

    Returns
    -------
    pandas.DataFrame
        With ``newdata``'s index (row positions for a frame without one); factor columns
        hold the fitted labels.

    Examples
    --------
    >>> fitted = pd.DataFrame({"x": [1.0, 2.0], "f": ["a", "b"]})
    >>> prepare_newdata(pd.DataFrame({"x": [3], "f": ["b"]}), ["x", "f"], fitted, [])
         x  f
    0  3.0  b
    >>> prepare_newdata(pd.DataFrame({"x": [3], "f": ["c"]}), ["x", "f"], fitted, [])
    Traceback (most recent call last):
    ...
    lmeformula.errors.DataError: newdata has level(s) ['c'] of 'f' that the fit never saw (its levels: ['a', 'b']); a fixed effect cannot be predicted at a level it was not estimated for. Drop those rows or map them to known levels.
    """  # noqa: E501
    available = set(column_names(newdata, "newdata"))
    missing = [v for v in variables if v not in available]
    if missing:
        raise DataError(
            f"newdata lacks the column(s) {missing} the model uses; add them (the response "
            "is not needed)."
        )
    frame = as_frame(newdata, "newdata", columns=variables)
    used = select_columns(frame, list(variables), "newdata")
    for col in variables:
        used[col] = _typed(col, used[col], fitted[col], col in groups)
    return used


def _typed(name: str, new: pd.Series, old: pd.Series, grouping: bool) -> pd.Series:
    if pd.api.types.is_bool_dtype(new.dtype) and not isinstance(old.dtype, pd.CategoricalDtype):
        # A 0/1 column fitted as numbers, given as booleans: the same numbers.
        new = new.astype(float)
    if _is_factor(new) or pd.api.types.is_bool_dtype(new.dtype):
        new = settle_column(name, new.dropna(), is_response=False).reindex(new.index)
    if not _is_factor(old):
        if _is_factor(new) and new.notna().any():
            example = new.dropna().iloc[0]
            raise DataError(
                f"column {name!r} was numeric in the fit but holds text or categories in "
                f"newdata (e.g. {example!r}); convert it with pandas.to_numeric."
            )
        return new.astype(float)
    if grouping:
        return new
    known = (
        [str(c) for c in old.cat.categories]
        if isinstance(old.dtype, pd.CategoricalDtype)
        else sorted({level_label(v) for v in old.unique()})
    )
    labels = new.map(lambda v: v if pd.isna(v) else level_label(v))
    unseen = sorted({v for v in labels.dropna().unique() if v not in set(known)})
    if unseen:
        raise DataError(
            f"newdata has level(s) {unseen[:5]} of {name!r} that the fit never saw (its "
            f"levels: {known[:10]}); a fixed effect cannot be predicted at a level it was "
            "not estimated for. Drop those rows or map them to known levels."
        )
    if isinstance(old.dtype, pd.CategoricalDtype):
        return pd.Series(
            pd.Categorical(labels, categories=old.cat.categories), index=new.index, name=name
        )
    return labels.astype(object)


def model_matrix(spec: Any, data: pd.DataFrame, context: dict[str, Any], where: str) -> Any:
    """Evaluate a fitted formulaic ``ModelSpec`` on new data, as numbers.

    formulaic's warning that a value falls outside the fitted levels (it would become NaN)
    is an error here, naming the part of the model.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DataMismatchWarning)
            mm = spec.get_model_matrix(data, context=context)
    except DataMismatchWarning as exc:
        found = re.search(r"\{.*?\}", str(exc))
        values = found.group(0) if found else "some values"
        raise DataError(
            f"newdata has values {values} that {where} did not see in the fit; a factor (also "
            "factor() of a number) can only be predicted at its fitted levels. Drop those "
            "rows or map them to fitted values."
        ) from None
    except DataError:
        raise
    except Exception as exc:  # formulaic raises many types; give ours with the culprit.
        raise DataError(
            f"cannot evaluate {where} on newdata: {exc}. Check that newdata's columns have "
            "the types the fitted data had."
        ) from exc
    return mm
