"""The engine contract (lmeformula/engines/protocol.py) on every lme4 reference design.

The designs are those of the lme4 cases of tests/reference/reference.json, of the models of
tests/reference/extra.json, of the partially crossed design and of the restart_edge design
(the loaders of test_reference.py, test_extra_reference.py, test_partially_crossed.py and
test_restart_edge.py), plus one small design whose structure is not θ among zeros (CS). On
each, at two generic θ and at the fit's:

1. the factory's engine is an ``Engine`` whose layout's "theta" block is the design's θ;
2. ``deviance(par) == solve(par).deviance`` exactly, for ``BlockedPLS``, ``OneFactorPLS``
   (one term) and the factory's engine;
3. those equal the dense reference implementation ``DensePLS``;
4. an exact gradient, where there is one, equals a Richardson-extrapolated central
   difference of the deviance, and there is one exactly on small UN / DIAG designs;
5. ``BlockedFactor.reweight`` equals a fresh factor with those weights, on the dense, the
   blocked and the symbolic-Schur paths;
6. ``with_response(y)`` equals a fresh engine on ``design.with_response(y)``.

No number here comes from R: every comparison is between two computations in lmeformula.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_extra_reference import MODELS as EXTRA_MODELS
from test_extra_reference import fit as extra_fit
from test_partially_crossed import MODELS as CROSSED_MODELS
from test_partially_crossed import fit as crossed_fit
from test_reference import CASES, LME4, fit_case
from test_restart_edge import _fit as restart_edge_fit

import lmeformula as lmf
from lmeformula.engines.blocked import BlockedPLS
from lmeformula.engines.dense import DensePLS
from lmeformula.engines.factor import SMALL_Q, BlockedFactor
from lmeformula.engines.factory import make_engine
from lmeformula.engines.onefactor import OneFactorPLS
from lmeformula.engines.protocol import Engine
from lmeformula.fitting.stages import build_model
from lmeformula.formula import parse
from lmeformula.model.design import Design, build_design
from lmeformula.model.frame import build_frame
from lmeformula.model.model import Model

#: The dense reference engine forms a q x q matrix: only up to this many random effects.
DENSE_MAX_Q = 2000
DEVIANCE_REL = 1e-10
ESTIMATE_REL = 1e-8
GRADIENT_REL = 1e-6
REWEIGHT_REL = 1e-10
RESPONSE_REL = 1e-12


def _machines_cs() -> lmf.LmerResult:
    # Not a reference case: a small design (q = 18) whose Λ is not θ among zeros, so that no
    # engine has an exact gradient on it.
    return lmf.lmer("score ~ Machine + cs(0 + Machine | Worker)", lmf.datasets.load("machines"))


#: case id -> the fit (its model is the design's, its θ the optimum's)
FITTED: dict[str, Callable[[], lmf.LmerResult]] = {
    **{c: partial(fit_case, c) for c in LME4 if c != "insteval_crossed"},
    **{c: partial(extra_fit, c) for c in EXTRA_MODELS},
    **{f"partially_crossed_{c}": partial(crossed_fit, c) for c in CROSSED_MODELS},
    "restart_edge": restart_edge_fit,
    "machines_cs": _machines_cs,
}
# InstEval (q = 4,128, 73,421 rows) is not refitted here: items 1 and 2 only, at generic θ.
INSTEVAL = "insteval_crossed"
ALL = [*FITTED, INSTEVAL]


def generic_theta(design: Design, seed: int) -> np.ndarray:
    """A generic θ (as test_cond_var._theta): components bounded below by 0 well inside,
    correlations non-zero, components bounded on both sides (CS's ρ) inside their range."""
    rng = np.random.default_rng(seed)
    lo, hi = design.lower, design.upper
    theta = np.where(lo == 0, 0.3 + rng.random(lo.size), rng.normal(scale=0.5, size=lo.size))
    both = np.isfinite(lo) & np.isfinite(hi)
    theta[both] = lo[both] + (hi[both] - lo[both]) * (0.25 + 0.5 * rng.random(int(both.sum())))
    return theta


@dataclass
class Case:
    model: Model
    thetas: list[np.ndarray]

    @property
    def design(self) -> Design:
        return self.model.design

    @property
    def q(self) -> int:
        return int(self.design.Z.shape[1])


_CASES: dict[str, Case] = {}


def case(case_id: str) -> Case:
    if case_id not in _CASES:
        if case_id == INSTEVAL:
            call = CASES[INSTEVAL]["call"]
            model = build_model(
                call["formula"], lmf.datasets.load(CASES[INSTEVAL]["dataset"]), reml=call["reml"]
            )
            thetas = [generic_theta(model.design, 0)]
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", lmf.SingularFitWarning)
                fit = FITTED[case_id]()
            model = fit.state.model
            theta = fit.state.layout.get(fit.state.params, "theta")
            thetas = [generic_theta(model.design, 0), generic_theta(model.design, 1), theta]
        _CASES[case_id] = Case(model, thetas)
    return _CASES[case_id]


def engines(c: Case) -> dict[str, Engine]:
    """The engines the contract is checked on: the blocked one, the one-factor one (one
    term) and the factory's."""
    out: dict[str, Engine] = {"BlockedPLS": BlockedPLS(c.design, c.model.reml)}
    if len(c.design.terms) == 1:
        out["OneFactorPLS"] = OneFactorPLS(c.design, c.model.reml)
    factory = make_engine(c.model)
    out[f"factory ({type(factory).__name__})"] = factory
    return out


def _close_estimates(ours: np.ndarray, ref: np.ndarray, rtol: float, what: str) -> None:
    # Relative, with an absolute floor at the vector's scale for entries near 0.
    scale = float(np.max(np.abs(ref), initial=0.0))
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=1e-2 * rtol * scale, err_msg=what)


