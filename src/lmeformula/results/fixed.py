"""The fixed effects as pandas objects, made on first use.

A fit's β̂ and Var(β̂) are arrays; their Series and DataFrame indexed by R's coefficient
names cost more to build than a small model's whole optimisation (pandas 3 makes an Arrow
array of each list of names), and many fits (bootstrap replicates, ``fit_many``, anova's
refits) never read them. Both results classes take them from here.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

__all__ = ["FixedEffectTables"]


class FixedEffectTables:
    """``fixef``, ``fixef_se`` and ``vcov`` from :meth:`fixed_arrays`, each built once.

    Examples
    --------
    >>> class Fit(FixedEffectTables):
    ...     def fixed_arrays(self):
    ...         return ("(Intercept)", "x"), np.array([1.0, 2.0]), np.diag([4.0, 9.0])
    >>> Fit().fixef_se.tolist()
    [2.0, 3.0]
    """

    def fixed_arrays(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """The coefficient names, β̂ and Var(β̂)."""
        raise NotImplementedError

    @cached_property
    def _fixed(self) -> tuple[pd.Index, np.ndarray, np.ndarray]:
        names, beta, cov = self.fixed_arrays()
        return pd.Index(list(names)), np.asarray(beta, dtype=float), np.asarray(cov, dtype=float)

    @cached_property
    def fixef(self) -> pd.Series:
        """The fixed effects, indexed by R's coefficient names (lme4's ``fixef``)."""
        index, beta, _ = self._fixed
        return pd.Series(beta, index=index.copy(), name="estimate")

    @cached_property
    def fixef_se(self) -> pd.Series:
        """Their standard errors."""
        index, _, cov = self._fixed
        return pd.Series(np.sqrt(np.diag(cov)), index=index.copy(), name="std_error")

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Their covariance (lme4's ``vcov``)."""
        index, _, cov = self._fixed
        return pd.DataFrame(cov, index=index.copy(), columns=index.copy())
