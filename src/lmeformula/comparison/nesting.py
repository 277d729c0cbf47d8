"""How two fitted models relate: nested or not, and the null distribution of their LRT.

A likelihood-ratio test needs the smaller model to be a special case of the larger. When
what the larger adds is a variance, its null value 0 is on the boundary of the parameter
space and the statistic is not χ² with the difference in parameters as df:

* one variance (adding ``(1 | g)``, or an uncorrelated ``(0 + x | g)``): a 50:50 mixture
  of χ²₀ (a point mass at 0) and χ²₁ (Self & Liang 1987), so the p-value is half the
  naive one;
* one more random effect with its covariances, ``(1 | g)`` to ``(x | g)`` (q correlated
  effects to q + 1): a 50:50 mixture of χ²_q and χ²_{q+1} (Stram & Lee 1994).

Correlations whose null value is 0, residual correlation parameters and variance ratios
are interior: the naive χ² applies. Anything else (several variances at once, fixed and
random parts changed together) has no simple mixture; the naive p-value is then
conservative and said to be so.

Models are compared by their structure: fixed-effects columns, random-effects blocks
(grouping factor, columns, covariance kind; ``(x || g)`` counts as separate one-column
blocks, as lme4 splits it), the residual structure, the variance function and the prior
weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from lmeformula.errors import DataError
from lmeformula.families import NegativeBinomial, Poisson
from lmeformula.structures import CovStructure, make_structure
from lmeformula.structures.residual import ResidualStructure

if TYPE_CHECKING:
    from lmeformula.results.glmer import GlmerResult
    from lmeformula.results.lmer import LmerResult

__all__ = [
    "Relation",
    "check_same_family",
    "describe",
    "likelihood_family",
    "mixture_p_value",
    "relate",
]


@dataclass(frozen=True, eq=False)
class _Block:
    """One random-effects covariance block: a grouping factor, columns and a structure."""

    group: str
    columns: tuple[str, ...]
    structure: CovStructure

    def _key(self) -> tuple[str, tuple[str, ...], str]:
        return self.group, self.columns, repr(type(self.structure)) + self.structure.kind

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Block) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def text(self) -> str:
        cols = [c for c in self.columns if c != "(Intercept)"]
        lhs = " + ".join((["1"] if "(Intercept)" in self.columns else ["0"]) + cols)
        bar = f"{lhs} | {self.group}"
        special = self.structure.special
        return f"{special}({bar})" if special else f"({bar})"

    def covers(self, small: _Block) -> bool:
        """Whether this block's covariances include ``small``'s (zeros elsewhere)."""
        if self.group != small.group or not set(small.columns) <= set(self.columns):
            return False
        if small == self:
            return True
        if len(small.columns) < len(self.columns) and len(small.columns) > 1:
            # Several of the columns: only a covariance free in all of them holds them.
            return _unstructured(self.structure)
        return self.structure.covers(small.structure)

    @property
    def n_par(self) -> int:
        """The block's number of covariance parameters."""
        return self.structure.n_theta


def _unstructured(structure: CovStructure) -> bool:
    """Σ is any covariance of its columns (lme4's default bar)."""
    free = structure.free_elements()
    return free is not None and len(free[0]) == structure.p * (structure.p + 1) // 2


def _blocks(fit: LmerResult | GlmerResult) -> list[_Block]:
    out = []
    for term in fit.state.design.terms:
        cols = tuple(term.columns)
        if len(cols) == 1:
            out.append(_Block(term.name, cols, make_structure("UN", 1)))
        elif not term.structure.correlated and term.structure.free_elements() is not None:
            # Uncorrelated effects are separate one-variance blocks (lme4 splits (x || g)).
            out += [_Block(term.name, (c,), make_structure("UN", 1)) for c in cols]
        else:
            out.append(_Block(term.name, cols, term.structure))
    return out


@dataclass(frozen=True)
class _Residual:
    structure: ResidualStructure | None
    variance: tuple[str, str] | None

    def text(self) -> str:
        parts = [] if self.structure is None else [repr(self.structure)]
        if self.variance is not None:
            parts.append(f"{self.variance[0]}('{self.variance[1]}')")
        return " + ".join(parts) or "independent residuals"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Residual) and self.text() == other.text()

    def __hash__(self) -> int:
        return hash(self.text())


def _residual(fit: LmerResult | GlmerResult) -> _Residual:
    model = fit.state.residual
    res = model.residual if model is not None else None
    var = model.variance if model is not None else None
    return _Residual(
        res.structure if res is not None else None,
        (var.function.kind, var.function.column) if var is not None else None,
    )


