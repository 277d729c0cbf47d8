"""Our numbers at R's estimates.

Where a likelihood is flat (Orthodont's and sleepstudy's random slopes, Machines'
unstructured covariance), lme4's BOBYQA stops a little short of the optimum, and lmeformula,
which finishes with Newton steps, reaches a slightly higher likelihood; what follows from
the estimates (standard errors, df, marginal means, printed digits) then differs from R's
in digits that R's optimizer, not the model, decided. A test that holds such numbers to R
computes them at R's own estimates (lme4's θ, from ``as.data.frame(VarCorr(m))`` or
``getME(m, "theta")``), and a separate test shows that our optimum is at least as good
(test_reference.py::test_deviance_at_most_lme4s).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import lmeformula as lmf
from lmeformula.fitting.stages import result_at


def theta_from_varcorr(fit: lmf.LmerResult, varcorr: Sequence[dict[str, Any]]) -> np.ndarray:
    """lme4's θ from R's ``as.data.frame(VarCorr(m))`` rows (unstructured and diagonal
    terms): each term's covariance over σ², factored as lme4 factors it."""
    sigma = next(r["sdcor"] for r in varcorr if r["grp"] == "Residual" and not r["var1"])
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in varcorr:
        if row["grp"] != "Residual":
            groups.setdefault(row["grp"], []).append(row)
    parts = []
    for block, rows in zip(fit.state.term_blocks, groups.values(), strict=True):
        cols = block.term.columns
        cov = np.zeros((len(cols), len(cols)))
        for r in rows:
            i = cols.index(r["var1"])
            j = cols.index(r["var2"]) if r["var2"] else i
            cov[i, j] = cov[j, i] = r["vcov"]
        parts.append(block.term.structure.theta_from_cov(cov / sigma**2))
    return np.concatenate(parts)


def at_r_estimates(fit: lmf.LmerResult, theta: Sequence[float]) -> lmf.LmerResult:
    """The same model evaluated at R's θ (no optimisation)."""
    return result_at(fit.state.model, theta, data_name=fit.data_name)
