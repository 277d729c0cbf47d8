"""``fit_many(..., family=...)``: one glmer design fitted to many responses (many binary or
count responses on the same rows), on :func:`~lmeformula.fitting.many.fit_many`'s parallel
machinery.

What does not depend on the response is made once per pattern of missing responses, by
each worker: the model frame, X and Z, the grouping factors (``build_model``, on a stand-in
response in the family's support, never a response's values). Each response is then read
as its family reads it (``glm_response``: 0/1, logical or two-level factor for the
binomial, counts for the Poisson, the same checks and messages as ``glmer``), put into that
design, and fitted by :func:`~lmeformula.fitting.glmm.fit_glmm`, the stages ``glmer`` runs:
θ with β inside PIRLS (nAGQ = 0), then θ and β by the Laplace approximation (or
quadrature) warm-started there. A response's fit is therefore its single ``glmer`` fit,
whatever ran before it on that worker, and the results are the same bit for bit whatever
the backend, the number of workers or the chunking.

The table's numbers are taken from that fit (:func:`glmm_record`) and the fit is dropped.
``ManyFits.fits[name]`` fits that response again (:meth:`GlmmWorker.result`): PIRLS starts
each evaluation where the optimizer's last one ended, so a generalized model's solution is
a function of the optimizer's path, and only the same path gives the same bits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from lmeformula.errors import ArgumentTypeError, DataError, FormulaError
from lmeformula.families import Family, Gaussian, as_family
from lmeformula.fitting.glmm import fit_glmm
from lmeformula.fitting.optimize import OptInfo
from lmeformula.fitting.stages import build_model
from lmeformula.formula import parse
from lmeformula.model.datacheck import clean_column
from lmeformula.model.design import estimable_columns
from lmeformula.model.frame import settle_column
from lmeformula.model.glmresponse import glm_response
from lmeformula.model.model import Model
from lmeformula.results.estimates import ran_pars, variance_components
from lmeformula.results.glmer import GlmerResult

__all__ = [
    "GlmmPattern",
    "GlmmRecord",
    "GlmmSpec",
    "GlmmWorker",
    "check_nagq",
    "fit_one_glmm",
    "glmm_family",
    "glmm_record",
    "pack_columns",
    "quoted",
    "remember",
]

# Models a worker keeps, one per pattern of missing responses (most recent last).
PATTERN_CACHE = 8


def remember(cache: dict[bytes, Any], observed: np.ndarray, build: Callable[[], Any]) -> Any:
    """The entry of ``cache`` for the rows ``observed``, built when missing; the cache keeps
    the ``PATTERN_CACHE`` most recently used (one per pattern of missing responses)."""
    key = np.packbits(observed).tobytes()
    found = cache.pop(key, None)
    if found is None:
        found = build()
    cache[key] = found  # most recent last
    while len(cache) > PATTERN_CACHE:
        del cache[next(iter(cache))]
    return found


def quoted(name: str) -> str:
    """A column name as a formula writes it (backticks unless it is an identifier)."""
    return name if name.isidentifier() else f"`{name}`"


def glmm_family(family: Any) -> Family | None:
    """The family ``fit_many`` fits with glmer's machinery, or None for the lmer path: no
    family, or the gaussian with the identity link (a linear mixed model, which lme4's
    ``glmer`` hands to ``lmer``).

    Examples
    --------
    >>> glmm_family("poisson"), glmm_family("gaussian"), glmm_family(None)
    (poisson(link = 'log'), None, None)
    """
    if family is None:
        return None
    fam = as_family(family)
    if isinstance(fam, Gaussian) and fam.link.name == "identity":
        return None
    return fam


def check_nagq(nagq: Any) -> int:
    """nAGQ as ``glmer`` takes it: a whole number >= 0.

    Examples
    --------
    >>> check_nagq(1)
    1
    """
    if isinstance(nagq, bool) or not isinstance(nagq, (int, np.integer)) or nagq < 0:
        raise ArgumentTypeError(f"nagq must be a whole number >= 0, got {nagq!r}.")
    return int(nagq)


def _stand_in(family: Family, n: int) -> np.ndarray:
    # Values in the family's support (0/1 for binomial and counts, 1/2 for the positive
    # families), random so that neither a constant nor a column of X reproduces them.
    flips = np.random.default_rng(0).integers(0, 2, n).astype(float)
    for values in (flips, 1.0 + flips):
        if family.check(values, None) is None:
            return values
    return flips


@dataclass(frozen=True)
class GlmmSpec:
    """What every worker needs: the right-hand side, the columns it reads, the family."""

    rhs: str
    data: pd.DataFrame  # the right-hand side's columns (and weights), positional index
    weights: Any  # a column name of ``data``, an array per row, or None
    family: Family
    nagq: int

    def formula(self, response: str) -> str:
        """The formula of one response."""
        return f"{quoted(response)} ~ {self.rhs}"

    def check_quadrature(self, name: str) -> None:
        """lme4's rule for nAGQ > 1: one scalar random-effects term (checked on the rows
        every response shares, so that it is an error of the call)."""
        if self.nagq <= 1:
            return
        try:
            model = self.build(name, np.ones(len(self.data), dtype=bool))
        except DataError:
            return  # a problem of the data, reported per response
        terms = model.design.terms
        if len(terms) != 1 or terms[0].p != 1:
            raise FormulaError(
                f"nagq={self.nagq} (adaptive Gauss-Hermite quadrature) needs a single scalar "
                f"random-effects term such as (1 | g); '~ {self.rhs}' has {len(terms)} "
                f"term(s) with {sum(t.p for t in terms)} random effect(s) per level. Use "
                "nagq=1 (Laplace)."
            )

    def build(self, name: str, observed: np.ndarray) -> Model:
        stand_in = _stand_in(self.family, len(self.data))
        data = self.data.assign(**{name: np.where(observed, stand_in, np.nan)})
        return build_model(
            self.formula(name),
            data,
            reml=False,
            weights=self.weights,
            family=self.family,
            nagq=self.nagq,
        )


@dataclass
class GlmmPattern:
    """One pattern of missing response values: its rows and model."""

    model: Model
    column: str  # the response column's name in the frame (the response that built it)
    positions: np.ndarray  # rows of the data the model uses


@dataclass
class GlmmRecord:
    """One response's glmer fit: what the table and the glance are made from."""

    optinfo: OptInfo
    beta: np.ndarray
    se: np.ndarray
    ran: np.ndarray
    sigma: float
    loglik: float
    deviance: float
    aic: float
    bic: float
    df_residual: int
    npar: int
    nobs: int
    singular: bool
    fixed_names: tuple[str, ...]
    ran_names: tuple[tuple[str, str], ...]


