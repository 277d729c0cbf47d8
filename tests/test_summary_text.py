"""``print(fit.summary())`` is R's printout, byte for byte (lme4's, and lmerTest's with
``summary(ddf="satterthwaite")``).

The expected texts are ``capture.output(print(summary(m)))`` of lme4 1.1.31 in R 4.2.2,
written by tests/reference/make_extra.R. The printout is made at R's estimates (the θ of
the shared reference case, from ``as.data.frame(VarCorr(m))``), so that the digits compared
are the printer's and the arithmetic's, not where lme4's optimizer stopped on a flat
likelihood (sleepstudy's: ours goes on to a deviance 1.4e-9 lower, which moves the
intercept's variance from R's 612.10 to 612.09; test_reference.py compares the optima).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from r_estimates import at_r_estimates, theta_from_varcorr
from test_reference import CASES as REFERENCE

import lmeformula as lmf

SUMMARIES = Path(__file__).parent / "reference" / "summaries"

CASES = [
    # summary(lmer(strength ~ 1 + (1 | batch/cask), Pastes)); R's θ: reference case
    # pastes_nested
    ("pastes", "pastes", "strength ~ 1 + (1 | batch/cask)", "pastes_nested"),
    # summary(lmer(normexam ~ standLRT + sex + schgend + (1 | school), exam)); exam_factors
    ("exam_factors", "exam", "normexam ~ standLRT + sex + schgend + (1 | school)", "exam_factors"),
]


def _at_r(fit: lmf.LmerResult, case_id: str) -> lmf.LmerResult:
    return at_r_estimates(fit, theta_from_varcorr(fit, REFERENCE[case_id]["varcorr"]))


@pytest.mark.parametrize(("name", "dataset", "formula", "case"), CASES, ids=[c[0] for c in CASES])
def test_summary_matches_r(name: str, dataset: str, formula: str, case: str) -> None:
    expected = (SUMMARIES / f"{name}.txt").read_text()
    data = lmf.datasets.load(dataset)
    fit = _at_r(lmf.lmer(formula, data, data_name=dataset), case)
    assert str(fit.summary()).rstrip("\n") == expected.rstrip("\n")


LMERTEST = [
    # summary(lmerTest::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)); sleep_rs
    ("sleep_lmertest", True, "sleep_rs"),
    # summary(lmerTest::lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE));
    # sleep_rs_ml
    ("sleep_lmertest_ml", False, "sleep_rs_ml"),
]


@pytest.mark.parametrize(("name", "reml", "case"), LMERTEST, ids=[c[0] for c in LMERTEST])
def test_lmertest_summary_matches_r(name: str, reml: bool, case: str) -> None:
    # Written by tests/reference/make_lmertest_summaries.R.
    expected = (SUMMARIES / f"{name}.txt").read_text()
    data = lmf.datasets.load("sleepstudy")
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", data, reml=reml, data_name="sleepstudy")
    fit = _at_r(fit, case)
    assert str(fit.summary(ddf="satterthwaite")).rstrip("\n") == expected.rstrip("\n")
