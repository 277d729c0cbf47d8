"""The same model fitted to many responses: ``fit_many`` (what R users write as
``lapply(ys, function(y) lmer(...))``, or variancePartition's ``dream`` for genes).

Everything that does not depend on the response is made once: the model frame, X and Z,
their cross-products and the layout of the factorisation (the engine). Responses with the
same missing values share all of it; a response with its own missing values gets its own
engine, built once for every response with that pattern. Each response then costs only
its own work: the cross-products with y, the optimisation (BOBYQA from lme4's start, as a
single ``lmer`` fit, so each response reaches its single fit's optimum) and the numbers
of its table rows, computed from the solution without building a results object.

The fits are kept as their estimates of θ; ``ManyFits.fits[name]`` re-solves the model at
θ on demand and returns the full :class:`~lmeformula.results.lmer.LmerResult`, equal to the
table's numbers bit for bit.

With a family (``family="binomial"``, ``"poisson"``, ...), each response is fitted by
glmer's stages on the shared design instead (:mod:`lmeformula.fitting.many_glmm`): the same
dispatch, table and glance, one :class:`~lmeformula.results.glmer.GlmerResult` per response.

Parallel runs go through :func:`lmeformula.fitting.parallel.run`: the model's data travels to each
worker once (the responses once each, to the worker that fits them), and a worker builds
each engine once. Results are the same bit for bit whatever the backend, the number of
workers or the chunking: every response is fitted from the same engine, built from the
model's data alone, in one BLAS thread.
"""

from __future__ import annotations

import contextlib
import difflib
import html
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from lmeformula.engines.factory import make_engine
from lmeformula.engines.protocol import Engine
from lmeformula.engines.solution import PLSSolution
from lmeformula.engines.threads import limit_blas
from lmeformula.errors import ArgumentTypeError, DataError, FitManyWarning, LmeFormulaError
from lmeformula.fitting.many_glmm import (
    GlmmRecord,
    GlmmSpec,
    GlmmWorker,
    check_nagq,
    fit_one_glmm,
    glmm_family,
    pack_columns,
    quoted,
    remember,
)
from lmeformula.fitting.optimize import OptInfo
from lmeformula.fitting.parallel import check_backend, check_n_jobs, run
from lmeformula.fitting.stages import build_model, make_result, optimize
from lmeformula.formula import parse
from lmeformula.model.datacheck import as_frame, column_names
from lmeformula.model.design import Design, estimable_columns
from lmeformula.model.model import Model
from lmeformula.results.estimates import fixef_vcov, is_singular, ran_pars, variance_components
from lmeformula.results.glmer import GlmerResult
from lmeformula.results.lmer import LmerResult

__all__ = ["ManyFits", "fit_many"]

#: Columns of ``ManyFits.table``.
TABLE_COLUMNS = [
    "response",
    "effect",
    "group",
    "term",
    "estimate",
    "std_error",
    "statistic",
    "loglik",
    "converged",
    "singular",
    "error",
]


@dataclass(frozen=True)
class _Spec:
    """What every worker needs: the right-hand side and the columns it reads."""

    rhs: str
    data: pd.DataFrame  # the right-hand side's columns (and weights), positional index
    reml: bool
    weights: Any  # a column name of ``data``, an array per row, or None

    def formula(self, response: str) -> str:
        return f"{quoted(response)} ~ {self.rhs}"


@dataclass
class _Pattern:
    """One pattern of missing response values: its rows, model and engine."""

    model: Model
    engine: Engine
    column: str  # the response column's name in ``frame`` (the response that built it)
    positions: np.ndarray  # rows of the data the model uses
    fixed_names: tuple[str, ...]
    ran_names: tuple[tuple[str, str], ...]


@dataclass
class _Record:
    """One response's fit: what the table and ``fits`` are made from."""

    optinfo: OptInfo
    beta: np.ndarray
    se: np.ndarray
    ran: np.ndarray
    sigma: float
    loglik: float
    deviance: float
    reml_criterion: float | None
    npar: int
    nobs: int
    singular: bool
    fixed_names: tuple[str, ...]
    ran_names: tuple[tuple[str, str], ...]


def _ran_names(design: Design) -> tuple[tuple[str, str], ...]:
    # broom.mixed's order, as LmerResult.tidy (the names do not depend on θ).
    rows = variance_components(design, design.start, 1.0)
    return tuple((g, term) for g, term, _ in ran_pars(rows))


