"""Time lmeformula's lmer against lme4 on the same models and data, in one run.

Usage: ``python benchmarks/bench_lmer.py [--repeat N] [--quick] [--no-r] [--only NAME ...]``.

For each model: the median wall time of a whole fit (formula and data frame to results
object) in lmeformula, and, when ``Rscript`` with lme4 is on the PATH (and ``--no-r`` is not
given), lme4's median for the same model on the same data (written to CSV and read by R
outside the timing), the ratio ours / lme4's, both log-likelihoods, and ``peak MB``: this
Python process's peak resident memory (RSS) once the model is fitted, data included (R runs
in its own process and is not counted). Models run in the table's order, so the column
never decreases; ``--only`` measures one model alone (``--only 1M`` the 1,000,000-row one).
``--quick`` leaves out the three large models.
"""

from __future__ import annotations

import argparse
import platform
import resource
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from busy import spin
from rtiming import time_in_r

import lmeformula as lmf


def sim_random_slope(n: int = 1_000_000, groups: int = 20_000, seed: int = 1) -> pd.DataFrame:
    """y = 1 + 0.5 x + b0[g] + b1[g] x + e: 1,000,000 rows, 20,000 groups."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    b0, b1 = rng.normal(0, 1, groups), rng.normal(0, 0.5, groups)
    y = 1 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(0, 1, n)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def sim_crossed(
    n: int = 300_000, subjects: int = 6_000, items: int = 1_500, seed: int = 2
) -> pd.DataFrame:
    """Subjects crossed with items: 300,000 rows, 6,000 subjects, 1,500 items."""
    rng = np.random.default_rng(seed)
    s, i = rng.integers(0, subjects, n), rng.integers(0, items, n)
    x = rng.normal(size=n)
    y = 0.3 * x + rng.normal(0, 1, subjects)[s] + rng.normal(0, 0.7, items)[i] + rng.normal(0, 1, n)
    return pd.DataFrame({"y": y, "x": x, "subj": s.astype(str), "item": i.astype(str)})


@dataclass
class Model:
    name: str
    data: Callable[[], pd.DataFrame]
    formula: str
    labels: list[str]  # columns R must read as labels
    large: bool = False


def _shipped(name: str) -> Callable[[], pd.DataFrame]:
    return lambda: lmf.datasets.load(name)


MODELS = [
    Model(
        "exam seed (random slope)",
        _shipped("exam"),
        "normexam ~ standLRT + (1 + standLRT | school)",
        ["school", "student"],
    ),
    Model(
        "exam random intercept",
        _shipped("exam"),
        "normexam ~ standLRT + (1 | school)",
        ["school", "student"],
    ),
    Model(
        "sleepstudy random slope",
        _shipped("sleepstudy"),
        "Reaction ~ Days + (Days | Subject)",
        ["Subject"],
    ),
    Model(
        "orthodont random slope",
        _shipped("orthodont"),
        "distance ~ age * Sex + (age | Subject)",
        ["Subject"],
    ),
    Model(
        "penicillin crossed",
        _shipped("penicillin"),
        "diameter ~ 1 + (1 | plate) + (1 | sample)",
        ["plate", "sample"],
    ),
    Model(
        "pastes nested",
        _shipped("pastes"),
        "strength ~ 1 + (1 | batch/cask)",
        ["batch", "cask", "sample"],
    ),
    Model(
        "machines unstructured",
        _shipped("machines"),
        "score ~ Machine + (0 + Machine | Worker)",
        ["Worker"],
    ),
    Model(
        "InstEval crossed (73,421 rows)",
        _shipped("insteval"),
        "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)",
        ["s", "d", "studage", "lectage", "dept"],
        large=True,
    ),
    Model(
        "simulated 1M rows, 20k groups, slope",
        sim_random_slope,
        "y ~ x + (x | g)",
        ["g"],
        large=True,
    ),
    Model(
        "simulated 300k rows, 6k x 1.5k crossed",
        sim_crossed,
        "y ~ x + (1 | subj) + (1 | item)",
        ["subj", "item"],
        large=True,
    ),
]


def time_ours(data: pd.DataFrame, formula: str, repeat: int) -> tuple[float, float]:
    times, loglik = [], np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spin()
        for _ in range(repeat):
            start = time.perf_counter()
            fit = lmf.lmer(formula, data)
            times.append(time.perf_counter() - start)
            loglik = fit.loglik
    return statistics.median(times), loglik


def time_lme4(
    model: Model, data: pd.DataFrame, repeat: int, workdir: Path
) -> tuple[float, float] | None:
    csv = workdir / "data.csv"
    data.to_csv(csv, index=False)
    cls = ", ".join(f'{c} = "character"' for c in model.labels if c in data.columns)
    setup = f"""suppressMessages(library(lme4))
d <- read.csv("{csv}", colClasses = c({cls}))"""
    return time_in_r(setup, f"lmer({model.formula}, d)", repeat, workdir, "lme4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="fits per model (large: 1)")
    parser.add_argument("--quick", action="store_true", help="leave out the large models")
    parser.add_argument("--only", nargs="*", help="substrings of model names to run")
    parser.add_argument("--no-r", action="store_true", help="time lmeformula only")
    args = parser.parse_args()
    have_r = shutil.which("Rscript") is not None and not args.no_r
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python "
        f"{platform.python_version()}, lmeformula {lmf.__version__}"
    )
    cols = ("ours", 9), ("lme4", 9), ("ratio", 6), ("logLik ours", 15), ("logLik lme4", 15)
    print(f"{'model':40s} " + " ".join(f"{c:>{w}s}" for c, w in cols) + f" {'peak MB':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            if args.quick and model.large:
                continue
            if args.only and not any(s in model.name for s in args.only):
                continue
            data = model.data()
            repeat = 1 if model.large else args.repeat
            ours, ll = time_ours(data, model.formula, repeat)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            theirs = time_lme4(model, data, repeat, Path(tmp)) if have_r else None
            if theirs is None:
                dash = "-"
                print(
                    f"{model.name:40s} {ours:8.3f}s {dash:>9s} {dash:>6s} {ll:15.4f} "
                    f"{dash:>15s} {peak:8.0f}"
                )
            else:
                t_r, ll_r = theirs
                print(
                    f"{model.name:40s} {ours:8.3f}s {t_r:8.3f}s {ours / t_r:6.2f} {ll:15.4f} "
                    f"{ll_r:15.4f} {peak:8.0f}"
                )
    print("ratio = lmeformula / lme4 (median wall time of whole fits; large models: one fit)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak MB = this process's peak resident memory after each model ({peak:.0f} MB in all)")


if __name__ == "__main__":
    main()
