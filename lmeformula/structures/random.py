"""Structured random-effects covariances: ID, CS, CSH, AR1, ARH1, TOEP, TOEPH.

Each is Σ/σ² = S C(ρ) S with S the relative standard deviations (one shared, or one per
column for the heterogeneous kinds) and C a correlation matrix of the kind's pattern. θ is
[standard deviations..., correlation parameters...]: the deviations are bounded below by 0
as lme4 bounds the diagonal of Λ; correlation parameters live in a box (CS: ρ in
[-1/(p-1), 1]; AR(1): ρ in [-1, 1]; Toeplitz: partial autocorrelations in [-1, 1], which
keep every Toeplitz matrix positive semi-definite without a check).

How they map to nlme and SAS:

=========  ================================  ===================================
lme4 2.x   nlme ``random=``                  SAS ``RANDOM ... / TYPE=``
=========  ================================  ===================================
homdiag    ``pdIdent(~ 0 + f)``              ``TYPE=VC`` with one variance
diag       ``pdDiag(~ 0 + f)``               ``GROUP=f`` (a variance per level)
homcs      ``pdCompSymm(~ 0 + f)``           ``TYPE=CS``
cs         (no pd class)                     ``TYPE=CSH``
ar1        (no pd class)                     ``TYPE=AR(1)``
hetar1     (no pd class)                     ``TYPE=ARH(1)``
homtoep    (no pd class)                     ``TYPE=TOEP``
toep       (no pd class)                     ``TYPE=TOEPH``
=========  ================================  ===================================
"""

from __future__ import annotations

import numpy as np

from lmeformula.errors import FormulaError
from lmeformula.structures.base import CovStructure
from lmeformula.structures.correlation import (
    acf_from_pacf,
    ar1_corr,
    cs_corr,
    pacf_from_acf,
    psd_sqrt,
    toeplitz_corr,
)

__all__ = ["STRUCTURED", "Structured"]

# kind -> (a standard deviation per column?, correlation pattern)
_KINDS: dict[str, tuple[bool, str | None]] = {
    "ID": (False, None),
    "CS": (False, "cs"),
    "CSH": (True, "cs"),
    "AR1": (False, "ar1"),
    "ARH1": (True, "ar1"),
    "TOEP": (False, "toep"),
    "TOEPH": (True, "toep"),
}


