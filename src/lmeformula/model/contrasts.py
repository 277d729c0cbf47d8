"""R's factor codings for formulaic: ``C()``, ``contr.*``, ``relevel()`` and polynomial
contrasts for ordered factors, with R's numbers and R's column names.

formulaic's codings are R's matrices (``contr.sum``, ``contr.helmert``, ``contr.poly``,
``contr.SAS``), but it names their columns by level (``f[S.a]``, ``f[H.b]``) where R
numbers them (``f1``, ``f2``), and it codes an ordered Categorical like any other, where R
gives ordered factors ``contr.poly`` (``options(contrasts = c("contr.treatment",
"contr.poly"))``). Here:

- the codings are subclasses whose columns carry R's names (``{name}[1]``, which
  :func:`lmeformula.model.design.r_names` writes ``f1``, as ``f[T.b]`` becomes ``fb``);
- ``C(f, contr)`` reads ``contr`` as R's ``C()`` does: a function (``contr.sum``), its name
  as a string (``"contr.sum"``) or a bare name (``sum``, ``helmert``, ``poly``,
  ``treatment``, ``SAS``). As in R, ``contr.treatment`` and ``contr.SAS`` given as functions
  are called with the number of levels, so their columns are numbered (``f2``, ``f3``),
  while given by name they are named by level (``fb``, ``fc``);
- :class:`RMaterializer` codes an ordered Categorical with ``contr.poly`` when the formula
  does not say otherwise, and a fitted coding is kept for new data (whose column may have
  lost its order);
- ``relevel(f, ref)`` is R's: the reference level first, the others in their order.
"""

from __future__ import annotations

import builtins
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from formulaic.materializers import PandasMaterializer
from formulaic.materializers.types import FactorValues
from formulaic.transforms import TRANSFORMS, encode_contrasts
from formulaic.transforms.contrasts import (
    Contrasts,
    ContrastsState,
    CustomContrasts,
    HelmertContrasts,
    PolyContrasts,
    SASContrasts,
    SumContrasts,
    TreatmentContrasts,
)
from formulaic.utils.cast import as_columns
from formulaic.utils.null_handling import drop_rows as drop_nulls
from formulaic.utils.stateful_transforms import stateful_transform

from lmeformula.errors import DataError, FormulaError
from lmeformula.formula.variables import CONTRAST_WORDS
from lmeformula.model.frame import level_label

__all__ = [
    "BARE_NAMES",
    "CONTRAST_NAMES",
    "C",
    "RHelmert",
    "RMaterializer",
    "RPoly",
    "RSASNumbered",
    "RSum",
    "RTreatmentNumbered",
    "coding_matrix",
    "contr",
    "relevel",
]


def _numbered(levels: Sequence[Hashable], kept: Sequence[Hashable]) -> list[str]:
    # R's contrast functions are called with the number of levels: columns 1, 2, ...
    # (treatment's keep the numbers of the levels they code: 2, 3).
    position = {level: i + 1 for i, level in enumerate(levels)}
    return [str(position[level]) for level in kept]


class RSum(SumContrasts):
    """R's ``contr.sum``: columns named 1, 2, ... (``f1``, ``f2``)."""

    FACTOR_FORMAT_REDUCED = "{name}[{field}]"

    @Contrasts.override
    def get_coding_column_names(
        self, levels: Sequence[Hashable], reduced_rank: bool = True
    ) -> Sequence[Hashable]:
        if reduced_rank:
            return [str(i + 1) for i in range(len(levels) - 1)]
        return levels


class RHelmert(HelmertContrasts):
    """R's ``contr.helmert``: columns named 1, 2, ... (``f1``, ``f2``)."""

    FACTOR_FORMAT_REDUCED = "{name}[{field}]"

    @Contrasts.override
    def get_coding_column_names(
        self, levels: Sequence[Hashable], reduced_rank: bool = True
    ) -> Sequence[Hashable]:
        if reduced_rank:
            return [str(i + 1) for i in range(len(levels) - 1)]
        return levels


