"""Estimated marginal means and their pairwise contrasts, as R's emmeans computes them.

emmeans builds a *reference grid*: every factor of the fixed effects at each of its levels,
every numeric covariate at its mean (or at the values given in ``at``), and predicts the
fixed part at each grid point through the model's own formula, so a transformed covariate
(``log(age)``, ``I(age - 11)``, ``poly(age, 2)``) is evaluated at the mean of the original
variable. A marginal mean of the ``specs`` factors averages the grid's rows over the other
factors with equal weights (emmeans' default ``weights = "equal"``). Each mean is a linear
combination ``l'β``; its standard error and degrees of freedom are those of the contrast
``l`` (:func:`lmeformula.inference.t_tests`), so Satterthwaite and Kenward-Roger come
from the same machinery as ``fit.contrast(L)``.

Details that follow emmeans 1.8:

- ``cov.keep = "2"``: a numeric variable with at most two distinct values is kept at both
  of them (like a factor) rather than at its mean; a numeric variable wrapped in
  ``factor()``, ``as.factor()``, ``ordered()`` or ``C()`` in the formula is a factor with
  its sorted distinct values as levels.
- Means and contrasts that are not estimable in a rank-deficient model are NaN (R's
  ``nonEst``), by estimability's test (``tol = 1e-8``) against the null space of the full
  design.
- Contrast labels join the levels with a space, prefix numeric-looking levels with the
  variable's name (``"age8 - age14"``) and parenthesize labels containing ``- + / *``.
- P-value adjustments per ``by`` group: Tukey through the studentized range (``ptukey``,
  family = the number of means), Šidák and ``p.adjust``'s Bonferroni and Holm (family =
  the number of contrasts); a family of one contrast is not adjusted.

For a glmer fit the means and contrasts are asymptotic (z tests, ``df`` infinite), on the
link scale or back-transformed (``type="response"``): contrasts of log means as ratios,
of logit means as odds ratios (tests on the link scale, limits back-transformed), of other
links as differences of the response-scale means (emmeans' ``regrid``). glmer contrasts
also take ``method="trt.vs.ctrl"`` (each level against the first) and emmeans' default
for it, the ``"dunnettx"`` approximation to Dunnett's adjustment. Confidence limits are
adjusted as emmeans' ``confint``: Tukey, Šidák, Bonferroni (also for ``"holm"``, which is
for P values only) or dunnettx critical values.

Offsets: as emmeans 1.8 with lme4, the grid carries the mean of the fit's offset vector
(``ref_grid(m)@grid$.offset.``; ``offset()`` terms and ``offset=`` alike, whatever ``at``
says of the offset's variables), added to every mean on the link scale; ``offset=``
replaces it (``offset=0``: rates per unit of exposure). Differences on the link scale
do not depend on it; regridded differences do.

Not available: weights other than ``"equal"``, emmeans' automatic detection of nested
fixed factors, back-transformation of an lmer fit's
response transformation, contrast methods other than pairwise (and trt.vs.ctrl for glmer
fits), and the Scheffé and ``mvt`` (exact Dunnett) adjustments.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.linalg as la
from scipy import stats

from lmeformula.errors import ArgumentTypeError, DataError, FormulaError, NotExpressibleError
from lmeformula.model.design import formula_context, r_names
from lmeformula.validate import check_ddf, check_level

if TYPE_CHECKING:
    from lmeformula.results.lmer import LmerResult

__all__ = [
    "ADJUST_METHODS",
    "CONTRAST_METHODS",
    "GLMM_ADJUST_METHODS",
    "GLMM_CONTRAST_METHODS",
    "critical_values",
    "emmeans",
    "emmeans_contrasts",
    "p_adjust",
]

#: P-value adjustments of :func:`emmeans_contrasts`.
ADJUST_METHODS = ("tukey", "sidak", "bonferroni", "holm", "none")
#: Contrast families of :func:`emmeans_contrasts` (emmeans' ``.emmc`` names).
CONTRAST_METHODS = ("pairwise", "revpairwise")
#: A glmer fit's contrast families and adjustments: also treatment against control, and
#: emmeans' approximate Dunnett adjustment (its default for ``trt.vs.ctrl``).
GLMM_CONTRAST_METHODS = (*CONTRAST_METHODS, "trt.vs.ctrl")
GLMM_ADJUST_METHODS = (*ADJUST_METHODS, "dunnettx")
# Each .emmc's default adjustment.
DEFAULT_ADJUST = {"pairwise": "tukey", "revpairwise": "tukey", "trt.vs.ctrl": "dunnettx"}
# emmeans' contrasts of type = "response": log and logit links give ratios (estimate
# columns "ratio" and "odds.ratio"); other links are regridded to the response scale.
RATIO_NAMES = {"log": "ratio", "logit": "odds_ratio"}

# estimability::is.estble's tolerance.
ESTIMABILITY_TOL = 1e-8
# emmeans' default option cov.keep = "2".
COV_KEEP = 2
# emm_options("parens"): contrast labels matching this get parentheses.
PARENS = re.compile(r"-|\+|/|\*")
OVERALL = "1"


# -- specifications ---------------------------------------------------------------------


def _names(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ArgumentTypeError(
        f"{what} must be a variable name or a list of names, got {type(value).__name__}."
    )


def _check_spec_syntax(specs: str, piece: str) -> None:
    from lmeformula.formula import parse

    if not piece.strip():
        return
    try:
        parse(f"y ~ {piece}")
    except FormulaError as err:
        raise FormulaError(f"specs={specs!r} is not an emmeans formula: {err.reason}") from None


def _split_terms(text: str) -> list[str]:
    return [t.strip().strip("`") for t in re.split(r"[*+:]", text) if t.strip()]


def parse_specs(specs: Any, by: Any = None) -> tuple[list[str], list[str]]:
    """The ``specs`` and ``by`` variables from names or an emmeans formula.

    ``"Sex"``, ``["Sex", "age"]``, ``"~ Sex * age"`` and ``"~ Sex | age"`` (emmeans'
    ``specs = ~ Sex | age``) are all accepted; ``"1"`` (or ``"~ 1"``) asks for the overall
    mean.

    Examples
    --------
    >>> parse_specs("~ Sex | age")
    (['Sex'], ['age'])
    >>> parse_specs(["Sex", "age"], by="Subject")
    (['Sex', 'age'], ['Subject'])
    """
    by_names = _names(by, "by")
    if isinstance(specs, str) and ("~" in specs or "|" in specs):
        text = specs.strip()
        if not text.startswith("~"):
            raise ArgumentTypeError(
                f"specs={specs!r}: a left-hand side such as emmeans' 'pairwise ~ Sex' is not "
                "taken here; use fit.emmeans_contrasts('Sex') for pairwise comparisons."
            )
        rhs, _, bar = text[1:].partition("|")
        if bar and by_names:
            raise ArgumentTypeError(
                f"specs={specs!r} has a '|' and by={by!r} is given as well; say the by "
                "variables once."
            )
        for piece in (rhs, bar):
            _check_spec_syntax(specs, piece)
        spec_names = _split_terms(rhs)
        by_names = by_names or _split_terms(bar)
    else:
        spec_names = _names(specs, "specs")
    if not spec_names:
        raise ArgumentTypeError("specs names no variable; give e.g. 'Sex' (or '1' for the mean).")
    if OVERALL in spec_names and len(spec_names) > 1:
        raise ArgumentTypeError(f"specs={specs!r}: '1' (the overall mean) stands alone.")
    dup = sorted(set(spec_names) & set(by_names)) or sorted(
        {v for v in spec_names + by_names if (spec_names + by_names).count(v) > 1}
    )
    if dup:
        raise ArgumentTypeError(f"{dup} named twice in specs and by; name each variable once.")
    return spec_names, by_names


# -- the reference grid -----------------------------------------------------------------


def _is_factor(col: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)


def _coerced(name: str, fixed: str) -> bool:
    # emmeans' .find.coerced: a numeric variable made a factor in the formula.
    pattern = rf"\b(?:factor|as\.factor|ordered|as\.ordered|C)\(\s*`?{re.escape(name)}`?\s*[,)]"
    return re.search(pattern, fixed) is not None


def _levels(col: pd.Series) -> list[Any]:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return list(col.cat.remove_unused_categories().cat.categories)
    return sorted(pd.unique(col).tolist())


def _grid_variables(result: LmerResult, at: Any) -> dict[str, tuple[list[Any], bool]]:
    """Each fixed-effects variable's grid values and whether it is a factor, in the order
    the formula names them."""
    spec = result.state.design.fixed_spec
    used = set(spec.variables_by_source.get("data", set()))
    data = result.state.frame.data
    order = [v for v in result.state.parsed.variables if v in used]
    order += sorted(used - set(order))
    if at is None:
        at = {}
    if not isinstance(at, dict):
        raise ArgumentTypeError(
            f"at must be a dict such as {{'age': [8, 14]}}, got {type(at).__name__}."
        )
    unknown = [k for k in at if k not in order]
    if unknown:
        raise DataError(
            f"at names {unknown}, not variables of the fixed effects; the reference grid is "
            f"over {order}."
        )
    out: dict[str, tuple[list[Any], bool]] = {}
    for name in order:
        col = data[name]
        is_factor = _is_factor(col) or _coerced(name, result.state.parsed.fixed)
        values = _levels(col)
        if not is_factor and len(values) <= COV_KEEP:
            is_factor = True
        if name in at:
            values = _at_values(name, at[name], values if is_factor else None)
        elif not is_factor:
            values = [float(col.mean())]
        out[name] = (values, is_factor)
    return out


def _at_values(name: str, given: Any, levels: list[Any] | None) -> list[Any]:
    values = (
        [given]
        if isinstance(given, (str, int, float, np.number, bool))
        else list(np.asarray(given).ravel())
        if not isinstance(given, (list, tuple))
        else list(given)
    )
    if not values:
        raise DataError(f"at[{name!r}] is empty; give at least one value.")
    if levels is None:
        try:
            [float(v) for v in values]
        except (TypeError, ValueError):
            raise DataError(
                f"at[{name!r}] = {given!r}: {name!r} is numeric in the model; give numbers."
            ) from None
        if any(isinstance(v, (str, bool, np.bool_)) for v in values):
            raise DataError(
                f"at[{name!r}] = {given!r}: {name!r} is numeric in the model; give numbers."
            )
        if not all(np.isfinite(float(v)) for v in values):
            raise DataError(
                f"at[{name!r}] = {given!r} has missing or infinite values; give finite numbers."
            )
        return [v.item() if isinstance(v, np.generic) else v for v in values]
    labels = {str(lv): lv for lv in levels}
    bad = [v for v in values if str(v) not in labels]
    if bad:
        raise DataError(f"at[{name!r}] has {bad}, not levels of {name!r} ({levels}).")
    return [labels[str(v)] for v in values]


def _check_names(
    result: LmerResult, names: list[str], grid: dict[str, Any], at: dict[str, Any] | None
) -> None:
    for name in names:
        if name == OVERALL:
            continue
        if name not in grid:
            where = (
                "a grouping factor of the random effects"
                if any(name in t.group for t in result.state.parsed.random)
                else "a column the model uses outside its fixed effects"
                if name in result.state.parsed.variables
                else "not a variable of the model"
            )
            raise DataError(
                f"{name!r} is {where}; marginal means are over the fixed effects' variables "
                f"{list(grid)}."
            )
        values, is_factor = grid[name]
        if not is_factor and not (at and name in at):
            raise DataError(
                f"{name!r} is a numeric covariate, held at its mean ({values[0]:.6g}) in the "
                f"reference grid; to compare values of it pass at={{{name!r}: [v1, v2, ...]}}."
            )


def _product(names: list[str], grid: dict[str, tuple[list[Any], bool]]) -> list[tuple]:
    # expand.grid's order: the first variable varies fastest.
    rows = itertools.product(*[grid[n][0] for n in reversed(names)])
    return [tuple(reversed(r)) for r in rows]


def _model_rows(result: LmerResult, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    spec = result.state.design.fixed_spec
    mm = spec.get_model_matrix(frame, context=formula_context())
    return np.asarray(mm, dtype=float), r_names(list(mm.columns))


def _grid_frame(result: LmerResult, names: list[str], rows: Sequence[tuple]) -> pd.DataFrame:
    data = result.state.frame.data
    cols = {}
    for i, name in enumerate(names):
        values = [r[i] for r in rows]
        dtype = data[name].dtype
        cols[name] = (
            pd.Categorical(values, categories=dtype.categories)
            if isinstance(dtype, pd.CategoricalDtype)
            else values
        )
    return pd.DataFrame(cols)


def linear_functions(
    result: LmerResult, out_names: list[str], at: dict[str, Any] | None
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """The rows of the marginal means (``out_names`` combinations, the first varying
    fastest) and their linear functions of the full fixed-effects design (dropped columns
    included), averaged with equal weights over the rest of the grid.

    Returns
    -------
    table, L, columns
        The levels of each row, the rows' coefficients (emmeans' ``linfct``) and the
        names of L's columns.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("distance ~ age * Sex + (age | Subject)", lmf.datasets.load("orthodont"))
    >>> table, L, cols = linear_functions(fit, ["Sex"], None)
    >>> pd.DataFrame(L, index=table["Sex"], columns=cols)
            (Intercept)   age  SexMale  age:SexMale
    Sex
    Female          1.0  11.0      0.0          0.0
    Male            1.0  11.0      1.0         11.0
    """
    grid = _grid_variables(result, at)
    _check_names(result, out_names, grid, at)
    overall = OVERALL in out_names
    out_names = [n for n in out_names if n != OVERALL]
    others = [n for n in grid if n not in out_names]
    out_rows = _product(out_names, grid)
    other_rows = _product(others, grid)
    full = [o + r for o in out_rows for r in other_rows]
    names = out_names + others
    if names:
        X, cols = _model_rows(result, _grid_frame(result, names, full))
    else:
        X, cols = np.ones((1, 1)), ["(Intercept)"]
    L = X.reshape(len(out_rows), len(other_rows), X.shape[1]).mean(axis=1)
    table = pd.DataFrame(out_rows, columns=out_names)
    if overall:
        table.insert(0, OVERALL, "overall")
    return table, L, cols


def _estimable(result: LmerResult, L: np.ndarray) -> np.ndarray:
    """estimability::is.estble against the null space of the full design."""
    if not result.state.design.dropped_fixed:
        return np.ones(L.shape[0], dtype=bool)
    X, _ = _model_rows(result, result.state.frame.data)
    null = la.null_space(X)
    chk = L @ null
    ssq = np.sum(L * L, axis=1)
    ssq = np.where(ssq < ESTIMABILITY_TOL, 1.0, ssq)
    return np.sum(chk * chk, axis=1) < ESTIMABILITY_TOL * ssq


def _tests(result: LmerResult, L: np.ndarray, cols: list[str], ddf: str) -> dict[str, np.ndarray]:
    from lmeformula.inference.satterthwaite import t_tests

    keep = [cols.index(n) for n in result.state.design.fixed_names]
    ok = _estimable(result, L)
    out = {k: np.full(L.shape[0], np.nan) for k in ("estimate", "std_error", "df", "statistic")}
    if ok.any():
        res = t_tests(result, L[ok][:, keep], ddf)
        for k in out:
            out[k][ok] = res[k]
    return out


def _glmm_tests(result: Any, L: np.ndarray, cols: list[str]) -> dict[str, np.ndarray]:
    """Asymptotic (z) means of a glmer fit on the link scale, as emmeans gives them."""
    keep = [cols.index(n) for n in result.state.design.fixed_names]
    ok = _estimable(result, L)
    out = {k: np.full(L.shape[0], np.nan) for k in ("estimate", "std_error", "df", "statistic")}
    Lk = L[ok][:, keep]
    V = result.vcov.to_numpy()
    out["estimate"][ok] = Lk @ result.fixef.to_numpy()
    out["std_error"][ok] = np.sqrt(np.einsum("ij,jk,ik->i", Lk, V, Lk))
    out["df"][ok] = np.inf
    return out


_RESPONSE_NAMES = {"binomial": "prob", "poisson": "rate"}


def _glmm_emmeans(
    result: Any,
    table: pd.DataFrame,
    L: np.ndarray,
    cols: list[str],
    level: float,
    type: str,
    shift: float,
) -> pd.DataFrame:
    res = _glmm_tests(result, L, cols)
    z = stats.norm.ppf(0.5 + level / 2)
    est, se = res["estimate"] + shift, res["std_error"]
    lower, upper = est - z * se, est + z * se
    name = "emmean"
    if type == "response":
        # emmeans' regrid: the mean through the inverse link, its SE by the delta method,
        # the limits back-transformed from the link scale.
        link = result.family.link
        name = _RESPONSE_NAMES.get(result.family.name, "response")
        se = se * np.abs(link.mu_eta(est))
        est, lower, upper = link.inverse(est), link.inverse(lower), link.inverse(upper)
        lower, upper = np.minimum(lower, upper), np.maximum(lower, upper)
    table[name] = est
    table["std_error"] = se
    table["df"] = np.inf
    table["lower_cl"] = lower
    table["upper_cl"] = upper
    return table


def _check(result: LmerResult, ddf: str) -> None:
    if getattr(result, "family", None) is None:
        check_ddf(ddf, result.reml)
    if not len(result.fixef):
        raise DataError("the model has no fixed effects; there are no marginal means to estimate.")


def grid_offset(result: LmerResult, offset: Any = None) -> float:
    """The offset of every grid row on the link scale: emmeans' ``.offset.``.

    The mean of the fit's offset vector (zero without one), or ``offset`` where given, as
    emmeans' ``offset =`` argument.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("distance ~ Sex + offset(age / 2) + (1 | Subject)",
    ...                lmf.datasets.load("orthodont"))
    >>> grid_offset(fit), grid_offset(fit, 0)  # R: ref_grid(m)@grid$.offset.
    (5.5, 0.0)
    """
    if offset is None:
        return float(np.mean(result.state.offset))
    if isinstance(offset, (bool, np.bool_)) or not isinstance(offset, (int, float, np.number)):
        raise ArgumentTypeError(
            f"offset must be a number (the link-scale offset of every grid row, e.g. 0 or "
            f"np.log(2)), got {type(offset).__name__} {offset!r}."
        )
    if not np.isfinite(offset):
        raise ArgumentTypeError(f"offset must be finite, got {offset!r}.")
    return float(offset)


def emmeans(
    result: LmerResult,
    specs: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    ddf: str = "satterthwaite",
    level: float = 0.95,
    at: dict[str, Any] | None = None,
    type: str = "link",
    offset: float | None = None,
) -> pd.DataFrame:
    """Estimated marginal means, as ``as.data.frame(emmeans(m, specs, by = by, at = at))``.

    See :meth:`lmeformula.LmerResult.emmeans` for the arguments. For a glmer fit the
    means are asymptotic (z, ``df`` infinite) and ``type="response"`` puts them on the
    response scale as emmeans' ``type = "response"``: the column is then ``prob``
    (binomial), ``rate`` (Poisson) or ``response``.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("distance ~ age * Sex + (age | Subject)", lmf.datasets.load("orthodont"))
    >>> emmeans(fit, "~ Sex | age", at={"age": [8, 14]})[["Sex", "age", "emmean"]].round(3)
          Sex  age  emmean
    0  Female    8  21.209
    1    Male    8  22.616
    2  Female   14  24.086
    3    Male   14  27.322
    """
    _check(result, ddf)
    level = check_level("level", level)
    if type not in ("link", "response"):
        raise ArgumentTypeError(f"type must be 'link' or 'response', got {type!r}.")
    shift = grid_offset(result, offset)
    spec_names, by_names = parse_specs(specs, by)
    table, L, cols = linear_functions(result, spec_names + by_names, at)
    if getattr(result, "family", None) is not None:
        return _glmm_emmeans(result, table, L, cols, level, type, shift)
    if type == "response":
        raise NotExpressibleError(
            "type='response' back-transforms a generalized model's means; an lmer fit's "
            "are on the response scale already."
        )
    res = _tests(result, L, cols, ddf)
    q = stats.t.ppf(0.5 + level / 2, res["df"])
    est = res["estimate"] + shift
    table["emmean"] = est
    table["std_error"] = res["std_error"]
    table["df"] = res["df"]
    table["lower_cl"] = est - q * res["std_error"]
    table["upper_cl"] = est + q * res["std_error"]
    return table


# -- contrasts --------------------------------------------------------------------------


def _r_number(x: float) -> str:
    """R's as.character of a double: 15 significant digits, fixed or scientific by width.

    Examples
    --------
    >>> [_r_number(x) for x in (8.0, -3.0, 11.5, 1e5, 1e-4, 0.1 + 0.2)]
    ['8', '-3', '11.5', '1e+05', '1e-04', '0.3']
    """
    fixed = np.format_float_positional(
        float(x), precision=15, unique=False, fractional=False, trim="-"
    )
    mant, _, exp = f"{float(x):.14e}".partition("e")
    mant = mant.rstrip("0").rstrip(".")
    sci = f"{mant}e{int(exp):+03d}"
    return fixed if len(fixed) <= len(sci) else sci


def _labels(table: pd.DataFrame, names: list[str]) -> list[str]:
    """emmeans' contrast labels of the rows of ``table`` (levels of ``names``)."""
    parts = []
    for name in names:
        col = table[name]
        text = [_r_number(float(v)) if isinstance(v, (float, np.floating)) else str(v) for v in col]
        # enhance.levels: numeric-looking levels get the variable's name.
        if all(_numeric_text(t) for t in text):
            text = [f"{name}{t}" for t in text]
        parts.append(text)
    labels = [" ".join(p) for p in zip(*parts, strict=True)] if parts else ["overall"] * len(table)
    return [f"({lab})" if PARENS.search(lab) else lab for lab in labels]


