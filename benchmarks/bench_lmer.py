"""Time lmeformula's lmer against lme4 on the reference models, in one run.

Usage: ``python benchmarks/bench_lmer.py [--repeat N]``. Prints the median wall time of a
whole fit (formula to results object) for each model, and, when ``Rscript`` with lme4 is on
the PATH, lme4's median for the same model on the same data and the ratio ours / lme4's.
Peak memory (resident set) of this process is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import lmeformula as lmf

ROOT = Path(__file__).resolve().parent.parent

# (name, dataset, formula, REML), lme4 and lmeformula spell them the same.
MODELS = [
    ("exam seed (random slope)", "exam", "normexam ~ standLRT + (1 + standLRT | school)", True),
    ("exam random intercept", "exam", "normexam ~ standLRT + (1 | school)", True),
    ("sleepstudy random slope", "sleepstudy", "Reaction ~ Days + (Days | Subject)", True),
    ("orthodont random slope", "orthodont", "distance ~ age * Sex + (age | Subject)", True),
    ("penicillin crossed", "penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", True),
    ("pastes nested", "pastes", "strength ~ 1 + (1 | batch/cask)", True),
    ("machines unstructured", "machines", "score ~ Machine + (0 + Machine | Worker)", True),
]

# Columns R must read as labels (quoted in the CSVs).
R_LABELS = {
    "exam": ["school", "student"],
    "sleepstudy": ["Subject"],
    "orthodont": ["Subject"],
    "penicillin": ["plate", "sample"],
    "pastes": ["batch", "cask", "sample"],
    "machines": ["Worker"],
}


def time_ours(dataset: str, formula: str, reml: bool, repeat: int) -> float:
    data = lmf.datasets.load(dataset)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeat):
            start = time.perf_counter()
            lmf.lmer(formula, data, reml=reml)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_lme4(repeat: int) -> dict[str, float] | None:
    if shutil.which("Rscript") is None:
        return None
    lines = ["suppressMessages(library(lme4))", "out <- list()"]
    for name, dataset, formula, reml in MODELS:
        cls = ", ".join(f'{c} = "character"' for c in R_LABELS[dataset])
        lines += [
            f'd <- read.csv("{ROOT / "data" / (dataset + ".csv")}", colClasses = c({cls}))',
            f"t <- replicate({repeat}, system.time(lmer({formula}, d, REML = {str(reml).upper()}))"
            '[["elapsed"]])',
            f'out[["{name}"]] <- median(t)',
        ]
    lines.append("cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))")
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write("\n".join(lines))
    proc = subprocess.run(["Rscript", fh.name], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print("lme4 timing failed:", proc.stderr.strip()[:500])
        return None
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    r_times = time_lme4(args.repeat)
    print(f"{'model':32s} {'lmeformula':>11s} {'lme4':>9s} {'ratio':>7s}")
    for name, dataset, formula, reml in MODELS:
        ours = time_ours(dataset, formula, reml, args.repeat)
        if r_times is not None:
            theirs = r_times[name]
            ratio = ours / theirs if theirs > 0 else float("inf")
            print(f"{name:32s} {ours:10.3f}s {theirs:8.3f}s {ratio:6.1f}x")
        else:
            print(f"{name:32s} {ours:10.3f}s {'(no R)':>9s}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak_mb:.0f} MB")
    print("ratio = lmeformula time / lme4 time (median of", args.repeat, "fits each)")


if __name__ == "__main__":
    main()
