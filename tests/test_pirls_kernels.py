"""The compiled PIRLS (lmeformula.engines.pirls_kernels: one term by its blocks, several
terms of a small system dense) against the Python loop it replaces there: the same modes,
deviance and factor for every family and link of R's that the kernels write out, at fixed
β (Laplace), with β free (nAGQ = 0) and rough.

The Python loop is reached by a subclass of the family (the kernel takes R's own family
types only, since a subclass may rewrite a function). Tolerances: both loops stop when a
step moves (u, β) by less than 1e-10 relative, so the modes agree to about that; the
deviances to 1e-9 relative."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
from lmeformula.engines import pirls as pirls_module
from lmeformula.engines.factor import BlockedFactor
from lmeformula.engines.pirls import GlmData, pirls
from lmeformula.families import Family
from lmeformula.fitting.stages import build_model


def _python_twin(family: Family) -> Family:
    """The same family as a subclass: the Python loop's."""
    sub = type("Py" + type(family).__name__, (type(family),), {})
    return sub(**{f.name: getattr(family, f.name) for f in dataclasses.fields(family)})


def _simulated(family: str, link: str, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(12), 15)
    x = rng.uniform(-1, 1, g.size)
    b = rng.normal(0, 0.4, 12)[g]
    eta = 0.3 + 0.5 * x + b
    inv = {
        "logit": lambda e: 1 / (1 + np.exp(-e)),
        "probit": lambda e: 0.5 * (1 + np.tanh(0.8 * e)),
        "cloglog": lambda e: 1 - np.exp(-np.exp(e - 0.5)),
        "cauchit": lambda e: 0.5 + np.arctan(e) / np.pi,
        "log": lambda e: np.exp(e),
        "identity": lambda e: 2.0 + e,
        "sqrt": lambda e: (1.5 + e) ** 2,
        "inverse": lambda e: 1.0 / (1.5 + 0.3 * e),
        "1/mu^2": lambda e: 1.0 / np.sqrt(2.0 + 0.5 * e),
    }[link]
    mu = inv(eta)
    if family == "binomial":
        if link == "log":
            mu = np.exp(eta - 1.5)
        y = rng.binomial(1, mu).astype(float)
    elif family in ("poisson", "negbin"):
        y = rng.poisson(mu * (rng.gamma(3.0, 1 / 3.0, g.size) if family == "negbin" else 1))
        y = y.astype(float)
    elif family == "Gamma":
        y = rng.gamma(4.0, mu / 4.0)
    elif family == "inverse.gaussian":
        y = rng.wald(mu, 6.0)
    else:
        y = mu + rng.normal(0, 0.3, g.size)
    h = np.tile(np.arange(5), 36)
    many = np.arange(g.size) % 45
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "g": [f"g{k}" for k in g],
            "h": [f"h{k}" for k in h],
            "m": [f"m{k}" for k in many],
            # 60 x 3, every pair once: the crossed kernel's fully crossed pattern.
            "f": [f"f{k}" for k in np.arange(g.size) % 60],
            "c": [f"c{k}" for k in np.arange(g.size) // 60],
        }
    )


CASES = [
    # (family constructor, link, response family used to simulate)
    (lmf.families.binomial, "logit", "binomial"),
    (lmf.families.binomial, "probit", "binomial"),
    (lmf.families.binomial, "cloglog", "binomial"),
    (lmf.families.binomial, "cauchit", "binomial"),
    (lmf.families.poisson, "log", "poisson"),
    (lmf.families.poisson, "sqrt", "poisson"),
    (lmf.families.poisson, "identity", "poisson"),
    (lmf.families.Gamma, "log", "Gamma"),
    (lmf.families.Gamma, "inverse", "Gamma"),
    (lmf.families.Gamma, "identity", "Gamma"),
    (lmf.families.inverse_gaussian, "1/mu^2", "inverse.gaussian"),
    (lmf.families.inverse_gaussian, "log", "inverse.gaussian"),
    (lmf.families.gaussian, "log", "gaussian"),
]


#: One term (the one-term kernel), two crossed terms of a small system (the dense kernel)
#: and three terms beyond a small system (the crossed kernel: 45 or 90 effects first, or
#: 60 each crossed with all 3 of the later term's, its BLAS update).
TERMS = {
    "one term": "(1 | g)",
    "slopes": "(x | g)",
    "crossed": "(1 | g) + (1 | h)",
    "crossed, not small": "(1 | m) + (1 | g) + (1 | h)",
    "slopes, not small": "(x | m) + (1 | h)",
    "fully crossed, not small": "(1 | f) + (1 | c)",
}
KERNELS = [
    "one term",
    "crossed",
    "crossed, not small",
    "slopes, not small",
    "fully crossed, not small",
]


def _setup(make, link: str, sim: str, terms: str = "one term"):  # type: ignore[no-untyped-def]
    data = _simulated(sim, link)
    rhs = TERMS[terms]
    model = build_model(f"y ~ x + {rhs}", data, family=make(link=link))
    d = model.design
    assert model.family is not None and model.trials is not None
    wt = d.weights if d.weights is not None else np.ones(d.y.size)
    gd = GlmData(model.family, d.y, wt, model.trials, d.offset)
    return d, gd