def glmm_record(fit: GlmerResult) -> GlmmRecord:
    """The numbers of a fit's table rows and glance row, as its ``tidy`` and ``glance``
    give them (the same arithmetic: broom.mixed's ``ran_pars``, without the residual's
    row where the family has no dispersion)."""
    rows = variance_components(fit.state.design, fit.theta, fit.sigma)
    pars = [
        (g, term, v)
        for g, term, v in ran_pars(rows)
        if fit.family.has_dispersion or g != "Residual"
    ]
    optinfo = fit.optinfo
    optinfo.history = np.zeros(0)  # not kept: memory per response stays its results
    return GlmmRecord(
        optinfo=optinfo,
        beta=fit.fixef.to_numpy(),
        se=fit.fixef_se.to_numpy(),
        ran=np.array([v for _, _, v in pars], dtype=float),
        sigma=float(fit.sigma),
        loglik=float(fit.loglik),
        deviance=float(fit.deviance),
        aic=float(fit.aic),
        bic=float(fit.bic),
        df_residual=int(fit.df_resid),
        npar=int(fit.npar),
        nobs=int(fit.nobs),
        singular=bool(fit.singular),
        fixed_names=tuple(map(str, fit.fixef.index)),
        ran_names=tuple((g, term) for g, term, _ in pars),
    )


class GlmmWorker:
    """A worker's state: the spec and the models built so far, one per missing pattern."""

    def __init__(self, spec: GlmmSpec) -> None:
        self.spec = spec
        self.patterns: dict[bytes, GlmmPattern] = {}

    def pattern(self, name: str, observed: np.ndarray) -> GlmmPattern:
        """The model of the rows ``observed`` (built once, on a stand-in response; only the
        column's name is the response's, for the messages of what fails)."""

        def build() -> GlmmPattern:
            model = self.spec.build(name, observed)
            positions = np.asarray(model.frame.data.index, dtype=np.int64)
            return GlmmPattern(model=model, column=name, positions=positions)

        found: GlmmPattern = remember(self.patterns, observed, build)
        return found

    def model(self, name: str, column: pd.Series, index: pd.Index | None = None) -> Model:
        """Response ``column`` (all rows, positional index, missing where not observed) in
        its pattern's model, read as its family reads it; with the data's ``index``, the
        model frame is the response's own (its values, row labels and dropped rows)."""
        spec = self.spec
        if name in spec.data.columns:
            raise DataError(
                f"the response {name!r} is also a column the formula or the weights use; a "
                "response cannot be its own predictor."
            )
        # As glmer's model frame reads the column (select_columns, then settle_column).
        column = clean_column(name, column)
        pattern = self.pattern(name, ~column.isna().to_numpy())
        model = pattern.model
        rows = column.iloc[pattern.positions].reset_index(drop=True)
        values = settle_column(name, rows, is_response=True)
        formula = spec.formula(name)
        resp = glm_response(
            quoted(name),
            formula,
            pd.DataFrame({name: values}),
            spec.family,
            model.frame.weights,
        )
        design = model.design
        if design.weights is None or not np.array_equal(design.weights, resp.weights):
            design = replace(design, weights=resp.weights)
        # As glmer's design checks it: the response varies and X does not reproduce it.
        estimable_columns(design.X, list(design.fixed_names), resp.y - design.offset, name)
        model = replace(model, design=design.with_response(resp.y), trials=resp.trials)
        if index is None:
            return model
        data = model.frame.data.rename(columns={pattern.column: name})
        data[name] = values.set_axis(data.index)
        data.index = index[pattern.positions]
        frame = model.frame.with_data(data, index.delete(pattern.positions))
        return replace(model, parsed=parse(formula), frame=frame)

    def fit(self, name: str, column: pd.Series) -> GlmerResult:
        """The response's glmer fit (its frame the pattern's)."""
        return fit_glmm(self.model(name, column))

    def result(self, name: str, column: pd.Series, index: pd.Index) -> GlmerResult:
        """The response's glmer fit with its own model frame, as ``glmer`` returns it."""
        return fit_glmm(self.model(name, column, index))


def fit_one_glmm(worker: GlmmWorker, item: tuple[str, pd.Series]) -> GlmmRecord:
    """One response's record (:func:`lmeformula.fitting.parallel.run`'s function)."""
    name, column = item
    return glmm_record(worker.fit(name, column))


def pack_columns(source: Any) -> Callable[[list[str]], list[tuple[str, pd.Series]]]:
    """The responses of a chunk, each its column with a positional index (a factor or a
    logical response travels as it is: the family reads it in the worker)."""

    def pack(chunk: list[str]) -> list[tuple[str, pd.Series]]:
        return [(name, source[name].reset_index(drop=True)) for name in chunk]

    return pack
