"""Confidence intervals of all the parameters, as lme4's ``confint.merMod``.

Rows are lme4's: ``.sig01``, ``.sig02``, ... (standard deviations and correlations of the
random effects), ``.sigma``, then the fixed effects; columns are R's percentage labels
(``"2.5 %"``, ``"97.5 %"``).

- ``"profile"`` (lme4's default): likelihood-profile intervals (:mod:`.profile`), from the
  ML fit as lme4 profiles it.
- ``"wald"``: β̂ ± z SE for the fixed effects (the fit's own covariance) and NaN for the
  variance parameters, as lme4.
- ``"boot"``: percentile intervals of a parametric bootstrap (:mod:`.bootstrap`) with
  lme4's statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from lmeformula.errors import ArgumentTypeError
from lmeformula.inference.bootstrap import BOOT_TYPES, bootstrap, format_percent, interval_tails
from lmeformula.inference.profile import profile, profile_confint, select_parameters
from lmeformula.results.lmer import LmerResult
from lmeformula.results.varpar import sdcor_names

__all__ = ["METHODS", "confint"]

METHODS = ("profile", "wald", "boot")


def _method(method: Any) -> str:
    name = method.lower() if isinstance(method, str) else method
    if name not in METHODS:
        raise ArgumentTypeError(
            f"method must be one of {METHODS} (lme4's 'profile', 'Wald', 'boot'), got {method!r}."
        )
    return str(name)


def confint(
    result: LmerResult,
    parm: Any = None,
    level: float = 0.95,
    method: str = "profile",
    nsim: int = 500,
    seed: Any = None,
    boot_type: str = "perc",
    n_jobs: int = 1,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Confidence intervals; see :meth:`lmeformula.LmerResult.confint`."""
    method = _method(method)
    a = interval_tails(level)
    labels = format_percent(a)
    names = sdcor_names(result.state.design) + list(result.fixef.index)
    nvp = len(names) - len(result.fixef)
    idx = select_parameters(parm, names, nvp)
    wanted = [names[i] for i in idx]
    if method == "wald":
        z = stats.norm.ppf(a)
        beta = result.fixef.to_numpy()
        se = result.fixef_se.to_numpy()
        fixed = beta[:, None] + se[:, None] * z[None, :]
        values = np.vstack([np.full((nvp, 2), np.nan), fixed])
        table = pd.DataFrame(values, index=names, columns=labels)
        return table.loc[wanted]
    if method == "profile":
        # All parameters unless asked for fewer, so that profile() shares the same cache.
        which = None if parm is None else idx
        table = profile(result, which=which, progress=progress)
        return profile_confint(table, level).loc[wanted]
    if boot_type not in BOOT_TYPES:
        raise ArgumentTypeError(f"boot_type must be one of {BOOT_TYPES}, got {boot_type!r}.")
    boot = bootstrap(result, nsim, seed=seed, n_jobs=n_jobs, progress=progress)
    table = boot.confint(level, type=boot_type)
    # The bootstrap also carries a residual structure's parameters: keep them when all are
    # asked for, as lme4 returns every statistic it bootstrapped.
    if parm is None:
        return table
    return table.loc[wanted]
