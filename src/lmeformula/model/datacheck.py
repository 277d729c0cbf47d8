"""Checks of the data a model reads: the table, its column labels and each used column's
values, before any numerical code sees them.

Whatever an analyst's DataFrame holds (dict of lists, integer or duplicated column labels,
object columns mixing numbers and text, pandas' nullable and string dtypes, dates,
periods, lists in cells, unused categories), a model column comes out of here either as
something the design stage handles as R would (numbers, booleans, text or categories),
or as a :class:`~lmeformula.errors.DataError` naming the column and saying what to do.
The caller's DataFrame is only read.

A polars DataFrame or LazyFrame, a pyarrow Table or any other frame narwhals reads comes
in through :func:`as_frame` too, and only there: the columns the model reads (and only
they) become a pandas DataFrame, which everything after reads as it reads pandas data. A
dict of NumPy arrays (:func:`array_columns`) is the one exception: the model frame reads
its arrays as they are.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
from narwhals.exceptions import DuplicateError

from lmeformula.errors import ArgumentTypeError, DataError

__all__ = [
    "ACCEPTED",
    "array_columns",
    "as_frame",
    "clean_column",
    "clean_columns",
    "column_names",
    "missing_columns",
    "select_columns",
]

#: What a data argument may be, as the type errors say it.
ACCEPTED = (
    "a pandas DataFrame, a polars DataFrame or LazyFrame, a pyarrow Table, another frame "
    "narwhals reads (modin, cuDF, Dask, DuckDB, ...) or a dict of equal-length columns"
)

#: pandas 3 copies on write: a frame may share its columns with the caller's.
COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3

# pandas' infer_dtype names: what an object column holding them is.
_NUMBERS = frozenset({"integer", "floating", "mixed-integer-float", "decimal"})
_DATES = frozenset({"datetime", "datetime64", "date", "time", "timedelta", "timedelta64"})


def as_frame(data: Any, what: str = "data", columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``data`` as a pandas DataFrame: a DataFrame itself, a dict of equal-length columns,
    or the ``columns`` of any other frame narwhals reads.

    Parameters
    ----------
    data
        The table (see :data:`ACCEPTED`); it is only read.
    what
        Its name in messages.
    columns
        The columns the caller reads. Of a polars or Arrow table (or another frame) only
        these are converted, a LazyFrame collected for them alone, and each must be
        there (the error as :func:`missing_columns` words it for the formula; check other
        columns first). A pandas DataFrame is returned itself and a dict whole:
        :func:`select_columns` copies what is used.

    Returns
    -------
    pandas.DataFrame
        Converted from another library: the frame's row labels if it has them (modin's),
        else row positions from 0; categories in the frame's order (an Enum's declared
        one, the order polars sorts a Categorical in, an Arrow dictionary's); nulls as
        missing values.

    Raises
    ------
    ArgumentTypeError
        When ``data`` is no table.
    DataError
        For a dict of unequal columns, hierarchical column labels, a missing column.

    Examples
    --------
    >>> as_frame({"y": [1.0, 2.0], "g": ["a", "b"]}).shape
    (2, 2)
    >>> as_frame({"y": [1.0, 2.0], "g": ["a"]})
    Traceback (most recent call last):
    ...
    lmeformula.errors.DataError: data as a dict of columns: All arrays must be of the same length; give every column the same number of values.

    Of a polars frame, the columns asked for, its Enum's levels in their declared order:

    >>> import polars as pl
    >>> g = pl.Series(["hi", "lo"], dtype=pl.Enum(["lo", "hi"]))
    >>> lf = pl.LazyFrame({"y": [1.0, None], "g": g, "unused": ["a", "b"]})
    >>> frame = as_frame(lf, columns=["y", "g"])
    >>> frame
         y   g
    0  1.0  hi
    1  NaN  lo
    >>> frame["g"].cat.categories.tolist()
    ['lo', 'hi']
    >>> as_frame([1, 2])
    Traceback (most recent call last):
    ...
    lmeformula.errors.ArgumentTypeError: data must be a table: a pandas DataFrame, a polars DataFrame or LazyFrame, a pyarrow Table, another frame narwhals reads (modin, cuDF, Dask, DuckDB, ...) or a dict of equal-length columns; got list. Read a file with lmeformula.datasets.read_csv or pandas.read_csv.
    """  # noqa: E501
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, dict):
        try:
            frame = pd.DataFrame(data)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"{what} as a dict of columns: {exc}; give every column the same number of values."
            ) from None
    else:
        table = _from_native(data, what)
        if columns is not None:
            missing_columns(columns, data)
        return _to_pandas(table, columns)
    return _flat(frame, what)


