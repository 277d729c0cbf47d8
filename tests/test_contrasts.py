"""R's factor codings against R: ``C(f, contr.*)``, ``relevel()`` and ordered factors.

Expected values: tests/reference/rfiles.json, written by tests/reference/make_rfiles.R (R
4.2.2, lme4 1.1.31, lmerTest 3.1.3); every entry carries the R expression that made it
(``call`` for a contrast matrix, ``r_call`` for a fit). The data are R's: nlme's Orthodont
with Sex's levels in R's order (Male, Female) and two made-up factors, ``dose`` (low, mid,
high) and the ordered ``grade`` (low < mid < high < top), rebuilt here from the JSON and
data/orthodont.csv, so this test needs no pyreadr (test_rfiles.py reads R's file itself).

Tolerances, each with the largest difference measured:

- contrast matrices: 1e-12 absolute (formulaic's orthogonal polynomials differ from R's
  contr.poly(7) by 1.3e-15);
- fixed effects: 1e-5 relative, and 1e-5 of their SE for those near 0 (3.3e-9 of the
  larger of the two): a random-intercept model's optimum is well determined, so both
  optimizers find the same one;
- standard errors: 1e-4 relative (3.3e-9); log-likelihoods: 1e-6 absolute (7e-12);
- lmerTest's type III F values: 1e-5 relative (3e-8); their Satterthwaite denominator df:
  1e-3 relative (4.6e-4 in the two fits with the 4-level grade, 5e-9 in the others; the
  cause of the former is not pinned down: the F values agree to 3e-8).
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
from lmeformula.model.contrasts import coding_matrix, contr
from lmeformula.model.design import formula_matrix, r_names

REF = json.loads((Path(__file__).parent / "reference" / "rfiles.json").read_text())
FITS = {case["id"]: case for case in REF["fits"]}
# The level-order cases are test_rfiles.py's, on R's own file.
LEVEL_CASES = ("sex_levels", "dose_levels", "dose_no_intercept")
CODING_CASES = [cid for cid in FITS if cid not in LEVEL_CASES]
FIXEF_REL, SE_REL, LOGLIK_ABS = 1e-5, 1e-4, 1e-6
F_REL, DDF_REL = 1e-5, 1e-3


@cache
def orthodont() -> pd.DataFrame:
    """Orthodont as R has it: Sex, dose and grade with R's levels (REF["levels"])."""
    data = lmf.datasets.load("orthodont")
    rows = REF["data"]
    np.testing.assert_array_equal(data["distance"], rows["distance"])  # same row order
    levels = REF["levels"]
    data["Sex"] = pd.Categorical(data["Sex"], categories=levels["Sex"])
    data["dose"] = pd.Categorical(rows["dose"], categories=levels["dose"])
    data["grade"] = pd.Categorical(rows["grade"], categories=levels["grade"], ordered=True)
    return data


@cache
def fit_of(formula: str) -> lmf.LmerResult:
    return lmf.lmer(formula, orthodont())


def check_fit(fit: lmf.LmerResult, case: dict[str, Any]) -> None:
    """fixef names and values, SEs and logLik as R's (``case["r_call"]``)."""
    assert list(fit.fixef.index) == case["fixef_names"], case["r_call"]
    r_fixef, r_se = np.asarray(case["fixef"]), np.asarray(case["fixef_se"])
    # Relative to the estimate, or to its SE for an estimate near 0.
    off = np.abs(fit.fixef.to_numpy() - r_fixef) / np.maximum(np.abs(r_fixef), r_se)
    assert off.max() <= FIXEF_REL, (case["r_call"], off.max())
    se = np.sqrt(np.diag(fit.vcov.to_numpy()))
    np.testing.assert_allclose(se, r_se, rtol=SE_REL, err_msg=case["r_call"])
    assert abs(float(fit.loglik) - case["loglik"]) < LOGLIK_ABS, case["r_call"]


@pytest.mark.parametrize("case", REF["contrasts"], ids=[c["call"] for c in REF["contrasts"]])
def test_contrast_matrix(case: dict[str, Any]) -> None:
    # case["matrix"] is unname(contr.*(n)) and case["colnames"] colnames(contr.*(n)).
    name, n = case["call"].rstrip(")").split("(")
    kind = name.removeprefix("contr.")
    expected = np.asarray(case["matrix"], dtype=float)
    ours = coding_matrix(getattr(contr, kind), int(n))
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=0, atol=1e-12)
    # R's contr.sum and contr.helmert have no column names: a model numbers them (f1, f2);
    # the functions contr.treatment(n) and contr.SAS(n) name them by level number.
    names = case["colnames"] or [str(i + 1) for i in range(expected.shape[1])]
    assert list(ours.columns) == names
    # The model's own columns: one row per level, the intercept dropped.
    levels = pd.Categorical([f"l{i}" for i in range(int(n))], ordered=kind == "poly")
    rows = pd.DataFrame({"f": pd.Series(levels).cat.set_categories(levels)})
    mm = formula_matrix(f"C(f, contr.{kind})", rows, "the test design")
    np.testing.assert_allclose(np.asarray(mm)[:, 1:], expected, rtol=0, atol=1e-12)
    assert r_names(list(mm.columns))[1:] == [f"C(f, contr.{kind}){c}" for c in names]


