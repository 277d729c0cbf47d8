"""The statsmodels engine: a design expressed as a ``MixedLM`` model, fitted and checked.

How lme4 terms map onto MixedLM:

- terms on one grouping factor ``g`` (the "primary" factor): ``groups = g`` and their columns
  side by side in ``exog_re``; a ``free`` mask keeps separate terms uncorrelated and makes
  ``||`` terms diagonal;
- terms whose factor is nested in ``g`` (``(1 | g:h)``): one variance component per column;
- no factor containing all others (crossed factors): one constant group, every term a
  variance component.

A term with correlated random effects on a factor other than the primary one cannot be
expressed: MixedLM has one ``cov_re`` only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

from lmeformula.engines.derivatives import finite_differences
from lmeformula.engines.protocol import Engine
from lmeformula.engines.threads import blas_threads
from lmeformula.errors import NotExpressibleError
from lmeformula.fitting.optimize import (
    GRADIENT_TOL,
    Attempt,
    OptInfo,
    convergence_messages,
    newton_finish,
)
from lmeformula.model.design import Design, ReTerm

__all__ = ["MixedLMSpec", "fit_mixedlm", "mixedlm_spec"]

# Dense crossed designs beyond this many cells (n x q) would not fit in memory comfortably.
_MAX_DENSE_CELLS = 50_000_000


@dataclass
class MixedLMSpec:
    """A MixedLM model and how to read its parameters back as lme4's θ.

    Attributes
    ----------
    model
        The statsmodels model.
    primary
        Name of the grouping factor used as MixedLM's ``groups`` (None when crossed).
    re_terms
        Indices (into ``design.terms``) of the terms in ``exog_re``, in column order.
    vc_terms
        For each variance component, in MixedLM's order: (term index, column index).
    free
        The ``free`` mask, or None when every parameter is free.
    """

    model: MixedLM
    primary: str | None
    re_terms: list[int]
    vc_terms: list[tuple[int, int]]
    free: MixedLMParams | None

    def theta(self, params: MixedLMParams, design: Design) -> np.ndarray:
        """lme4's θ from MixedLM's (relative) parameters."""
        parts: list[np.ndarray] = []
        offsets: dict[int, int] = {}
        pos = 0
        for k in self.re_terms:
            offsets[k] = pos
            pos += design.terms[k].p
        vc_index = {key: i for i, key in enumerate(self.vc_terms)}
        for k, term in enumerate(design.terms):
            if k in offsets:
                a = offsets[k]
                block = np.asarray(params.cov_re)[a : a + term.p, a : a + term.p]
            else:
                block = np.diag([params.vcomp[vc_index[(k, j)]] for j in range(term.p)])
            parts.append(term.structure.theta_from_cov(block))
        return np.concatenate(parts)

    def params_from_theta(
        self, theta: np.ndarray, design: Design, problem: Engine
    ) -> MixedLMParams:
        """MixedLM start values equivalent to lme4's θ."""
        sol = problem.solve(theta)
        k_re = sum(design.terms[k].p for k in self.re_terms)
        cov_re = np.zeros((k_re, k_re))
        pos = 0
        vcomp = np.zeros(len(self.vc_terms))
        rel = {}
        for k, (term, sl) in enumerate(zip(design.terms, design.theta_slices, strict=True)):
            rel[k] = term.structure.rel_cov(theta[sl])
        for k in self.re_terms:
            p = design.terms[k].p
            cov_re[pos : pos + p, pos : pos + p] = rel[k]
            pos += p
        for i, (k, j) in enumerate(self.vc_terms):
            vcomp[i] = rel[k][j, j]
        return MixedLMParams.from_components(sol.beta, cov_re=cov_re, vcomp=vcomp)


def _nested_in(inner: np.ndarray, outer: np.ndarray) -> bool:
    # Nested: every level of the inner factor lies within one level of the outer factor.
    order = np.lexsort((outer, inner))
    i, o = inner[order], outer[order]
    same_inner = i[1:] == i[:-1]
    return bool(np.all(o[1:][same_inner] == o[:-1][same_inner]))