def _numeric_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _pairs(k: int, method: str) -> list[tuple[int, int]]:
    if method == "pairwise":
        return [(i, j) for i in range(k) for j in range(i + 1, k)]
    if method == "trt.vs.ctrl":
        # trt.vs.ctrl.emmc with ref = 1: every other level minus the first.
        return [(i, 0) for i in range(1, k)]
    return [(i, j) for i in range(1, k) for j in range(i)]


def _pdunnx(x: np.ndarray, k: int, df: np.ndarray) -> np.ndarray:
    """emmeans' ``.pdunnx``: its approximate Dunnett distribution of k two-sided tests, a
    mix of the studentized range (family (1 + sqrt(1 + 8k)) / 2) and Šidák's t."""
    twt = (k - 1) / k
    fam = (1 + np.sqrt(1 + 8 * k)) / 2
    tukey = np.array(
        [
            stats.studentized_range.cdf(np.sqrt(2) * xi, fam, di) if np.isfinite(xi) else np.nan
            for xi, di in zip(x, df, strict=True)
        ]
    )
    # pf(x^2, 1, df): the chi-square with one df when df is infinite.
    f = np.where(
        np.isinf(df), stats.chi2.cdf(x * x, 1), stats.f.cdf(x * x, 1, np.minimum(df, 1e300))
    )
    return twt * tukey + (1 - twt) * f**k