class RPoly(PolyContrasts):
    """R's ``contr.poly``: columns ``.L``, ``.Q``, ``.C``, ``^4``, ... (formulaic's names)."""


def _unlabelled(encoded: Any) -> Any:
    # Treatment codings select the dummies' columns, labelled by level; formulaic then
    # labels them by the coding's names, which must not realign them (numbers, here).
    return encoded.to_numpy() if isinstance(encoded, pd.DataFrame) else encoded


class _NumberedByLevel:
    """R's treatment-like codings given as functions: columns numbered by level (``f2``)."""

    FACTOR_FORMAT_REDUCED = "{name}[{field}]"

    @Contrasts.override
    def _apply(
        self,
        dummies: Any,
        levels: Sequence[Hashable],
        reduced_rank: bool = True,
        sparse: bool = False,
    ) -> Any:
        return _unlabelled(super()._apply(dummies, levels, reduced_rank, sparse))  # type: ignore[misc]

    @Contrasts.override
    def get_coding_column_names(
        self, levels: Sequence[Hashable], reduced_rank: bool = True
    ) -> Sequence[Hashable]:
        kept = super().get_coding_column_names(levels, reduced_rank)  # type: ignore[misc]
        return _numbered(levels, kept) if reduced_rank else kept


class RTreatmentNumbered(_NumberedByLevel, TreatmentContrasts):
    """R's ``contr.treatment`` given as a function: columns numbered by level (``f2``)."""


class RSASNumbered(_NumberedByLevel, SASContrasts):
    """R's ``contr.SAS`` given as a function: columns numbered by level (``f1``, ``f2``)."""


class _Contr:
    """R's contrast functions, as ``contr.sum`` etc. in a formula reads them."""

    treatment = RTreatmentNumbered
    sum = RSum
    helmert = RHelmert
    poly = RPoly
    SAS = RSASNumbered

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy and pickle probe for these
            raise AttributeError(name)
        raise FormulaError(
            f"unknown contrasts contr.{name}; R's are contr.treatment, contr.sum, "
            "contr.helmert, contr.poly and contr.SAS."
        )


#: ``contr`` of a formula's ``contr.sum``.
contr = _Contr()


#: The codings R's ``C()`` knows by name (``"contr.sum"``, or bare ``sum``).
CONTRAST_NAMES: dict[str, type[Contrasts]] = {
    "treatment": TreatmentContrasts,
    "sum": RSum,
    "helmert": RHelmert,
    "poly": RPoly,
    "SAS": SASContrasts,
}

#: Bare names R's ``C()`` reads as contrast names; in the formula context they are the
#: names' strings (``sum`` and ``poly`` are Python's and formulaic's functions, read below).
BARE_NAMES: dict[str, str] = {w: f"contr.{w}" for w in sorted(CONTRAST_WORDS - {"sum", "poly"})}


def _coding(contrasts: Any) -> Contrasts | None:
    """R's ``C()`` argument as a formulaic coding (None: R's default for the factor)."""
    if contrasts is None or isinstance(contrasts, Contrasts):
        return contrasts
    if isinstance(contrasts, type) and issubclass(contrasts, Contrasts):
        return contrasts()
    # R's C() reads the bare names sum and poly as contr.sum and contr.poly.
    if contrasts is builtins.sum:
        return RSum()
    if contrasts is TRANSFORMS["poly"]:
        return RPoly()
    if isinstance(contrasts, str):
        name = contrasts.removeprefix("contr.")
        if name in CONTRAST_NAMES:
            return CONTRAST_NAMES[name]()
        raise FormulaError(
            f"unknown contrasts {contrasts!r} in C(); R's are "
            + ", ".join(f"contr.{n}" for n in CONTRAST_NAMES)
            + " (as functions, names or strings)."
        )
    if isinstance(contrasts, (np.ndarray, list, tuple, dict)):
        return CustomContrasts(contrasts)
    raise FormulaError(
        f"C() got {type(contrasts).__name__} {contrasts!r} as its contrasts; give one of "
        + ", ".join(f"contr.{n}" for n in CONTRAST_NAMES)
        + ", its name as a string, or a matrix with a row per level."
    )


