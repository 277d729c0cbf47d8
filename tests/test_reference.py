"""lmeformula against R: every lme4 case of tests/reference/reference.json.

Each number below comes from the R call stored with its case (``r_call``; R 4.2.2, lme4
1.1.31, lmerTest 3.1.3), e.g. ``logLik(lmer(normexam ~ standLRT + (1 | school), exam))``;
the accessor that produced each field is named beside its comparison. Tolerances are those
of the reference README:
log-likelihood within 1e-3 (+1e-7 of its size); fixed effects within 0.2% of their SE;
SEs and sigma within 0.2%; variance components within 0.5%.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf

REFERENCE = json.loads((Path(__file__).parent / "reference" / "reference.json").read_text())
CASES = {c["id"]: c for c in REFERENCE["cases"]}
LME4 = [c["id"] for c in REFERENCE["cases"] if c["reference"] == "lme4"]

LOGLIK_ABS = 1e-3
LOGLIK_REL = 1e-7
FIXEF_OF_SE = 0.002
SE_REL = 0.002
VC_REL = 0.005
CORR_ABS = 0.005

_FITS: dict[str, lmf.LmerResult] = {}


def fit_case(case_id: str) -> lmf.LmerResult:
    """Fit a reference case once per test session."""
    if case_id not in _FITS:
        case = CASES[case_id]
        call = case["call"]
        data = lmf.datasets.load(case["dataset"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lmf.SingularFitWarning)
            _FITS[case_id] = lmf.lmer(call["formula"], data, reml=call["reml"])
    return _FITS[case_id]


def norm(name: str) -> str:
    """The README's normalisation of coefficient names."""
    name = name.replace("[T.", "").replace("]", "").replace("(Intercept)", "Intercept")
    return re.sub(r"\s+", "", name).lower()


def by_norm(series: pd.Series) -> dict[str, float]:
    return {norm(k): float(v) for k, v in series.items()}


def loglik_tol(value: float) -> float:
    return LOGLIK_ABS + LOGLIK_REL * abs(value)


@pytest.mark.parametrize("case_id", LME4)
def test_likelihood_and_counts(case_id: str) -> None:
    case, fit = CASES[case_id], fit_case(case_id)
    # logLik(m), AIC(m), BIC(m), REMLcrit(m) / deviance(m), nobs(m), ngrps(m)
    assert fit.loglik == pytest.approx(case["loglik"], abs=loglik_tol(case["loglik"]))
    assert fit.aic == pytest.approx(case["aic"], abs=2 * loglik_tol(case["loglik"]))
    assert fit.bic == pytest.approx(case["bic"], abs=2 * loglik_tol(case["loglik"]))
    assert fit.npar == case["npar"]
    assert fit.nobs == case["nobs"]
    assert fit.ngroups == case["ngroups"]
    if case["reml_criterion"] is not None:
        assert fit.reml_criterion == pytest.approx(
            case["reml_criterion"], abs=2 * loglik_tol(case["loglik"])
        )
    if case["deviance_ml"] is not None:
        assert fit.deviance == pytest.approx(
            case["deviance_ml"], abs=2 * loglik_tol(case["loglik"])
        )
    # isSingular(m)
    assert fit.singular == case["singular"]


@pytest.mark.parametrize("case_id", LME4)
def test_fixed_effects(case_id: str) -> None:
    case, fit = CASES[case_id], fit_case(case_id)
    ours, ours_se = by_norm(fit.fixef), by_norm(fit.fixef_se)
    # fixef(m), sqrt(diag(vcov(m)))
    assert set(ours) == {norm(k) for k in case["fixef"]}
    for name, value in case["fixef"].items():
        se = case["fixef_se"][name]
        assert abs(ours[norm(name)] - value) <= FIXEF_OF_SE * se, name
        assert ours_se[norm(name)] == pytest.approx(se, rel=SE_REL), name
    # as.matrix(vcov(m)), in fixef order
    ref_vcov = np.array(case["vcov_fixef"])
    order = [norm(k) for k in case["fixef"]]
    pos = {norm(k): i for i, k in enumerate(fit.fixef.index)}
    idx = [pos[k] for k in order]
    ours_vcov = fit.vcov.to_numpy()[np.ix_(idx, idx)]
    scale = np.sqrt(np.outer(np.diag(ref_vcov), np.diag(ref_vcov)))
    assert np.all(np.abs(ours_vcov - ref_vcov) <= 2 * SE_REL * scale)
    # sigma(m)
    assert fit.sigma == pytest.approx(case["sigma"], rel=SE_REL)


def _vc_key(row: dict[str, Any]) -> tuple[str, str, str]:
    # lme4's legacy || split names the second term "school.1"; ours is one diagonal term.
    grp = re.sub(r"\.\d+$", "", row["grp"])
    return grp, row["var1"] or "", row["var2"] or ""


@pytest.mark.parametrize("case_id", LME4)
def test_variance_components(case_id: str) -> None:
    case, fit = CASES[case_id], fit_case(case_id)
    ours = {_vc_key(r): r for r in fit.varcorr().to_dict("records")}
    # as.data.frame(VarCorr(m))
    ref_rows = case["varcorr"]
    assert len(ours) == len(ref_rows)
    for ref in ref_rows:
        row = ours[_vc_key(ref)]
        if ref["var2"]:
            assert row["sdcor"] == pytest.approx(ref["sdcor"], abs=CORR_ABS), ref
        else:
            # A zero variance (singular fit) is matched absolutely.
            assert row["vcov"] == pytest.approx(ref["vcov"], rel=VC_REL, abs=1e-6), ref


