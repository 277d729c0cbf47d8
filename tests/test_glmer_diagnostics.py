"""Diagnostics of glmer fits against R's performance 0.10.2: ``check_overdispersion``
(tests/reference/glmer_overdispersion.json, made by make_glmer_overdispersion.R)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lmeformula as lmf

REF = json.loads((Path(__file__).parent / "reference" / "glmer_overdispersion.json").read_text())

CASES = [
    (
        "owls",
        "owls",
        "SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest)",
    ),
    ("salamanders", "salamanders", "count ~ spp + mined + (1 | site)"),
]


@pytest.mark.parametrize(("name", "dataset", "formula"), CASES, ids=[c[0] for c in CASES])
def test_check_overdispersion(name: str, dataset: str, formula: str) -> None:
    ref = REF[name]  # R: performance::check_overdispersion(m)
    got = lmf.glmer(formula, lmf.datasets.load(dataset), family="poisson").check_overdispersion()
    assert got["rdf"] == ref["rdf"]
    # The Pearson residuals within the predictions' tolerance (2e-3) of R's, row by row.
    assert got["chisq"] == pytest.approx(ref["chisq"], rel=2e-3)
    assert got["ratio"] == pytest.approx(ref["ratio"], rel=2e-3)


def test_overdispersion_refuses_binomial() -> None:
    fit = lmf.glmer(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", lmf.datasets.load("cbpp")
    )
    with pytest.raises(lmf.errors.ArgumentTypeError, match="count models"):
        fit.check_overdispersion()


def test_binned_residuals_match_performance() -> None:
    import numpy as np

    ref = json.loads((Path(__file__).parent / "reference" / "glmer_binned.json").read_text())
    ref = ref["contraception"]  # R: as.data.frame(performance::binned_residuals(m))
    fit = lmf.glmer(
        "use ~ age + I(age^2) + urban + livch + (1 | district)",
        lmf.datasets.load("contraception"),
    )
    table = fit.binned_residuals()
    assert list(table["n"]) == ref["n"]
    for ours, theirs in (("xbar", "xbar"), ("ybar", "ybar"), ("se", "se"), ("x_lo", "x.lo")):
        np.testing.assert_allclose(table[ours], ref[theirs], atol=2e-3)
    assert list(table["group"]) == ref["group"]


def test_plots_of_a_glmer_fit() -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (the test extras have it)")
    fit = lmf.glmer("use ~ age + urban + (1 | district)", lmf.datasets.load("contraception"))
    fig = fit.plot_caterpillar()
    assert len(fig.axes) == 1  # one grouping factor, one term
    fig = fit.plot_residuals()
    assert fig.axes[0].get_ylabel() == "Pearson residuals"
    fig = fit.plot_binned_residuals()
    ax = fig.axes[0]
    table = fit.binned_residuals()
    inside = next(ln for ln in ax.get_lines() if ln.get_gid() == "inside")
    assert len(inside.get_xdata()) == int((table["group"] == "yes").sum())


def test_icc_and_r2_of_a_negative_binomial_fit() -> None:
    # R (lme4 1.1.31, performance 0.10.2): mnb <- glmer.nb(SiblingNegotiation ~
    # FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest), Owls);
    # icc(mnb): 0.1063864148, 0.0967735699; r2_nakagawa(mnb): 0.1871313933, 0.0903578233.
    owls = lmf.datasets.load("owls")
    fit = lmf.glmer_nb(
        "SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest)",
        owls,
    )
    icc, r2 = fit.icc(), fit.r2()
    tol = 2e-3  # the tolerance for ICC and R²; measured 5e-7
    assert abs(icc["adjusted"] - 0.1063864148) < tol
    assert abs(icc["unadjusted"] - 0.0967735699) < tol
    assert abs(r2["conditional"] - 0.1871313933) < tol
    assert abs(r2["marginal"] - 0.0903578233) < tol