def _ran_values(design: Design, theta: np.ndarray, sigma: float) -> np.ndarray:
    # The same arithmetic as LmerResult.varcorr, so that the numbers agree bit for bit.
    return np.array([v for _, _, v in ran_pars(variance_components(design, theta, sigma))])


def _record(pattern: _Pattern, sol: PLSSolution, optinfo: OptInfo, reml: bool) -> _Record:
    design = pattern.model.design
    p = len(design.fixed_names)
    se = np.sqrt(np.diag(fixef_vcov(sol.RX, sol.sigma)))
    npar = p + len(sol.theta) + 1
    n = len(design.y)
    return _Record(
        optinfo=optinfo,
        beta=sol.beta,
        se=se,
        ran=_ran_values(design, sol.theta, sol.sigma),
        sigma=sol.sigma,
        loglik=-0.5 * sol.deviance,
        deviance=sol.ml_deviance,
        reml_criterion=sol.deviance if reml else None,
        npar=npar,
        nobs=n,
        singular=is_singular(design, sol.theta),
        fixed_names=pattern.fixed_names,
        ran_names=pattern.ran_names,
    )


class _Worker:
    """A worker's state: the spec and the engines built so far, one per missing pattern."""

    def __init__(self, spec: _Spec) -> None:
        self.spec = spec
        self.patterns: dict[bytes, _Pattern] = {}

    def pattern(self, name: str, observed: np.ndarray) -> _Pattern:
        found: _Pattern = remember(self.patterns, observed, lambda: self._build(name, observed))
        return found

    def _build(self, name: str, observed: np.ndarray) -> _Pattern:
        # The engine is built from the model's data and a fixed stand-in response, never
        # from a response's values, so that every response goes through the same
        # with_response and gets the same bits whichever response a worker meets first.
        # (Only the column's name is the response's, for the messages of what fails.)
        spec = self.spec
        stand_in = np.random.default_rng(0).standard_normal(len(spec.data))
        data = spec.data.assign(**{name: np.where(observed, stand_in, np.nan)})
        model = build_model(spec.formula(name), data, reml=spec.reml, weights=spec.weights)
        design = model.design
        return _Pattern(
            model=model,
            engine=make_engine(model),
            column=name,
            positions=np.asarray(model.frame.data.index, dtype=np.int64),
            fixed_names=tuple(design.fixed_names),
            ran_names=_ran_names(design),
        )

    def solve(self, name: str, y: np.ndarray) -> tuple[_Pattern, Engine]:
        """The engine of response ``y`` (full length, NaN where missing)."""
        if name in self.spec.data.columns:
            raise DataError(
                f"the response {name!r} is also a column the formula or the weights use; a "
                "response cannot be its own predictor."
            )
        pattern = self.pattern(name, ~np.isnan(y))
        ys = y[pattern.positions]
        if not np.all(np.isfinite(ys)):
            raise DataError(f"the response {name!r} has non-finite values; drop those rows.")
        design = pattern.model.design
        # The response varies and X does not reproduce it (X is already of full rank).
        estimable_columns(design.X, design.fixed_names, ys - design.offset, name)
        return pattern, pattern.engine.with_response(ys)


def _fit_one(worker: _Worker, item: tuple[str, np.ndarray]) -> _Record:
    name, y = item
    pattern, problem = worker.solve(name, y)
    optinfo = optimize(problem)
    optinfo.history = np.zeros(0)  # not kept: memory per response stays its results
    return _record(pattern, problem.solve(optinfo.par), optinfo, worker.spec.reml)


class _Fits(Mapping[str, "LmerResult | GlmerResult"]):
    """``ManyFits.fits``: each fit made when asked for (re-solved at its θ)."""

    def __init__(self, owner: ManyFits) -> None:
        self._owner = owner

    def __getitem__(self, name: str) -> LmerResult | GlmerResult:
        return self._owner._fit(name)

    def __iter__(self) -> Iterator[str]:
        return (k for k, r in self._owner._records.items() if r is not None)

    def __len__(self) -> int:
        return sum(r is not None for r in self._owner._records.values())

    def __repr__(self) -> str:
        return f"<{len(self)} fits, each made when asked for: fits[name]>"


