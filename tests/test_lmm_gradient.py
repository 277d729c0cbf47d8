"""The exact gradient in θ of the Gaussian profiled deviance and REML criterion
(engines/lmm_gradient.py) against Richardson-extrapolated central differences of the
blocked engine's deviance, on a table of designs covering each factor and structure it
runs on, at a boundary, and its absence where it would not be exact."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
from lmeformula.engines import lmm_gradient as lg
from lmeformula.engines.blocked import BlockedPLS
from lmeformula.fitting.stages import build_model


def _differences(fn: Callable[[np.ndarray], float], par: np.ndarray) -> np.ndarray:
    """Central differences at steps h and h/2 (h = 1e-3 max(1, |x|)), extrapolated."""
    out = np.empty(par.size)
    for i in range(par.size):
        h = 1e-3 * max(1.0, abs(par[i]))
        d = []
        for step in (h, h / 2):
            e = np.zeros(par.size)
            e[i] = step
            d.append((fn(par + e) - fn(par - e)) / (2 * step))
        out[i] = (4 * d[1] - d[0]) / 3
    return out


@cache
def _data(name: str) -> pd.DataFrame:
    if name == "nested":
        # (1 | a/b): b's 4 levels inside each of 30 a's.
        rng = np.random.default_rng(7)
        n = 600
        a, b, x = rng.integers(0, 30, n), rng.integers(0, 4, n), rng.normal(size=n)
        y = x + rng.normal(0, 1, 30)[a] + rng.normal(0, 0.5, 120)[a * 4 + b]
        y += rng.normal(size=n)
        return pd.DataFrame({"y": y, "x": x, "a": a.astype(str), "b": b.astype(str)})
    if name == "crossed":
        # g's 70 levels crossed with h's 6: couplings small and dense enough to be held
        # dense.
        rng = np.random.default_rng(11)
        n = 900
        g, h, x = rng.integers(0, 70, n), rng.integers(0, 6, n), rng.normal(size=n)
        y = x * (1 + rng.normal(0, 0.4, 70)[g]) + rng.normal(0, 1, 70)[g]
        y += rng.normal(0, 0.7, 6)[h] + rng.normal(size=n)
        return pd.DataFrame({"y": y, "x": x, "g": g.astype(str), "h": h.astype(str)})
    if name == "insteval_subset":
        return lmf.datasets.load("insteval").iloc[:4000]
    if name == "sleepstudy_weighted":
        d = lmf.datasets.load("sleepstudy").copy()
        d["w"] = np.random.default_rng(3).uniform(0.5, 2.0, len(d))
        return d
    return lmf.datasets.load(name)


CASES = [
    # (data, formula, weights): the factor and structure each exercises
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", None),  # one vector term, dense
    ("sleepstudy", "Reaction ~ Days + (Days || Subject)", None),  # two scalar terms, one factor
    ("sleepstudy_weighted", "Reaction ~ Days + (Days | Subject)", "w"),  # prior weights
    ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", None),  # crossed, dense
    ("machines", "score ~ Machine + (0 + Machine | Worker)", None),  # 3 x 3 blocks
    ("exam", "normexam ~ standLRT + (1 + standLRT | school)", None),  # vector term, blocked
    ("nested", "y ~ x + (1 | a/b)", None),  # nested, blocked, scalar couplings
    ("nested", "y ~ x + (x | a) + (1 | a:b)", None),  # vector first term beside a scalar
    ("crossed", "y ~ x + (1 | g) + (1 | h)", None),  # scalar terms, dense couplings
    ("crossed", "y ~ x + (x | g) + (1 | h)", None),  # vector first term, dense couplings
    ("crossed", "y ~ x + (1 | g) + (x | h)", None),  # vector later term
    (
        "insteval_subset",
        "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)",
        None,
    ),  # three crossed scalar terms, sparse couplings
    ("insteval_subset", "y ~ service + (service | s) + (1 | d)", None),  # vector + crossed
]


def _engine(case: tuple[str, str, str | None], reml: bool) -> BlockedPLS:
    name, formula, weights = case
    model = build_model(formula, _data(name), reml=reml, weights=weights)
    return BlockedPLS(model.design, reml)


def _theta(engine: BlockedPLS, seed: int = 1) -> np.ndarray:
    # Away from lme4's start, where some components of the gradient vanish by symmetry.
    rng = np.random.default_rng(seed)
    th = np.asarray(engine.layout.start, dtype=float)
    return th * (1 + 0.3 * rng.uniform(size=th.size)) + 0.05 * rng.normal(size=th.size)


def _check(engine: BlockedPLS, theta: np.ndarray) -> float:
    fac = engine.factor.update(theta, keep=True)
    g = lg.lmm_gradient(engine.design, fac, theta, engine.reml)
    assert g is not None
    ref = _differences(engine.deviance, theta)
    return float(np.max(np.abs(g - ref)) / max(1.0, float(np.max(np.abs(ref)))))


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_gradient_matches_differences(case: tuple[str, str, str | None], reml: bool) -> None:
    engine = _engine(case, reml)
    assert _check(engine, _theta(engine)) < 1e-6


@pytest.mark.parametrize("case", [CASES[i] for i in (0, 4, 6, 9, 12)], ids=str)
def test_row_sums_where_a_diagonal_vanishes(case: tuple[str, str, str | None]) -> None:
    # A Λ_t with a zero on its diagonal (a boundary the optimiser reaches): ∂ log|H| is
    # then summed over the rows, Λ_t not being invertible.
    engine = _engine(case, True)
    theta = _theta(engine)
    theta[0] = 0.0
    assert _check(engine, theta) < 1e-6


@pytest.mark.parametrize("case", [CASES[i] for i in (4, 8, 9, 10, 11)], ids=str)
def test_both_log_determinant_paths_agree(
    case: tuple[str, str, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(case, False)
    theta = _theta(engine, seed=4)
    fac = engine.factor.update(theta, keep=True)
    by_blocks = lg.lmm_gradient(engine.design, fac, theta, False)
    monkeypatch.setattr(lg, "MIN_DIAGONAL", np.inf)
    by_rows = lg.lmm_gradient(engine.design, fac, theta, False)
    assert by_blocks is not None and by_rows is not None
    np.testing.assert_allclose(by_blocks, by_rows, rtol=1e-9, atol=1e-9)


def test_gradient_vanishes_at_the_fit() -> None:
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    engine = BlockedPLS(fit.state.design, True)
    fac = engine.factor.update(fit.theta, keep=True)
    g = lg.lmm_gradient(fit.state.design, fac, fit.theta, True)
    assert g is not None and np.max(np.abs(g)) < 1e-3


def test_none_where_lambda_is_not_theta_among_zeros() -> None:
    model = build_model("score ~ Machine + cs(0 + Machine | Worker)", _data("machines"))
    engine = BlockedPLS(model.design, True)
    theta = np.asarray(engine.layout.start, dtype=float)
    fac = engine.factor.update(theta, keep=True)
    assert lg.lmm_gradient(model.design, fac, theta, True) is None
