"""The random-effects covariance-structure contract.

Interface notes (every structure implements all of these; an engine needs nothing else):

- A structure describes the covariance Σ of the ``p`` random effects of one term *relative
  to the residual variance*: Σ / σ² = Λ Λ', with Λ lower triangular (lme4's relative
  covariance factor).
- ``n_theta``: how many free parameters θ the optimizer sees.
- ``lower`` / ``upper``: bounds of θ (lme4: 0 for the diagonal of Λ, -inf elsewhere; a
  correlation parameter lives in its pattern's box), so that a bounded optimizer can reach
  the boundary, where singular fits live.
- ``start()``: θ giving Λ = I (lme4's start).
- ``lambda_block(theta)``: the p x p matrix Λ; a pure function of θ.
- ``theta_from_cov(rel_cov)``: the inverse map, from a relative covariance to θ (used to
  carry estimates between engines).
- ``param_names(columns)``: a name per θ, for optimizer records.
- ``sdcor(theta, sigma)`` / ``theta_from_sdcor(values, sigma)`` / ``sdcor_bounds()``: the
  parameters on lme4's reporting scale (``confint``, ``profile``, ``bootMer``), one value
  per θ entry: standard deviations (relative ones times σ) and correlations, with their
  bounds ([0, ∞) and [-1, 1]).
- ``theta_positions()``: where θ's entries sit in Λ when Λ is θ placed among zeros (UN,
  DIAG, ID): ``(rows, columns, which θ)``, so that an engine can write θ straight into a
  large Λ and differentiate through it; None otherwise.
- ``correlation_params(theta)``: the structure's correlation parameters on their natural
  scale (``{"rho": 0.8}`` for CS and AR(1), the lag correlations for Toeplitz), for
  printing; empty for UN, DIAG and ID, whose correlations are the covariance's own.
- Capabilities, read instead of the structure's name: ``correlated`` (its random effects
  correlate: VarCorr lists correlations), ``free_elements()`` (the entries of Σ that are
  free parameters when Σ is any covariance with zeros elsewhere, UN's lower triangle and
  DIAG's diagonal, else None: what Kenward-Roger's linear covariance and statsmodels' free
  mask need, and lme4's observations-against-random-effects check), ``covers(other)`` (the
  other structure is a special case: nested models), ``special`` (how a formula writes it).
  What a kind needs of its term before it is built (``time_indexed``: one column per
  integer time) is its registration's (:data:`lmeformula.structures.random.KINDS`).

Λ need not be triangular: the deviance depends on Λ Λ' only, so a structure may return any
square root (a symmetric one where a correlation sits on its bound and Cholesky fails).
The correlation patterns themselves (compound symmetry, AR(1), Toeplitz, unstructured) are
written once in :mod:`.patterns`, for this side and the residual side alike; the kinds
are registered in :mod:`.random`.

Structures are mappings, not solvers: they import no engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

__all__ = ["CovStructure"]


class CovStructure(ABC):
    """Base class of random-effects covariance structures (see the module's interface notes)."""

    #: The registry's name of the kind (UN, DIAG, CS, ...): for messages and display only.
    kind: str = ""
    #: How a formula writes the kind (``"cs"``, ``"homdiag"``; None: a plain bar).
    special: str | None = None

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
        """The p x p relative covariance factor Λ."""

    @abstractmethod
    def theta_from_cov(self, rel_cov: np.ndarray) -> np.ndarray:
        """θ whose Λ Λ' is (the structure's projection of) ``rel_cov``."""

    @abstractmethod
    def param_names(self, columns: list[str]) -> list[str]:
        """A name per θ."""

    @property
    @abstractmethod
    def correlated(self) -> bool:
        """Whether the term's random effects correlate."""

    @abstractmethod
    def covers(self, other: CovStructure) -> bool:
        """Whether ``other`` (on the same columns) is a special case of this structure."""

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

    def theta_positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Where θ's entries sit in Λ (rows, columns, which θ) when Λ is just θ placed in a
        p x p matrix of zeros, so an engine may write θ in place; None otherwise."""
        return None

    def free_elements(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The entries (rows, columns, lower triangle) of Σ that are free parameters when Σ
        is any covariance with zeros elsewhere; None for patterned structures."""
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
