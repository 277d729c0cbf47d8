"""The exact gradient of the Laplace deviance (engines/laplace_gradient.py) against
Richardson-extrapolated central differences of the deviance itself, on every kind of
factor it runs on, and its absence where it would not be exact."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
from lmeformula.engines.laplace import has_exact_gradient
from lmeformula.fitting.stages import build_model, make_engine


def _simulated(n: int = 1500, ns: int = 80, ni: int = 12) -> pd.DataFrame:
    # A vector first term (x | s) beside a scalar crossed term, as the benchmark's binary
    # model, small (its coupling dense), or sparse (few rows per subject and item).
    rng = np.random.default_rng(5)
    s, i, x = rng.integers(0, ns, n), rng.integers(0, ni, n), rng.normal(size=n)
    eta = -0.2 + 0.5 * x + rng.normal(0, 1, ns)[s] + rng.normal(0, 0.8, ns)[s] * x
    eta += rng.normal(0, 0.6, ni)[i]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "s": s.astype(str), "i": i.astype(str)})


CASES = [
    # (data, formula, family): the factor each exercises
    ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),  # dense
    ("contraception", "use ~ age + urban + (urban | district)", "binomial"),  # one vector term
    ("verbagg", "r2 ~ Anger + Gender + btype + (1 | id) + (1 | item)", "binomial"),  # crossed
    (
        "grouseticks",
        "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
        "poisson",
    ),  # three scalar terms, one per row
    ("owls", "SiblingNegotiation ~ FoodTreatment + offset(logBroodSize) + (1 | Nest)", "poisson"),
    ("simulated", "y ~ x + (x | s) + (1 | i)", "binomial"),  # vector term beside a scalar
    ("sparse", "y ~ x + (x | s) + (1 | i)", "binomial"),  # the same, coupled sparsely
]


def _differences(fn: Callable[[np.ndarray], float], par: np.ndarray) -> np.ndarray:
    """Central differences at steps h and h/2 (h = 1e-3 max(1, |x|)), extrapolated:
    an error of O(h⁴), about 1e-9 here, above the deviance's rounding over h."""
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


def _load(name: str) -> pd.DataFrame:
    if name == "simulated":
        return _simulated()
    if name == "sparse":
        return _simulated(3000, 600, 500)
    return lmf.datasets.load(name)


@pytest.mark.parametrize("fast", [False, True], ids=["laplace", "nagq0"])
@pytest.mark.parametrize(("dataset", "formula", "family"), CASES)
def test_gradient_equals_differences_of_the_deviance(
    dataset: str, formula: str, family: str, fast: bool
) -> None:
    # fast (nAGQ = 0): β found inside PIRLS with u, so the gradient in θ carries the motion
    # of both modes (the joint system's solve); without β's part it is off by about 2 %.
    data = _load(dataset)
    model = build_model(formula, data, family=lmf.families.as_family(family))
    engine = make_engine(model, fast=fast)
    with warnings.catch_warnings():
        # The sparse case's item variance is estimated as 0: the fit only gives a point.
        warnings.simplefilter("ignore", lmf.SingularFitWarning)
        fit = lmf.glmer(formula, data, family=family, nagq=0 if fast else 1)
    # Away from the optimum, where the gradient is not ~0, and off every bound.
    par = fit.theta if fast else np.concatenate([fit.theta, fit.fixef.to_numpy()])
    par = par * 1.05 + 0.02
    exact = engine.gradient(par)
    assert exact is not None and exact.size == par.size
    numeric = _differences(engine.deviance, par)
    # The differences' error is ~1e-9 and the modes converge to 1e-10, so 1e-6 relative
    # (of max(1, |g|)) separates a wrong term (whose error is of the gradient's size) from
    # rounding.
    scale = np.maximum(1.0, np.abs(numeric))
    assert np.max(np.abs(exact - numeric) / scale) < 1e-6


NO_GRADIENT = [
    # (formula, family, nagq, why): finite differences there
    ("r2 ~ btype + (1 | id)", lmf.families.binomial(link="probit"), 1, "non-canonical link"),
    ("r2 ~ btype + (1 | id)", "binomial", 5, "quadrature"),
    ("r2 ~ btype + (1 | id) + cs(0 + btype | item)", "binomial", 1, "Λ not θ among zeros"),
]


@pytest.mark.parametrize(("formula", "family", "nagq", "why"), NO_GRADIENT)
def test_no_gradient_where_it_would_not_be_exact(
    formula: str, family: object, nagq: int, why: str
) -> None:
    fam = lmf.families.as_family(family)
    model = build_model(formula, lmf.datasets.load("verbagg"), family=fam)
    assert not has_exact_gradient(model.design, fam, nagq), why


def test_no_gradient_for_a_dispersion_family() -> None:
    data = lmf.datasets.load("gammasim")
    fam = lmf.families.Gamma(link="log")
    model = build_model("y ~ x + (1 | g)", data, family=fam)
    assert not has_exact_gradient(model.design, fam, 1)


