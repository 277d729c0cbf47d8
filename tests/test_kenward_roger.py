"""Kenward-Roger against pbkrtest (through lmerTest): df within 2%, standard errors within
0.2% (shared README), p-values within 2%, F within 0.2%.

reference.json's ``kenward_roger``: ``summary(m, ddf = "Kenward-Roger")$coefficients`` of
lmerTest 3.1.3 with pbkrtest 0.5.2; kenward_roger.json: made by
tests/reference/make_kenward_roger.R.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import lmeformula as lmf

REF = Path(__file__).parent / "reference"
CASES = [
    c for c in json.loads((REF / "reference.json").read_text())["cases"] if "kenward_roger" in c
]
EXTRA = json.loads((REF / "kenward_roger.json").read_text())


def _fit(case: dict) -> lmf.LmerResult:
    return lmf.lmer(case["call"]["formula"], lmf.datasets.load(case["dataset"]), reml=True)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_t_tests_as_pbkrtest(case: dict) -> None:
    fixed = _fit(case).tidy(effects="fixed", ddf="kenward-roger").set_index("term")
    ref = case["kenward_roger"]
    for name in ref["df"]:
        assert abs(fixed.loc[name, "df"] / ref["df"][name] - 1) <= 0.02, name
        assert abs(fixed.loc[name, "std_error"] / ref["se"][name] - 1) <= 2e-3, name
        assert abs(fixed.loc[name, "p_value"] / ref["p"][name] - 1) <= 0.02, name


ANOVA = [c for c in CASES if c["id"] in EXTRA]


@pytest.mark.parametrize("case", ANOVA, ids=[c["id"] for c in ANOVA])
def test_type3_f_tests_as_lmertest(case: dict) -> None:
    ref = {k: np.atleast_1d(v) for k, v in EXTRA[case["id"]].items()}
    table = _fit(case).anova(ddf="kenward-roger")
    assert list(table.index) == list(ref["term"])
    for col, tol in [("f_value", 2e-3), ("den_df", 0.02), ("sum_sq", 2e-3), ("p_value", 0.02)]:
        np.testing.assert_allclose(table[col].to_numpy(), ref[col], rtol=tol, err_msg=col)
    np.testing.assert_array_equal(table["num_df"].to_numpy(), ref["num_df"])


def test_large_model_without_n_by_n_matrices() -> None:
    # 4,059 rows: pbkrtest works on 4,059 x 4,059 matrices; we stay in q = 130 dimensions.
    ref = EXTRA["exam_sex_t"]
    fit = lmf.lmer("normexam ~ standLRT + sex + (standLRT | school)", lmf.datasets.load("exam"))
    fixed = fit.tidy(effects="fixed", ddf="kenward-roger").set_index("term")
    for i, name in enumerate(ref["term"]):
        assert abs(fixed.loc[name, "df"] / ref["df"][i] - 1) <= 0.02, name
        assert abs(fixed.loc[name, "std_error"] / ref["std_error"][i] - 1) <= 2e-3, name
        assert abs(fixed.loc[name, "p_value"] / ref["p_value"][i] - 1) <= 0.02, name


def test_refused_where_pbkrtest_does_not_apply() -> None:
    sleep = lmf.datasets.load("sleepstudy")
    ml = lmf.lmer("Reaction ~ Days + (Days | Subject)", sleep, reml=False)
    with pytest.raises(lmf.errors.ArgumentTypeError, match="REML"):
        ml.tidy(ddf="kenward-roger")
    ar1 = lmf.lmer("Reaction ~ Days + (1 | Subject)", sleep, residual=lmf.AR1("Days | Subject"))
    with pytest.raises(lmf.NotExpressibleError, match="satterthwaite"):
        ar1.contrast(np.eye(2), ddf="kenward-roger")
    with warnings.catch_warnings():
        # Ten days' compound symmetry on sleepstudy is nearly flat along one direction: the
        # Hessian check's verdict there turns on the last digits. What counts here is the
        # refusal below.
        warnings.simplefilter("ignore", lmf.ConvergenceWarning)
        cs = lmf.lmer("Reaction ~ Days + cs(0 + factor(Days) | Subject, hom = TRUE)", sleep)
    with pytest.raises(lmf.NotExpressibleError, match="linear in its parameters"):
        cs.anova(ddf="kenward-roger")


def test_summary_names_the_method() -> None:
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    assert "Kenward-Roger's method" in str(fit.summary(ddf="kenward-roger"))
