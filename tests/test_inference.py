"""Satterthwaite t-tests of fixed effects against lmerTest (reference.json's
``satterthwaite``: ``summary(as_lmerModLmerTest(m))$coefficients[, c("df", "Pr(>|t|)")]``).
Tolerances: df within 1%, p-values within 2% (shared README)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from r_estimates import at_r_estimates

import lmeformula as lmf

CASES = [
    c
    for c in json.loads((Path(__file__).parent / "reference" / "reference.json").read_text())[
        "cases"
    ]
    if "satterthwaite" in c
]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_satterthwaite_df_and_p(case: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.SingularFitWarning)
        fit = lmf.lmer(
            case["call"]["formula"],
            lmf.datasets.load(case["dataset"]),
            reml=case["call"]["reml"],
        )
    fixed = fit.tidy(effects="fixed").set_index("term")
    for name, df in case["satterthwaite"]["df"].items():
        assert abs(fixed.loc[name, "df"] / df - 1) <= 0.01, name
        p = case["satterthwaite"]["p"][name]
        # p-values below 1e-300 print as 0 in R: compare those on the absolute scale.
        assert abs(fixed.loc[name, "p_value"] - p) <= 0.02 * p + 1e-300, name


def test_contrast_as_lmertest_contest() -> None:
    # R: contest(lmer(Reaction ~ Days + (Days | Subject), sleepstudy), matrix(c(1, 5), 1),
    #            joint = FALSE) -> Estimate 303.7415, Std. Error 9.581277, df 16.9998,
    #            t value 31.70157, Pr(>|t|) 1.452942e-16
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    row = fit.contrast({"day 5": {"(Intercept)": 1, "Days": 5}}).loc["day 5"]
    assert abs(row["estimate"] - 303.7415) <= 1e-3
    assert abs(row["std_error"] / 9.581277 - 1) <= 2e-3
    assert abs(row["df"] / 16.9998 - 1) <= 0.01
    assert abs(row["p_value"] / 1.452942e-16 - 1) <= 0.02
    same = fit.contrast(np.array([[1.0, 5.0]]))
    assert np.allclose(same.to_numpy(), fit.contrast({"x": {"(Intercept)": 1, "Days": 5}}))


def test_wald_and_no_df() -> None:
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    assert np.isinf(fit.tidy(effects="fixed", ddf="wald")["df"]).all()
    assert fit.tidy(effects="fixed", ddf=None)["p_value"].isna().all()
    with pytest.raises(lmf.errors.ArgumentTypeError, match="ddf"):
        fit.contrast(np.eye(2), ddf="kr")
    with pytest.raises(lmf.DataError, match="'day'"):
        fit.contrast({"c": {"day": 1}})


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_icc_and_r2(case: dict) -> None:
    # R: performance::icc(m) (ICC_adjusted, ICC_unadjusted), performance::r2_nakagawa(m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.SingularFitWarning)
        fit = lmf.lmer(
            case["call"]["formula"],
            lmf.datasets.load(case["dataset"]),
            reml=case["call"]["reml"],
        )
    for name, value in {**fit.icc(), **fit.r2()}.items():
        ref = {**case["icc"], **case["r2_nakagawa"]}[name]
        assert abs(value - ref) <= 1e-3, name


# Where performance's rule leaves variance out (a slope that is no fixed effect, a second
# term on one factor), Johnson's formula counts it. Compared at R's θ (r_estimates.py): the
# second model's likelihood is flat, and at our optimum (REML criterion 5e-9 below lme4's)
# the ICC moves by 1.5e-6.
# R: performance 0.10.2, lmer(normexam ~ standLRT + (0 + standLRT | school) + (1 | school), Exam):
#    icc(m)$ICC_adjusted = 0.02559126150 (the first term on school, the slope, only),
#    getME(m, "theta") = 0.163185200723041, 0.407535321448112;
#    lmer(normexam ~ 1 + (standLRT | school), Exam): icc(m)$ICC_adjusted = 0.2802296556,
#    r2_nakagawa(m)$R2_conditional = 0.2802296556 (the slope's variance left out),
#    getME(m, "theta") = 0.623964773616245, 0.612593545772675, 0.446917298998847.
RULE_CASES = [
    (
        "normexam ~ standLRT + (0 + standLRT | school) + (1 | school)",
        "adjusted",
        0.02559126150,
        [0.163185200723041, 0.407535321448112],
    ),
    (
        "normexam ~ 1 + (standLRT | school)",
        "adjusted",
        0.2802296556,
        [0.623964773616245, 0.612593545772675, 0.446917298998847],
    ),
]


@pytest.mark.parametrize(("formula", "key", "expected", "theta"), RULE_CASES)
def test_icc_rules(formula: str, key: str, expected: float, theta: list[float]) -> None:
    fit = at_r_estimates(lmf.lmer(formula, lmf.datasets.load("exam")), theta)
    assert abs(fit.icc()[key] - expected) <= 1e-6
    assert fit.icc(random_variance="johnson")[key] > expected + 0.01
    with pytest.raises(lmf.errors.ArgumentTypeError, match="random_variance"):
        fit.r2(random_variance="nakagawa")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_type3_anova(case: dict) -> None:
    # R: anova(m, type = 3) of lmerTest (reference.json's anova_type3): F within 0.2%,
    # denominator df within 1%.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.SingularFitWarning)
        fit = lmf.lmer(
            case["call"]["formula"],
            lmf.datasets.load(case["dataset"]),
            reml=case["call"]["reml"],
        )
    ref = case["anova_type3"]
    terms = ref["term"] if isinstance(ref["term"], list) else [ref["term"]]
    table = fit.anova()
    assert list(table.index) == terms
    column = {k: np.atleast_1d(ref[k]) for k in ("F", "den_df", "num_df")}
    for i, term in enumerate(terms):
        assert abs(table.loc[term, "f_value"] / column["F"][i] - 1) <= 2e-3, term
        assert abs(table.loc[term, "den_df"] / column["den_df"][i] - 1) <= 1e-2, term
        assert table.loc[term, "num_df"] == column["num_df"][i]
