"""``to_bayes_mixed_glm()``: an lme4 formula as statsmodels' Bayesian mixed GLM.

statsmodels' ``BinomialBayesMixedGLM`` and ``PoissonBayesMixedGLM`` take independent
variance components only: columns of ``exog_vc`` (one per level of a grouping factor times a
covariate), with ``ident`` saying which columns share a variance. A random-effects term whose
effects are uncorrelated maps onto them exactly: ``(1 | g)`` is one component, ``(x || g)``
(or ``(1 | g) + (0 + x | g)``) two, ``homdiag(0 + f | g)`` one spanning f's columns. What has
no such form (correlated effects, covariance patterns, trials, offsets, prior weights, other
families and links) is refused with :class:`~lmeformula.errors.NotExpressibleError`.

The fixed design, the response and the random-effects columns are lmeformula's own
(:func:`~lmeformula.fitting.stages.build_model`), so the names and the rows are glmer's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from statsmodels.genmod.bayes_mixed_glm import (
    BinomialBayesMixedGLM,
    PoissonBayesMixedGLM,
    _BayesMixedGLM,
)

from lmeformula.errors import NotExpressibleError
from lmeformula.families import Binomial, Family, Poisson, as_family
from lmeformula.fitting.api import check_args
from lmeformula.fitting.stages import build_model
from lmeformula.model.design import ReTerm
from lmeformula.validate import check_positive

__all__ = ["to_bayes_mixed_glm"]

_WHAT = "statsmodels' Bayesian mixed GLMs (BinomialBayesMixedGLM, PoissonBayesMixedGLM)"

#: Structures whose random effects are independent: a variance per column, or one for all.
_INDEPENDENT = ("DIAG", "ID")


def _model_class(fam: Family) -> type[_BayesMixedGLM]:
    if type(fam) is Binomial and fam.link.name == "logit":
        return BinomialBayesMixedGLM
    if type(fam) is Poisson and fam.link.name == "log":
        return PoissonBayesMixedGLM
    raise NotExpressibleError(
        f"the family {fam!r}: {_WHAT} take the binomial family with the logit link and the "
        "poisson family with the log link only; fit it with lmf.glmer()."
    )


def _shown(term: ReTerm) -> str:
    """The term as written: ``(1 + x | g)``, ``cs(0 + f | g)``."""
    plain = term.structure.special in (None, "||")
    return f"({term.term.text})" if plain else term.term.text


def _check_term(term: ReTerm) -> None:
    kind = term.structure.kind
    if kind in _INDEPENDENT or (kind == "UN" and term.p == 1):
        return
    if kind == "UN":
        raise NotExpressibleError(
            f"the term {_shown(term)} has correlated random effects, which {_WHAT} cannot "
            f"express: their random effects are independent. Write ({term.term.lhs} || "
            f"{term.name}) for uncorrelated effects, or fit it with lmf.glmer()."
        )
    raise NotExpressibleError(
        f"the term {_shown(term)} has a structured covariance ({kind}), which {_WHAT} cannot "
        "express: they take independent variance components only. Fit it with lmf.glmer()."
    )


def _components(term: ReTerm) -> list[tuple[str, list[int]]]:
    """The term's variance components: each one's name and the term's columns it spans."""
    if term.structure.kind == "ID":
        label = "+".join(term.columns)
        return [
            (term.name if label == "(Intercept)" else f"{term.name}:{label}", list(range(term.p)))
        ]
    return [
        (term.name if col == "(Intercept)" else f"{term.name}:{col}", [j])
        for j, col in enumerate(term.columns)
    ]


def _unique(name: str, seen: set[str]) -> str:
    # lme4 numbers a grouping factor's repeated terms "g", "g.1", "g.2".
    out, k = name, 0
    while out in seen:
        k += 1
        out = f"{name}.{k}"
    seen.add(out)
    return out


def _exog_vc(terms: list[ReTerm], n: int) -> tuple[sp.csr_matrix, np.ndarray, list[str], list[str]]:
    blocks: list[sp.csr_matrix] = []
    ident: list[np.ndarray] = []
    vcp_names: list[str] = []
    vc_names: list[str] = []
    seen: set[str] = set()
    rows = np.arange(n)
    for term in terms:
        codes, levels = term.factor.codes, term.factor.levels
        for name, columns in _components(term):
            name = _unique(name, seen)
            for j in columns:
                # Column l of the block: the indicator of level l times the term's column j.
                block = sp.csr_matrix((term.X[:, j], (rows, codes)), shape=(n, len(levels)))
                block.eliminate_zeros()
                blocks.append(block)
                ident.append(np.full(len(levels), len(vcp_names), dtype=np.int64))
                suffix = "" if len(columns) == 1 else f":{term.columns[j]}"
                vc_names.extend(f"{name}{suffix}[{level}]" for level in levels)
            vcp_names.append(name)
    return sp.hstack(blocks, format="csr"), np.concatenate(ident), vcp_names, vc_names