def _pair(d, gd, theta, beta, **kw):  # type: ignore[no-untyped-def]
    u0 = np.zeros(sum(t.q for t in d.terms))
    # A kernel takes this model (else both runs would be the loop's).
    assert pirls_module._kernel_codes(gd.family) is not None
    small = BlockedFactor(d).dense_system(theta) is not None
    q = [t.q for t in d.terms]
    assert len(q) == 1 or small or sum(q[1:]) ** 2 * q[0] <= pirls_module.CROSSED_WORK
    compiled = pirls(BlockedFactor(d), gd, theta, beta, u0, **kw)
    py = dataclasses.replace(gd, family=_python_twin(gd.family))
    loop = pirls(BlockedFactor(d), py, theta, beta, u0, **kw)
    return compiled, loop


def _agree(a, b, n: int) -> None:  # type: ignore[no-untyped-def]
    assert a.converged and b.converged
    np.testing.assert_allclose(a.u, b.u, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(a.mu, b.mu, rtol=1e-8)
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-7)
    assert a.dev == pytest.approx(b.dev, rel=1e-9)
    ca, cb = a.fac.criteria(n, False, 0.0), b.fac.criteria(n, False, 0.0)
    assert ca.logdet_L == pytest.approx(cb.logdet_L, rel=1e-8, abs=1e-9)
    np.testing.assert_allclose(a.fac.cond_var(), b.fac.cond_var(), rtol=1e-7)


@pytest.mark.parametrize("terms", KERNELS)
@pytest.mark.parametrize(("make", "link", "sim"), CASES, ids=[f"{c[2]}-{c[1]}" for c in CASES])
def test_fixed_beta_modes_equal_the_python_loop(make, link: str, sim: str, terms: str) -> None:  # type: ignore[no-untyped-def]
    d, gd = _setup(make, link, sim, terms)
    q = sum(t.q for t in d.terms)
    theta = np.where(d.start > 0, 0.6, 0.1)
    # β at the GLM's: a point every link's domain holds.
    start = dataclasses.replace(gd, family=_python_twin(gd.family))
    fast = pirls(
        BlockedFactor(d),
        start,
        np.zeros(d.start.size),
        None,
        np.zeros(q),
        gd.family.link.link(gd.family.mustart(gd.y, gd.wt)),
    )
    a, b = _pair(d, gd, theta, fast.beta)
    assert a.steps == b.steps
    _agree(a, b, d.y.size)


@pytest.mark.parametrize("terms", KERNELS)
@pytest.mark.parametrize(("make", "link", "sim"), CASES, ids=[f"{c[2]}-{c[1]}" for c in CASES])
def test_free_beta_modes_equal_the_python_loop(make, link: str, sim: str, terms: str) -> None:  # type: ignore[no-untyped-def]
    d, gd = _setup(make, link, sim, terms)
    eta0 = gd.family.link.link(gd.family.mustart(gd.y, gd.wt))
    a, b = _pair(d, gd, np.where(d.start > 0, 0.6, 0.1), None, eta0=eta0)
    _agree(a, b, d.y.size)


def test_negative_binomial_and_random_slopes() -> None:
    d, gd = _setup(lmf.families.poisson, "log", "negbin", "slopes")
    nb = dataclasses.replace(gd, family=lmf.families.negative_binomial(theta=2.5))
    a, b = _pair(d, nb, np.array([0.5, 0.1, 0.3]), np.array([0.3, 0.5]))
    _agree(a, b, d.y.size)


def test_rough_stops_earlier_with_the_same_modes_to_its_tolerance() -> None:
    d, gd = _setup(lmf.families.binomial, "logit", "binomial")
    a, b = _pair(d, gd, np.array([0.6]), np.array([0.3, 0.5]), rough=True)
    assert a.steps == b.steps
    np.testing.assert_allclose(a.u, b.u, atol=1e-6)


def test_cbpp_takes_the_compiled_kernel_and_user_families_the_loop() -> None:
    model = build_model(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        lmf.datasets.load("cbpp"),
        family=lmf.families.binomial(),
    )
    assert model.family is not None
    assert pirls_module._kernel_codes(model.family) == (0, 0, 0.0)
    assert pirls_module._kernel_codes(_python_twin(model.family)) is None
    assert BlockedFactor(model.design).dense_system(np.array([0.6])) is not None


def test_whole_fits_equal_the_python_loop() -> None:
    cbpp = lmf.datasets.load("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    a = lmf.glmer(f, cbpp, family=lmf.families.binomial())
    b = lmf.glmer(f, cbpp, family=_python_twin(lmf.families.binomial()))
    # R: logLik(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
    #   binomial)) = -92.02628; both loops reach the same optimum.
    assert a.loglik == pytest.approx(-92.02628, abs=2e-3)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-7)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-5)


def test_bad_weights_raise_as_the_loop_does() -> None:
    d, gd = _setup(lmf.families.Gamma, "inverse", "Gamma")
    # η = 0 everywhere: the inverse link's μ is infinite, so no step is valid from there.
    with pytest.raises((ValueError, np.linalg.LinAlgError, FloatingPointError)):
        pirls(BlockedFactor(d), gd, np.array([0.6]), np.array([0.0, 0.0]), np.zeros(12))
