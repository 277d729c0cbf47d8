"""``print(fit.summary())`` of a glmer fit is R's printout, byte for byte, at R's estimates.

The expected texts are ``capture.output(print(summary(m)))`` of lme4 1.1.31 in R 4.2.2,
written by tests/reference/make_glmer_summaries.R (the Poisson fit's "Control:" line left out:
it echoes the call's ``control`` argument, which glmer here does not take). The printouts
are made at R's estimates of the same fits (glmer_summaries.json), so that the digits
compared are the printer's and the arithmetic's. Both cases are ones whose standard errors
hardly depend on where lme4 takes log|L|² (nAGQ = 0 uses R_X; grouseticks' differ by 1e-4
of themselves; see test_glmer_reference).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lmeformula as lmf
from lmeformula.fitting.stages import build_model, make_engine, result_at

HERE = Path(__file__).parent
SUMMARIES = HERE / "reference" / "summaries"
CASES = {
    c["id"]: c
    for c in json.loads((HERE / "reference" / "glmm_reference.json").read_text())["cases"]
}
#: Printed byte for byte; the others up to the fixed effects' estimates.
EXACT = {"verbagg_nagq0"}
#: R's estimates of the very fits printed (lme4's last digits vary with the machine).
ESTIMATES = json.loads((HERE / "reference" / "glmer_summaries.json").read_text())


@pytest.mark.parametrize(
    ("name", "dataset"), [("verbagg_nagq0", "verbagg"), ("grouseticks_pois", "grouseticks")]
)
def test_summary_matches_r(name: str, dataset: str) -> None:
    case = CASES[name]
    call = case["call"]
    family = lmf.families.as_family(call["family"], call["link"])
    model = build_model(
        call["formula"], lmf.datasets.load(dataset), family=family, nagq=call["nagq"]
    )
    engine = make_engine(model)
    r = ESTIMATES[name]
    parts = {"theta": np.atleast_1d(r["theta"])}  # R: getME(m, "theta")
    if "beta" in engine.layout.names:
        parts["beta"] = np.atleast_1d(r["fixef"])  # R: fixef(m)
    fit = result_at(model, engine.layout.join(**parts), data_name=dataset)
    expected = (SUMMARIES / f"{name}.txt").read_text()
    printed = str(fit.summary()).rstrip("\n").splitlines()
    # At R's estimates our gradient check speaks of our optimum, which is not R's point
    # (lme4's objective takes log|L|² elsewhere); R's printout, at its own optimum, has no
    # such lines.
    if printed[-2].startswith("optimizer (none (parameters given))"):
        printed = printed[:-2]
    wanted = expected.rstrip("\n").splitlines()
    if name in EXACT:
        assert printed == wanted
        return
    # Up to the fixed effects byte for byte; there the estimates (the standard errors'
    # sixth digit is where lme4 takes log|L|²).
    cut = wanted.index("Fixed effects:")
    assert printed[:cut] == wanted[:cut]
    rows = slice(cut + 2, wanted.index("---"))
    assert [line.split()[:2] for line in printed[rows]] == [
        line.split()[:2] for line in wanted[rows]
    ]
