"""The stages of a fit as public functions, as lme4 exports ``lFormula``, ``mkLmerDevfun``,
``optimizeLmer`` and ``mkMerMod``.

    model = build_model(formula, data)        # parse, model frame, design, residual model
    engine = make_engine(model)               # the objective (one factory)
    optinfo = optimize(engine)                # BOBYQA, Newton steps, lme4's checks
    fit = make_result(model, engine, optinfo) # the results object, made here only

``lmer``, ``gls``, ``refit``, ``fit_many`` and the tests chain these; nothing else builds a
results object.

Examples
--------
>>> import lmeformula as lmf
>>> model = build_model("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
>>> engine = make_engine(model)
>>> fit = make_result(model, engine, optimize(engine))
>>> round(fit.reml_criterion, 4)
319.6543
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from lmeformula.engines.factor import SMALL_Q
from lmeformula.engines.factory import make_engine
from lmeformula.engines.protocol import Engine
from lmeformula.engines.threads import blas_threads, one_blas_thread
from lmeformula.errors import ArgumentTypeError, DataError, FormulaError
from lmeformula.families import Family
from lmeformula.fitting.optimize import (
    GRADIENT_TOL,
    Curvature,
    OptInfo,
    bobyqa,
    check_gradient,
    convergence_messages,
    newton,
)
from lmeformula.formula import parse
from lmeformula.model.datacheck import as_frame, column_names, missing_columns
from lmeformula.model.design import build_design
from lmeformula.model.frame import build_frame
from lmeformula.model.glmresponse import glm_response
from lmeformula.model.model import Model
from lmeformula.model.residual import bind_residual, bind_variance
from lmeformula.results.glmer import GlmerResult
from lmeformula.results.lmer import LmerResult
from lmeformula.results.state import ModelState
from lmeformula.structures.residual import ResidualModel, ResidualStructure
from lmeformula.structures.variance import VarianceFunction

__all__ = [
    "OPTIMIZERS",
    "build_model",
    "make_engine",
    "make_result",
    "optimize",
    "result_at",
    "starting_points",
    "warm_start",
]

#: What :func:`optimize` can minimise with.
OPTIMIZERS = ("bobyqa", "refit", "newton", "statsmodels")


def _residual_columns(residual: Any, variance: Any) -> list[str]:
    """Check residual= and variance= and return the columns they read."""
    if residual is not None and not isinstance(residual, ResidualStructure):
        raise ArgumentTypeError(
            f"residual= takes a residual structure such as lmf.AR1('time | id'), got "
            f"{_what(residual)}; the structures are AR1, CAR1, CS, CSH, ARH1, UN, "
            "TOEP, TOEPH and DIAG."
            + (" A variance function goes to variance=." if _is(residual, VarianceFunction) else "")
        )
    if variance is not None and not isinstance(variance, VarianceFunction):
        raise ArgumentTypeError(
            f"variance= takes a variance function such as lmf.VarIdent('group'), got "
            f"{_what(variance)}; the functions are VarIdent, VarPower and VarExp."
            + (
                " A residual structure goes to residual=."
                if _is(variance, ResidualStructure)
                else ""
            )
        )
    return [c for obj in (residual, variance) if obj is not None for c in obj.columns]


def _what(obj: Any) -> str:
    # The class itself, not an instance: the commonest slip is lmf.AR1 without its form.
    if isinstance(obj, type):
        return f"the class {obj.__name__} itself (call it with a form: {obj.__name__}('...'))"
    return type(obj).__name__


def _is(obj: Any, kind: type) -> bool:
    return isinstance(obj, kind) or (isinstance(obj, type) and issubclass(obj, kind))


def _no_random(formula: str) -> FormulaError:
    return FormulaError(
        f"the formula '{formula}' contains no random effects, so it is not a mixed model; "
        "add a term such as (1 | group), or fit it with statsmodels' OLS (or gls() for "
        "correlated residuals)."
    )


# The front end's BLAS calls (the rank check's QR of [X y], cross-products) are of n x p
# arrays with p small, where threads only cost: on two cores shared with other work the QR
# of Contraception's 1,934 x 7 [X y] took 15 ms with two threads and 0.07 ms with one.
@one_blas_thread
def build_model(
    formula: str,
    data: Any,
    *,
    reml: bool = True,
    weights: Any = None,
    residual: ResidualStructure | None = None,
    variance: VarianceFunction | None = None,
    marginal: bool = False,
    extra: Sequence[str] = (),
    family: Family | None = None,
    offset: Any = None,
    nagq: int = 1,
) -> Model:
    """Parse the formula, build the model frame and the design, and bind the residual
    model to the rows (lme4's ``lFormula``).

    Parameters
    ----------
    formula
        An lme4 formula.
    data
        A pandas DataFrame, a polars DataFrame or LazyFrame, a pyarrow Table (any table
        :func:`~lmeformula.model.datacheck.as_frame` takes), not modified; only the
        columns the model reads are converted to pandas.
    reml
        REML or maximum likelihood.
    weights
        Prior weights: a column name of ``data`` or one value per row.
    residual, variance
        A residual structure and a variance function (see :func:`lmeformula.lmer`).
    marginal
        A marginal model (``gls``): no random effects allowed, and a residual model
        always present (independent rows when neither structure nor function is given).
    extra
        Further columns whose missing values drop a row.
    family
        A generalized model's family (:mod:`lmeformula.families`): the response is read as
        the family reads it (:func:`~lmeformula.model.glmresponse.glm_response`) and the
        criterion is maximum likelihood.
    offset
        An offset besides the formula's ``offset()`` terms: a column name or one value
        per row.
    nagq
        A generalized model's quadrature points per group (0, 1: Laplace, or more).

    Returns
    -------
    Model

    Raises
    ------
    FormulaError
        For random effects in a marginal model, or none in a mixed one.
    """
    # The data's columns matter to the parse only for '.', which a formula without that
    # character cannot hold (listing pandas 3's labels costs a small fit 15 us).
    columns = column_names(data) if not isinstance(formula, str) or "." in formula else None
    read = _residual_columns(residual, variance)
    for name, obj in (("residual", residual), ("variance", variance)):
        if obj is not None:
            missing_columns(obj.columns, data, f"{name}={obj!r}")
    parsed = parse(formula, columns=columns)
    if marginal and parsed.random:
        raise FormulaError(
            f"gls() fits marginal models, but the formula '{formula}' has random effects "
            f"({parsed.random[0].text}); fit it with lmer(), which takes residual= too."
        )
    if not marginal and not parsed.random:
        raise _no_random(formula)
    # Named columns are looked up in the caller's table, whose columns the messages list;
    # then only the columns the model reads become pandas (all of a pandas frame is kept).
    named = [c for c in (offset, weights) if isinstance(c, str)]
    for column, where in ((offset, "offset="), (weights, "weights=")):
        if isinstance(column, str):
            missing_columns([column], data, where)
    if offset is not None:
        # An offset joins the data as a column of its own (assign() on pandas); otherwise
        # the model frame reads the table, converting only the columns the model reads.
        data = as_frame(data, columns=[*parsed.variables, *read, *extra, *named])
    data, offset_column = _with_offset(data, offset)
    frame = build_frame(
        parsed, data, weights, [*read, *extra, *offset_column], observation_level=family is not None
    )
    if family is not None:
        resp = glm_response(parsed.response, formula, frame, family, frame.weights)
        design = build_design(parsed, frame, response=resp.y, weights=resp.weights)
    else:
        design = build_design(parsed, frame)
    if offset_column:
        values = frame.data[offset_column[0]]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise DataError(f"offset= must be numeric, got dtype {values.dtype}.")
        design = replace(design, offset=design.offset + values.to_numpy(dtype=float))
    if family is not None:
        return Model(parsed, frame, design, None, False, family, resp.trials, int(nagq))
    model: ResidualModel | None = None
    if residual is not None or variance is not None or marginal:
        model = ResidualModel(
            bind_residual(residual, frame.data) if residual is not None else None,
            bind_variance(variance, frame.data) if variance is not None else None,
            frame.weights,
            frame.nobs,
        )
    return Model(parsed, frame, design, model, reml)


#: The column an offset given as values is carried in through the model frame.
_OFFSET = "(offset)"


def _with_offset(data: pd.DataFrame, offset: Any) -> tuple[pd.DataFrame, list[str]]:
    """The data with the offset= as a column the model frame keeps (and whose missing
    values drop a row), and that column's name."""
    if offset is None:
        return data, []
    if isinstance(offset, str):
        missing_columns([offset], data, "offset=")
        return data, [offset]
    values = np.asarray(offset, dtype=float).ravel() if np.ndim(offset) else None
    if values is None or values.size != len(data):
        raise DataError(
            f"offset= takes a column name or one value per row ({len(data)}), got "
            f"{np.size(offset)} value(s)."
        )
    # assign() gives a new frame: the caller's is not modified.
    return data.assign(**{_OFFSET: values}), [_OFFSET]


def starting_points(model: Model, engine: Engine) -> list[np.ndarray]:
    """Where :func:`optimize` starts.

    lme4's start (each Λ block the identity) and, where the layout offers other starts for
    a block (a correlation's range across the data's distances), those too. The
    likelihoods of the patterns of distance have several optima more often than not, some
    reached from θ at lme4's start and some from θ where the model without the residual
    structure ends (nlme initialises its random effects so): with alternatives, every start
    is tried from both.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> model = build_model("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    >>> [s.tolist() for s in starting_points(model, make_engine(model))]
    [[1.0]]
    """
    starts = engine.layout.starts()
    if len(starts) == 1 or model.residual is None or not model.design.terms:
        return starts
    theta = bobyqa(make_engine(replace(model, residual=None))).par
    where = engine.layout.slice("theta")
    warm = []
    for s in starts:
        w = s.copy()
        w[where] = theta
        warm.append(w)
    return starts + warm


def warm_start(model: Model) -> np.ndarray | None:
    """A start near the optimum for a large linear mixed model of several terms: each
    term's θ where the model with that term alone ends; None for other models.

    Each one-term model is fitted by the compiled one-term deviance, a few milliseconds
    against tens of milliseconds for one evaluation of the whole system, and BOBYQA then
    starts from their θ with steps sized to it (``optimizer="refit"``), as a refit does.
    The optimum is the same (the Newton finish and lme4's checks follow as ever); the
    evaluations fewer: InstEval from lme4's start 121 deviance evaluations, 3.0 s, from
    this one 54 and 1.4 s (its terms alone give θ = 0.244, 0.423, 0.120 against the joint
    optimum's 0.276, 0.435, 0.093). Small systems (at most ``SMALL_Q`` random effects), whose
    evaluations cost microseconds, keep lme4's start.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> model = build_model("y ~ service + (1 | s) + (1 | d)", lmf.datasets.load("insteval"))
    >>> warm_start(model).round(2).tolist()
    [0.24, 0.42]
    """
    d = model.design
    if (
        model.family is not None
        or model.residual is not None
        or len(d.terms) < 2
        or sum(t.q for t in d.terms) <= SMALL_Q
    ):
        return None
    parts = []
    for term in d.terms:
        alone = make_engine(replace(model, design=replace(d, terms=[term])))
        info = bobyqa(alone)
        if not np.all(np.isfinite(info.par)):
            return None
        parts.append(info.par)
    return np.concatenate(parts)


def optimize(
    engine: Engine,
    *,
    start: np.ndarray | list[np.ndarray] | None = None,
    optimizer: str = "bobyqa",
    curvature: Curvature | None = None,
) -> OptInfo:
    """Minimise the engine's objective (lme4's ``optimizeLmer``).

    Parameters
    ----------
    engine
        The objective (:func:`make_engine`).
    start
        Where to start, or a list of starts (:func:`starting_points`); by default the
        engine's layout's starts (lme4's).
    optimizer
        ``"bobyqa"`` (lme4's default, then Newton steps), ``"refit"`` (the same from
        ``start`` near the optimum, BOBYQA's first steps sized to it: a refit's from the
        fit's optimum, a large model's from :func:`warm_start`), ``"newton"`` (Newton steps from
        ``start``, near the optimum, with BOBYQA where they fail: a generalized model's
        second stage) or ``"statsmodels"``
        (statsmodels' MixedLM finds the optimum, checked and polished on the engine's
        objective; lme4's models without weights or residual structures only).
    curvature
        For ``"newton"``: a block of the Hessian the engine gives
        (:func:`~lmeformula.fitting.optimize.newton`).

    Returns
    -------
    OptInfo
    """
    if optimizer in ("bobyqa", "refit"):
        return bobyqa(engine, start, near=optimizer == "refit")
    if optimizer == "newton":
        if not isinstance(start, np.ndarray):
            raise ArgumentTypeError("optimizer='newton' needs one start near the optimum.")
        return newton(engine, start, curvature)
    if optimizer == "statsmodels":
        # statsmodels is imported here only: ``import lmeformula`` does not need it.
        from lmeformula.fitting.statsmodels import fit_mixedlm, mixedlm_spec

        return fit_mixedlm(mixedlm_spec(engine.design, engine.reml), engine)
    raise ArgumentTypeError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}.")


