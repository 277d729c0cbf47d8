"""lmerTest's F tests of types I, II and III with Satterthwaite and Kenward-Roger
denominator df, on models with several terms and interactions.

Expected values: tests/reference/anova_types.json, written by
tests/reference/make_anova_types.R (``anova(lmer(...), type = t, ddf = d)``, lmerTest 3.1.3;
each entry carries its ``r_call``). Tolerances: F and sums of squares within 0.2%,
denominator df within 1% (Satterthwaite) and 2% (Kenward-Roger), p-values within 2%.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

import lmeformula as lmf

CASES = [
    {
        k: v[0] if k in ("id", "dataset", "formula", "type", "ddf", "r_call") else v
        for k, v in c.items()
    }
    for c in json.loads((Path(__file__).parent / "reference" / "anova_types.json").read_text())
]


@cache
def _fit(formula: str, dataset: str) -> lmf.LmerResult:
    return lmf.lmer(formula, lmf.datasets.load(dataset))


@pytest.mark.parametrize("case", CASES, ids=[f"{c['id']}-{c['type']}-{c['ddf']}" for c in CASES])
def test_anova_as_lmertest(case: dict) -> None:
    ddf = case["ddf"].lower()
    table = _fit(case["formula"], case["dataset"]).anova(type=case["type"], ddf=ddf)
    assert list(table.index) == case["term"]
    df_tol = 0.01 if ddf == "satterthwaite" else 0.02
    for col, tol in [("f_value", 2e-3), ("sum_sq", 2e-3), ("den_df", df_tol), ("p_value", 0.02)]:
        np.testing.assert_allclose(table[col], case[col], rtol=tol, atol=1e-300, err_msg=col)
    np.testing.assert_array_equal(table["num_df"], case["num_df"])


def test_heading_and_bad_type() -> None:
    fit = _fit("distance ~ age * Sex + (age | Subject)", "orthodont")
    heading = fit.anova(type=2, ddf="kenward-roger").attrs["heading"]
    assert heading == "Type II Analysis of Variance Table with Kenward-Roger's method"
    with pytest.raises(lmf.errors.ArgumentTypeError, match="type must be 1, 2 or 3"):
        fit.anova(type="III")
