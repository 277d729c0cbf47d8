"""Comparing and choosing models against R: lmerTest's ``ranova``, lme4's ``anova(m0, m1)``
with the boundary-mixture p-value, nlme's fits of the Orthodont marginal models and their
ranking, AIC tables with Akaike weights.

The numbers are in ``reference/selection.json``, made by ``reference/make_selection.R``;
each entry records the R expression that made it (``r_call``, and ``mixture_call`` for the
mixture p-values, computed by hand in R). Tolerances (the brief's): log-likelihoods and AIC
within 1e-3 absolute, likelihood-ratio statistics within 2e-3 (two log-likelihoods),
p-values within 2% relative.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lmeformula as lmf
from lmeformula.nesting import relate

REF = json.loads((Path(__file__).parent / "reference" / "selection.json").read_text())
LOGLIK_ABS = 1e-3
LRT_ABS = 2e-3
P_REL = 0.02

_DATA: dict[str, Any] = {}


def data(name: str) -> Any:
    if name not in _DATA:
        _DATA[name] = lmf.datasets.load(name)
    return _DATA[name]


def _nan(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _close(ours: Any, ref: list[Any], *, abs: float = 0.0, rel: float = 0.0) -> None:
    ours, ref_arr = np.asarray(ours, dtype=float), _nan(ref)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref_arr))
    ok = ~np.isnan(ref_arr)
    np.testing.assert_allclose(ours[ok], ref_arr[ok], atol=abs, rtol=rel)


# ---------------------------------------------------------------- ranova


@pytest.mark.parametrize("case", REF["ranova"], ids=lambda c: c["id"])
def test_ranova(case: dict[str, Any]) -> None:
    # R: case["r_call"], e.g. ranova(lmer(Reaction ~ Days + (Days | Subject), sleep));
    # p_value_mixture by case["mixture_call"].
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.SingularFitWarning)
        fit = lmf.lmer(case["formula"], data(case["dataset"]), reml=case["reml"])
    table = fit.ranova()
    assert list(table.index) == case["rows"]
    assert table["npar"].tolist() == case["npar"]
    _close(table["df"], case["df"])
    _close(table["loglik"], case["loglik"], abs=LOGLIK_ABS)
    _close(table["aic"], case["aic"], abs=2 * LOGLIK_ABS)
    _close(table["lrt"], case["lrt"], abs=LRT_ABS)
    _close(table["p_value"], case["p_value"], rel=P_REL)
    _close(table["p_value_mixture"], case["p_value_mixture"], rel=P_REL)


def test_ranova_without_reduction_removes_whole_terms() -> None:
    # R: ranova(lmer(Reaction ~ Days + (Days | Subject), sleep), reduce.terms = FALSE) has
    # the row "(Days | Subject)", the lm fit: 2 * (logLik(m) - logLik(lm(Reaction ~ Days),
    # REML = TRUE)) on 3 df. Our lm likelihood is checked against R's below.
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", data("sleepstudy"))
    table = fit.ranova(reduce_terms=False)
    assert list(table.index) == ["<none>", "(Days | Subject)"]
    lm = lmf.gls("Reaction ~ Days", data("sleepstudy"))
    assert table["lrt"].iloc[1] == pytest.approx(2 * (fit.loglik - lm.loglik), abs=1e-9)
    assert table["df"].iloc[1] == 3
    # Two variances and a covariance at once: no simple mixture, said in the note.
    assert np.isnan(table["p_value_mixture"].iloc[1])
    assert "no simple mixture" in table.attrs["note"]


def test_ranova_refuses_a_model_without_random_effects() -> None:
    fit = lmf.gls("distance ~ age", data("orthodont"))
    with pytest.raises(lmf.DataError, match="has none"):
        fit.ranova()


@pytest.mark.parametrize("reml", [True, False], ids=["reml", "ml"])
def test_lm_likelihood(reml: bool) -> None:
    # R: logLik(lm(Yield ~ 1, Dyestuff), REML = TRUE) and logLik(lm(Yield ~ 1, Dyestuff)):
    # gls with independent residuals is the linear model.
    fit = lmf.gls("Yield ~ 1", data("dyestuff"), reml=reml)
    ref = REF["ranova_lm_loglik"]["reml" if reml else "ml"]
    assert fit.loglik == pytest.approx(ref, abs=LOGLIK_ABS)
    assert fit.npar == 2


# ---------------------------------------------------------------- anova with mixtures

# (function, formula, reml) of m0 and m1 for each R comparison (R calls in the JSON's m0, m1).
ANOVA_MODELS: dict[str, tuple[tuple[str, str, bool], tuple[str, str, bool]]] = {
    "sleep_slope": (
        ("lmer", "Reaction ~ Days + (1 | Subject)", True),
        ("lmer", "Reaction ~ Days + (Days | Subject)", True),
    ),
    "sleep_slope_reml": (
        ("lmer", "Reaction ~ Days + (1 | Subject)", True),
        ("lmer", "Reaction ~ Days + (Days | Subject)", True),
    ),
    "sleep_intercept_to_slope": (
        ("lmer", "Reaction ~ Days + (0 + Days | Subject)", True),
        ("lmer", "Reaction ~ Days + (Days | Subject)", True),
    ),
    "exam_slope": (
        ("lmer", "normexam ~ standLRT + (1 | school)", False),
        ("lmer", "normexam ~ standLRT + (1 + standLRT | school)", False),
    ),
    "sleep_uncorrelated_slope": (
        ("lmer", "Reaction ~ Days + (1 | Subject)", True),
        ("lmer", "Reaction ~ Days + (Days || Subject)", True),
    ),
    "penicillin_second_factor": (
        ("lmer", "diameter ~ 1 + (1 | sample)", True),
        ("lmer", "diameter ~ 1 + (1 | plate) + (1 | sample)", True),
    ),
    "dyestuff_vs_lm": (
        ("gls", "Yield ~ 1", False),
        ("lmer", "Yield ~ 1 + (1 | Batch)", False),
    ),
    "sleep_correlation": (
        ("lmer", "Reaction ~ Days + (Days || Subject)", True),
        ("lmer", "Reaction ~ Days + (Days | Subject)", True),
    ),
}
KIND_MIXTURE = {"one_variance": 0, "slope": 1, "interior": None}


def _model(dataset: str, spec: tuple[str, str, bool]) -> lmf.LmerResult:
    fn, formula, reml = spec
    return getattr(lmf, fn)(formula, data(dataset), reml=reml)


@pytest.mark.parametrize("case", REF["anova"], ids=lambda c: c["id"])
def test_anova_with_mixture(case: dict[str, Any]) -> None:
    # R: case["r_call"] on m0 = case["m0"], m1 = case["m1"]; the mixture p-value by
    # case["mixture_call"], e.g. 0.5 * pchisq(Chisq, 1, lower = FALSE) +
    # 0.5 * pchisq(Chisq, 2, lower = FALSE) for a random slope with its covariance.
    spec0, spec1 = ANOVA_MODELS[case["id"]]
    m0, m1 = _model(case["dataset"], spec0), _model(case["dataset"], spec1)
    table = lmf.anova(m0, m1, refit=case["refit"])
    assert table["npar"].tolist() == case["npar"]
    _close(table["logLik"], case["loglik"], abs=LOGLIK_ABS)
    _close(table["AIC"], case["aic"], abs=2 * LOGLIK_ABS)
    _close(table["BIC"], case["bic"], abs=2 * LOGLIK_ABS)
    assert table["Chisq"].iloc[1] == pytest.approx(case["chisq"], abs=LRT_ABS)
    assert table["Df"].iloc[1] == case["df"]
    assert table["Pr(>Chisq)"].iloc[1] == pytest.approx(case["p_value"], rel=P_REL)
    mixture = table["Pr(>Chisq) mixture"].iloc[1]
    if case["p_value_mixture"] is None:
        assert np.isnan(mixture)
        assert "inside the parameter space" in table.attrs["note"]
    else:
        assert mixture == pytest.approx(case["p_value_mixture"], rel=P_REL)
        assert "read Pr(>Chisq) mixture" in table.attrs["note"]
    assert relate(m0, m1).mixture == KIND_MIXTURE[case["kind"]]


def test_anova_prints_its_note() -> None:
    m0 = lmf.lmer("Reaction ~ Days + (1 | Subject)", data("sleepstudy"))
    m1 = lmf.lmer("Reaction ~ Days + (Days | Subject)", data("sleepstudy"))
    text = repr(lmf.anova(m0, m1))
    assert "m1: Reaction ~ Days + (Days | Subject)" in text
    assert "the 50:50 mixture of χ²(1) and χ²(2)" in text


@pytest.mark.parametrize(
    ("small", "big"),
    [
        # A random slope with intercept and covariance against none: three parameters.
        (("gls", "Reaction ~ Days", False), ("lmer", "Reaction ~ Days + (Days | Subject)", False)),
        # Fixed and random parts changed together.
        (("lmer", "Reaction ~ 1 + (1 | Subject)", False),
         ("lmer", "Reaction ~ Days + (Days | Subject)", False)),
    ],
    ids=["three_parameters", "fixed_and_random"],
)  # fmt: skip
def test_mixture_left_out_where_it_cannot_be_determined(
    small: tuple[str, str, bool], big: tuple[str, str, bool]
) -> None:
    m0, m1 = _model("sleepstudy", small), _model("sleepstudy", big)
    assert relate(m0, m1).null == "unknown"
    table = lmf.anova(m0, m1)
    assert np.isnan(table["Pr(>Chisq) mixture"].iloc[1])
    assert "cannot be determined" in table.attrs["note"]


def test_anova_says_when_models_are_not_nested() -> None:
    m0 = lmf.lmer("Reaction ~ Days + (0 + Days | Subject)", data("sleepstudy"), reml=False)
    m1 = lmf.lmer("Reaction ~ Days + (1 | Subject)", data("sleepstudy"), reml=False)
    table = lmf.anova(m0, m1)
    assert "not nested" in table.attrs["note"]
