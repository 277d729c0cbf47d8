"""Time ``lmf.fit_many`` against a loop of lme4 fits in R, on the same data in one run.

Usage: ``python benchmarks/bench_many.py [--responses N] [--repeat N] [--check N] [--no-r]``.

The design: 5,000 rows, 200 groups of 25, a covariate x, and N responses (2,000 by default)
y = 1 + 0.5 x + b0[g] + b1[g] x + e, each with its own random effects, fitted as
``y ~ x + (x | g)`` (REML). Rounds interleave: in each, ``fit_many`` with ``n_jobs=1`` and
``n_jobs=2`` (joblib's loky processes; a two-worker time includes starting the workers when
none are alive: in the first round, and after R's loop when it ran longer than the 300 s
loky keeps idle workers), then, when ``Rscript`` with lme4 is on the PATH, R's
``for (j in seq_len(ncol(Y))) { d$y <- Y[, j]; m <- lmer(y ~ x + (x | g), d) }`` on the
same responses (read from a binary file outside the timing). Medians over rounds are
printed, with the ratios, the largest |logLik difference| between fit_many and (a) R's fits
of all responses, (b) single ``lmf.lmer`` fits of a sample, whether one and two workers
gave the same bits, the memory fit_many allocates for a tenth of the responses and for
all of them, and peak memory (this process and the workers).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rtiming import run_r_json

import lmeformula as lmf

GROUPS, PER_GROUP = 200, 25
FORMULA = "~ x + (x | g)"


def simulate(responses: int, seed: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The design (x, g) and the responses (one column each), 5,000 rows."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(GROUPS), PER_GROUP)
    x = rng.normal(size=g.size)
    b0 = rng.normal(0.0, 1.0, (GROUPS, responses))
    b1 = rng.normal(0.0, 0.5, (GROUPS, responses))
    e = rng.normal(size=(g.size, responses))
    Y = 1.0 + 0.5 * x[:, None] + b0[g] + b1[g] * x[:, None] + e
    design = pd.DataFrame({"x": x, "g": [f"g{i:03d}" for i in g]})
    names = [f"y{j:05d}" for j in range(responses)]
    return design, pd.DataFrame(Y, columns=names)


def time_ours(design: pd.DataFrame, Y: pd.DataFrame, n_jobs: int) -> tuple[float, lmf.ManyFits]:
    start = time.perf_counter()
    result = lmf.fit_many(FORMULA, design, Y, n_jobs=n_jobs, progress=False)
    return time.perf_counter() - start, result


def r_loop(workdir: Path, design: pd.DataFrame, Y: pd.DataFrame) -> dict[str, Any] | None:
    design.to_csv(workdir / "design.csv", index=False)
    # Column-major doubles, as R's matrix() fills.
    Y.to_numpy(dtype="<f8").T.tofile(workdir / "y.bin")
    n, m = Y.shape
    script = f"""suppressMessages(library(lme4))
d <- read.csv("{workdir / "design.csv"}", colClasses = c(g = "character"))
Y <- matrix(readBin("{workdir / "y.bin"}", "double", n = {n * m}, endian = "little"),
            nrow = {n}, ncol = {m})
ll <- numeric({m})
t <- system.time(for (j in seq_len({m})) {{
  d$y <- Y[, j]
  m <- suppressMessages(suppressWarnings(lmer(y ~ x + (x | g), d)))
  ll[j] <- as.numeric(logLik(m))
}})[["elapsed"]]
cat(jsonlite::toJSON(list(t = t, ll = ll, version = paste(R.version.string, "lme4",
    as.character(packageVersion("lme4")))), digits = NA, auto_unbox = TRUE))
