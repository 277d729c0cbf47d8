"""Driver that times one Python peer package; run by ``bench_peers.py`` in the peers' venv.

Usage: ``PEERS_PYTHON benchmarks/peer_runner.py PEER < models.json``, where PEER is one of
``glmm``, ``glmm-frame`` (glmm given the pandas DataFrame), ``mixedlm``, ``lme-python``,
``interlace-lme`` and the JSON is a list of models
(``name``, ``csv``, ``labels``, ``formula``, ``family`` or null for a linear model,
``reml``, ``repeat``, ``offset`` column or null, ``alt`` formula or null). For each model
it prints ``{"start": name}`` and then one JSON line with the median fit time, the
log-likelihood, the number of evaluations when the package reports it and the first fit's
peak memory (:class:`FitPeak`), or ``error``.

This file runs in the peers' own interpreter, so it imports nothing from lmeformula and
only the standard library, NumPy, pandas and polars (dependencies of the peers).
"""

from __future__ import annotations

import contextlib
import json
import re
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from busy import spin

Fit = Callable[[], Any]


def split_bars(formula: str) -> tuple[str, list[str]]:
    """``y ~ x + (1 | g)`` -> (``y ~ x``, [``(1 | g)``]), for interlace's separate arguments."""
    bars = re.findall(r"\([^()]*\|[^()]*\)", formula)
    fixed = formula
    for b in bars:
        fixed = fixed.replace(b, "")
    fixed = re.sub(r"\+\s*(\+\s*)*$", "", fixed.strip()).strip()
    fixed = re.sub(r"\s*\+\s*\+", " +", fixed)
    if fixed.endswith("~"):
        fixed += " 1"
    # interlace's fixed part is patsy, whose power operator is ``**``.
    return fixed.replace("^", "**"), [b.replace(" ", "") for b in bars]


def make_fit(peer: str, model: dict[str, Any], formula: str, data: Any) -> Fit:
    """The untimed setup (data in the peer's preferred form) and a closure that fits once."""
    family, reml = model["family"], bool(model["reml"])
    off = np.log(np.asarray(data[model["offset"]])) if model["offset"] else None
    if peer in ("glmm", "glmm-frame"):
        import glmm

        kw: dict[str, Any] = {"offset": off} if off is not None else {}
        # glmm takes a dict of columns; giving it NumPy arrays spares it the conversion
        # ("glmm-frame": the DataFrame itself, as lmeformula's first column is given it).
        cols = data if peer == "glmm-frame" else {c: data[c].to_numpy() for c in data.columns}
        if family is None:
            return lambda: glmm.fit(cols, formula, reml=reml)
        return lambda: glmm.fit(cols, formula, family, **kw)
    if peer == "mixedlm":
        import mixedlm
        from mixedlm import families

        if family is None:
            return lambda: mixedlm.lmer(formula, data, REML=reml)
        fam = {"binomial": families.Binomial, "poisson": families.Poisson}[family]()
        return lambda: mixedlm.glmer(formula, data, family=fam, offset=off)
    if peer == "lme-python":
        import lme_python

        if off is not None:
            raise NotImplementedError("no offset argument in lme_python.glmer")
        if family is None:
            return lambda: lme_python.lmer(formula, data, reml=reml)
        return lambda: lme_python.glmer(formula, data, family)
    if peer == "interlace-lme":
        import interlace

        fixed, random = split_bars(formula)
        if family is None:
            method = "REML" if reml else "ML"
            return lambda: interlace.fit(fixed, data, random=random, method=method)
        return lambda: interlace.glmer(fixed, data, family, random=random, offset=off)
    raise ValueError(f"unknown peer {peer}")


def loglik_and_evals(peer: str, fit: Any) -> tuple[float, int | None]:
    """The fit's log-likelihood (REML criterion for a REML fit, as lme4's logLik) and evals."""
    if peer in ("glmm", "glmm-frame"):
        return float(fit.loglik), int(fit.n_eval)
    if peer == "mixedlm":
        # The glmer result has no evaluation count; lmer's reports function_evals.
        return float(fit.logLik()), getattr(fit, "function_evals", None) or None
    if peer == "lme-python":
        return float(fit.log_likelihood), fit.iterations
    return float(fit.llf), None


def _status_mb(key: str) -> float:
    # /proc/self/status: VmRSS (resident now) and VmHWM (its peak since the last reset), kB.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class FitPeak:
    """The peak resident memory of the fits inside a ``with`` block over what the process
    held before it (its libraries and the data), ``mb``, and the process's own peak during
    the block, ``total_mb``: Linux's high-water mark, reset on entry
    (``/proc/self/clear_refs``). NaN where that is not available."""

    def __enter__(self) -> FitPeak:
        self.mb = self.total_mb = float("nan")
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")
            self._base = _status_mb("VmRSS")
        except OSError:
            self._base = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.total_mb = _status_mb("VmHWM")
            self.mb = self.total_mb - self._base


def short(err: BaseException) -> str:
    """The exception's type and the first line of its message, shortened."""
    first_line = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first_line[:90]}"


def run_model(peer: str, model: dict[str, Any]) -> dict[str, Any]:
    dtypes = dict.fromkeys(model["labels"], str)
    data: Any = pd.read_csv(model["csv"], dtype=dtypes)
    if peer == "lme-python":
        import polars as pl

        # polars is its native frame; read it directly (pandas -> polars needs pyarrow).
        data = pl.read_csv(model["csv"], schema_overrides=dict.fromkeys(model["labels"], pl.Utf8))
    formula = model["formula"]
    peak = FitPeak()
    try:
        fit_once = make_fit(peer, model, formula, data)
        spin()
        with peak:
            first_t = time.perf_counter()
            fit = fit_once()
            first = time.perf_counter() - first_t
    except Exception as err:
        if not model["alt"]:
            raise
        # Some peers cannot parse a term (I(age^2), dept:service as a grouping); refit with
        # the same model written on precomputed columns, and say so.
        formula = model["alt"]
        try:
            fit_once = make_fit(peer, model, formula, data)
            with peak:
                first_t = time.perf_counter()
                fit = fit_once()
                first = time.perf_counter() - first_t
        except Exception as err2:
            # Report both: the model as written is what a user would try first.
            raise RuntimeError(f"{short(err)} | rewritten: {short(err2)}") from err2
        note = f"fitted on precomputed columns; as written: {short(err)}"
    else:
        note = None
    # The first fit counts as one of the repeats: it also warms imports and caches, as the
    # lmeformula and lme4 sides' first fits do.
    times = [first]
    for _ in range(int(model["repeat"]) - 1):
        start = time.perf_counter()
        fit = fit_once()
        times.append(time.perf_counter() - start)
    ll, evals = loglik_and_evals(peer, fit)
    return {
        "time": statistics.median(times),
        "loglik": ll,
        "evals": evals,
        "note": note,
        "peak_mb": peak.mb,
        "process_mb": peak.total_mb,
    }


def main() -> None:
    peer = sys.argv[1]
    models = json.load(sys.stdin)
    warnings.simplefilter("ignore")
    for model in models:
        print(json.dumps({"start": model["name"]}), flush=True)
        try:
            out = run_model(peer, model)
        except Exception as err:
            out = {"error": str(err) if isinstance(err, RuntimeError) else short(err)}
            traceback.print_exc(file=sys.stderr)
        out["name"] = model["name"]
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
