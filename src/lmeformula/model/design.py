"""Design matrices: X and y through formulaic (keeping its ModelSpec for new data) and one
sparse Z block per random-effects term. A simple fixed part (plain columns, unordered
factors and their interactions) is built directly, with formulaic's columns and names
(:mod:`lmeformula.model.direct_fixed`), and its spec only when something reads it.

Coefficient names are R's: formulaic's ``Intercept`` and ``sex[T.M]`` become ``(Intercept)``
and ``sexM``, as lme4 names them; factors are coded as R codes them (``C(f, contr.sum)``,
``relevel(f, ref = "B")``, ordered factors with ``contr.poly``: see
:mod:`lmeformula.model.contrasts`), their columns named as R names them (``C(f,
contr.sum)1``, ``grade.L``).
"""

from __future__ import annotations

import copy
import difflib
import keyword
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import formulaic
import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmeformula.cached import cached_attribute
from lmeformula.errors import DataError, FormulaError, LmeFormulaError
from lmeformula.formula.terms import ParsedFormula, RandomTerm
from lmeformula.model.contrasts import BARE_NAMES, C, RMaterializer, contr, relevel
from lmeformula.model.direct_fixed import direct_fixed
from lmeformula.model.frame import Columns, GroupingFactor, ModelFrame, level_label
from lmeformula.model.model_kernels import column_peaks, scaled_qr
from lmeformula.model.simple_terms import simple_spec
from lmeformula.structures import CovStructure, make_structure
from lmeformula.structures.random import kind_of

__all__ = ["Design", "LazySpec", "ReTerm", "build_design", "formula_context", "r_names"]


def _dummy(x: Any, level: Any) -> np.ndarray:
    """lme4's ``dummy(f, "lvl")``: 1 where ``f`` equals the level, else 0."""
    return (np.asarray(x).astype(str) == str(level)).astype(float)


def _factor(x: Any) -> pd.Series:
    """R's ``factor(x)``: a categorical with sorted levels."""
    # formulaic needs a Series here: a bare Categorical fails its missing-value check.
    index = x.index if isinstance(x, pd.Series) else None
    cat = pd.Categorical(x)
    if pd.api.types.is_numeric_dtype(cat.categories.dtype):
        # R's levels are text: factor(c(8, 10)) has "8" and "10" (R's numbers are doubles,
        # so an R file's whole numbers come as floats), not "8.0"; and new data, whose
        # numbers are floats, find the levels of a fit to integers.
        cat = cat.rename_categories(level_label)
    return pd.Series(cat, index=index)


def formula_context() -> dict[str, Any]:
    """The R functions a formula may call, for formulaic's evaluation context."""
    return {
        "log": np.log,
        "exp": np.exp,
        "sqrt": np.sqrt,
        "abs": np.abs,
        "sin": np.sin,
        "cos": np.cos,
        "tan": np.tan,
        "log10": np.log10,
        "log2": np.log2,
        "pi": np.pi,
        "factor": _factor,
        "dummy": _dummy,
        "np": np,
        # R's factor codings, R's names: C(f, contr.sum), C(f, "contr.sum"), C(f, sum).
        "C": C,
        "contr": contr,
        "relevel": relevel,
        **BARE_NAMES,
    }


# A named argument as formulaic's text has it, f(x, ref='B'); R deparses it ref = "B".
_KEYWORD = re.compile(r"([(,] ?)([A-Za-z_.][\w.]*)=(?!=)")