def _choose_primary(design: Design) -> str | None:
    factors = {t.name: t.factor for t in design.terms}
    # Prefer the factor with the most random effects in exog_re (fewest variance components).
    candidates = sorted(factors, key=lambda g: -sum(t.p for t in design.terms if t.name == g))
    for g in candidates:
        if all(_nested_in(f.codes, factors[g].codes) for f in factors.values()):
            return g
    return None


def _needs_covariance(term: ReTerm) -> bool:
    return term.structure.correlated


def mixedlm_spec(design: Design, reml: bool) -> MixedLMSpec:
    """Express a design as a statsmodels ``MixedLM`` model.

    Raises
    ------
    NotExpressibleError
        Naming the term MixedLM cannot express and why.
    """
    y = design.y - design.offset
    n = len(y)
    for term in design.terms:
        # MixedLM's covariance is free or masked to zeros: what a structure whose
        # parameters are its covariance's entries (UN, DIAG) is.
        if term.structure.free_elements() is None:
            raise NotExpressibleError(
                f"the term ({term.term.text}) has a {term.structure.kind} covariance, which "
                "statsmodels' MixedLM cannot express."
            )
    primary = _choose_primary(design)
    re_terms = [k for k, t in enumerate(design.terms) if t.name == primary]
    for k, term in enumerate(design.terms):
        if k not in re_terms and _needs_covariance(term):
            others = sorted({t.name for t in design.terms} - {term.name})
            where = (
                f"is not the factor every other factor is nested in ({primary})"
                if primary
                else f"is crossed with {', '.join(repr(o) for o in others)}"
            )
            raise NotExpressibleError(
                f"statsmodels' MixedLM cannot express the correlated random effects of "
                f"({term.term.text}): its grouping factor {term.name!r} {where}, and MixedLM "
                "allows correlated random effects on one grouping factor only. Use "
                f"(... || {term.name}) for uncorrelated effects."
            )
    if primary is None:
        groups = np.zeros(n, dtype=np.int64)
        q = sum(t.q for t in design.terms)
        if n * q > _MAX_DENSE_CELLS:
            raise NotExpressibleError(
                f"crossed random effects need a dense {n} x {q} design in statsmodels' "
                "MixedLM, too large to build; this model needs the profiled-deviance engine."
            )
    else:
        groups = design.terms[re_terms[0]].factor.codes
    exog_re = np.hstack([design.terms[k].X for k in re_terms]) if re_terms else np.zeros((n, 0))
    vc_terms: list[tuple[int, int]] = []
    exog_vc: dict[str, dict[int, np.ndarray]] = {}
    group_rows = {g: np.flatnonzero(groups == g) for g in np.unique(groups)}
    for k, term in enumerate(design.terms):
        if k in re_terms:
            continue
        for j, col in enumerate(term.columns):
            mats = {}
            for g, rows in group_rows.items():
                codes = term.factor.codes[rows]
                levels, local = np.unique(codes, return_inverse=True)
                mat = np.zeros((rows.size, levels.size))
                mat[np.arange(rows.size), local] = term.X[rows, j]
                mats[int(g)] = mat
            exog_vc[f"{term.name}|{col}"] = mats
            vc_terms.append((k, j))
    # MixedLM sorts variance-component names; keep our bookkeeping in its order.
    order = sorted(range(len(vc_terms)), key=lambda i: list(exog_vc)[i])
    vc_terms = [vc_terms[i] for i in order]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MixedLM(
            y,
            design.X,
            groups,
            exog_re=exog_re,
            exog_vc=exog_vc or None,
            use_sqrt=True,
        )
    model.reml = reml
    free = _free_mask(design, re_terms, len(vc_terms))
    return MixedLMSpec(model, primary, re_terms, vc_terms, free)


