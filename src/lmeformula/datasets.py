"""The example datasets of lme4, nlme and mlmRev, shipped as CSV files with the package.

R writes a data frame with ``write.csv`` by quoting every character or factor column and
leaving numbers bare. A grouping factor such as exam's ``school`` ("1", "10", "11", ...)
would come back from :func:`pandas.read_csv` as integers, which changes its meaning (level
order, contrasts, ``school == "1"``). :func:`read_csv` therefore looks at how the file
quotes each column and reads quoted columns as strings, like R's ``read.csv`` would give
factor labels back.
"""

from __future__ import annotations

import csv
import functools
import io
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import narwhals.stable.v2 as nw
import pandas as pd

from lmeformula.errors import ArgumentTypeError, DataError

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = ["BACKENDS", "load", "names", "read_csv"]

#: The libraries whose tables :func:`read_csv` returns.
BACKENDS = ("pandas", "polars", "pyarrow")

# Strings R writes for missing values: NA for any column; NaN only appears in numbers.
_NA_STRINGS = ("NA",)
_NA_NUMERIC = ("NA", "NaN", "")


def _data_dir() -> Traversable:
    return resources.files("lmeformula").joinpath("data")


def names() -> list[str]:
    """List the datasets that :func:`load` knows.

    Returns
    -------
    list of str
        Dataset names, lower case, sorted.

    Examples
    --------
    >>> from lmeformula import datasets
    >>> "exam" in datasets.names()
    True
    >>> datasets.names()[:3]
    ['bodyweight', 'cake', 'cbpp']
    """
    return sorted(
        entry.name[: -len(".csv")] for entry in _data_dir().iterdir() if entry.name.endswith(".csv")
    )


def load(name: str) -> pd.DataFrame:
    """Load one of the example datasets shipped with lmeformula.

    Parameters
    ----------
    name
        Dataset name as R spells it or in lower case: ``"exam"`` (mlmRev's ``Exam``),
        ``"sleepstudy"``, ``"Dyestuff"``, ``"Penicillin"``, ``"Pastes"``, ``"InstEval"``,
        ``"cake"`` (lme4), ``"Orthodont"``, ``"Ovary"``, ``"BodyWeight"``, ``"Machines"``,
        ``"Wheat2"`` (nlme), ``"ChickWeight"`` (R's datasets). See :func:`names`.

    Returns
    -------
    pandas.DataFrame
        A new frame on every call, so changing it never changes the next one. Columns that
        are factors in R (``school``, ``Subject``, ...) hold strings; the others are
        numeric.

    Raises
    ------
    lmeformula.errors.DataError
        If ``name`` is not a known dataset; the message lists the known ones.

    Examples
    --------
    >>> from lmeformula import datasets
    >>> exam = datasets.load("exam")
    >>> exam.shape
    (4059, 10)
    >>> exam["school"].iloc[0]
    '1'
    >>> datasets.load("sleepstudy").columns.tolist()
    ['Reaction', 'Days', 'Subject']
    """
    if not isinstance(name, str):
        raise DataError(
            f"dataset name must be a string, got {type(name).__name__}; "
            f"choose one of: {', '.join(names())}"
        )
    key = name.strip().lower()
    available = names()
    if key not in available:
        raise DataError(
            f"unknown dataset {name!r}; choose one of: {', '.join(available)} "
            "(or read your own file with lmeformula.datasets.read_csv)"
        )
    # Parsing InstEval takes a while; parse each file once and hand out copies.
    return _load_cached(key).copy(deep=True)


@functools.cache
def _load_cached(key: str) -> pd.DataFrame:
    text = _data_dir().joinpath(f"{key}.csv").read_text(encoding="utf-8")
    return _read_text(text, source=f"dataset {key!r}")


@overload
def read_csv(
    path: str | os.PathLike[str], *, backend: Literal["pandas"] = "pandas"
) -> pd.DataFrame: ...


@overload
def read_csv(path: str | os.PathLike[str], *, backend: str) -> Any: ...


