"""Timing R in the benchmarks' run: one place that writes an R script, runs it with
``Rscript`` and reads back the median time and log-likelihood it prints."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


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
