"""GLM families as R's ``family`` objects define them.

Interface notes (every family implements these; PIRLS, the Laplace deviance and the
results read nothing else):

- ``name`` (R's: ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``,
  ``"gaussian"``, ``"Negative Binomial(2.052)"``) and ``link`` (:class:`~.links.Link`);
- ``variance(mu)``, the variance function V(μ);
- ``dev_resids(y, mu, wt)``, the squared deviance residuals (R's ``dev.resids``);
- ``minus2loglik(y, mu, wt, trials)``: -2 log p(y | μ), constants included (R's ``aic``
  less its 2 x rank): what lme4 adds to the penalty and log|L|² in the Laplace deviance;
  families with a dispersion estimate it there as R does, from the deviance;
- ``mustart(y, wt)``: R's ``initialize``'s starting means;
- ``has_dispersion``: whether a scale is estimated (Gamma, inverse Gaussian, gaussian);
- ``check(y, trials)``: the response's support, or a message naming what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import special

from lmeformula.errors import ArgumentTypeError
from lmeformula.families.links import Link, make_link

__all__ = [
    "Binomial",
    "Family",
    "Gamma",
    "GammaFamily",
    "Gaussian",
    "InverseGaussian",
    "NegativeBinomial",
    "Poisson",
    "binomial",
    "gaussian",
    "inverse_gaussian",
    "negative_binomial",
    "poisson",
]


def _ylogy(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """y log(y / μ), 0 where y = 0 (R's ``y_log_y``); one log, not scipy's xlogy (four
    times slower on 100,000 rows)."""
    return y * np.log(np.where(y > 0, y, 1.0) / mu)


@dataclass(frozen=True, repr=False)
class Family:
    """A GLM family with its link (see the module's interface notes). Each family is a
    subclass that writes its own functions; the constructors below are R's.

    Attributes
    ----------
    link
        The link function.
    """

    link: Link
    #: R's name of the family (``family$family``).
    label: ClassVar[str] = ""
    #: The links R allows, the canonical first.
    links: ClassVar[tuple[str, ...]] = ()
    has_dispersion: ClassVar[bool] = False
    #: Where a user makes one: ``lmf.families.<constructor>``.
    constructor: ClassVar[str] = ""

    def __repr__(self) -> str:
        return f"{self.name}(link = {self.link.name!r})"

    @property
    def name(self) -> str:
        """R's name of the family, as ``family(m)$family`` prints it."""
        return self.label

    @property
    def canonical(self) -> bool:
        """Whether the link is the family's canonical one."""
        return self.link.name == self.links[0]

    def variance(self, mu: np.ndarray) -> np.ndarray:
        """V(μ)."""
        raise NotImplementedError

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """Squared deviance residuals, each observation's contribution to the deviance."""
        raise NotImplementedError

    def minus2loglik(
        self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, trials: np.ndarray
    ) -> float:
        """-2 log p(y | μ) with every constant (R's ``family$aic`` less 2 x rank)."""
        raise NotImplementedError

    def deviance_offset(self, y: np.ndarray, wt: np.ndarray, trials: np.ndarray) -> float | None:
        """-2 log p(y | μ) - Σ dev_i, where it is the same at every μ (the likelihood the
        deviance shifted by the saturated model's), else None: an objective evaluated at
        many μ then reads the deviance PIRLS computed instead of taking n logs anew."""
        return None

    def row_loglik(
        self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, trials: np.ndarray
    ) -> np.ndarray | None:
        """log p(y_i | μ_i) row by row, or None where the likelihood does not separate by
        rows (a dispersion estimated from the whole deviance): what adaptive quadrature
        integrates group by group."""
        return None

    def weight_slope(self, mu: np.ndarray) -> np.ndarray | None:
        """d log w / dη of the working weights w = wt (dμ/dη)² / V(μ) where the link is
        canonical and the dispersion fixed (the weights then equal -∂² log p / ∂η², so
        PIRLS's weights are the Laplace approximation's exact curvature); None otherwise.
        The Laplace objective's exact gradient needs both."""
        return None

    def weight_curvature(self, mu: np.ndarray) -> np.ndarray | None:
        """(d²w / dη²) / w of the same weights where :meth:`weight_slope` has their slope;
        the Laplace objective's exact Hessian in β needs it."""
        return None

    def mustart(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """R's starting means (``family$initialize``)."""
        return np.asarray(y, dtype=float).copy()

    def valid_mu(self, mu: np.ndarray) -> bool:
        """Whether μ is inside the family's range."""
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def check(self, y: np.ndarray, trials: np.ndarray | None) -> str | None:
        """What is wrong with the response for this family, or None: a message naming the
        first offending value, to which the caller adds the column."""
        return None

    def draw(
        self,
        mu: np.ndarray,
        wt: np.ndarray,
        trials: np.ndarray,
        dispersion: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Responses drawn with means μ (as R's ``family$simulate``), on the scale the
        model reads them (a binomial's proportion of its trials)."""
        raise NotImplementedError


def _first(y: np.ndarray, bad: np.ndarray) -> str:
    i = int(np.flatnonzero(bad)[0])
    return f"{y[i]:g} (row {i + 1})"


@dataclass(frozen=True, repr=False)
class Binomial(Family):
    """y a proportion of ``trials``; V(μ) = μ(1 - μ)."""

    label: ClassVar[str] = "binomial"
    links: ClassVar[tuple[str, ...]] = ("logit", "probit", "cauchit", "log", "cloglog")
    constructor: ClassVar[str] = "binomial"

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu * (1.0 - mu)

    def weight_slope(self, mu: np.ndarray) -> np.ndarray | None:
        # w = wt μ(1 - μ) under the logit link.
        return 1.0 - 2.0 * mu if self.link.name == "logit" else None

    def weight_curvature(self, mu: np.ndarray) -> np.ndarray | None:
        # w'' = w ((1 - 2μ)² - 2μ(1 - μ)) of w = wt μ(1 - μ), dμ/dη = μ(1 - μ).
        return 1.0 - 6.0 * mu * (1.0 - mu) if self.link.name == "logit" else None

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return 2.0 * wt * (_ylogy(y, mu) + _ylogy(1.0 - y, 1.0 - mu))

    def minus2loglik(
        self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, trials: np.ndarray
    ) -> float:
        return float(-2.0 * np.sum(self.row_loglik(y, mu, wt, trials)))

    def deviance_offset(self, y: np.ndarray, wt: np.ndarray, trials: np.ndarray) -> float | None:
        # With s = m y whole and m > 0, -2 (wt/m) log dbinom(s, m, μ) is dev_i less
        # 2 wt (y log y + (1 - y) log(1 - y)) and 2 (wt/m) log C(m, s); else (a row of
        # fewer than half a trial, which R's formula drops) no such constant.
        m = np.round(trials)
        s = np.round(m * y)
        if np.any(m <= 0) or np.any(np.abs(s - m * y) > 1e-9 * np.maximum(1.0, s)):
            return None
        one = np.ones_like(y)
        sat = wt * (_ylogy(y, one) + _ylogy(1.0 - y, one))
        if np.any(m != 1):
            logc = special.gammaln(m + 1) - special.gammaln(s + 1) - special.gammaln(m - s + 1)
            sat = sat + wt / m * logc
        return float(-2.0 * np.sum(sat))

    def row_loglik(
        self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, trials: np.ndarray
    ) -> np.ndarray:
        """log p(y_i | μ_i), row by row."""
        # R: m <- if (any(n > 1)) n else wt; -2 sum(wt/m dbinom(round(m y), round(m), mu))
        m = np.round(trials)
        s = np.round(m * y)
        # s log μ + (m - s) log(1 - μ), each term 0 where its count is.
        logp = s * np.log(np.where(s > 0, mu, 1.0)) + (m - s) * np.log1p(-np.where(m > s, mu, 0.0))
        if np.any(m != 1):  # log C(m, s); 0 for 0/1 responses
            logp += special.gammaln(m + 1) - special.gammaln(s + 1) - special.gammaln(m - s + 1)
        scale = np.where(m > 0, wt / np.where(m > 0, m, 1.0), 0.0)
        return np.asarray(scale * logp)

    def mustart(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return (wt * y + 0.5) / (wt + 1.0)

    def draw(
        self,
        mu: np.ndarray,
        wt: np.ndarray,
        trials: np.ndarray,
        dispersion: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        m = np.round(trials).astype(np.int64)
        k = rng.binomial(np.maximum(m, 0), mu)
        return np.divide(k, m, out=np.zeros(mu.size), where=m > 0)

    def valid_mu(self, mu: np.ndarray) -> bool:
        return bool(np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1)))

    def check(self, y: np.ndarray, trials: np.ndarray | None) -> str | None:
        bad = (y < 0) | (y > 1)
        if bad.any():
            return (
                f"has the value {_first(y, bad)} outside [0, 1]; a binomial response is 0/1, "
                "a two-level factor, cbind(successes, failures), or a proportion with "
                "weights= the number of trials"
            )
        if trials is not None:
            k = trials * y
            bad = np.abs(k - np.round(k)) > 1e-7 * np.maximum(1.0, k)
            if bad.any():
                return (
                    f"times its number of trials is not a whole number of successes at "
                    f"{_first(y, bad)}; give weights= the number of trials of each proportion"
                )
        return None


@dataclass(frozen=True, repr=False)
class Poisson(Family):
    """Counts; V(μ) = μ."""

    label: ClassVar[str] = "poisson"
    links: ClassVar[tuple[str, ...]] = ("log", "identity", "sqrt")
    constructor: ClassVar[str] = "poisson"

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu

    def weight_slope(self, mu: np.ndarray) -> np.ndarray | None:
        # w = wt μ under the log link.
        return np.ones_like(mu) if self.link.name == "log" else None

    def weight_curvature(self, mu: np.ndarray) -> np.ndarray | None:
        return np.ones_like(mu) if self.link.name == "log" else None

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return 2.0 * wt * (_ylogy(y, mu) - (y - mu))

    def minus2loglik(
        self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, trials: np.ndarray
    ) -> float:
        return float(-2.0 * np.sum(self.row_loglik(y, mu, wt, trials)))

    def deviance_offset(self, y: np.ndarray, wt: np.ndarray, trials: np.ndarray) -> float | None:
        # -2 log p_i = dev_i - 2 wt (y log y - y - log y!).
        return float(-2.0 * np.sum(wt * (_ylogy(y, np.ones_like(y)) - y - special.gammaln(y + 1))))

    def row_loglik(
        self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, trials: np.ndarray
    ) -> np.ndarray:
        """log p(y_i | μ_i), row by row."""
        return np.asarray(wt * (special.xlogy(y, mu) - mu - special.gammaln(y + 1)))

    def mustart(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return y + 0.1

    def draw(
        self,
        mu: np.ndarray,
        wt: np.ndarray,
        trials: np.ndarray,
        dispersion: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        return rng.poisson(mu).astype(float)

    def check(self, y: np.ndarray, trials: np.ndarray | None) -> str | None:
        return _count_check(y, "Poisson")


def _count_check(y: np.ndarray, what: str) -> str | None:
    bad = y < 0
    if bad.any():
        return f"has the negative count {_first(y, bad)}; a count is 0, 1, 2, ..."
    bad = np.abs(y - np.round(y)) > 1e-7 * np.maximum(1.0, np.abs(y))
    if bad.any():
        return (
            f"has the non-integer count {_first(y, bad)}; a {what} response counts events "
            "(for rates, model the count with offset(log(exposure)))"
        )
    return None


@dataclass(frozen=True, repr=False)
class NegativeBinomial(Family):
    """MASS's ``negative.binomial(theta)``: V(μ) = μ + μ²/θ."""

    theta: float = 1.0
    #: Whether θ is a parameter of the fit (``glmer_nb``) rather than given.
    estimated: bool = False
    links: ClassVar[tuple[str, ...]] = ("log", "sqrt", "identity")
    constructor: ClassVar[str] = "negative_binomial"

    def with_theta(self, theta: float) -> NegativeBinomial:
        """The same family with another θ."""
        return NegativeBinomial(self.link, float(theta), self.estimated)

    @property
    def name(self) -> str:  # R: paste0("Negative Binomial(", format(round(theta, 4)), ")")
        return f"Negative Binomial({round(self.theta, 4):.15g})"

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu + mu * mu / self.theta

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        th = self.theta
        return 2.0 * wt * (_ylogy(y, mu) - (y + th) * np.log((y + th) / (mu + th)))

    def minus2loglik(
        self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, trials: np.ndarray
    ) -> float:
        return float(-2.0 * np.sum(self.row_loglik(y, mu, wt, trials)))

    def row_loglik(
        self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, trials: np.ndarray
    ) -> np.ndarray:
        """log p(y_i | μ_i), row by row."""
        th = self.theta
        term = (
            special.gammaln(th + y)
            - special.gammaln(th)
            - special.gammaln(y + 1)
            + th * np.log(th)
            + special.xlogy(y, mu)
            - (th + y) * np.log(th + mu)
        )
        return np.asarray(wt * term)

    def mustart(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return y + (y == 0) / 6.0

    def draw(
        self,
        mu: np.ndarray,
        wt: np.ndarray,
        trials: np.ndarray,
        dispersion: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        # MASS's rnegbin: a Poisson with gamma-distributed mean, shape θ.
        return rng.poisson(rng.gamma(self.theta, mu / self.theta)).astype(float)

    def check(self, y: np.ndarray, trials: np.ndarray | None) -> str | None:
        return _count_check(y, "negative binomial")


@dataclass(frozen=True, repr=False)
class GammaFamily(Family):
    """Positive values with constant coefficient of variation; V(μ) = μ²."""

    label: ClassVar[str] = "Gamma"
    links: ClassVar[tuple[str, ...]] = ("inverse", "identity", "log")
    has_dispersion: ClassVar[bool] = True
    constructor: ClassVar[str] = "Gamma"

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu * mu

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        # A trial step may leave μ <= 0: NaN then, which PIRLS's step halving rejects,
        # without numpy's warning reaching the user.
        with np.errstate(invalid="ignore", divide="ignore"):
            return -2.0 * wt * (np.log(np.where(y == 0, 1.0, y / mu)) - (y - mu) / mu)

    def minus2loglik(
        self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, trials: np.ndarray
    ) -> float:
        # R's Gamma()$aic: the dispersion estimated as the mean deviance.
        disp = float(np.sum(self.dev_resids(y, mu, wt))) / float(np.sum(wt))
        shape = 1.0 / disp
        logp = (
            -special.gammaln(shape)
            - shape * np.log(mu * disp)
            + (shape - 1.0) * np.log(y)
            - y / (mu * disp)
        )
        return float(-2.0 * np.sum(wt * logp) + 2.0)

    def check(self, y: np.ndarray, trials: np.ndarray | None) -> str | None:
        return _positive_check(y, self.name)

    def draw(
        self,
        mu: np.ndarray,
        wt: np.ndarray,
        trials: np.ndarray,
        dispersion: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        # R's Gamma()$simulate: shape 1/φ (per prior weight), scale μφ.
        shape = wt / dispersion
        return rng.gamma(shape, mu / shape)


def _positive_check(y: np.ndarray, name: str) -> str | None:
    bad = y <= 0
    if bad.any():
        return f"has the value {_first(y, bad)}; the {name} family needs positive values"
    return None


@dataclass(frozen=True, repr=False)
class InverseGaussian(Family):
    """Positive values; V(μ) = μ³."""

    label: ClassVar[str] = "inverse.gaussian"
    links: ClassVar[tuple[str, ...]] = ("1/mu^2", "inverse", "identity", "log")
    has_dispersion: ClassVar[bool] = True
    constructor: ClassVar[str] = "inverse_gaussian"

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu**3

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return wt * (y - mu) ** 2 / (y * mu * mu)

    def minus2loglik(
        self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, trials: np.ndarray
    ) -> float:
        nw = float(np.sum(wt))
        disp = float(np.sum(self.dev_resids(y, mu, wt))) / nw
        return float(nw * (np.log(disp * 2 * np.pi) + 1.0) + 3.0 * np.sum(np.log(y) * wt) + 2.0)

    def check(self, y: np.ndarray, trials: np.ndarray | None) -> str | None:
        return _positive_check(y, self.name)

    def draw(
        self,
        mu: np.ndarray,
        wt: np.ndarray,
        trials: np.ndarray,
        dispersion: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        # Wald with mean μ and shape λ = w/φ (variance μ³ φ / w).
        return rng.wald(mu, wt / dispersion)


@dataclass(frozen=True, repr=False)
class Gaussian(Family):
    """Normal errors; V(μ) = 1 (with the identity link, lmer fits it)."""

    label: ClassVar[str] = "gaussian"
    links: ClassVar[tuple[str, ...]] = ("identity", "log", "inverse")
    has_dispersion: ClassVar[bool] = True
    constructor: ClassVar[str] = "gaussian"

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return np.ones_like(mu)

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return wt * (y - mu) ** 2

    def minus2loglik(
        self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, trials: np.ndarray
    ) -> float:
        nobs = y.size
        dev = float(np.sum(self.dev_resids(y, mu, wt)))
        return float(nobs * (np.log(2 * np.pi * dev / nobs) + 1.0) + 2.0 - np.sum(np.log(wt)))

    def valid_mu(self, mu: np.ndarray) -> bool:
        return bool(np.all(np.isfinite(mu)))

    def draw(
        self,
        mu: np.ndarray,
        wt: np.ndarray,
        trials: np.ndarray,
        dispersion: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        return mu + rng.standard_normal(mu.size) * np.sqrt(dispersion / wt)


def _make(cls: type[Family], link: Any, **kw: Any) -> Family:
    link_name = cls.links[0] if link is None else link
    if isinstance(link_name, Link):
        link_name = link_name.name
    if link_name not in cls.links:
        raise ArgumentTypeError(
            f"the {cls.constructor} family takes the links {list(cls.links)}, got "
            f"{link_name!r}; write e.g. lmf.families.{cls.constructor}(link={cls.links[0]!r})."
        )
    return cls(make_link(link_name), **kw)


def binomial(link: str | None = None) -> Family:
    """R's ``binomial()``: logit (default), probit, cauchit, log or cloglog link.

    Examples
    --------
    >>> binomial(link="probit")
    binomial(link = 'probit')
    """
    return _make(Binomial, link)


def poisson(link: str | None = None) -> Family:
    """R's ``poisson()``: log (default), identity or sqrt link.

    Examples
    --------
    >>> poisson().link.name
    'log'
    """
    return _make(Poisson, link)


def Gamma(link: str | None = None) -> Family:
    """R's ``Gamma()``: inverse (default), identity or log link.

    Examples
    --------
    >>> Gamma(link="log")
    Gamma(link = 'log')
    """
    return _make(GammaFamily, link)


def inverse_gaussian(link: str | None = None) -> Family:
    """R's ``inverse.gaussian()``: 1/mu^2 (default), inverse, identity or log link.

    Examples
    --------
    >>> inverse_gaussian().name
    'inverse.gaussian'
    """
    return _make(InverseGaussian, link)


def gaussian(link: str | None = None) -> Family:
    """R's ``gaussian()``: identity (default; ``lmer`` fits that), log or inverse link.

    Examples
    --------
    >>> gaussian(link="log").link.name
    'log'
    """
    return _make(Gaussian, link)


def negative_binomial(theta: float, link: str | None = None) -> Family:
    """MASS's ``negative.binomial(theta)``: V(μ) = μ + μ²/θ, log link by default.

    Examples
    --------
    >>> negative_binomial(2.0).variance(np.array([2.0]))
    array([4.])
    """
    if not isinstance(theta, (int, float)) or not np.isfinite(theta) or theta <= 0:
        raise ArgumentTypeError(f"theta must be a positive finite number, got {theta!r}.")
    return _make(NegativeBinomial, link, theta=float(theta))
