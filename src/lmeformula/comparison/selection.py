"""Choosing among fitted models: an AIC/BIC table (``compare``) and the searches built on
it, over residual covariance structures (``select_covariance``) and random-effects
structures (``select_random``).

``compare`` ranks fits by an information criterion, gives ΔAIC and Akaike weights (as
Burnham & Anderson), and tests each fit against the largest smaller fit nested in it
(likelihood ratio, with the boundary mixture where a variance is tested at 0; see
:mod:`lmeformula.comparison.nesting`). Likelihoods are used as fitted: REML fits compare covariance
structures with the same fixed effects (as nlme's ``anova`` of gls fits does), ML fits
anything fitted to the same rows.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from lmeformula.comparison.nesting import Relation, check_same_family, mixture_p_value, relate
from lmeformula.errors import ArgumentTypeError, ComparisonWarning, DataError, LmeFormulaError
from lmeformula.fitting.api import gls, lmer
from lmeformula.fitting.parallel import check_backend, check_n_jobs, run
from lmeformula.fitting.progress import check_progress
from lmeformula.formula import parse
from lmeformula.model.datacheck import column_names, missing_columns
from lmeformula.results.glmer import GlmerResult
from lmeformula.results.lmer import LmerResult
from lmeformula.results.noted import NotedFrame
from lmeformula.structures.residual import RESIDUAL_STRUCTURES as _KNOWN
from lmeformula.structures.residual import ResidualStructure
from lmeformula.structures.variance import VarianceFunction
from lmeformula.validate import check_bool

__all__ = ["Selection", "compare", "select_covariance", "select_random"]

#: Residual structures ``select_covariance`` knows by name; "ID" is independent residuals.
RESIDUAL_STRUCTURES: dict[str, type[ResidualStructure] | None] = {"ID": None, **_KNOWN}
_CRITERIA = {"aic": ("AIC", "Akaike"), "bic": ("BIC", "BIC")}


def _caller_names(fits: Sequence[LmerResult], depth: int = 2) -> list[str]:
    # R labels rows with the arguments' names: look them up in the caller's frame.
    frame = inspect.currentframe()
    try:
        caller = frame
        for _ in range(depth):
            caller = caller.f_back if caller is not None else None
        scope = dict(caller.f_locals) if caller is not None else {}
    finally:
        del frame
    names: list[str] = []
    for i, fit in enumerate(fits):
        found = [k for k, v in scope.items() if v is fit and not k.startswith("_")]
        name = found[0] if len(found) == 1 else f"m{i}"
        names.append(name if name not in names else f"m{i}")
    return names


def _check_fits(fits: Sequence[Any], names: Sequence[str] | None) -> list[str] | None:
    if len(fits) < 2:
        raise ArgumentTypeError("compare needs two or more fitted models.")
    for f in fits:
        if not isinstance(f, (LmerResult, GlmerResult)):
            raise ArgumentTypeError(
                f"compare ranks lmer, gls and glmer fits, got {type(f).__name__}."
            )
    check_same_family(fits, " and their AICs rank nothing")
    if names is None:
        return None
    names = [str(n) for n in names]
    if len(names) != len(fits) or len(set(names)) != len(names):
        raise ArgumentTypeError(
            f"names must give one distinct name per fit ({len(fits)}), got {names!r}."
        )
    return names


def _warn_incomparable(fits: Sequence[LmerResult], names: list[str]) -> list[str]:
    problems = []
    nobs = {f.nobs for f in fits}
    if len(nobs) > 1:
        problems.append(
            f"the fits use different numbers of rows ({sorted(nobs)}): their likelihoods are "
            "of different data; fit them to the same rows (drop missing values first)"
        )
    if len({f.reml for f in fits}) > 1:
        problems.append(
            "REML and ML fits are mixed: a restricted and a full likelihood are not "
            "comparable; fit all with the same method"
        )
    reml_fixed = {tuple(sorted(f.fixef.index)) for f in fits if f.reml}
    if len(reml_fixed) > 1:
        problems.append(
            "REML fits with different fixed effects: their restricted likelihoods are of "
            "different data; refit with reml=False to compare fixed effects"
        )
    responses = {f.state.parsed.response for f in fits}
    if len(responses) > 1:
        problems.append(f"the fits model different responses {sorted(map(str, responses))}")
    for problem in problems:
        warnings.warn(f"compare: {problem}.", ComparisonWarning, stacklevel=3)
    return problems


def _bics(fits: Sequence[LmerResult]) -> tuple[list[float], str]:
    # nlme counts n - p observations in a REML fit's BIC, lme4 n; mixed, use nlme's for all
    # (it is what nlme's anova of its own REML fits prints).
    conventions = {f.reml and f.state.residual is not None for f in fits if f.reml}
    if len(conventions) <= 1:
        return [f.bic for f in fits], ""
    out = []
    for f in fits:
        n = f.nobs - len(f.fixef) if f.reml else f.nobs
        out.append(-2.0 * f.loglik + f.npar * np.log(n))
    return out, (
        "BIC of the REML fits counts n - p observations for all (nlme's convention; lme4 "
        "counts n), so that lmer and gls fits share one."
    )


def _test_note(relation: Relation, against: str) -> str:
    if relation.null == "boundary":
        q = relation.mixture or 0
        return f"vs {against}: read p_value_mixture (50:50 χ²({q}):χ²({q + 1}), boundary)"
    if relation.null == "unknown":
        return f"vs {against}: variances at 0 with no simple mixture; p_value is conservative"
    if relation.null == "interior":
        return f"vs {against}: null inside the parameter space; read p_value"
    return f"vs {against}: fixed effects only; read p_value"


def compare(
    *fits: LmerResult, criterion: str = "aic", names: Sequence[str] | None = None
) -> NotedFrame:
    """Rank fitted models by AIC or BIC, with Akaike weights and likelihood-ratio tests
    between nested fits, as R's ``AIC(m1, m2, m3)`` and ``anova(...)`` together.

    Parameters
    ----------
    *fits
        Two or more lmer or gls fits of the same rows (with any residual structures).
    criterion
        ``"aic"`` or ``"bic"``: what the table ranks by.
    names
        Row names; by default the arguments' variable names, as R labels them.

    Returns
    -------
    NotedFrame
        One row per fit, best first: ``npar, loglik, aic, bic``, ``delta_aic`` (or
        ``delta_bic``), ``weight`` (Akaike weights exp(-Δ/2) normalised, or their BIC
        analogue), ``chosen`` (the first row), and a likelihood-ratio test against the
        largest fit with fewer parameters nested in this one: ``tested_against, lrt, df,
        p_value, p_value_mixture`` (the boundary mixture where a variance is tested at
        0), with ``note`` saying which p-value to read or why no test was made. Printed,
        a sentence names the chosen model (also in ``attrs["note"]``).

    Warns
    -----
    ComparisonWarning
        When the fits use different rows, mix REML and ML, or are REML fits with
        different fixed effects: their likelihoods (and so AIC) are not comparable.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> sleep = lmf.datasets.load("sleepstudy")
    >>> ri = lmf.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    >>> rs = lmf.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    >>> table = lmf.compare(ri, rs)
    >>> table[["npar", "aic", "delta_aic", "weight", "chosen"]].round(2)
        npar      aic  delta_aic  weight  chosen
    rs     6  1755.63       0.00     1.0    True
    ri     4  1794.47      38.84     0.0   False
    >>> print(table.attrs["note"].splitlines()[0])
    rs has the lowest AIC (1755.63, Akaike weight 1.00); the next, ri, is 38.84 higher.
    """
    checked = _check_fits(fits, names)
    labels = checked if checked is not None else _caller_names(fits)
    key = str(criterion).lower()
    if key not in _CRITERIA:
        raise ArgumentTypeError(f"criterion must be 'aic' or 'bic', got {criterion!r}.")
    label, weight_name = _CRITERIA[key]
    problems = _warn_incomparable(fits, labels)
    bics, bic_note = _bics(fits)
    table = pd.DataFrame(
        {
            "npar": [f.npar for f in fits],
            "loglik": [f.loglik for f in fits],
            "aic": [-2.0 * f.loglik + 2.0 * f.npar for f in fits],
            "bic": bics,
        },
        index=labels,
    )
    crit = table[key]
    delta = crit - crit.min()
    table[f"delta_{key}"] = delta
    rel = np.exp(-0.5 * delta)
    table["weight"] = rel / rel.sum()
    tests = _tests(fits, labels, problems)
    for col in ("tested_against", "lrt", "df", "p_value", "p_value_mixture", "note"):
        table[col] = [t[col] for t in tests]
    order = sorted(range(len(fits)), key=lambda i: (crit.iloc[i], fits[i].npar))
    table = table.iloc[order]
    table.insert(6, "chosen", [True] + [False] * (len(fits) - 1))
    out = NotedFrame(table)
    best, second = out.index[0], out.index[1]
    sentence = (
        f"{best} has the lowest {label} ({out[key].iloc[0]:.2f}, {weight_name} weight "
        f"{out['weight'].iloc[0]:.2f}); the next, {second}, is {out[f'delta_{key}'].iloc[1]:.2f} "
        "higher"
    )
    within = [str(n) for n in out.index[1:] if out.loc[n, f"delta_{key}"] < 2.0]
    if within:
        simpler = [n for n in within if out.loc[n, "npar"] < out["npar"].iloc[0]]
        sentence += f"; within 2 units, about as well supported: {', '.join(within)}" + (
            f" (fewer parameters: {', '.join(simpler)})" if simpler else ""
        )
    notes = [sentence + "."]
    if bic_note:
        notes.append(bic_note)
    notes += [f"Warning: {p}." for p in problems]
    out.attrs["note"] = "\n".join(notes)
    return out


def _tests(
    fits: Sequence[LmerResult], labels: list[str], problems: list[str]
) -> list[dict[str, Any]]:
    """For each fit, the LRT against the largest smaller fit nested in it."""
    out = []
    for big in fits:
        row: dict[str, Any] = {
            "tested_against": "",
            "lrt": np.nan,
            "df": np.nan,
            "p_value": np.nan,
            "p_value_mixture": np.nan,
            "note": "",
        }
        smaller = [j for j in range(len(fits)) if fits[j].npar < big.npar]
        if not smaller:
            row["note"] = "fewest parameters: nothing smaller to test against"
            out.append(row)
            continue
        relations = {j: relate(fits[j], big) for j in smaller}
        nested = [j for j in smaller if relations[j].nested]
        if not nested:
            # The reason against the next smaller fit says most.
            j = max(smaller, key=lambda k: (fits[k].npar, -k))
            row["note"] = f"no test: not nested with {labels[j]} ({relations[j].reason})"
            out.append(row)
            continue
        j = max(nested, key=lambda k: (fits[k].npar, fits[k].loglik))
        small, relation = fits[j], relations[j]
        lrt = max(2.0 * (big.loglik - small.loglik), 0.0)
        df = big.npar - small.npar
        row.update(
            tested_against=labels[j],
            lrt=lrt,
            df=df,
            p_value=float(stats.chi2.sf(lrt, df)),
            note=_test_note(relation, labels[j]),
        )
        if relation.null == "boundary" and relation.mixture is not None:
            row["p_value_mixture"] = mixture_p_value(lrt, relation.mixture)
        out.append(row)
    return out


@dataclass
class Selection:
    """The result of a model search: the ranking table and every fit.

    Attributes
    ----------
    table
        :func:`compare`'s table (best first), printed with the sentence naming the choice.
    fits
        The fits by row name, in the order tried.
    not_fitted
        Candidates that could not be fitted, with the reason.
    """

    table: NotedFrame
    fits: dict[str, LmerResult]
    not_fitted: dict[str, str] = field(default_factory=dict)

    @property
    def chosen(self) -> str:
        """The name of the chosen candidate (the table's first row)."""
        return str(self.table.index[0])

    @property
    def best(self) -> LmerResult:
        """The chosen fit."""
        return self.fits[self.chosen]

    def __repr__(self) -> str:
        return repr(self.table)

    def _repr_html_(self) -> str | None:
        return self.table._repr_html_()


def _data_name(data: Any) -> str | None:
    frame = inspect.currentframe()
    try:
        caller = frame.f_back.f_back if frame and frame.f_back else None
        scope = caller.f_locals if caller is not None else {}
        return next((k for k, v in scope.items() if v is data and not k.startswith("_")), None)
    finally:
        del frame


def _structure(candidate: Any, form: str | None) -> tuple[str, ResidualStructure | None]:
    if isinstance(candidate, ResidualStructure):
        return repr(candidate), candidate
    if candidate is None:
        return "ID", None
    if not isinstance(candidate, str) or candidate.upper() not in RESIDUAL_STRUCTURES:
        raise ArgumentTypeError(
            f"candidate {candidate!r} is not a residual structure; use one of "
            f"{list(RESIDUAL_STRUCTURES)} or an object such as lmf.CAR1('t | id', nugget=True)."
        )
    name = candidate.upper()
    cls = RESIDUAL_STRUCTURES[name]
    if cls is None:
        return name, None
    if form is None:
        raise ArgumentTypeError(
            f"candidate {name!r} needs subject= (and time= for per-time parameters)."
        )
    return name, cls(form)


def _fit_candidate(
    shared: tuple[Any, bool, str | None], spec: tuple[str, str, dict[str, Any]]
) -> tuple[LmerResult | None, LmeFormulaError | None]:
    """One candidate's fit, or why it could not be fitted."""
    data, reml, data_name = shared
    _, formula, kwargs = spec
    fn = lmer if parse(formula).random else gls
    try:
        return fn(formula, data, reml=reml, data_name=data_name, **kwargs), None
    except LmeFormulaError as err:
        return None, err


def _check_search(data: Any, reml: Any, criterion: Any, candidates: Any) -> None:
    # Checked once before any candidate is fitted: a wrong argument is not a candidate's
    # failure, and a search should not fit six models to report a typo. The data is not
    # converted: each candidate reads (of a polars or Arrow table, converts) its columns.
    column_names(data)
    check_bool("reml", reml)
    if str(criterion).lower() not in _CRITERIA:
        raise ArgumentTypeError(f"criterion must be 'aic' or 'bic', got {criterion!r}.")
    if isinstance(candidates, (str, bytes)) or (
        candidates is not None and not isinstance(candidates, Sequence)
    ):
        raise ArgumentTypeError(
            f"candidates must be a list, e.g. [{candidates!r}, ...], got "
            f"{type(candidates).__name__}."
        )


def _fit_candidates(
    specs: list[tuple[str, str, dict[str, Any]]],
    data: Any,
    reml: bool,
    data_name: str | None,
    parallel: dict[str, Any],
    desc: str,
) -> tuple[dict[str, LmerResult], dict[str, str]]:
    fits: dict[str, LmerResult] = {}
    failed: dict[str, str] = {}
    if len(specs) < 2:
        raise ArgumentTypeError(
            f"give at least two candidates to choose between, got {[s[0] for s in specs]}."
        )
    outcomes = run(
        _fit_candidate,
        specs,
        shared=(data, reml, data_name),
        desc=desc,
        chunk_size=1,
        **parallel,
    )
    errors: list[LmeFormulaError] = []
    for (label, _, _), outcome in zip(specs, outcomes, strict=True):
        # The fits' own warnings (singular fit, convergence), issued here as lmer issues
        # them, whichever worker fitted the candidate.
        for category, message in outcome.warnings:
            warnings.warn(message, category, stacklevel=3)
        if not outcome.ok:
            raise RuntimeError(f"fitting candidate {label} failed: {outcome.error}")
        fit, err = outcome.value
        if fit is not None:
            fits[label] = fit
        else:
            errors.append(err)
            failed[label] = str(err)
    if not fits and len(set(failed.values())) == 1:
        # The same error for every candidate is the caller's input, not a candidate's.
        raise errors[0]
    for label, message in failed.items():
        warnings.warn(
            f"candidate {label} could not be fitted and is left out: {message}",
            ComparisonWarning,
            stacklevel=3,
        )
    if len(fits) < 2:
        raise DataError(
            f"fewer than two candidates could be fitted ({list(fits)}); failures: {failed}"
        )
    return fits, failed


def _parallel(n_jobs: Any, backend: Any, client: Any, progress: Any) -> dict[str, Any]:
    return {
        "n_jobs": check_n_jobs(n_jobs),
        "backend": check_backend(backend, client),
        "client": client,
        "progress": check_progress(progress),
    }


def _selection(
    fits: dict[str, LmerResult], failed: dict[str, str], criterion: str, why: str
) -> Selection:
    table = compare(*fits.values(), criterion=criterion, names=list(fits))
    notes = [table.attrs["note"], why]
    notes += [f"Not fitted: {k} ({v})" for k, v in failed.items()]
    table.attrs["note"] = "\n".join(notes)
    return Selection(table, fits, failed)


def select_covariance(
    formula: str,
    data: Any,
    *,
    subject: str | Sequence[str],
    time: str | None = None,
    candidates: Sequence[str | ResidualStructure | None] = (
        "UN",
        "CS",
        "CSH",
        "AR1",
        "ARH1",
        "TOEP",
    ),
    criterion: str = "aic",
    reml: bool = True,
    variance: VarianceFunction | None = None,
    weights: Any = None,
    n_jobs: int = 1,
    backend: str = "loky",
    client: Any = None,
    progress: bool | None = None,
) -> Selection:
    """Fit a repeated-measures model under each residual covariance structure and choose
    by AIC (or BIC), as one compares nlme's ``gls(..., correlation = ...)`` fits or SAS's
    ``REPEATED / TYPE=`` options.

    Parameters
    ----------
    formula
        The mean model, e.g. ``"distance ~ Sex * I(age - 11)"``; with random terms
        (``"... + (1 | Subject)"``) the candidates are residual structures beside them
        (lmer), else marginal models (gls).
    data
        A pandas DataFrame, a polars DataFrame or LazyFrame, a pyarrow Table or a dict of
        columns (each candidate converts the columns it reads).
    subject
        The column(s) whose rows are correlated (the ``| id`` of ``lmf.UN("time | id")``).
    time
        The time column: per-time variances (CSH, ARH1, UN, DIAG) and correlations (UN)
        are indexed by its values, AR(1) and Toeplitz by their ranks. None orders each
        subject's rows as they come (``"1 | id"``; not for UN or heterogeneous kinds).
    candidates
        Names of residual structures (``"UN"``, ``"CS"``, ``"CSH"``, ``"AR1"``,
        ``"ARH1"``, ``"TOEP"``, ``"TOEPH"``, ``"DIAG"``, ``"CAR1"``, ``"ID"`` for
        independent residuals) or structure objects (``lmf.CAR1("t | id", nugget=True)``).
    criterion
        ``"aic"`` (default) or ``"bic"``.
    reml
        Fit by REML (default, as nlme): with the same fixed effects the restricted
        likelihoods compare the covariance structures. ML fits compare as well.
    variance
        A variance function for every candidate (``lmf.VarIdent("Sex")``).
    weights
        Prior weights for every candidate.
    n_jobs, backend, client, progress
        Fit the candidates in parallel: joblib workers (``n_jobs``, ``backend="loky"``)
        or a Dask cluster (``backend="dask"``, ``client=``), with a progress bar (None,
        the default: shown once the fits have run 2 s; True: at once; False: never); see
        :func:`lmeformula.fit_many`. The fits are the same whichever runs them.

    Returns
    -------
    Selection
        ``.table`` ranks the structures (see :func:`compare`), ``.chosen`` names the
        choice, ``.best`` is its fit, ``.fits`` holds all.

    Warns
    -----
    ComparisonWarning
        For a candidate that cannot be fitted (it is left out and named in the note).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> orth = lmf.datasets.load("orthodont")
    >>> sel = lmf.select_covariance("distance ~ Sex * I(age - 11)", orth, subject="Subject",
    ...                             time="age", candidates=("CS", "AR1", "CSH"))
    >>> sel.chosen, list(sel.table.index)
    ('CS', ['CS', 'CSH', 'AR1'])
    """
    if not isinstance(formula, str):
        raise ArgumentTypeError(f"formula must be a string, got {type(formula).__name__}.")
    if isinstance(subject, str):
        group = subject
    elif isinstance(subject, Sequence) and subject and all(isinstance(s, str) for s in subject):
        group = ":".join(subject)
    else:
        raise ArgumentTypeError(f"subject must be a column name, got {subject!r}.")
    if time is not None and not isinstance(time, str):
        raise ArgumentTypeError(f"time must be a column name or None, got {time!r}.")
    _check_search(data, reml, criterion, candidates)
    columns = [group] if isinstance(subject, str) else list(subject)
    missing_columns([*columns, *([time] if time else [])], data, "subject= or time=")
    parallel = _parallel(n_jobs, backend, client, progress)
    form = f"{time or '1'} | {group}"
    specs = []
    for candidate in candidates:
        label, structure = _structure(candidate, form)
        kwargs: dict[str, Any] = {"variance": variance, "weights": weights}
        if structure is not None:
            kwargs["residual"] = structure
        specs.append((label, formula, kwargs))
    if len({s[0] for s in specs}) != len(specs):
        raise ArgumentTypeError(f"candidates repeat a structure: {[s[0] for s in specs]}.")
    fits, failed = _fit_candidates(
        specs, data, reml, _data_name(data), parallel, "select_covariance"
    )
    why = (
        f"All candidates share the mean model {formula!r} and are fitted by "
        f"{'REML' if reml else 'ML'}, so their likelihoods compare the covariance "
        "structures; the criterion weighs fit against the number of covariance parameters."
    )
    return _selection(fits, failed, criterion, why)


def select_random(
    formula: str,
    data: Any,
    candidates: Sequence[str | None] | None = None,
    *,
    group: str | None = None,
    slope: str | None = None,
    criterion: str = "aic",
    reml: bool = True,
    residual: ResidualStructure | None = None,
    variance: VarianceFunction | None = None,
    weights: Any = None,
    n_jobs: int = 1,
    backend: str = "loky",
    client: Any = None,
    progress: bool | None = None,
) -> Selection:
    """Compare random-effects structures for one mean model: random intercept, random
    slope, both, ... by AIC (or BIC) and boundary-corrected likelihood-ratio tests.

    Parameters
    ----------
    formula
        The fixed part, e.g. ``"Reaction ~ Days"`` (random terms in it stay in every
        candidate).
    data
        A pandas DataFrame, a polars DataFrame or LazyFrame, a pyarrow Table or a dict of
        columns (each candidate converts the columns it reads).
    candidates
        Random terms to add, one candidate each, e.g. ``["(1 | Subject)", "(0 + Days |
        Subject)", "(Days | Subject)"]``; ``None`` (or ``""``) is the model without
        random effects (the linear model).
    group, slope
        Shortcut when ``candidates`` is not given: ``(1 | group)``, ``(0 + slope |
        group)``, ``(slope || group)`` and ``(slope | group)``.
    criterion
        ``"aic"`` (default) or ``"bic"``.
    reml
        REML (default): the restricted likelihoods of fits with the same fixed effects
        compare random-effects structures.
    residual, variance, weights
        As in :func:`lmeformula.lmer`, for every candidate.
    n_jobs, backend, client, progress
        Fit the candidates in parallel, as :func:`select_covariance`.

    Returns
    -------
    Selection

    Examples
    --------
    >>> import lmeformula as lmf
    >>> sleep = lmf.datasets.load("sleepstudy")
    >>> sel = lmf.select_random("Reaction ~ Days", sleep, group="Subject", slope="Days")
    >>> sel.chosen
    '(Days || Subject)'
    >>> sel.table[["tested_against", "p_value_mixture"]].round(6)
                                tested_against  p_value_mixture
    (Days || Subject)     (0 + Days | Subject)         0.000001
    (Days | Subject)         (Days || Subject)              NaN
    (0 + Days | Subject)                                    NaN
    (1 | Subject)                                           NaN
    """
    if not isinstance(formula, str):
        raise ArgumentTypeError(f"formula must be a string, got {type(formula).__name__}.")
    _check_search(data, reml, criterion, candidates)
    parallel = _parallel(n_jobs, backend, client, progress)
    if candidates is None:
        if not (isinstance(group, str) and isinstance(slope, str)):
            raise ArgumentTypeError(
                "give candidates (random terms such as '(1 | g)') or both group= and slope=."
            )
        missing_columns([group, slope], data, "group= or slope=")
        candidates = [
            f"(1 | {group})",
            f"(0 + {slope} | {group})",
            f"({slope} || {group})",
            f"({slope} | {group})",
        ]
    specs = []
    for term in candidates:
        if term is not None and not isinstance(term, str):
            raise ArgumentTypeError(f"a candidate is a random term as a string, got {term!r}.")
        text = (term or "").strip()
        label = text or "no random effects"
        full = f"{formula} + {text}" if text else formula
        kwargs: dict[str, Any] = {"variance": variance, "weights": weights}
        if residual is not None:
            kwargs["residual"] = residual
        specs.append((label, full, kwargs))
    if len({s[0] for s in specs}) != len(specs):
        raise ArgumentTypeError(f"candidates repeat a term: {[s[0] for s in specs]}.")
    fits, failed = _fit_candidates(specs, data, reml, _data_name(data), parallel, "select_random")
    why = (
        "All candidates share the fixed effects and are fitted by "
        f"{'REML' if reml else 'ML'}, so their likelihoods compare the random effects. "
        "Variances tested at 0 are on the boundary of the parameter space: read "
        "p_value_mixture where it is given."
    )
    return _selection(fits, failed, criterion, why)
