"""Comparing fitted models: R's ``anova(m0, m1, ...)`` likelihood-ratio table."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .errors import ArgumentTypeError, DataError
from .fit import gls, lmer
from .results import LmerResult

__all__ = ["anova"]


def _ml(fit: LmerResult) -> LmerResult:
    if not fit.reml:
        return fit
    # lme4 refits REML fits with ML before comparing them; the refit keeps the residual
    # structure, variance function and weights.
    model = fit._residual
    structures: dict[str, Any] = {}
    if model is not None:
        if model.residual is not None:
            structures["residual"] = model.residual.structure
        if model.variance is not None:
            structures["variance"] = model.variance.function
    fn = gls if fit.is_gls else lmer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(
            fit.formula,
            fit._frame.data,
            reml=False,
            weights=fit._frame.weights,
            data_name=fit.data_name,
            **structures,
        )


def _argument_names(fits: tuple[LmerResult, ...]) -> list[str]:
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


def anova(*fits: LmerResult, refit: bool = True) -> pd.DataFrame:
    """Likelihood-ratio tests between nested models, as lme4's ``anova(m0, m1, ...)``.

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
        ``npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq)``.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> exam = lmf.datasets.load("exam")
    >>> m0 = lmf.lmer("normexam ~ standLRT + (1 | school)", exam, reml=False)
    >>> m1 = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", exam, reml=False)
    >>> float(round(lmf.anova(m0, m1)["Chisq"].iloc[1], 2))
    40.37
    """
    if len(fits) < 2:
        raise ArgumentTypeError("anova needs at least two fitted models to compare.")
    for f in fits:
        if not isinstance(f, LmerResult):
            raise ArgumentTypeError(f"anova compares lmer/gls fits, got {type(f).__name__}.")
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
    prev = None
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
        }
        if prev is not None:
            chisq = max(prev[1] - dev, 0.0)
            df = f.npar - prev[0]
            row["Chisq"] = chisq
            row["Df"] = df
            row["Pr(>Chisq)"] = stats.chi2.sf(chisq, df) if df > 0 else np.nan
        rows.append(row)
        prev = (f.npar, dev)
    return pd.DataFrame(rows, index=[names[i] for i in order])
