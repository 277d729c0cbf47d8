"""Time lmeformula, lme4 and the Python peers on the same models and data, in one run.

Usage::

    python benchmarks/bench_peers.py [--quick] [--repeat N] [--only NAME ...]
        [--peers-python PATH | --peers-venv DIR] [--peers NAME ...] [--ml] [--timeout S]
        [--no-r] [--json out.json]

The peers (glmm, mixedlm, lme-python, interlace-lme; ``glmm-frame`` is glmm given the
pandas DataFrame instead of its dict of NumPy arrays) are never dependencies of lmeformula:
they run in their own virtual environment, one subprocess per peer, driven by
``benchmarks/peer_runner.py``. ``--peers-python`` names that environment's interpreter;
without it a venv at ``--peers-venv`` (default ``~/.cache/lmeformula-peers``) is created or
reused and the pinned versions installed into it with pip.

Each model's data is written to a CSV file once; lme4 (through ``rtiming.py``, when
``Rscript`` is on the PATH) and every peer read it outside their timing, so all sides fit
the same rows. Times are the median of ``--repeat`` fits (default 5; the large models: 1)
of the fit call only; lmeformula is timed as in ``bench_lmer.py`` / ``bench_glmer.py`` (the
whole ``lmf.lmer`` / ``lmf.glmer`` call) from the pandas DataFrame, and again (column
``lmf (arrays)``) from the dict of NumPy arrays glmm is given. Each cell is ``time (logLik)``:
the REML criterion for the linear models (lme4's default), the Laplace log-likelihood for
the GLMMs. Notes under the table say when a peer could not fit a model, needed its data
rewritten (precomputed columns), or reached a log-likelihood more than 1e-4 away from
lme4's.
``--quick`` leaves out InstEval and the 300k, 100k and 200k simulated models; ``--ml``
fits the linear models by maximum likelihood on every side (a check for a peer whose REML
criterion is on another scale). A peer fit that runs past ``--timeout`` seconds is stopped
and noted. A second table gives each Python side's peak memory per model: the fit's peak
resident memory over what the process held before it (libraries and data loaded).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import bench_glmer
import bench_lmer
import pandas as pd
from peer_runner import FitPeak
from rtiming import time_in_r

import lmeformula as lmf

HERE = Path(__file__).resolve().parent
PEERS = ["glmm", "glmm-frame", "mixedlm", "lme-python", "interlace-lme"]
#: ``glmm-frame`` is glmm given the pandas DataFrame lmeformula is given (``glmm``: the dict
#: of NumPy arrays it prefers), so that each of lmeformula's two inputs has glmm beside it.
VARIANTS = {"glmm-frame": "glmm"}
#: lmeformula's column for fits from a dict of NumPy arrays (glmm's input).
ARRAYS = "lmf (arrays)"
# What was measured; interlace-lme had no pin in the issue, 0.3.2 is the version tested.
PINS = ["glmm==0.6.2", "mixedlm==1.3.0", "lme-python==0.2.7", "interlace-lme==0.3.2"]
TOL = 1e-4


@dataclass
class Case:
    """One row: a model of bench_lmer / bench_glmer and how the peers are given it."""

    name: str
    source: Any  # a bench_lmer.Model or bench_glmer.Model
    family: str | None  # None: linear (lmer)
    large: bool
    peer_formula: str | None = None  # when the peers get the model written differently
    alt: str | None = None  # the same model on precomputed columns, for peers that need it
    offset: str | None = None  # column whose log is the offset, given as an argument
    # New columns for the peers, each computed from the data frame.
    extra: dict[str, Callable[[pd.DataFrame], pd.Series]] = field(default_factory=dict)


def _indicator(column: str, level: str, data: pd.DataFrame) -> pd.Series:
    return (data[column] == level).astype("int64")


def _pick(models: list[Any], start: str) -> Any:
    return next(m for m in models if m.name.startswith(start))


CASES = [
    Case("sleepstudy", _pick(bench_lmer.MODELS, "sleepstudy random slope"), None, False),
    Case("exam slope", _pick(bench_lmer.MODELS, "exam seed"), None, False),
    Case(
        "machines",
        _pick(bench_lmer.MODELS, "machines"),
        None,
        False,
        # (0 + Machine | Worker) on indicator columns: the same unstructured 3 x 3 model.
        alt="score ~ Machine + (0 + MA + MB + MC | Worker)",
        extra={f"M{m}": partial(_indicator, "Machine", m) for m in "ABC"},
    ),
    Case("penicillin", _pick(bench_lmer.MODELS, "penicillin"), None, False),
    Case(
        "InstEval",
        _pick(bench_lmer.MODELS, "InstEval"),
        None,
        True,
        alt="y ~ service + (1 | s) + (1 | d) + (1 | dept_service)",
        extra={"dept_service": lambda d: d["dept"] + ":" + d["service"].astype(str)},
    ),
    Case("crossed 300k", _pick(bench_lmer.MODELS, "simulated 300k"), None, True),
    Case("VerbAgg", _pick(bench_glmer.MODELS, "VerbAgg"), "binomial", False),
    Case(
        "Contraception",
        _pick(bench_glmer.MODELS, "Contraception"),
        "binomial",
        False,
        alt="use ~ age + age_sq + urban + livch + (urbanY | district)",
        extra={"age_sq": lambda d: d["age"] ** 2, "urbanY": partial(_indicator, "urban", "Y")},
    ),
    Case("binary 100k", _pick(bench_glmer.MODELS, "binary 100k"), "binomial", True),
    Case(
        "Poisson 200k",
        _pick(bench_glmer.MODELS, "Poisson 200k"),
        "poisson",
        True,
        peer_formula="y ~ x + (1 | site) + (1 | year)",
        offset="exposure",
    ),
]


def peer_frame(case: Case, data: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The data as the peers get it: a two-level string response as 0/1, extra columns."""
    data = data.copy()
    response = case.source.formula.split("~")[0].strip()
    if case.family == "binomial" and not pd.api.types.is_numeric_dtype(data[response]):
        # As R's factor: the first level in sorted order is failure.
        levels = sorted(data[response].unique())
        data[response] = (data[response] == levels[1]).astype("int64")
    for col, expr in case.extra.items():
        data[col] = expr(data)
    labels = [c for c in case.source.labels if c in data.columns and c != response]
    labels += [c for c in case.extra if not pd.api.types.is_numeric_dtype(data[c])]
    return data, labels