# -- 1. the protocol and the layout ----------------------------------------------------------


@pytest.mark.parametrize("case_id", ALL)
def test_factory_engine_is_an_engine_with_the_designs_theta(case_id: str) -> None:
    c = case(case_id)
    engine = make_engine(c.model)
    assert isinstance(engine, Engine)
    assert engine.design is c.design and engine.reml == c.model.reml
    layout, design = engine.layout, c.design
    assert layout.names == ("theta",)
    assert layout.slice("theta") == slice(0, design.lower.size)
    (block,) = layout.blocks
    assert block.name == "theta" and block.size == design.lower.size == design.start.size
    np.testing.assert_array_equal(block.lower, design.lower)
    np.testing.assert_array_equal(block.upper, design.upper)
    np.testing.assert_array_equal(block.start, design.start)
    np.testing.assert_array_equal(layout.start, design.start)
    par = c.thetas[0]
    np.testing.assert_array_equal(layout.get(par, "theta"), par)
    assert isinstance(engine.largest_dense_block, int)


# -- 2. one code path for deviance and solve -------------------------------------------------


@pytest.mark.parametrize("case_id", ALL)
def test_deviance_is_the_solutions_deviance(case_id: str) -> None:
    c = case(case_id)
    mismatches = []
    for name, engine in engines(c).items():
        for theta in c.thetas:
            dev, sol = engine.deviance(theta), engine.solve(theta)
            if dev != sol.deviance:
                mismatches.append(f"{name} at {theta}: {dev!r} != {sol.deviance!r}")
    assert not mismatches, "\n".join(mismatches)


# -- 3. against the dense reference ----------------------------------------------------------


@pytest.mark.parametrize("case_id", [c for c in FITTED])
def test_engines_equal_the_dense_reference(case_id: str) -> None:
    c = case(case_id)
    assert c.q <= DENSE_MAX_Q
    dense = DensePLS(c.design, c.model.reml)
    for theta in c.thetas:
        ref = dense.solve(theta)
        for name, engine in engines(c).items():
            sol = engine.solve(theta)
            what = f"{name} at θ = {theta}"
            assert sol.deviance == pytest.approx(ref.deviance, rel=DEVIANCE_REL), what
            assert sol.ml_deviance == pytest.approx(ref.ml_deviance, rel=DEVIANCE_REL), what
            assert sol.sigma == pytest.approx(ref.sigma, rel=ESTIMATE_REL), what
            _close_estimates(sol.beta, ref.beta, ESTIMATE_REL, what + ": beta")
            _close_estimates(sol.b, ref.b, ESTIMATE_REL, what + ": b")
            if ref.u.size:
                _close_estimates(sol.u, ref.u, ESTIMATE_REL, what + ": u")
            # R_X is upper triangular with a positive diagonal, so unique: vcov(β)'s factor.
            _close_estimates(sol.RX, ref.RX, ESTIMATE_REL, what + ": RX")