def r_names(columns: list[str]) -> list[str]:
    """formulaic column names in R's spelling.

    Examples
    --------
    >>> r_names(["Intercept", "sex[T.M]", "age:Sex[T.Male]", "Machine[A]", "I(x ** 2)"])
    ['(Intercept)', 'sexM', 'age:SexMale', 'MachineA', 'I(x^2)']
    >>> r_names(["relevel(f, ref='b')[T.a]", "C(f, contr.sum)[1]", "o[.L]"])
    ['relevel(f, ref = "b")a', 'C(f, contr.sum)1', 'o.L']
    """
    out = []
    for name in columns:
        if name == "Intercept":
            out.append("(Intercept)")
            continue
        name = name.replace("[T.", "").replace("[", "").replace("]", "")
        # Python spellings back to R's deparse: x ** 2 -> x^2, 'B' -> "B", ref='B' -> ref = "B".
        if "=" in name:  # the pattern's "=": a plain name skips the expression's pass
            name = _KEYWORD.sub(r"\1\2 = ", name)
        out.append(name.replace(" ** ", "^").replace("'", '"'))
    return out


class LazySpec:
    """formulaic's ModelSpec of a formula on the model frame, built on first use.

    A fixed part built without formulaic (:mod:`lmeformula.model.direct_fixed`) still
    needs formulaic's spec for new data (``predict``), its terms (``anova``) and its
    variables (``emmeans``); most fits read none of these, and building it costs 2 to 3
    ms, so it waits until an attribute is read and then stands in for it.

    Parameters
    ----------
    rhs
        The right-hand side.
    data
        The data it is evaluated on, or the model frame whose data it is (not modified).
    where
        The part of the model, for messages.

    Examples
    --------
    >>> d = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    >>> spec = LazySpec("x", d, "the fixed-effects part")
    >>> [str(t) for t in spec.terms]
    ['1', 'x']
    """

    __slots__ = ("_data", "_rhs", "_spec", "_where")

    def __init__(self, rhs: str, data: pd.DataFrame | ModelFrame, where: str) -> None:
        self._rhs = rhs
        self._data = data
        self._where = where
        self._spec: Any = None

    def resolve(self) -> Any:
        """The formulaic ModelSpec (built once)."""
        if self._spec is None:
            data = self._data.data if isinstance(self._data, ModelFrame) else self._data
            self._spec = formula_matrix(self._rhs, data, self._where).model_spec
        return self._spec

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the wrapper lacks; copy and pickle probe dunders first.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.resolve(), name)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (LazySpec, (self._rhs, self._data, self._where))

    def __repr__(self) -> str:
        return f"LazySpec({self._rhs!r})"


@dataclass(frozen=True)
class ReTerm:
    """One random-effects term's design.

    Attributes
    ----------
    term
        The parsed term.
    factor
        Its grouping factor.
    columns
        R names of the term's columns (``(Intercept)``, ``standLRT``).
    X
        n x p matrix of the term's columns (the raw model matrix of its left side).
    structure
        Its covariance structure.
    spec
        formulaic's ModelSpec of the left side, for new data.
    """

    term: RandomTerm
    factor: GroupingFactor
    columns: list[str]
    X: np.ndarray
    structure: CovStructure
    spec: Any

    @property
    def name(self) -> str:
        """The grouping factor's name."""
        return self.factor.name

    @property
    def p(self) -> int:
        """Number of random effects per level."""
        return self.X.shape[1]

    @property
    def q(self) -> int:
        """Number of columns in Z: levels x p."""
        return self.p * self.factor.nlevels

    def z_block(self) -> sp.csc_matrix:
        """The n x q block of Z, level-major (all p columns of level 1, then level 2, ...),
        in canonical CSC form (rows ascending in each column).

        Built from the rows sorted by level, without the COO detour (sorting and summing
        n p triplets cost sleepstudy's terms 0.25 ms each, most of a small fit's set-up).
        """
        n, p = self.X.shape
        nlev = self.factor.nlevels
        codes = self.factor.codes
        order = np.argsort(codes, kind="stable")
        counts = np.bincount(codes, minlength=nlev)
        if p == 1:
            indptr = np.concatenate([[0], np.cumsum(counts)])
            return sp.csc_matrix((self.X[order, 0], order, indptr), shape=(n, self.q))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        lengths = np.repeat(counts, p)  # column l p + j holds level l's rows
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        within = np.arange(indptr[-1]) - np.repeat(indptr[:-1], lengths)
        rows = order[np.repeat(np.repeat(starts, p), lengths) + within]
        cols = np.repeat(np.tile(np.arange(p), nlev), lengths)
        return sp.csc_matrix((self.X[rows, cols], rows, indptr), shape=(n, self.q))


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    # Each term's structure makes its arrays anew: one term's are θ's own (a concatenation
    # costs a small fit's three of them 5 us).
    return (
        np.asarray(parts[0], dtype=float)
        if len(parts) == 1
        else np.concatenate([np.zeros(0), *parts])
    )