"""
    return run_r_json(script, workdir, "lmer_loop")


def _peak_mb(pid: int | str = "self") -> float:
    # VmHWM: the process's peak resident memory.
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _worker_peak() -> tuple[int, float]:
    return os.getpid(), _peak_mb()


def worker_peaks() -> list[float]:
    from joblib import Parallel, delayed

    found = dict(Parallel(n_jobs=2)(delayed(_worker_peak)() for _ in range(8)))
    return sorted(found.values())


def single_fit_check(
    design: pd.DataFrame, Y: pd.DataFrame, result: lmf.ManyFits, count: int
) -> float:
    worst = 0.0
    info = result.glance()
    for name in Y.columns[:: max(1, Y.shape[1] // count)][:count]:
        data = design.assign(y=Y[name])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            single = lmf.lmer("y ~ x + (x | g)", data)
        worst = max(worst, abs(single.loglik - info.loc[name, "loglik"]))
    return worst


def traced_peak(design: pd.DataFrame, Y: pd.DataFrame) -> tuple[float, float]:
    """Peak memory Python and numpy allocate during fit_many (n_jobs=1), beyond what was
    allocated before, and the size of the result's table (MB)."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result = lmf.fit_many(FORMULA, design, Y, progress=False)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak / 2**20, result.table.memory_usage(deep=True).sum() / 2**20


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--responses", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians are printed)")
    parser.add_argument("--check", type=int, default=20, help="single lmer fits to compare")
    parser.add_argument("--no-r", action="store_true", help="do not time R")
    args = parser.parse_args()
    have_r = shutil.which("Rscript") is not None and not args.no_r
    print(
        f"machine: {os.cpu_count()} cores, {cpu_name()}, python {platform.python_version()}, "
        f"lmeformula {lmf.__version__}, load average {os.getloadavg()[0]:.2f}"
    )
    design, Y = simulate(args.responses)
    print(
        f"data: {len(design)} rows, {GROUPS} groups, {Y.shape[1]} responses "
        f"({Y.to_numpy().nbytes / 2**20:.0f} MB), formula y {FORMULA}"
    )
    times: dict[str, list[float]] = {"n_jobs=1": [], "n_jobs=2": [], "lme4 loop": []}
    results: dict[str, lmf.ManyFits] = {}
    r_out: dict[str, Any] | None = None
    peaks: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeat):
            for n_jobs in (1, 2):
                t, results[f"n_jobs={n_jobs}"] = time_ours(design, Y, n_jobs)
                times[f"n_jobs={n_jobs}"].append(t)
            # The workers' peaks now, while they live (loky stops idle workers after 300 s).
            peaks = max(peaks, worker_peaks(), key=lambda p: max(p, default=0.0))
            line = ", ".join(f"fit_many {k} {times[k][-1]:.1f}s" for k in ("n_jobs=1", "n_jobs=2"))
            if have_r:
                out = r_loop(Path(tmp), design, Y)
                if out is not None:
                    r_out = out
                    times["lme4 loop"].append(float(out["t"]))
                    line += f", lme4 loop {out['t']:.1f}s"
            print(f"round {round_ + 1}: {line}")
    one = results["n_jobs=1"]
    same = one.table.equals(results["n_jobs=2"].table) and one.glance().equals(
        results["n_jobs=2"].glance()
    )
    info = one.glance()
    print(
        f"\n{'':26s} {'median':>9s} {'per response':>13s} {'vs lme4 loop':>13s}"
        f"    ({args.repeat} rounds)"
    )
    r_median = statistics.median(times["lme4 loop"]) if times["lme4 loop"] else None
    for key, values in times.items():
        if not values:
            continue
        med = statistics.median(values)
        ratio = f"{r_median / med:12.1f}x" if r_median else f"{'-':>13s}"
        label = "lme4 lmer() loop in R" if key == "lme4 loop" else f"fit_many {key}"
        print(f"{label:26s} {med:8.1f}s {1000 * med / Y.shape[1]:10.2f} ms {ratio}")
    print(
        f"\nconverged {int(info['converged'].sum())}, singular {int(info['singular'].sum())}, "
        f"failed {len(one.errors)} of {Y.shape[1]}; n_jobs=1 and n_jobs=2 give the same "
        f"bits: {same}"
    )
    worst_single = single_fit_check(design, Y, one, args.check)
    print(
        f"max |logLik(fit_many) - logLik(lmf.lmer)| over {args.check} responses: {worst_single:.2e}"
    )
    if r_out is not None:
        signed = info["loglik"].to_numpy() - np.asarray(r_out["ll"])
        diff = np.abs(signed)
        print(
            f"max |logLik(fit_many) - logLik(lme4)| over all {len(diff)} responses: "
            f"{diff.max():.2e} (median {np.median(diff):.1e}); ours higher for "
            f"{int((signed > 0).sum())}, lme4's higher by at most {max(0.0, -signed.min()):.1e}; "
            f"{r_out['version']}"
        )
    small = Y.iloc[:, : max(1, Y.shape[1] // 10)]
    for part in (small, Y):
        peak, size = traced_peak(design, part)
        print(
            f"memory allocated during fit_many of {part.shape[1]} responses (n_jobs=1, "
            f"tracemalloc): peak {peak:.1f} MB, of which the result's table {size:.1f} MB"
        )
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak resident memory: this process {self_peak:.0f} MB (with the simulation; the "
        f"responses alone "
        f"{Y.to_numpy().nbytes / 2**20:.0f} MB), each worker "
        f"{', '.join(f'{p:.0f}' for p in peaks)} MB; the result's table "
        f"{one.table.memory_usage(deep=True).sum() / 2**20:.1f} MB"
    )


if __name__ == "__main__":
    main()