def _qdunnx(p: float, k: int, df: float) -> float:
    """emmeans' ``.qdunnx``: the root of ``.pdunnx`` between the Tukey and Šidák
    quantiles (R's uniroot stops at a tolerance of 5e-4; this solves to 1e-10)."""
    from scipy.optimize import brentq

    if k < 1.005:
        return float(stats.t.ppf(1 - 0.5 * (1 - p), df))
    fam = (1 + np.sqrt(1 + 8 * k)) / 2
    xtuk = float(stats.studentized_range.ppf(p, fam, df)) / np.sqrt(2)
    xsid = float(
        np.sqrt(
            stats.chi2.ppf(p ** (1 / k), 1) if np.isinf(df) else stats.f.ppf(p ** (1 / k), 1, df)
        )
    )
    if abs(xtuk - xsid) < 0.0005:
        return xtuk
    lo, hi = min(xtuk, xsid), max(xtuk, xsid)
    d = np.array([df])
    return float(brentq(lambda x: _pdunnx(np.array([x]), k, d)[0] - p, lo, hi, xtol=1e-10))


def p_adjust(t: np.ndarray, df: np.ndarray, method: str, n_means: int) -> np.ndarray:
    """P-values of one family of pairwise t ratios, adjusted as emmeans' ``.adj.p.value``.

    Parameters
    ----------
    t, df
        t ratios and their degrees of freedom (NaN for non-estimable contrasts).
    method
        One of :data:`ADJUST_METHODS`.
    n_means
        The number of means compared (Tukey's family size).

    Examples
    --------
    R's ``p.adjust(2 * pt(-c(2, 3, 1), 20), "bonferroni")``:

    >>> p_adjust(np.array([2.0, 3.0, 1.0]), np.full(3, 20.0), "bonferroni", 3).round(4)
    array([0.1778, 0.0212, 0.9878])
    """
    df = np.where(np.isnan(df), np.inf, df)
    p = 2 * stats.t.sf(np.abs(t), df)
    m = len(t)
    if m == 1 or method == "none":
        return p
    if method == "tukey":
        # R's ptukey(sqrt(2) |t|, k, zapsmall(df)): df rounded as zapsmall rounds them.
        finite = df[np.isfinite(df)]
        top = float(np.max(finite)) if finite.size else 0.0
        digits = max(0, 7 - int(np.ceil(np.log10(top)))) if top > 0 else 7
        df = np.where(np.isfinite(df), np.round(df, digits), df)
        return np.array(
            [
                stats.studentized_range.sf(np.sqrt(2) * abs(ti), n_means, di)
                if np.isfinite(ti)
                else np.nan
                for ti, di in zip(t, df, strict=True)
            ]
        )
    if method == "sidak":
        return 1 - (1 - p) ** m
    if method == "dunnettx":
        return 1 - _pdunnx(np.abs(t), m, df)
    if method == "bonferroni":
        return np.minimum(1.0, m * p)
    if method == "holm":
        # p.adjust(p, "holm", n = m): NaNs keep their place and count in n.
        out = np.full(m, np.nan)
        ok = np.flatnonzero(~np.isnan(p))
        order = ok[np.argsort(p[ok], kind="stable")]
        steps = (m - np.arange(order.size)) * p[order]
        out[order] = np.minimum(1.0, np.maximum.accumulate(steps))
        return out
    raise ArgumentTypeError(f"adjust must be one of {GLMM_ADJUST_METHODS}, got {method!r}.")


