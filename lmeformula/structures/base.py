"""The covariance-structure contract.

Interface notes (every structure implements all of these; an engine needs nothing else):

- A structure describes the covariance Σ of the ``p`` random effects of one term *relative
  to the residual variance*: Σ / σ² = Λ Λ', with Λ lower triangular (lme4's relative
  covariance factor).
- ``n_theta``: how many free parameters θ the optimizer sees.
- ``lower`` / ``upper``: bounds of θ (lme4: 0 for the diagonal of Λ, -inf elsewhere; a
  correlation parameter lives in [-1, 1]), so that a bounded optimizer can reach the
  boundary, where singular fits live. ``upper`` defaults to +inf.
- ``start()``: θ giving Λ = I (lme4's start).
- ``lambda_block(theta)``: the p x p matrix Λ; a pure function of θ.
- ``theta_from_cov(rel_cov)``: the inverse map, from a relative covariance to θ (used to
  carry estimates between engines).
- ``param_names(columns)``: a name per θ, for optimizer records.
- ``sdcor(theta, sigma)`` / ``theta_from_sdcor(values, sigma)`` / ``sdcor_bounds()``: the
  parameters on lme4's reporting scale (``confint``, ``profile``, ``bootMer``), one value
  per θ entry: standard deviations (relative ones times σ) and correlations, with their
  bounds ([0, ∞) and [-1, 1]). By default θ's first ``sd_count()`` entries are relative
  standard deviations and the rest correlation parameters, which is what the structured
  kinds hold; UN and DIAG override.
- ``theta_positions()``: where θ's entries sit in Λ when Λ is θ placed among zeros (UN,
  DIAG), so that an engine can write θ straight into a large Λ; None otherwise.
- ``correlation_params(theta)``: the structure's correlation parameters on their natural
  scale (``{"rho": 0.8}`` for CS and AR(1), the lag correlations for Toeplitz), for
  printing; empty for UN, DIAG and ID, whose correlations are the covariance's own.

Λ need not be triangular: the deviance depends on Λ Λ' only, so a structure may return any
square root (a symmetric one where a correlation sits on its bound and Cholesky fails).
Structured kinds (ID, CS, CSH, AR1, ARH1, TOEP, TOEPH) live in :mod:`.random`; residual
structures, which share the correlation functions of :mod:`.correlation`, in
:mod:`.residual`.

Structures are mappings, not solvers: they import no engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from lmeformula.errors import NotExpressibleError

__all__ = ["CovStructure", "Diagonal", "Unstructured", "make_structure"]


class CovStructure(ABC):
    """Base class of random-effects covariance structures (see the module's interface notes)."""

    kind: str = ""

    def __init__(self, p: int) -> None:
        self.p = p

    @property
    @abstractmethod
    def n_theta(self) -> int:
        """Number of free parameters."""

    @property
    @abstractmethod
    def lower(self) -> np.ndarray:
        """Lower bounds of θ."""

    @abstractmethod
    def start(self) -> np.ndarray:
        """θ giving Λ = I."""

    @abstractmethod
    def lambda_block(self, theta: np.ndarray) -> np.ndarray:
        """The p x p lower-triangular relative covariance factor Λ."""

    @abstractmethod
    def theta_from_cov(self, rel_cov: np.ndarray) -> np.ndarray:
        """θ whose Λ Λ' is (the structure's projection of) ``rel_cov``."""

    @abstractmethod
    def param_names(self, columns: list[str]) -> list[str]:
        """A name per θ."""

    @property
    def upper(self) -> np.ndarray:
        """Upper bounds of θ (+inf unless the structure bounds a correlation)."""
        return np.full(self.n_theta, np.inf)

    def correlation_params(self, theta: np.ndarray) -> dict[str, float]:
        """Correlation parameters on their natural scale (none for UN, DIAG, ID)."""
        return {}

    def rel_cov(self, theta: np.ndarray) -> np.ndarray:
        """Σ / σ² = Λ Λ'."""
        lam = self.lambda_block(theta)
        return lam @ lam.T

    def sd_count(self) -> int:
        """How many of θ's first entries are relative standard deviations."""
        return self.n_theta

    def theta_positions(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Where θ's entries sit in Λ (rows, columns) when Λ is just θ placed in a p x p
        matrix of zeros, so an engine may write θ in place; None otherwise."""
        return None

    def sdcor(self, theta: np.ndarray, sigma: float) -> np.ndarray:
        """θ on lme4's scale: standard deviations (times σ), then correlation parameters."""
        th, k = np.asarray(theta, dtype=float), self.sd_count()
        return np.concatenate([sigma * th[:k], th[k:]])

    def theta_from_sdcor(self, values: np.ndarray, sigma: float) -> np.ndarray:
        """The inverse of :meth:`sdcor`."""
        v, k = np.asarray(values, dtype=float), self.sd_count()
        return np.concatenate([v[:k] / sigma, v[k:]])

    def sdcor_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of :meth:`sdcor`'s values (those of θ, for the default scale)."""
        return self.lower, self.upper


class Unstructured(CovStructure):
    """lme4's default: any positive semi-definite Σ; θ is Λ's lower triangle by column.

    Examples
    --------
    >>> s = Unstructured(2)
    >>> s.lambda_block(np.array([1.0, 0.5, 2.0]))
    array([[1. , 0. ],
           [0.5, 2. ]])
    """

    kind = "UN"

    def __init__(self, p: int) -> None:
        super().__init__(p)
        # Column-major lower triangle, as lme4 stores θ.
        cols, rows = np.triu_indices(p)
        self._rows, self._cols = rows, cols

    @property
    def n_theta(self) -> int:
        return self.p * (self.p + 1) // 2

    @property
    def lower(self) -> np.ndarray:
        return np.where(self._rows == self._cols, 0.0, -np.inf)

    def start(self) -> np.ndarray:
        return (self._rows == self._cols).astype(float)

    def lambda_block(self, theta: np.ndarray) -> np.ndarray:
        lam = np.zeros((self.p, self.p))
        lam[self._rows, self._cols] = theta
        return lam

    def theta_from_cov(self, rel_cov: np.ndarray) -> np.ndarray:
        lam = _psd_cholesky(rel_cov)
        return lam[self._rows, self._cols]

    def param_names(self, columns: list[str]) -> list[str]:
        return [
            f"sd[{columns[r]}]" if r == c else f"cor[{columns[c]},{columns[r]}]"
            for r, c in zip(self._rows, self._cols, strict=True)
        ]

    def theta_positions(self) -> tuple[np.ndarray, np.ndarray] | None:
        return self._rows, self._cols

    def sdcor(self, theta: np.ndarray, sigma: float) -> np.ndarray:
        # The entries of Σ = σ² ΛΛ' where θ has Λ's: sd on the diagonal, correlation below.
        lam = self.lambda_block(theta)
        cov = sigma**2 * (lam @ lam.T)
        sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        denom = np.outer(sd, sd)
        cor = np.divide(cov, denom, out=np.zeros_like(cov), where=denom > 0)
        rows, cols = self._rows, self._cols
        return np.where(rows == cols, sd[rows], cor[rows, cols])

    def theta_from_sdcor(self, values: np.ndarray, sigma: float) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        rows, cols = self._rows, self._cols
        diag = rows == cols
        sd = np.zeros(self.p)
        sd[rows[diag]] = v[diag]
        cor = np.eye(self.p)
        cor[rows[~diag], cols[~diag]] = v[~diag]
        cor[cols[~diag], rows[~diag]] = v[~diag]
        # A correlation of ±1 leaves Σ semi-definite: lme4 pivots its Cholesky there.
        lam = _psd_cholesky(np.outer(sd, sd) * cor / sigma**2)
        return lam[rows, cols]

    def sdcor_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        diag = self._rows == self._cols
        return np.where(diag, 0.0, -1.0), np.where(diag, np.inf, 1.0)


class Diagonal(CovStructure):
    """A variance per column and no correlation (``(x || g)``, ``diag(x | g)``)."""

    kind = "DIAG"

    @property
    def n_theta(self) -> int:
        return self.p

    @property
    def lower(self) -> np.ndarray:
        return np.zeros(self.p)

    def start(self) -> np.ndarray:
        return np.ones(self.p)

    def lambda_block(self, theta: np.ndarray) -> np.ndarray:
        return np.diag(np.asarray(theta, dtype=float))

    def theta_from_cov(self, rel_cov: np.ndarray) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(rel_cov), 0.0, None))

    def theta_positions(self) -> tuple[np.ndarray, np.ndarray] | None:
        return np.arange(self.p), np.arange(self.p)

    def param_names(self, columns: list[str]) -> list[str]:
        return [f"sd[{c}]" for c in columns]