@dataclass(eq=False)
class ManyFits:
    """The same model fitted to many responses (:func:`fit_many`).

    Attributes
    ----------
    table
        The tidy table: one block of rows per response, in the order given: its fixed
        effects (``effect="fixed"``: estimate, std_error, t statistic; z with a family) and
        variance components (``effect="ran_pars"``: standard deviations and correlations,
        as ``LmerResult.tidy`` and ``GlmerResult.tidy``: no residual row for a family
        without a dispersion), each row with the response's ``loglik`` and ``converged``
        and ``singular`` flags. A response whose fit failed has one row, with the error.
    errors
        The failed responses and why.
    """

    table: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)
    _records: dict[str, _Record | GlmmRecord | None] = field(default_factory=dict, repr=False)
    _info: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    _spec: _Spec | GlmmSpec | None = field(default=None, repr=False)
    _source: Any = field(default=None, repr=False)
    _data_index: pd.Index | None = field(default=None, repr=False)
    _worker: _Worker | GlmmWorker | None = field(default=None, repr=False)

    @property
    def fits(self) -> Mapping[str, LmerResult | GlmerResult]:
        """The fits by response name, each made when asked for (``fits["y1"]``): the model
        is re-solved at the stored estimates (with a family, the response is fitted again,
        as ``glmer`` fits it: the same numbers bit for bit), from the data given to
        :func:`fit_many` (which must not have changed since)."""
        return _Fits(self)

    @property
    def responses(self) -> list[str]:
        """The responses, in the order given."""
        return list(self._records)

    def glance(self) -> pd.DataFrame:
        """One row per response, as ``broom.mixed::glance`` of each fit.

        Returns
        -------
        pandas.DataFrame
            Indexed by response: ``nobs, n_dropped, sigma, loglik, aic, bic``,
            ``reml_criterion`` (REML) or ``deviance`` (ML; with a family, lme4's
            ``deviance(m)``, then ``df_residual``), ``converged, singular, evaluations,
            na_pattern`` (responses with the same number share their rows and engine),
            ``message`` (the convergence message) and ``error``.
        """
        return self._info.copy()

    def fixef(self) -> pd.DataFrame:
        """The fixed effects, one row per response and one column per coefficient (NaN
        where a fit failed or a coefficient was dropped)."""
        fixed = self.table[self.table["effect"] == "fixed"]
        wide = fixed.pivot(index="response", columns="term", values="estimate")
        order = list(dict.fromkeys(fixed["term"]))
        return wide.reindex(index=self.responses, columns=order).rename_axis(columns=None)

    def __len__(self) -> int:
        return len(self._records)

    def _heading(self) -> str:
        info = self._info
        n_ok = int(info["error"].isna().sum()) if len(info) else 0
        return (
            f"<ManyFits: {len(self)} responses, {n_ok} fitted "
            f"({int(info['converged'].sum())} converged, {int(info['singular'].sum())} "
            f"singular), {len(self.errors)} failed>"
        )

    def __repr__(self) -> str:
        return f"{self._heading()}\n{self.table!r}"

    def _repr_html_(self) -> str | None:
        body = self.table._repr_html_()  # type: ignore[operator]
        return None if body is None else f"<p>{html.escape(self._heading())}</p>{body}"

    def _fit(self, name: str) -> LmerResult | GlmerResult:
        if name not in self._records:
            close = difflib.get_close_matches(str(name), self.responses, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise KeyError(f"{name!r} is not one of the responses.{hint}")
        record = self._records[name]
        if record is None:
            raise DataError(f"the fit of {name!r} failed: {self.errors.get(name)}")
        assert self._spec is not None and self._data_index is not None
        if isinstance(self._spec, GlmmSpec):
            return self._glmm_fit(name, record)
        assert isinstance(self._spec, _Spec) and isinstance(record, _Record)
        if not isinstance(self._worker, _Worker):
            self._worker = _Worker(self._spec)
        y = _response_values(self._source, name)
        with limit_blas(1):
            pattern, problem = self._worker.solve(name, y)
        model = pattern.model
        data = model.frame.data.rename(columns={pattern.column: name})
        data[name] = problem.design.y
        data.index = self._data_index[pattern.positions]
        frame = model.frame.with_data(data, self._data_index.delete(pattern.positions))
        model = replace(model, parsed=parse(self._spec.formula(name)), frame=frame)
        with limit_blas(1):
            fit = make_result(model, problem, record.optinfo)
        assert isinstance(fit, LmerResult)
        _check_same(name, fit.loglik, record.loglik)
        return fit

    def _glmm_fit(self, name: str, record: _Record | GlmmRecord) -> GlmerResult:
        assert isinstance(self._spec, GlmmSpec) and self._data_index is not None
        if not isinstance(self._worker, GlmmWorker):
            self._worker = GlmmWorker(self._spec)
        column = self._source[name].reset_index(drop=True)
        with limit_blas(1):
            fit = self._worker.result(name, column, self._data_index)
        _check_same(name, fit.loglik, record.loglik)
        return fit


def _check_same(name: str, loglik: float, stored: float) -> None:
    if abs(loglik - stored) > 1e-8 * max(1.0, abs(stored)):
        raise DataError(
            f"re-solving {name!r} at its estimates does not give the stored "
            "log-likelihood: the data changed since fit_many; fit again."
        )


def _response_values(source: Any, name: str) -> np.ndarray:
    column = source[name]
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise DataError(
            f"the response {name!r} is not numeric (dtype {column.dtype}); a linear mixed "
            "model needs a numeric response. Convert it with pandas.to_numeric if it holds "
            "numbers."
        )
    return column.to_numpy(dtype=float)


def _responses(data: pd.DataFrame, responses: Any, columns: list[str]) -> tuple[Any, list[str]]:
    """Where the responses' values are, and their names (``columns``: all of the caller's
    data's, of which ``data`` may hold those read only)."""
    table = _response_table(responses)
    if table is not None:
        responses = table
        if not responses.index.equals(data.index):
            raise DataError(
                "responses has other rows than data (their indexes differ); give one column "
                "per response with data's index, e.g. expression.T.loc[data.index]."
            )
        names = [str(c) for c in responses.columns]
        source: Any = responses.set_axis(names, axis=1)
    elif isinstance(responses, str) or not isinstance(responses, Sequence):
        raise ArgumentTypeError(
            "responses must be a list of column names of data or a table (pandas, polars, "
            f"Arrow) with one column per response, got {type(responses).__name__}."
        )
    else:
        names = list(responses)
        if not all(isinstance(n, str) for n in names):
            raise ArgumentTypeError(f"responses must be column names (strings), got {names!r}.")
        missing = [n for n in names if n not in columns]
        if missing:
            close = difflib.get_close_matches(missing[0], columns, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise DataError(
                f"{len(missing)} response(s) are not columns of data, the first {missing[0]!r}."
                + hint
            )
        source = data
    if not names:
        raise ArgumentTypeError("responses is empty; give at least one response.")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ArgumentTypeError(f"responses names {dup!r} more than once.")
    return source, names


def _response_table(responses: Any) -> pd.DataFrame | None:
    # A frame of responses (genes as columns) from any library: all of it is responses.
    if isinstance(responses, (str, Sequence)):
        return None
    if isinstance(responses, pd.DataFrame):
        return responses
    try:
        return as_frame(responses, "responses")
    except ArgumentTypeError:
        return None


def _read_columns(formula: Any, responses: Any, weights: Any, columns: list[str]) -> list[str]:
    """The columns of the data fit_many reads (those there: a missing one is an error of
    _responses or _spec, which word it)."""
    wanted: list[Any] = [weights]
    if isinstance(responses, Sequence) and not isinstance(responses, str):
        wanted += list(responses)
    if isinstance(formula, str) and "~" in formula:
        with contextlib.suppress(LmeFormulaError):  # _spec reports it
            wanted += parse(f"~ {formula.split('~', 1)[1]}", columns=columns).variables
    present = set(columns)
    return [c for c in dict.fromkeys(w for w in wanted if isinstance(w, str)) if c in present]


def _spec(
    formula: Any, data: Any, names: list[str], reml: Any, weights: Any, columns: list[str]
) -> _Spec:
    if not isinstance(formula, str) or "~" not in formula:
        raise ArgumentTypeError(
            f"formula must be a string such as '~ x + (x | g)', got {formula!r}."
        )
    if not isinstance(reml, bool):
        raise ArgumentTypeError(f"reml must be True or False, got {reml!r}.")
    rhs = formula.split("~", 1)[1].strip()
    # The formula is checked now, with the first response: an error in it is an error of
    # the call, not of each response.
    parsed = parse(f"{quoted(names[0])} ~ {rhs}", columns=columns + names)
    if not parsed.random:
        raise ArgumentTypeError(
            f"the formula '{formula}' has no random effects; fit_many fits lmer models: add "
            "a term such as (1 | group)."
        )
    needed = list(parse(f"~ {rhs}", columns=columns).variables)
    missing = [v for v in needed if v not in columns]
    if missing:
        close = difflib.get_close_matches(missing[0], columns, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise DataError(f"column {missing[0]!r} named in the formula is not in the data.{hint}")
    if isinstance(weights, str):
        if weights not in columns:
            raise DataError(f"the weights column {weights!r} is not in the data.")
        needed.append(weights)
    elif weights is not None:
        weights = np.asarray(weights, dtype=float).ravel()
        if weights.size != len(data):
            raise DataError(
                f"weights has {weights.size} values for {len(data)} rows of data; give one "
                "weight per row (or the name of a column)."
            )
    rhs_data = data.loc[:, list(dict.fromkeys(needed))].reset_index(drop=True)
    return _Spec(rhs=rhs, data=rhs_data, reml=reml, weights=weights)


def _pack(source: Any) -> Any:
    def pack(chunk: list[str]) -> list[tuple[str, np.ndarray]]:
        return [(name, source[name].to_numpy(dtype=float)) for name in chunk]

    return pack


def fit_many(
    formula: str,
    data: Any,
    responses: Sequence[str] | Any,
    *,
    reml: bool = True,
    weights: Any = None,
    family: Any = None,
    nagq: int = 1,
    n_jobs: int = 1,
    backend: str = "loky",
    client: Any = None,
    progress: bool | None = None,
    chunk_size: int | None = None,
) -> ManyFits:
    """Fit the same mixed model to many responses, as
    ``lapply(ys, function(y) lmer(...))`` (or variancePartition's ``dream``) in R; with a
    family, ``lapply(ys, function(y) glmer(..., family))``.

    Parameters
    ----------
    formula
        The right-hand side, ``"~ x + (x | g)"`` (a left-hand side, if written, is
        replaced by each response in turn).
    data
        A table with the formula's columns (and the responses, when they are named): a
        pandas DataFrame, a polars DataFrame or LazyFrame, a pyarrow Table or a dict of
        columns; of a table other than pandas only the columns read are converted.
    responses
        Column names of ``data``, or a table with one column per response and ``data``'s
        index (genes as columns, samples as rows; row positions for a table without an
        index).
    reml
        REML (default) or ML (ignored with a family: glmer maximises the likelihood).
    weights
        Prior weights for every response (a column name or one value per row; with the
        binomial family, the number of trials of proportions).
    family
        None (default) for linear mixed models (``lmer``); else each response is fitted by
        ``glmer``'s stages on the shared design, the family as :func:`lmeformula.glmer`
        takes it: ``"binomial"`` (a 0/1, logical or two-level factor response, or a
        proportion with ``weights=``), ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``
        or an object of :mod:`lmeformula.families`. ``"gaussian"`` with the identity link
        is a linear mixed model and takes the lmer path, as lme4's ``glmer`` hands it to
        ``lmer``.
    nagq
        With a family, quadrature points per group, as :func:`lmeformula.glmer`: 1
        (Laplace, default), 0 (lme4's fast first stage only), or more (adaptive
        Gauss-Hermite; one scalar random-effects term only).
    n_jobs
        Worker processes on this machine (joblib; -1: all cores); 1 fits in this process.
    backend
        ``"loky"`` (joblib's processes), ``"threading"`` or ``"dask"`` (the workers of a
        ``dask.distributed.Client``: a ``LocalCluster`` or a real cluster).
    client
        The Dask client for ``backend="dask"`` (by default the current one).
    progress
        A progress bar over the responses: None (default) shows it once the fits have run
        2 s, True at once, False never.
    chunk_size
        Responses sent to a worker at a time (by default a few chunks per worker).

    Returns
    -------
    ManyFits
        ``.table`` (tidy: one block of rows per response), ``.glance()`` (one row per
        response), ``.fits[name]`` (the full fit, made when asked for), ``.errors``.
        Results are the same bit for bit whatever ``n_jobs``, ``backend`` and
        ``chunk_size``. Each response is fitted as ``lmer`` fits it alone (its rows, lme4's
        starting point, the same convergence check), and reaches its single fit's optimum
        (log-likelihoods equal to about 1e-11 on the benchmark's 2,000 responses). With a
        family each response is fitted as ``glmer`` fits it alone (by its stages, on its
        own rows), ``.fits[name]`` is a :class:`~lmeformula.results.glmer.GlmerResult` and
        the glance has glmer's columns (``deviance`` and ``df_residual``, no REML).

    Warns
    -----
    FitManyWarning
        When some responses could not be fitted (they are in ``.errors`` and the table);
        the others are fitted.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> sleep = lmf.datasets.load("sleepstudy")
    >>> sleep["Log"] = np.log(sleep["Reaction"])
    >>> many = lmf.fit_many("~ Days + (1 | Subject)", sleep, ["Reaction", "Log"],
    ...                     progress=False)
    >>> many.table[["response", "term", "estimate"]].round(4)
       response             term  estimate
    0  Reaction      (Intercept)  251.4051
    1  Reaction             Days   10.4673
    2  Reaction  sd__(Intercept)   37.1238
    3  Reaction  sd__Observation   30.9912
    4       Log      (Intercept)    5.5301
    5       Log             Days    0.0337
    6       Log  sd__(Intercept)    0.1281
    7       Log  sd__Observation    0.0971
    >>> round(many.fits["Reaction"].loglik, 4)  # R: logLik(lmer(Reaction ~ Days + (1 | Subject)))
    -893.2325

    Binary responses (0/1 or logical) on one design, each fitted as ``glmer`` fits it:

    >>> sleep["slow"] = (sleep["Reaction"] > 300).astype(int)
    >>> sleep["slower"] = sleep["Reaction"] > 350
    >>> binary = lmf.fit_many("~ Days + (1 | Subject)", sleep, ["slow", "slower"],
    ...                       family="binomial", progress=False)
    >>> binary.glance()[["nobs", "loglik", "deviance", "df_residual"]].round(2)
              nobs  loglik  deviance  df_residual
    response
    slow       180  -87.16    132.57          177
    slower     180  -46.29     51.14          177
    >>> binary.fixef().round(3)  # R: fixef(glmer(slow ~ Days + (1 | Subject), s, binomial))
              (Intercept)   Days
    response
    slow           -3.195  0.585
    slower        -10.330  1.275
    >>> type(binary.fits["slow"]).__name__
    'GlmerResult'
    """
    columns = column_names(data)
    # Of a polars or Arrow table only the columns read become pandas, once for all fits.
    data = as_frame(data, columns=_read_columns(formula, responses, weights, columns))
    n_jobs = check_n_jobs(n_jobs)
    backend = check_backend(backend, client)
    fam = glmm_family(family)
    nagq = check_nagq(nagq)
    source, names = _responses(data, responses, columns)
    spec: _Spec | GlmmSpec = _spec(formula, data, names, reml, weights, columns)
    if fam is not None:
        spec = GlmmSpec(rhs=spec.rhs, data=spec.data, weights=spec.weights, family=fam, nagq=nagq)
        spec.check_quadrature(names[0])
    # Responses with the same missing values share an engine: send them together.
    masks: dict[bytes, int] = {}
    pattern_of: dict[str, int] = {}
    failed: dict[str, str] = {}
    for name in names:
        if fam is not None:
            # The family reads the response (and checks it) in the worker.
            missing = pd.isna(source[name]).to_numpy()
        else:
            try:
                missing = np.isnan(_response_values(source, name))
            except DataError as err:
                failed[name] = f"DataError: {err}"
                continue
        key = np.packbits(missing).tobytes()
        pattern_of[name] = masks.setdefault(key, len(masks))
    todo = sorted(pattern_of, key=lambda n: pattern_of[n])
    outcomes = run(
        _fit_one if fam is None else fit_one_glmm,
        todo,
        shared=spec,
        setup=_Worker if fam is None else GlmmWorker,
        n_jobs=n_jobs,
        backend=backend,
        client=client,
        progress=progress,
        desc="fit_many",
        chunk_size=chunk_size,
        pack=_pack(source) if fam is None else pack_columns(source),
    )
    records: dict[str, _Record | GlmmRecord | None] = {name: None for name in names}
    for name, outcome in zip(todo, outcomes, strict=True):
        if outcome.ok:
            records[name] = outcome.value
        else:
            failed[name] = str(outcome.error)
    errors = {name: failed[name] for name in names if name in failed}
    if errors:
        first = next(iter(errors))
        warnings.warn(
            f"{len(errors)} of {len(names)} responses could not be fitted (see .errors; the "
            f"table reports them); the first, {first!r}: {errors[first]}",
            FitManyWarning,
            stacklevel=2,
        )
    return ManyFits(
        table=_table(names, records, errors),
        errors=errors,
        _records=records,
        _info=_info(names, records, errors, pattern_of, len(data), reml, fam is not None),
        _spec=spec,
        _source=source,
        _data_index=data.index,
    )


def _table(
    names: list[str], records: dict[str, _Record | GlmmRecord | None], errors: dict[str, str]
) -> pd.DataFrame:
    cols: dict[str, list[Any]] = {c: [] for c in TABLE_COLUMNS}
    for name in names:
        r = records[name]
        if r is None:
            row = dict.fromkeys(TABLE_COLUMNS, None)
            row.update(
                response=name,
                estimate=np.nan,
                std_error=np.nan,
                statistic=np.nan,
                loglik=np.nan,
                converged=False,
                singular=False,
                error=errors.get(name),
            )
            for c in TABLE_COLUMNS:
                cols[c].append(row[c])
            continue
        p, k = len(r.fixed_names), len(r.ran_names)
        cols["response"] += [name] * (p + k)
        cols["effect"] += ["fixed"] * p + ["ran_pars"] * k
        cols["group"] += [None] * p + [g for g, _ in r.ran_names]
        cols["term"] += list(r.fixed_names) + [t for _, t in r.ran_names]
        cols["estimate"] += list(r.beta) + list(r.ran)
        cols["std_error"] += list(r.se) + [np.nan] * k
        cols["statistic"] += list(r.beta / r.se) + [np.nan] * k
        cols["loglik"] += [r.loglik] * (p + k)
        cols["converged"] += [r.optinfo.converged] * (p + k)
        cols["singular"] += [r.singular] * (p + k)
        cols["error"] += [None] * (p + k)
    table = pd.DataFrame(cols)
    for c in ("estimate", "std_error", "statistic", "loglik"):
        table[c] = table[c].astype(float)
    for c in ("converged", "singular"):
        table[c] = table[c].astype(bool)
    return table


def _info(
    names: list[str],
    records: dict[str, _Record | GlmmRecord | None],
    errors: dict[str, str],
    pattern_of: dict[str, int],
    nrows: int,
    reml: bool,
    glmm: bool = False,
) -> pd.DataFrame:
    rows = []
    crit = "reml_criterion" if reml and not glmm else "deviance"
    for name in names:
        r = records[name]
        row: dict[str, Any] = {"response": name}
        if r is None:
            row.update(nobs=0, n_dropped=nrows, sigma=np.nan, loglik=np.nan, aic=np.nan)
            row.update(bic=np.nan, converged=False, singular=False, evaluations=0)
            row[crit] = np.nan
            if glmm:
                row["df_residual"] = np.nan
            row["message"] = ""
        elif isinstance(r, GlmmRecord):
            # glmer's glance: lme4's deviance(m) and df.residual(m), with its own npar.
            row.update(
                nobs=r.nobs,
                n_dropped=nrows - r.nobs,
                sigma=r.sigma,
                loglik=r.loglik,
                aic=r.aic,
                bic=r.bic,
                deviance=r.deviance,
                df_residual=r.df_residual,
                converged=r.optinfo.converged,
                singular=r.singular,
                evaluations=r.optinfo.evaluations,
            )
            row["message"] = "; ".join(r.optinfo.messages)
        else:
            row.update(
                nobs=r.nobs,
                n_dropped=nrows - r.nobs,
                sigma=r.sigma,
                loglik=r.loglik,
                aic=-2.0 * r.loglik + 2.0 * r.npar,
                bic=-2.0 * r.loglik + r.npar * np.log(r.nobs),
                converged=r.optinfo.converged,
                singular=r.singular,
                evaluations=r.optinfo.evaluations,
            )
            row[crit] = r.reml_criterion if reml else r.deviance
            row["message"] = "; ".join(r.optinfo.messages)
        row["na_pattern"] = pattern_of.get(name, -1)
        row["error"] = errors.get(name)
        rows.append(row)
    columns = ["nobs", "n_dropped", "sigma", "loglik", "aic", "bic", crit]
    columns += ["df_residual"] if glmm else []
    columns += ["converged", "singular", "evaluations", "na_pattern", "message", "error"]
    return pd.DataFrame(rows).set_index("response")[columns]