def _residual_nested(small: _Residual, big: _Residual) -> bool:
    if small.variance is not None and small.variance != big.variance:
        return False
    if big.structure is None:
        return small.structure is None
    # Independent residuals are ρ = 0 (or variance ratios 1) inside most structures; for
    # the patterns of distance (CAR1, EXP, GAU, ...) independence is a limit (range -> 0).
    return big.structure.contains(small.structure)


def _covered(small: list[_Block], big: list[_Block]) -> _Block | None:
    """The first block of ``small`` no block of ``big`` covers, else None."""
    for block in small:
        if not any(b.covers(block) for b in big):
            return block
    return None


def _minus(a: list[_Block], b: list[_Block]) -> list[_Block]:
    rest = list(b)
    out = []
    for block in a:
        if block in rest:
            rest.remove(block)
        else:
            out.append(block)
    return out


@dataclass(frozen=True)
class Relation:
    """How a smaller model relates to a larger one.

    Attributes
    ----------
    nested
        Whether the smaller model is recognised as a special case of the larger.
    reason
        Why not (empty when nested).
    null
        When nested: ``"fixed"`` (fixed effects only differ: χ² applies), ``"interior"``
        (the null values are inside the parameter space: χ² applies), ``"boundary"`` (a
        50:50 mixture applies, see ``mixture``) or ``"unknown"`` (variances tested at 0
        but no simple mixture; χ² is conservative).
    mixture
        q of the 50:50 mixture of χ²_q and χ²_{q+1} (0 for one variance), else None.
    what
        What the larger model adds, in words.
    """

    nested: bool
    reason: str = ""
    null: str = ""
    mixture: int | None = None
    what: str = ""


def relate(small: LmerResult | GlmerResult, big: LmerResult | GlmerResult) -> Relation:
    """Whether ``small`` is nested in ``big`` and what the null distribution of their
    likelihood ratio is.

    Parameters
    ----------
    small, big
        Two fits; ``big`` has more parameters.

    Returns
    -------
    Relation

    Examples
    --------
    >>> import lmeformula as lmf
    >>> sleep = lmf.datasets.load("sleepstudy")
    >>> m0 = lmf.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    >>> m1 = lmf.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    >>> r = relate(m0, m1)
    >>> r.null, r.mixture
    ('boundary', 1)
    """
    if small.state.parsed.response != big.state.parsed.response:
        return Relation(False, "different responses")
    if small.nobs != big.nobs:
        return Relation(False, f"fitted to different numbers of rows ({small.nobs}, {big.nobs})")
    if small.reml != big.reml:
        return Relation(False, "one is a REML fit and the other an ML fit")
    w0, w1 = small.state.frame.weights, big.state.frame.weights
    same_weights = w0 is None and w1 is None
    if w0 is not None and w1 is not None:
        same_weights = bool(np.array_equal(w0, w1))
    if not same_weights:
        return Relation(False, "different prior weights")
    fixed0, fixed1 = list(small.fixef.index), list(big.fixef.index)
    same_fixed = set(fixed0) == set(fixed1)
    if small.reml and not same_fixed:
        return Relation(
            False,
            "REML fits with different fixed effects (their restricted likelihoods are of "
            "different data; refit with reml=False)",
        )
    if not set(fixed0) <= set(fixed1):
        extra = sorted(set(fixed0) - set(fixed1))
        return Relation(False, f"the fixed effect(s) {extra} are not in the larger model")
    blocks0, blocks1 = _blocks(small), _blocks(big)
    missing = _covered(blocks0, blocks1)
    if missing is not None:
        return Relation(False, f"the random term {missing.text()} is not within the larger model")
    res0, res1 = _residual(small), _residual(big)
    if not _residual_nested(res0, res1):
        return Relation(
            False, f"the residuals ({res0.text()}) are not a special case of ({res1.text()})"
        )
    if big.npar <= small.npar:
        return Relation(False, "the same number of parameters: nothing to test")
    return _null(blocks0, blocks1, res0, res1, same_fixed, big.npar - small.npar)


