"""The compiled objective of small models whose terms are all scalar
(lmm_kernels.ScalarTermsObjective: the first term's diagonal block eliminated first)
against the dense system's (lmm_kernels.DenseObjective, which factors the whole system):
the same deviance and gradient on a table of designs, at interior points and at the
boundary, for REML and ML, with and without prior weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
from lmeformula.engines.blocked import BlockedPLS
from lmeformula.engines.lmm_kernels import DenseObjective, ScalarTermsObjective
from lmeformula.fitting.stages import build_model


def _crossed(seed: int = 5) -> pd.DataFrame:
    # Three scalar factors, g crossed with h and k, unbalanced: dense couplings of every
    # pattern the small system holds.
    rng = np.random.default_rng(seed)
    n = 400
    g, h, k, x = (
        rng.integers(0, 40, n),
        rng.integers(0, 7, n),
        rng.integers(0, 3, n),
        rng.normal(size=n),
    )
    y = x + rng.normal(0, 1, 40)[g] + rng.normal(0, 0.6, 7)[h] + rng.normal(0, 0.3, 3)[k]
    w = rng.uniform(0.5, 2.0, n)
    return pd.DataFrame({"y": y + rng.normal(size=n), "x": x, "g": g, "h": h, "k": k, "w": w})


#: (data, formula, weights column)
CASES = [
    ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", None),
    ("pastes", "strength ~ 1 + (1 | batch) + (1 | cask:batch)", None),  # nested
    ("crossed", "y ~ x + (1 | g) + (1 | h) + (1 | k)", None),  # three terms, a slope in X
    ("crossed", "y ~ x + (1 | g) + (0 + x | h)", "w"),  # a scalar slope term, weights
]


def _objectives(
    case: tuple[str, str, str | None], reml: bool
) -> tuple[DenseObjective, ScalarTermsObjective]:
    name, formula, weights = case
    data = _crossed() if name == "crossed" else lmf.datasets.load(name)
    engine = BlockedPLS(build_model(formula, data, reml=reml, weights=weights).design, reml)
    objective = engine.objective
    assert isinstance(objective, ScalarTermsObjective)
    f = engine.factor
    s = f._small
    assert s is not None
    dense = DenseObjective(
        s.ZtZ, s.ZtXy, f.XyXy, engine.n, reml, f.log_weights, s.theta_flat, s.theta_src,
        s.theta_rows, s.theta_cols, objective.size, True,
    )  # fmt: skip
    return dense, objective


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("case", CASES, ids=[c[1] for c in CASES])
def test_equals_the_dense_system(case: tuple[str, str, str | None], reml: bool) -> None:
    dense, scalar = _objectives(case, reml)
    rng = np.random.default_rng(2)
    size = scalar.size
    points = [rng.uniform(0.05, 3.0, size) for _ in range(3)]
    points += [
        np.r_[0.0, rng.uniform(0.2, 2.0, size - 1)],
        np.r_[rng.uniform(0.2, 2, size - 1), 0.0],
    ]
    for theta in points:
        a, b = dense.gradient(theta), scalar.gradient(theta)
        assert a is not None and b is not None
        assert b[0] == pytest.approx(a[0], rel=1e-12), theta
        np.testing.assert_allclose(b[1], a[1], rtol=1e-8, atol=1e-8 * max(1.0, abs(a[0])))
        assert scalar.deviance(theta) == b[0]


def test_first_term_must_leave_a_later_one() -> None:
    z = np.eye(3)
    with pytest.raises(ValueError, match="lead must be between 1 and q - 1 = 2; got 3"):
        ScalarTermsObjective(z, np.zeros((3, 2)), np.eye(2), 10, True, 0.0, [0], [0], 1, 3)
