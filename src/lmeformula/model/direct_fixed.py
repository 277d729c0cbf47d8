"""The fixed-effects matrix of a simple right-hand side, built without formulaic's
materializer.

A right-hand side is simple when every term is an intercept, a plain column, a whole
power of a numeric column (R's ``I(age^2)``, formulaic's ``I(age ** 2)``) or an
interaction of those, each column numeric or an unordered factor (text, or a Categorical
of text) coded with treatment contrasts. Those are most fixed parts
(``Days``, ``period``, ``Machine``, ``a * b``), and formulaic spends 2 to 3 ms materializing
them where the matrix itself takes tens of microseconds: a third of a small model's fit.

The columns, their order, names and values are formulaic's with
:class:`~lmeformula.model.contrasts.RMaterializer` (the tests compare them bit for bit):
the terms are formulaic's own parse, and which factor of a term is coded in full or
reduced rank follows formulaic's algorithm (``FormulaMaterializer._get_scoped_terms``,
ported below). Everything else (functions, ``C()``, ``relevel()``, ordered factors,
numbers as categories, a factor with one level) returns None and goes to formulaic.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache

import formulaic
import numpy as np
import pandas as pd

from lmeformula.model.datacheck import is_text_dtype
from lmeformula.model.frame import Columns, FrameColumns, code_factor

__all__ = ["direct_fixed"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: A whole power of a plain column as formulaic writes R's I(x^k): I(x ** k).
_POWER = re.compile(r"^I\(([A-Za-z_][A-Za-z0-9_]*) \*\* ([0-9]+)\)$")

#: A scoped factor: its column name and whether it is coded in reduced rank.
_Scoped = tuple[str, bool]


@lru_cache(maxsize=512)
def _terms(rhs: str) -> tuple[tuple[str, ...], ...] | None:
    """formulaic's terms of ``rhs`` as tuples of column names (``()`` the intercept), in
    formulaic's order, or None when a factor is not a plain name."""
    # A parse costs 0.2-0.4 ms; a fit, its refits and its bootstrap share the text.
    try:
        formula = formulaic.Formula(rhs)
    except Exception:  # formulaic's own error is raised on its path, with the culprit
        return None
    if not isinstance(formula, formulaic.formula.SimpleFormula):
        return None
    out = []
    for term in formula:
        names = []
        for factor in term.factors:
            method = factor.eval_method.value
            if method == "literal" and factor.expr == "1" and len(term.factors) == 1:
                continue
            plain = method == "lookup" and _NAME.match(factor.expr)
            if not plain and not (method == "python" and _POWER.match(factor.expr)):
                return None
            names.append(factor.expr)
        out.append(tuple(names))
    return tuple(out)


def _same(a: tuple[_Scoped, ...], b: tuple[_Scoped, ...]) -> bool:
    # formulaic's ScopedTerm equality: the same factors in any order.
    return set(a) == set(b)


def _without(terms: list[tuple[_Scoped, ...]], term: tuple[_Scoped, ...]) -> list:
    return [t for t in terms if not _same(t, term)]


def _with(terms: list[tuple[_Scoped, ...]], term: tuple[_Scoped, ...]) -> list:
    # An ordered set's union with one element: appended unless already there.
    return terms if any(_same(t, term) for t in terms) else [*terms, term]


def _simplify(scoped: list[tuple[_Scoped, ...]]) -> list[tuple[_Scoped, ...]]:
    """formulaic's ``_simplify_scoped_terms``: (anything):(reduced) + (anything) becomes
    (anything):(full), recursively, keeping the order of the terms."""
    terms: list[tuple[_Scoped, ...]] = []
    for term in sorted(scoped, key=len):
        factors = set(term)
        combined = False
        for existing in terms:
            cofactors = set(existing)
            diff = factors - cofactors
            if len(factors) - 1 != len(cofactors) or len(diff) != 1:
                continue
            new = next(iter(diff))
            if new[1]:
                full = tuple((f[0], False) if f == new else f for f in term)
                terms = _simplify(_with(_without(terms, existing), full))
                combined = True
                break
        if not combined:
            terms = _with(terms, term)
    return terms


def _scoped_terms(
    terms: tuple[tuple[str, ...], ...], categorical: set[str]
) -> list[list[tuple[_Scoped, ...]]]:
    """Each term's scoped terms, as formulaic's ``_get_scoped_terms`` with
    ``ensure_full_rank=True`` makes them."""
    spanned: list[tuple[_Scoped, ...]] = []
    out = []
    for term in terms:
        choices = [
            ((name, True), None) if name in categorical else ((name, False),) for name in term
        ]
        span: list[tuple[_Scoped, ...]] = []
        for prod in itertools.product(*choices):
            span = _with(span, tuple(p for p in prod if p is not None))
        span = [t for t in span if not any(_same(t, s) for s in spanned)]
        out.append(_simplify(span))
        spanned.extend(span)
    return out


