"""What fitting from a polars or Arrow frame costs over fitting from pandas: time and memory.

Usage: ``python benchmarks/bench_dataframes.py [--rounds 7] [--fits 2] [--rows 1000000]``.

The model is bench_lmer.py's 1,000,000-row one, ``y ~ x + (x | g)`` with 20,000 groups.
Each backend (pandas, polars, a polars LazyFrame, pyarrow) fits in a process of its own,
which makes the data (bench_lmer's pandas frame turned into that library's table, the
pandas one freed), then times ``--fits`` whole fits (table to results object). The
processes take turns for ``--rounds`` rounds, so that a busy machine slows each backend
alike; the time is the median of all of a backend's fits. Memory is the fits' peak
resident memory over what the process held before them (its data and libraries), read
as Linux's high-water mark (``VmHWM``, reset before the fits); and the peak that
tracemalloc sees during one more fit (Python's and numpy's allocations). Ratios are to
pandas; the target is at most 1.05 in time and 1.00 in memory. On a busy machine the
whole fits' times vary by more than that: ``convert ms`` (the median time of turning the
model's columns into pandas, what a fit from that table does more) and its share of the
pandas fit are the steadier measure of the cost.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

BACKENDS = ("pandas", "polars", "polars_lazy", "pyarrow")
FORMULA = "y ~ x + (x | g)"


def _table(backend: str, rows: int) -> Any:
    from bench_lmer import sim_random_slope

    data = sim_random_slope(n=rows)
    if backend == "pandas":
        return data
    if backend == "pyarrow":
        import pyarrow as pa

        return pa.Table.from_pandas(data, preserve_index=False)
    import polars as pl

    frame = pl.from_pandas(data)
    return frame.lazy() if backend == "polars_lazy" else frame


def _rss_mb(field: str) -> float:
    # /proc/self/status: VmRSS (now) and VmHWM (the peak since the last reset), in kB.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> bool:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0 and later).
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def worker(backend: str, rows: int, fits: int, traced: bool) -> dict[str, Any]:
    """One process's share: make the backend's table, time the fits, measure memory."""
    import lmeformula as lmf
    from lmeformula.model.datacheck import as_frame

    table = _table(backend, rows)
    gc.collect()
    converts = []
    for _ in range(5):
        start = time.perf_counter()
        as_frame(table, columns=["y", "x", "g"])
        converts.append(time.perf_counter() - start)
    times, loglik = [], float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lmf.lmer(FORMULA, table)  # imports and caches warmed, outside the timing
        gc.collect()
        before = _rss_mb("VmRSS")
        reset = _reset_peak()
        for _ in range(fits):
            start = time.perf_counter()
            fit = lmf.lmer(FORMULA, table)
            times.append(time.perf_counter() - start)
            loglik = fit.loglik
            del fit
            gc.collect()
        peak = _rss_mb("VmHWM") - before if reset else float("nan")
        traced_mb = float("nan")
        if traced:
            tracemalloc.start()
            lmf.lmer(FORMULA, table)
            traced_mb = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    return {
        "times": times,
        "convert": statistics.median(converts),
        "loglik": loglik,
        "peak": peak,
        "traced": traced_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7, help="turns each backend takes")
    parser.add_argument("--fits", type=int, default=2, help="timed fits per turn")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.rows, args.fits, args.traced)))
        return
    here = Path(__file__).resolve().parent
    results: dict[str, list[dict[str, Any]]] = {b: [] for b in BACKENDS}
    for turn in range(args.rounds):
        # Each round in another order: no backend always runs after the same one.
        for backend in BACKENDS[turn % 4 :] + BACKENDS[: turn % 4]:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", backend]
            cmd += ["--rows", str(args.rows), "--fits", str(args.fits)]
            # tracemalloc slows a fit: its extra fit comes in the first round only.
            cmd += ["--traced"] if turn == 0 else []
            out = subprocess.run(cmd, cwd=here, capture_output=True, text=True, check=True)
            results[backend].append(json.loads(out.stdout.strip().splitlines()[-1]))
    base_time = statistics.median(t for r in results["pandas"] for t in r["times"])
    base_peak = statistics.median(r["peak"] for r in results["pandas"])
    base_traced = results["pandas"][0]["traced"]
    print(f"{args.rows:,} rows, {FORMULA}; {args.rounds} rounds x {args.fits} fits per backend")
    head = ("median s", "time ratio", "convert ms", "of pandas", "peak MB", "peak ratio")
    head += ("traced MB", "traced ratio")
    print(f"{'backend':12s} " + " ".join(f"{h:>12s}" for h in head) + f" {'logLik':>16s}")
    for backend in BACKENDS:
        runs = results[backend]
        secs = statistics.median(t for r in runs for t in r["times"])
        convert = statistics.median(r["convert"] for r in runs)
        peak = statistics.median(r["peak"] for r in runs)
        traced = runs[0]["traced"]
        print(
            f"{backend:12s} {secs:12.3f} {secs / base_time:12.3f} {convert * 1e3:12.1f} "
            f"{convert / base_time:12.3%} {peak:12.0f} {peak / base_peak:12.3f} "
            f"{traced:12.0f} {traced / base_traced:12.3f} {runs[0]['loglik']:16.4f}"
        )
    print(
        "peak MB: the fits' peak resident memory over the process's before them (VmHWM); "
        "traced MB: tracemalloc's peak during one fit"
    )


if __name__ == "__main__":
    main()
