"""Time lmeformula's residual structures against nlme on a repeated-measures trial, in one run.

Usage: ``python benchmarks/bench_structures.py [--repeat N] [--budget S] [--quick]
[--only NAME ...] [--subjects N]``.

One simulated data set (fixed seed): 2,000 subjects x 8 visits = 16,000 rows, a treatment arm
(2 levels) per subject, a random subject intercept, AR(1) errors within subject (rho = 0.6) and
standard deviations growing over the visits. Two models are fitted by REML:

1. random intercept + AR(1) residuals, ``lmf.lmer(..., residual=lmf.AR1("visit | id"))``
   against ``nlme::lme(..., correlation = corAR1(form = ~ visit | id))``;
   requirement: lmeformula at least as fast as nlme (ratio ours / nlme <= 1);
2. the unstructured 8 x 8 marginal model (MMRM), ``lmf.gls(..., residual=lmf.UN("visit | id"))``
   against ``nlme::gls(..., corSymm(form = ~ visit | id), varIdent(form = ~ 1 | visit))``;
   nlme needs minutes here (2 to 7 on the machines tried), so it is fitted once;
   requirement: lmeformula at least 20 times faster (ratio <= 0.05).

For each model: lmeformula's median wall time of a whole fit (formula and data frame to
results object) over ``--repeat`` fits (stopping early once a model has used ``--budget``
seconds), its optimizer evaluations (``fit.optinfo.evaluations``) and the wall time per
optimizer evaluation (whole fit / evaluations, so including the set-up and the deviance
evaluations of the convergence check's finite differences), and, when ``Rscript`` with nlme is
on the PATH, nlme's median for the same model on the same data (written to CSV and read by R
outside the timing), the ratio ours / nlme, both log-likelihoods and this process's peak
resident memory after the model. Warning lines follow the table: a ratio above the
requirement, log-likelihoods more than 1e-3 apart, each warning lmeformula raised. Without R
only lmeformula's columns are printed. ``--quick`` leaves out the unstructured model.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rtiming import time_in_r

import lmeformula as lmf

LOGLIK_TOL = 1e-3


def sim_trial(
    subjects: int = 2_000, visits: int = 8, rho: float = 0.6, seed: int = 20_240
) -> pd.DataFrame:
    """A two-arm trial: y = mean(arm, visit) + b[id] + e, e AR(1) with visit-specific sd.

    Rows are sorted by subject and visit; ``id`` and ``arm`` are strings.
    """
    rng = np.random.default_rng(seed)
    active = rng.integers(0, 2, subjects)
    visit = np.arange(1, visits + 1)
    sd = np.linspace(1.0, 2.0, visits)  # sd of the AR(1) errors, visit 1 -> visits
    e = np.empty((subjects, visits))
    e[:, 0] = rng.normal(size=subjects)
    for t in range(1, visits):
        e[:, t] = rho * e[:, t - 1] + np.sqrt(1 - rho**2) * rng.normal(size=subjects)
    b = rng.normal(0, 1.0, subjects)
    mean = 10 + 0.3 * visit[None, :] + 0.25 * active[:, None] * visit[None, :]
    y = mean + b[:, None] + e * sd
    return pd.DataFrame(
        {
            "id": np.repeat([f"S{i:05d}" for i in range(subjects)], visits),
            "arm": np.repeat(np.where(active == 1, "active", "placebo"), visits),
            "visit": np.tile(visit, subjects),
            "y": y.ravel(),
        }
    )


@dataclass
class Model:
    name: str
    fit: Callable[[pd.DataFrame], Any]  # lmeformula's whole fit
    r_call: str  # nlme's, on the data frame `d`
    max_ratio: float  # requirement on ours / nlme
    r_repeat: int | None = None  # nlme's fits (None: --repeat)
    large: bool = False


MODELS = [
    Model(
        "random intercept + AR(1)",
        lambda d: lmf.lmer("y ~ arm * factor(visit) + (1 | id)", d, residual=lmf.AR1("visit | id")),
        "lme(y ~ arm * factor(visit), random = ~1 | id, "
        "correlation = corAR1(form = ~ visit | id), data = d, method = 'REML')",
        max_ratio=1.0,
    ),
    Model(
        "unstructured 8x8 (MMRM)",
        lambda d: lmf.gls("y ~ arm * factor(visit)", d, residual=lmf.UN("visit | id")),
        "gls(y ~ arm * factor(visit), correlation = corSymm(form = ~ visit | id), "
        "weights = varIdent(form = ~ 1 | visit), data = d, method = 'REML')",
        max_ratio=1 / 20,
        r_repeat=1,
        large=True,
    ),
]


@dataclass
class Ours:
    median: float
    fits: int
    loglik: float
    evaluations: int
    warnings: list[str]


def time_ours(model: Model, data: pd.DataFrame, repeat: int, budget: float) -> Ours:
    times: list[float] = []
    fit = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(repeat):
            start = time.perf_counter()
            fit = model.fit(data)
            times.append(time.perf_counter() - start)
            if sum(times) > budget:
                break
    assert fit is not None
    seen = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    return Ours(statistics.median(times), len(times), fit.loglik, fit.optinfo.evaluations, seen)


def time_nlme(model: Model, csv: Path, repeat: int, workdir: Path) -> tuple[float, float] | None:
    setup = f"""suppressMessages(library(nlme))
