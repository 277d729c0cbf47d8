"""Small-sample tests of fixed effects: Satterthwaite's degrees of freedom as lmerTest
computes them.

lmerTest's recipe (Kuznetsova, Brockhoff & Christensen 2017, JSS 82(13)): take the
variance parameters ψ = (θ, σ) (and a residual structure's parameters), the deviance
d(ψ) = -2 log L *not* profiled over σ, and

    Var(ψ̂) = 2 H⁻¹,   H = ∂²d/∂ψ²  at ψ̂
    J_i = ∂ Var(β̂)(ψ) / ∂ψ_i,   Var(β̂)(ψ) = σ² (R_X'R_X)⁻¹(θ)

For a contrast l (a row of L): v = l Var(β̂) l', g_i = l J_i l', and

    df = 2 v² / (g' Var(ψ̂) g).

The derivatives are numerical, by numDeriv's schemes as lmerTest takes them (see
``numderiv``). This module sits above the results: it rebuilds
the fit's engine from its design to evaluate the likelihood near the optimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as la
from scipy import stats

from lmeformula.engines.factory import make_engine
from lmeformula.engines.solution import deviance_at_sigma
from lmeformula.inference.kenward_roger import kenward_roger
from lmeformula.inference.numderiv import hessian, jacobian
from lmeformula.results.memo import once_per_fit

__all__ = ["Satterthwaite", "satterthwaite", "t_tests"]


@dataclass
class Satterthwaite:
    """What Satterthwaite's df need, computed once per fit.

    Attributes
    ----------
    vcov_beta
        Var(β̂) at the estimates.
    vcov_varpar
        2 H⁻¹: the asymptotic covariance of the variance parameters.
    jacobian
        (k, p, p): ∂ Var(β̂) / ∂ψ_i.
    """

    vcov_beta: np.ndarray
    vcov_varpar: np.ndarray
    jacobian: np.ndarray

    def df(self, L: np.ndarray) -> np.ndarray:
        """Satterthwaite df of each row of L."""
        L = np.atleast_2d(L)
        v = np.einsum("ri,ij,rj->r", L, self.vcov_beta, L)
        g = np.einsum("ri,kij,rj->rk", L, self.jacobian, L)
        denom = np.einsum("rk,kl,rl->r", g, self.vcov_varpar, g)
        return 2 * v**2 / denom


@once_per_fit
def satterthwaite(result: Any) -> Satterthwaite:
    """Satterthwaite's ingredients for a fitted model (see the module docstring), computed
    once per fit (the Hessian of the deviance costs O(k²) likelihood evaluations).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> s = lmf.inference.satterthwaite(fit)
    >>> [round(float(v), 2) for v in s.df(np.eye(2))]
    [17.0, 17.0]
    """
    problem = make_engine(result.state.model)
    n, p = result.nobs, len(result.fixef)
    m = n - p if result.reml else n
    x0 = np.r_[result.state.params, result.sigma]

    def deviance(x: np.ndarray) -> float:
        # -2 log L at (θ, σ), not profiled over σ.
        sol = problem.solve(x[:-1])
        return deviance_at_sigma(sol.deviance, sol.pwrss, m, x[-1])

    def covbeta(x: np.ndarray) -> np.ndarray:
        sol = problem.solve(x[:-1])
        rinv = la.solve_triangular(sol.RX, np.eye(p))
        return x[-1] ** 2 * (rinv @ rinv.T)

    vcov_varpar = 2 * np.linalg.pinv(hessian(deviance, x0))
    jac = jacobian(covbeta, x0)
    return Satterthwaite(covbeta(x0), vcov_varpar, jac)


def t_tests(result: Any, L: np.ndarray, ddf: str) -> dict[str, np.ndarray]:
    """Estimates, SEs, t, df and p-values of the contrasts L β as lmerTest reports them.

    ``ddf="satterthwaite"``, ``"kenward-roger"`` (adjusted standard errors, as lmerTest
    with pbkrtest) or ``"wald"`` (df = inf: the normal distribution).
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    beta = result.fixef.to_numpy()
    kr = kenward_roger(result) if ddf == "kenward-roger" else None
    # Kenward-Roger tests with its bias-corrected covariance, as lmerTest does.
    V = result.vcov.to_numpy() if kr is None else kr.vcov_adjusted
    est = L @ beta
    se = np.sqrt(np.einsum("ri,ij,rj->r", L, V, L))
    t = est / se
    if ddf == "wald":
        df = np.full(len(est), np.inf)
    elif kr is not None:
        df = np.array([kr.df(row[None, :])[0] for row in L])
    else:
        df = satterthwaite(result).df(L)
    p = 2 * stats.t.sf(np.abs(t), df)
    return {"estimate": est, "std_error": se, "statistic": t, "df": df, "p_value": p}