def critical_values(
    level: float, df: np.ndarray, method: str, n_means: int, n_contrasts: int
) -> np.ndarray:
    """Critical values of one family's confidence intervals, as emmeans' ``.adj.critval``.

    ``"holm"`` (for P values only) gives Bonferroni's intervals, as emmeans does; a family
    of one interval is not adjusted.

    Examples
    --------
    R's ``qtukey(0.95, 4, Inf) / sqrt(2)`` and ``qnorm(1 - 0.05 / 6 / 2)``:

    >>> critical_values(0.95, np.full(1, np.inf), "tukey", 4, 6).round(4)
    array([2.569])
    >>> critical_values(0.95, np.full(1, np.inf), "bonferroni", 4, 6).round(4)
    array([2.6383])
    """
    df = np.where(np.isnan(df), np.inf, df)
    m = n_contrasts
    if m == 1:
        method = "none"
    if method == "holm":
        method = "bonferroni"
    alpha = 1 - level
    if method == "none":
        return np.asarray(stats.t.ppf(1 - alpha / 2, df), dtype=float)
    if method == "sidak":
        return np.asarray(stats.t.ppf(1 - (1 - level ** (1 / m)) / 2, df), dtype=float)
    if method == "bonferroni":
        return np.asarray(stats.t.ppf(1 - alpha / m / 2, df), dtype=float)
    if method == "tukey":
        return np.array([stats.studentized_range.ppf(level, n_means, d) for d in df]) / np.sqrt(2)
    if method == "dunnettx":
        return np.array([_qdunnx(level, m, d) for d in df])
    raise ArgumentTypeError(f"adjust must be one of {GLMM_ADJUST_METHODS}, got {method!r}.")


