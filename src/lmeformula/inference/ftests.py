"""F tests of fixed-effects terms as lmerTest's ``anova(m, type = t)``: the hypotheses of
types I, II and III, and the F statistic of each with Satterthwaite's or Kenward-Roger's
denominator df (lmerTest's ``contestMD``).

The hypotheses are lmerTest's: type I from the Doolittle factorisation of X'X (sequential
sums of squares), type II from the same factorisation with the term moved after every term
that does not contain it (a term not contained in any other is tested marginally), type
III from the terms of the sum-to-zero coding (SAS's type III).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from lmeformula.errors import ArgumentTypeError, NotExpressibleError
from lmeformula.inference.kenward_roger import kenward_roger
from lmeformula.inference.satterthwaite import satterthwaite
from lmeformula.model.design import r_names
from lmeformula.results.noted import NotedFrame

__all__ = ["TYPES", "anova_table", "hypotheses"]

TYPES = (1, 2, 3)
_ROMAN = {1: "I", 2: "II", 3: "III"}
_METHOD = {
    "satterthwaite": "Satterthwaite's method",
    "kenward-roger": "Kenward-Roger's method",
    "wald": "Wald chi-square tests",
}


def _doolittle_rows(XtX: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """t(L) of lmerTest's ``doolittle(XtX)``: the unit lower-triangular factor of XtX = LU
    (no pivoting), with its entries below eps set to 0 and rows of a zero pivot zeroed."""
    n = XtX.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        U[i, :] = XtX[i, :] - L[i, :i] @ U[:i, :]
        if i + 1 < n:
            col = XtX[i + 1 :, i] - L[i + 1 :, :i] @ U[:i, i]
            L[i + 1 :, i] = 0.0 if abs(U[i, i]) < eps else col / U[i, i]
    L[np.abs(L) < eps] = 0.0
    return L.T


def _term_columns(result: Any) -> dict[str, list[int]]:
    spec = result.state.design.fixed_spec
    return {str(t): list(cols) for t, cols in spec.term_indices.items() if str(t) != "1"}


def _term_variables(result: Any) -> dict[str, tuple[set[str], set[str]]]:
    """Each term's variables and, among them, the numeric ones (R's dataClasses)."""
    spec = result.state.design.fixed_spec
    state = getattr(spec, "encoder_state", {})
    out = {}
    for term in spec.terms:
        if str(term) == "1":
            continue
        names = {str(f.expr) for f in term.factors}
        numeric = {n for n in names if n not in state or "NUMERICAL" in str(state[n][0])}
        out[str(term)] = (names, numeric)
    return out


def _contained_in(result: Any) -> dict[str, list[str]]:
    """lmerTest's ``containment``: for each term, the terms that contain it (its variables
    and more, with the same numeric variables)."""
    variables = _term_variables(result)

    def contains(small: str, big: str) -> bool:
        (v1, n1), (v2, n2) = variables[small], variables[big]
        return v1 < v2 and n1 == n2

    return {t: [u for u in variables if contains(t, u)] for t in variables}


def hypotheses(result: Any, type: int = 3) -> dict[str, np.ndarray]:
    """Each fixed-effects term's hypothesis matrix L (rows: contrasts of the fit's
    coefficients) for an F test of the given type, as lmerTest builds them.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("distance ~ age * Sex + (age | Subject)", lmf.datasets.load("orthodont"))
    >>> {t: L.shape for t, L in hypotheses(fit, type=1).items()}
    {'age': (1, 4), 'Sex': (1, 4), 'age:Sex': (1, 4)}
    """
    design = result.state.design
    if design.dropped_fixed:
        raise NotExpressibleError(
            "F tests of a rank-deficient fixed-effects design are not available; drop the "
            f"aliased column(s) {design.dropped_fixed} from the formula."
        )
    return {r_names([t])[0]: L for t, L in _hypotheses(result, type).items()}


def _hypotheses(result: Any, type: int) -> dict[str, np.ndarray]:
    X = result.state.design.X
    terms = _term_columns(result)
    if type == 3:
        X_sum, sum_terms = _sum_coded(result)
        # X = X_sum M, so β_sum = M β: type III contrasts of the sum coding, in the fit's terms.
        M, *_ = np.linalg.lstsq(X_sum, X, rcond=None)
        return {t: M[cols, :] for t, cols in sum_terms.items() if t != "1"}
    if type == 1 or len(terms) <= 1:
        Lt = _doolittle_rows(X.T @ X)
        return {t: Lt[cols, :] for t, cols in terms.items()}
    out = {}
    for term, bigger in _contained_in(result).items():
        if not bigger:
            out[term] = np.eye(X.shape[1])[terms[term], :]
            continue
        moved = [c for t in [term, *bigger] for c in terms[t]]
        order = [c for c in range(X.shape[1]) if c not in moved] + moved
        Lt = _doolittle_rows(X[:, order].T @ X[:, order])
        rows = [order.index(c) for c in terms[term]]
        # Back to the fit's column order.
        L = np.empty((len(rows), X.shape[1]))
        L[:, order] = Lt[rows, :]
        out[term] = L
    return out


def f_test(result: Any, L: np.ndarray, ddf: str) -> tuple[float, float, int, float, float, float]:
    """lmerTest's ``contestMD``: (sum_sq, mean_sq, num_df, den_df, F, p) of L β = 0, the
    hypothesis reduced to its positive-variance directions."""
    beta = result.fixef.to_numpy()
    kr = kenward_roger(result) if ddf == "kenward-roger" else None
    V = result.vcov.to_numpy() if kr is None else kr.vcov_adjusted
    vals, vecs = np.linalg.eigh(L @ V @ L.T)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    keep = vals > max(np.sqrt(np.finfo(float).eps) * vals[0], 0)
    PL = vecs[:, keep].T @ L
    q = int(keep.sum())
    F = float(np.sum((PL @ beta) ** 2 / vals[keep]) / q)
    # lmerTest's mean square is the unscaled F (Kenward-Roger: before its F scaling).
    mean_sq = F * result.sigma**2
    if ddf == "wald":
        den = np.inf
    elif kr is not None:
        den, scale = kr.df(L)
        F *= scale
    else:
        den = _fstat_ddf(satterthwaite(result).df(PL))
    p = float(stats.f.sf(F, q, den)) if np.isfinite(den) else float(stats.chi2.sf(F * q, q))
    return mean_sq * q, mean_sq, q, float(den), F, p


def anova_table(result: Any, type: int = 3, ddf: str = "satterthwaite") -> pd.DataFrame:
    """lmerTest's ``anova(m, type = type, ddf = ddf)`` (see
    :meth:`lmeformula.LmerResult.anova`); the heading R prints is in ``attrs["heading"]``."""
    if type not in TYPES:
        raise ArgumentTypeError(f"type must be 1, 2 or 3 (as lmerTest's anova), got {type!r}.")
    rows = [(term, *f_test(result, L, ddf)) for term, L in hypotheses(result, type).items()]
    table = NotedFrame(
        pd.DataFrame(
            rows, columns=["term", "sum_sq", "mean_sq", "num_df", "den_df", "f_value", "p_value"]
        ).set_index("term")
    )
    table.attrs["heading"] = f"Type {_ROMAN[type]} Analysis of Variance Table with {_METHOD[ddf]}"
    return table


def _sum_coded(result: Any) -> tuple[np.ndarray, dict[str, list[int]]]:
    """The fixed-effects design with every factor in sum-to-zero coding (R's contr.sum),
    and its columns by term. Type III hypotheses are the terms of this coding, whatever
    coding the fit used (SAS's and lmerTest's type III for balanced averages)."""
    import re

    import pandas as pd

    from lmeformula.model.design import formula_matrix

    data = result.state.frame.data
    text = result.state.parsed.fixed

    def categorical(name: str) -> bool:
        col = data[name]
        return not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)

    text = re.sub(r"\bfactor\(([^()]*)\)", r"C(factor(\1), contr.sum)", text)
    # Treatment codings the formula asks for (C(f), C(f, contr.treatment), relevel()) too:
    # lmerTest's type III hypotheses do not depend on the coding the fit used.
    text = re.sub(r"\brelevel\(([^()]*)\)", r"C(relevel(\1), contr.sum)", text)
    treatment = r"(?:contr\.|'contr\.)?(?:treatment|SAS)'?"
    text = re.sub(rf"\bC\(([^(),]+)(?:, *(?:contr=)?{treatment})?\)", r"C(\1, contr.sum)", text)
    for name in sorted(map(str, data.columns), key=len, reverse=True):
        if name.isidentifier() and categorical(name):
            # A bare column name, not inside a call or already wrapped.
            text = re.sub(rf"(?<![\w.(]){re.escape(name)}(?![\w(])", f"C({name}, contr.sum)", text)
    mm = formula_matrix(text, data, "the fixed effects (sum-to-zero coding)")
    X = np.asarray(mm, dtype=float)
    # The wrapped formula has the fit's terms in the fit's order: name them as the fit does.
    names = [str(t) for t in result.state.design.fixed_spec.term_indices]
    indices = list(mm.model_spec.term_indices.values())
    return X, {name: list(idx) for name, idx in zip(names, indices, strict=True)}


def _fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    # lmerTest's get_Fstat_ddf: Satterthwaite df of an F statistic from its eigen-directions.
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2)))
    return 2 * E / (E - nu.size)