# -- 4. exact gradients ----------------------------------------------------------------------


def richardson_gradient(
    fn: Callable[[np.ndarray], float], theta: np.ndarray, scale: float = 1e-3
) -> np.ndarray:
    """Central differences with steps h and 2h, h = scale max(1, |θ_i|), extrapolated:
    (4 D(h) - D(2h)) / 3 (error O(h⁴))."""

    def central(i: int, step: float) -> float:
        e = np.zeros(theta.size)
        e[i] = step
        return (fn(theta + e) - fn(theta - e)) / (2.0 * step)

    out = np.empty(theta.size)
    for i in range(theta.size):
        h = scale * max(1.0, abs(theta[i]))
        out[i] = (4.0 * central(i, h) - central(i, 2.0 * h)) / 3.0
    return out


def _has_exact_gradient(design: Design) -> bool:
    # Every Λ_k is θ placed among zeros (UN and DIAG terms), and the system is small and
    # dense (BlockedPLS) or has one grouping factor (OneFactorPLS).
    placed = all(t.structure.theta_positions() is not None for t in design.terms)
    small = int(design.Z.shape[1]) <= SMALL_Q
    return placed and (small or len(design.terms) == 1)


@pytest.mark.parametrize("case_id", list(FITTED))
def test_exact_gradient_equals_finite_differences(case_id: str) -> None:
    c = case(case_id)
    expected = _has_exact_gradient(c.design)
    checked = 0
    for name, engine in engines(c).items():
        for theta in c.thetas:
            g = engine.gradient(theta)
            if name == "BlockedPLS":
                assert (g is not None) == (expected and c.q <= SMALL_Q), (name, c.q)
            if name == "OneFactorPLS":
                assert (g is not None) == expected, (name, c.q)
            if g is None:
                continue
            assert g.shape == theta.shape
            tol = GRADIENT_REL * np.maximum(1.0, np.abs(g))
            fd = richardson_gradient(engine.deviance, theta)
            bad = np.abs(g - fd) > tol
            if bad.any():
                # Where the deviance bends sharply on the scale of h the extrapolation has
                # not converged (Orthodont at the optimum: θ_3 = 0.10, d²/dθ_3² = 3,300, the
                # error 2e-6 at h = 1e-3 and 1e-8 at 1e-4): a step ten times smaller must
                # then agree. A wrong gradient agrees with neither.
                fine = richardson_gradient(engine.deviance, theta, scale=1e-4)
                bad &= np.abs(g - fine) > tol
            assert not bad.any(), (name, theta, g, fd)
            checked += 1
    assert (checked > 0) == expected


# -- 5. reweighting the factor ---------------------------------------------------------------


def _design(formula: str, data: pd.DataFrame) -> Design:
    parsed = parse(formula, columns=list(data.columns))
    return build_design(parsed, build_frame(parsed, data))


def _symbolic_design() -> Design:
    # tests/test_engine.py::test_symbolic_schur_complement_equals_dense_engine's design:
    # crossed scalar terms, 700 subjects x 400 items, couplings above the dense limit.
    rng = np.random.default_rng(7)
    n = 6000
    subj, item = rng.integers(0, 700, n), rng.integers(0, 400, n)
    frame = pd.DataFrame(
        {
            "y": rng.normal(size=700)[subj] + rng.normal(size=400)[item] + rng.normal(size=n),
            "x": rng.normal(size=n),
            "subj": subj.astype(str),
            "item": item.astype(str),
            "site": (item % 13).astype(str),
        }
    )
    return _design("y ~ x + (1 | subj) + (1 | item) + (1 | site)", frame)


