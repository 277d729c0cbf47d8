"""A partially crossed design against lme4: subjects crossed with items, 70% of pairs absent.

The data are tests/reference/partially_crossed.csv (written by make_partially_crossed_data.py
beside it); the numbers are tests/reference/partially_crossed.json, written by
make_partially_crossed.R (R 4.2.2, lme4 1.1.31), which records each case's call (``r_call``)
and the R expression of every field (``r_exprs``). Tolerances are test_reference.py's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_reference import CORR_ABS, FIXEF_OF_SE, SE_REL, VC_REL, loglik_tol

import lmeformula as lmf

HERE = Path(__file__).parent / "reference"
REF = json.loads((HERE / "partially_crossed.json").read_text())

# case id -> (formula, reml), as in the case's r_call
MODELS = {
    "subj_slopes_ml": ("y ~ x + (1 + x | subj) + (1 | item)", False),
    "item_slopes": ("y ~ x + (1 | subj) + (1 + x | item)", True),
}

_FITS: dict[str, lmf.LmerResult] = {}


def fit(case_id: str) -> lmf.LmerResult:
    if case_id not in _FITS:
        formula, reml = MODELS[case_id]
        data = lmf.datasets.read_csv(HERE / "partially_crossed.csv")
        _FITS[case_id] = lmf.lmer(formula, data, reml=reml)
    return _FITS[case_id]


def test_design_is_partially_crossed() -> None:
    data = lmf.datasets.read_csv(HERE / "partially_crossed.csv")
    counts = pd.crosstab(data["subj"], data["item"])
    assert counts.shape == (60, 40)
    assert (counts == 0).to_numpy().mean() == pytest.approx(0.7)


@pytest.mark.parametrize("case_id", list(MODELS))
def test_likelihood(case_id: str) -> None:
    ref, ours = REF[case_id], fit(case_id)
    tol = loglik_tol(ref["loglik"])
    # as.numeric(logLik(m)), nobs(m), ngrps(m), isSingular(m)
    assert ours.loglik == pytest.approx(ref["loglik"], abs=tol)
    assert ours.nobs == ref["nobs"]
    assert ours.ngroups == ref["ngroups"]
    assert ours.singular == ref["singular"]
    # REMLcrit(m) for the REML fit, deviance(m) for the ML fit
    if ref["reml_criterion"] is not None:
        assert ours.reml_criterion == pytest.approx(ref["reml_criterion"], abs=2 * tol)
    if ref["deviance_ml"] is not None:
        assert ours.deviance == pytest.approx(ref["deviance_ml"], abs=2 * tol)


@pytest.mark.parametrize("case_id", list(MODELS))
def test_fixed_effects(case_id: str) -> None:
    ref, ours = REF[case_id], fit(case_id)
    # fixef(m), sqrt(diag(as.matrix(vcov(m)))), sigma(m)
    assert list(ours.fixef.index) == list(ref["fixef"])
    for name, value in ref["fixef"].items():
        se = ref["fixef_se"][name]
        assert abs(ours.fixef[name] - value) <= FIXEF_OF_SE * se, name
        assert ours.fixef_se[name] == pytest.approx(se, rel=SE_REL), name
    assert ours.sigma == pytest.approx(ref["sigma"], rel=SE_REL)


@pytest.mark.parametrize("case_id", list(MODELS))
def test_variance_components(case_id: str) -> None:
    ref, ours = REF[case_id], fit(case_id)
    rows = {(r["grp"], r["var1"], r["var2"]): r for r in ours.varcorr().to_dict("records")}
    # as.data.frame(VarCorr(m))
    assert len(rows) == len(ref["varcorr"])
    for row in ref["varcorr"]:
        mine = rows[(row["grp"], row["var1"], row["var2"])]
        if row["var2"]:
            assert mine["sdcor"] == pytest.approx(row["sdcor"], abs=CORR_ABS), row
        else:
            assert mine["vcov"] == pytest.approx(row["vcov"], rel=VC_REL), row


@pytest.mark.parametrize("case_id", list(MODELS))
def test_conditional_modes(case_id: str) -> None:
    ref, ours = REF[case_id], fit(case_id)
    table = ours.ranef_table()
    sds = {(r["grp"], r["var1"]): r["sdcor"] for r in ref["varcorr"] if not r["var2"]}
    # as.data.frame(ranef(m, condVar = TRUE)): the first five levels of each factor
    for grpvar, head in ref["ranef_head"].items():
        mine = table[table["grpvar"] == grpvar].set_index(["term", "grp"])
        assert len(head["level"]) == 5 * len(mine.index.unique("term"))
        for level, term, val, sd in zip(
            head["level"], head["term"], head["condval"], head["condsd"], strict=True
        ):
            row = mine.loc[(term, level)]
            assert abs(row["condval"] - val) <= VC_REL * sds[(grpvar, term)], (grpvar, level)
            assert row["condsd"] == pytest.approx(sd, rel=VC_REL), (grpvar, level, term)
