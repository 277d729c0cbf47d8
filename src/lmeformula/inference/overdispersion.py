"""The overdispersion check of a count model, as R's ``performance::check_overdispersion``:
the Pearson χ² (the sum of squared Pearson residuals) against its residual degrees of
freedom, their ratio, and the upper-tail χ² p-value. A ratio well above 1 says the counts
vary more than the Poisson allows (consider ``glmer_nb`` or an observation-level random
effect)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from lmeformula.errors import ArgumentTypeError
from lmeformula.families import NegativeBinomial, Poisson
from lmeformula.results.glmer import GlmerResult

__all__ = ["check_overdispersion"]


def check_overdispersion(fit: GlmerResult) -> dict[str, float]:
    """performance's ``check_overdispersion`` for a Poisson (or negative binomial) glmer fit.

    Returns
    -------
    dict
        ``chisq``, ``ratio`` (χ² / residual df), ``rdf`` and ``p_value``.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.glmer("count ~ spp + mined + (1 | site)", lmf.datasets.load("salamanders"),
    ...                 family="poisson")
    >>> round(check_overdispersion(fit)["ratio"], 2)  # R: check_overdispersion(m)
    2.32
    """
    if not isinstance(fit, GlmerResult) or not isinstance(fit.family, (Poisson, NegativeBinomial)):
        raise ArgumentTypeError(
            "check_overdispersion is for count models (a Poisson or negative binomial glmer "
            f"fit), got {getattr(fit, 'family', type(fit).__name__)!r}."
        )
    chisq = float(np.sum(fit.residuals("pearson") ** 2))
    rdf = float(fit.df_resid)
    return {
        "chisq": chisq,
        "ratio": chisq / rdf,
        "rdf": rdf,
        "p_value": float(stats.chi2.sf(chisq, rdf)),
    }