def _null(
    blocks0: list[_Block],
    blocks1: list[_Block],
    res0: _Residual,
    res1: _Residual,
    same_fixed: bool,
    df: int,
) -> Relation:
    removed, added = _minus(blocks0, blocks1), _minus(blocks1, blocks0)
    same_random = not removed and not added
    same_residual = res0 == res1
    if same_random and same_residual:
        return Relation(True, null="fixed", what="fixed effects")
    if not same_fixed:
        return Relation(True, null="unknown", what="fixed effects and variance parameters together")
    if same_random:
        if _nugget(res0) != _nugget(res1):
            return Relation(True, null="unknown", what="a nugget")
        what = f"{res1.text()} in place of {res0.text()}"
        return Relation(True, null="interior", what=what)
    if not same_residual:
        return Relation(True, null="unknown", what="random effects and residual parameters")
    one_variance = len(added) == 1 and added[0].n_par == 1
    if not removed and one_variance and df == 1:
        what = f"the variance of {added[0].text()}"
        return Relation(True, null="boundary", mixture=0, what=what)
    if len(removed) == 1 and len(added) == 1:
        s, b = removed[0], added[0]
        grows = _unstructured(s.structure) and _unstructured(b.structure)
        grows = grows and set(s.columns) < set(b.columns)
        if grows and len(b.columns) == len(s.columns) + 1:
            q = len(s.columns)
            if df == q + 1:
                new = next(c for c in b.columns if c not in s.columns)
                what = f"the random effect {new} in {b.text()}, with its covariances"
                return Relation(True, null="boundary", mixture=q, what=what)
    if len(added) == 1 and _unstructured(added[0].structure) and removed:
        joined = set().union(*(set(s.columns) for s in removed))
        if joined == set(added[0].columns) and all(s.group == added[0].group for s in removed):
            what = f"the correlations of {added[0].text()}"
            return Relation(True, null="interior", what=what)
    what = ", ".join(b.text() for b in added) or "nothing new"
    if removed:
        what += " in place of " + ", ".join(b.text() for b in removed)
    return Relation(True, null="unknown", what=what)


def _nugget(res: _Residual) -> bool:
    return res.structure is not None and res.structure.nugget


def _sf(x: float, df: int) -> float:
    if df == 0:
        # χ²₀ is a point mass at 0.
        return 1.0 if x <= 0 else 0.0
    return float(stats.chi2.sf(x, df))


def mixture_p_value(chisq: float, q: int) -> float:
    """P-value of the 50:50 mixture of χ²_q and χ²_{q+1} (χ²₀: a point mass at 0).

    Examples
    --------
    >>> round(mixture_p_value(5.4028, 0), 4)  # half of pchisq(5.4028, 1, lower = FALSE)
    0.0101
    """
    return 0.5 * _sf(chisq, q) + 0.5 * _sf(chisq, q + 1)


def describe(
    relation: Relation,
    small: str,
    big: str,
    df: Any,
    *,
    head: str | None = None,
    naive: str = "Pr(>Chisq)",
    mixed: str = "Pr(>Chisq) mixture",
) -> str:
    """One sentence on which p-value to read for ``big`` against ``small``; ``naive`` and
    ``mixed`` name the table's columns, ``head`` replaces the opening "big vs small"."""
    head = f"{big} vs {small}" if head is None else head
    if not relation.nested:
        return f"{head}: not nested ({relation.reason}); the χ² test does not apply."
    if relation.null == "fixed":
        return f"{head}: the models differ in their fixed effects only; read {naive}."
    if relation.null == "interior":
        return (
            f"{head}: {big} adds {relation.what}, whose null values are inside the parameter "
            f"space; read {naive}."
        )
    if relation.null == "boundary":
        q = relation.mixture or 0
        mix = (
            "χ²(0) (a point mass at 0) and χ²(1): half the χ² p-value; Self & Liang 1987"
            if q == 0
            else f"χ²({q}) and χ²({q + 1}); Self & Liang 1987, Stram & Lee 1994"
        )
        return (
            f"{head}: {big} adds {relation.what}. A variance tested at 0 is on the boundary "
            f"of the parameter space, so χ²({df}) is conservative; read {mixed} (the 50:50 "
            f"mixture of {mix})."
        )
    return (
        f"{head}: {big} adds {relation.what}; which boundary mixture applies cannot be "
        f"determined, so only {naive} is given (conservative where variances are tested "
        "at 0)."
    )


def likelihood_family(fit: Any) -> str:
    """What makes two fits' likelihoods comparable: the family and link, with the Poisson
    and every negative binomial (its θ estimated or not) one, the Poisson being the
    negative binomial's limit θ → ∞ (R's anova(poisson_fit, nb_fit))."""
    fam = getattr(fit, "family", None)
    if fam is None:
        return "gaussian (lmer)"
    if isinstance(fam, (Poisson, NegativeBinomial)):
        return f"poisson or negative binomial (link {fam.link.name!r})"
    return f"{fam.name} (link {fam.link.name!r})"


def check_same_family(fits: Any, why: str) -> None:
    """A DataError unless every fit's likelihood is of one family (:func:`likelihood_family`);
    ``why`` ends the message (what the comparison would mean otherwise)."""
    families = {likelihood_family(f) for f in fits}
    if len(families) > 1:
        raise DataError(
            f"the models have different families {sorted(families)}: their likelihoods are "
            f"of different distributions{why}; fit them with the same family (and link)."
        )