d <- read.csv("{csv}", colClasses = c(id = "character", arm = "character"))
d$id <- factor(d$id)"""
    return time_in_r(setup, model.r_call, repeat, workdir, "nlme")


def _revision() -> str:
    """The git commit lmeformula is imported from (+dirty with uncommitted changes)."""
    where = Path(lmf.__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "no git"
    return head + ("+dirty" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="lmeformula's fits per model")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="stop repeating a model after this many s"
    )
    parser.add_argument("--quick", action="store_true", help="leave out the unstructured model")
    parser.add_argument("--only", nargs="*", help="substrings of model names to run")
    parser.add_argument("--subjects", type=int, default=2_000, help="simulated subjects")
    args = parser.parse_args()
    have_r = shutil.which("Rscript") is not None
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python "
        f"{platform.python_version()}, lmeformula {lmf.__version__} ({_revision()})"
    )
    print(f"cores: {os.cpu_count()}, load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    data = sim_trial(subjects=args.subjects)
    print(
        f"data: {data['id'].nunique()} subjects x {data['visit'].nunique()} visits = "
        f"{len(data)} rows"
    )
    cols = [("ours", 9), ("fits", 4), ("evals", 5), ("ms/eval", 8), ("nlme", 9), ("fits", 4)]
    cols += [("ratio", 6), ("need", 6), ("logLik ours", 15), ("logLik nlme", 15)]
    print(f"{'model':26s} " + " ".join(f"{c:>{w}s}" for c, w in cols) + f" {'peak MB':>8s}")
    notes: list[str] = []
    ran: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "trial.csv"
        data.to_csv(csv, index=False)
        for model in MODELS:
            if args.quick and model.large:
                continue
            if args.only and not any(s in model.name for s in args.only):
                continue
            ran.append(model.name)
            ours = time_ours(model, data, args.repeat, args.budget)
            notes += [f"WARNING {model.name}: lmeformula warned: {w}" for w in ours.warnings]
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            r_repeat = model.r_repeat or args.repeat
            theirs = time_nlme(model, csv, r_repeat, Path(tmp)) if have_r else None
            per_eval = 1000 * ours.median / max(ours.evaluations, 1)
            head = (
                f"{model.name:26s} {ours.median:8.3f}s {ours.fits:4d} {ours.evaluations:5d} "
                f"{per_eval:8.2f}"
            )
            need = f"<={model.max_ratio:.3g}"
            if theirs is None:
                dash = "-"
                print(
                    f"{head} {dash:>9s} {dash:>4s} {dash:>6s} {need:>6s} {ours.loglik:15.4f} "
                    f"{dash:>15s} {peak:8.0f}"
                )
                continue
            t_r, ll_r = theirs
            ratio = ours.median / t_r
            print(
                f"{head} {t_r:8.3f}s {r_repeat:4d} {ratio:6.3f} {need:>6s} {ours.loglik:15.4f} "
                f"{ll_r:15.4f} {peak:8.0f}"
            )
            if ratio > model.max_ratio:
                notes.append(
                    f"WARNING {model.name}: ratio {ratio:.3f} > {model.max_ratio:.3g} "
                    f"(lmeformula {ours.median:.3f}s, nlme {t_r:.3f}s)"
                )
            if not abs(ours.loglik - ll_r) <= LOGLIK_TOL:
                notes.append(
                    f"WARNING {model.name}: logLik differs from nlme's by "
                    f"{ours.loglik - ll_r:+.6f} (ours - nlme; tolerance {LOGLIK_TOL:g})"
                )
    print("ratio = lmeformula / nlme (median wall time of whole fits); need = the required ratio")
    print(
        "evals = lmeformula's optimizer evaluations; ms/eval = whole fit / evals (set-up and "
        "the convergence check's evaluations included)"
    )
    if have_r and any(m.r_repeat == 1 and m.name in ran for m in MODELS):
        print("the unstructured model's nlme fit is run once (it takes minutes), not repeated")
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")
    if not have_r:
        print("Rscript not found: nlme columns left out")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
