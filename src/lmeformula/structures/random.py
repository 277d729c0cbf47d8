"""Random-effects covariance structures: UN, and a correlation pattern scaled by standard
deviations (ID, DIAG, CS, CSH, AR1, ARH1, TOEP, TOEPH).

A patterned structure is Σ/σ² = S C(φ) S with S the relative standard deviations (one
shared, or one per column for the heterogeneous kinds) and C a pattern of :mod:`.patterns`.
θ is [standard deviations..., pattern parameters...]: the deviations are bounded below by 0
as lme4 bounds the diagonal of Λ; the pattern parameters live in their pattern's box
(CS: ρ in [-1/(p-1), 1]; AR(1): ρ in [-1, 1]; Toeplitz: partial autocorrelations in [-1, 1],
which keep every Toeplitz matrix positive semi-definite without a check).

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

A new kind is a pattern (written once in :mod:`.patterns`) and one line of :data:`KINDS`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lmeformula.errors import FormulaError, NotExpressibleError
from lmeformula.structures.base import CovStructure
from lmeformula.structures.patterns import (
    AR1,
    CompoundSymmetry,
    Independence,
    Pattern,
    Positions,
    Toeplitz,
    psd_sqrt,
)
from lmeformula.structures.patterns import (
    Unstructured as UnstructuredPattern,
)

__all__ = ["KINDS", "Diagonal", "Kind", "Scaled", "Unstructured", "make_structure"]


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
        self._pattern = UnstructuredPattern()
        self._rows, self._cols = UnstructuredPattern.entries(p)
        # θ's entries on Λ's diagonal, in the diagonal's order (by column).
        self._on_diagonal = np.flatnonzero(self._rows == self._cols)
        self._on_diagonal.flags.writeable = False
        # (row, column) of each θ entry as Python ints, for the labels every fit makes.
        self._pairs = list(zip(self._rows.tolist(), self._cols.tolist(), strict=True))
        # Made once (one structure per size, make_structure): every fit reads them, and
        # the pattern's maps cost more than a copy.
        self._lower = self._pattern.bounds(p, p)[0]
        self._upper = np.full(self._lower.size, np.inf)
        self._start = self._pattern.start(p, 1.0)

    @property
    def n_theta(self) -> int:
        return self._lower.size

    @property
    def lower(self) -> np.ndarray:
        return self._lower.copy()

    @property
    def upper(self) -> np.ndarray:
        return self._upper.copy()

    def start(self) -> np.ndarray:
        return self._start.copy()

    def lambda_block(self, theta: np.ndarray) -> np.ndarray:
        return self._pattern.factor(theta, self.p)

    def theta_from_cov(self, rel_cov: np.ndarray) -> np.ndarray:
        return self._pattern.par_from_cov(rel_cov)

    def param_names(self, columns: list[str]) -> list[str]:
        return [
            f"sd[{columns[r]}]" if r == c else f"cor[{columns[c]},{columns[r]}]"
            for r, c in self._pairs
        ]

    @property
    def correlated(self) -> bool:
        return self.p > 1

    def covers(self, other: CovStructure) -> bool:
        return other.p <= self.p

    def theta_positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        return self._rows, self._cols, np.arange(self._rows.size)

    def free_elements(self) -> tuple[np.ndarray, np.ndarray] | None:
        return self._rows, self._cols

    def sdcor(self, theta: np.ndarray, sigma: float) -> np.ndarray:
        # The entries of Σ = σ² ΛΛ' where θ has Λ's: sd on the diagonal, correlation below.
        # Only θ's entries are formed (a bootstrap asks at every replicate); an entry whose
        # standard deviation is 0 keeps its covariance, 0.
        lam = self.lambda_block(theta)
        cov = (sigma * sigma) * (lam @ lam.T)
        sd = np.sqrt(cov.diagonal())
        rows, cols = self._rows, self._cols
        out = cov[rows, cols]
        denom = sd[rows] * sd[cols]
        np.divide(out, denom, out=out, where=denom > 0)
        out[self._on_diagonal] = sd
        return out

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
        return self._pattern.par_from_cov(np.outer(sd, sd) * cor / sigma**2)

    def sdcor_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        diag = self._rows == self._cols
        return np.where(diag, 0.0, -1.0), np.where(diag, np.inf, 1.0)


class Scaled(CovStructure):
    """A correlation pattern scaled by relative standard deviations (see the module).

    Parameters
    ----------
    p
        Number of columns of the term.
    pattern
        The correlation pattern (:mod:`.patterns`).
    het
        A standard deviation per column (True) or one for all.
    positions
        Integer time of each column (AR(1), Toeplitz); by default 0, 1, ..., p - 1.
    kind, special
        The registry's name and the formula's spelling (for display).

    Examples
    --------
    >>> s = make_structure("AR1", 3)
    >>> s.rel_cov(np.array([2.0, 0.5]))
    array([[4., 2., 1.],
           [2., 4., 2.],
           [1., 2., 4.]])
    >>> s.correlation_params(np.array([2.0, 0.5]))
    {'rho': 0.5}
    """

    def __init__(
        self,
        p: int,
        pattern: Pattern,
        het: bool,
        positions: np.ndarray | None = None,
        kind: str = "",
        special: str | None = None,
    ) -> None:
        super().__init__(p)
        self.pattern, self.het, self.kind, self.special = pattern, het, kind, special
        if pattern.correlated and p < 2:
            raise FormulaError(
                f"a {kind} covariance correlates the term's columns, but this term has one "
                "column, so its correlation cannot be identified; give it several columns "
                "(e.g. 0 + factor(time)) or use a plain bar (x | g)."
            )
        pos = np.arange(p) if positions is None else np.asarray(positions, dtype=int)
        self.positions = pos - pos.min()
        self._times = int(self.positions.max()) + 1
        self._where = Positions(self.positions[None, :], self._times)
        self.n_sd = p if het else 1
        self.n_corr = pattern.n_par(self._times) if pattern.correlated else 0
        seen = np.zeros((self._times, self._times), dtype=bool)
        seen[np.ix_(self.positions, self.positions)] = True
        why = pattern.identified(seen, tuple(map(str, range(self._times))))
        if why is not None:
            raise FormulaError(
                f"a {kind} covariance has a correlation per lag, but among the term's times "
                f"{why.split(';')[0]}; use factor(time) (lags count levels) or ar1()."
            )

    @property
    def n_theta(self) -> int:
        return self.n_sd + self.n_corr

    def sd_count(self) -> int:
        return self.n_sd

    @property
    def lower(self) -> np.ndarray:
        low = self.pattern.bounds(self._times, self.p)[0]
        return np.concatenate([np.zeros(self.n_sd), low])

    @property
    def upper(self) -> np.ndarray:
        high = self.pattern.bounds(self._times, self.p)[1]
        return np.concatenate([np.full(self.n_sd, np.inf), high])

    def start(self) -> np.ndarray:
        return np.concatenate([np.ones(self.n_sd), self.pattern.start(self._times, 1.0)])

    def _sds(self, theta: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(theta[: self.n_sd], dtype=float), (self.p,))

    def correlation(self, theta: np.ndarray) -> np.ndarray:
        """The p x p correlation matrix C at θ."""
        return self.pattern.matrix(np.asarray(theta[self.n_sd :], dtype=float), self._where)[0]

    def lambda_block(self, theta: np.ndarray) -> np.ndarray:
        sds = self._sds(theta)
        if not self.pattern.correlated:
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
        lag = np.where(denom > 0, self._where.lag[0], 0)
        par = self.pattern.from_matrix(corr, lag, self._times) if self.n_corr else np.zeros(0)
        theta = np.concatenate([sds, np.asarray(par, dtype=float)])
        return np.clip(theta, self.lower, self.upper)

    def param_names(self, columns: list[str]) -> list[str]:
        sds = [f"sd[{c}]" for c in columns] if self.het else ["sd"]
        return sds + self.pattern.names(self._times, tuple(columns))

    def correlation_params(self, theta: np.ndarray) -> dict[str, float]:
        par = np.asarray(theta[self.n_sd :], dtype=float)
        return self.pattern.natural(par, ()) if self.n_corr else {}

    @property
    def correlated(self) -> bool:
        return self.pattern.correlated

    def covers(self, other: CovStructure) -> bool:
        if self.p != other.p:
            # One column's variance fits in any structure with a variance per column.
            return other.p == 1 and (self.het or self.p == 1)
        if isinstance(other, Scaled):
            return (self.het or not other.het) and self.pattern.contains(other.pattern)
        return False

    def theta_positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        if self.pattern.correlated:
            return None
        diag = np.arange(self.p)
        return diag, diag, diag if self.het else np.zeros(self.p, dtype=int)

    def free_elements(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self.pattern.correlated or not self.het:
            return None
        return np.arange(self.p), np.arange(self.p)


def Diagonal(p: int) -> CovStructure:
    """A variance per column and no correlation (``(x || g)``, ``diag(x | g)``)."""
    return make_structure("DIAG", p)


@dataclass(frozen=True)
class Kind:
    """A registered random-effects kind: how to build it and what it needs of the term.

    Attributes
    ----------
    name
        SAS's name.
    special
        How a formula writes it (None for lme4's plain bar).
    build
        p, positions -> the structure.
    time_indexed
        The term needs one column per integer time (``0 + factor(time)``).
    """

    name: str
    special: str | None
    build: Callable[[int, np.ndarray | None], CovStructure]
    time_indexed: bool = False


def _scaled(name: str, special: str, pattern: Pattern, het: bool) -> Kind:
    def build(p: int, positions: np.ndarray | None) -> CovStructure:
        return Scaled(p, pattern, het, positions, name, special)

    return Kind(name, special, build, time_indexed=isinstance(pattern, AR1 | Toeplitz))


@functools.cache
def _unstructured(p: int) -> Unstructured:
    # One per size: the structure holds nothing but p and read-only index arrays, and
    # building it (its pattern's maps) cost every term of every fit 4 us.
    return Unstructured(p)


#: Every random-effects kind, by SAS name.
KINDS: dict[str, Kind] = {
    "UN": Kind("UN", None, lambda p, positions: _unstructured(p)),
    "DIAG": _scaled("DIAG", "diag", Independence(), het=True),
    "ID": _scaled("ID", "homdiag", Independence(), het=False),
    "CS": _scaled("CS", "homcs", CompoundSymmetry(), het=False),
    "CSH": _scaled("CSH", "cs", CompoundSymmetry(), het=True),
    "AR1": _scaled("AR1", "ar1", AR1(), het=False),
    "ARH1": _scaled("ARH1", "hetar1", AR1(), het=True),
    "TOEP": _scaled("TOEP", "homtoep", Toeplitz(), het=False),
    "TOEPH": _scaled("TOEPH", "toep", Toeplitz(), het=True),
}


def kind_of(name: str) -> Kind:
    """The registered kind ``name``.

    Raises
    ------
    NotExpressibleError
        For an unknown kind.
    """
    try:
        return KINDS[name]
    except KeyError:
        raise NotExpressibleError(f"covariance structure {name!r} is not known.") from None


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
    return kind_of(kind).build(p, positions)
