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
