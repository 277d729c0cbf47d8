"""The parametric bootstrap, as lme4's ``bootMer(m, FUN, nsim, type = "parametric")``.

Each replicate simulates a response from the fit (new random effects and residuals, as
``simulate``), refits the same model to it (:func:`lmeformula.fitting.refit.refit_response`: the
engine is built once, only the response changes) and records ``func(refit)``.

Reproducibility: replicate i draws from its own generator, seeded by the i-th child of
``numpy.random.SeedSequence(seed).spawn(n)``, so the replicates are the same whatever the
number of jobs, the backend (:func:`lmeformula.fitting.parallel.run`: joblib or Dask) and
whichever worker runs them; each worker builds the engine once. Percentile intervals
interpolate the order statistics on the normal scale, as ``boot::boot.ci(type = "perc")``
does (``norm.inter``).
"""

from __future__ import annotations

import html
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from lmeformula.engines.factory import make_engine
from lmeformula.engines.threads import LARGE_DENSE_BLOCK
from lmeformula.errors import ArgumentTypeError, BootstrapWarning, DataError
from lmeformula.fitting.glmm import refit_glmer_response
from lmeformula.fitting.parallel import check_backend, check_n_jobs, run
from lmeformula.fitting.progress import check_progress
from lmeformula.fitting.refit import refit_response
from lmeformula.inference.simulate import check_nsim, draw_responses
from lmeformula.results.glmer import GlmerResult
from lmeformula.results.lmer import LmerResult
from lmeformula.results.varpar import default_statistics, statistic_values

__all__ = ["BootstrapResult", "bootstrap", "format_percent", "percentile_interval"]


def format_percent(probs: Sequence[float]) -> list[str]:
    """R's labels of interval columns (``format(100 * a, digits = 3)`` and "%").

    Examples
    --------
    >>> format_percent([0.025, 0.975]), format_percent([0.05, 0.95])
    (['2.5 %', '97.5 %'], ['5 %', '95 %'])
    >>> format_percent([0.0005, 0.9995])
    ['0.05 %', '99.95 %']
    """
    vals = [100.0 * float(p) for p in probs]

    def decimals(x: float) -> int:
        # Decimals that show x to 3 significant digits, trailing zeros dropped.
        if x == 0:
            return 0
        d = max(0, 2 - int(np.floor(np.log10(abs(x)))))
        target = round(x, d)
        while d > 0 and round(x, d - 1) == target:
            d -= 1
        return d

    # R formats the vector with one number of decimals, enough for every element.
    d = max(decimals(x) for x in vals)
    return [f"{x:.{d}f} %" for x in vals]