def _assert_same_factorisation(
    a: Any, b: Any, n: int, reml: bool, fa: BlockedFactor, fb: BlockedFactor
) -> None:
    """Two factorisations (of factors fa and fb) give the same criteria and solution."""
    ca, cb = a.criteria(n, reml, fa.log_weights), b.criteria(n, reml, fb.log_weights)
    for field in ("deviance", "ml_deviance", "pwrss", "logdet_L", "logdet_RX", "sigma"):
        assert getattr(ca, field) == pytest.approx(getattr(cb, field), rel=REWEIGHT_REL), field
    for x, y, what in zip(a.solve(), b.solve(), ("beta", "u", "b"), strict=True):
        _close_estimates(x, y, ESTIMATE_REL, what)


def _check_reweight(design: Design, theta: np.ndarray, path: str, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n = len(design.y)
    factor = BlockedFactor(design)
    if path == "symbolic":
        assert factor.schur
    # Twice: the second reweight refreshes values the first already refreshed.
    for _ in range(2):
        w = rng.uniform(0.3, 3.0, n)
        factor.reweight(w)
        fresh = BlockedFactor(replace(design, weights=w))
        assert factor.log_weights == pytest.approx(fresh.log_weights, rel=1e-14)
        if path == "symbolic":
            for key, cols in factor.schur.items():
                np.testing.assert_allclose(cols.data, fresh.schur[key].data, rtol=1e-13)
        for reml in (True, False):
            if path == "blocked":
                a, b = factor._blocked(theta), fresh._blocked(theta)
            else:
                a, b = factor.update(theta, keep=True), fresh.update(theta, keep=True)
            assert type(a) is type(b)
            _assert_same_factorisation(a, b, n, reml, factor, fresh)


#: (design, path): the dense path (q <= SMALL_Q), the blocked one forced on small designs
#: and taken by larger ones (dense and general sparse couplings), the symbolic Schur one.
REWEIGHT = {
    "penicillin_crossed-dense": ("penicillin_crossed", "dense"),
    "machines_un-dense": ("machines_un", "dense"),
    "sleep_offset-dense": ("sleep_offset", "dense"),
    "sleep_weights-dense": ("sleep_weights", "dense"),
    "penicillin_crossed-blocked": ("penicillin_crossed", "blocked"),
    "machines_un-blocked": ("machines_un", "blocked"),
    "machines_nested-blocked": ("machines_nested", "blocked"),
    "exam_two_terms-blocked": ("exam_two_terms", "blocked"),
    "partially_crossed_item_slopes-blocked": ("partially_crossed_item_slopes", "blocked"),
    "partially_crossed_subj_slopes_ml-blocked": ("partially_crossed_subj_slopes_ml", "blocked"),
}


@pytest.mark.parametrize("key", list(REWEIGHT))
def test_reweight_equals_a_fresh_factor(key: str) -> None:
    case_id, path = REWEIGHT[key]
    c = case(case_id)
    if path == "dense":
        assert c.q <= SMALL_Q
    for theta in c.thetas:
        _check_reweight(c.design, theta, path)


def test_reweight_equals_a_fresh_factor_on_the_symbolic_schur_path() -> None:
    design = _symbolic_design()
    assert not BlockedFactor(design).dense_coupling
    _check_reweight(design, np.array([0.7, 0.4, 0.9]), "symbolic")


def _value_arrays(f: BlockedFactor) -> dict[str, np.ndarray]:
    """The factor's weighted cross-products (its values), by name."""
    f.catch_up()
    out = {"A00": f.A00, "XyZ0": f.XyZ0, "XyXy": f.XyXy}
    out.update({f"Ak0[{k}]": a.toarray() for k, a in enumerate(f.Ak0)})
    out.update({f"XyZ[{k}]": a for k, a in enumerate(f.XyZ)})
    out.update({f"Adiag[{k}]": a for k, a in f.Adiag.items()})
    out.update({f"Adense[{k}]": a for k, a in f.Adense.items()})
    out.update({f"schur[{k}]": cols.data for k, cols in f.schur.items()})
    if f._small is not None:
        out.update({"small.ZtZ": f._small.ZtZ, "small.ZtXy": f._small.ZtXy})
    return out


#: The entries holding the response: the last row/column of the [X y] products. Everything
#: else depends on X, Z and the weights only.
def _response_part(name: str, a: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    if name == "XyXy":
        return a[p, :], a[:p, :p]
    if name == "XyZ0" or name.startswith("XyZ["):
        return a[p], a[:p]
    if name == "small.ZtXy":
        return a[:, p], a[:, :p]
    return np.zeros(0), a


@pytest.mark.parametrize("case_id", ["sleep_offset", "machines_nested", "exam_two_terms"])
def test_reweight_with_a_response_changes_only_the_response_products(case_id: str) -> None:
    c = case(case_id)
    design, n, p = c.design, len(c.design.y), c.design.X.shape[1]
    rng = np.random.default_rng(11)
    w = rng.uniform(0.3, 3.0, n)
    resp = design.y - design.offset + rng.normal(scale=np.std(design.y), size=n)
    with_resp, without = BlockedFactor(design), BlockedFactor(design)
    with_resp.reweight(w, response=resp)
    without.reweight(w)
    # The working response is taken with offsets already subtracted.
    fresh = BlockedFactor(replace(design.with_response(resp + design.offset), weights=w))
    ours, plain, ref = _value_arrays(with_resp), _value_arrays(without), _value_arrays(fresh)
    assert ours.keys() == plain.keys() == ref.keys()
    for name in ours:
        atol = 1e-12 * float(np.max(np.abs(ref[name]), initial=0.0))
        np.testing.assert_allclose(ours[name], ref[name], rtol=1e-12, atol=atol, err_msg=name)
        resp_ours, rest_ours = _response_part(name, ours[name], p)
        resp_plain, rest_plain = _response_part(name, plain[name], p)
        # What does not involve y is the plain reweight's, bit for bit; what does, moved.
        np.testing.assert_array_equal(rest_ours, rest_plain, err_msg=name)
        assert resp_ours.size == 0 or not np.array_equal(resp_ours, resp_plain), name
    for theta in c.thetas:
        for reml in (True, False):
            a, b = with_resp.update(theta, keep=True), fresh.update(theta, keep=True)
            _assert_same_factorisation(a, b, n, reml, with_resp, fresh)


# -- 6. another response ---------------------------------------------------------------------


@pytest.mark.parametrize("case_id", list(FITTED))
def test_with_response_equals_a_fresh_engine(case_id: str) -> None:
    c = case(case_id)
    design = c.design
    rng = np.random.default_rng(5)
    y = design.y + rng.normal(scale=np.std(design.y), size=design.y.size)
    engine = make_engine(c.model).with_response(y)
    fresh = make_engine(replace(c.model, design=design.with_response(y)))
    assert type(engine) is type(fresh)
    assert isinstance(engine, Engine)
    np.testing.assert_array_equal(engine.design.y, y)
    sw = np.ones(y.size) if design.weights is None else np.sqrt(design.weights)
    yty = float(np.sum((sw * (y - design.offset)) ** 2))
    for theta in c.thetas:
        a, b = engine.solve(theta), fresh.solve(theta)
        # The two sum y'y and y'[X Z] in different orders: pwrss = y'y - (what X and Z
        # explain) then carries an error of about eps y'y, the deviance m eps y'y / pwrss
        # (m = n or n - p): above 1e-12 of it where the deviance is small and y'y >> pwrss
        # (log(Reaction): deviance 1.9, y'y / pwrss 5,000).
        cancel = 16 * np.finfo(float).eps * y.size * yty / b.pwrss
        tol = max(RESPONSE_REL * abs(b.deviance), cancel)
        assert engine.deviance(theta) == pytest.approx(fresh.deviance(theta), abs=tol)
        assert a.deviance == pytest.approx(b.deviance, abs=tol)
        _close_estimates(a.beta, b.beta, RESPONSE_REL * 1e3, "beta")
        _close_estimates(a.b, b.b, RESPONSE_REL * 1e3, "b")
