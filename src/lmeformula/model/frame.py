"""The model frame: the rows and columns a model uses, as R's ``model.frame`` builds it.

Only the columns the formula names are kept; rows with a missing value in any of them are
dropped, counted and remembered (R's ``na.omit``); the caller's DataFrame is never touched.
Grouping factors are coded here, with lme4's level order and lme4's checks.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from lmeformula.errors import DataError
from lmeformula.formula.terms import ParsedFormula
from lmeformula.model.datacheck import (
    COPY_ON_WRITE,
    array_columns,
    as_frame,
    clean_column,
    clean_columns,
    column_names,
    is_text_dtype,
    missing_columns,
)
from lmeformula.model.model_kernels import integer_codes, object_codes, text_codes

__all__ = [
    "Columns",
    "FrameColumns",
    "GroupingFactor",
    "ModelFrame",
    "build_frame",
    "code_array",
    "code_factor",
]


@dataclass(frozen=True)
class GroupingFactor:
    """A grouping factor coded as integers.

    Attributes
    ----------
    name
        lme4's name (``"school"``, ``"cask:batch"``).
    codes
        Integer code of each row's level, ``0 .. len(levels) - 1``.
    levels
        Level labels, in lme4's order.
    """

    name: str
    codes: np.ndarray
    levels: tuple[str, ...]

    @property
    def nlevels(self) -> int:
        """Number of levels."""
        return len(self.levels)


class FrameColumns:
    """The model frame's columns by name, read without a DataFrame.

    The stages that build the design read a few columns each; a new DataFrame's first
    lookup builds its column index (0.1 ms) and each later one costs more than what is
    done with the column. This answers the lookups a DataFrame answers there:
    ``columns[name]``, ``name in columns.columns``, ``columns.get(name)``, ``len(columns)``
    (rows) and ``columns.index``.

    Examples
    --------
    >>> cols = FrameColumns({"y": pd.Series([1.0, 2.0])}, pd.RangeIndex(2))
    >>> "y" in cols.columns, len(cols), cols["y"].tolist()
    (True, 2, [1.0, 2.0])
    """

    __slots__ = ("_coded", "_columns", "_finite", "_index", "_numbers")

    def __init__(
        self,
        columns: Mapping[str, pd.Series | np.ndarray],
        index: pd.Index | int,
        numbers: Mapping[str, np.ndarray] | None = None,
        coded: Mapping[str, tuple[np.ndarray, tuple[str, ...]]] | None = None,
    ) -> None:
        # A column may wait as an array (a refit's response) until something reads it: a
        # bootstrap's replicates seldom do, and a Series costs one 15 us.
        self._columns = dict(columns)
        # A number of rows: the default index 0, 1, ..., made when first read (a dict's
        # columns have no other, and a fit seldom reads it).
        self._index = index
        self._coded: dict[str, tuple[np.ndarray, tuple[str, ...]]] = dict(coded or {})
        self._numbers: dict[str, np.ndarray | None] = dict(numbers or {})
        # The model frame's numbers are finite (it drops NaN and rejects inf); a column
        # replaced later (a refit's response) is not known to be.
        self._finite = frozenset(self._numbers)

    @property
    def index(self) -> pd.Index:
        """The rows' labels."""
        index = self._index
        if isinstance(index, int):
            index = self._index = pd.RangeIndex(index)
        return index

    def codes(self, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """The column coded as a factor (:func:`code_factor`), coded once: a grouping
        factor, a fixed-effects factor and a random term's factor are often one column
        (text costs 50 us a coding at two thousand rows)."""
        if name not in self._coded:
            column = self._columns[name]
            coded = code_array(column) if isinstance(column, np.ndarray) else None
            self._coded[name] = code_factor(self[name]) if coded is None else coded
        return self._coded[name]

    def numbers(self, name: str) -> np.ndarray | None:
        """The column's values when it holds NumPy's integers or floats (None for any other
        column, or a name that is no column), read once: the response, a fixed-effects
        column and a random slope are often one column, and each of pandas' dtype checks
        and conversions costs a microsecond or more where the rest of what is done with a
        small column costs less.

        Examples
        --------
        >>> cols = FrameColumns(
        ...     {"x": pd.Series([1, 2]), "g": pd.Series(["a", "b"])}, pd.RangeIndex(2)
        ... )
        >>> cols.numbers("x").tolist(), cols.numbers("g"), cols.numbers("z")
        ([1, 2], None, None)
        """
        if name not in self._numbers:
            column = self._columns.get(name)
            if column is None:
                return None
            dtype = column.dtype
            numeric = isinstance(dtype, np.dtype) and dtype.kind in "fiu"
            self._numbers[name] = (
                (column if isinstance(column, np.ndarray) else column.to_numpy())
                if numeric
                else None
            )
        return self._numbers[name]

    def finite(self, name: str) -> bool:
        """Whether the column's numbers are known to be finite: the model frame's, which
        checked them (a later replacement is not known to be)."""
        return name in self._finite

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(self._columns)

    def is_text(self, name: str) -> bool:
        """Whether the column holds text (pandas 3's ``str`` dtype, or Python strings as
        objects), none of it missing in the frame's rows."""
        column = self._columns[name]
        dtype = column.dtype
        if isinstance(column, np.ndarray):
            # A dict's array of objects is kept only when all of it is text.
            return dtype.kind == "O"
        if is_text_dtype(dtype):
            return True
        return (
            isinstance(dtype, np.dtype)
            and dtype.kind == "O"
            and pd.api.types.infer_dtype(column.to_numpy(), skipna=False) == "string"
        )

    def __getitem__(self, name: str) -> pd.Series:
        column = self._columns[name]
        if isinstance(column, np.ndarray):
            # Objects stay objects: pandas 3 would read an array of strings as "str".
            dtype = object if column.dtype == object else None
            column = self._columns[name] = pd.Series(
                column, index=self.index, name=name, dtype=dtype
            )
        return column

    def get(self, name: str, default: Any = None) -> Any:
        """The column, or ``default``."""
        return self[name] if name in self._columns else default

    def with_column(self, name: str, values: np.ndarray) -> FrameColumns:
        """The same columns with one replaced by ``values`` (the others' codes kept).

        Examples
        --------
        >>> cols = FrameColumns({"y": pd.Series([1.0, 2.0])}, pd.RangeIndex(2))
        >>> cols.with_column("y", np.array([3.0, 4.0]))["y"].tolist()
        [3.0, 4.0]
        """
        new = FrameColumns({**self._columns, name: values}, self._index)
        new._coded = {k: v for k, v in self._coded.items() if k != name}
        new._numbers = {k: v for k, v in self._numbers.items() if k != name}
        new._finite = self._finite - {name}
        return new

    def __len__(self) -> int:
        return self._index if isinstance(self._index, int) else len(self._index)


#: The dropped rows of a frame of a dict's columns with none dropped.
_NO_ROWS = pd.RangeIndex(0)

#: What the design's direct builders read columns from: a DataFrame or the frame's columns.
Columns = pd.DataFrame | FrameColumns


@dataclass(frozen=True)
class ModelFrame:
    """The rows a model is fitted on.

    Attributes
    ----------
    columns
        The used columns of the complete rows by name (:class:`FrameColumns`; shared with
        the caller's data under pandas 3's copy-on-write, copies before it).
    n_dropped
        Number of rows dropped for missing values.
    dropped_index
        Index labels of the dropped rows.
    groups
        Grouping factors by lme4 name.
    weights
        Prior weights of the rows used (None when not given).
    """

    columns: FrameColumns
    n_dropped: int
    dropped_index: pd.Index
    groups: dict[str, GroupingFactor]
    weights: np.ndarray | None = None

    @cached_property
    def data(self) -> pd.DataFrame:
        """The used columns of the complete rows as a DataFrame (original index kept),
        made on first use: a fit reads its columns by name, the results' tables here."""
        # Series, not their arrays, keep text as objects (pandas 3 reads an array of
        # strings as its "str" dtype). Copy-on-write (pandas 3) makes sharing them safe.
        cols = {name: self.columns[name] for name in self.columns.columns}
        return pd.DataFrame(cols, index=self.columns.index, copy=False)

    @property
    def nobs(self) -> int:
        """Number of rows used."""
        return len(self.columns)

    def with_column(self, name: str, values: np.ndarray) -> ModelFrame:
        """The same frame with one column's values replaced (a refit's response), the
        others shared."""
        # A shallow copy costs a fifth of dataclasses.replace; the cached DataFrame of the
        # old columns is not the new one's.
        new = copy.copy(self)
        new.__dict__.pop("data", None)
        object.__setattr__(new, "columns", self.columns.with_column(name, values))
        return new

    def with_data(self, data: pd.DataFrame, dropped_index: pd.Index | None = None) -> ModelFrame:
        """The same frame over other columns of the same rows (a renamed or replaced
        response), and optionally other dropped rows."""
        columns = FrameColumns({str(c): data[c] for c in data.columns}, data.index)
        return replace(
            self,
            columns=columns,
            dropped_index=self.dropped_index if dropped_index is None else dropped_index,
        )


def level_label(value: object) -> str:
    # R prints factor(c(1, 2)) levels as "1", "2", not "1.0", "2.0".
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def code_factor(values: pd.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    """Code a column as R's ``factor()`` does: categories in order, otherwise sorted values.

    Parameters
    ----------
    values
        The column (no missing values).

    Returns
    -------
    codes, levels
        Integer codes and the used levels' labels.

    Examples
    --------
    >>> codes, levels = code_factor(pd.Series(["b", "a", "b"]))
    >>> codes.tolist(), levels
    ([1, 0, 1], ('a', 'b'))
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.cat.remove_unused_categories()
        return np.asarray(cat.cat.codes, dtype=np.int64), tuple(
            level_label(c) for c in cat.cat.categories
        )
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu" and len(values):
        coded = _code_integers(values.to_numpy())
        if coded is not None:
            return coded[0], tuple(map(str, coded[1].tolist()))
    if isinstance(dtype, pd.StringDtype):
        text = _code_arrow_text(values)
        if text is not None:
            return text
        # Text kept as Python objects (or with gaps): the array's own factorize, then the
        # few levels sorted: Exam's 4,059 schools 60 us against 230 as objects.
        codes, uniques = values.array.factorize()
        labels = np.asarray(uniques, dtype=object)
        order = np.argsort(labels, kind="stable")
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        codes = np.asarray(codes)
        return np.where(codes >= 0, rank[codes], -1), tuple(labels[order].tolist())
    # Hash-based coding: np.unique on a million strings sorts them all (seconds). Text on
    # its array, as pandas' Series wrapper costs as much again on small data.
    codes, uniques = pd.factorize(
        values.to_numpy() if values.dtype == object else values, sort=True
    )
    return np.asarray(codes, dtype=np.int64), tuple(level_label(u) for u in uniques)


def code_array(values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """:func:`code_factor` of a NumPy array of integers or of Python strings (a dict's
    column, as the model frame keeps it) without a Series; None for any other array.

    Examples
    --------
    >>> codes, levels = code_array(np.array(["b", "a", "b"], dtype=object))
    >>> codes.tolist(), levels
    ([1, 0, 1], ('a', 'b'))
    """
    kind = values.dtype.kind
    if kind in "iu" and len(values):
        coded = _code_integers(values)
        if coded is not None:
            return coded[0], tuple(map(str, coded[1].tolist()))
    if kind == "O":
        text = _text_codes(values)
        if text is not None:
            return text
    if kind in "iuO":
        codes, uniques = pd.factorize(values, sort=True)
        return np.asarray(codes, dtype=np.int64), tuple(level_label(u) for u in uniques)
    return None


def _text_codes(values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """Codes and sorted levels (as pandas sorts them) of an array of objects that are all
    Python strings, by one compiled pass; None where any value is not a string."""
    codes, found = object_codes(values)
    texts = [u for u in found if type(u) is str]
    if len(texts) != len(found):
        return None
    order = sorted(range(len(texts)), key=texts.__getitem__)
    rank = np.empty(len(texts), dtype=np.int64)
    rank[order] = np.arange(len(texts))
    return rank[codes], tuple(texts[i] for i in order)


def _code_arrow_text(values: pd.Series) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """Codes and sorted levels of Arrow-backed text (pandas 3's default) from its offsets
    and bytes in one compiled pass (:func:`~lmeformula.model.model_kernels.text_codes`):
    a grouping column of 180 rows 25 us where Arrow's dictionary encoding and the Python
    around it cost 100 after a fit has left the caches cold; None for other storage or a
    column with gaps."""
    if getattr(values.dtype, "storage", None) != "pyarrow":
        return None
    import pyarrow as pa  # present: the column is stored by it

    array = pa.array(values.array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count or not (
        pa.types.is_large_string(array.type) or pa.types.is_string(array.type)
    ):
        return None
    _, offsets, data = array.buffers()
    wide = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(offsets, dtype=wide)[array.offset : array.offset + len(array) + 1]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    codes, labels = text_codes(offsets.astype(np.int64, copy=False), raw)
    order = sorted(range(len(labels)), key=labels.__getitem__)
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels))
    return rank[codes], tuple(labels[i] for i in order)


def _code_integers(v: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Codes and sorted levels of integers spanning a range of at most a few times their
    count, by a table of the values present (linear, no hashing: pandas' sorted factorize
    cost a 180-row sleepstudy fit 60 us of its 2.5 ms; the compiled table
    :func:`~lmeformula.model.model_kernels.integer_codes` 2); None for a sparser range."""
    if v.dtype == np.uint64 and v.size and int(v.max()) > np.iinfo(np.int64).max:
        return None  # beyond int64: pandas' factorize codes them
    return integer_codes(v)


def interaction_factor(
    name: str, parts: list[tuple[np.ndarray, tuple[str, ...]]]
) -> GroupingFactor:
    # R's a:b on factors: levels ordered by a's level then b's, only combinations observed.
    keys = np.zeros(len(parts[0][0]), dtype=np.int64)
    for codes, levels in parts:
        keys = keys * len(levels) + codes
    used, codes = np.unique(keys, return_inverse=True)
    labels = []
    for key in used:
        pieces = []
        for _, levels in reversed(parts):
            key, idx = divmod(int(key), len(levels))
            pieces.append(levels[idx])
        labels.append(":".join(reversed(pieces)))
    return GroupingFactor(name, codes.astype(np.int64).ravel(), tuple(labels))


def build_frame(
    parsed: ParsedFormula,
    data: object,
    weights: object = None,
    extra: Sequence[str] = (),
    observation_level: bool = False,
) -> ModelFrame:
    """Select the formula's columns, drop incomplete rows and code the grouping factors.

    Parameters
    ----------
    parsed
        The parsed formula.
    data
        A table :func:`~lmeformula.model.datacheck.as_frame` takes (pandas, polars, Arrow,
        a dict of columns); of a table other than pandas only the columns read are
        converted.
    weights
        lme4's prior weights: a column name of ``data`` or one value per row; rows with a
        missing weight are dropped like any incomplete row.
    extra
        Further columns the model reads (a residual structure's time and subject, a
        variance function's covariate): kept, and rows missing them dropped.
    observation_level
        Allow a grouping factor with a level per row (a generalized model's
        observation-level random effect; glmerControl's ``check.nobs.vs.nlev = "ignore"``).

    Returns
    -------
    ModelFrame

    Raises
    ------
    ArgumentTypeError
        When ``data`` is not tabular.
    DataError
        For a missing column, no rows, infinite values, or a grouping factor lme4 rejects.
    """
    variables = list(dict.fromkeys([*parsed.variables, *extra]))
    arrays = array_columns(data, variables) if weights is None else None
    columns: dict[str, Any]
    # Text columns of a dict coded as the frame reads them (_array_column).
    coded: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}
    if arrays is not None:
        nrows = len(next(iter(data.values())))  # type: ignore[attr-defined]
        columns = {name: _array_column(name, v, coded) for name, v in arrays.items()}
        # The default index, made only if something reads it (FrameColumns.index).
        index: pd.Index | int = nrows
        w_all = None
    else:
        # A weights column the data lacks is _weights' error, which names it so.
        named = [weights] if isinstance(weights, str) and weights in column_names(data) else []
        frame = as_frame(data, columns=[*variables, *named])
        nrows, index = frame.shape[0], frame.index
        # Column by column until the frame is made once, at the end: a DataFrame's lookup
        # of a column costs more than most of what is done with it here.
        columns = clean_columns(frame, variables) if nrows else {}
        w_all = _weights(weights, frame) if nrows else None
    if nrows == 0:
        raise DataError("data has no rows; a model needs observations to fit.")
    # NumPy's numbers with no missing or infinite value (the common column) need neither
    # the missing values' pass nor settle_column: their values are read once, here, and
    # kept for the design's stages.
    numbers: dict[str, np.ndarray] = {}
    gaps: list[np.ndarray] = []
    for name, series in columns.items():
        if isinstance(series, np.ndarray):
            # As _array_column kept it: finite numbers, or text with no missing value.
            if series.dtype.kind in "fiu":
                numbers[name] = series
            continue
        values = _finite_numbers(series)
        if values is not None:
            numbers[name] = values
            continue
        missing = _missing(series)
        if missing is not None:
            gaps.append(missing)
    if w_all is not None:
        gaps.append(np.isnan(w_all))
    complete = None
    n_dropped = 0
    if gaps:
        complete = np.ones(nrows, dtype=bool)
        for missing in gaps:
            complete &= ~missing
        n_dropped = int(nrows - np.count_nonzero(complete))
    if n_dropped:
        assert complete is not None
        labels = pd.RangeIndex(index) if isinstance(index, int) else index
        dropped_index = labels[~complete]
        index = labels[complete]
        columns = {name: series[complete] for name, series in columns.items()}
        numbers.clear()
    else:
        # A boolean mask on an index costs 15 us even when it selects nothing.
        dropped_index = _NO_ROWS if isinstance(index, int) else index[:0]
    nused = index if isinstance(index, int) else len(index)
    if nused == 0:
        raise DataError(
            f"no complete rows: every row has a missing value in one of {variables}; "
            "check those columns for missing values."
        )
    response = (parsed.response or "").strip("`")
    for col in variables:
        if col not in numbers and not isinstance(columns[col], np.ndarray):
            columns[col] = settle_column(col, columns[col], is_response=col == response)
    if not COPY_ON_WRITE:
        # pandas 2 shares a Series' values with the caller's frame: copies, as before.
        columns = {name: series.copy() for name, series in columns.items()}
        numbers.clear()
    used = FrameColumns(columns, index, numbers, coded if not n_dropped else None)
    groups: dict[str, GroupingFactor] = {}
    for term in parsed.random:
        name = term.group_name
        if name in groups:
            continue
        parts = [used.codes(col) for col in term.group]
        factor = (
            GroupingFactor(name, parts[0][0], parts[0][1])
            if len(parts) == 1
            else interaction_factor(name, parts)
        )
        _check_grouping(factor, nused, observation_level)
        groups[name] = factor
    w = None if w_all is None or complete is None else w_all[complete]
    return ModelFrame(used, n_dropped, dropped_index, groups, w)


def _array_column(
    name: str, values: np.ndarray, coded: dict[str, tuple[np.ndarray, tuple[str, ...]]]
) -> np.ndarray | pd.Series:
    """A column of a dict of arrays as the model frame keeps it: NumPy's numbers and text
    as objects with no missing value as they are, anything else as a Series cleaned as a
    DataFrame's column is. Text is coded as a factor on the way (into ``coded``): the one
    pass that finds its levels also tells that every value is a string."""
    kind = values.dtype.kind
    if kind in "iu" or (kind == "f" and np.isfinite(values).all()):
        return values
    if kind == "O" and len(values):
        text = _text_codes(values)
        if text is not None:
            coded[name] = text
            return values
    return clean_column(name, pd.Series(values, name=name))


def _finite_numbers(series: pd.Series) -> np.ndarray | None:
    """A column's values when it holds NumPy's integers or floats, none missing or
    infinite; None otherwise."""
    dtype = series.dtype
    if not (isinstance(dtype, np.dtype) and dtype.kind in "fiu"):
        return None
    values = series.to_numpy()
    if dtype.kind == "f" and not np.isfinite(values).all():
        return None
    return values


def _missing(series: pd.Series) -> np.ndarray | None:
    """Where a cleaned column is missing (None: nowhere it can be), without pandas' frame-wide
    ``isna``."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in "iub":
            return None
        if dtype.kind == "f":
            return np.isnan(series.to_numpy())
    if isinstance(dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy() < 0
    if isinstance(dtype, pd.StringDtype):
        # The array's own mask (Arrow's validity bitmap): no pass over the strings, and a
        # tenth of what Series.hasnans costs.
        mask = np.asarray(series.array.isna())
        return mask if mask.any() else None
    values = series.to_numpy()
    if (
        pd.api.types.is_object_dtype(dtype)
        and pd.api.types.infer_dtype(values, skipna=False) == "string"
    ):
        # All text, so nothing missing: a tenth of what isna's scan of the objects costs.
        return None
    return np.asarray(pd.isna(values))


def settle_column(name: str, series: pd.Series, is_response: bool = False) -> pd.Series:
    """A used column of the complete rows as the design reads it, R's way.

    Unused categories are dropped (lme4's model frame drops unused levels, so they make
    no all-zero columns), logicals become a factor with levels FALSE and TRUE (R's
    coefficient ``bTRUE``, and ``0 + b`` gives both levels), and infinite values are an
    error (R's model frame keeps them and the fit fails).
    """
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        # Integers are finite: nothing to settle.
        return series
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        _check_infinite(name, series)
        return series
    if is_text_dtype(dtype):
        # pandas 3's default text: neither logical nor numeric.
        return series
    if isinstance(dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        if np.bincount(codes[codes >= 0], minlength=len(dtype.categories)).all():
            return series
        return series.cat.remove_unused_categories()
    logical = pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_object_dtype(dtype)
        and pd.api.types.infer_dtype(series.to_numpy(), skipna=False) == "boolean"
    )
    if logical and not is_response:
        labels = np.where(series.to_numpy(dtype=bool), "TRUE", "FALSE")
        return pd.Series(
            pd.Categorical(labels, categories=["FALSE", "TRUE"]), index=series.index, name=name
        )
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        _check_infinite(name, series)
    return series


def _check_infinite(name: str, series: pd.Series) -> None:
    bad = ~np.isfinite(series.to_numpy(dtype=float))
    if bad.any():
        first = series.index[bad][0]
        raise DataError(
            f"column {name!r} has {int(bad.sum())} infinite value(s) (first at row "
            f"{first!r}); replace them with finite values or NaN (rows with NaN are "
            "dropped)."
        )


def _weights(weights: object, frame: pd.DataFrame) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        missing_columns([weights], frame, "weights=")
        if list(map(str, frame.columns)).count(weights) > 1:
            raise DataError(f"the data has more than one column named {weights!r} (weights=).")
        values = frame.loc[:, [c for c in frame.columns if str(c) == weights]].iloc[:, 0]
        where = f"weights column {weights!r}"
    else:
        where = "weights"
        values = _aligned(weights, frame) if isinstance(weights, pd.Series) else None
        if values is None:
            if isinstance(weights, (str, bytes, dict, set)) or np.ndim(weights) == 0:  # type: ignore[arg-type]
                raise DataError(
                    f"weights must be a column name or one value per row, got "
                    f"{type(weights).__name__} {weights!r}."
                )
            values = pd.Series(np.asarray(weights).ravel())
        if len(values) != len(frame):
            raise DataError(
                f"weights has {len(values)} values for {len(frame)} rows of data; give one "
                "weight per row (or the name of a column)."
            )
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise DataError(f"{where} must be numeric, got dtype {values.dtype}.")
    w = values.astype(float).to_numpy(dtype=float, na_value=np.nan)
    finite = w[~np.isnan(w)]
    if np.any(finite <= 0) or not np.all(np.isfinite(finite)):
        raise DataError(
            f"{where} must be positive and finite (a prior weight divides the residual "
            "variance); drop rows with zero weight instead."
        )
    return w


def _aligned(weights: pd.Series, frame: pd.DataFrame) -> pd.Series | None:
    # A pandas user expects a Series to line up by its index, as pandas aligns it.
    if weights.index.equals(frame.index):
        return weights.reset_index(drop=True)
    if len(weights) != len(frame):
        return None
    if weights.index.is_unique and frame.index.is_unique and set(weights.index) == set(frame.index):
        return weights.reindex(frame.index).reset_index(drop=True)
    raise DataError(
        "weights is a Series whose index does not match the data's index; align it first "
        "(weights.reindex(data.index)) or pass weights.to_numpy() to take it in row order."
    )


def _check_grouping(factor: GroupingFactor, nobs: int, observation_level: bool = False) -> None:
    # lme4's checkNlevels: a variance cannot be estimated from one level, nor separated
    # from the residual when each observation is its own level.
    if factor.nlevels < 2:
        raise DataError(
            f"grouping factor {factor.name!r} has {factor.nlevels} level; a random effect "
            "needs at least 2 levels to estimate its variance. Drop the term or use a "
            "fixed effect."
        )
    if factor.nlevels >= nobs and not observation_level:
        raise DataError(
            f"grouping factor {factor.name!r} has {factor.nlevels} levels for {nobs} "
            "observations; the number of levels of each grouping factor must be < number of "
            "observations, otherwise its variance cannot be told apart from the residual "
            "variance."
        )