def peers_python(args: argparse.Namespace) -> str:
    """The peers' interpreter: the one given, or a venv created/reused with the pins."""
    if args.peers_python:
        return str(args.peers_python)
    venv = Path(args.peers_venv).expanduser()
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    check = "import glmm, mixedlm, lme_python, interlace"
    if subprocess.run([str(python), "-c", check], capture_output=True).returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PINS], check=True)
    return str(python)


def _pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_peer(python: str, peer: str, jobs: list[dict[str, Any]], timeout: float) -> dict[str, Any]:
    """Results by model name from one peer's driver; a model that crashes the process or
    runs past ``timeout`` is recorded as an error and the driver restarted on the rest."""
    results: dict[str, Any] = {}
    pending = list(jobs)
    while pending:
        proc = subprocess.Popen(
            [python, str(HERE / "peer_runner.py"), peer],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(pending))
        proc.stdin.close()
        lines: queue.Queue[str | None] = queue.Queue()
        # A thread feeds the lines to a queue so that waiting for one can time out.
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        current: str | None = None
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                proc.kill()  # only the driver this function started
                results[current or pending[0]["name"]] = {"error": f"timeout > {timeout:.0f}s"}
                break
            if line is None:
                if current is not None:
                    results[current] = {"error": f"process died (exit {proc.wait()})"}
                break
            msg = json.loads(line)
            if "start" in msg:
                current = msg["start"]
                deadline = time.monotonic() + timeout
            else:
                results[msg["name"]] = msg
                current = None
        proc.wait()
        pending = [j for j in pending if j["name"] not in results]
    return results