def _is_ordered(values: Any) -> bool:
    dtype = getattr(values, "dtype", None)
    return isinstance(dtype, pd.CategoricalDtype) and bool(dtype.ordered)


def _default(values: Any, state: dict[str, Any]) -> Contrasts | None:
    """R's coding of a factor the formula gives none: the fitted one (new data), else
    ``contr.poly`` for an ordered factor and formulaic's treatment coding otherwise."""
    fitted = state.get("contrasts")
    if isinstance(fitted, ContrastsState):
        return fitted.contrasts
    return RPoly() if _is_ordered(values) else None


def C(data: Any, contr: Any = None) -> FactorValues:
    """R's ``C(f, contr)``: the factor ``f`` coded with the contrasts ``contr``.

    Parameters
    ----------
    data
        The factor (a Categorical keeps its categories' order; other values are sorted,
        as R's ``factor()`` sorts them).
    contr
        ``contr.treatment``, ``contr.sum``, ``contr.helmert``, ``contr.poly`` or
        ``contr.SAS``; their names as strings or bare names (``sum``); a matrix with a row
        per level. Without it, R's default: polynomial for an ordered factor, treatment
        otherwise.

    Returns
    -------
    formulaic.materializers.types.FactorValues
        The factor, marked for formulaic with its coding.

    Examples
    --------
    >>> import formulaic
    >>> d = pd.DataFrame({"f": ["a", "b", "c", "a"]})
    >>> mm = formulaic.model_matrix("C(f, contr.sum)", d, context={"C": C, "contr": contr})
    >>> list(mm.columns)
    ['Intercept', 'C(f, contr.sum)[1]', 'C(f, contr.sum)[2]']
    """
    coding = _coding(contr)

    def encoder(
        values: Any,
        reduced_rank: bool,
        drop_rows: list[int],
        encoder_state: dict[str, Any],
        model_spec: Any,
    ) -> FactorValues:
        raw = values.__wrapped__ if isinstance(values, FactorValues) else values
        series = pd.Series(raw)
        series = series.drop(index=series.index[drop_rows])
        chosen = coding if coding is not None else _default(series, encoder_state)
        return encode_contrasts(
            series,
            contrasts=chosen,
            reduced_rank=reduced_rank,
            _state=encoder_state,
            _spec=model_spec,
        )

    return FactorValues(data, kind="categorical", spans_intercept=True, encoder=encoder)


class RMaterializer(PandasMaterializer):
    """formulaic's pandas materializer, coding ordered Categoricals with ``contr.poly`` as R
    does (and any factor, on new data, with the coding it was fitted with)."""

    REGISTER_NAME = "lmeformula"
    REGISTER_PRECEDENCE = 1

    @PandasMaterializer.override
    def _encode_categorical(
        self,
        values: Any,
        metadata: Any,
        encoder_state: dict[str, Any],
        spec: Any,
        drop_rows: Sequence[int],
        reduced_rank: bool = False,
    ) -> Any:
        coding = _default(values, encoder_state)
        if coding is None or type(coding) is TreatmentContrasts:
            return super()._encode_categorical(
                values, metadata, encoder_state, spec, drop_rows, reduced_rank=reduced_rank
            )
        if drop_rows:
            values = drop_nulls(values, indices=drop_rows)
        # Codings other than treatment's are not the dummies less a column: reduce here.
        return as_columns(
            encode_contrasts(
                values,
                contrasts=coding,
                reduced_rank=reduced_rank,
                _metadata=metadata,
                _state=encoder_state,
                _spec=spec,
            )
        )


