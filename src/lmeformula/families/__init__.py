"""GLM families and links, named as R names them, for :func:`lmeformula.glmer`.

>>> import lmeformula as lmf
>>> lmf.families.binomial(link="probit")
binomial(link = 'probit')
>>> lmf.families.as_family("poisson")
poisson(link = 'log')
"""

from __future__ import annotations

from typing import Any

from lmeformula.errors import ArgumentTypeError
from lmeformula.families.family import (
    Binomial,
    Family,
    Gamma,
    GammaFamily,
    Gaussian,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
    binomial,
    gaussian,
    inverse_gaussian,
    negative_binomial,
    poisson,
)
from lmeformula.families.links import LINKS, Link, make_link

__all__ = [
    "LINKS",
    "Binomial",
    "Family",
    "Gamma",
    "GammaFamily",
    "Gaussian",
    "InverseGaussian",
    "Link",
    "NegativeBinomial",
    "Poisson",
    "as_family",
    "binomial",
    "gaussian",
    "inverse_gaussian",
    "make_link",
    "negative_binomial",
    "poisson",
]

_BY_NAME = {
    "binomial": binomial,
    "poisson": poisson,
    "gamma": Gamma,
    "inverse.gaussian": inverse_gaussian,
    "inverse_gaussian": inverse_gaussian,
    "gaussian": gaussian,
}

# statsmodels' family and link classes by their class names (not imported: ``import
# lmeformula`` does not need statsmodels).
_SM_FAMILIES = {
    "Binomial": binomial,
    "Poisson": poisson,
    "Gamma": Gamma,
    "InverseGaussian": inverse_gaussian,
    "Gaussian": gaussian,
}
_SM_LINKS = {
    "Logit": "logit",
    "Probit": "probit",
    "Cauchy": "cauchit",
    "CLogLog": "cloglog",
    "Log": "log",
    "Identity": "identity",
    "Sqrt": "sqrt",
    "InversePower": "inverse",
    "InverseSquared": "1/mu^2",
}


def as_family(family: Any, link: str | None = None) -> Family:
    """A family from what a user writes: R's name (``"binomial"``, ``"poisson"``,
    ``"Gamma"`` or ``"gamma"``, ``"inverse.gaussian"``, ``"gaussian"``), a family object
    of this module, or a statsmodels family
    (``sm.families.Binomial(sm.families.links.Probit())``).

    Parameters
    ----------
    family
        The family.
    link
        The link, for a family given by name (R's names: ``"probit"``, ``"cloglog"``, ...).

    Returns
    -------
    Family

    Raises
    ------
    ArgumentTypeError
        For an unknown family or a link the family does not take.

    Examples
    --------
    >>> as_family("Gamma", link="log")
    Gamma(link = 'log')
    """
    if isinstance(family, Family):
        if link is not None and link != family.link.name:
            raise ArgumentTypeError(
                f"family={family!r} already has a link; give link= with a family name "
                f"only, or write the family with link={link!r}."
            )
        return family
    if isinstance(family, str):
        make = _BY_NAME.get(family.lower() if family.lower() == "gamma" else family)
        if make is None and family.lower() in ("negative.binomial", "negbin", "nb"):
            raise ArgumentTypeError(
                f"family={family!r}: the negative binomial's θ is estimated by "
                "lmf.glmer_nb(formula, data); for a known θ write "
                "family=lmf.families.negative_binomial(theta)."
            )
        if make is None:
            raise ArgumentTypeError(
                f"family={family!r} is not one of R's families; use one of "
                "'binomial', 'poisson', 'Gamma', 'inverse.gaussian', 'gaussian', or an "
                "object of lmf.families."
            )
        return make(link)
    cls = type(family)
    if cls.__module__.startswith("statsmodels.genmod.families"):
        make = _SM_FAMILIES.get(cls.__name__)
        sm_link = _SM_LINKS.get(type(getattr(family, "link", None)).__name__)
        if make is not None and sm_link is not None:
            return make(sm_link)
        raise ArgumentTypeError(
            f"statsmodels' {cls.__name__} family with the "
            f"{type(getattr(family, 'link', None)).__name__} link has no R counterpart here; "
            "use one of lmf.families' families."
        )
    raise ArgumentTypeError(
        f"family= takes a name such as 'binomial' or a family object "
        f"(lmf.families.binomial(link='probit')), got {cls.__name__}."
    )
