"""Residual structures (nlme's ``correlation=``, SAS's REPEATED) and variance functions.

The residual covariance of one subject's rows is σ² K, with

    K = V^½ [(1 - ν) C(φ) + ν I] V^½

where C is the structure's correlation over the subject's times, ν the nugget (measurement
error beside serial correlation, nlme's ``nugget = TRUE``), and V the relative variances:
a ratio per time for the heterogeneous kinds (CSH, ARH1, TOEPH, DIAG, as nlme's
``varIdent(~1 | time)``) times a variance function of covariates (VarIdent, VarPower,
VarExp). UN is parameterised by the Cholesky factor of the whole T x T relative covariance,
whose first entry is fixed at 1 so that σ stays identified (σ is the first time's standard
deviation, as in nlme's ``corSymm`` + ``varIdent``).

Every structure follows one contract, as the random-effects structures of :mod:`.base` do:
``bind(data)`` checks the columns and returns a bound structure with ``n_par``, ``lower``,
``upper``, ``start``, ``names``, the matrices at given parameters, and ``natural(par)``:
the parameters as nlme reports them. Parameters are on an unconstrained or boxed scale for
the optimizer (log standard-deviation ratios, ρ in a box); natural ones are for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lmeformula.errors import ArgumentTypeError, DataError
from lmeformula.structures.correlation import acf_from_pacf, ar1_corr, cs_corr, toeplitz_corr

__all__ = [
    "AR1",
    "ARH1",
    "CAR1",
    "CS",
    "CSH",
    "DIAG",
    "TOEP",
    "TOEPH",
    "UN",
    "BoundResidual",
    "BoundVariance",
    "ResidualStructure",
    "VarExp",
    "VarIdent",
    "VarPower",
    "VarianceFunction",
]

# Correlations are kept just inside ±1: the residual covariance must stay invertible.
_EDGE = 1.0 - 1e-6
# Partial autocorrelations all near 1 compound: with 4+ times K is singular in floating
# point well before each reaches 1 - 1e-6.
_EDGE_PACF = 1.0 - 1e-3


def _split_form(form: Any, where: str) -> tuple[str | None, tuple[str, ...]]:
    """``"time | id"`` -> ("time", ("id",)); ``"1 | id"`` -> (None, ("id",)); ``"x"``."""
    if not isinstance(form, str):
        raise ArgumentTypeError(
            f"{where} takes a form such as 'time | id', got {type(form).__name__}."
        )
    text = form.strip().lstrip("~").strip()
    if text.count("|") > 1:
        raise DataError(f"{where}: the form {form!r} has more than one '|'; write 'time | id'.")
    left, bar, right = text.partition("|")
    left = left.strip()
    if bar and not right.strip():
        raise DataError(
            f"{where}: the form {form!r} has nothing right of '|'; name the subject column "
            "('time | id') or drop the '|'."
        )
    group = tuple(g.strip().strip("`") for g in right.split(":")) if right.strip() else ()
    if not left:
        raise DataError(f"{where}: the form {form!r} has nothing left of '|'; write 'time | id'.")
    if any(not g for g in group):
        raise DataError(f"{where}: the form {form!r} has an empty grouping column.")
    time = None if left == "1" else left.strip("`")
    return time, group


class ResidualStructure:
    """A residual covariance structure over the times of each subject (SAS REPEATED).

    Parameters
    ----------
    form
        ``"time | id"``: the time variable and the subject (grouping) column(s); ``"1 | id"``
        orders each subject's rows as they come (nlme's ``form = ~1 | id``).
    nugget
        Add measurement error beside the serial correlation (nlme's ``nugget = TRUE``):
        the correlation becomes (1 - ν) C + ν I.

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
    het: ClassVar[bool] = False
    pattern: ClassVar[str | None] = None
    #: Whether times are continuous (positions are the values, not their ranks).
    continuous: ClassVar[bool] = False

    def __init__(self, form: Any = None, *, nugget: bool = False, **unknown: Any) -> None:
        _refuse_unknown(self.kind, form, unknown, ["form", "nugget"], "time | id")
        where = f"{self.kind}({form!r})"
        self.time, self.group = _split_form(form, where)
        if not isinstance(nugget, bool):
            raise ArgumentTypeError(f"nugget must be True or False, got {nugget!r}.")
        if nugget and self.pattern not in ("ar1", "car1"):
            raise ArgumentTypeError(
                f"nugget=True applies to serial correlation (AR1, CAR1), not to {self.kind}."
            )
        if not self.group and self.pattern is not None:
            raise DataError(
                f"{where}: a correlation structure needs the subject after '|' "
                "(e.g. 'time | id'); rows of different subjects are independent."
            )
        if self.time is None and (self.het or self.pattern in ("un", "car1")):
            raise DataError(
                f"{where}: {self.kind} needs a time variable left of '|' (e.g. 'age | "
                f"{':'.join(self.group) or 'id'}'), since its parameters are per time."
            )
        self.form = form
        self.nugget = nugget

    @property
    def columns(self) -> list[str]:
        """The data columns the structure reads."""
        return ([self.time] if self.time else []) + list(self.group)

    def __repr__(self) -> str:
        extra = ", nugget=True" if self.nugget else ""
        return f"{self.kind}({self.form!r}{extra})"


def _refuse_unknown(
    kind: str, form: Any, unknown: dict[str, Any], accepted: list[str], example: str
) -> None:
    # nlme's habits (value = 0.5, fixed = TRUE) and a forgotten form get an answer in our
    # terms rather than Python's "unexpected keyword argument" or "missing argument".
    if not unknown:
        if form is None:
            raise ArgumentTypeError(
                f"{kind}() needs its form, e.g. lmf.{kind}({example!r}) (nlme's "
                f"form = ~ {example})."
            )
        return
    name = next(iter(unknown))
    hint = (
        " Starting values and fixed parameters (nlme's value= and fixed=) are not supported: "
        "the structure's parameters are estimated."
        if name in ("value", "fixed", "rho", "phi", "init", "start")
        else ""
    )
    raise ArgumentTypeError(
        f"{kind}() got an unknown argument {name!r}; it takes {', '.join(accepted)}, e.g. "
        f"lmf.{kind}({example!r}).{hint}"
    )


@dataclass
class BoundResidual:
    """A residual structure bound to the model's rows (see :class:`ResidualStructure`)."""

    structure: ResidualStructure
    codes: np.ndarray  # subject of each row
    levels: tuple[str, ...]
    tidx: np.ndarray  # index of each row's time among the sorted distinct times
    tval: np.ndarray  # the time's value (the position for AR(1) and CAR(1))
    tlabels: tuple[str, ...]

    def __post_init__(self) -> None:
        s = self.structure
        T = len(self.tlabels)
        self.n_sd = T - 1 if s.het else 0
        sizes = np.bincount(self.codes)
        self.max_size = int(sizes.max())
        if s.pattern in ("ar1", "car1", "cs"):
            self.n_corr = 1
        elif s.pattern == "toep":
            self.n_corr = max(T - 1, 1)
        elif s.pattern == "un":
            self.n_corr = T * (T + 1) // 2 - 1
        else:
            self.n_corr = 0
        self.n_par = self.n_sd + self.n_corr + int(s.nugget)
        if s.pattern == "un":
            rows, cols = np.tril_indices(T)
            self._un_rows, self._un_cols = rows[1:], cols[1:]

    # -- the optimizer's view ------------------------------------------------------------

    @property
    def lower(self) -> np.ndarray:
        s = self.structure
        corr_low = {
            "ar1": -_EDGE,
            "cs": -1.0 / (max(self.max_size, 2) - 1) + 1e-6,
            "toep": -_EDGE_PACF,
        }.get(s.pattern or "", -np.inf)
        if s.pattern == "un":
            # A zero on L's diagonal would make K singular: keep a variance ratio of 1e-12.
            corr = np.where(self._un_rows == self._un_cols, 1e-6, -np.inf)
        else:
            corr = np.full(self.n_corr, corr_low)
        return np.concatenate([np.full(self.n_sd, -np.inf), corr, np.zeros(int(s.nugget))])

    @property
    def upper(self) -> np.ndarray:
        s = self.structure
        edge = _EDGE_PACF if s.pattern == "toep" else _EDGE
        corr = np.full(self.n_corr, np.inf if s.pattern in ("un", "car1") else edge)
        return np.concatenate([np.full(self.n_sd, np.inf), corr, np.full(int(s.nugget), _EDGE)])

    def start(self) -> np.ndarray:
        s = self.structure
        if s.pattern == "un":
            corr = (self._un_rows == self._un_cols).astype(float)
        elif s.pattern == "car1":
            # log range, starting near independence (neighbours correlate e⁻¹⁰), as lme4
            # starts at Λ = I; a start at moderate correlation found worse local optima.
            corr = np.array([np.log(self._typical_spacing() * 0.1)])
        else:
            corr = np.zeros(self.n_corr)
        return np.concatenate([np.zeros(self.n_sd), corr, np.full(int(s.nugget), 0.1)])

    @property
    def names(self) -> list[str]:
        s = self.structure
        sds = [f"log sd ratio[{t}]" for t in self.tlabels[1:]] if s.het else []
        if s.pattern == "un":
            corr = [
                f"L[{self.tlabels[r]},{self.tlabels[c]}]"
                for r, c in zip(self._un_rows, self._un_cols, strict=True)
            ]
        elif s.pattern == "toep":
            corr = [f"pacf[{k}]" for k in range(1, self.n_corr + 1)]
        elif s.pattern == "car1":
            corr = ["log range"]
        else:
            corr = ["rho"] * self.n_corr
        return sds + corr + (["nugget"] if s.nugget else [])

    # -- matrices --------------------------------------------------------------------------

    def row_sd(self, par: np.ndarray) -> np.ndarray:
        """Relative standard deviation of each row from the per-time ratios (1 if none)."""
        if not self.n_sd:
            return np.ones(self.tidx.size)
        ratios = np.exp(np.concatenate([[0.0], par[: self.n_sd]]))
        return ratios[self.tidx]

    def _un_cov(self, par: np.ndarray) -> np.ndarray:
        T = len(self.tlabels)
        L = np.zeros((T, T))
        L[0, 0] = 1.0
        L[self._un_rows, self._un_cols] = par[self.n_sd : self.n_sd + self.n_corr]
        return L @ L.T

    def corr(self, par: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """K / (row_sd row_sd') for a batch of subjects' rows (G, m): (G, m, m).

        For UN it is the whole relative covariance (its variances are part of it).
        """
        s = self.structure
        c = par[self.n_sd : self.n_sd + self.n_corr]
        tidx = self.tidx[rows]
        m = rows.shape[1]
        if s.pattern == "un":
            return self._un_cov(par)[tidx[:, :, None], tidx[:, None, :]]
        if s.pattern == "ar1":
            C = ar1_corr(float(c[0]), tidx)
        elif s.pattern == "car1":
            # φ^|Δt| = exp(-|Δt| / range), exact near φ = 1 where long ranges live.
            t = self.tval[rows]
            C = np.exp(-np.abs(t[:, :, None] - t[:, None, :]) * np.exp(-c[0]))
        elif s.pattern == "cs":
            C = np.broadcast_to(cs_corr(float(c[0]), m), (rows.shape[0], m, m))
        elif s.pattern == "toep":
            C = toeplitz_corr(acf_from_pacf(c), tidx)
        else:
            C = np.broadcast_to(np.eye(m), (rows.shape[0], m, m))
        if s.nugget:
            nu = float(par[-1])
            C = (1.0 - nu) * C + nu * np.eye(m)
        # A block may hold several subjects (nested in a coarser random effect): rows of
        # different subjects are uncorrelated.
        sub = self.codes[rows]
        same = sub[:, :, None] == sub[:, None, :]
        return C * same if not same.all() else C

    # -- for people ----------------------------------------------------------------------

    def natural(self, par: np.ndarray) -> dict[str, float]:
        """The parameters as nlme reports them: ρ (or the lag correlations, or the UN
        correlations), the nugget, and the standard-deviation ratio of each time to the
        first (``"sd ratio[12]"``)."""
        s = self.structure
        out: dict[str, float] = {}
        c = par[self.n_sd : self.n_sd + self.n_corr]
        T = self.tlabels
        if s.pattern == "un":
            cov = self._un_cov(par)
            sd = np.sqrt(np.diag(cov))
            for j in range(len(T)):
                for i in range(j + 1, len(T)):
                    out[f"cor[{T[i]},{T[j]}]"] = float(cov[i, j] / (sd[i] * sd[j]))
            for t, r in zip(T[1:], sd[1:], strict=True):
                out[f"sd ratio[{t}]"] = float(r)
            return out
        if s.pattern == "toep":
            for k, r in enumerate(acf_from_pacf(c), start=1):
                out[f"rho[{k}]"] = float(r)
        elif s.pattern == "car1":
            out["rho"] = float(np.exp(-np.exp(-c[0])))
            out["range"] = float(np.exp(c[0]))
        elif s.pattern is not None:
            out["rho"] = float(c[0])
        if s.nugget:
            out["nugget"] = float(par[-1])
        if self.n_sd:
            for t, r in zip(T[1:], np.exp(par[: self.n_sd]), strict=True):
                out[f"sd ratio[{t}]"] = float(r)
        return out

    def _typical_spacing(self) -> float:
        order = np.lexsort((self.tval, self.codes))
        same = np.diff(self.codes[order]) == 0
        gaps = np.diff(self.tval[order])[same]
        gaps = gaps[gaps > 0]
        return float(np.median(gaps)) if gaps.size else 1.0

    def check_identified(self) -> None:
        """Refuse parameters the data cannot identify, saying why."""
        s = self.structure
        where = f"residual={s!r}"
        if s.pattern is not None and self.max_size < 2:
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
        if s.pattern in ("un", "toep"):
            seen = np.zeros((T, T), dtype=bool)
            for sub in np.unique(self.codes):
                t = self.tidx[self.codes == sub]
                seen[np.ix_(t, t)] = True
            if s.pattern == "un" and not seen.all():
                i, j = np.argwhere(~seen)[0]
                raise DataError(
                    f"{where}: no subject has both time {self.tlabels[i]!r} and "
                    f"{self.tlabels[j]!r}, so their correlation cannot be estimated; "
                    "use a structure with fewer parameters (TOEP, AR1, CS)."
                )
            if s.pattern == "toep":
                lags = {abs(int(a) - int(b)) for a, b in np.argwhere(seen)}
                missing = [k for k in range(1, T) if k not in lags]
                if missing:
                    raise DataError(
                        f"{where}: no subject has two times {missing[0]} apart, so that "
                        "lag's correlation cannot be estimated; use AR1 or CS."
                    )


class AR1(ResidualStructure):
    """First-order autoregressive correlation ρ^|i-j| over the times' ranks (nlme's
    ``corAR1``, SAS ``TYPE=AR(1)``)."""

    kind = "AR1"
    pattern = "ar1"


class ARH1(ResidualStructure):
    """AR(1) with a variance per time (``corAR1`` + ``varIdent(~1 | time)``, SAS ARH(1))."""

    kind = "ARH1"
    het = True
    pattern = "ar1"


class CAR1(ResidualStructure):
    """Continuous-time AR(1): φ^|t_i - t_j| on the times' values, for unequal spacing
    (nlme's ``corCAR1``; with ``nugget=True`` nlme's ``corExp(nugget = TRUE)``, whose range
    is -1 / log φ)."""

    kind = "CAR1"
    pattern = "car1"
    continuous = True


class CS(ResidualStructure):
    """Compound symmetry (nlme's ``corCompSymm``, SAS ``TYPE=CS``)."""

    kind = "CS"
    pattern = "cs"


class CSH(ResidualStructure):
    """Compound symmetry with a variance per time (SAS ``TYPE=CSH``)."""

    kind = "CSH"
    het = True
    pattern = "cs"


class TOEP(ResidualStructure):
    """Toeplitz: a correlation per lag (SAS ``TYPE=TOEP``; nlme ``corARMA(p = T - 1)``)."""

    kind = "TOEP"
    pattern = "toep"


class TOEPH(ResidualStructure):
    """Toeplitz with a variance per time (SAS ``TYPE=TOEPH``)."""

    kind = "TOEPH"
    het = True
    pattern = "toep"


class UN(ResidualStructure):
    """Unstructured: every variance and correlation free (SAS ``TYPE=UN``; nlme
    ``corSymm`` + ``varIdent(~1 | time)``)."""

    kind = "UN"
    pattern = "un"


class DIAG(ResidualStructure):
    """A variance per time and no correlation (nlme ``varIdent(~1 | time)``, SAS
    ``TYPE=UN(1)``)."""

    kind = "DIAG"
    het = True


class VarianceFunction:
    """A covariate-dependent residual standard deviation (nlme's ``varFunc``).

    Parameters
    ----------
    form
        The covariate: ``"x"`` (or nlme's ``"~x"``); for VarIdent the stratifying column,
        ``"g"`` or ``"1 | g"``.
    """

    kind: ClassVar[str] = ""

    def __init__(self, form: Any = None, **unknown: Any) -> None:
        _refuse_unknown(self.kind, form, unknown, ["form"], "g" if self.kind == "VarIdent" else "x")
        where = f"{self.kind}({form!r})"
        time, group = _split_form(form, where)
        if self.kind == "VarIdent":
            column = group[0] if group else time
            if time not in (None, column) or len(group) > 1:
                raise DataError(f"{where}: write VarIdent('g') with one stratifying column.")
        else:
            if group:
                raise DataError(
                    f"{where}: strata ('| g') are not supported for {self.kind}; write "
                    f"{self.kind}('x')."
                )
            column = time
        if column is None:
            raise DataError(f"{where}: name the covariate, e.g. {self.kind}('x').")
        self.column = column
        self.form = form

    def __repr__(self) -> str:
        return f"{self.kind}({self.form!r})"

    @property
    def columns(self) -> list[str]:
        """The data columns the function reads."""
        return [self.column]


class VarIdent(VarianceFunction):
    """A standard deviation per level of a factor (nlme's ``varIdent(form = ~1 | g)``;
    SAS ``REPEATED / GROUP=g``): ratios to the first level."""

    kind = "VarIdent"


class VarPower(VarianceFunction):
    """Standard deviation ∝ |x|^δ (nlme's ``varPower(form = ~x)``)."""

    kind = "VarPower"


class VarExp(VarianceFunction):
    """Standard deviation ∝ exp(δ x) (nlme's ``varExp(form = ~x)``)."""

    kind = "VarExp"


@dataclass
class BoundVariance:
    """A variance function bound to the model's rows."""

    function: VarianceFunction
    x: np.ndarray  # the covariate (level codes for VarIdent)
    levels: tuple[str, ...]

    @property
    def n_par(self) -> int:
        """Number of parameters."""
        return len(self.levels) - 1 if self.levels else 1

    @property
    def lower(self) -> np.ndarray:
        return np.full(self.n_par, -np.inf)

    @property
    def upper(self) -> np.ndarray:
        return np.full(self.n_par, np.inf)

    def start(self) -> np.ndarray:
        return np.zeros(self.n_par)

    @property
    def names(self) -> list[str]:
        if self.levels:
            return [f"log sd ratio[{lvl}]" for lvl in self.levels[1:]]
        return ["delta"]

    def row_sd(self, par: np.ndarray) -> np.ndarray:
        """Relative standard deviation of each row."""
        kind = self.function.kind
        if kind == "VarIdent":
            ratios = np.exp(np.concatenate([[0.0], par]))
            return ratios[self.x.astype(int)]
        if kind == "VarPower":
            return np.abs(self.x) ** par[0]
        return np.exp(par[0] * self.x)

    def natural(self, par: np.ndarray) -> dict[str, float]:
        """As nlme reports it: the ratios of VarIdent, δ of VarPower and VarExp."""
        if self.levels:
            return {
                f"sd ratio[{lvl}]": float(r)
                for lvl, r in zip(self.levels[1:], np.exp(par), strict=True)
            }
        return {"delta": float(par[0])}


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
            cols += [self.residual.tidx.astype(float), self.residual.tval]
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
