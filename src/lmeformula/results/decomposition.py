"""The variance decomposition behind the ICC and Nakagawa's R²: the variance of the fixed
part, of the random part and of the residuals (Nakagawa, Johnson & Schielzeth 2017).

Two rules for the random part:

- ``"johnson"``: Johnson's (2014) extension to random slopes, the mean over the rows of
  z_i' Σ_k z_i summed over every random term k, z_i being the term's own design row.
- ``"performance"``: what R's performance 0.10.2 (insight 0.19) computes, which departs
  from that formula in two ways: it takes z_i from the *fixed-effects* design, so a random
  slope (or factor level) that is not also a fixed-effects column is left out; and it counts
  only the first term of each grouping factor (lme4 names further terms on the same factor
  ``g.1``, ``g.2``, which insight does not look up), so ``(x || g)`` and ``(1 | g) + (0 + x
  | g)`` count the intercept's variance only. Both rules agree on every model whose random
  slopes are fixed effects too and which has one term per grouping factor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lmeformula.errors import ArgumentTypeError

__all__ = ["RULES", "variance_parts"]

RULES = ("performance", "johnson")


def _mean_quadratic_form(Z: np.ndarray, S: np.ndarray) -> float:
    return float(np.mean(np.einsum("ij,jk,ik->i", Z, S, Z)))


def variance_parts(result: Any, rule: str = "performance") -> tuple[float, float, float]:
    """(fixed, random, residual) variances: var(Xβ) (n - 1 denominator, as R's ``var``),
    the random part by ``rule`` (see the module docstring), and σ².

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("score ~ Machine + (0 + Machine | Worker)", lmf.datasets.load("machines"))
    >>> [round(v, 2) for v in variance_parts(fit, "performance")]
    [33.12, 31.22, 0.92]
    >>> round(variance_parts(fit, "johnson")[1], 2)
    36.77
    """
    if rule not in RULES:
        raise ArgumentTypeError(f"random_variance must be one of {RULES}, got {rule!r}.")
    design = result.state.design
    fixed = float(np.var(design.X @ result.fixef.to_numpy(), ddof=1))
    s2 = result.sigma**2
    blocks = [(b.term, s2 * b.rel_cov) for b in result.state.term_blocks]
    if rule == "johnson":
        random = sum(_mean_quadratic_form(term.X, S) for term, S in blocks)
        return fixed, float(random), s2

    names = list(design.fixed_names)
    X = design.X
    if "(Intercept)" not in names:
        names = ["(Intercept)", *names]
        X = np.column_stack([np.ones(len(X)), X])
    random = 0.0
    seen: set[str] = set()
    for term, S in blocks:
        if term.name in seen:
            continue
        seen.add(term.name)
        # lme4 1.1 splits a diagonal (||) term into one term per column: only the first counts.
        keep = [0] if not term.structure.correlated else list(range(term.p))
        keep = [j for j in keep if term.columns[j] in names]
        if keep:
            Z = X[:, [names.index(term.columns[j]) for j in keep]]
            random += _mean_quadratic_form(Z, S[np.ix_(keep, keep)])
    return fixed, random, s2