def _psd_cholesky(cov: np.ndarray) -> np.ndarray:
    # A boundary estimate may be only semi-definite; factor it column by column and keep
    # the zero columns rather than failing as numpy's Cholesky would.
    p = cov.shape[0]
    lam = np.zeros_like(cov, dtype=float)
    for j in range(p):
        d = cov[j, j] - lam[j, :j] @ lam[j, :j]
        if d <= 1e-14 * max(1.0, abs(cov[j, j])):
            continue
        lam[j, j] = np.sqrt(d)
        lam[j + 1 :, j] = (cov[j + 1 :, j] - lam[j + 1 :, :j] @ lam[j, :j]) / lam[j, j]
    return lam


def make_structure(kind: str, p: int, positions: np.ndarray | None = None) -> CovStructure:
    """The structure object for a SAS name.

    Parameters
    ----------
    kind
        SAS name (UN, DIAG, ID, CS, CSH, AR1, ARH1, TOEP, TOEPH).
    p
        Number of columns of the term.
    positions
        Time of each column for AR(1) and Toeplitz (default 0, 1, ..., p - 1).

    Raises
    ------
    NotExpressibleError
        For an unknown kind.
    """
    from lmeformula.structures.random import STRUCTURED

    if kind == "UN":
        return Unstructured(p)
    if kind == "DIAG":
        return Diagonal(p)
    try:
        cls = STRUCTURED[kind]
    except KeyError:
        raise NotExpressibleError(f"covariance structure {kind!r} is not known.") from None
    return cls(p, kind, positions)