class Structured(CovStructure):
    """A structured covariance of ``p`` random effects (see the module docstring).

    Parameters
    ----------
    p
        Number of columns of the term.
    kind
        SAS name: ID, CS, CSH, AR1, ARH1, TOEP or TOEPH.
    positions
        Integer time of each column (AR(1), Toeplitz); by default 0, 1, ..., p - 1.

    Examples
    --------
    >>> s = Structured(3, "AR1")
    >>> s.rel_cov(np.array([2.0, 0.5]))
    array([[4., 2., 1.],
           [2., 4., 2.],
           [1., 2., 4.]])
    >>> s.correlation_params(np.array([2.0, 0.5]))
    {'rho': 0.5}
    """

    def __init__(self, p: int, kind: str, positions: np.ndarray | None = None) -> None:
        super().__init__(p)
        self.kind = kind
        self.het, self.pattern = _KINDS[kind]
        if self.pattern is not None and p < 2:
            raise FormulaError(
                f"a {kind} covariance correlates the term's columns, but this term has one "
                "column, so its correlation cannot be identified; give it several columns "
                "(e.g. 0 + factor(time)) or use a plain bar (x | g)."
            )
        pos = np.arange(p) if positions is None else np.asarray(positions, dtype=int)
        self.positions = pos - pos.min()
        self.n_sd = p if self.het else 1
        if self.pattern == "toep":
            self.n_corr = int(self.positions.max())
            lags = set(np.abs(self.positions[:, None] - self.positions[None, :]).ravel())
            missing = [k for k in range(1, self.n_corr + 1) if k not in lags]
            if missing:
                raise FormulaError(
                    f"a {kind} covariance has a correlation per lag, but no two of the "
                    f"term's times are {missing[0]} apart, so that lag's correlation cannot "
                    "be identified; use factor(time) (lags count levels) or ar1()."
                )
        else:
            self.n_corr = 0 if self.pattern is None else 1

    @property
    def n_theta(self) -> int:
        return self.n_sd + self.n_corr

    def sd_count(self) -> int:
        return self.n_sd

    @property
    def lower(self) -> np.ndarray:
        low = -1.0 / (self.p - 1) if self.pattern == "cs" else -1.0
        return np.concatenate([np.zeros(self.n_sd), np.full(self.n_corr, low)])

    @property
    def upper(self) -> np.ndarray:
        return np.concatenate([np.full(self.n_sd, np.inf), np.ones(self.n_corr)])

    def start(self) -> np.ndarray:
        return np.concatenate([np.ones(self.n_sd), np.zeros(self.n_corr)])

    def _sds(self, theta: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(theta[: self.n_sd], dtype=float), (self.p,))

    def correlation(self, theta: np.ndarray) -> np.ndarray:
        """The p x p correlation matrix C at θ."""
        par = np.asarray(theta[self.n_sd :], dtype=float)
        if self.pattern == "cs":
            return cs_corr(float(par[0]), self.p)
        if self.pattern == "ar1":
            return ar1_corr(float(par[0]), self.positions)
        if self.pattern == "toep":
            return toeplitz_corr(acf_from_pacf(par), self.positions)
        return np.eye(self.p)

    def lambda_block(self, theta: np.ndarray) -> np.ndarray:
        sds = self._sds(theta)
        if self.pattern is None:
            return np.diag(sds)
        return sds[:, None] * psd_sqrt(self.correlation(theta))

    def rel_cov(self, theta: np.ndarray) -> np.ndarray:
        sds = self._sds(theta)
        return sds[:, None] * self.correlation(theta) * sds[None, :]

    def theta_from_cov(self, rel_cov: np.ndarray) -> np.ndarray:
        var = np.clip(np.diag(rel_cov), 0.0, None)
        sds = np.sqrt(var) if self.het else np.array([np.sqrt(var.mean())])
        denom = np.sqrt(np.outer(var, var))
        corr = np.divide(rel_cov, denom, out=np.zeros_like(rel_cov), where=denom > 0)
        # A column with zero variance has no correlations: leave its pairs out.
        lag = np.where(denom > 0, np.abs(self.positions[:, None] - self.positions[None, :]), 0)
        if self.pattern == "cs":
            par = [corr[lag > 0].mean() if (lag > 0).any() else 0.0]
        elif self.pattern == "ar1":
            # ρ from the shortest observed lag d: corr = ρ^d.
            d = lag[lag > 0].min() if (lag > 0).any() else 0
            r = corr[lag == d].mean() if d else 0.0
            par = [np.sign(r) ** (d % 2) * abs(r) ** (1.0 / d) if d else 0.0]
        elif self.pattern == "toep":
            acf = [
                corr[lag == k].mean() if (lag == k).any() else 0.0
                for k in range(1, self.n_corr + 1)
            ]
            par = list(pacf_from_acf(np.array(acf)))
        else:
            par = []
        theta = np.concatenate([sds, np.asarray(par, dtype=float)])
        return np.clip(theta, self.lower, self.upper)

    def param_names(self, columns: list[str]) -> list[str]:
        sds = [f"sd[{c}]" for c in columns] if self.het else ["sd"]
        if self.pattern == "toep":
            return sds + [f"pacf[{k}]" for k in range(1, self.n_corr + 1)]
        return sds + (["rho"] if self.n_corr else [])

    def correlation_params(self, theta: np.ndarray) -> dict[str, float]:
        par = np.asarray(theta[self.n_sd :], dtype=float)
        if self.pattern == "toep":
            return {f"rho[{k}]": float(r) for k, r in enumerate(acf_from_pacf(par), start=1)}
        return {"rho": float(par[0])} if self.n_corr else {}


STRUCTURED: dict[str, type[Structured]] = {kind: Structured for kind in _KINDS}
