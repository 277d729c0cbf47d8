"""A crossed factor with 10,000 levels: what it costs to fit (time, evaluations, memory).

Usage: ``python benchmarks/bench_large_crossed.py [--subjects 20000 --items 10000 --rows 100000]``.

20,000 subjects crossed at random with 10,000 items: the items' block of the factorisation
is a dense 10,000 x 10,000 matrix (800 MB) whatever the method, factored once per
evaluation (about q³/3 flops, both cores' BLAS). lme4 is not timed here: its sparse
Cholesky of this design fills in to the same dense block.
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

from bench_lmer import sim_crossed

import lmeformula as lmf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    data = sim_crossed(n=args.rows, subjects=args.subjects, items=args.items, seed=3)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmf.lmer("y ~ x + (1 | subj) + (1 | item)", data)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    info = fit.optinfo
    print(f"{args.rows} rows, {args.subjects} subjects x {args.items} items")
    print(
        f"fit {seconds:.1f} s, {info.evaluations} evaluations ({seconds / info.evaluations:.2f} s "
        f"each, set-up and convergence check included), converged {info.converged}, "
        f"logLik {fit.loglik:.4f}, peak {peak:.0f} MB"
    )
    print(fit.varcorr()[["grp", "vcov"]].to_string(index=False))


if __name__ == "__main__":
    main()
