"""The conditional modes in lme4's layouts, from a fit's state alone: ``ranef(m)`` (a
frame per grouping factor), ``as.data.frame(ranef(m, condVar = TRUE))`` and ``coef(m)``.
One computation for every kind of fit (lmer, gls, glmer)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmeformula.results.state import ModelState

__all__ = ["coef_frames", "ranef_frames", "ranef_long"]


def ranef_frames(state: ModelState) -> dict[str, pd.DataFrame]:
    """lme4's ``ranef(m)``: per grouping factor, levels x terms' columns (several terms on
    one factor side by side)."""
    out: dict[str, pd.DataFrame] = {}
    for block in state.term_blocks:
        term, cols = block.term, block.columns
        vals = state.b[cols].reshape(term.factor.nlevels, term.p)
        df = pd.DataFrame(
            vals, index=pd.Index(term.factor.levels, name=term.name), columns=term.columns
        )
        out[term.name] = pd.concat([out[term.name], df], axis=1) if term.name in out else df
    return out


def ranef_long(state: ModelState, cond_var: np.ndarray) -> pd.DataFrame:
    """``as.data.frame(ranef(m, condVar = TRUE))``: ``grpvar, term, grp, condval, condsd``,
    with ``cond_var`` the conditional variances of b (length q, on the response's scale)."""
    rows = []
    for block in state.term_blocks:
        term, cols = block.term, block.columns
        vals = state.b[cols].reshape(term.factor.nlevels, term.p)
        sds = np.sqrt(cond_var[cols]).reshape(term.factor.nlevels, term.p)
        for j, col in enumerate(term.columns):
            rows.append(
                pd.DataFrame(
                    {
                        "grpvar": term.name,
                        "term": col,
                        "grp": list(term.factor.levels),
                        "condval": vals[:, j],
                        "condsd": sds[:, j],
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def coef_frames(fixef: pd.Series, ranef: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """lme4's ``coef(m)``: fixed plus random effects, one row per level of each factor."""
    out = {}
    for name, re in ranef.items():
        df = pd.DataFrame(
            np.tile(fixef.to_numpy(), (len(re), 1)), index=re.index, columns=fixef.index
        )
        for col in re.columns:
            df[col] = df[col] + re[col] if col in df.columns else re[col]
        out[name] = df
    return out