def test_ordered_factor_is_coded_with_contr_poly() -> None:
    # R's default for an ordered factor: contr.poly(7), columns f.L, f.Q, f.C, f^4, ...
    case = next(c for c in REF["contrasts"] if c["call"] == "contr.poly(7)")
    rows = pd.DataFrame({"f": pd.Categorical(list("abcdefg"), ordered=True)})
    mm = formula_matrix("f", rows, "the test design")
    np.testing.assert_allclose(np.asarray(mm)[:, 1:], case["matrix"], rtol=0, atol=1e-12)
    assert r_names(list(mm.columns)) == ["(Intercept)", *(f"f{c}" for c in case["colnames"])]
    # Unordered, the same levels get treatment contrasts.
    plain = formula_matrix("f", rows.astype({"f": "str"}), "the test design")
    assert r_names(list(plain.columns))[1:] == [f"f{c}" for c in "bcdefg"]


@pytest.mark.parametrize("cid", CODING_CASES)
def test_fit_as_r(cid: str) -> None:
    case = FITS[cid]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_of(case["formula"])
    check_fit(fit, case)


ANOVA_CASES = [cid for cid, case in FITS.items() if "anova3" in case]


@pytest.mark.parametrize("cid", ANOVA_CASES)
def test_type3_anova_as_lmertest(cid: str) -> None:
    # lmerTest's anova(m, type = 3) does not depend on the coding: relevel() and treatment
    # contrasts give sum-to-zero coding's hypotheses, as lmerTest's do.
    case = FITS[cid]
    ref = case["anova3"]
    table = fit_of(case["formula"]).anova(type=3)
    assert list(table.index) == ref["term"], ref["r_call"]
    np.testing.assert_array_equal(table["num_df"], ref["num_df"])
    np.testing.assert_allclose(table["f_value"], ref["f_value"], rtol=F_REL)
    np.testing.assert_allclose(table["den_df"], ref["den_df"], rtol=DDF_REL)


def test_relevel_of_text_sorts_then_moves_ref() -> None:
    # On text, the levels are sorted (Female, Male) and ref moved first: the coefficients
    # are R's SexFemale fit's ("sex_levels": levels Male, Female), under relevel's names.
    data = lmf.datasets.load("orthodont")
    fit = lmf.lmer('distance ~ age * relevel(Sex, ref = "Male") + (1 | Subject)', data)
    case = FITS["sex_levels"]
    names = [
        n.replace("SexFemale", 'relevel(Sex, ref = "Male")Female') for n in case["fixef_names"]
    ]
    check_fit(fit, {**case, "fixef_names": names})


def test_relevel_by_position_and_unknown_level() -> None:
    data = orthodont()
    by_name = fit_of('distance ~ age + relevel(dose, "high") + (1 | Subject)')
    # relevel(dose, 3): R's ref by position, the third level "high".
    by_position = lmf.lmer("distance ~ age + relevel(dose, 3) + (1 | Subject)", data)
    np.testing.assert_allclose(by_position.fixef.to_numpy(), by_name.fixef.to_numpy())
    with pytest.raises(lmf.DataError, match=r"'zzz' is not a level.*\['low', 'mid', 'high'\]"):
        lmf.lmer('distance ~ age + relevel(dose, ref = "zzz") + (1 | Subject)', data)
    with pytest.raises(lmf.DataError, match=r"ref = 7 is not a level position.*3 levels"):
        lmf.lmer("distance ~ age + relevel(dose, 7) + (1 | Subject)", data)
    # R: 'relevel' only for unordered factors.
    with pytest.raises(lmf.DataError, match=r"unordered factors.*low < mid < high < top"):
        lmf.lmer('distance ~ age + relevel(grade, ref = "mid") + (1 | Subject)', data)


def test_unknown_contrasts_are_named() -> None:
    data = orthodont()
    with pytest.raises(lmf.FormulaError, match=r"contr\.foo.*contr\.sum"):
        lmf.lmer("distance ~ C(dose, contr.foo) + (1 | Subject)", data)
    with pytest.raises(lmf.FormulaError, match=r"'nonsense' in C\(\)"):
        lmf.lmer('distance ~ C(dose, "nonsense") + (1 | Subject)', data)


def test_bare_contrast_name_is_not_a_column() -> None:
    # C(f, sum) reads 'sum' as R's C() does, even where the data have a column 'sum'.
    data = orthodont().assign(sum=1.0)
    fit = lmf.lmer("distance ~ age * C(Sex, sum) + (1 | Subject)", data)
    check_fit(fit, FITS["sex_sum_bare_name"])
    assert lmf.parse("y ~ C(f, sum) + C(g, helmert)").variables == ("y", "f", "g")


@pytest.mark.parametrize(
    "formula",
    [
        "distance ~ age * grade + (1 | Subject)",
        'distance ~ age * relevel(dose, ref = "mid") + (1 | Subject)',
        "distance ~ age + C(dose, contr.sum) * Sex + (1 | Subject)",
        "distance ~ age + C(grade, contr.treatment) + (1 | Subject)",
    ],
)
def test_new_data_keep_the_fitted_coding(formula: str) -> None:
    # Text for the factors, a single row (so "mid" and most grades are absent): the
    # fitted levels and codings are kept (R's predict(m, newdata) with the fit's contrasts).
    fit = fit_of(formula)
    rows = orthodont().iloc[[0, 7, 50]].astype({"dose": "str", "grade": "str", "Sex": "str"})
    for i in range(len(rows)):
        one = rows.iloc[[i]]
        np.testing.assert_allclose(
            np.asarray(fit.predict(one)), np.asarray(fit.fitted())[[[0, 7, 50][i]]], rtol=1e-12
        )


def test_r_only_factor_functions_say_what_to_write() -> None:
    # R's ordered(x) has no place in a formula: the column's dtype says it.
    with pytest.raises(lmf.FormulaError, match=r"ordered\(\).*ordered pandas Categorical"):
        lmf.lmer("distance ~ ordered(dose) + (1 | Subject)", orthodont())