def time_lmer(
    case: Case, data: pd.DataFrame, repeat: int, reml: bool, work: Path, have_r: bool
) -> tuple[tuple[float, float], tuple[float, float] | None, FitPeak]:
    """lmeformula and lme4 on a linear model (and lmeformula's peak memory, as the peers'
    :class:`~peer_runner.FitPeak`); by ML on both when ``reml`` is False."""
    if reml:
        with FitPeak() as peak:
            ours = bench_lmer.time_ours(data, case.source.formula, repeat)
        r = bench_lmer.time_lme4(case.source, data, repeat, work) if have_r else None
        return ours, r, peak
    # As bench_lmer's timings, with reml=False / REML = FALSE.
    times = []
    with warnings.catch_warnings(), FitPeak() as peak:
        warnings.simplefilter("ignore")
        for _ in range(repeat):
            start = time.perf_counter()
            fit = lmf.lmer(case.source.formula, data, reml=False)
            times.append(time.perf_counter() - start)
    ours = statistics.median(times), fit.loglik
    if not have_r:
        return ours, None, peak
    csv = work / "data.csv"
    data.to_csv(csv, index=False)
    cls = ", ".join(f'{c} = "character"' for c in case.source.labels if c in data.columns)
    setup = f"""suppressMessages(library(lme4))
d <- read.csv("{csv}", colClasses = c({cls}))"""
    fit_r = f"lmer({case.source.formula}, d, REML = FALSE)"
    return ours, time_in_r(setup, fit_r, repeat, work, "lme4"), peak


def time_refits(data: pd.DataFrame, formula: str, rounds: int = 5) -> dict[str, float]:
    """lmeformula's refits of a linear model (the issue's "each costs no more than glmm's
    refit of the same model"; glmm has no refit, so its fit is the mark): per response,
    ``refit_response`` (lme4's ``refit(m, newresp)``) with the engine made once, and a
    replicate of ``fit.bootstrap`` (simulation, refit and the default statistics); the
    median over ``rounds`` rounds of 50 responses / 100 replicates (REML fits, as the
    table's)."""
    from lmeformula.engines.factory import make_engine
    from lmeformula.fitting.refit import refit_response

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmf.lmer(formula, data)
        engine = make_engine(fit.state.model)
        ys = fit.simulate(50, seed=1).to_numpy().T
        for y in ys[:5]:
            refit_response(fit, y, engine=engine)
        fit.bootstrap(10, seed=0, progress=False)
        per_refit, per_boot = [], []
        for k in range(rounds):
            start = time.perf_counter()
            for y in ys:
                refit_response(fit, y, engine=engine)
            per_refit.append((time.perf_counter() - start) / len(ys))
            start = time.perf_counter()
            fit.bootstrap(100, seed=k, progress=False)
            per_boot.append((time.perf_counter() - start) / 100)
    return {"refit": statistics.median(per_refit), "bootstrap": statistics.median(per_boot)}


def cell(res: dict[str, Any] | None) -> str:
    if res is None:
        return "-"
    if "error" in res:
        return "fails"
    t = res["time"]
    # Milliseconds below 0.1 s: the Rust peers fit the small models in well under 1 ms.
    shown = f"{t * 1000:.2f}ms" if t < 0.1 else f"{t:.3f}s"
    return f"{shown} ({res['loglik']:.4f})"


#: The peers given the dict of NumPy arrays (the others are given the pandas DataFrame).
ARRAY_PEERS = ("glmm",)


def same_input_summary(rows: dict[str, dict[str, Any]], peers: list[str]) -> None:
    """lmeformula's time over the fastest peer's on the same input, per model: from the
    DataFrame (lmeformula against the peers given it) and from the dict of NumPy arrays
    (``lmf (arrays)`` against glmm given them); at most 1 is at or below the fastest."""

    def fastest(row: dict[str, Any], sides: list[str]) -> tuple[str, float] | None:
        ok = [(s, row[s]["time"]) for s in sides if row.get(s) and "error" not in row[s]]
        return min(ok, key=lambda kv: kv[1]) if ok else None

    frame_peers = [p for p in peers if p not in ARRAY_PEERS]
    array_peers = [p for p in peers if p in ARRAY_PEERS]
    print(f"\n{'same input':15s} {'DataFrame: lmf / fastest':>34s} {'arrays: lmf / fastest':>34s}")
    for name, row in rows.items():
        cells = []
        for ours, sides in (("lmeformula", frame_peers), (ARRAYS, array_peers)):
            best, mine = fastest(row, sides), row.get(ours)
            if best is None or not mine or "error" in mine:
                cells.append("-")
                continue
            ratio = mine["time"] / best[1]
            cells.append(f"{ratio:.2f} ({best[0]})" + (" at or below" if ratio <= 1 else ""))
        print(f"{name:15s} " + " ".join(f"{c:>34s}" for c in cells))
    print(
        "same input: lmeformula's median over the fastest peer's on the input both were "
        "given; the DataFrame's peers are glmm-frame, mixedlm, lme-python and interlace-lme"
    )