@lru_cache(maxsize=512)
def _scoped(
    terms: tuple[tuple[str, ...], ...], categorical: frozenset[str]
) -> tuple[tuple[tuple[_Scoped, ...], ...], ...]:
    """:func:`_scoped_terms`, once per formula and set of factors (a fit, its refits and its
    bootstrap share them; their search costs a small fit 10 us)."""
    return tuple(tuple(scoped) for scoped in _scoped_terms(terms, set(categorical)))


def _column(data: Columns, name: str) -> tuple[np.ndarray, list[str] | None] | None:
    """A column's values (numbers) or codes and levels (a factor), None when formulaic
    must code it."""
    if isinstance(data, FrameColumns):
        values = data.numbers(name)
        if values is not None:
            return values, None
        if data.is_text(name):
            # Coded once for every stage (formulaic reads text as a factor, levels sorted).
            codes, coded_levels = data.codes(name)
            return (codes, list(coded_levels)) if len(coded_levels) >= 2 else None
    col = data[name]
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        levels = list(dtype.categories)
        if dtype.ordered or not all(isinstance(lev, str) for lev in levels):
            return None
        codes = col.cat.codes.to_numpy()
        if len(levels) < 2 or np.unique(codes).size != len(levels):
            return None
        return codes, levels
    if is_text_dtype(dtype):
        # pandas 3's default text dtype (missing as NaN), which formulaic reads as objects
        # (not the nullable "string" dtype, missing as pd.NA, which it does not read as a
        # factor); the frame has dropped the missing values.
        text_codes, text_levels = (
            data.codes(name) if isinstance(data, FrameColumns) else code_factor(col)
        )
        return (text_codes, list(text_levels)) if len(text_levels) >= 2 else None
    if pd.api.types.is_object_dtype(dtype):
        if pd.api.types.infer_dtype(col.to_numpy(), skipna=False) != "string":
            return None
        codes, uniques = pd.factorize(col, sort=True)
        if len(uniques) < 2:
            return None
        return codes, list(uniques)
    if dtype.kind in "fiu":
        return col.to_numpy(), None
    return None


def direct_fixed(rhs: str, data: Columns) -> tuple[np.ndarray, list[str]] | None:
    """The fixed-effects matrix of ``rhs`` on ``data`` and its formulaic column names
    (``Intercept``, ``sex[T.M]``), or None when ``rhs`` is not simple (see the module).

    Parameters
    ----------
    rhs
        The fixed part's right-hand side.
    data
        The model frame's data (complete rows, settled columns).

    Returns
    -------
    tuple of numpy.ndarray and list of str, or None

    Examples
    --------
    >>> d = pd.DataFrame({"x": [1.0, 2.0, 3.0], "f": ["b", "a", "b"]})
    >>> X, names = direct_fixed("x * f", d)
    >>> names
    ['Intercept', 'x', 'f[T.b]', 'x:f[T.b]']
    >>> X[:, 3].tolist()
    [1.0, 0.0, 3.0]
    >>> direct_fixed("x + I(x ** 2)", d)[1]
    ['Intercept', 'x', 'I(x ** 2)']
    >>> direct_fixed("log(x)", d) is None
    True
    """
    terms = _terms(rhs)
    if terms is None:
        return None
    columns: dict[str, tuple[np.ndarray, list[str] | None]] = {}
    for name in {n for term in terms for n in term}:
        power = _POWER.match(name)
        base = power.group(1) if power else name
        if base not in data.columns:
            return None
        found = _column(data, base)
        if found is None:
            return None
        if power:
            raw, levels = found
            if levels is not None:  # a power of a factor: formulaic's error to raise
                return None
            # As formulaic evaluates it: the column's own dtype to the power.
            found = (raw ** int(power.group(2)), None)
        columns[name] = found
    categorical = {n for n, (_, levels) in columns.items() if levels is not None}
    n = len(data)
    names: list[str] = []
    values: list[np.ndarray | float] = []
    encoded: dict[_Scoped, list[tuple[str, np.ndarray]]] = {}

    def encode(factor: _Scoped) -> list[tuple[str, np.ndarray]]:
        if factor not in encoded:
            name, reduced = factor
            raw, levels = columns[name]
            if levels is None:
                encoded[factor] = [(name, raw)]
            else:
                fmt = "{}[T.{}]" if reduced else "{}[{}]"
                first = 1 if reduced else 0
                encoded[factor] = [
                    (fmt.format(name, lev), (raw == j).astype(float))
                    for j, lev in enumerate(levels)
                    if j >= first
                ]
        return encoded[factor]

    for scoped in _scoped(terms, frozenset(categorical)):
        for term in scoped:
            if not term:
                names.append("Intercept")
                values.append(1.0)  # written into X as a scalar: no column of ones made
                continue
            # formulaic's row-wise Kronecker product: the last factor varies slowest.
            for reverse in itertools.product(*(encode(f) for f in reversed(term))):
                product = reverse[::-1]
                names.append(":".join(p[0] for p in product))
                value = product[0][1]
                for p in product[1:]:
                    value = value * p[1]
                values.append(value)
    if len(set(names)) != len(names):
        return None
    X = np.empty((n, len(values)))
    for j, column in enumerate(values):
        X[:, j] = column
    return X, names