def read_csv(path: str | os.PathLike[str], *, backend: str = "pandas") -> Any:
    """Read a CSV file the way R's ``write.csv`` meant it.

    Columns whose values are quoted in the file are read as strings (R's character and
    factor columns), so labels such as ``"01"`` or ``"10"`` stay labels. Unquoted columns
    are parsed by pandas as usual (numbers for R's numeric columns). ``NA`` is missing.

    Parameters
    ----------
    path
        Path of the CSV file; the first line holds the column names.
    backend
        The library whose table is returned: ``"pandas"`` (default), ``"polars"`` or
        ``"pyarrow"`` (that library must be installed). The file is read the same way
        for each; missing values are NaN in pandas' numbers and nulls in the others'.

    Returns
    -------
    pandas.DataFrame, polars.DataFrame or pyarrow.Table

    Raises
    ------
    lmeformula.errors.DataError
        If the file cannot be read or has no header line.
    lmeformula.errors.ArgumentTypeError
        For a path that is no path, or another ``backend``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from lmeformula.datasets import read_csv
    >>> tmp = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = tmp.write_text('"y","g"\\n1.5,"01"\\n2.5,"10"\\n')
    >>> df = read_csv(tmp)
    >>> df["g"].tolist(), df["y"].dtype.kind
    (['01', '10'], 'f')
    >>> read_csv(tmp, backend="polars")["g"].to_list()
    ['01', '10']
    >>> type(read_csv(tmp, backend="pyarrow")).__name__
    'Table'
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(
            f"path must be a file path (str or pathlib.Path), got {type(path).__name__}."
        )
    if backend not in BACKENDS:
        raise ArgumentTypeError(f"backend must be one of {BACKENDS}, got {backend!r}.")
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(
            f"cannot read data file {str(file)!r}: {exc.strerror or exc}; check the path"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"cannot read data file {str(file)!r} as UTF-8 text ({exc.reason} at byte "
            f"{exc.start}); is it a CSV file? Re-save it as UTF-8, or read it with "
            "pandas.read_csv(path, encoding=...)."
        ) from None
    frame = _read_text(text, source=f"file {str(file)!r}")
    if backend == "pandas":
        return frame
    # One conversion for every library narwhals writes; pandas' NaN and None become nulls.
    table = nw.from_native(frame, eager_only=True)
    return table.to_polars() if backend == "polars" else table.to_arrow()


def _read_text(text: str, *, source: str) -> pd.DataFrame:
    records = csv.reader(io.StringIO(text))
    try:
        header = next(records)
        quoted = _quoted_columns(text, len(header))
    except StopIteration:
        raise DataError(f"{source} is empty; a CSV file needs a header line") from None
    except csv.Error as exc:
        raise DataError(f"cannot parse {source} as CSV: {exc}") from None
    string_cols = [col for col, is_quoted in zip(header, quoted, strict=True) if is_quoted]
    na_values = {col: list(_NA_STRINGS if col in string_cols else _NA_NUMERIC) for col in header}
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            dtype=dict.fromkeys(string_cols, str),
            keep_default_na=False,
            na_values=na_values,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot parse {source} as CSV: {exc}") from exc
    return frame


def _quoted_columns(text: str, ncol: int) -> list[bool]:
    """Whether each column is quoted, judged by its first non-missing value.

    R quotes every value of a character or factor column except ``NA``, so the first
    data line usually settles every column; later lines are read only for columns whose
    first values are ``NA``.
    """
    lines = io.StringIO(text)
    lines.readline()  # header: R quotes every name, so it says nothing about types
    decided: list[bool | None] = [None] * ncol
    for line in lines:
        line = line.rstrip("\r\n")
        if not line:
            continue
        for i, flag in enumerate(_field_quoting(line)[:ncol]):
            if decided[i] is None and flag is not None:
                decided[i] = flag
        if all(flag is not None for flag in decided):
            break
    return [bool(flag) for flag in decided]


def _field_quoting(line: str) -> list[bool | None]:
    """For each field of one CSV line: quoted (True), bare (False) or bare NA/empty (None)."""
    try:
        # QUOTE_NONNUMERIC makes the csv module convert exactly the bare fields to float,
        # so the value types tell which fields were quoted.
        row = next(csv.reader([line], quoting=csv.QUOTE_NONNUMERIC))
        return [isinstance(value, str) for value in row]
    except (ValueError, StopIteration, csv.Error):
        pass
    # A bare non-number (NA, TRUE, a word): find the quoted fields character by character.
    flags: list[bool | None] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            i += 1
            while i < n:
                if line[i] == '"':
                    if i + 1 < n and line[i + 1] == '"':
                        i += 2
                        continue
                    i += 1
                    break
                i += 1
            flags.append(True)
            comma = line.find(",", i)
        else:
            comma = line.find(",", i)
            field = line[i:] if comma < 0 else line[i:comma]
            flags.append(None if field.strip() in _NA_NUMERIC else False)
        if comma < 0:
            return flags
        i = comma + 1
