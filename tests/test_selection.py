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
from lmeformula.comparison.nesting import relate

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
    "sleep_intercept_to_slope_reml": (
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


# ---------------------------------------------------------------- select_covariance

ORTH_FORMULA = "distance ~ Sex * I(age - 11)"
FIVE = ["UN", "CS", "CSH", "AR1", "ARH1"]


def _orth_selection(method: str, candidates: list[str], criterion: str = "aic") -> lmf.Selection:
    return lmf.select_covariance(
        ORTH_FORMULA,
        data("orthodont"),
        subject="Subject",
        time="age",
        candidates=candidates,
        reml=method == "reml",
        criterion=criterion,
    )


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_select_covariance_fits_as_nlme(method: str) -> None:
    # R: each model's r_call, e.g. gls(distance ~ Sex * I(age - 11), orth, correlation =
    # corSymm(form = ~1 | Subject), weights = varIdent(form = ~1 | age)) for UN;
    # logLik(m), attr(logLik(m), "df"), AIC(m), BIC(m); Akaike weights by hand.
    ref = REF["orthodont_gls"][method]
    ids = [m["id"] for m in ref["models"]]
    table = _orth_selection(method, ids).table.loc[ids]
    assert table["npar"].tolist() == [m["npar"] for m in ref["models"]]
    for col in ("loglik", "aic", "bic"):
        _close(table[col], [m[col] for m in ref["models"]], abs=LOGLIK_ABS)
    _close(table["weight"], ref["akaike_weights"], abs=1e-3)


@pytest.mark.parametrize("method", ["reml", "ml"])
@pytest.mark.parametrize("criterion", ["aic", "bic"])
@pytest.mark.parametrize("candidates", ["five", "six"])
def test_select_covariance_ranks_as_nlme(method: str, criterion: str, candidates: str) -> None:
    # R: names(sort(sapply(fits, AIC))) (or BIC) over nlme's fits of UN, CS, CSH, AR1,
    # ARH1 (and TOEP = corARMA(p = 3)); the five are the done-criterion's.
    ref = REF["orthodont_gls"][method][f"ranking_{criterion}"]
    chosen = (
        FIVE if candidates == "five" else [m["id"] for m in REF["orthodont_gls"][method]["models"]]
    )
    expected = [k for k in ref if k in chosen]
    sel = _orth_selection(method, chosen, criterion)
    assert list(sel.table.index) == expected
    assert sel.chosen == expected[0]
    assert sel.best is sel.fits[expected[0]]
    assert sel.table["chosen"].tolist() == [True] + [False] * (len(expected) - 1)
    assert f"{expected[0]} has the lowest {criterion.upper()}" in repr(sel)


@pytest.mark.parametrize("pair", REF["orthodont_gls_lrt"], ids=lambda p: f"{p['small']}_{p['big']}")
def test_lrt_between_nested_structures(pair: dict[str, Any]) -> None:
    # R: nlme's anova(gls_small, gls_big) on REML fits (pair["r_call"]): L.Ratio, df, p.
    sel = _orth_selection("reml", [pair["small"], pair["big"]])
    small, big = sel.fits[pair["small"]], sel.fits[pair["big"]]
    rel = relate(small, big)
    assert rel.nested and rel.null == "interior"
    table = lmf.anova(small, big, refit=False)
    assert table["Chisq"].iloc[1] == pytest.approx(pair["l_ratio"], abs=LRT_ABS)
    assert table["Df"].iloc[1] == pair["df"]
    assert table["Pr(>Chisq)"].iloc[1] == pytest.approx(pair["p_value"], rel=P_REL)
    # compare tests the larger fit against the smaller one, with the same numbers.
    row = sel.table.loc[pair["big"]]
    assert row["tested_against"] == pair["small"]
    assert row["lrt"] == pytest.approx(pair["l_ratio"], abs=LRT_ABS)
    assert row["p_value"] == pytest.approx(pair["p_value"], rel=P_REL)


def test_compare_tests_against_the_largest_nested_fit() -> None:
    # Of the six structures UN is tested against CSH (9 parameters, higher likelihood than
    # ARH1's 9), CSH and TOEP against CS, ARH1 against AR1: nlme's anova of those pairs
    # (test_lrt_between_nested_structures) gives their numbers.
    ids = [m["id"] for m in REF["orthodont_gls"]["reml"]["models"]]
    table = _orth_selection("reml", ids).table
    against = table["tested_against"].to_dict()
    assert against == {"TOEP": "CS", "CS": "", "CSH": "CS", "UN": "CSH", "AR1": "", "ARH1": "AR1"}
    assert table.loc["AR1", "note"].startswith("fewest parameters")


def test_select_covariance_beside_a_random_intercept() -> None:
    # R: lme(distance ~ Sex * I(age - 11), orth, random = ~1 | Subject[, correlation =
    # corAR1(form = ~1 | Subject)[, weights = varIdent(form = ~1 | age)]]): logLik, df,
    # AIC, BIC (nlme's REML BIC counts n - p) and names(sort(AIC)).
    ref = REF["orthodont_lme"]
    sel = lmf.select_covariance(
        ORTH_FORMULA + " + (1 | Subject)",
        data("orthodont"),
        subject="Subject",
        time="age",
        candidates=[m["id"] for m in ref["models"]],
    )
    ids = [m["id"] for m in ref["models"]]
    table = sel.table.loc[ids]
    assert table["npar"].tolist() == [m["npar"] for m in ref["models"]]
    for col in ("loglik", "aic", "bic"):
        _close(table[col], [m[col] for m in ref["models"]], abs=LOGLIK_ABS)
    assert list(sel.table.index) == ref["ranking_aic"]
    assert "n - p observations" in sel.table.attrs["note"]


# ---------------------------------------------------------------- compare, select_random

SLEEP_CANDIDATES = {
    "ri": "(1 | Subject)",
    "slope": "(0 + Days | Subject)",
    "both": "(Days | Subject)",
}


def test_compare_matches_aic_table() -> None:
    # R: AIC(ri, slope, both), BIC(...) of the REML fits lmer(Reaction ~ Days + <term>,
    # sleep); Akaike weights w <- exp(-0.5 * (AIC - min(AIC))); w / sum(w).
    ref = REF["sleep_random"]
    sleep = data("sleepstudy")
    fits = [lmf.lmer(f"Reaction ~ Days + {SLEEP_CANDIDATES[k]}", sleep) for k in ref["models"]]
    table = lmf.compare(*fits, names=ref["models"]).loc[ref["models"]]
    assert table["npar"].tolist() == ref["npar"]
    for col in ("loglik", "aic", "bic"):
        _close(table[col], ref[col], abs=LOGLIK_ABS)
    _close(table["weight"], ref["akaike_weights"], abs=1e-3)
    ranked = lmf.compare(*fits, names=ref["models"])
    assert list(ranked.index) == ref["ranking_aic"]
    _close(ranked["delta_aic"], list(np.array(ranked["aic"]) - min(ref["aic"])), abs=2e-3)


def test_select_random_tests_with_the_mixture() -> None:
    # R: the REML fits of AIC(ri, slope, both) above; (Days | Subject) is tested against
    # (0 + Days | Subject), the one of the two 4-parameter fits nested in it with the higher
    # likelihood: anova(slope, both, refit = FALSE) and the mixture by hand,
    # 0.5 * pchisq(Chisq, 1, lower = FALSE) + 0.5 * pchisq(Chisq, 2, lower = FALSE)
    # (selection.json's anova "sleep_intercept_to_slope_reml").
    ref = REF["sleep_random"]
    (case,) = [c for c in REF["anova"] if c["id"] == "sleep_intercept_to_slope_reml"]
    sel = lmf.select_random("Reaction ~ Days", data("sleepstudy"), list(SLEEP_CANDIDATES.values()))
    assert list(sel.table.index) == [SLEEP_CANDIDATES[k] for k in ref["ranking_aic"]]
    row = sel.table.loc["(Days | Subject)"]
    assert row["tested_against"] == "(0 + Days | Subject)"
    assert row["df"] == case["df"]
    assert row["lrt"] == pytest.approx(case["chisq"], abs=LRT_ABS)
    assert row["p_value"] == pytest.approx(case["p_value"], rel=P_REL)
    assert row["p_value_mixture"] == pytest.approx(case["p_value_mixture"], rel=P_REL)
    assert "read p_value_mixture" in row["note"]


def test_select_random_with_the_linear_model() -> None:
    # None is the model without random effects: (1 | Batch) against it is R's
    # anova(lmer(Yield ~ 1 + (1 | Batch), Dyestuff), lm(Yield ~ 1, Dyestuff)) on REML
    # likelihoods, i.e. ranova's row (selection.json ranova "dyestuff").
    (ref,) = [c for c in REF["ranova"] if c["id"] == "dyestuff"]
    sel = lmf.select_random("Yield ~ 1", data("dyestuff"), [None, "(1 | Batch)"])
    row = sel.table.loc["(1 | Batch)"]
    assert row["tested_against"] == "no random effects"
    assert row["lrt"] == pytest.approx(ref["lrt"][1], abs=LRT_ABS)
    assert row["p_value_mixture"] == pytest.approx(ref["p_value_mixture"][1], rel=P_REL)
    assert sel.chosen == "(1 | Batch)"


# ---------------------------------------------------------------- warnings and bad input


def test_compare_warns_on_different_rows() -> None:
    sleep = data("sleepstudy")
    a = lmf.lmer("Reaction ~ Days + (1 | Subject)", sleep, reml=False)
    b = lmf.lmer("Reaction ~ Days + (1 | Subject)", sleep.iloc[:150], reml=False)
    with pytest.warns(lmf.ComparisonWarning, match="different numbers of rows"):
        table = lmf.compare(a, b)
    assert "no test" in table.loc[table.index[0], "note"] or table["lrt"].isna().all()


def test_compare_warns_on_reml_fits_with_different_fixed_effects() -> None:
    sleep = data("sleepstudy")
    a = lmf.lmer("Reaction ~ 1 + (Days | Subject)", sleep)
    b = lmf.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    with pytest.warns(lmf.ComparisonWarning, match="REML fits with different fixed effects"):
        table = lmf.compare(a, b)
    assert np.isnan(table.loc["b", "lrt"])
    assert "REML fits with different fixed effects" in table.loc["b", "note"]
    # As ML fits they nest: the test of the fixed effect is made.
    ml = lmf.compare(*(lmf.refit(f, reml=False) for f in (a, b)), names=["a", "b"])
    assert ml.loc["b", "tested_against"] == "a"
    assert "fixed effects only" in ml.loc["b", "note"]


def test_select_covariance_leaves_out_what_cannot_be_fitted() -> None:
    # Half the subjects lack age 8, the other half age 14: no subject has both, so UN's
    # correlation of 8 and 14 (and TOEP's lag 3) cannot be estimated.
    orth = data("orthodont")
    first = orth["Subject"].isin(sorted(orth["Subject"].unique())[::2])
    thinned = orth[~((first & (orth["age"] == 8)) | (~first & (orth["age"] == 14)))]
    with pytest.warns(lmf.ComparisonWarning, match="candidate UN could not be fitted"):
        sel = lmf.select_covariance(
            ORTH_FORMULA, thinned, subject="Subject", time="age", candidates=("CS", "AR1", "UN")
        )
    assert sorted(sel.fits) == ["AR1", "CS"]
    assert "UN" in sel.not_fitted
    assert "Not fitted: UN" in sel.table.attrs["note"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda fit: lmf.compare(fit), "two or more"),
        (lambda fit: lmf.compare(fit, fit, criterion="cp"), "criterion"),
        (lambda fit: lmf.compare(fit, "m1"), "got str"),
        (lambda fit: lmf.compare(fit, fit, names=["a", "a"]), "distinct"),
        (
            lambda fit: lmf.select_covariance(
                ORTH_FORMULA, data("orthodont"), subject="Subject", candidates=["XYZ"]
            ),
            "not a residual structure",
        ),
        (
            lambda fit: lmf.select_random("Reaction ~ Days", data("sleepstudy")),
            "group= and slope=",
        ),
    ],
    ids=["one_fit", "criterion", "not_a_fit", "repeated_names", "unknown_structure", "no_terms"],
)
def test_bad_input(call: Any, message: str) -> None:
    fit = lmf.lmer("Reaction ~ Days + (1 | Subject)", data("sleepstudy"))
    with pytest.raises(lmf.errors.ArgumentTypeError, match=message):
        call(fit)
