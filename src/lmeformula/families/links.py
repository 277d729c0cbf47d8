"""Link functions as R's ``make.link`` defines them, clamps included.

R keeps the inverse links away from the edges of the mean's range (a logit's μ never
reaches 0 or 1 in double precision: η beyond ±30 gives ε or 1 - ε) and floors dμ/dη at ε,
so that working weights stay positive. The same clamps here give lme4's numbers where a
fitted probability is extreme.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from lmeformula.errors import ArgumentTypeError

__all__ = ["CAUCHIT_EDGE", "LINKS", "PROBIT_EDGE", "Link", "make_link"]

_EPS = float(np.finfo(float).eps)
_THRESH = 30.0
#: Where R's probit and cauchit inverse links clamp η (the compiled PIRLS reads them too).
PROBIT_EDGE = -float(special.ndtri(_EPS))  # -qnorm(.Machine$double.eps)
CAUCHIT_EDGE = -float(np.tan(np.pi * (_EPS - 0.5)))  # -qcauchy(.Machine$double.eps)

Array = np.ndarray


@dataclass(frozen=True)
class Link:
    """A link g: η = g(μ), with its inverse and dμ/dη.

    Attributes
    ----------
    name
        R's name (``"logit"``, ``"1/mu^2"``, ...).
    link, inverse, mu_eta
        g, g⁻¹ and dμ/dη as functions of arrays.
    valid_eta
        Whether η is inside the link's domain (R's ``valideta``).

    Examples
    --------
    >>> g = make_link("logit")
    >>> float(g.inverse(np.array([0.0]))[0])
    0.5
    """

    name: str
    link: Callable[[Array], Array]
    inverse: Callable[[Array], Array]
    mu_eta: Callable[[Array], Array]
    valid_eta: Callable[[Array], bool] = lambda eta: bool(np.all(np.isfinite(eta)))

    def __reduce__(self) -> Any:
        # R's own links travel by name, so that a worker's copy is the very object of
        # LINKS (the compiled PIRLS takes R's links only) and not a copy of its lambdas.
        if LINKS.get(self.name) is self:
            return make_link, (self.name,)
        return super().__reduce__()


def _logit_inverse(eta: Array) -> Array:
    out = special.expit(eta)
    out[eta < -_THRESH] = _EPS
    out[eta > _THRESH] = 1.0 - _EPS  # R: INVEPS / (1 + INVEPS)
    return out


def _logit_mu_eta(eta: Array) -> Array:
    e = np.exp(-np.abs(eta))
    out = e / (1.0 + e) ** 2
    out[np.abs(eta) > _THRESH] = _EPS
    return out


def _clamp(edge: float) -> Callable[[Array], Array]:
    return lambda eta: np.clip(eta, -edge, edge)


def _cloglog_mu_eta(eta: Array) -> Array:
    e = np.minimum(eta, 700.0)
    return np.maximum(np.exp(e) * np.exp(-np.exp(e)), _EPS)


LINKS: dict[str, Link] = {
    "logit": Link("logit", special.logit, _logit_inverse, _logit_mu_eta),
    "probit": Link(
        "probit",
        special.ndtri,
        lambda eta: special.ndtr(_clamp(PROBIT_EDGE)(eta)),
        lambda eta: np.maximum(np.exp(-0.5 * eta * eta) / np.sqrt(2 * np.pi), _EPS),
    ),
    "cauchit": Link(
        "cauchit",
        lambda mu: np.tan(np.pi * (mu - 0.5)),
        lambda eta: 0.5 + np.arctan(_clamp(CAUCHIT_EDGE)(eta)) / np.pi,
        lambda eta: np.maximum(1.0 / (np.pi * (1.0 + eta * eta)), _EPS),
    ),
    "cloglog": Link(
        "cloglog",
        lambda mu: np.log(-np.log1p(-mu)),
        lambda eta: np.clip(-np.expm1(-np.exp(eta)), _EPS, 1.0 - _EPS),
        _cloglog_mu_eta,
    ),
    "log": Link(
        "log",
        np.log,
        lambda eta: np.maximum(np.exp(eta), _EPS),
        lambda eta: np.maximum(np.exp(eta), _EPS),
    ),
    "identity": Link("identity", lambda mu: mu, lambda eta: eta, lambda eta: np.ones_like(eta)),
    "sqrt": Link(
        "sqrt",
        np.sqrt,
        lambda eta: eta * eta,
        lambda eta: 2.0 * eta,
        lambda eta: bool(np.all(np.isfinite(eta)) and np.all(eta > 0)),
    ),
    "inverse": Link(
        "inverse",
        lambda mu: 1.0 / mu,
        lambda eta: 1.0 / eta,
        lambda eta: -1.0 / (eta * eta),
        lambda eta: bool(np.all(np.isfinite(eta)) and np.all(eta != 0)),
    ),
    "1/mu^2": Link(
        "1/mu^2",
        lambda mu: 1.0 / (mu * mu),
        lambda eta: 1.0 / np.sqrt(eta),
        lambda eta: -1.0 / (2.0 * eta**1.5),
        lambda eta: bool(np.all(np.isfinite(eta)) and np.all(eta > 0)),
    ),
}


def make_link(name: str) -> Link:
    """The link R calls ``name`` (``make.link``).

    Parameters
    ----------
    name
        One of ``LINKS``.

    Returns
    -------
    Link

    Raises
    ------
    ArgumentTypeError
        For a name R does not know.

    Examples
    --------
    >>> make_link("cloglog").name
    'cloglog'
    """
    if not isinstance(name, str) or name not in LINKS:
        raise ArgumentTypeError(
            f"link {name!r} is not one of R's links; use one of {sorted(LINKS)}."
        )
    return LINKS[name]