def percentile_interval(t: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """``boot``'s ``norm.inter``: quantiles of the replicates interpolated on the normal
    scale between the order statistics k = ⌊(R + 1) α⌋ and k + 1.

    Non-finite replicates (failed refits) are left out, as boot does.

    Examples
    --------
    >>> percentile_interval(np.arange(1.0, 100.0), [0.025, 0.975]).round(6).tolist()
    [2.542249, 97.457751]

    (R: ``boot:::norm.inter(1:99, c(0.025, 0.975))`` gives 2.542249, 97.457751.)
    """
    t = np.sort(np.asarray(t, dtype=float)[np.isfinite(t)])
    R = t.size
    out = np.full(len(probs), np.nan)
    if R == 0:
        return out
    for i, alpha in enumerate(probs):
        rk = (R + 1) * alpha
        k = int(np.trunc(rk))
        if k == rk and 0 < k <= R:
            out[i] = t[k - 1]
        elif k <= 0:
            out[i] = t[0]
        elif k >= R:
            out[i] = t[R - 1]
        else:
            z, z1, z2 = stats.norm.ppf([alpha, k / (R + 1), (k + 1) / (R + 1)])
            out[i] = t[k - 1] + (z - z1) / (z2 - z1) * (t[k] - t[k - 1])
    return out


BOOT_TYPES = ("perc", "basic", "norm")


@dataclass
class BootstrapResult:
    """A parametric bootstrap (lme4's ``bootMer`` object).

    Attributes
    ----------
    t0
        The statistics of the original fit (lme4's ``t0``).
    t
        One row per replicate, one column per statistic (lme4's ``t``); the rows of
        failed replicates are NaN.
    seed
        The seed given (None for fresh entropy).
    entropy
        The entropy of the root SeedSequence: ``bootstrap(..., seed=entropy)`` repeats a
        run made with ``seed=None``.
    n_failed
        Replicates whose refit raised an error.
    errors, warnings
        How often each error message and each warning message occurred.
    """

    t0: pd.Series
    t: pd.DataFrame
    seed: Any = None
    entropy: Any = None
    n_failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of replicates (lme4's ``R``)."""
        return len(self.t)

    def summary(self) -> pd.DataFrame:
        """``print(bootMer(...))``'s table: the original value, the bias (mean of the
        replicates less the original) and the standard error (SD of the replicates).

        Returns
        -------
        pandas.DataFrame
            Indexed by statistic, columns ``original, bias, std_error, mean, n_ok``.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
        >>> b = fit.bootstrap(20, seed=1, progress=False)
        >>> list(b.summary().columns)
        ['original', 'bias', 'std_error', 'mean', 'n_ok']
        """
        mean = self.t.mean(axis=0)
        return pd.DataFrame(
            {
                "original": self.t0,
                "bias": mean - self.t0,
                "std_error": self.t.std(axis=0, ddof=1),
                "mean": mean,
                "n_ok": self.t.notna().sum(axis=0),
            }
        )

    def confint(self, level: float = 0.95, type: str = "perc") -> pd.DataFrame:
        """Bootstrap intervals, as lme4's ``confint(bootMer(...), type = ...)``.

        Parameters
        ----------
        level
            Confidence level.
        type
            ``"perc"`` (percentile, lme4's default), ``"basic"`` (2 t0 less the percentile
            bounds) or ``"norm"`` (normal, bias-corrected: t0 - bias ± z SD), as
            ``boot::boot.ci``.

        Returns
        -------
        pandas.DataFrame
            Indexed by statistic, with R's column labels (``"2.5 %"``, ``"97.5 %"``).
        """
        a = interval_tails(level)
        if type not in BOOT_TYPES:
            raise ArgumentTypeError(f"type must be one of {BOOT_TYPES}, got {type!r}.")
        rows = []
        for name in self.t.columns:
            t = self.t[name].to_numpy(dtype=float)
            t0 = float(self.t0[name])
            if type == "perc":
                rows.append(percentile_interval(t, a))
            elif type == "basic":
                q = percentile_interval(t, a[::-1])
                rows.append(2 * t0 - q)
            else:
                ok = t[np.isfinite(t)]
                bias = ok.mean() - t0
                merr = ok.std(ddof=1) * stats.norm.ppf(a[1])
                rows.append(np.array([t0 - bias - merr, t0 - bias + merr]))
        return pd.DataFrame(rows, index=self.t.columns, columns=format_percent(a))

    def _heading(self) -> str:
        head = f"Parametric bootstrap: {self.n} replicates"
        if self.n_failed:
            head += f", {self.n_failed} failed"
        return head

    def __repr__(self) -> str:
        return f"{self._heading()}\n{self.summary()[['original', 'bias', 'std_error']]}"

    def _repr_html_(self) -> str:
        # print(bootMer(...))'s heading and table, as a notebook shows a DataFrame.
        table = self.summary()[["original", "bias", "std_error"]]
        return f"<p><b>{html.escape(self._heading())}</b></p>{table.to_html()}"


def interval_tails(level: Any) -> list[float]:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ArgumentTypeError(f"level must be a number between 0 and 1, got {level!r}.")
    a = (1.0 - float(level)) / 2.0
    return [a, 1.0 - a]


def _as_series(value: Any, where: str) -> pd.Series:
    if isinstance(value, pd.Series):
        out = value.astype(float)
    elif isinstance(value, dict):
        out = pd.Series(value, dtype=float)
    else:
        arr = np.atleast_1d(np.asarray(value, dtype=float))
        if arr.ndim != 1:
            raise DataError(f"{where} returned a {arr.ndim}-d array; return numbers in 1-d.")
        out = pd.Series(arr, index=[f"t{i + 1}" for i in range(arr.size)])
    return out


def _setup(shared: tuple[LmerResult, Callable[[LmerResult], Any] | None]) -> tuple[Any, ...]:
    """A worker's state: the fit, its engine (built once per worker) and the statistic
    (None: the default statistics, recorded as their values alone)."""
    result, func = shared
    return result, make_engine(result.state.model), func


def _replicate(
    state: tuple[Any, ...], seed: np.random.SeedSequence
) -> tuple[pd.Series | np.ndarray, list[str]]:
    """One replicate: its statistics (the default's as an array in ``t0``'s order) and
    notes (not converged, singular)."""
    result, problem, func = state
    rng = np.random.default_rng(seed)
    y = draw_responses(result, rng, 1)[:, 0]
    if isinstance(result, GlmerResult):
        fit: Any = refit_glmer_response(result, y)
    else:
        fit = refit_response(result, y, engine=problem)
    notes = []
    if not fit.optinfo.converged:
        notes.append(fit.optinfo.messages[0] if fit.optinfo.messages else "not converged")
    if fit.singular:
        notes.append("boundary (singular) fit")
    if func is None:
        return statistic_values(fit), notes
    return _as_series(func(fit), "func"), notes


def _blas_threads(result: LmerResult, workers: int) -> int | None:
    # A refit is many small factorisations, where BLAS threads only add synchronisation
    # (a 2 x 2 triangular solve took 16 ms with two OpenBLAS threads on a busy machine,
    # 0.1 ms with one); only a large crossed block pays for them, and not beside workers.
    largest = max((t.q for t in result.state.design.terms[1:]), default=0)
    return None if largest >= LARGE_DENSE_BLOCK and workers == 1 else 1


def bootstrap(
    result: LmerResult,
    n: int,
    seed: Any = None,
    n_jobs: int = 1,
    progress: bool | None = None,
    func: Callable[[LmerResult], Any] | None = None,
    backend: str = "loky",
    client: Any = None,
) -> BootstrapResult:
    """The parametric bootstrap of a fit; see :meth:`lmeformula.LmerResult.bootstrap`."""
    n = check_nsim(n)
    n_jobs = check_n_jobs(n_jobs)
    backend = check_backend(backend, client)
    progress = check_progress(progress)
    if func is not None and not callable(func):
        raise ArgumentTypeError(f"func must be a function of a fit, got {type(func).__name__}.")
    try:
        root = np.random.SeedSequence(seed)
    except (TypeError, ValueError) as err:
        raise ArgumentTypeError(
            f"seed must be None, a non-negative integer or a sequence of them, got {seed!r}."
        ) from err
    children = root.spawn(n)
    t0 = default_statistics(result) if func is None else _as_series(func(result), "func")
    alone = n_jobs == 1 and backend != "dask"
    outcomes = run(
        _replicate,
        children,
        shared=(result, func),
        setup=_setup,
        n_jobs=n_jobs,
        backend=backend,
        client=client,
        progress=progress,
        desc="bootstrap",
        max_chunk=50,
        blas_threads=_blas_threads(result, 1 if alone else 2),
    )
    rows: list[np.ndarray] = []
    errors: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    for outcome in outcomes:
        if not outcome.ok:
            errors[str(outcome.error)] += 1
            rows.append(np.full(len(t0), np.nan))
            continue
        values, own = outcome.value
        if isinstance(values, pd.Series):
            values = values.reindex(t0.index).to_numpy(dtype=float)
        rows.append(values)
        notes.update([message for _, message in outcome.warnings] + own)
    t = pd.DataFrame(np.array(rows, dtype=float).reshape(len(rows), len(t0)), columns=t0.index)
    n_failed = sum(errors.values())
    if n_failed:
        common = errors.most_common(1)[0][0]
        warnings.warn(
            f"{n_failed} of {n} bootstrap refits failed (their rows are NaN); the most common "
            f"error: {common}. See .errors of the result.",
            BootstrapWarning,
            stacklevel=3,
        )
    return BootstrapResult(
        t0=t0,
        t=t,
        seed=seed,
        entropy=root.entropy,
        n_failed=n_failed,
        errors=dict(errors),
        warnings=dict(notes),
    )