def to_bayes_mixed_glm(
    formula: str,
    data: Any,
    family: Any = "binomial",
    *,
    vcp_p: float = 1.0,
    fe_p: float = 2.0,
    weights: Any = None,
    offset: Any = None,
    nagq: Any = None,
) -> _BayesMixedGLM:
    """statsmodels' Bayesian mixed GLM (unfitted) that expresses an lme4 formula.

    Parameters
    ----------
    formula
        An lme4 formula as :func:`lmeformula.glmer` takes it, whose random-effects terms
        are scalar (``(1 | g)``) or uncorrelated (``(x || g)``, ``(1 | g) + (0 + x | g)``,
        ``diag(x | g)``, ``homdiag(0 + f | g)``).
    data
        A table as :func:`~lmeformula.lmer` takes (pandas, polars, Arrow; not modified;
        rows with missing values dropped, as glmer).
    family
        ``"binomial"`` (logit link; a 0/1, logical or two-level factor or string response,
        the first level failure) or ``"poisson"`` (log link), by name or as for glmer.
    vcp_p
        Prior standard deviation of the log standard deviations of the variance components.
    fe_p
        Prior standard deviation of the fixed effects.
    weights, offset, nagq
        glmer's arguments, refused: the models have no prior weights, offsets or
        quadrature. Accepted only to say so.

    Returns
    -------
    statsmodels.genmod.bayes_mixed_glm.BinomialBayesMixedGLM or PoissonBayesMixedGLM
        ``exog`` is glmer's fixed design (``fep_names`` its column names, lme4's);
        ``exog_vc`` is a sparse CSR matrix with one column per level of each variance
        component; ``vcp_names`` are lme4's groups (``"id"``, ``"g:x"`` for the slope of
        x on g); ``vc_names`` are ``"id[level]"``. Fit it with ``fit_vb()`` or
        ``fit_map()``.

    Raises
    ------
    NotExpressibleError
        Naming the part (a term, the family, trials, an offset, weights, nagq) the models
        cannot express.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> verb = lmf.datasets.load("verbagg")
    >>> model = lmf.to_bayes_mixed_glm(
    ...     "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", verb)
    >>> type(model).__name__, model.exog.shape, model.exog_vc.shape
    ('BinomialBayesMixedGLM', (7584, 6), (7584, 340))
    >>> model.vcp_names, model.fep_names[:2]
    (['id', 'item'], ['(Intercept)', 'Anger'])
    """
    check_args(formula, False)
    if offset is not None:
        raise NotExpressibleError(f"offset=: {_WHAT} have no offset; fit it with lmf.glmer().")
    if nagq is not None:
        raise NotExpressibleError(
            f"nagq={nagq!r}: {_WHAT} have no quadrature (they are fitted by variational Bayes, "
            "fit_vb(), or at the posterior mode, fit_map()); leave nagq out."
        )
    vcp_p = check_positive("vcp_p", vcp_p)
    fe_p = check_positive("fe_p", fe_p)
    fam = as_family(family)
    cls = _model_class(fam)
    model = build_model(formula, data, reml=False, weights=weights, family=fam)
    if model.parsed.offsets:
        raise NotExpressibleError(
            f"the offset(s) offset({'), offset('.join(model.parsed.offsets)}) of '{formula}': "
            f"{_WHAT} have no offset; fit it with lmf.glmer()."
        )
    if model.trials is not None and np.any(model.trials != 1):
        raise NotExpressibleError(
            f"the response '{model.parsed.response}' has binomial trials other than 1 "
            "(cbind(successes, failures), or a proportion with weights= its trials): "
            f"{_WHAT} take one 0/1 outcome per row; expand the rows to one per trial, or fit it "
            "with lmf.glmer()."
        )
    if weights is not None:
        raise NotExpressibleError(
            f"weights=: {_WHAT} have no prior weights; fit it with lmf.glmer()."
        )
    design = model.design
    for term in design.terms:
        _check_term(term)
    index = model.frame.data.index
    exog = pd.DataFrame(design.X, index=index, columns=list(design.fixed_names))
    endog = pd.Series(design.y, index=index, name=model.parsed.response)
    exog_vc, ident, vcp_names, vc_names = _exog_vc(design.terms, len(design.y))
    return cls(
        endog,
        exog,
        exog_vc,
        ident,
        vcp_p=vcp_p,
        fe_p=fe_p,
        fep_names=list(design.fixed_names),
        vcp_names=vcp_names,
        vc_names=vc_names,
    )
