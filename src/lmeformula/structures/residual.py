"""Residual structures (nlme's ``correlation=``, SAS's REPEATED).

The residual covariance of one subject's rows is σ² K, with

    K = V^½ [(1 - ν) C(φ) + ν I] V^½

where C is the structure's correlation pattern over the subject's times or coordinates
(:mod:`.patterns`, the same patterns the random-effects side uses), ν the nugget
(measurement error beside serial or spatial correlation, nlme's ``nugget = TRUE``), and V
the relative variances: a ratio per time for the heterogeneous kinds (CSH, ARH1, TOEPH,
DIAG, as nlme's ``varIdent(~1 | time)``) times a variance function of covariates
(:mod:`.variance`). UN's pattern is the whole T x T relative covariance, whose first entry
is fixed at 1 so that σ stays identified (σ is the first time's standard deviation, as in
nlme's ``corSymm`` + ``varIdent``).

Every structure follows one contract: a class names its pattern (and whether it has a
standard deviation per time); bound to the model's rows
(:func:`lmeformula.model.residual.bind_residual`) it is a :class:`BoundResidual` with
``n_par``, ``lower``, ``upper``, ``start``, ``names``, the matrices at given parameters and
``natural(par)``: the parameters as nlme reports them. Parameters are on an unconstrained
or boxed scale for the optimizer (log standard-deviation ratios, ρ in a box, log ranges);
natural ones are for people. A new structure is its pattern in :mod:`.patterns` and a
class of a few lines here, which registers itself (:data:`RESIDUAL_STRUCTURES`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from lmeformula.errors import ArgumentTypeError, DataError
from lmeformula.structures import patterns as pt
from lmeformula.structures.forms import check_order, refuse_unknown, split_form
from lmeformula.structures.variance import BoundVariance

__all__ = [
    "AR1",
    "ARH1",
    "ARMA",
    "CAR1",
    "CS",
    "CSH",
    "DIAG",
    "EXP",
    "GAU",
    "LIN",
    "RATIO",
    "RESIDUAL_STRUCTURES",
    "SPH",
    "TOEP",
    "TOEPH",
    "UN",
    "BoundResidual",
    "ResidualModel",
    "ResidualStructure",
]

#: Every residual structure by its name (filled as the classes below are defined).
RESIDUAL_STRUCTURES: dict[str, type[ResidualStructure]] = {}

# The nugget stays below 1: at 1 the serial correlation would be gone and K the identity
# with a parameter of no effect.
_NUGGET_EDGE = 1e-6


class ResidualStructure:
    """A residual covariance structure over the times of each subject (SAS REPEATED).

    Parameters
    ----------
    form
        ``"time | id"``: the time variable and the subject (grouping) column(s); ``"1 | id"``
        orders each subject's rows as they come (nlme's ``form = ~1 | id``). Patterns of
        distance take coordinates, ``"x + y | g"``, and may leave out the subject (all rows
        one field: ``"latitude + longitude"``).
    nugget
        Add measurement error beside the serial or spatial correlation (nlme's
        ``nugget = TRUE``): the correlation becomes (1 - ν) C + ν I.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> ovary = lmf.datasets.load("ovary")
    >>> fit = lmf.lmer("follicles ~ sin(2*pi*Time) + cos(2*pi*Time) + (1 | Mare)", ovary,
    ...                residual=lmf.AR1("1 | Mare"))
    >>> round(fit.residual_params()["rho"], 3)
    0.607
    """

    kind: ClassVar[str] = ""
    #: A standard deviation per time (ratios to the first), as nlme's varIdent(~1 | time).
    het: ClassVar[bool] = False
    accepted: ClassVar[tuple[str, ...]] = ("form", "nugget")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            RESIDUAL_STRUCTURES[cls.kind] = cls

    def __init__(self, form: Any = None, *, nugget: bool = False, **unknown: Any) -> None:
        refuse_unknown(self.kind, form, unknown, list(self.accepted), "time | id")
        where = f"{self.kind}({form!r})"
        self.coords, self.group = split_form(form, where)
        if not isinstance(nugget, bool):
            raise ArgumentTypeError(f"nugget must be True or False, got {nugget!r}.")
        pattern = self.pattern()
        if nugget and not pattern.nugget:
            able = ", ".join(k for k, c in RESIDUAL_STRUCTURES.items() if c.admits_nugget())
            raise ArgumentTypeError(
                f"nugget=True applies to serial and spatial correlation ({able}), not to "
                f"{self.kind}."
            )
        if not self.group and pattern.correlated and not pattern.of_distance:
            raise DataError(
                f"{where}: a correlation structure needs the subject after '|' "
                "(e.g. 'time | id'); rows of different subjects are independent."
            )
        needs_time = self.het or pattern.covariance or pattern.of_distance
        if not self.coords and needs_time:
            what = "coordinates" if pattern.of_distance else "a time variable"
            raise DataError(
                f"{where}: {self.kind} needs {what} left of '|' (e.g. 'age | "
                f"{':'.join(self.group) or 'id'}'), since its parameters are per time"
                + (" or of distance." if pattern.of_distance else ".")
            )
        if len(self.coords) > 1 and not pattern.of_distance:
            raise DataError(
                f"{where}: {self.kind} orders one time variable; several coordinates "
                f"({' + '.join(self.coords)}) are for spatial structures (EXP, GAU, SPH, LIN, "
                "RATIO)."
            )
        self.form = form
        self.nugget = nugget

    def pattern(self) -> pt.Pattern:
        """The structure's correlation pattern (a new object: patterns are values)."""
        raise NotImplementedError

    @classmethod
    def admits_nugget(cls) -> bool:
        """Whether the kind's pattern may have a nugget (for messages)."""
        return cls.__new__(cls).pattern().nugget

    @property
    def time(self) -> str | None:
        """The one time variable (None: rows as they come, or several coordinates)."""
        return self.coords[0] if len(self.coords) == 1 else None

    @property
    def columns(self) -> list[str]:
        """The data columns the structure reads."""
        return [*self.coords, *self.group]

    @property
    def correlated(self) -> bool:
        """Whether rows of one subject correlate (False: variances per time only)."""
        return self.pattern().correlated

    def _arguments(self) -> str:
        return ", nugget=True" if self.nugget else ""

    def __repr__(self) -> str:
        return f"{self.kind}({self.form!r}{self._arguments()})"

    def contains(self, other: ResidualStructure | None) -> bool:
        """Whether ``other`` (None: independent rows of variance σ²) is a special case of
        this structure, on the same subjects and times."""
        mine = self.pattern()
        if other is None:
            return mine.independence_inside
        if (other.coords, other.group) != (self.coords, self.group):
            return False
        # A whole covariance (UN) has a variance per time of its own.
        if (other.het and not (self.het or mine.covariance)) or (other.nugget and not self.nugget):
            return False
        return mine.contains(other.pattern())