def _free_mask(design: Design, re_terms: list[int], n_vc: int) -> MixedLMParams | None:
    sizes = [design.terms[k].p for k in re_terms]
    mask = np.zeros((sum(sizes), sum(sizes)))
    pos = 0
    for k, p in zip(re_terms, sizes, strict=True):
        free = design.terms[k].structure.free_elements()
        assert free is not None  # mixedlm_spec refused the others
        rows, cols = free
        mask[pos + rows, pos + cols] = mask[pos + cols, pos + rows] = 1.0
        pos += p
    if np.all(mask == 1.0):
        return None
    return MixedLMParams.from_components(
        np.ones(design.X.shape[1]), cov_re=mask, vcomp=np.ones(n_vc)
    )


# Tried in order until the gradient check passes, each with whether it starts from the best
# point so far. statsmodels' default chain (bfgs then lbfgs) stops early on Orthodont's
# random-slope model, where lbfgs alone reaches the optimum; lbfgs alone runs to the boundary
# on Exam's random-intercept model, where the default chain is right.
_METHODS: list[tuple[list[str], bool]] = [
    (["bfgs", "lbfgs"], False),
    (["lbfgs"], False),
    (["nm", "lbfgs"], True),
    (["powell", "lbfgs"], True),
]


def fit_mixedlm(spec: MixedLMSpec, engine: Engine) -> OptInfo:
    """Fit the MixedLM model, check the optimum with lme4's profiled deviance, retry if needed.

    Returns
    -------
    OptInfo
        With the best θ found; ``converged`` is False when no attempt passed the check.
    """
    with blas_threads(engine.largest_dense_block):
        return _fit_mixedlm(spec, engine)


def _fit_mixedlm(spec: MixedLMSpec, engine: Engine) -> OptInfo:
    design = engine.design
    lower, upper = engine.layout.lower, engine.layout.upper
    best_theta: np.ndarray | None = None
    best_dev = np.inf
    best_grad = np.inf
    attempts: list[Attempt] = []
    for methods, warm in _METHODS:
        start = (
            spec.params_from_theta(best_theta, design, engine)
            if warm and best_theta is not None
            else None
        )
        name = "+".join(methods)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = spec.model.fit(
                    reml=engine.reml,
                    method=methods,
                    start_params=start,
                    free=spec.free,
                    maxiter=1000,
                )
            theta = spec.theta(result.params_object, design)
            theta = np.maximum(theta, lower)
            dev = engine.deviance(theta)
            grad = finite_differences(engine.deviance, theta, lower, upper).scaled_gradient()
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError) as exc:
            attempts.append(Attempt(name, np.nan, np.nan, str(exc)))
            continue
        attempts.append(Attempt(name, dev, grad))
        if dev < best_dev - 1e-10 or best_theta is None:
            best_theta, best_dev, best_grad = theta, dev, grad
        if best_grad < GRADIENT_TOL:
            break
    if best_theta is None:
        raise NotExpressibleError(
            "statsmodels' MixedLM failed on every optimizer: "
            + "; ".join(f"{a.method}: {a.error}" for a in attempts)
        )
    # Close the last digits with Newton steps on lme4's deviance (see optimize.py).
    theta, dev, derivs, steps = newton_finish(engine, best_theta)
    grad = derivs.scaled_gradient()
    if dev <= best_dev:
        best_theta, best_dev, best_grad = theta, dev, grad
    converged = best_grad < GRADIENT_TOL
    messages = convergence_messages(best_grad, GRADIENT_TOL)
    return OptInfo(
        optimizer=f"statsmodels MixedLM ({attempts[-1].method})"
        + (f" + {steps} Newton step(s)" if steps else ""),
        converged=converged,
        par_start=engine.layout.start,
        par=best_theta,
        deviance=best_dev,
        max_gradient=best_grad,
        evaluations=len(attempts),
        newton_steps=steps,
        attempts=attempts,
        messages=messages,
    )
