"""Single-term deletions, as R's ``drop1(m, test = "Chisq")`` on a glmer fit.

Each fixed term that ``drop.scope`` allows (not contained in a higher-order term) is
removed in turn and the model refitted to the same rows, family, weights and offset; the
table gives the term's degrees of freedom, the reduced model's AIC, the likelihood-ratio
statistic against the full model and its χ² p-value, under R's ``<none>`` row for the
model itself.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from lmeformula.errors import ArgumentTypeError
from lmeformula.fitting.glmm import glmer
from lmeformula.formula.reduce import fixed_reductions
from lmeformula.results.glmer import GlmerResult
from lmeformula.results.noted import NotedFrame

__all__ = ["drop1"]


def drop1(fit: GlmerResult) -> pd.DataFrame:
    """R's ``drop1(m, test = "Chisq")``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``"<none>"`` and the terms dropped; columns ``npar`` (the term's
        degrees of freedom), ``AIC``, ``LRT`` and ``Pr(Chi)``.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 lmf.datasets.load("cbpp"))
    >>> float(round(drop1(fit).loc["period", "LRT"], 2))  # R: drop1(m, test = "Chisq")
    25.61
    """
    if not isinstance(fit, GlmerResult):
        raise ArgumentTypeError(f"drop1 takes a glmer fit, got {type(fit).__name__}.")
    state = fit.state
    rows = {"<none>": {"npar": np.nan, "AIC": fit.aic, "LRT": np.nan, "Pr(Chi)": np.nan}}
    for reduction in fixed_reductions(fit.formula):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The offset goes in whole (formula terms and argument alike): the reduced
            # formulas carry none.
            small = glmer(
                reduction.formula,
                state.frame.data,
                family=fit.family,
                nagq=fit.nagq,
                weights=state.frame.weights,
                offset=state.design.offset,
                data_name=fit.data_name,
            )
        df = fit.npar - small.npar
        lrt = max(2.0 * (fit.loglik - small.loglik), 0.0)
        rows[reduction.name] = {
            "npar": df,
            "AIC": small.aic,
            "LRT": lrt,
            "Pr(Chi)": stats.chi2.sf(lrt, df) if df > 0 else np.nan,
        }
    table = NotedFrame(pd.DataFrame.from_dict(rows, orient="index"))
    table.attrs["heading"] = f"Single term deletions\n\nModel:\n{fit.formula}"
    return table
