"""``lmer()`` and ``to_mixedlm()``: the stages chained, nothing else.

parse -> model frame -> design -> engine (θ̂) -> results, as lme4 splits ``lmer`` into
``lFormula``, ``mkLmerDevfun``, ``optimizeLmer`` and ``mkMerMod``.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from lmeformula.engines.threads import limit_blas
from lmeformula.errors import ArgumentTypeError, NotExpressibleError
from lmeformula.fitting.checks import warn_fit, warn_rank_deficiency
from lmeformula.fitting.stages import (
    build_model,
    make_engine,
    make_result,
    optimize,
    starting_points,
    warm_start,
)
from lmeformula.model.model import Model
from lmeformula.results.lmer import LmerResult
from lmeformula.structures.residual import ResidualStructure
from lmeformula.structures.variance import VarianceFunction
from lmeformula.validate import check_bool, check_name, reject_unknown

if TYPE_CHECKING:
    from statsmodels.regression.mixed_linear_model import MixedLM

__all__ = ["gls", "lmer", "to_mixedlm"]

_ENGINES = ("auto", "statsmodels")


def check_args(formula: Any, reml: Any, data_name: Any = None) -> None:
    if not isinstance(formula, str):
        swapped = (
            " (formula and data swapped? the formula comes first)"
            if hasattr(formula, "columns")
            else ""
        )
        raise ArgumentTypeError(
            f"formula must be a string such as 'y ~ x + (1 | g)', got "
            f"{type(formula).__name__}{swapped}."
        )
    check_bool("reml", reml)
    check_name("data_name", data_name)


def data_name_of(data: Any, depth: int = 2) -> str | None:
    """The name the caller ``depth`` frames up gave ``data`` (R prints it: "Data: exam")."""
    frame = inspect.currentframe()
    try:
        caller = frame
        for _ in range(depth):
            caller = caller.f_back if caller is not None else None
        if caller is None:
            return None
        for name, value in caller.f_locals.items():
            if value is data and not name.startswith("_"):
                return name
        return None
    finally:
        del frame


def to_mixedlm(formula: str, data: Any, *, reml: bool = True) -> MixedLM:
    """The statsmodels ``MixedLM`` model that expresses an lme4 formula.

    Parameters
    ----------
    formula
        An lme4 formula.
    data
        A table as :func:`lmer` takes (pandas, polars, Arrow).
    reml
        Whether the model is to be fitted by REML (``model.fit(reml=...)`` decides in the end).

    Returns
    -------
    statsmodels.regression.mixed_linear_model.MixedLM
        One grouping factor goes to ``groups``/``exog_re``; factors nested in it become
        variance components; crossed factors use a constant group and variance components.
        ``||`` terms need the ``free`` mask, available as ``model.lmeformula_free`` (pass it
        as ``model.fit(free=model.lmeformula_free)``).

    Raises
    ------
    NotExpressibleError
        Naming the part of the formula MixedLM cannot express.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> exam = lmf.datasets.load("exam")
    >>> model = lmf.to_mixedlm("normexam ~ standLRT + (1 + standLRT | school)", exam)
    >>> float(round(model.fit(method="lbfgs").llf, 2))
    -4663.8
    """
    from lmeformula.fitting.statsmodels import mixedlm_spec

    check_args(formula, reml)
    design = build_model(formula, data, reml=reml).design
    spec = mixedlm_spec(design, reml)
    spec.model.lmeformula_free = spec.free  # type: ignore[attr-defined]
    return spec.model


_LMER_ARGS = ("formula", "data", "reml", "engine", "weights", "residual", "variance", "data_name")
_GLS_ARGS = ("formula", "data", "residual", "variance", "reml", "weights", "data_name")


def lmer(
    formula: str,
    data: Any,
    *,
    reml: bool = True,
    engine: str = "auto",
    weights: Any = None,
    residual: ResidualStructure | None = None,
    variance: VarianceFunction | None = None,
    data_name: str | None = None,
    **unexpected: Any,
) -> LmerResult:
    """Fit a linear mixed model written as lme4 writes it.

    Parameters
    ----------
    formula
        An lme4 formula, e.g. ``"normexam ~ standLRT + (1 + standLRT | school)"``; random
        terms may carry a covariance structure (``cs(0 + f | g)``, ``ar1(0 + factor(t) |
        g)``, ``toep(...)``, ``diag(...)``, ``homdiag(...)``; see ``lmf.STRUCTURES``).
        Factors are coded as R codes them: treatment contrasts against the first level (a
        Categorical's first category; text sorted), ``contr.poly`` for an ordered
        Categorical, ``C(f, contr.sum)`` (or ``contr.helmert``, ``contr.poly``,
        ``contr.treatment``, ``contr.SAS``) and ``relevel(f, ref = "B")``, with R's
        coefficient names (``SexFemale``, ``C(f, contr.sum)1``, ``grade.L``).
    data
        A pandas DataFrame, a polars DataFrame or LazyFrame, a pyarrow Table, another frame
        narwhals reads, or a dict of columns; it is not modified, and of a table other than
        pandas only the columns the model uses are converted (a LazyFrame collected for
        them alone). Rows with a missing value (NaN, None, a null) in a column the model
        uses are dropped and counted (``fit.n_dropped``), as R's ``na.omit``.
    reml
        REML (lme4's default) or maximum likelihood (``reml=False``, R's ``REML = FALSE``).
    engine
        ``"auto"`` (default): lme4's profiled deviance by blocked Cholesky, minimised by
        BOBYQA as lme4 does. ``"statsmodels"``: statsmodels' MixedLM finds the optimum (for
        the models it can express), which is then checked against lme4's profiled deviance
        and refitted with other optimizers when the check fails.
    weights
        lme4's prior weights: a column name of ``data`` or one positive value per row; the
        residual variance of row i is σ² / w_i.
    residual
        A residual correlation structure (nlme's ``correlation=``), e.g.
        ``lmf.AR1("1 | id")``, ``lmf.CAR1("time | id", nugget=True)``, ``lmf.UN("visit | id")``.
    variance
        A variance function (nlme's ``weights=``): ``lmf.VarIdent("g")``,
        ``lmf.VarPower("x")``, ``lmf.VarExp("x")``.
    data_name
        Name shown after "Data:" in the summary; by default the caller's variable name.

    Returns
    -------
    LmerResult

    Warns
    -----
    ConvergenceWarning
        When no optimizer reached a point where lme4's gradient check passes.
    SingularFitWarning
        When a variance is estimated as 0 or a correlation as ±1.
    RankDeficiencyWarning
        When fixed-effect columns were dropped.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> exam = lmf.datasets.load("exam")
    >>> fit = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", data=exam)
    >>> round(fit.reml_criterion, 2)
    9327.6
    >>> fit.fixef.round(4).to_dict()
    {'(Intercept)': -0.0116, 'standLRT': 0.5565}

    The same fit from a polars (or pyarrow) frame; the results are pandas as ever:

    >>> import polars as pl
    >>> fit_pl = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", pl.from_pandas(exam))
    >>> bool((fit_pl.fixef == fit.fixef).all()), fit_pl.loglik == fit.loglik
    (True, True)
    """
    reject_unknown("lmer", unexpected, _LMER_ARGS)
    check_args(formula, reml, data_name)
    if not isinstance(engine, str) or engine not in _ENGINES:
        raise ArgumentTypeError(f"engine must be one of {_ENGINES}, got {engine!r}.")
    # One BLAS thread throughout (the stages' own limits are then free; a large dense
    # block still gets every thread where it is factored). A with, not a decorator: the
    # warnings' stack levels count the frames to the caller.
    with limit_blas(1):
        model = build_model(
            formula, data, reml=reml, weights=weights, residual=residual, variance=variance
        )
        if engine == "statsmodels" and (
            model.design.weights is not None or model.residual is not None
        ):
            raise NotExpressibleError(
                "statsmodels' MixedLM has no prior weights, residual structures or variance "
                "functions; use engine='auto'."
            )
        name = data_name if data_name is not None else data_name_of(data)
        optimizer = "statsmodels" if engine == "statsmodels" else "bobyqa"
        return _fit(model, optimizer, name)


def gls(
    formula: str,
    data: Any,
    *,
    residual: ResidualStructure | None = None,
    variance: VarianceFunction | None = None,
    reml: bool = True,
    weights: Any = None,
    data_name: str | None = None,
    **unexpected: Any,
) -> LmerResult:
    """Fit a marginal model (no random effects) with structured residuals, as nlme's ``gls``.

    The MMRM of clinical trials is ``gls(y ~ arm * visit, data, residual=lmf.UN("visit | id"))``.

    Parameters
    ----------
    formula
        A formula without random-effects terms, e.g. ``"distance ~ Sex * I(age - 11)"``.
    data
        A table as :func:`lmer` takes (pandas, polars, Arrow; not modified; incomplete rows
        dropped and counted).
    residual
        The residual structure (``lmf.UN``, ``lmf.CS``, ``lmf.AR1``, ...); None for
        independent rows.
    variance
        A variance function (``lmf.VarIdent``, ``lmf.VarPower``, ``lmf.VarExp``).
    reml
        REML (nlme's default) or maximum likelihood.
    weights
        Prior weights, as in :func:`lmer`.
    data_name
        Name shown after "Data:" in the summary.

    Returns
    -------
    LmerResult
        With no random effects: ``ranef`` is empty and ``residual_params()`` holds the
        structure's parameters.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> orth = lmf.datasets.load("orthodont")
    >>> fit = lmf.gls("distance ~ Sex * I(age - 11)", orth, residual=lmf.CS("age | Subject"))
    >>> round(fit.loglik, 3), round(fit.residual_params()["rho"], 3)
    (-216.879, 0.632)
    """
    reject_unknown("gls", unexpected, _GLS_ARGS)
    check_args(formula, reml, data_name)
    with limit_blas(1):  # as lmer
        model = build_model(
            formula,
            data,
            reml=reml,
            weights=weights,
            residual=residual,
            variance=variance,
            marginal=True,
        )
        name = data_name if data_name is not None else data_name_of(data)
        return _fit(model, "bobyqa", name)


def _fit(model: Model, optimizer: str, data_name: str | None) -> LmerResult:
    """The stages after the model, and lme4's warnings."""
    warn_rank_deficiency(model.design)
    engine = make_engine(model)
    warm = warm_start(model) if optimizer == "bobyqa" else None
    if warm is not None:
        optinfo = optimize(engine, start=warm, optimizer="refit")
    else:
        start = starting_points(model, engine) if optimizer == "bobyqa" else None
        optinfo = optimize(engine, start=start, optimizer=optimizer)
    result = make_result(model, engine, optinfo, data_name=data_name)
    assert isinstance(result, LmerResult)
    warn_fit(result)
    return result