@pytest.mark.parametrize("case_id", LME4)
def test_conditional_modes(case_id: str) -> None:
    case, fit = CASES[case_id], fit_case(case_id)
    table = fit.ranef_table()
    sds = {(_vc_key(r)[0], r["var1"]): r["sdcor"] for r in case["varcorr"] if not r["var2"]}
    # as.data.frame(ranef(m, condVar = TRUE)): first five levels of each grouping factor
    for grpvar, head in case["ranef_head"].items():
        ours = table[table["grpvar"] == grpvar].set_index(["term", "grp"])
        for level, term, val, sd in zip(
            head["level"], head["term"], head["condval"], head["condsd"], strict=True
        ):
            row = ours.loc[(term, level)]
            scale = sds[(grpvar, term)]
            assert abs(row["condval"] - val) <= VC_REL * scale + 1e-8, (grpvar, level, term)
            assert row["condsd"] == pytest.approx(sd, rel=VC_REL, abs=1e-8), (grpvar, level, term)


# InstEval's reference carries no predictions (R did not store predict_head for it).
WITH_PREDICTIONS = [c for c in LME4 if "predict_head" in CASES[c]]


@pytest.mark.parametrize("case_id", WITH_PREDICTIONS)
def test_predictions(case_id: str) -> None:
    case, fit = CASES[case_id], fit_case(case_id)
    # head(predict(m), 8) and head(predict(m, re.form = NA), 8)
    tol = FIXEF_OF_SE * case["sigma"] + 1e-8
    np.testing.assert_allclose(fit.predict()[:8], case["predict_head"]["full"], atol=tol * 5)
    np.testing.assert_allclose(
        fit.predict(re_form="~0")[:8], case["predict_head"]["fixed"], atol=tol * 5
    )


@pytest.mark.parametrize("comparison", REFERENCE["anova"], ids=lambda c: c["id"])
def test_anova(comparison: dict[str, Any]) -> None:
    m0, m1 = (fit_case(c) for c in comparison["cases"])
    # anova(m0, m1) on the ML fits
    table = lmf.anova(m0, m1)
    assert table["Chisq"].iloc[1] == pytest.approx(comparison["chisq"], abs=2 * LOGLIK_ABS)
    assert table["Df"].iloc[1] == comparison["df"]
    assert table["Pr(>Chisq)"].iloc[1] == pytest.approx(comparison["p"], rel=0.02)
    for col, key in (("logLik", "loglik"), ("AIC", "aic"), ("BIC", "bic")):
        for ours, ref in zip(table[col], comparison[key], strict=True):
            assert ours == pytest.approx(ref, abs=2 * loglik_tol(ref))


def test_anova_refits_reml_with_ml() -> None:
    # anova(m0, m1) refits REML fits by ML: same table as from the ML fits.
    reml = lmf.anova(fit_case("exam_ri"), fit_case("exam_rs"))
    assert reml["Chisq"].iloc[1] == pytest.approx(
        REFERENCE["anova"][0]["chisq"], abs=2 * LOGLIK_ABS
    )


# Every case MixedLM can express (InstEval's crossed design is too large for it).
BOTH_ENGINES = [c for c in LME4 if c != "insteval_crossed"]


@pytest.mark.parametrize("case_id", BOTH_ENGINES)
def test_engines_agree(case_id: str) -> None:
    # The statsmodels engine (MixedLM, checked and polished) reaches the same optimum.
    case, fit = CASES[case_id], fit_case(case_id)
    data = lmf.datasets.load(case["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.SingularFitWarning)
        other = lmf.lmer(
            case["call"]["formula"], data, reml=case["call"]["reml"], engine="statsmodels"
        )
    assert other.loglik == pytest.approx(fit.loglik, abs=loglik_tol(fit.loglik))
    for name in fit.fixef.index:
        assert abs(other.fixef[name] - fit.fixef[name]) <= FIXEF_OF_SE * fit.fixef_se[name]
        assert other.fixef_se[name] == pytest.approx(fit.fixef_se[name], rel=SE_REL)
    np.testing.assert_allclose(
        other.varcorr()["vcov"], fit.varcorr()["vcov"], rtol=VC_REL, atol=1e-6
    )


def test_insteval_not_expressible_in_statsmodels() -> None:
    case = CASES["insteval_crossed"]
    data = lmf.datasets.load("insteval")
    with pytest.raises(lmf.NotExpressibleError, match="dense"):
        lmf.lmer(case["call"]["formula"], data, engine="statsmodels")


def test_to_mixedlm_seed_example_reaches_lme4() -> None:
    case = CASES["exam_rs"]
    model = lmf.to_mixedlm(case["call"]["formula"], lmf.datasets.load("exam"))
    # logLik(lmer(normexam ~ standLRT + (1 + standLRT | school), exam))
    result = model.fit(reml=True, method="lbfgs")
    assert result.llf == pytest.approx(case["loglik"], abs=loglik_tol(case["loglik"]))