def _peak(res: dict[str, Any] | None) -> str:
    if res is None or "error" in res or res.get("peak_mb") is None:
        return "-"
    return f"{res['peak_mb']:.0f} / {res.get('process_mb', float('nan')):.0f}"


def more_passes(
    rows: dict[str, dict[str, Any]],
    cases: list[Case],
    jobs: list[dict[str, Any]],
    args: argparse.Namespace,
    python: str,
) -> None:
    """One more pass over the small models: lmeformula from both inputs, then each peer;
    every cell keeps its passes' medians (``"passes"``) and shows their median."""

    def add(res: dict[str, Any] | None, t: float) -> None:
        if res is None or "error" in res:
            return
        res.setdefault("passes", [res["time"]]).append(t)
        res["time"] = statistics.median(res["passes"])

    for case in cases:
        data = case.source.data()
        row = rows[case.name]
        arrays = {c: data[c].to_numpy() for c in data.columns}
        for side, table in (("lmeformula", data), (ARRAYS, arrays)):
            if case.family is None:
                t, _ = bench_lmer.time_ours(table, case.source.formula, args.repeat)  # type: ignore[arg-type]
            else:
                t, _ = bench_glmer.time_ours(case.source, table, args.repeat)  # type: ignore[arg-type]
            add(row.get(side), t)
    names = {c.name for c in cases}
    small = [j for j in jobs if j["name"] in names]
    for peer in args.peers:
        for name, res in run_peer(python, peer, small, args.timeout).items():
            if "error" not in res:
                add(rows[name].get(peer), res["time"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="fits per model (large: 1)")
    parser.add_argument("--quick", action="store_true", help="leave out the large models")
    parser.add_argument("--only", nargs="*", help="substrings of model names to run")
    parser.add_argument("--peers-python", help="interpreter of an env with the peers")
    parser.add_argument("--peers-venv", default="~/.cache/lmeformula-peers")
    parser.add_argument("--peers", nargs="*", default=PEERS, help="which peers to time")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per peer fit")
    parser.add_argument(
        "--ml", action="store_true", help="fit the linear models by ML on every side"
    )
    parser.add_argument("--no-r", action="store_true", help="leave out lme4")
    parser.add_argument("--json", help="write all results to this file")
    parser.add_argument(
        "--passes",
        type=int,
        default=1,
        help="time lmeformula and the peers on the small models this many times in turn, "
        "each cell the median of the passes' medians (the machine's speed drifts by the "
        "minute; passes spread it over every side)",
    )
    args = parser.parse_args()
    have_r = shutil.which("Rscript") is not None and not args.no_r
    cases = [
        c
        for c in CASES
        if not (args.quick and c.large)
        and (not args.only or any(s.lower() in c.name.lower() for s in args.only))
    ]
    python = peers_python(args)
    dists = list(dict.fromkeys(VARIANTS.get(p, p) for p in args.peers))
    versions = subprocess.run(
        [
            python,
            "-c",
            "import importlib.metadata as m; print(', '.join("
            f"f'{{p}} {{m.version(p)}}' for p in {dists!r}))",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, "
        f"{os.cpu_count()} cpus, python {platform.python_version()}, lmeformula "
        f"{lmf.__version__}; {versions}"
    )
    rows: dict[str, dict[str, Any]] = {}
    jobs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for case in cases:
            data = case.source.data()
            repeat = 1 if case.large else args.repeat
            row: dict[str, Any] = {}
            if case.family is None:
                (t, ll), r, peak = time_lmer(case, data, repeat, not args.ml, work, have_r)
            else:
                with FitPeak() as peak:
                    t, ll = bench_glmer.time_ours(case.source, data, repeat)
                r = bench_glmer.time_lme4(case.source, data, repeat, work) if have_r else None
            row["lmeformula"] = {
                "time": t,
                "loglik": ll,
                "peak_mb": peak.mb,
                "process_mb": peak.total_mb,
            }
            row["lme4"] = {"time": r[0], "loglik": r[1]} if r else None
            # The same fit from the dict of NumPy arrays that glmm is given (peer_runner):
            # both sides then start from the same input.
            arrays = {c: data[c].to_numpy() for c in data.columns}
            if case.family is None:
                t_np, ll_np = bench_lmer.time_ours(arrays, case.source.formula, repeat)  # type: ignore[arg-type]
            else:
                t_np, ll_np = bench_glmer.time_ours(case.source, arrays, repeat)  # type: ignore[arg-type]
            row[ARRAYS] = {"time": t_np, "loglik": ll_np}
            if case.family is None and not case.large:
                row["refits"] = time_refits(data, case.source.formula)
            frame, labels = peer_frame(case, data)
            csv = work / f"{len(jobs)}.csv"
            frame.to_csv(csv, index=False)
            jobs.append(
                {
                    "name": case.name,
                    "csv": str(csv),
                    "labels": labels,
                    "formula": case.peer_formula or case.source.formula,
                    "family": case.family,
                    "reml": not args.ml,
                    "repeat": repeat,
                    "offset": case.offset,
                    "alt": case.alt,
                }
            )
            rows[case.name] = row
            print(f"  {case.name}: lmeformula and lme4 done", file=sys.stderr, flush=True)
        for peer in args.peers:
            got = run_peer(python, peer, jobs, args.timeout)
            for name, res in got.items():
                rows[name][peer] = res
            print(f"  {peer} done", file=sys.stderr, flush=True)
        for n in range(2, args.passes + 1):
            more_passes(rows, [c for c in cases if not c.large], jobs, args, python)
            print(f"  pass {n} done", file=sys.stderr, flush=True)
    sides = ["lme4", "lmeformula", ARRAYS, *args.peers]
    width = 24
    print(f"{'model':15s} " + " ".join(f"{s:>{width}s}" for s in sides))
    notes: list[str] = []
    for name, row in rows.items():
        print(f"{name:15s} " + " ".join(f"{cell(row.get(s)):>{width}s}" for s in sides))
        ref = row["lme4"] or row["lmeformula"]
        ref_name = "lme4" if row["lme4"] else "lmeformula"
        for s in sides[1:]:
            res = row.get(s)
            if res is None:
                continue
            if "error" in res:
                first, _, second = res["error"].partition(" | rewritten: ")
                same = second == first  # rewriting the data did not change the error
                notes.append(f"{name}, {s}: error: {first if same else res['error']}")
                continue
            diff = res["loglik"] - ref["loglik"]
            extra = []
            if abs(diff) > TOL:
                extra.append(f"logLik differs from {ref_name}'s by {diff:+.5g}")
            if res.get("note"):
                extra.append(res["note"])
            if res.get("evals"):
                extra.append(f"{res['evals']} evaluations")
            if extra and (abs(diff) > TOL or res.get("note")):
                notes.append(f"{name}, {s}: " + "; ".join(extra))
    same_input_summary(rows, args.peers)
    crit = "ML log-likelihood" if args.ml else "REML criterion"
    print("cells: median wall time of the fit call (large models: one fit) and logLik;")
    print(f"{ARRAYS}: lmeformula from the dict of NumPy arrays glmm is given, lmeformula")
    print("from the pandas DataFrame")
    print(f"({crit} for the lmer models, Laplace for the glmer models)")
    py_sides = [s for s in sides[1:] if s != ARRAYS]
    print(f"\n{'peak MB':15s} " + " ".join(f"{s:>12s}" for s in py_sides))
    for name, row in rows.items():
        print(f"{name:15s} " + " ".join(f"{_peak(row.get(s)):>12s}" for s in py_sides))
    print(
        "peak MB: the fit's peak resident memory over the process's before it (libraries "
        "and data loaded) / the process's peak during the fit (Linux's VmHWM, reset before "
        "it); lme4 runs in R, not measured"
    )
    refits = {name: row for name, row in rows.items() if "refits" in row}
    if refits:
        fastest = [s for s in args.peers if s != "interlace-lme"]
        print(
            f"\n{'refits':15s} {'refit_response':>15s} {'bootstrap rep':>15s} "
            + " ".join(f"{s + ' fit':>15s}" for s in fastest)
        )
        for name, row in refits.items():
            peer_fits = []
            for s in fastest:
                res = row.get(s)
                ok = res is not None and "error" not in res
                peer_fits.append(f"{res['time'] * 1000:.3f}ms" if ok else "-")
            print(
                f"{name:15s} {row['refits']['refit'] * 1000:>13.3f}ms "
                f"{row['refits']['bootstrap'] * 1000:>13.3f}ms "
                + " ".join(f"{c:>15s}" for c in peer_fits)
            )
        print(
            "refits: lmeformula's time per response of refit_response (engine made once) and "
            "per bootstrap replicate (simulation, refit, statistics), beside each peer's fit "
            "of the same model (none of them refits)"
        )
    for n in notes:
        print("  note:", n)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
