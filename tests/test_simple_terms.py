"""Random-term designs built without formulaic equal formulaic's: the same matrix, column
names and spec for new data; anything not simple goes to formulaic (None)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
from lmeformula.model.design import formula_matrix
from lmeformula.model.simple_terms import simple_lhs

DATA = pd.DataFrame(
    {
        "x": [1.0, 2.0, 3.5, 4.0, 5.0, 6.0],
        "k": [1, 2, 3, 1, 2, 3],
        "f": ["b", "a", "c", "b", "a", "c"],
        "b": [True, False, True, False, True, False],
        "c": pd.Categorical(["u", "v", "u", "v", "u", "v"]),
    }
)

SIMPLE = [
    ("1", ["Intercept"]),
    ("1 + x", ["Intercept", "x"]),
    ("0 + x", ["x"]),
    ("1 + x + k", ["Intercept", "x", "k"]),
    ("0 + f", ["f[a]", "f[b]", "f[c]"]),
    ("1 + f", ["Intercept", "f[T.b]", "f[T.c]"]),
    ("0 + f + x", ["f[a]", "f[b]", "f[c]", "x"]),
]


@pytest.mark.parametrize(("text", "names"), SIMPLE, ids=[t for t, _ in SIMPLE])
def test_simple_terms_equal_formulaic(text: str, names: list[str]) -> None:
    ours = simple_lhs(text, DATA)
    theirs = formula_matrix(text, DATA, "a test")
    assert ours is not None
    assert list(ours.columns) == list(theirs.columns) == names
    np.testing.assert_array_equal(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float))
    new = DATA.iloc[[2, 0]]
    np.testing.assert_array_equal(
        np.asarray(ours.model_spec.get_model_matrix(new), dtype=float),
        np.asarray(theirs.model_spec.get_model_matrix(new), dtype=float),
    )


NOT_SIMPLE = ["1 + log(x)", "0 + x:k", "1 + b", "0 + c", "0 + x + f", "0 + f + f", "1 + `x`"]


@pytest.mark.parametrize("text", NOT_SIMPLE)
def test_other_terms_go_to_formulaic(text: str) -> None:
    assert simple_lhs(text, DATA) is None


def test_fits_and_predictions_unchanged() -> None:
    # R: lmer(score ~ Machine + (0 + Machine | Worker), Machines): logLik -104.1556 (REML)
    fit = lmf.lmer("score ~ Machine + (0 + Machine | Worker)", lmf.datasets.load("machines"))
    assert fit.loglik == pytest.approx(-104.1556, abs=1e-3)
    assert list(fit.varcorr()["var1"][:3]) == ["MachineA", "MachineB", "MachineC"]
    new = lmf.datasets.load("machines").iloc[:3]
    np.testing.assert_allclose(fit.predict(new), fit.fitted()[:3], rtol=1e-12)
