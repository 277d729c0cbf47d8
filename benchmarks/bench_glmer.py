"""Time lmeformula's glmer against lme4's glmer on the same models and data, in one run.

Usage: ``python benchmarks/bench_glmer.py [--repeat N] [--quick] [--no-r] [--only NAME ...]``.

For each model: the median wall time of a whole fit in lmeformula and, when ``Rscript``
with lme4 is on the PATH, lme4's ``glmer`` with its default settings (``glmerControl()``:
BOBYQA then Nelder-Mead) on the same data, the ratio ours / lme4's and both
log-likelihoods (the fit's own: Laplace). ``peak MB`` is this process's peak resident
memory once the model is fitted. ``--quick`` leaves out the two large simulated models.
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


def sim_binary(
    n: int = 100_000, subjects: int = 2_000, items: int = 400, seed: int = 3
) -> pd.DataFrame:
    """Binary responses: subjects with random intercepts and slopes crossed with items."""
    rng = np.random.default_rng(seed)
    s, i = rng.integers(0, subjects, n), rng.integers(0, items, n)
    x = rng.normal(size=n)
    b0, b1 = rng.normal(0, 1.0, subjects), rng.normal(0, 0.5, subjects)
    c0 = rng.normal(0, 0.7, items)
    eta = -0.3 + 0.6 * x + b0[s] + b1[s] * x + c0[i]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "subj": s.astype(str), "item": i.astype(str)})


def sim_counts(
    n: int = 200_000, sites: int = 5_000, years: int = 40, seed: int = 4
) -> pd.DataFrame:
    """Poisson counts with an exposure offset: sites crossed with years."""
    rng = np.random.default_rng(seed)
    s, t = rng.integers(0, sites, n), rng.integers(0, years, n)
    x = rng.normal(size=n)
    exposure = rng.uniform(0.5, 2.0, n)
    eta = 0.2 + 0.3 * x + rng.normal(0, 0.8, sites)[s] + rng.normal(0, 0.3, years)[t]
    y = rng.poisson(exposure * np.exp(eta))
    return pd.DataFrame(
        {"y": y, "x": x, "site": s.astype(str), "year": t.astype(str), "exposure": exposure}
    )


@dataclass
class Model:
    name: str
    data: Callable[[], pd.DataFrame]
    formula: str
    family: str
    labels: list[str]  # columns R must read as labels
    large: bool = False


def _shipped(name: str) -> Callable[[], pd.DataFrame]:
    return lambda: lmf.datasets.load(name)


MODELS = [
    Model(
        "VerbAgg crossed (7,584 rows)",
        _shipped("verbagg"),
        "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
        "binomial",
        ["id", "item", "r2", "Gender", "btype", "situ"],
    ),
    Model(
        "Contraception (urban | district)",
        _shipped("contraception"),
        "use ~ age + I(age^2) + urban + livch + (urban | district)",
        "binomial",
        ["district", "use", "urban", "livch", "woman"],
    ),
    Model(
        "grouseticks, three factors",
        _shipped("grouseticks"),
        "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
        "poisson",
        ["INDEX", "BROOD", "YEAR", "LOCATION"],
    ),
    Model(
        "cbpp",
        _shipped("cbpp"),
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        "binomial",
        ["herd", "period"],
    ),
    Model(
        "binary 100k, 2k subj (slope) x 400 items",
        sim_binary,
        "y ~ x + (x | subj) + (1 | item)",
        "binomial",
        ["subj", "item"],
        large=True,
    ),
    Model(
        "Poisson 200k, offset, 5k sites x 40 years",
        sim_counts,
        "y ~ x + offset(log(exposure)) + (1 | site) + (1 | year)",
        "poisson",
        ["site", "year"],
        large=True,
    ),
]


def time_ours(model: Model, data: pd.DataFrame, repeat: int) -> tuple[float, float]:
    times, loglik = [], np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spin()
        for _ in range(repeat):
            start = time.perf_counter()
            fit = lmf.glmer(model.formula, data, family=model.family)
            times.append(time.perf_counter() - start)
            loglik = fit.loglik
    return statistics.median(times), loglik


def time_lme4(
    model: Model, data: pd.DataFrame, repeat: int, workdir: Path
) -> tuple[float, float] | None:
    csv = workdir / "data.csv"
    data.to_csv(csv, index=False)
    labels = [c for c in model.labels if c in data.columns]
    cls = ", ".join(f'{c} = "character"' for c in labels)
    names = ", ".join(f'"{c}"' for c in labels)
    # Labels as factors, as glmer is given them (a two-level response: the first level is
    # failure).
    setup = f"""suppressMessages(library(lme4))
d <- read.csv("{csv}", colClasses = c({cls}))
for (v in c({names})) d[[v]] <- factor(d[[v]])"""
    fit = f"glmer({model.formula}, d, family = {model.family})"
    return time_in_r(setup, fit, repeat, workdir, "lme4")


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
    print(f"{'model':42s} " + " ".join(f"{c:>{w}s}" for c, w in cols) + f" {'peak MB':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            if args.quick and model.large:
                continue
            if args.only and not any(s in model.name for s in args.only):
                continue
            data = model.data()
            repeat = 1 if model.large else args.repeat
            ours, ll = time_ours(model, data, repeat)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            theirs = time_lme4(model, data, repeat, Path(tmp)) if have_r else None
            if theirs is None:
                dash = "-"
                print(
                    f"{model.name:42s} {ours:8.3f}s {dash:>9s} {dash:>6s} {ll:15.4f} "
                    f"{dash:>15s} {peak:8.0f}"
                )
            else:
                t_r, ll_r = theirs
                print(
                    f"{model.name:42s} {ours:8.3f}s {t_r:8.3f}s {ours / t_r:6.2f} {ll:15.4f} "
                    f"{ll_r:15.4f} {peak:8.0f}"
                )
    print("ratio = lmeformula / lme4 (median wall time of whole fits; large models: one fit)")


if __name__ == "__main__":
    main()
