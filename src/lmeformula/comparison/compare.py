"""Comparing fitted models: R's ``anova(m0, m1, ...)`` likelihood-ratio table, with the
boundary-mixture p-value beside the χ² one where a variance is tested at 0."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from lmeformula.comparison.nesting import check_same_family, describe, mixture_p_value, relate
from lmeformula.errors import ArgumentTypeError, DataError
from lmeformula.families import NegativeBinomial, Poisson
from lmeformula.fitting.refit import refit as refit_fit
from lmeformula.results.glmer import GlmerResult
from lmeformula.results.lmer import LmerResult
from lmeformula.results.noted import NotedFrame
from lmeformula.validate import check_bool

__all__ = ["anova"]


def _ml(fit: LmerResult | GlmerResult) -> LmerResult | GlmerResult:
    # lme4 refits REML fits with ML before comparing them; the refit keeps the residual
    # structure, variance function and weights.
    if not fit.reml or isinstance(fit, GlmerResult):
        return fit
    return refit_fit(fit, reml=False)


def _argument_names(fits: tuple[LmerResult | GlmerResult, ...]) -> list[str]:
    # R labels the rows with the arguments' names (anova(m0, m1)); look them up in the
    # caller's frame, falling back to m0, m1, ... for unnamed or repeated objects.
    frame = inspect.currentframe()
    try:
        caller = frame.f_back.f_back if frame and frame.f_back else None
        scope = dict(caller.f_locals) if caller is not None else {}
    finally:
        del frame
    names = []
    for i, fit in enumerate(fits):
        found = [k for k, v in scope.items() if v is fit and not k.startswith("_")]
        name = found[0] if len(found) == 1 else f"m{i}"
        names.append(name if name not in names else f"m{i}")
    return names


def _adds_nb_theta(small: Any, large: Any, df: int) -> bool:
    """Whether ``large`` is ``small``'s Poisson model with a negative binomial's θ."""
    fs, fl = getattr(small, "family", None), getattr(large, "family", None)
    return (
        isinstance(fs, Poisson)
        and isinstance(fl, NegativeBinomial)
        and df == 1
        and small.formula == large.formula
    )


def anova(*fits: LmerResult | GlmerResult, refit: bool = True) -> pd.DataFrame:
    """Likelihood-ratio tests between nested models, as lme4's ``anova(m0, m1, ...)``, with
    the boundary-mixture p-value where a variance is tested at 0.

    Parameters
    ----------
    *fits
        Two or more fitted models of the same data, ordered as given; the table sorts them
        by number of parameters as R does.
    refit
        Refit REML fits by maximum likelihood first (lme4's default). ``refit=False``
        compares the REML likelihoods as they are, as nlme's ``anova`` does for models
        with the same fixed effects (comparing covariance structures: CS against UN).

    Returns
    -------
    pandas.DataFrame
        Indexed by model (the arguments' variable names, as R labels them, else ``m0``,
        ``m1``, ... in the order given), columns
        ``npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq), Pr(>Chisq) mixture``.
        The last is the p-value of the 50:50 χ² mixture that applies when the larger model
        adds variances whose null value 0 is on the boundary: one variance (``(1 | g)``
        added: χ²₀:χ²₁, Self & Liang 1987) or one more correlated random effect (``(1 |
        g)`` to ``(x | g)``: χ²₁:χ²₂, Stram & Lee 1994); empty where no such mixture
        applies or where it cannot be determined. ``attrs["note"]``, printed under the
        table, says for each test which p-value to read and why.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> exam = lmf.datasets.load("exam")
    >>> m0 = lmf.lmer("normexam ~ standLRT + (1 | school)", exam, reml=False)
    >>> m1 = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", exam, reml=False)
    >>> table = lmf.anova(m0, m1)
    >>> float(round(table["Chisq"].iloc[1], 2))
    40.37
    >>> print(table.attrs["note"])  # doctest: +ELLIPSIS
    m1 vs m0: m1 adds the random effect standLRT in (1 + standLRT | school), with its ...
    """
    check_bool("refit", refit)
    if len(fits) < 2:
        raise ArgumentTypeError("anova needs at least two fitted models to compare.")
    for f in fits:
        if not isinstance(f, (LmerResult, GlmerResult)):
            raise ArgumentTypeError(
                f"anova compares lmer, gls and glmer fits, got {type(f).__name__}."
            )
    check_same_family(fits, " and a likelihood-ratio test compares nothing")
    nobs = {f.nobs for f in fits}
    if len(nobs) > 1:
        raise DataError(
            f"models were fitted to different numbers of observations {sorted(nobs)}; "
            "compare models fitted to the same rows (drop missing values first)."
        )
    used = [_ml(f) if refit else f for f in fits]
    names = _argument_names(fits)
    order = sorted(range(len(used)), key=lambda i: used[i].npar)
    rows = []
    notes = []
    prev: int | None = None
    for i in order:
        f = used[i]
        dev = -2.0 * f.loglik
        row = {
            "npar": f.npar,
            "AIC": f.aic,
            "BIC": f.bic,
            "logLik": f.loglik,
            "deviance": dev,
            "Chisq": np.nan,
            "Df": np.nan,
            "Pr(>Chisq)": np.nan,
            "Pr(>Chisq) mixture": np.nan,
        }
        if prev is not None:
            small = used[prev]
            chisq = max(-2.0 * small.loglik - dev, 0.0)
            df = f.npar - small.npar
            row["Chisq"] = chisq
            row["Df"] = df
            row["Pr(>Chisq)"] = stats.chi2.sf(chisq, df) if df > 0 else np.nan
            if _adds_nb_theta(small, f, df):
                # The Poisson is the negative binomial at θ = ∞, the boundary: the
                # statistic is ½χ²₀ + ½χ²₁ there (R's anova prints the χ²₁ p-value).
                row["Pr(>Chisq) mixture"] = 0.5 * stats.chi2.sf(chisq, 1)
                notes.append(
                    f"{names[i]} vs {names[prev]}: {names[i]} adds the negative binomial's θ "
                    "to the Poisson, its limit θ → ∞ (a boundary): read Pr(>Chisq) mixture."
                )
                rows.append(row)
                prev = i
                continue
            relation = relate(small, f)
            if relation.null == "boundary" and relation.mixture is not None:
                row["Pr(>Chisq) mixture"] = mixture_p_value(chisq, relation.mixture)
            notes.append(describe(relation, names[prev], names[i], df))
        rows.append(row)
        prev = i
    table = NotedFrame(rows, index=[names[i] for i in order])
    data = fits[0].data_name
    models = [f"{names[i]}: {fits[i].formula}" for i in order]
    table.attrs["heading"] = "\n".join(([f"Data: {data}"] if data else []) + ["Models:", *models])
    table.attrs["note"] = "\n".join(notes)
    return table
