"""Grammar features, accessors and missing data against lme4.

The numbers come from tests/reference/extra.json, written by tests/reference/make_extra.R
(R 4.2.2, lme4 1.1.31); each case stores the R call that produced it (``r_call``). Same
tolerances as the shared reference (see test_reference.py).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_reference import FIXEF_OF_SE, SE_REL, VC_REL, _vc_key, loglik_tol, norm

import lmeformula as lmf

EXTRA = json.loads((Path(__file__).parent / "reference" / "extra.json").read_text())


def _exam_missing() -> pd.DataFrame:
    data = lmf.datasets.load("exam")
    # R's rows 4, 11 and 21 (1-based)
    data.loc[data.index[[3, 10]], "standLRT"] = np.nan
    data.loc[data.index[20], "normexam"] = np.nan
    return data


def _sleep_weighted() -> pd.DataFrame:
    data = lmf.datasets.load("sleepstudy")
    data["w"] = 1 + data["Days"] / 10
    return data


# case id -> (data, our formula[, lmer keywords]). Where lme4 1.1.31 cannot parse the lme4
# 2.x spelling, the R call in the JSON is the expansion ours must reproduce.
MODELS = {
    "exam_missing": (_exam_missing, "normexam ~ standLRT + (1 | school)"),
    "exam_two_terms": ("exam", "normexam ~ standLRT + (1 | school) + (0 + standLRT | school)"),
    "sleep_poly": ("sleepstudy", "Reaction ~ poly(Days, 2) + (1 | Subject)"),
    "sleep_scale": ("sleepstudy", "Reaction ~ scale(Days) + (1 | Subject)"),
    "sleep_offset": ("sleepstudy", "Reaction ~ Days + offset(2 * Days) + (1 | Subject)"),
    "sleep_log_I": ("sleepstudy", "log(Reaction) ~ Days + I(Days^2) + (1 | Subject)"),
    "sleep_response_arith": ("sleepstudy", "Reaction/100 ~ Days + (Days | Subject)"),
    "orth_factor": ("orthodont", "distance ~ factor(age) + Sex + (1 | Subject)"),
    "machines_dummy": (
        "machines",
        'score ~ Machine + (1 | Worker) + (0 + dummy(Machine, "B") | Worker)',
    ),
    "machines_star": ("machines", "score ~ 1 + (1 | Worker * Machine)"),
    "machines_nested_slash": ("machines", "score ~ 0 + Machine + (1 | Worker/Machine)"),
    "sleep_weights": (_sleep_weighted, "Reaction ~ Days + (Days | Subject)", {"weights": "w"}),
    "sleep_weights_ml": (
        _sleep_weighted,
        "Reaction ~ Days + (Days | Subject)",
        {"weights": "w", "reml": False},
    ),
}

_FITS: dict[str, lmf.LmerResult] = {}


def fit(case_id: str) -> lmf.LmerResult:
    if case_id not in _FITS:
        source, formula, *extra = MODELS[case_id]
        kwargs = extra[0] if extra else {}
        data = source() if callable(source) else lmf.datasets.load(source)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lmf.SingularFitWarning)
            _FITS[case_id] = lmf.lmer(formula, data, **kwargs)
    return _FITS[case_id]


@pytest.mark.parametrize("case_id", list(MODELS))
def test_against_lme4(case_id: str) -> None:
    ref, ours = EXTRA[case_id], fit(case_id)
    # logLik(m), nobs(m)
    assert ours.loglik == pytest.approx(ref["loglik"], abs=loglik_tol(ref["loglik"]))
    assert ours.nobs == ref["nobs"]
    # fixef(m), sqrt(diag(vcov(m))), sigma(m)
    fixef = {norm(k): v for k, v in ours.fixef.items()}
    se = {norm(k): v for k, v in ours.fixef_se.items()}
    assert set(fixef) == {norm(k) for k in ref["fixef"]}
    for name, value in ref["fixef"].items():
        assert abs(fixef[norm(name)] - value) <= FIXEF_OF_SE * ref["fixef_se"][name], name
        assert se[norm(name)] == pytest.approx(ref["fixef_se"][name], rel=SE_REL), name
    assert ours.sigma == pytest.approx(ref["sigma"], rel=SE_REL)
    # as.data.frame(VarCorr(m))
    vc = {_vc_key(r): r for r in ours.varcorr().to_dict("records")}
    for row in ref["varcorr"]:
        assert vc[_vc_key(row)]["vcov"] == pytest.approx(row["vcov"], rel=VC_REL, abs=1e-6), row


def test_weighted_pearson_residuals() -> None:
    # quantile(residuals(m, type = "pearson") / sigma(m)) for the weighted sleepstudy fit
    ref = EXTRA["sleep_weights"]["pearson_quantiles"]
    q = np.quantile(fit("sleep_weights").residuals("pearson"), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(q, ref, atol=1e-3)


def test_weights_survive_the_ml_refit_of_anova() -> None:
    m1 = fit("sleep_weights")
    m0 = lmf.lmer("Reaction ~ Days + (1 | Subject)", _sleep_weighted(), weights="w")
    table = lmf.anova(m0, m1)
    # logLik(lmer(Reaction ~ Days + (Days | Subject), sleepstudy, weights = w, REML = FALSE))
    ref = EXTRA["sleep_weights_ml"]["loglik"]
    assert table["logLik"].iloc[1] == pytest.approx(ref, abs=loglik_tol(ref))


def test_missing_rows_counted() -> None:
    assert fit("exam_missing").n_dropped == 3


def test_coef() -> None:
    ref = EXTRA["exam_rs_coef_head"]
    m = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", lmf.datasets.load("exam"))
    cf = m.coef()["school"].loc[ref["level"]]
    # head(coef(m)$school, 5)
    np.testing.assert_allclose(cf["(Intercept)"], ref["intercept"], atol=1e-4)
    np.testing.assert_allclose(cf["standLRT"], ref["standLRT"], atol=1e-4)


def test_marginal_cov() -> None:
    ref = EXTRA["exam_rs_marginal_cov_school1"]
    m = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", lmf.datasets.load("exam"))
    V = m.marginal_cov("1").to_numpy()
    # sigma^2 (Z_i Λ Λ' Z_i' + I) for school "1"
    assert V.shape == (ref["n"], ref["n"])
    np.testing.assert_allclose(V[:4, :4], ref["head4"], rtol=3e-3)
    assert np.trace(V) == pytest.approx(ref["trace"], rel=3e-3)
    assert V.sum() == pytest.approx(ref["total"], rel=3e-3)


def test_predict_newdata_with_new_levels() -> None:
    ref = EXTRA["exam_rs_predict_newdata"]
    m = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", lmf.datasets.load("exam"))
    nd = pd.DataFrame({"standLRT": ref["standLRT"], "school": ref["school"]})
    # predict(m, newdata = nd, allow.new.levels = TRUE) and re.form = NA
    np.testing.assert_allclose(m.predict(nd, allow_new_levels=True), ref["full"], atol=1e-4)
    np.testing.assert_allclose(m.predict(nd, re_form="~0"), ref["fixed"], atol=1e-4)


def test_residuals() -> None:
    ref = EXTRA["exam_rs_residuals"]
    m = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", lmf.datasets.load("exam"))
    # head(residuals(m), 5); quantile(residuals(m, scaled = TRUE))
    np.testing.assert_allclose(m.residuals()[:5], ref["head"], atol=1e-4)
    np.testing.assert_allclose(
        np.quantile(m.residuals("pearson"), [0, 0.25, 0.5, 0.75, 1]),
        ref["scaled_quantiles"],
        atol=1e-3,
    )


def test_augment_and_glance() -> None:
    m = lmf.lmer("normexam ~ standLRT + (1 + standLRT | school)", lmf.datasets.load("exam"))
    aug = m.augment()
    np.testing.assert_allclose(aug[".fitted"] + aug[".resid"], aug["normexam"], atol=1e-12)
    np.testing.assert_allclose(aug[".fixed"], m.predict(re_form="~0"))
    g = m.glance().iloc[0]
    # glance(m): logLik and REMLcrit of lmer(normexam ~ standLRT + (1 + standLRT | school))
    assert g["REMLcrit"] == pytest.approx(9327.60034513108, abs=2e-3)
    assert g["df_residual"] == 4059 - 6