def _glmm_contrasts(
    result: Any,
    Lg: np.ndarray,
    pairs: list[tuple[int, int]],
    cols: list[str],
    regrid: bool,
    shift: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and SEs of one group's contrasts of a glmer fit: of the link-scale
    means, or (``regrid``) of the response-scale means by the delta method, as emmeans'
    ``pairs(regrid(emm))``."""
    i, j = np.array(pairs).T
    if not regrid:
        res = _glmm_tests(result, Lg[i] - Lg[j], cols)
        return res["estimate"], res["std_error"]
    keep = [cols.index(n) for n in result.state.design.fixed_names]
    Lk = Lg[:, keep]
    eta = Lk @ result.fixef.to_numpy() + shift
    link = result.family.link
    mu = np.asarray(link.inverse(eta.copy()), dtype=float)
    grad = np.asarray(link.mu_eta(eta.copy()), dtype=float)[:, None] * Lk
    D = grad[i] - grad[j]
    V = result.vcov.to_numpy()
    est = mu[i] - mu[j]
    se = np.sqrt(np.einsum("ij,jk,ik->i", D, V, D))
    ok = _estimable(result, Lg)
    bad = ~(ok[i] & ok[j])
    est[bad] = se[bad] = np.nan
    return est, se


def emmeans_contrasts(
    result: LmerResult,
    specs: str | Sequence[str],
    method: str = "pairwise",
    by: str | Sequence[str] | None = None,
    adjust: str | None = None,
    ddf: str = "satterthwaite",
    at: dict[str, Any] | None = None,
    level: float = 0.95,
    type: str = "link",
    offset: float | None = None,
) -> pd.DataFrame:
    """Pairwise comparisons of marginal means, as ``as.data.frame(pairs(emmeans(m, specs)))``.

    See :meth:`lmeformula.LmerResult.emmeans_contrasts` and
    :meth:`lmeformula.GlmerResult.emmeans_contrasts` for the arguments; ``level``,
    ``type`` and ``offset`` are a glmer fit's (its table has confidence limits; the
    offset moves only differences regridded to the response scale).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("distance ~ age * Sex + (age | Subject)", lmf.datasets.load("orthodont"))
    >>> out = emmeans_contrasts(fit, "Sex", by="age", at={"age": [8, 14]})
    >>> out[["contrast", "age", "estimate", "p_value"]].round(3)
            contrast  age  estimate  p_value
    0  Female - Male    8    -1.407    0.101
    1  Female - Male   14    -3.236    0.001
    """
    _check(result, ddf)
    glmm = getattr(result, "family", None) is not None
    methods = GLMM_CONTRAST_METHODS if glmm else CONTRAST_METHODS
    if method not in methods:
        raise ArgumentTypeError(f"method must be one of {methods}, got {method!r}.")
    adjusts = GLMM_ADJUST_METHODS if glmm else ADJUST_METHODS
    adjust = DEFAULT_ADJUST[method] if adjust is None else adjust
    if adjust not in adjusts:
        raise ArgumentTypeError(f"adjust must be one of {adjusts}, got {adjust!r}.")
    if type not in ("link", "response"):
        raise ArgumentTypeError(f"type must be 'link' or 'response', got {type!r}.")
    if type == "response" and not glmm:
        raise NotExpressibleError(
            "type='response' back-transforms a generalized model's contrasts; an lmer fit's "
            "are on the response scale already."
        )
    level = check_level("level", level)
    spec_names, by_names = parse_specs(specs, by)
    table, L, cols = linear_functions(result, spec_names + by_names, at)
    spec_names = [n for n in spec_names if n != OVERALL]
    # Rows are by-group major (the by variables vary slowest): equal blocks of means.
    n_groups = int(np.prod([len(table[b].unique()) for b in by_names])) if by_names else 1
    k = len(table) // n_groups
    if k < 2:
        raise DataError(
            f"there is {k} mean per group to compare; pairwise contrasts need a factor in "
            f"specs with two or more levels (specs {spec_names})."
        )
    labels = _labels(table.iloc[:k], spec_names)
    pairs = _pairs(k, method)
    if glmm:
        shift = grid_offset(result, offset)
        return _glmm_contrast_table(
            result,
            table,
            L,
            cols,
            labels,
            pairs,
            (by_names, n_groups),
            (adjust, method, level, type, shift),
        )
    blocks = []
    for g in range(n_groups):
        rows = g * k + np.array(pairs)
        C = L[rows[:, 0]] - L[rows[:, 1]]
        res = _tests(result, C, cols, ddf)
        block = pd.DataFrame({"contrast": [f"{labels[i]} - {labels[j]}" for i, j in pairs]})
        for b in by_names:
            block[b] = table[b].iloc[g * k]
        block["estimate"] = res["estimate"]
        block["std_error"] = res["std_error"]
        block["df"] = res["df"]
        block["t_ratio"] = res["statistic"]
        block["p_value"] = p_adjust(res["statistic"], res["df"], adjust, k)
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True)


def _glmm_contrast_table(
    result: Any,
    table: pd.DataFrame,
    L: np.ndarray,
    cols: list[str],
    labels: list[str],
    pairs: list[tuple[int, int]],
    groups: tuple[list[str], int],
    options: tuple[str, str, float, str, float],
) -> pd.DataFrame:
    """A glmer fit's contrasts: z tests and limits on the link scale, then, with
    ``type="response"``, ratios (log link), odds ratios (logit) or regridded differences.
    ``groups`` is (by names, number of by groups); ``options`` (adjust, method, level,
    type, grid offset)."""
    by_names, n_groups = groups
    adjust, method, level, type, shift = options
    link = result.family.link.name
    ratio = RATIO_NAMES.get(link) if type == "response" else None
    regrid = type == "response" and ratio is None
    # emmeans: Tukey is for pairwise families only, otherwise Šidák.
    if adjust == "tukey" and method == "trt.vs.ctrl":
        adjust = "sidak"
    k = len(table) // n_groups
    blocks = []
    for g in range(n_groups):
        est, se = _glmm_contrasts(result, L[g * k : (g + 1) * k], pairs, cols, regrid, shift)
        z = est / se
        df = np.full(len(pairs), np.inf)
        cv = critical_values(level, df, adjust, k, len(pairs))
        lower, upper = est - cv * se, est + cv * se
        block = pd.DataFrame({"contrast": [f"{labels[i]} - {labels[j]}" for i, j in pairs]})
        for b in by_names:
            block[b] = table[b].iloc[g * k]
        if ratio is not None:
            # The ratio, its SE by the delta method; test and limits from the link scale.
            est, lower, upper = np.exp(est), np.exp(lower), np.exp(upper)
            se = est * se
            block["contrast"] = [f"{labels[i]} / {labels[j]}" for i, j in pairs]
        block[ratio or "estimate"] = est
        block["std_error"] = se
        block["df"] = df
        block["lower_cl"] = lower
        block["upper_cl"] = upper
        block["t_ratio"] = z
        block["p_value"] = p_adjust(z, df, adjust, k)
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True)
