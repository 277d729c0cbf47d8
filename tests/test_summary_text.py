"""``print(fit.summary())`` is R's printout, byte for byte (lme4's, and lmerTest's with
``summary(ddf="satterthwaite")``).

The expected texts are ``capture.output(print(summary(m)))`` of lme4 1.1.31 in R 4.2.2,
written by tests/reference/make_extra.R.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import lmeformula as lmf

SUMMARIES = Path(__file__).parent / "reference" / "summaries"

CASES = [
    # summary(lmer(strength ~ 1 + (1 | batch/cask), Pastes))
    ("pastes", "pastes", "strength ~ 1 + (1 | batch/cask)"),
    # summary(lmer(normexam ~ standLRT + sex + schgend + (1 | school), exam))
    ("exam_factors", "exam", "normexam ~ standLRT + sex + schgend + (1 | school)"),
]


@pytest.mark.parametrize(("name", "dataset", "formula"), CASES, ids=[c[0] for c in CASES])
def test_summary_matches_r(name: str, dataset: str, formula: str) -> None:
    expected = (SUMMARIES / f"{name}.txt").read_text()
    data = lmf.datasets.load(dataset)
    fit = lmf.lmer(formula, data, data_name=dataset)
    assert str(fit.summary()).rstrip("\n") == expected.rstrip("\n")


LMERTEST = [
    # summary(lmerTest::lmer(Reaction ~ Days + (Days | Subject), sleepstudy))
    ("sleep_lmertest", True),
    # summary(lmerTest::lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE))
    ("sleep_lmertest_ml", False),
]


@pytest.mark.parametrize(("name", "reml"), LMERTEST, ids=[c[0] for c in LMERTEST])
def test_lmertest_summary_matches_r(name: str, reml: bool) -> None:
    # Written by tests/reference/make_lmertest_summaries.R.
    expected = (SUMMARIES / f"{name}.txt").read_text()
    data = lmf.datasets.load("sleepstudy")
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", data, reml=reml, data_name="sleepstudy")
    assert str(fit.summary(ddf="satterthwaite")).rstrip("\n") == expected.rstrip("\n")
