"""Random-term designs that need no formulaic: an intercept, plain numeric columns, or one
factor on its own (``(1 | g)``, ``(Days | Subject)``, ``(0 + Machine | Worker)``).

These are most random terms, and formulaic's general machinery costs 1 to 3 ms per term
(a factor's contrasts the most), a fifth of a small model's whole fit. The matrices, column
names and the spec used for new data are what formulaic gives for the same text (the tests
compare them); anything else (functions, interactions, several factors, categorical
dtypes) goes to formulaic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import numpy as np
import pandas as pd

from lmeformula.model.datacheck import is_text_dtype
from lmeformula.model.frame import Columns, FrameColumns

__all__ = ["SimpleSpec", "simple_lhs", "simple_spec"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SimpleSpec:
    """The spec of a simple term: rebuilds its columns on new data (``get_model_matrix``)."""

    intercept: bool
    numeric: tuple[str, ...]
    factor: str | None
    levels: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        """The columns as formulaic names them (``Intercept``, ``Days``, ``Machine[A]``,
        ``Machine[T.B]``)."""
        out = ["Intercept"] if self.intercept else []
        if self.factor is not None:
            kept = self.levels[1:] if self.intercept else self.levels
            fmt = "{}[T.{}]" if self.intercept else "{}[{}]"
            out += [fmt.format(self.factor, lev) for lev in kept]
        return out + list(self.numeric)

    def matrix(self, data: Columns) -> np.ndarray:
        """The n x p matrix of these columns on ``data``."""
        n = len(data)
        names = self.names
        out = np.empty((n, len(names)))
        j = 0
        if self.intercept:
            out[:, 0] = 1.0
            j = 1
        if self.factor is not None:
            first = 1 if self.intercept else 0
            coded = data.codes(self.factor) if isinstance(data, FrameColumns) else None
            if coded is not None and coded[1] == self.levels:
                # The fit's own rows: their codes, shared with the other stages.
                for k in range(first, len(self.levels)):
                    np.equal(coded[0], k, out=out[:, j], casting="unsafe")
                    j += 1
            else:
                values = data[self.factor].to_numpy()
                for lev in self.levels[first:]:
                    np.equal(values, lev, out=out[:, j], casting="unsafe")
                    j += 1
        for c in self.numeric:
            numbers = data.numbers(c) if isinstance(data, FrameColumns) else None
            out[:, j] = data[c].to_numpy(dtype=float) if numbers is None else numbers
            j += 1
        return out

    def get_model_matrix(self, data: pd.DataFrame, context: Any = None) -> pd.DataFrame:
        """As formulaic's ``ModelSpec.get_model_matrix``."""
        return pd.DataFrame(self.matrix(data), columns=self.names, index=data.index)


class SimpleMatrix(pd.DataFrame):
    """What formulaic's ``model_matrix`` returns for a simple term: the columns, and the
    spec as ``model_spec``."""

    _metadata: ClassVar[list[str]] = ["_spec"]

    @property
    def model_spec(self) -> SimpleSpec:
        return cast(SimpleSpec, getattr(self, "_spec"))  # noqa: B009 (typed access)


def _is_text(col: pd.Series) -> bool:
    if isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(col):
        return False
    if is_text_dtype(col.dtype):
        return True
    if pd.api.types.is_string_dtype(col):
        # In C, where a map of isinstance over the rows costs a Python call per row.
        return bool(pd.api.types.infer_dtype(col.to_numpy(), skipna=False) == "string")
    return False


def _is_number(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def simple_spec(text: str, data: Columns) -> SimpleSpec | None:
    """The spec of a random term's left side when it is simple (see the module), else None.

    Examples
    --------
    >>> d = pd.DataFrame({"x": [1.0, 2.0, 3.0], "f": ["b", "a", "b"]})
    >>> simple_spec("0 + f", d).names
    ['f[a]', 'f[b]']
    >>> simple_spec("1 + log(x)", d) is None
    True
    """
    parts = [p.strip() for p in text.split("+")]
    if not parts or parts[0] not in ("0", "1"):
        return None
    intercept = parts[0] == "1"
    numeric: list[str] = []
    factor: str | None = None
    for name in parts[1:]:
        if not _NAME.match(name) or name not in data.columns or name in numeric:
            return None
        if isinstance(data, FrameColumns):
            if data.numbers(name) is not None:
                numeric.append(name)
                continue
            if data.is_text(name) and factor is None and not numeric:
                factor = name
                continue
        col = data[name]
        if _is_number(col):
            numeric.append(name)
        elif _is_text(col) and factor is None and not numeric:
            factor = name
        else:
            return None
    levels: tuple[str, ...] = ()
    if isinstance(data, FrameColumns) and factor is not None and data.is_text(factor):
        levels = data.codes(factor)[1]  # sorted as below, and coded once for every stage
    elif factor is not None:
        levels = tuple(sorted(data[factor].unique()))  # unique in C, not a set over the rows
    return SimpleSpec(intercept, tuple(numeric), factor, levels)


def simple_lhs(text: str, data: pd.DataFrame) -> SimpleMatrix | None:
    """The design of a random term's left side when it is simple (see the module), else
    None.

    Examples
    --------
    >>> d = pd.DataFrame({"x": [1.0, 2.0, 3.0], "f": ["b", "a", "b"]})
    >>> simple_lhs("1 + x", d).columns.tolist()
    ['Intercept', 'x']
    >>> simple_lhs("0 + f", d).to_numpy().tolist()
    [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    >>> simple_lhs("1 + log(x)", d) is None
    True
    """
    spec = simple_spec(text, data)
    if spec is None:
        return None
    out = SimpleMatrix(spec.matrix(data), columns=spec.names, index=data.index)
    out._spec = spec
    return out
