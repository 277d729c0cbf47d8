"""Correlation patterns, each written once for the random-effects side and the residual side.

Interface notes (every pattern implements all of these; a structure needs nothing else):

- A pattern is a parametric correlation matrix C(φ) over the positions of one block: the
  columns of a random-effects term (their times, for AR(1) and Toeplitz), or one subject's
  rows (its times or coordinates). :class:`Unstructured` alone is a whole covariance.
- ``n_par(times)``: how many parameters for ``times`` distinct positions (T).
- ``bounds(times, size)``: the box of φ (``size`` is the largest block: compound symmetry
  needs ρ ≥ -1/(size - 1)). The bounds are closed, where a singular C is still a
  covariance; the residual side, which factors C itself, keeps ``edge`` inside them.
- ``start(times, spacing)``: φ at independence (or near it: a range that is a tenth of the
  typical spacing, where independence itself is a limit).
- ``matrix(par, positions)``: C for a batch of blocks (see :class:`Positions`: ranks of the
  times and, for patterns of distance, the distances between coordinates).
- ``names(times, labels)`` and ``natural(par, labels)``: a label per parameter, for the
  optimizer's record, and the parameters as nlme reports them (``{"rho": 0.6}``,
  ``{"Phi1": ..., "Theta1": ...}``, ``{"range": ..., "nugget": ...}`` is added by the side).
- ``from_matrix(corr, lag, times)``: the inverse map on one block (to carry estimates between
  engines), ``lag`` the block's |i - j| with 0 where a pair tells nothing;
  ``identified(seen, labels)``: why the data cannot identify φ (and what to use
  instead), or None.
- Capabilities instead of names: ``correlated`` (False: independence), ``of_distance``
  (C depends on distances between coordinates, not on ranks), ``covariance`` (C is a
  whole covariance), ``nugget`` (a nugget may be added), ``independence_inside`` (φ = 0
  is independence inside the box, not a limit), ``special_cases`` (the patterns this one
  contains by fixing parameters, which nesting tests read).

Patterns are mappings, not solvers; both sides scale them by standard deviations of their
own (lme4's relative ones on the random side, nlme's ratios to the first time on the
residual side).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.linalg import lapack

__all__ = [
    "AR1",
    "ARMA",
    "CAR1",
    "CompoundSymmetry",
    "Exponential",
    "Gaussian",
    "Independence",
    "Linear",
    "Pattern",
    "Positions",
    "Ratio",
    "Spherical",
    "Toeplitz",
    "Unstructured",
    "acf_from_pacf",
    "ar_from_pacf",
    "arma_acf",
    "cs_corr",
    "pacf_from_acf",
    "psd_sqrt",
]


@dataclass(frozen=True)
class Positions:
    """Where the entries of a batch of blocks sit.

    Attributes
    ----------
    index
        (G, m) integer position of each entry, 0 .. times - 1: on the residual side the rank
        of its time among the distinct times, on the random-effects side the integer time of
        its column.
    times
        How many positions there are (T).
    distance
        (G, m, m) distances between the entries' coordinates, for patterns of distance
        (Euclidean; in one dimension |t_i - t_j|); None otherwise.
    """

    index: np.ndarray
    times: int
    distance: np.ndarray | None = None

    @property
    def lag(self) -> np.ndarray:
        """(G, m, m) |rank_i - rank_j|."""
        t = self.index
        return np.abs(t[..., :, None] - t[..., None, :])


class Pattern(ABC):
    """A correlation pattern (see the module's interface notes)."""

    #: The pattern's name, as nlme and SAS call the structure it makes.
    name: ClassVar[str] = ""
    correlated: ClassVar[bool] = True
    of_distance: ClassVar[bool] = False
    covariance: ClassVar[bool] = False
    nugget: ClassVar[bool] = False
    independence_inside: ClassVar[bool] = True
    #: How far inside its bounds the residual side keeps φ (C must stay invertible there).
    edge: ClassVar[float] = 1e-6

    @abstractmethod
    def n_par(self, times: int) -> int:
        """Number of parameters for ``times`` distinct positions."""

    @abstractmethod
    def bounds(self, times: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Closed box of φ."""

    def start(self, times: int, spacing: float) -> np.ndarray:
        """φ at independence."""
        return np.zeros(self.n_par(times))

    def starts(self, times: int, spacing: float, distances: np.ndarray) -> list[np.ndarray]:
        """Where an optimizer may start, best guess first (``distances``: the positive
        distances within blocks, for patterns of distance); by default :meth:`start`."""
        return [self.start(times, spacing)]

    @abstractmethod
    def matrix(self, par: np.ndarray, pos: Positions) -> np.ndarray:
        """C of each block: (G, m, m)."""

    @abstractmethod
    def names(self, times: int, labels: tuple[str, ...]) -> list[str]:
        """A label per parameter."""

    def natural(self, par: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
        """The parameters as nlme reports them."""
        return {}

    def from_matrix(self, corr: np.ndarray, lag: np.ndarray, times: int) -> np.ndarray:
        """φ whose C is (the pattern's projection of) one block's correlation ``corr``;
        ``lag`` is |i - j| of the block's positions, 0 where the pair tells nothing."""
        return self.start(times, 1.0)

    def identified(self, seen: np.ndarray, labels: tuple[str, ...]) -> str | None:
        """Why φ cannot be estimated when only the pairs of times in ``seen`` (T x T,
        True where some block has both) occur, and what to use instead; None when it can."""
        return None

    def special_cases(self) -> tuple[type[Pattern], ...]:
        """The patterns this one contains by fixing parameters at inside values."""
        return (Independence,)

    def contains(self, other: Pattern) -> bool:
        """Whether ``other`` is a special case of this pattern (or this pattern)."""
        if type(other) is type(self):
            return self._covers_same(other)
        return any(isinstance(other, cls) for cls in self.special_cases())

    def _covers_same(self, other: Pattern) -> bool:
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# -- independence, compound symmetry, AR(1), Toeplitz --------------------------------------


class Independence(Pattern):
    """C = I: no correlation (nlme's variance functions alone; lme4's ``||``)."""

    name = "ID"
    correlated = False

    def n_par(self, times: int) -> int:
        return 0

    def bounds(self, times: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(0), np.zeros(0)

    def matrix(self, par: np.ndarray, pos: Positions) -> np.ndarray:
        G, m = pos.index.shape
        return np.broadcast_to(np.eye(m), (G, m, m))

    def names(self, times: int, labels: tuple[str, ...]) -> list[str]:
        return []

    def special_cases(self) -> tuple[type[Pattern], ...]:
        return ()


def cs_corr(rho: float, m: int) -> np.ndarray:
    """Compound symmetry: 1 on the diagonal, ρ elsewhere.

    Examples
    --------
    >>> cs_corr(0.25, 2)
    array([[1.  , 0.25],
           [0.25, 1.  ]])
    """
    return np.full((m, m), rho) + (1.0 - rho) * np.eye(m)


class CompoundSymmetry(Pattern):
    """ρ between every two entries (nlme's ``corCompSymm``, SAS ``TYPE=CS``)."""

    name = "CS"

    def n_par(self, times: int) -> int:
        return 1

    def bounds(self, times: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        return np.array([-1.0 / (max(size, 2) - 1)]), np.ones(1)

    def matrix(self, par: np.ndarray, pos: Positions) -> np.ndarray:
        G, m = pos.index.shape
        return np.broadcast_to(cs_corr(float(par[0]), m), (G, m, m))

    def names(self, times: int, labels: tuple[str, ...]) -> list[str]:
        return ["rho"]

    def natural(self, par: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
        return {"rho": float(par[0])}

    def from_matrix(self, corr: np.ndarray, lag: np.ndarray, times: int) -> np.ndarray:
        return np.array([corr[lag > 0].mean() if (lag > 0).any() else 0.0])


class AR1(Pattern):
    """ρ^|i - j| over the ranks of the times (nlme's ``corAR1``, SAS ``TYPE=AR(1)``)."""

    name = "AR1"
    nugget = True

    def n_par(self, times: int) -> int:
        return 1

    def bounds(self, times: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        return -np.ones(1), np.ones(1)

    def matrix(self, par: np.ndarray, pos: Positions) -> np.ndarray:
        # numpy keeps 0**0 = 1 and a negative ρ to integer lags.
        return float(par[0]) ** pos.lag.astype(float)

    def names(self, times: int, labels: tuple[str, ...]) -> list[str]:
        return ["rho"]

    def natural(self, par: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
        return {"rho": float(par[0])}

    def from_matrix(self, corr: np.ndarray, lag: np.ndarray, times: int) -> np.ndarray:
        # ρ from the shortest observed lag d: corr = ρ^d.
        if not (lag > 0).any():
            return np.zeros(1)
        d = int(lag[lag > 0].min())
        r = corr[lag == d].mean()
        return np.array([np.sign(r) ** (d % 2) * abs(r) ** (1.0 / d)])


def acf_from_pacf(pacf: np.ndarray) -> np.ndarray:
    """Autocorrelations ρ_1..ρ_K of the stationary process with partial autocorrelations
    π_1..π_K (Durbin-Levinson).

    Any π in [-1, 1]^K gives a positive semi-definite Toeplitz correlation (and every such
    correlation has one), which is why Toeplitz structures are parameterised by π: box
    bounds for the optimizer, no definiteness check.

    Examples
    --------
    >>> acf_from_pacf(np.array([0.5, 0.0]))
    array([0.5 , 0.25])
    """
    pacf = np.asarray(pacf, dtype=float)
    k_max = pacf.size
    rho = np.ones(k_max + 1)
    phi = np.zeros(0)
    for k in range(1, k_max + 1):
        pk = pacf[k - 1]
        phi = np.concatenate([phi - pk * phi[::-1], [pk]])
        # ρ_k = Σ_j φ_kj ρ_{k-j}
        rho[k] = phi @ rho[k - 1 :: -1][:k]
    return rho[1:]


def ar_from_pacf(pacf: np.ndarray) -> np.ndarray:
    """The coefficients φ_1..φ_p of the stationary AR(p) process with partial
    autocorrelations π (Durbin-Levinson; Monahan 1984): every π in (-1, 1)^p is a stationary
    process, and every stationary process has one.

    Examples
    --------
    >>> ar_from_pacf(np.array([0.5, 0.2])).round(6).tolist()
    [0.4, 0.2]
    """
    phi = np.zeros(0)
    for pk in np.asarray(pacf, dtype=float):
        phi = np.concatenate([phi - pk * phi[::-1], [pk]])
    return phi


def pacf_from_ar(phi: np.ndarray) -> np.ndarray:
    """The inverse of :func:`ar_from_pacf` (the Levinson recursion run backwards)."""
    phi = np.asarray(phi, dtype=float).copy()
    pacf = np.zeros(phi.size)
    for k in range(phi.size, 0, -1):
        pk = float(np.clip(phi[k - 1], -1.0, 1.0))
        pacf[k - 1] = pk
        if k > 1:
            head = phi[: k - 1]
            denom = 1.0 - pk * pk
            phi = (head + pk * head[::-1]) / denom if denom > 1e-12 else head * 0.0
    return pacf


def pacf_from_acf(acf: np.ndarray) -> np.ndarray:
    """The inverse of :func:`acf_from_pacf` (Levinson recursion), clipped to [-1, 1].

    Examples
    --------
    >>> pacf_from_acf(np.array([0.5, 0.25]))
    array([0.5, 0. ])
    """
    acf = np.asarray(acf, dtype=float)
    rho = np.concatenate([[1.0], acf])
    pacf = np.zeros(acf.size)
    phi = np.zeros(0)
    for k in range(1, acf.size + 1):
        denom = 1.0 - phi @ rho[1:k]
        num = rho[k] - phi @ rho[k - 1 : 0 : -1]
        pk = float(np.clip(num / denom if denom > 1e-12 else 0.0, -1.0, 1.0))
        pacf[k - 1] = pk
        phi = np.concatenate([phi - pk * phi[::-1], [pk]])
    return pacf


def _lag_seen(seen: np.ndarray) -> set[int]:
    return {abs(int(a) - int(b)) for a, b in np.argwhere(seen)}


class Toeplitz(Pattern):
    """A correlation per lag of the ranks, parameterised by the partial autocorrelations
    (SAS ``TYPE=TOEP``; nlme's ``corARMA(p = T - 1)``)."""

    name = "TOEP"
    # With 4 or more times, K is singular in floating point well before every partial
    # autocorrelation reaches 1 - 1e-6.
    edge = 1e-3

    def n_par(self, times: int) -> int:
        return max(times - 1, 1)

    def bounds(self, times: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        k = self.n_par(times)
        return -np.ones(k), np.ones(k)

    def matrix(self, par: np.ndarray, pos: Positions) -> np.ndarray:
        rho = np.concatenate([[1.0], acf_from_pacf(par)])
        return rho[pos.lag]

    def names(self, times: int, labels: tuple[str, ...]) -> list[str]:
        return [f"pacf[{k}]" for k in range(1, self.n_par(times) + 1)]

    def natural(self, par: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
        return {f"rho[{k}]": float(r) for k, r in enumerate(acf_from_pacf(par), start=1)}

    def from_matrix(self, corr: np.ndarray, lag: np.ndarray, times: int) -> np.ndarray:
        k = self.n_par(times)
        acf = [corr[lag == j].mean() if (lag == j).any() else 0.0 for j in range(1, k + 1)]
        return pacf_from_acf(np.array(acf))

    def identified(self, seen: np.ndarray, labels: tuple[str, ...]) -> str | None:
        lags = _lag_seen(seen)
        missing = [k for k in range(1, seen.shape[0]) if k not in lags]
        if missing:
            return (
                f"no two times are {missing[0]} apart, so that lag's correlation cannot be "
                "estimated; use AR1 or CS"
            )
        return None

    def special_cases(self) -> tuple[type[Pattern], ...]:
        return (Independence, CompoundSymmetry, AR1)


# -- ARMA(p, q) ---------------------------------------------------------------------------


def arma_acf(ar: np.ndarray, ma: np.ndarray, lag_max: int) -> np.ndarray:
    """Autocorrelations ρ_0..ρ_lag_max of the stationary ARMA process
    y_t = Σ φ_i y_{t-i} + e_t + Σ θ_j e_{t-j} (R's ``ARMAacf(ar, ma)``).

    The autocovariances γ_0..γ_r (r = max(p, q)) solve γ_k - Σ_i φ_i γ_|k-i| = Σ_{j≥k} θ_j ψ_{j-k}
    (θ_0 = 1, ψ the MA(∞) weights), and γ_k = Σ_i φ_i γ_{k-i} beyond.

    Examples
    --------
    >>> arma_acf(np.array([0.5]), np.zeros(0), 3).round(6).tolist()
    [1.0, 0.5, 0.25, 0.125]
    >>> arma_acf(np.zeros(0), np.array([0.5]), 2).round(6).tolist()
    [1.0, 0.4, 0.0]
    """
    ar = np.asarray(ar, dtype=float)
    ma = np.asarray(ma, dtype=float)
    p, q = ar.size, ma.size
    theta = np.concatenate([[1.0], ma])
    psi = np.zeros(q + 1)
    for j in range(q + 1):
        psi[j] = theta[j] + sum(ar[i - 1] * psi[j - i] for i in range(1, min(j, p) + 1))
    r = max(p, q)
    A = np.zeros((r + 1, r + 1))
    b = np.zeros(r + 1)
    for k in range(r + 1):
        A[k, k] += 1.0
        for i in range(1, p + 1):
            A[k, abs(k - i)] -= ar[i - 1]
        b[k] = sum(theta[j] * psi[j - k] for j in range(k, q + 1))
    gamma = np.zeros(max(lag_max, r) + 1)
    gamma[: r + 1] = np.linalg.solve(A, b)
    for k in range(r + 1, lag_max + 1):
        gamma[k] = sum(ar[i - 1] * gamma[k - i] for i in range(1, p + 1))
    return gamma[: lag_max + 1] / gamma[0]


class ARMA(Pattern):
    """The correlation of a stationary ARMA(p, q) process over the ranks of the times
    (nlme's ``corARMA``), any p and q.

    The optimizer sees partial autocorrelations in (-1, 1): those of the AR part make the
    AR coefficients (every such box point a stationary process), those of the MA part, sign
    flipped, make the MA coefficients (every such point an invertible one), as nlme's
    ``corARMA`` transforms them. The natural parameters are nlme's ``Phi1..Phip,
    Theta1..Thetaq`` (MA with a plus sign, as R's ``ARMAacf``).

    Parameters
    ----------
    p, q
        The orders of the autoregressive and moving-average parts.
    """

    name = "ARMA"
    edge = 1e-3

    def __init__(self, p: int, q: int) -> None:
        self.p, self.q = int(p), int(q)

    def __repr__(self) -> str:
        return f"ARMA(p={self.p}, q={self.q})"

    def n_par(self, times: int) -> int:
        return self.p + self.q

    def bounds(self, times: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        k = self.n_par(times)
        return -np.ones(k), np.ones(k)

    def coefficients(self, par: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(φ, θ): the AR and MA coefficients at the optimizer's parameters."""
        par = np.asarray(par, dtype=float)
        return ar_from_pacf(par[: self.p]), -ar_from_pacf(par[self.p :])

    def matrix(self, par: np.ndarray, pos: Positions) -> np.ndarray:
        ar, ma = self.coefficients(par)
        lag = pos.lag
        return arma_acf(ar, ma, int(lag.max()) if lag.size else 0)[lag]

    def names(self, times: int, labels: tuple[str, ...]) -> list[str]:
        return [f"pacf AR[{k}]" for k in range(1, self.p + 1)] + [
            f"pacf MA[{k}]" for k in range(1, self.q + 1)
        ]

    def natural(self, par: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
        ar, ma = self.coefficients(par)
        out = {f"Phi{k}": float(v) for k, v in enumerate(ar, start=1)}
        out.update({f"Theta{k}": float(v) for k, v in enumerate(ma, start=1)})
        return out

    def par_from_coefficients(self, ar: np.ndarray, ma: np.ndarray) -> np.ndarray:
        """The optimizer's parameters of given (stationary, invertible) coefficients."""
        return np.concatenate([pacf_from_ar(ar), pacf_from_ar(-np.asarray(ma, dtype=float))])

    def identified(self, seen: np.ndarray, labels: tuple[str, ...]) -> str | None:
        if not _lag_seen(seen) - {0}:
            return "no subject has two times, so no lag's correlation can be estimated"
        return None

    def special_cases(self) -> tuple[type[Pattern], ...]:
        return (Independence, AR1) if self.p >= 1 else (Independence,)

    def _covers_same(self, other: Pattern) -> bool:
        assert isinstance(other, ARMA)
        return other.p <= self.p and other.q <= self.q


# -- patterns of distance: continuous time and space ------------------------------------------


class _OfDistance(Pattern):
    """ρ(d / range), a function of the distance d between coordinates (nlme's
    ``corSpatial`` family); the optimizer sees log(range)."""

    of_distance = True
    nugget = True
    # Independence is range -> 0, a limit, not a point inside the box.
    independence_inside = False
    #: The correlation is 0 beyond the range (corSpher, corLin): the range must exceed the
    #: smallest distance, or every correlation is 0.
    compact: ClassVar[bool] = False

    def n_par(self, times: int) -> int:
        return 1

    def bounds(self, times: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        return np.full(1, -np.inf), np.full(1, np.inf)

    #: The range of :meth:`start`, as a multiple of the typical spacing.
    start_range: ClassVar[float] = 0.9

    def start(self, times: int, spacing: float) -> np.ndarray:
        return np.array([np.log(self.start_range * spacing)])

    def starts(self, times: int, spacing: float, distances: np.ndarray) -> list[np.ndarray]:
        # A likelihood over a range has several optima more often than not (BodyWeight's
        # with a Gaussian or spherical correlation, Wheat2's field): ranges across the
        # distances the data have, from the pattern's own start and nlme's (just beyond the
        # smallest distance) to half the largest.
        ranges = [self.start_range * spacing]
        if distances.size:
            ranges.append((1.1 if self.compact else 0.9) * distances.min())
            ranges += list(np.quantile(distances, [0.1, 0.5]) * (1.1 if self.compact else 1.0))
            # A compact pattern may reach beyond every distance (BodyWeight's spherical
            # one: a range of 89 days over 63).
            ranges += [d * distances.max() for d in ((0.5, 1.0, 1.5) if self.compact else (0.5,))]
        return [np.array([np.log(r)]) for r in dict.fromkeys(float(r) for r in ranges if r > 0)]

    @staticmethod
    @abstractmethod
    def rho(x: np.ndarray) -> np.ndarray:
        """ρ at x = d / range."""

    def matrix(self, par: np.ndarray, pos: Positions) -> np.ndarray:
        assert pos.distance is not None
        return self.rho(pos.distance * np.exp(-float(par[0])))

    def names(self, times: int, labels: tuple[str, ...]) -> list[str]:
        return ["log range"]

    def natural(self, par: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
        return {"range": float(np.exp(par[0]))}

    def special_cases(self) -> tuple[type[Pattern], ...]:
        return ()


class Exponential(_OfDistance):
    """exp(-d / range) (nlme's ``corExp``; SAS ``TYPE=SP(EXP)``)."""

    name = "EXP"
    # Near independence, as lme4 starts at Λ = I: neighbours at the typical spacing
    # correlate about e⁻¹⁰ (for CAR(1) a start at moderate correlation found worse local
    # optima); the exponential's slope there still leads the optimizer out.
    start_range = 0.1

    @staticmethod
    def rho(x: np.ndarray) -> np.ndarray:
        return np.exp(-x)


class CAR1(Exponential):
    """Continuous-time AR(1): φ^|t_i - t_j| = exp(-|Δt| / range) (nlme's ``corCAR1``),
    reported as φ (``rho``, the correlation at Δt = 1) and its range."""

    name = "CAR1"

    def natural(self, par: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
        return {"rho": float(np.exp(-np.exp(-par[0]))), "range": float(np.exp(par[0]))}


class Gaussian(_OfDistance):
    """exp(-(d / range)²) (nlme's ``corGaus``; SAS ``TYPE=SP(GAU)``)."""

    name = "GAU"

    @staticmethod
    def rho(x: np.ndarray) -> np.ndarray:
        return np.exp(-(x * x))


class Ratio(_OfDistance):
    """1 / (1 + (d / range)²), the rational quadratic (nlme's ``corRatio``)."""

    name = "RATIO"

    @staticmethod
    def rho(x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + x * x)


class Spherical(_OfDistance):
    """1 - 1.5 x + 0.5 x³ for x = d / range < 1, else 0 (nlme's ``corSpher``; SAS
    ``TYPE=SP(SPH)``)."""

    name = "SPH"
    compact = True
    start_range = 1.1

    @staticmethod
    def rho(x: np.ndarray) -> np.ndarray:
        return np.where(x < 1.0, 1.0 - 1.5 * x + 0.5 * x**3, 0.0)


class Linear(_OfDistance):
    """1 - d / range for d < range, else 0 (nlme's ``corLin``; SAS ``TYPE=SP(LIN)``)."""

    name = "LIN"
    compact = True
    start_range = 1.1

    @staticmethod
    def rho(x: np.ndarray) -> np.ndarray:
        return np.where(x < 1.0, 1.0 - x, 0.0)


# -- a whole covariance ---------------------------------------------------------------------


class Unstructured(Pattern):
    """Every variance and correlation free: the covariance L L' of a lower-triangular L
    whose entries, by column, are the parameters (lme4's θ for a random-effects term;
    nlme's ``corSymm`` + ``varIdent`` for residuals, with L's first entry fixed at 1 so that
    σ stays identified).

    Parameters
    ----------
    fixed_first
        Whether L[0, 0] is fixed at 1 (the residual side) instead of a parameter.
    """

    name = "UN"
    covariance = True

    def __init__(self, fixed_first: bool = False) -> None:
        self.fixed_first = bool(fixed_first)

    def __repr__(self) -> str:
        return f"Unstructured(fixed_first={self.fixed_first})"

    @staticmethod
    @functools.cache
    def entries(times: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) of L's lower triangle, by column (lme4's order of θ); cached,
        since Λ is rebuilt at every evaluation."""
        cols, rows = np.triu_indices(times)
        rows.flags.writeable = cols.flags.writeable = False
        return rows, cols

    def _entries(self, times: int) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = self.entries(times)
        return (rows[1:], cols[1:]) if self.fixed_first else (rows, cols)

    def n_par(self, times: int) -> int:
        return times * (times + 1) // 2 - int(self.fixed_first)

    def bounds(self, times: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = self._entries(times)
        # A zero on L's diagonal is a singular covariance: lme4's boundary for a random
        # term; the residual side keeps a variance ratio of 1e-12 (its edge).
        lower = np.where(rows == cols, 0.0, -np.inf)
        return lower, np.full(rows.size, np.inf)

    def start(self, times: int, spacing: float) -> np.ndarray:
        rows, cols = self._entries(times)
        return (rows == cols).astype(float)

    def factor(self, par: np.ndarray, times: int) -> np.ndarray:
        """L (times x times)."""
        L = np.zeros((times, times))
        if self.fixed_first:
            L[0, 0] = 1.0
        rows, cols = self._entries(times)
        L[rows, cols] = par
        return L

    def cov(self, par: np.ndarray, times: int) -> np.ndarray:
        """L L'."""
        L = self.factor(par, times)
        return L @ L.T

    def matrix(self, par: np.ndarray, pos: Positions) -> np.ndarray:
        t = pos.index
        return self.cov(par, pos.times)[t[..., :, None], t[..., None, :]]

    def names(self, times: int, labels: tuple[str, ...]) -> list[str]:
        rows, cols = self._entries(times)
        return [f"L[{labels[r]},{labels[c]}]" for r, c in zip(rows, cols, strict=True)]

    def natural(self, par: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
        times = len(labels)
        cov = self.cov(par, times)
        sd = np.sqrt(np.diag(cov))
        out: dict[str, float] = {}
        for j in range(times):
            for i in range(j + 1, times):
                out[f"cor[{labels[i]},{labels[j]}]"] = float(cov[i, j] / (sd[i] * sd[j]))
        for t, r in zip(labels[1:], sd[1:] / sd[0], strict=True):
            out[f"sd ratio[{t}]"] = float(r)
        return out

    def par_from_cov(self, cov: np.ndarray) -> np.ndarray:
        """The parameters of a covariance (its pivoted Cholesky factor where it is only
        semi-definite, as lme4 factors a boundary estimate)."""
        lam = psd_cholesky(cov)
        rows, cols = self._entries(cov.shape[0])
        return lam[rows, cols]

    def identified(self, seen: np.ndarray, labels: tuple[str, ...]) -> str | None:
        if not seen.all():
            i, j = np.argwhere(~seen)[0]
            return (
                f"no subject has both time {labels[i]!r} and {labels[j]!r}, so their "
                "correlation cannot be estimated; use a structure with fewer parameters "
                "(TOEP, AR1, CS)"
            )
        return None

    def special_cases(self) -> tuple[type[Pattern], ...]:
        return (Independence, CompoundSymmetry, AR1, Toeplitz)


# -- square roots -------------------------------------------------------------------------


def psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """A square root F with F F' = cov: the Cholesky factor when cov is positive definite,
    else the symmetric root of its non-negative part (a correlation of ±1 on the boundary
    is a legitimate singular fit, which Cholesky would refuse)."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(cov)
        return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def psd_cholesky(cov: np.ndarray) -> np.ndarray:
    """A lower-triangular L with L L' = cov for a semi-definite cov: column by column, the
    zero columns kept (where numpy's Cholesky would fail).

    LAPACK's factor first: where every pivot clears the threshold below it is the same
    factor (profiles convert (σ, ρ) to θ at every deviance, where the loop cost more than
    the deviance).
    """
    p = cov.shape[0]
    lam, info = lapack.dpotrf(np.asarray(cov, dtype=float), lower=1, clean=1)
    if info == 0:
        diag = np.diag(cov)
        if np.all(np.diag(lam) ** 2 > 1e-14 * np.maximum(1.0, np.abs(diag))):
            return lam
    lam = np.zeros_like(cov, dtype=float)
    for j in range(p):
        d = cov[j, j] - lam[j, :j] @ lam[j, :j]
        if d <= 1e-14 * max(1.0, abs(cov[j, j])):
            continue
        lam[j, j] = np.sqrt(d)
        lam[j + 1 :, j] = (cov[j + 1 :, j] - lam[j + 1 :, :j] @ lam[j, :j]) / lam[j, j]
    return lam