HESSIAN_CASES = [
    # (data, formula, family): one random-effects term, where the β block is exact
    ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    ("contraception", "use ~ age + urban + livch + (urban | district)", "binomial"),
    ("owls", "SiblingNegotiation ~ FoodTreatment + offset(logBroodSize) + (1 | Nest)", "poisson"),
    ("salamanders", "count ~ spp + mined + (1 | site)", "poisson"),
]


def _beta_block(engine: object, par: np.ndarray) -> np.ndarray | None:
    curvature = engine.beta_curvature(par)  # type: ignore[attr-defined]
    assert curvature is not None
    _, block, exact = curvature
    return block if exact else None


@pytest.mark.parametrize(("dataset", "formula", "family"), HESSIAN_CASES)
def test_beta_hessian_equals_differences_of_the_gradient(
    dataset: str, formula: str, family: str
) -> None:
    data = _load(dataset)
    model = build_model(formula, data, family=lmf.families.as_family(family))
    engine = make_engine(model)
    fit = lmf.glmer(formula, data, family=family)
    # Away from the optimum (the log-determinant's terms there are not small) and off
    # every bound.
    par = np.concatenate([fit.theta, fit.fixef.to_numpy()]) * 1.05 + 0.02
    exact = _beta_block(engine, par)
    assert exact is not None
    beta = np.arange(par.size)[engine.layout.slice("beta")]
    numeric = np.column_stack(
        [_differences(lambda x, j=j: float(engine.gradient(x)[j]), par)[beta] for j in beta]
    )
    # The differences' error is ~1e-9 on a gradient exact to the modes' 1e-10; a missing
    # log-determinant term is of order 1e-2 of the block (the factor's 2 R_X'R_X alone).
    scale = np.max(np.abs(numeric))
    assert np.max(np.abs(exact - numeric)) < 1e-6 * scale
    Lx = engine.modes(par).fac.Lyy[: beta.size, : beta.size]
    assert np.max(np.abs(2 * Lx @ Lx.T - numeric)) > 1e-4 * scale


@pytest.mark.parametrize(
    ("dataset", "formula", "family"),
    [
        ("verbagg", "r2 ~ Anger + btype + (1 | id) + (1 | item)", "binomial"),  # crossed
        ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial_probit"),
    ],
)
def test_no_exact_beta_hessian_beyond_one_term_and_canonical_links(
    dataset: str, formula: str, family: str
) -> None:
    # The factor's 2 R_X'R_X there, which the Newton steps use and the returned Hessian
    # replaces by differences.
    fam = (
        lmf.families.binomial(link="probit")
        if family == "binomial_probit"
        else lmf.families.as_family(family)
    )
    model = build_model(formula, lmf.datasets.load(dataset), family=fam)
    engine = make_engine(model)
    par = engine.layout.start
    assert _beta_block(engine, par) is None


ONE_TERM = [c for c in CASES if c[0] in ("cbpp", "contraception", "owls")]


@pytest.mark.parametrize("fast", [False, True], ids=["laplace", "nagq0"])
@pytest.mark.parametrize(("dataset", "formula", "family"), ONE_TERM)
def test_one_term_kernel_equals_the_general_passes(
    dataset: str, formula: str, family: str, fast: bool
) -> None:
    # One term's gradient is one compiled call (laplace_kernels.block_gradient); without
    # the pattern's levels the same gradient comes from the selected inverse's rows. The
    # same sums in another order: equal to rounding.
    from lmeformula.engines.laplace_gradient import RowPattern, laplace_gradient

    model = build_model(formula, _load(dataset), family=lmf.families.as_family(family))
    engine = make_engine(model, fast=fast)
    par = engine.layout.start + 0.1
    r = engine.modes(par)
    theta = engine.layout.get(par, "theta")
    kernel = laplace_gradient(engine.design, engine.data, r, theta, RowPattern(engine.design), fast)
    general = RowPattern(engine.design)
    general.level = None
    passes = laplace_gradient(engine.design, engine.data, r, theta, general, fast)
    assert kernel is not None and passes is not None
    assert kernel == pytest.approx(passes, rel=1e-10, abs=1e-10 * np.max(np.abs(passes)))


def test_wide_levels_take_the_general_passes() -> None:
    # The block kernels hold a level's effects in a buffer of MAX_BLOCK: a term with more
    # (17 here) has no pattern levels, so its gradient and β block are the general ones.
    from lmeformula.engines.laplace_gradient import MAX_BLOCK, RowPattern

    rng = np.random.default_rng(3)
    n = 400
    data = pd.DataFrame(
        {
            "y": rng.integers(0, 2, n),
            "f": [f"l{j:02d}" for j in rng.integers(0, MAX_BLOCK + 1, n)],
            "g": rng.integers(0, 4, n).astype(str),
        }
    )
    wide = build_model("y ~ 1 + (0 + f | g)", data, family=lmf.families.binomial())
    narrow = build_model("y ~ 1 + (1 | g)", data, family=lmf.families.binomial())
    assert wide.design.terms[0].p == MAX_BLOCK + 1
    assert RowPattern(wide.design).level is None
    assert RowPattern(narrow.design).level is not None
