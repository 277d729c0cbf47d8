"""Estimated marginal means and pairwise contrasts against emmeans 1.8.4.1.

tests/reference/emmeans.json is made by tests/reference/make_emmeans.R; each table carries
the R expression that made it (``r_call``) and the arguments of ``fit.emmeans()`` /
``fit.emmeans_contrasts()`` that ask for the same thing (``args``).

Tolerances: means, estimates, standard errors, t ratios and interval limits within 1e-4
relative (1e-4 of the SE for values near 0); df within 1% (Satterthwaite, also gls and
lme) and 2% (Kenward-Roger); p-values within 2% relative, or 1e-8 absolute where R's
``ptukey`` returns 0 for a p-value below its precision. Labels, level columns, row order and
non-estimable rows (R's NA) exactly.

Where the model is a shared reference case on a flat likelihood (orthodont_rs,
sleepstudy_ml), the tables are made at R's estimates (see r_estimates.py): lme4 stops short
of the optimum there, and standard errors at our optimum differ from R's by up to 1.6e-4.

Measured (see the README): lmer means and SEs within 2e-5, Satterthwaite df within 6e-5,
Kenward-Roger df within 2e-6 of emmeans; gls (AR(1)) df within 2e-5. emmeans' Satterthwaite
for lme is a randomized approximation (make_emmeans.R fixes its seed): ours are within 0.7%.
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
from r_estimates import at_r_estimates, theta_from_varcorr
from scipy import stats
from test_reference import CASES as REFERENCE

import lmeformula as lmf
from lmeformula.inference.emmeans import p_adjust, parse_specs

REF = json.loads((Path(__file__).parent / "reference" / "emmeans.json").read_text())
CASES = {c["id"]: c for c in REF["cases"]}
TABLES = [(c["id"], i) for c in REF["cases"] for i in range(len(c["tables"]))]
IDS = [
    f"{cid}-{i}-{t['kind']}-{t['args']['ddf']}-{t['args'].get('adjust', 'default')}"
    for cid, i in TABLES
    for t in [CASES[cid]["tables"][i]]
]
# Fits that are shared reference cases: the R fit whose θ the tables are made at.
AT_R_ESTIMATES = {"orthodont_rs": "orthodont_rs", "sleepstudy_ml": "sleep_rs_ml"}
NUMERIC = {"emmean", "estimate", "std_error", "df", "t_ratio", "p_value", "lower_cl", "upper_cl"}


@cache
def _fit(case_id: str) -> lmf.LmerResult:
    case = CASES[case_id]
    data = lmf.datasets.load(case["dataset"])
    if case["derive"] == "male":
        # R: transform(Orthodont, male = as.numeric(Sex == "Male"))
        data = data.assign(male=(data["Sex"] == "Male").astype(float))
    kw: dict[str, Any] = {"reml": case["reml"]}
    if case["residual"]:
        kw["residual"] = getattr(lmf, case["residual"]["type"])(case["residual"]["form"])
    fun = lmf.gls if case["fun"] == "gls" else lmf.lmer
    with warnings.catch_warnings():
        # exam_rank_deficient drops two aliased columns, as lme4 does (and says).
        warnings.simplefilter("ignore", lmf.RankDeficiencyWarning)
        fit = fun(case["formula"], data, **kw)
    if case_id in AT_R_ESTIMATES:
        varcorr = REFERENCE[AT_R_ESTIMATES[case_id]]["varcorr"]
        fit = at_r_estimates(fit, theta_from_varcorr(fit, varcorr))
    return fit


def _values(v: Any) -> list[Any]:
    # jsonlite unboxes one-element vectors and writes NA and Inf as strings.
    v = v if isinstance(v, list) else [v]
    return [np.nan if x == "NA" else np.inf if x == "Inf" else x for x in v]


@pytest.mark.parametrize(("case_id", "index"), TABLES, ids=IDS)
def test_as_emmeans(case_id: str, index: int) -> None:
    table = CASES[case_id]["tables"][index]
    fit = _fit(case_id)
    args = table["args"]
    out = (fit.emmeans_contrasts if table["kind"] == "pairs" else fit.emmeans)(**args)
    ref = {col: _values(v) for col, v in table["table"].items()}
    assert list(out.columns) == list(ref), table["r_call"]
    assert len(out) == len(next(iter(ref.values())))
    se = np.asarray(ref.get("std_error"), dtype=float)
    df_tol = 0.02 if args["ddf"] == "kenward-roger" else 0.01
    for col, expected in ref.items():
        got = out[col].to_numpy()
        if col not in NUMERIC:
            # Levels and labels: strings as R prints them, numbers as numbers.
            if isinstance(expected[0], str):
                assert [str(g) for g in got] == expected, col
            else:
                np.testing.assert_allclose(got.astype(float), expected, err_msg=col)
            continue
        r = np.asarray(expected, dtype=float)
        g = got.astype(float)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(r), err_msg=f"{col}: nonEst rows")
        ok = np.isfinite(r)
        np.testing.assert_array_equal(np.isinf(g), np.isinf(r), err_msg=col)
        g, r, s = g[ok], r[ok], se[ok]
        if col == "df":
            np.testing.assert_allclose(g, r, rtol=df_tol, err_msg=col)
        elif col == "p_value":
            np.testing.assert_allclose(g, r, rtol=0.02, atol=1e-8, err_msg=col)
        else:
            scale = np.maximum(np.abs(r), s) if col != "t_ratio" else np.abs(r)
            assert np.all(np.abs(g - r) <= 1e-4 * scale), (col, g, r)


def test_at_restricts_a_factor() -> None:
    # at = list(Sex = "Male") keeps one level: the same row as in the full table.
    fit = _fit("orthodont_rs")
    full = fit.emmeans("Sex").set_index("Sex")
    male = fit.emmeans("Sex", at={"Sex": ["Male"]})
    assert male["Sex"].tolist() == ["Male"]
    assert male["emmean"].iloc[0] == pytest.approx(full.loc["Male", "emmean"], rel=1e-12)


def test_data_not_modified() -> None:
    data = lmf.datasets.load("machines")
    before = data.copy()
    fit = lmf.lmer("score ~ Machine + (1 | Worker)", data)
    fit.emmeans("Machine")
    fit.emmeans_contrasts("Machine")
    pd.testing.assert_frame_equal(data, before)


@pytest.mark.parametrize(
    ("specs", "by", "expected"),
    [
        ("Sex", None, (["Sex"], [])),
        (["Sex", "age"], None, (["Sex", "age"], [])),
        ("~ Sex", None, (["Sex"], [])),
        ("~Sex*age", None, (["Sex", "age"], [])),
        ("~ Sex | age", None, (["Sex"], ["age"])),
        ("~ Sex | age * g", None, (["Sex"], ["age", "g"])),
        ("Sex", ["age"], (["Sex"], ["age"])),
        ("~ 1", None, (["1"], [])),
    ],
)
def test_specs_as_names_or_formula(specs: Any, by: Any, expected: tuple) -> None:
    assert parse_specs(specs, by) == expected


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        # R: p.adjust(c(NA, 0.01, 0.04, 0.03), "holm", n = 4)
        ("holm", [np.nan, 0.04, 0.09, 0.09]),
        # R: p.adjust(c(NA, 0.01, 0.04, 0.03), "bonferroni", n = 4)
        ("bonferroni", [np.nan, 0.04, 0.16, 0.12]),
        # emmeans' sidak: 1 - (1 - p)^4
        ("sidak", [np.nan, 1 - 0.99**4, 1 - 0.96**4, 1 - 0.97**4]),
    ],
)
def test_adjustments_count_non_estimable_contrasts(method: str, expected: list[float]) -> None:
    # emmeans passes n = the family's number of contrasts, NA (nonEst) ones included.
    p = np.array([np.nan, 0.01, 0.04, 0.03])
    t = stats.norm.isf(p / 2)
    out = p_adjust(t, np.full(4, np.inf), method, 4)
    np.testing.assert_allclose(out, expected, rtol=1e-10)


BAD = [
    ("Sexx", {}, lmf.DataError, "'Sexx' is not a variable of the model"),
    ("Subject", {}, lmf.DataError, "grouping factor of the random effects"),
    ("age", {}, lmf.DataError, r"at=\{'age'"),
    ("Sex", {"at": {"agee": [8]}}, lmf.DataError, "agee"),
    ("Sex", {"at": {"Sex": ["Boy"]}}, lmf.DataError, "'Boy'"),
    ("Sex", {"at": {"age": ["eight"]}}, lmf.DataError, "give numbers"),
    ("Sex", {"at": [8, 14]}, lmf.errors.ArgumentTypeError, "at must be a dict"),
    ("Sex", {"ddf": "containment"}, lmf.errors.ArgumentTypeError, "ddf must be one of"),
    ("Sex", {"level": 95}, lmf.errors.ArgumentTypeError, "level must be between"),
    ("Sex", {"by": "Sex"}, lmf.errors.ArgumentTypeError, "named twice"),
    ("pairwise ~ Sex", {}, lmf.errors.ArgumentTypeError, "emmeans_contrasts"),
    ("~ Sex | age", {"by": "age"}, lmf.errors.ArgumentTypeError, "by variables once"),
    (3, {}, lmf.errors.ArgumentTypeError, "specs must be"),
]


@pytest.mark.parametrize(("specs", "kw", "error", "match"), BAD, ids=[str(b[3]) for b in BAD])
def test_bad_input_names_the_culprit(specs: Any, kw: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        _fit("orthodont_rs").emmeans(specs, **kw)


def test_bad_contrast_arguments() -> None:
    fit = _fit("machines_nested")
    with pytest.raises(lmf.errors.ArgumentTypeError, match="adjust must be one of"):
        fit.emmeans_contrasts("Machine", adjust="scheffe")
    with pytest.raises(lmf.errors.ArgumentTypeError, match="method must be one of"):
        fit.emmeans_contrasts("Machine", method="trt.vs.ctrl")
    with pytest.raises(lmf.DataError, match="two or more levels"):
        fit.emmeans_contrasts("1")


def test_kenward_roger_needs_reml_and_no_residual_structure() -> None:
    with pytest.raises(lmf.errors.ArgumentTypeError, match="REML"):
        _fit("sleepstudy_ml").emmeans_contrasts("Days", at={"Days": [0, 9]}, ddf="kenward-roger")
    with pytest.raises(lmf.NotExpressibleError, match="satterthwaite"):
        _fit("orthodont_gls_ar1").emmeans("Sex", ddf="kenward-roger")
