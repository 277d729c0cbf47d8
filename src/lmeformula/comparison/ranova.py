"""lmerTest's ``ranova(m)``: likelihood-ratio tests of the random-effects terms.

Each random term is removed (``(1 | g)``) or reduced (``(x | g)`` to ``(1 | g)``), the
reduced model refitted on the same rows with the same fitting method (no ML refit: REML
likelihoods for a REML fit, as lmerTest), and compared with the full model. When no random
term is left, the reduced model is the linear model (``gls`` with independent residuals,
or with the fit's residual structure when it has one), as lmerTest compares with ``lm``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from lmeformula.comparison.nesting import Relation, mixture_p_value, relate
from lmeformula.errors import DataError
from lmeformula.fitting.refit import refit
from lmeformula.formula.reduce import reductions, split_formula
from lmeformula.results.noted import NotedFrame
from lmeformula.validate import check_bool

if TYPE_CHECKING:
    from lmeformula.results.lmer import LmerResult

__all__ = ["ranova"]

COLUMNS = ["npar", "loglik", "aic", "lrt", "df", "p_value", "p_value_mixture"]


def ranova(fit: LmerResult, reduce_terms: bool = True) -> NotedFrame:
    """Likelihood-ratio tests of each random-effects term, as lmerTest's ``ranova(m)``.

    Parameters
    ----------
    fit
        A fit with random effects.
    reduce_terms
        Reduce a term with slopes by one slope at a time (``(x | g)`` to ``(1 | g)``, as
        lmerTest's default) instead of removing whole terms.

    Returns
    -------
    NotedFrame
        A row ``"<none>"`` for the full model and one per reduced model, named as lmerTest
        names them (``"x in (x | g)"``, ``"(1 | g)"``); columns ``npar, loglik, aic, lrt,
        df, p_value`` and ``p_value_mixture``, the boundary-mixture p-value where removing
        the term tests one variance at 0 (50:50 χ²₀:χ²₁) or reducing it drops one
        correlated effect (50:50 χ²_q:χ²_{q+1}), empty elsewhere. ``attrs["note"]`` says
        which p-value to read for each row; ``attrs["formulas"]`` holds the reduced
        models' formulas.

    Raises
    ------
    DataError
        For a fit without random effects.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> table = fit.ranova()
    >>> table[["npar", "loglik", "lrt", "df"]].round(2)
                              npar  loglik    lrt   df
    <none>                       6 -871.81    NaN  NaN
    Days in (Days | Subject)     4 -893.23  42.84  2.0
    """
    check_bool("reduce_terms", reduce_terms)
    if fit.is_gls:
        raise DataError(
            f"ranova tests random-effects terms, and '{fit.formula}' has none; compare "
            "residual structures with lmf.compare() or lmf.anova(..., refit=False)."
        )
    pieces = split_formula(fit.formula)
    names = ["<none>"]
    rows = [_row(fit)]
    notes = []
    formulas = {}
    for red in reductions(pieces, reduce_terms):
        other = refit(fit, red.formula)
        row = _row(other)
        lrt = 2.0 * (fit.loglik - other.loglik)
        df = fit.npar - other.npar
        row["lrt"] = lrt
        row["df"] = df
        row["p_value"] = float(stats.chi2.sf(lrt, df)) if df > 0 else np.nan
        relation = relate(other, fit)
        if relation.null == "boundary" and relation.mixture is not None:
            row["p_value_mixture"] = mixture_p_value(max(lrt, 0.0), relation.mixture)
        notes.append(_note(red.name, relation, df))
        names.append(red.name)
        rows.append(row)
        formulas[red.name] = red.formula
    table = NotedFrame(rows, index=names, columns=COLUMNS)
    table.attrs["heading"] = (
        f"ANOVA-like table for random-effects: Single term deletions\nModel: {pieces.formula()}"
    )
    if table["p_value_mixture"].notna().any():
        notes.insert(
            0,
            "Where p_value_mixture is given, read it: the reduced model sets a variance to "
            "0, on the boundary of the parameter space, where the χ² p-value (p_value) is "
            "conservative (Self & Liang 1987; Stram & Lee 1994).",
        )
    table.attrs["note"] = "\n".join(notes)
    table.attrs["formulas"] = formulas
    return table


def _note(name: str, relation: Relation, df: int) -> str:
    if df <= 0:
        return (
            f"'{name}': the reduced model has as many parameters as the full one (lmerTest "
            "puts an intercept in place of the last slope): no test."
        )
    if not relation.nested:
        return f"'{name}': not a special case of the full model ({relation.reason}): no test."
    if relation.null == "boundary":
        q = relation.mixture or 0
        half = " (half of p_value)" if q == 0 else ""
        return (
            f"'{name}' drops {relation.what}: the 50:50 mixture of χ²({q}) and χ²({q + 1}){half}."
        )
    if relation.null == "interior":
        return (
            f"'{name}' drops {relation.what}, null values inside the parameter space: read p_value."
        )
    return (
        f"'{name}' drops {relation.what}: no simple mixture applies; only p_value, which is "
        "conservative."
    )


def _row(fit: LmerResult) -> dict[str, float]:
    return {
        "npar": fit.npar,
        "loglik": fit.loglik,
        "aic": -2.0 * fit.loglik + 2.0 * fit.npar,
        "lrt": np.nan,
        "df": np.nan,
        "p_value": np.nan,
        "p_value_mixture": np.nan,
    }
