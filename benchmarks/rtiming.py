"""Timing R in the benchmarks' run: one place that writes an R script, runs it with
``Rscript`` and reads back what it prints (the median time and log-likelihood of a fit, or
any JSON record)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def time_in_r(
    setup: str, fit: str, repeat: int, workdir: Path, label: str
) -> tuple[float, float] | None:
    """Median seconds of ``repeat`` runs of the R expression ``fit`` and its logLik.

    Parameters
    ----------
    setup
        R code run once first (libraries, reading the data into ``d``).
    fit
        An R expression returning the fitted model.
    repeat
        How many times to time it.
    workdir
        Where to write the script.
    label
        Name printed when R fails.

    Returns
    -------
    (seconds, loglik), or None when R failed (its error is printed).
    """
    script = f"""{setup}
t <- numeric({repeat})
for (i in seq_len({repeat})) t[i] <- system.time(m <- {fit})[["elapsed"]]
out <- list(t = median(t), ll = as.numeric(logLik(m)))
cat(jsonlite::toJSON(out, digits = NA, auto_unbox = TRUE))
"""
    path = workdir / "bench.R"
    path.write_text(script)
    proc = subprocess.run(["Rscript", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"  {label} failed:", proc.stderr.strip()[-300:])
        return None
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(out["t"]), float(out["ll"])


def run_r_json(script: str, workdir: Path, label: str) -> dict[str, Any] | None:
    """Run an R script whose last printed line is a JSON object, and return that object.

    Parameters
    ----------
    script
        The R code; it ends with ``cat(jsonlite::toJSON(...))``.
    workdir
        Where to write the script.
    label
        Name printed when R fails.

    Returns
    -------
    The decoded JSON, or None when R failed (its error is printed).
    """
    path = workdir / f"{label}.R"
    path.write_text(script)
    proc = subprocess.run(["Rscript", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"  {label} failed:", proc.stderr.strip()[-300:])
        return None
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out