def coding_matrix(contrasts: Any, n: int) -> pd.DataFrame:
    """R's ``contr.*(n)``: the coding of ``n`` levels as ``C()`` applies it, with R's
    column names (as the model's columns get them) and levels 1..n as rows.

    Examples
    --------
    >>> coding_matrix(contr.helmert, 3)
         1    2
    1 -1.0 -1.0
    2  1.0 -1.0
    3  0.0  2.0
    >>> list(coding_matrix(contr.poly, 5).columns)
    ['.L', '.Q', '.C', '^4']
    """
    coding = _coding(contrasts)
    if coding is None:
        coding = TreatmentContrasts()
    levels = [str(i + 1) for i in range(n)]
    matrix = np.asarray(coding.get_coding_matrix(levels, reduced_rank=True), dtype=float)
    names = [str(c) for c in coding.get_coding_column_names(levels, reduced_rank=True)]
    return pd.DataFrame(matrix, index=levels, columns=names)


def _levels_of(x: Any) -> tuple[pd.Series, list[Any]]:
    index = x.index if isinstance(x, pd.Series) else None
    series = pd.Series(x, index=index)
    if not isinstance(series.dtype, pd.CategoricalDtype):
        # R's factor(): the sorted distinct values.
        series = series.astype("category")
    return series, list(series.cat.categories)


@stateful_transform
def relevel(x: Any, ref: Any, _state: dict[str, Any] | None = None) -> pd.Series:
    """R's ``relevel(f, ref)``: the factor with ``ref`` as its first (reference) level.

    Parameters
    ----------
    x
        A factor: a Categorical, or values (strings, numbers) whose sorted distinct values
        are its levels, as R's ``factor()`` makes them.
    ref
        The reference level, by its label (``"B"``, or ``"10"`` for a number) or, as in R,
        by its position among the levels (1 for the first).

    Returns
    -------
    pandas.Series
        A Categorical with ``ref`` first and the other levels in their order. Its levels
        are kept for new data, which need not hold ``ref``.

    Raises
    ------
    DataError
        When ``ref`` is not a level (the message lists the levels), or ``x`` is an
        ordered factor (R: "'relevel' only for unordered factors").

    Examples
    --------
    >>> relevel(pd.Series(["a", "b", "c"]), ref="b").cat.categories.tolist()
    ['b', 'a', 'c']
    >>> relevel(pd.Series(["a", "b", "c"]), 3).cat.categories.tolist()
    ['c', 'a', 'b']
    """
    state = {} if _state is None else _state
    series, levels = _levels_of(x)
    if "levels" in state:
        # New data: the fitted levels, whichever of them these rows hold.
        return pd.Series(pd.Categorical(series, categories=state["levels"]), index=series.index)
    labels = [level_label(level) for level in levels]
    if _is_ordered(series):
        raise DataError(
            f"relevel() is for unordered factors, as in R, and this one is ordered "
            f"({' < '.join(labels)}); its first level is its reference: reorder it in "
            "pandas (series.cat.reorder_categories) or unorder it (series.cat.as_unordered())."
        )
    if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
        position = int(ref) - 1
        if not 0 <= position < len(levels):
            raise DataError(
                f"relevel(): ref = {ref} is not a level position (the factor has "
                f"{len(levels)} levels: {labels}); give a level's label, e.g. ref = "
                f'"{labels[0] if labels else ""}".'
            )
    else:
        wanted = level_label(ref)
        if wanted not in labels:
            raise DataError(
                f"relevel(): the reference level {ref!r} is not a level of the factor; its "
                f"levels are {labels}. Give one of them as ref (levels are matched as text: "
                'ref = "10" for the number 10).'
            )
        position = labels.index(wanted)
    order = [levels[position]] + [lev for i, lev in enumerate(levels) if i != position]
    state["levels"] = order
    return pd.Series(pd.Categorical(series, categories=order), index=series.index)