def array_columns(data: Any, columns: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The ``columns`` of a dict of equal-length one-dimensional NumPy arrays (the form
    compiled peers take data in), by name, each a read-only view; None for any other
    table, and for a dict that lacks one of them (its frame's messages name what it has).

    The model frame reads such arrays as they are: pandas would first make every column
    of the dict a Series, and text its ``str`` dtype (Exam's ten columns: 1.5 ms).

    Examples
    --------
    >>> data = {"y": np.array([1.0, 2.0]), "g": np.array(["a", "b"], dtype=object)}
    >>> cols = array_columns(data, ["y"])
    >>> list(cols), cols["y"].flags.writeable
    (['y'], False)
    >>> array_columns({"y": [1.0, 2.0]}, ["y"]) is None
    True
    """
    if not isinstance(data, dict) or not all(
        isinstance(v, np.ndarray) and v.ndim == 1 for v in data.values()
    ):
        return None
    keep = list(dict.fromkeys(columns))
    if len({len(v) for v in data.values()}) > 1 or not all(c in data for c in keep):
        return None
    out = {}
    for name in keep:
        view = data[name].view()
        # The caller's arrays are only read, as a DataFrame's columns are.
        view.flags.writeable = False
        out[name] = view
    return out


def column_names(data: Any, what: str = "data") -> list[str]:
    """The column labels of a table :func:`as_frame` takes, as text, read without
    converting a column (a LazyFrame's from its schema).

    Examples
    --------
    >>> import pyarrow as pa
    >>> column_names(pa.table({"y": [1.0], "g": ["a"]}))
    ['y', 'g']
    >>> column_names({"y": [1.0], 2: [3]})
    ['y', '2']
    """
    if isinstance(data, pd.DataFrame):
        # tolist, not iteration: iterating pandas 3's text labels goes through Arrow per
        # label, tens of microseconds a call on every fit.
        return [str(c) for c in _flat(data, what).columns.tolist()]
    if isinstance(data, dict):
        return [str(c) for c in data]
    return [str(c) for c in _from_native(data, what).collect_schema().names()]


def _from_native(data: Any, what: str) -> Any:
    try:
        return nw.from_native(data)
    except DuplicateError as exc:
        # A formula cannot tell two columns of one name apart; pyarrow allows them.
        raise DataError(
            f"{what} has duplicated column names: {exc}. Rename them first, e.g. "
            "table.rename_columns([...])."
        ) from None
    except TypeError:
        raise ArgumentTypeError(
            f"{what} must be a table: {ACCEPTED}; got {type(data).__name__}. Read a file "
            "with lmeformula.datasets.read_csv or pandas.read_csv."
        ) from None


def _to_pandas(table: Any, columns: Sequence[str] | None) -> pd.DataFrame:
    names = table.collect_schema().names()
    keep = names if columns is None else list(dict.fromkeys(columns))
    lazy = isinstance(table, nw.LazyFrame)
    if not keep:
        # No columns still has rows: y ~ 1 predicts once per row of newdata.
        rows = table.select(nw.len()).collect().item() if lazy else len(table)
        return pd.DataFrame(index=pd.RangeIndex(rows))
    part = table.select(keep)
    if lazy:
        part = part.collect()
    try:
        # Arrow in between, as polars' to_pandas has it too, but with split_blocks: each
        # number column stays a view of the table's buffer, where to_pandas copies them
        # into one block (a fit from a million rows would hold its numbers twice).
        frame = part.to_arrow().to_pandas(split_blocks=True)
    except ModuleNotFoundError:  # no pyarrow: a pandas-like frame (modin) converts itself
        frame = part.to_pandas()
    for name, dtype in part.schema.items():
        if isinstance(dtype, nw.Enum):
            # An Enum declares its levels and their order, as pandas' categories= does;
            # that it compares by them does not make it R's ordered factor (contr.poly).
            frame[name] = frame[name].cat.set_categories(list(dtype.categories), ordered=False)
        elif isinstance(dtype, nw.Categorical) and part.implementation.is_polars():
            # to_pandas keeps polars' codes, numbered in a string cache shared by every
            # frame; polars itself sorts a Categorical by its text (by first appearance
            # before 1.32, with ordering="physical"): the levels in the order polars sorts.
            levels = part.get_column(name).drop_nulls().unique().sort().to_list()
            frame[name] = frame[name].cat.set_categories(levels, ordered=False)
        # Any other categorical (an Arrow dictionary) keeps the order its categories have.
    return frame


def _flat(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    if isinstance(frame.columns, pd.MultiIndex):
        raise DataError(
            f"{what} has MultiIndex (hierarchical) column labels, e.g. {frame.columns[0]!r}; "
            "a formula names flat columns. Flatten them first, e.g. "
            "data.columns = ['_'.join(map(str, c)) for c in data.columns]."
        )
    return frame


def missing_columns(columns: Sequence[str], data: Any, what: str = "the formula") -> None:
    """Raise for the first of ``columns`` that ``data`` (any table :func:`as_frame` takes)
    lacks, suggesting close names."""
    available = column_names(data)
    present = set(available)
    for col in columns:
        if col not in present:
            close = difflib.get_close_matches(col, available, n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            shown = ", ".join(available[:12]) + (", ..." if len(available) > 12 else "")
            raise DataError(
                f"column {col!r} named in {what} is not in the data.{hint} "
                f"The data has: {shown or 'no columns'}."
            )


def select_columns(
    data: pd.DataFrame, columns: Sequence[str], what: str = "the formula"
) -> pd.DataFrame:
    """A copy of ``columns`` of ``data``, labelled by their names as strings, each cleaned
    by :func:`clean_column`.

    Column labels are matched by their text, so a column labelled ``0`` is the formula's
    ```0```. A label that occurs twice (or two labels with the same text, ``1`` and
    ``"1"``) is an error when the model uses it.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1, 2], "g": pd.array(["a", None], dtype="string")})
    >>> select_columns(df, ["g"]).dtypes.astype(str).tolist()
    ['object']
    """
    out = clean_columns(data, columns, what)
    # Copy-on-write (pandas 3) makes sharing the columns safe: one written to later is
    # copied then, and the caller's frame is never changed; pandas 2 copies them here.
    return pd.DataFrame(out, index=data.index, copy=not COPY_ON_WRITE)


def clean_columns(
    data: pd.DataFrame, columns: Sequence[str], what: str = "the formula"
) -> dict[str, pd.Series]:
    """:func:`select_columns` before the frame: each column cleaned, by name.

    For callers that work column by column (the model frame), as a DataFrame's lookup of
    a column costs more than most of what is done with it.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1, 2], "g": ["a", "b"]})
    >>> list(clean_columns(df, ["g", "y"]))
    ['g', 'y']
    """
    labels_of = data.columns
    if labels_of.is_unique and labels_of.dtype != object and all(c in labels_of for c in columns):
        # Text labels, each once (the common frame): looked up directly, without listing
        # the labels twice (a listing of pandas 3's text labels costs 10 us).
        return {name: clean_column(name, data[name]) for name in columns}
    missing_columns(columns, data, what)
    labels: dict[str, list[Any]] = {}
    for label in data.columns.tolist():
        labels.setdefault(str(label), []).append(label)
    out = {}
    for name in columns:
        found = labels[name]
        if len(found) > 1:
            raise DataError(
                f"the data has {len(found)} columns named {name!r}; a formula cannot tell "
                "them apart. Rename or drop the duplicates, e.g. "
                "data.loc[:, ~data.columns.duplicated()]."
            )
        out[name] = clean_column(name, data[found[0]])
    return out


def is_text_dtype(dtype: Any) -> bool:
    """Whether a dtype is pandas 3's default text dtype (``str``: missing as NaN), which
    the model frame keeps as it is (formulaic reads it as text too)."""
    return isinstance(dtype, pd.StringDtype) and getattr(dtype, "na_value", None) is np.nan


def clean_column(name: str, series: pd.Series) -> pd.Series:
    """One column as the design stage takes it, or an error saying why it cannot be used.

    Numbers (numpy's and pandas' nullable dtypes, or numbers stored as objects) become
    floats, booleans stay booleans, pandas 3's default text dtype stays as it is, other text
    (the nullable ``string`` dtype too) becomes objects with ``NaN`` for missing values,
    categories stay categories. Dates, durations, periods, intervals, complex numbers,
    containers in cells, and object columns mixing numbers with text are errors.

    Examples
    --------
    >>> clean_column("x", pd.Series([1, None], dtype="Int64")).tolist()
    [1.0, nan]
    >>> clean_column("x", pd.Series([1, "a"], dtype=object))
    Traceback (most recent call last):
    ...
    lmeformula.errors.DataError: column 'x' mixes numbers and text (e.g. 1 and 'a'); convert it: pandas.to_numeric(data['x'], errors='coerce') if the text marks missing values, or data['x'].astype(str) if it holds labels.
    """  # noqa: E501
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiu":
        # numpy's numbers, the commonest column, need none of the checks below.
        return series
    if isinstance(dtype, pd.CategoricalDtype) or is_text_dtype(dtype):
        # pandas 3's default text is kept as it is, its levels coded from its own array
        # (:func:`~lmeformula.model.frame.code_factor`); as objects the conversion and the
        # hashing of Python strings cost Exam's 4,059 schools 0.37 ms of 0.85.
        return series
    if pd.api.types.is_bool_dtype(dtype):
        if series.hasnans:
            # A nullable boolean with missing values: NaN marks them, as for other columns.
            return series.astype(object).where(series.notna(), np.nan)
        return series.astype(bool)
    if isinstance(dtype, pd.StringDtype):
        # The nullable "string" dtype (missing as pd.NA): one pass to objects with NaN
        # for missing values (astype then where makes two and costs four times as much).
        return pd.Series(
            series.to_numpy(dtype=object, na_value=np.nan),
            index=series.index,
            name=series.name,
            dtype=object,
        )
    if pd.api.types.is_complex_dtype(dtype):
        raise DataError(
            f"column {name!r} holds complex numbers; a model needs real numbers (use "
            "np.real or np.abs of the column)."
        )
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise _dates(name, str(dtype))
    if isinstance(dtype, (pd.PeriodDtype, pd.IntervalDtype)):
        raise DataError(
            f"column {name!r} holds {dtype} values; convert it to numbers (e.g. "
            "data[col].dt.year or the interval's midpoint) or to text labels (astype(str))."
        )
    if pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_extension_array_dtype(dtype):
            # Nullable Int64/Float64: pd.NA becomes NaN, which the model frame drops.
            return series.astype(float)
        return series
    return _clean_object(name, series)


def _clean_object(name: str, series: pd.Series) -> pd.Series:
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind in ("string", "empty"):
        return series
    if kind in _NUMBERS:
        return series.astype(float)
    if kind == "boolean":
        return series.where(series.notna(), np.nan) if series.hasnans else series.astype(bool)
    if kind in _DATES:
        raise _dates(name, "objects")
    values = series.dropna()
    if kind in ("mixed-integer", "mixed"):
        numbers = values[values.map(lambda v: isinstance(v, (int, float, np.number)))]
        text = values[values.map(lambda v: isinstance(v, str))]
        if len(numbers) and len(text) and len(numbers) + len(text) == len(values):
            raise DataError(
                f"column {name!r} mixes numbers and text (e.g. {numbers.iloc[0]!r} and "
                f"{text.iloc[0]!r}); convert it: pandas.to_numeric(data[{name!r}], "
                f"errors='coerce') if the text marks missing values, or "
                f"data[{name!r}].astype(str) if it holds labels."
            )
    types = sorted({type(v).__name__ for v in values})
    raise DataError(
        f"column {name!r} holds values of type {', '.join(types)}, which a model cannot use; "
        "each cell must be one number, one piece of text or one boolean. Convert the column "
        "(e.g. to numbers with pandas.to_numeric or to labels with astype(str))."
    )


def _dates(name: str, dtype: str) -> DataError:
    return DataError(
        f"column {name!r} holds dates or durations ({dtype}); convert it to a number first, "
        "e.g. days since the start: (d - d.min()).dt.days."
    )