@dataclass(frozen=True)
class Design:
    """Everything numeric a fit needs.

    Attributes
    ----------
    y
        The response (offsets not subtracted).
    X
        Fixed-effects design, rank-deficient columns already dropped.
    fixed_names
        R names of X's columns.
    offset
        Sum of the ``offset()`` terms (zeros when none).
    terms
        Random-effects terms, sorted as lme4 sorts them (most levels first).
    fixed_spec
        formulaic ModelSpec of the fixed part (a :class:`LazySpec` standing in for it when
        X was built without formulaic).
    dropped_fixed
        Names of columns dropped for rank deficiency.
    weights
        lme4's prior weights (None: all 1).
    """

    y: np.ndarray
    X: np.ndarray
    fixed_names: list[str]
    offset: np.ndarray
    terms: list[ReTerm]
    fixed_spec: Any
    dropped_fixed: list[str]
    weights: np.ndarray | None = None

    @cached_attribute
    def theta_slices(self) -> list[slice]:
        """Where each term's parameters sit in θ (terms in lme4's order)."""
        # A running sum: NumPy's cumsum and its conversions cost more than the few terms.
        out, start = [], 0
        for t in self.terms:
            size = t.structure.n_theta
            out.append(slice(start, start + size))
            start += size
        return out

    @cached_attribute
    def lower(self) -> np.ndarray:
        """Lower bounds of θ (lme4's: 0 for the diagonal of each Λ block)."""
        return _joined([t.structure.lower for t in self.terms])

    @cached_attribute
    def upper(self) -> np.ndarray:
        """Upper bounds of θ (+inf but for correlation parameters of structured terms)."""
        return _joined([t.structure.upper for t in self.terms])

    @cached_attribute
    def start(self) -> np.ndarray:
        """lme4's starting θ (each Λ block the identity)."""
        return _joined([t.structure.start() for t in self.terms])

    def lambda_blocks(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each term's p x p relative covariance factor Λ_k at θ."""
        return [
            t.structure.lambda_block(np.asarray(theta, dtype=float)[sl])
            for t, sl in zip(self.terms, self.theta_slices, strict=True)
        ]

    def lambda_matrix(self, theta: np.ndarray) -> sp.csc_matrix:
        """Λ(θ) as a q x q sparse matrix: each term's block repeated once per level."""
        blocks = [
            sp.kron(sp.identity(t.factor.nlevels), sp.csc_matrix(lam))
            for t, lam in zip(self.terms, self.lambda_blocks(theta), strict=True)
        ]
        return sp.csc_matrix(sp.block_diag(blocks, format="csc"))

    def with_response(self, y: np.ndarray) -> Design:
        """The same design for another response (a simulated one, say); X, Z and the
        cached pieces are shared, not rebuilt.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
        >>> d = fit.state.design.with_response(fit.state.design.y + 1.0)
        >>> d.X is fit.state.design.X, float(d.y[0] - fit.state.design.y[0])
        (True, 1.0)
        """
        y = np.asarray(y, dtype=float)
        if y.shape != self.y.shape:
            raise DataError(
                f"the new response has {y.size} values, but the model has {self.y.size} rows; "
                "give one value per row the model was fitted on (fit.nobs)."
            )
        if not np.all(np.isfinite(y)):
            raise DataError("the new response has non-finite values; give finite numbers.")
        # A shallow copy keeps the cached properties (none reads y) and costs a tenth of
        # dataclasses.replace, which a bootstrap pays at every replicate.
        new = copy.copy(self)
        object.__setattr__(new, "y", y)
        return new

    @cached_property
    def Z(self) -> sp.csc_matrix:
        """The n x q sparse random-effects design (term blocks side by side), built once."""
        if not self.terms:
            return sp.csc_matrix((len(self.y), 0))
        return sp.hstack([t.z_block() for t in self.terms], format="csc")


#: Functions a formula may call (ours and formulaic's), for messages.
_FUNCTIONS = (
    "log",
    "log10",
    "log2",
    "exp",
    "sqrt",
    "abs",
    "sin",
    "cos",
    "tan",
    "I",
    "poly",
    "scale",
    "center",
    "factor",
    "C",
    "relevel",
    "dummy",
    "offset",
    "bs",
)
# R functions an analyst may reach for that have no place here, and what to write.
_R_FUNCTIONS = {
    "as.numeric": "numbers are used as they are; convert the column in pandas first",
    "as.factor": "write factor(x)",
    "ordered": "make the column an ordered pandas Categorical first "
    "(x.astype(pd.CategoricalDtype(levels, ordered=True))); it gets contr.poly, as in R",
    "as.ordered": "make the column an ordered pandas Categorical first (x.cat.as_ordered())",
    "ifelse": "compute the column in pandas first, e.g. np.where(...)",
    "interaction": "write a:b",
    "ns": "natural splines are not available; use poly(x, k) or bs(x, k)",
}


def _logical_in(rhs: str, data: pd.DataFrame) -> str | None:
    """A logical column (a FALSE/TRUE factor in the model frame) that ``rhs`` names."""
    for name in data.columns:
        col = data[name]
        if (
            isinstance(col.dtype, pd.CategoricalDtype)
            and list(col.cat.categories) in (["FALSE", "TRUE"], ["FALSE"], ["TRUE"])
            and re.search(rf"(?<![\w.]){re.escape(str(name))}(?![\w.])", rhs)
        ):
            return str(name)
    return None


def _unknown_function(rhs: str) -> FormulaError | None:
    """The error for a call of a function the formula context lacks, if there is one."""
    known = set(formula_context()) | set(formulaic.transforms.TRANSFORMS)
    for name in re.findall(r"(?<![\w.`])([A-Za-z.][\w.]*)\s*\(", rhs):
        if name in known or name.startswith(("contr.", "np.")):
            continue
        hint = _R_FUNCTIONS.get(name)
        if hint is None:
            close = difflib.get_close_matches(name, _FUNCTIONS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}()?" if close else "check its spelling"
        return FormulaError(
            f"unknown function {name}() in the formula ({hint}); functions available: "
            f"{', '.join(_FUNCTIONS)}."
        )
    return None


def formula_matrix(rhs: str, data: pd.DataFrame, where: str) -> Any:
    try:
        # log(0) and the like are reported below by column, not as numpy warnings.
        with np.errstate(all="ignore"):
            mm = formulaic.model_matrix(
                rhs,
                data,
                context=formula_context(),
                na_action="ignore",
                ensure_full_rank=True,
                # R's codings of ordered factors (contr.poly); other inputs keep formulaic's.
                materializer=RMaterializer if isinstance(data, pd.DataFrame) else None,
            )
    except (FormulaError, DataError):
        raise
    except Exception as exc:  # formulaic raises many types; give ours with the culprit.
        if isinstance(exc.__cause__, LmeFormulaError):
            # Ours from inside the formula (relevel's unknown level): formulaic wraps it.
            raise exc.__cause__ from None
        unknown = _unknown_function(rhs)
        if unknown is not None:
            raise unknown from None
        logical = _logical_in(rhs, data)
        if logical and "category" in str(exc):
            raise FormulaError(
                f"cannot evaluate {where} '{rhs}': the logical column {logical!r} is a factor "
                "with levels FALSE and TRUE (as R's model formulas make it), which has no "
                f"arithmetic; compare it instead, e.g. I(x * ({logical} == 'TRUE'))."
            ) from None
        words = [w for w in re.findall(r"`([^`]+)`", rhs) if keyword.iskeyword(w)]
        if words and isinstance(exc.__cause__ or exc, SyntaxError):
            raise FormulaError(
                f"the column {words[0]!r} is a Python keyword, which formulaic cannot read "
                "inside a function call such as I() or log() (as a plain term it works); "
                f"rename the column, e.g. data.rename(columns={{{words[0]!r}: "
                f"{words[0] + '_'!r}}})."
            ) from None
        raise FormulaError(
            f"cannot evaluate {where} '{rhs}': {exc}. Check the spelling of functions and "
            f"columns; functions available: {', '.join(_FUNCTIONS)}."
        ) from exc
    _check_terms(mm, data, where)
    _check_finite(mm, data, where)
    return mm


def _check_terms(mm: Any, data: pd.DataFrame, where: str) -> None:
    """A term that makes no column (a factor with one level) is an error, as in R."""
    for part in getattr(mm.model_spec, "structure", None) or []:
        if part.columns or not part.term.factors or str(part.term) == "1":
            continue
        names = sorted({str(f).strip("`") for f in part.term.factors})
        single = [(n, data[n].dropna().unique()) for n in names if n in data.columns]
        single = [(n, u) for n, u in single if len(u) < 2]
        if single:
            name, values = single[0]
            level = f" ({str(values[0])!r})" if len(values) else ""
            raise DataError(
                f"the factor {name!r} in {where} has a single level{level} in the rows used, "
                f"so the term '{part.term}' has no contrast to estimate (R: contrasts can be "
                "applied only to factors with 2 or more levels); drop it from the formula, or "
                "check which rows were dropped for missing values."
            )
        raise DataError(
            f"the term '{part.term}' in {where} makes no column in these data; drop it from "
            "the formula."
        )


def _check_finite(mm: Any, data: pd.DataFrame, where: str) -> None:
    """Evaluated columns must be finite: log(0), log(-1), 1/0 make no design."""
    values = np.asarray(mm, dtype=float)
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    col = int(np.flatnonzero(bad.any(axis=0))[0])
    rows = np.flatnonzero(bad[:, col])
    name = r_names([str(mm.columns[col])])[0]
    raise DataError(
        f"the column '{name}' of {where} is missing or infinite in {rows.size} row(s) after "
        f"evaluation (first at row {data.index[rows[0]]!r}), e.g. log or sqrt of a value <= 0 "
        "or a division by 0; transform the variable differently or drop those rows first."
    )


def _response(parsed: ParsedFormula, frame: ModelFrame) -> np.ndarray:
    if parsed.response is None:
        raise FormulaError(
            f"the formula '{parsed.formula}' has no response; write it as 'y ~ terms'."
        )
    name = parsed.response.strip("`")
    values = frame.columns.numbers(name)
    if values is not None:
        y = values.astype(float, copy=False)
        if not frame.columns.finite(name) and not np.all(np.isfinite(y)):
            raise DataError(f"the response {name!r} has non-finite values; drop those rows.")
        return y
    col = frame.columns.get(name)
    if col is not None:
        dtype = col.dtype
        numeric = (
            dtype.kind in "fiu"
            if isinstance(dtype, np.dtype)
            else pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        )
        if not numeric:
            raise DataError(
                f"the response {name!r} is not numeric (dtype {dtype}); a linear mixed "
                "model needs a numeric response. Convert it with pandas.to_numeric if it "
                "holds numbers."
            )
        # A plain column needs no formula machinery (formulaic costs milliseconds a call).
        y = col.to_numpy(dtype=float)
        if not np.all(np.isfinite(y)):
            raise DataError(f"the response {name!r} has non-finite values; drop those rows.")
        return y
    # I() makes formulaic evaluate the text as Python arithmetic, as R evaluates the response.
    mm = formula_matrix(f"0 + I({parsed.response})", frame.data, "the response")
    if mm.shape[1] != 1:
        raise DataError(
            f"the response '{parsed.response}' gives {mm.shape[1]} columns; it must be one "
            "numeric column."
        )
    y = np.asarray(mm, dtype=float).ravel()
    if not np.all(np.isfinite(y)):
        raise DataError(
            f"the response '{parsed.response}' has non-finite values after evaluation "
            "(e.g. log of 0 or of a negative number); transform or drop those rows."
        )
    return y


#: Beyond these magnitudes, squares and cross-products of n values leave double precision.
_HUGE, _TINY = 1e140, 1e-140


def _check_magnitude(values: np.ndarray, names: list[str], where: str) -> None:
    """Values whose squares overflow or underflow make every cross-product meaningless."""
    if values.size == 0:
        return
    as_matrix = values.reshape(len(values), -1) if values.ndim == 1 else values
    peaks = column_peaks(
        as_matrix if as_matrix.dtype == np.float64 else as_matrix.astype(float)
    ).tolist()
    for name, top in zip(names, peaks, strict=True):
        if top > _HUGE or 0 < top < _TINY:
            raise DataError(
                f"{where} '{name}' reaches {top:.3g} in absolute value; squares of such "
                "numbers leave double precision, so no fit is possible. Rescale it (divide "
                f"by {top:.0e}, or change its units)."
            )


def estimable_columns(
    X: np.ndarray, names: list[str], y: np.ndarray, response: str
) -> tuple[np.ndarray, list[str], list[str]]:
    """X without its rank-deficient columns, after checking that the response varies and
    is not reproduced exactly by X (with no residual variation the likelihood is
    unbounded and no variance is estimable).

    lme4 keeps the leading columns of R's QR with limited pivoting (dqrdc2, tol 1e-7): a
    column is dropped when its residual on the columns kept before it is below 1e-7 of its
    own norm. That criterion is per column, so a covariate in units of 1e9 is not mistaken
    for a collinear one; columns (and y) are scaled to a maximum of 1 so that values of
    1e-100 or 1e100 neither underflow nor overflow.
    """
    n, p = X.shape
    if p == 0:
        if n and np.ptp(y) == 0:
            raise _constant(response, y)
        return X, names, []
    # [X y] = Q R, each column scaled to a maximum of 1, in one compiled pass (numpy's
    # passes and temporaries cost Exam's 4,059 rows 87 us of a 0.9 ms fit): residuals of a
    # column on others are those of R's columns, whose norms are the scaled columns' (Q is
    # orthonormal), so the n-row matrix is factored once (y with it) and the checks run on
    # short vectors, against an orthonormal basis of the kept columns grown one at a time
    # (Gram-Schmidt, twice).
    qr, norms, tss, constant = scaled_qr(
        X if X.dtype == np.float64 else X.astype(float), np.asarray(y, dtype=float)
    )
    if constant:
        raise _constant(response, y)
    m = min(n, p + 1)
    # Python floats: a few columns, where NumPy's calls cost more than the comparisons.
    diag = [abs(v) for v in np.diagonal(qr).tolist()]
    peaks = norms.tolist()
    if m > p and all(diag[j] > 1e-7 * peaks[j] for j in range(p)):
        # Full rank: each column's residual on the ones before it is |R_jj| (QR without
        # pivoting), above the threshold for all, and y's residual on them all is R_pp.
        # The loop below would keep every column and find the same residuals.
        if p < len(y) and diag[p] ** 2 <= 1e-20 * tss:
            raise _exact_fit(response)
        # Row-major, as the loop's X[:, keep] gives it (products with X add up in order).
        return np.ascontiguousarray(X), list(names), []
    R = np.triu(qr[:m])
    basis = np.zeros((m, m))
    keep: list[int] = []

    def residual(v: np.ndarray) -> np.ndarray:
        k = len(keep)
        for _ in range(2):
            v = v - basis[:, :k] @ (basis[:, :k].T @ v)
        return v

    for j in range(X.shape[1]):
        if norms[j] == 0 or len(keep) == m:
            # A zero column, or the kept columns already span every direction.
            continue
        v = residual(R[:, j])
        size = float(np.linalg.norm(v))
        if size > 1e-7 * norms[j]:
            basis[:, len(keep)] = v / size
            keep.append(j)
    rss = float(np.sum(residual(R[:, -1]) ** 2))
    # (As many columns as rows is reported by the caller, as such.)
    if len(keep) < len(y) and rss <= 1e-20 * tss:
        raise _exact_fit(response)
    dropped = [names[j] for j in range(X.shape[1]) if j not in keep]
    return X[:, keep], [names[j] for j in keep], dropped


def _constant(response: str, y: np.ndarray) -> DataError:
    return DataError(
        f"the response '{response}' is constant ({y[0]:g} in every row); there is no "
        "variation to model."
    )


def _exact_fit(response: str) -> DataError:
    return DataError(
        f"the fixed effects reproduce the response '{response}' exactly (residual sum of "
        "squares 0), so no variance can be estimated; check that the response is not "
        "also a predictor."
    )


def _time_lhs(term: Any, data: Columns) -> tuple[str, np.ndarray | None]:
    """The design text and column times of an AR(1)/Toeplitz term.

    A factor on the left (``0 + factor(Days)``) gives its levels positions 0, 1, ...; an
    integer time column (``0 + Days``) becomes a column per observed time, and its values
    are the positions, so lags count in its units.
    """
    text = term.lhs.strip()
    for prefix in ("0 +", "0+", "1 +", "1+"):
        if text.startswith(prefix):
            text = text[len(prefix) :].strip()
    if text.endswith("- 1"):
        text = text[:-3].strip()
    col = text.strip("`")
    if col in data.columns and pd.api.types.is_numeric_dtype(data[col]):
        values = data[col].to_numpy(dtype=float)
        if not np.all(values == np.round(values)):
            raise FormulaError(
                f"the random term ({term.text}) has {term.structure.kind} covariance over "
                f"{col!r}, whose values are not whole numbers; AR(1) and Toeplitz need a "
                "factor or an integer time (for continuous times use residual=lmf.CAR1)."
            )
        return f"0 + factor({text})", np.unique(values).astype(int)
    return term.lhs, None


def build_design(
    parsed: ParsedFormula,
    frame: ModelFrame,
    response: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> Design:
    """Build y, X, offsets and the random-effects terms on the model frame.

    Parameters
    ----------
    parsed
        The parsed formula.
    frame
        The model frame.
    response, weights
        The response and weights as a generalized model's family reads them
        (:func:`lmeformula.model.glmresponse.glm_response`); by default the formula's
        numeric response and the frame's prior weights.

    Returns
    -------
    Design
    """
    # The columns by name for the direct builds; formulaic's paths take the DataFrame.
    data = frame.columns
    y = _response(parsed, frame) if response is None else np.asarray(response, dtype=float)
    fixed_spec: Any
    direct = direct_fixed(parsed.fixed, data)
    if direct is not None:
        X, columns = direct
        names = r_names(columns)
        # formulaic's spec only for those who read it (anova, emmeans, new data).
        fixed_spec = LazySpec(parsed.fixed, frame, "the fixed-effects part")
    else:
        fixed = formula_matrix(parsed.fixed, frame.data, "the fixed-effects part")
        names = r_names(list(fixed.columns))
        X = np.asarray(fixed, dtype=float)
        fixed_spec = fixed.model_spec
    offset = np.zeros(len(y))
    for expr in parsed.offsets:
        mm = formula_matrix(f"0 + I({expr})", frame.data, f"offset({expr})")
        if mm.shape[1] != 1:
            raise DataError(
                f"offset({expr}) gives {mm.shape[1]} columns; an offset must be one numeric "
                "value per row (is the column text or a factor?)."
            )
        offset = offset + np.asarray(mm, dtype=float).ravel()
    _check_magnitude(y, [parsed.response or ""], "the response")
    _check_magnitude(X, names, "the fixed-effects column")
    if parsed.offsets:
        _check_magnitude(offset, ["offset"], "the")
    resp = y - offset if parsed.offsets else y
    X, kept, dropped = estimable_columns(X, names, resp, parsed.response or "")
    if X.shape[1] >= len(y):
        widest = max(
            (str(p.term) for p in getattr(fixed_spec, "structure", None) or []),
            key=lambda t: sum(1 for n in kept if n.startswith(r_names([t])[0])),
            default="",
        )
        raise DataError(
            f"the fixed effects have {X.shape[1]} estimable columns for {len(y)} observations, "
            "so nothing is left to estimate the variances from"
            + (f" ('{widest}' has the most columns)" if widest else "")
            + "; use fewer fixed effects (is a numeric column used as a factor?)."
        )
    terms = []
    for term in parsed.random:
        lhs_text, positions = term.lhs, None
        # AR(1) and Toeplitz correlate columns by lag: their columns are times.
        time_indexed = kind_of(term.structure.kind).time_indexed
        if time_indexed:
            lhs_text, positions = _time_lhs(term, data)
        simple = simple_spec(lhs_text, data)
        lhs_spec: Any
        if simple is not None:
            # No DataFrame in between: the matrix and the names straight from the spec.
            Xk, columns, lhs_spec = simple.matrix(data), r_names(simple.names), simple
        else:
            lhs = formula_matrix(lhs_text, frame.data, f"the random term ({term.text})")
            Xk, columns, lhs_spec = (
                np.asarray(lhs, dtype=float),
                r_names(list(lhs.columns)),
                lhs.model_spec,
            )
        _check_magnitude(Xk, columns, f"the random term ({term.text}): column")
        if Xk.shape[1] == 0:
            raise FormulaError(
                f"the random term ({term.text}) has no columns; did you mean (1 | "
                f"{term.group_name})?"
            )
        if time_indexed and "(Intercept)" in columns:
            raise FormulaError(
                f"the random term ({term.text}) has {term.structure.kind} covariance, which "
                "needs one column per time and no intercept; write it as "
                f"{term.structure.special or 'ar1'}(0 + factor(time) | {term.group_name})."
            )
        try:
            structure = make_structure(term.structure.kind, Xk.shape[1], positions)
        except FormulaError as err:
            raise FormulaError(f"in the random term ({term.text}): {err}") from None
        terms.append(
            ReTerm(
                term=term,
                factor=frame.groups[term.group_name],
                columns=columns,
                X=Xk,
                structure=structure,
                spec=lhs_spec,
            )
        )
    n = len(y)
    for t in terms:
        # lme4's check.nobs.vs.nRE: with as many random effects as rows, their variances
        # cannot be told apart from the residual variance. Structured terms (ar1, toep)
        # can be identified by their correlation pattern, and glmmTMB fits them.
        # A generalized model has no residual variance to confuse them with (glmerControl's
        # check.nobs.vs.nRE = "ignore").
        if t.q >= n and t.structure.free_elements() is not None and response is None:
            raise DataError(
                f"number of observations (={n}) <= number of random effects (={t.q}) for "
                f"the term ({t.term.text}): {t.p} effect(s) for each of "
                f"{t.factor.nlevels} levels of {t.name!r}; the random-effects parameters "
                "and the residual variance are not identifiable. Simplify the term (e.g. "
                f"(1 | {t.name})) or use more data."
            )
    # lme4 orders terms by decreasing number of levels (stable), which fixes the order of
    # VarCorr, ranef and the "groups:" line.
    terms.sort(key=lambda t: -t.factor.nlevels)
    return Design(
        y,
        X,
        kept,
        offset,
        terms,
        fixed_spec,
        dropped,
        frame.weights if weights is None else weights,
    )