@dataclass
class BoundResidual:
    """A residual structure bound to the model's rows (see :class:`ResidualStructure`)."""

    structure: ResidualStructure
    codes: np.ndarray  # subject of each row
    levels: tuple[str, ...]
    tidx: np.ndarray  # index of each row's time among the sorted distinct times
    tval: np.ndarray  # the time's value, or (n, d) coordinates, for patterns of distance
    tlabels: tuple[str, ...]
    pattern: pt.Pattern = field(init=False)
    _distance_cache: dict[Any, np.ndarray] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        s = self.structure
        self.pattern = s.pattern()
        T = len(self.tlabels)
        self.n_sd = T - 1 if s.het else 0
        self.max_size = int(np.bincount(self.codes).max())
        self.n_corr = self.pattern.n_par(T)
        self.n_par = self.n_sd + self.n_corr + int(s.nugget)
        self._coords = self.tval.reshape(len(self.tval), -1)

    # -- the optimizer's view ------------------------------------------------------------

    def _pattern_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        # K is factored itself: the pattern stays its edge inside its closed bounds.
        lo, hi = self.pattern.bounds(len(self.tlabels), self.max_size)
        edge = self.pattern.edge
        lo = np.where(np.isfinite(lo), lo + edge, lo)
        hi = np.where(np.isfinite(hi), hi - edge, hi)
        if getattr(self.pattern, "compact", False):
            # Beyond its range a compact pattern is 0: the range must exceed the smallest
            # distance, or every correlation is 0 and the range has no effect.
            lo = np.maximum(lo, np.log(self._min_distance()))
        return lo, hi

    @property
    def lower(self) -> np.ndarray:
        lo = self._pattern_bounds()[0]
        return np.concatenate(
            [np.full(self.n_sd, -np.inf), lo, np.zeros(int(self.structure.nugget))]
        )

    @property
    def upper(self) -> np.ndarray:
        hi = self._pattern_bounds()[1]
        nugget = np.full(int(self.structure.nugget), 1.0 - _NUGGET_EDGE)
        return np.concatenate([np.full(self.n_sd, np.inf), hi, nugget])

    def start(self) -> np.ndarray:
        return self.starts()[0]

    def starts(self) -> list[np.ndarray]:
        """Where an optimizer may start, best guess first (the pattern's candidates, the
        standard-deviation ratios at 1 and a nugget of 0.1)."""
        dist = self._distances if self.pattern.of_distance else np.zeros(0)
        lo, hi = self._pattern_bounds()
        sds = np.zeros(self.n_sd)
        # Measurement error of a tenth of the variance, or of a third.
        nuggets = [[0.1], [0.3]] if self.structure.nugget else [[]]
        corr = self.pattern.starts(len(self.tlabels), self._typical_spacing(), dist)
        return [np.concatenate([sds, np.clip(c, lo, hi), nu]) for nu in nuggets for c in corr]

    @property
    def names(self) -> list[str]:
        sds = [f"log sd ratio[{t}]" for t in self.tlabels[1:]] if self.structure.het else []
        corr = self.pattern.names(len(self.tlabels), self.tlabels)
        return sds + corr + (["nugget"] if self.structure.nugget else [])

    # -- matrices --------------------------------------------------------------------------

    def row_sd(self, par: np.ndarray) -> np.ndarray:
        """Relative standard deviation of each row from the per-time ratios (1 if none)."""
        if not self.n_sd:
            return np.ones(self.tidx.size)
        ratios = np.exp(np.concatenate([[0.0], par[: self.n_sd]]))
        return ratios[self.tidx]

    def positions(self, rows: np.ndarray) -> pt.Positions:
        """Where a batch of subjects' rows (G, m) sit, as the pattern reads them."""
        distance = None
        if self.pattern.of_distance:
            # An engine asks for the same batches at every evaluation: their distances
            # are computed once.
            key = (rows.shape, rows.tobytes())
            distance = self._distance_cache.get(key)
            if distance is None:
                x = self._coords[rows]
                diff = x[:, :, None, :] - x[:, None, :, :]
                distance = np.sqrt(np.einsum("gijd,gijd->gij", diff, diff))
                if len(self._distance_cache) < 64:
                    self._distance_cache[key] = distance
        return pt.Positions(self.tidx[rows], len(self.tlabels), distance)

    def corr(self, par: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """K / (row_sd row_sd') for a batch of subjects' rows (G, m): (G, m, m).

        For UN it is the whole relative covariance (its variances are part of it).
        """
        c = par[self.n_sd : self.n_sd + self.n_corr]
        m = rows.shape[1]
        C = self.pattern.matrix(c, self.positions(rows))
        if self.structure.nugget:
            nu = float(par[-1])
            C = (1.0 - nu) * C + nu * np.eye(m)
        # A block may hold several subjects (nested in a coarser random effect): rows of
        # different subjects are uncorrelated.
        sub = self.codes[rows]
        same = sub[:, :, None] == sub[:, None, :]
        return C * same if not same.all() else C

    # -- for people ----------------------------------------------------------------------

    def natural(self, par: np.ndarray) -> dict[str, float]:
        """The parameters as nlme reports them: the pattern's (ρ, the lag correlations,
        Phi and Theta, the range, UN's correlations), the nugget, and the standard-deviation
        ratio of each time to the first (``"sd ratio[12]"``)."""
        s = self.structure
        out = self.pattern.natural(par[self.n_sd : self.n_sd + self.n_corr], self.tlabels)
        if s.nugget:
            out["nugget"] = float(par[-1])
        if self.n_sd:
            for t, r in zip(self.tlabels[1:], np.exp(par[: self.n_sd]), strict=True):
                out[f"sd ratio[{t}]"] = float(r)
        return out

    def _subject_distances(self) -> list[np.ndarray]:
        order = np.argsort(self.codes, kind="stable")
        bounds = np.flatnonzero(np.r_[True, np.diff(self.codes[order]) != 0, True])
        out = []
        for a, b in itertools.pairwise(bounds):
            x = self._coords[order[a:b]]
            if len(x) > 1:
                d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
                out.append(d)
        return out

    @cached_property
    def _distances(self) -> np.ndarray:
        """The positive distances between rows of one subject (each pair once)."""
        found = [d[np.triu_indices(len(d), 1)] for d in self._subject_distances()]
        out = np.concatenate(found) if found else np.zeros(0)
        return out[out > 0]

    def _min_distance(self) -> float:
        return float(self._distances.min()) if self._distances.size else 1.0

    def _typical_spacing(self) -> float:
        if self._coords.shape[1] == 1:
            t = self._coords[:, 0]
            order = np.lexsort((t, self.codes))
            same = np.diff(self.codes[order]) == 0
            gaps = np.diff(t[order])[same]
            gaps = gaps[gaps > 0]
            return float(np.median(gaps)) if gaps.size else 1.0
        # Coordinates: the median distance of each point to its nearest neighbour.
        nearest = []
        for d in self._subject_distances():
            d = np.where(d > 0, d, np.inf)
            nearest.append(d.min(axis=1))
        found = np.concatenate(nearest) if nearest else np.zeros(0)
        found = found[np.isfinite(found)]
        return float(np.median(found)) if found.size else 1.0

    def check_identified(self) -> None:
        """Refuse parameters the data cannot identify, saying why."""
        s = self.structure
        where = f"residual={s!r}"
        if self.pattern.correlated and self.max_size < 2:
            raise DataError(
                f"{where}: every subject has a single row, so a within-subject correlation "
                "cannot be estimated; check the subject column, or drop the structure."
            )
        T = len(self.tlabels)
        if s.het and T < 2:
            raise DataError(
                f"{where}: the time {s.time!r} takes one value, so variances per time cannot "
                "be told apart from σ; use the homogeneous structure."
            )
        if self.pattern.of_distance:
            return
        # Which pairs of times some subject has both of: P'P > 0 for the subjects-by-times
        # incidence P (a loop over subjects cost 50 ms on 2,000 of them).
        present = np.zeros((int(self.codes.max()) + 1, T))
        present[self.codes, self.tidx] = 1.0
        seen = (present.T @ present) > 0
        why = self.pattern.identified(seen, self.tlabels)
        if why is not None:
            raise DataError(f"{where}: {why}.")


# -- the structures ------------------------------------------------------------------------


class AR1(ResidualStructure):
    """First-order autoregressive correlation ρ^|i-j| over the times' ranks (nlme's
    ``corAR1``, SAS ``TYPE=AR(1)``)."""

    kind = "AR1"

    def pattern(self) -> pt.Pattern:
        return pt.AR1()


class ARH1(AR1):
    """AR(1) with a variance per time (``corAR1`` + ``varIdent(~1 | time)``, SAS ARH(1))."""

    kind = "ARH1"
    het = True


class CS(ResidualStructure):
    """Compound symmetry (nlme's ``corCompSymm``, SAS ``TYPE=CS``)."""

    kind = "CS"

    def pattern(self) -> pt.Pattern:
        return pt.CompoundSymmetry()


class CSH(CS):
    """Compound symmetry with a variance per time (SAS ``TYPE=CSH``)."""

    kind = "CSH"
    het = True


class TOEP(ResidualStructure):
    """Toeplitz: a correlation per lag (SAS ``TYPE=TOEP``; nlme ``corARMA(p = T - 1)``)."""

    kind = "TOEP"

    def pattern(self) -> pt.Pattern:
        return pt.Toeplitz()


class TOEPH(TOEP):
    """Toeplitz with a variance per time (SAS ``TYPE=TOEPH``)."""

    kind = "TOEPH"
    het = True


class UN(ResidualStructure):
    """Unstructured: every variance and correlation free (SAS ``TYPE=UN``; nlme
    ``corSymm`` + ``varIdent(~1 | time)``)."""

    kind = "UN"

    def pattern(self) -> pt.Pattern:
        return pt.Unstructured(fixed_first=True)


class DIAG(ResidualStructure):
    """A variance per time and no correlation (nlme ``varIdent(~1 | time)``, SAS
    ``TYPE=UN(1)``)."""

    kind = "DIAG"
    het = True

    def pattern(self) -> pt.Pattern:
        return pt.Independence()


class ARMA(ResidualStructure):
    """The correlation of an ARMA(p, q) process over the times' ranks (nlme's
    ``corARMA(form, p, q)``), any p and q.

    nlme 3.1.162 computes the correlations of ARMA(p, q) wrongly when 0 < p < q (lags
    beyond p take AR coefficients where MA ones belong); these are the process's own, as
    R's ``ARMAacf`` gives them.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> ovary = lmf.datasets.load("ovary")
    >>> fit = lmf.gls("follicles ~ sin(2*pi*Time) + cos(2*pi*Time)", ovary,
    ...               residual=lmf.ARMA("1 | Mare", p=1, q=1))
    >>> # R: m <- gls(..., correlation = corARMA(form = ~1 | Mare, p = 1, q = 1)); logLik(m)
    >>> round(fit.loglik, 2)
    -773.34
    >>> # R: coef(m$modelStruct$corStruct, unconstrained = FALSE)
    >>> {k: round(v, 3) for k, v in fit.residual_params().items()}
    {'Phi1': 0.891, 'Theta1': -0.35}
    """

    kind = "ARMA"
    accepted = ("form", "p", "q")
    p, q = 1, 0

    def __init__(self, form: Any = None, *, p: int = 1, q: int = 0, **unknown: Any) -> None:
        self.p, self.q = check_order("p", p), check_order("q", q)
        if self.p + self.q == 0:
            raise ArgumentTypeError("ARMA needs p + q >= 1 (p = q = 0 is independence).")
        super().__init__(form, **unknown)

    def pattern(self) -> pt.Pattern:
        return pt.ARMA(self.p, self.q)

    def _arguments(self) -> str:
        return f", p={self.p}, q={self.q}"


class EXP(ResidualStructure):
    """Exponential correlation exp(-d / range) of the distance d between times or
    coordinates (nlme's ``corExp``, SAS ``TYPE=SP(EXP)``); reported as its range."""

    kind = "EXP"

    def pattern(self) -> pt.Pattern:
        return pt.Exponential()


class CAR1(ResidualStructure):
    """Continuous-time AR(1): φ^|t_i - t_j| on the times' values, for unequal spacing
    (nlme's ``corCAR1``; with ``nugget=True`` nlme's ``corExp(nugget = TRUE)``, whose range
    is -1 / log φ)."""

    kind = "CAR1"

    def pattern(self) -> pt.Pattern:
        return pt.CAR1()


class GAU(ResidualStructure):
    """Gaussian correlation exp(-(d / range)²) (nlme's ``corGaus``, SAS ``TYPE=SP(GAU)``);
    with ``nugget=True`` Diggle's serial correlation with measurement error."""

    kind = "GAU"

    def pattern(self) -> pt.Pattern:
        return pt.Gaussian()


class SPH(ResidualStructure):
    """Spherical correlation, 0 beyond the range (nlme's ``corSpher``, SAS
    ``TYPE=SP(SPH)``)."""

    kind = "SPH"

    def pattern(self) -> pt.Pattern:
        return pt.Spherical()


class LIN(ResidualStructure):
    """Linear correlation 1 - d / range, 0 beyond the range (nlme's ``corLin``, SAS
    ``TYPE=SP(LIN)``)."""

    kind = "LIN"

    def pattern(self) -> pt.Pattern:
        return pt.Linear()


class RATIO(ResidualStructure):
    """Rational quadratic correlation 1 / (1 + (d / range)²) (nlme's ``corRatio``)."""

    kind = "RATIO"

    def pattern(self) -> pt.Pattern:
        return pt.Ratio()


@dataclass
class ResidualModel:
    """Everything about the residuals: structure, variance function and prior weights.

    The residual covariance of rows ``rows`` (a (G, m) stack of subjects) over σ² is
    ``cov(par, rows)``; engines factor it, results report it.
    """

    residual: BoundResidual | None
    variance: BoundVariance | None
    weights: np.ndarray | None = None
    #: Number of rows; needed when there is neither structure, variance function nor
    #: weights (gls with independent residuals: the linear model).
    n: int | None = None

    @property
    def n_par(self) -> int:
        """Number of parameters (residual structure first, then variance function)."""
        return sum(b.n_par for b in self._parts)

    @property
    def _parts(self) -> list[Any]:
        return [b for b in (self.residual, self.variance) if b is not None]

    def _cat(self, what: str) -> np.ndarray:
        vals = [getattr(b, what)() if what == "start" else getattr(b, what) for b in self._parts]
        return np.concatenate(vals) if vals else np.zeros(0)

    @property
    def lower(self) -> np.ndarray:
        return self._cat("lower")

    @property
    def upper(self) -> np.ndarray:
        return self._cat("upper")

    def start(self) -> np.ndarray:
        return self._cat("start")

    @property
    def names(self) -> list[str]:
        return [n for b in self._parts for n in b.names]

    def split(self, par: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(residual structure parameters, variance function parameters)."""
        k = self.residual.n_par if self.residual is not None else 0
        par = np.asarray(par, dtype=float)
        return par[:k], par[k:]

    def row_sd(self, par: np.ndarray) -> np.ndarray:
        """Relative residual standard deviation of every row (without correlation)."""
        phi, delta = self.split(par)
        sd = 1.0 if self.weights is None else 1.0 / np.sqrt(self.weights)
        if self.residual is not None:
            sd = sd * self.residual.row_sd(phi)
        if self.variance is not None:
            sd = sd * self.variance.row_sd(delta)
        sd = np.asarray(sd, dtype=float)
        return np.broadcast_to(sd, (self.n_rows,)) if sd.ndim == 0 else sd

    @property
    def n_rows(self) -> int:
        if self.n is not None:
            return self.n
        for b in self._parts:
            return len(b.codes) if isinstance(b, BoundResidual) else len(b.x)
        return 0 if self.weights is None else len(self.weights)

    def row_signature(self) -> np.ndarray:
        """Per row, everything besides the parameters that K depends on (weights, the
        variance covariate, the time's rank and value): subjects whose rows agree share
        one K, which engines factor once."""
        n = self.n_rows
        cols = [np.ones(n) if self.weights is None else self.weights]
        if self.variance is not None:
            cols.append(self.variance.x)
        if self.residual is not None:
            cols += [self.residual.tidx.astype(float), *np.atleast_2d(self.residual.tval.T)]
        return np.column_stack(cols)

    def cov(self, par: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """K for a (G, m) stack of subjects' rows: (G, m, m)."""
        phi, _ = self.split(par)
        s = self.row_sd(par)[rows]
        if self.residual is not None:
            return self.residual.corr(phi, rows) * s[:, :, None] * s[:, None, :]
        K = np.zeros((*rows.shape, rows.shape[1]))
        idx = np.arange(rows.shape[1])
        K[:, idx, idx] = s * s
        return K

    def natural(self, par: np.ndarray) -> dict[str, float]:
        """All parameters as nlme reports them."""
        phi, delta = self.split(par)
        out: dict[str, float] = {}
        if self.residual is not None:
            out.update(self.residual.natural(phi))
        if self.variance is not None:
            out.update(self.variance.natural(delta))
        return out