def make_result(
    model: Model, engine: Engine, optinfo: OptInfo, *, data_name: str | None = None
) -> LmerResult | GlmerResult:
    """The results object at the optimum (lme4's ``mkMerMod``): the engine solved at
    ``optinfo.par``, its solution kept with the model in the fit's state.

    Parameters
    ----------
    model
        The model that was fitted.
    engine
        Its objective (whose ``design`` may carry another response than ``model``'s, for a
        refit to a new response: the state takes the engine's).
    optinfo
        The optimizer's record.
    data_name
        Shown after "Data:" in the summary.

    Returns
    -------
    LmerResult or GlmerResult
        A generalized model's (with a family) is a :class:`GlmerResult`.
    """
    if engine.design is not model.design:
        model = replace(model, design=engine.design, reml=engine.reml)
    par = np.asarray(optinfo.par, dtype=float)
    with blas_threads(engine.largest_dense_block):
        solution = engine.solve(par)
    state = ModelState(model, engine.layout, par, solution, optinfo)
    if model.family is not None:
        return GlmerResult(state, data_name=data_name)
    return LmerResult(state, data_name=data_name)


def result_at(model: Model, par: Any, *, data_name: str | None = None) -> LmerResult | GlmerResult:
    """The results object at given parameters, without optimising: what the model says at
    someone else's estimates (R's, a paper's), as lme4's ``mkMerMod`` on its deviance
    function evaluated at θ.

    Parameters
    ----------
    model
        The model (:func:`build_model`).
    par
        The engine's parameter vector (``fit.state.layout`` names its blocks; for lme4's
        models it is θ, ``getME(m, "theta")``).
    data_name
        Shown after "Data:" in the summary.

    Returns
    -------
    LmerResult
        Its ``optinfo`` records that the parameters were given, and lme4's convergence check
        there.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> model = build_model("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    >>> fit = result_at(model, [0.8])  # R: lmer(Yield ~ 1 + (1 | Batch), d, devFunOnly = TRUE)(0.8)
    >>> round(fit.reml_criterion, 4)
    319.6716
    """
    engine = make_engine(model)
    par = np.asarray(par, dtype=float).ravel()
    if par.shape != (engine.layout.size,):
        raise ArgumentTypeError(
            f"the model has {engine.layout.size} parameters ({list(engine.layout.labels)}), "
            f"got {par.size}."
        )
    with blas_threads(engine.largest_dense_block):
        grad = check_gradient(engine, par)
    optinfo = OptInfo(
        optimizer="none (parameters given)",
        converged=grad < GRADIENT_TOL,
        par_start=par,
        par=par,
        deviance=engine.deviance(par),
        max_gradient=grad,
        messages=convergence_messages(grad),
    )
    return make_result(model, engine, optinfo, data_name=data_name)
