"""Property-based tests of the covariance-structure parameter mappings.

Random-effects structures (θ -> Λ -> Σ/σ² and back), the correlation functions they share
with the residual structures, and the residual structures and variance functions bound to
small panels of subjects x times. Hypothesis draws the parameters inside each structure's
own bounds, so the properties hold wherever the optimizer may look.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lmeformula as lmf
from lmeformula.errors import DataError, FormulaError
from lmeformula.model.residual import bind_residual, bind_variance
from lmeformula.structures import make_structure
from lmeformula.structures import patterns as pt
from lmeformula.structures.patterns import acf_from_pacf, cs_corr, pacf_from_acf, psd_sqrt
from lmeformula.structures.residual import ResidualModel


def ar1_corr(rho: float, positions: np.ndarray) -> np.ndarray:
    """The AR(1) pattern's matrix at integer positions."""
    t = np.asarray(positions, dtype=int)
    where = pt.Positions(t[None, :] - t.min(), int(t.max() - t.min()) + 1)
    return pt.AR1().matrix(np.array([rho]), where)[0]


def toeplitz_from_pacf(pacf: np.ndarray) -> np.ndarray:
    """The Toeplitz pattern's matrix over len(pacf) + 1 consecutive positions."""
    m = pacf.size + 1
    return pt.Toeplitz().matrix(pacf, pt.Positions(np.arange(m)[None, :], m))[0]


# The same examples on every run: CI must not turn red on a fresh random draw. (Run with
# HYPOTHESIS_PROFILE=explore to search new examples.)
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

RANDOM_KINDS = ["UN", "DIAG", "ID", "CS", "CSH", "AR1", "ARH1", "TOEP", "TOEPH"]
CORRELATED = frozenset({"CS", "CSH", "AR1", "ARH1", "TOEP", "TOEPH"})
TIME_INDEXED = frozenset({"AR1", "ARH1", "TOEP", "TOEPH"})

# (constructor, form, nugget) of every residual structure, with and without a nugget and
# with rows ordered as they come ("1 | id") where a kind allows it.
RESIDUALS = [
    (lmf.AR1, "t | id", False),
    (lmf.AR1, "t | id", True),
    (lmf.AR1, "1 | id", False),
    (lmf.ARH1, "t | id", False),
    (lmf.CAR1, "t | id", False),
    (lmf.CAR1, "t | id", True),
    (lmf.CS, "t | id", False),
    (lmf.CS, "1 | id", False),
    (lmf.CSH, "t | id", False),
    (lmf.TOEP, "t | id", False),
    (lmf.TOEP, "1 | id", False),
    (lmf.TOEPH, "t | id", False),
    (lmf.UN, "t | id", False),
    (lmf.DIAG, "t | id", False),
]
RESIDUAL_IDS = [f"{c.kind}({f!r}{', nugget' if n else ''})" for c, f, n in RESIDUALS]


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def _draw_box(data: st.DataObject, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """A point of the box [lower, upper] (both finite)."""
    parts = [_floats(float(lo), float(hi)) for lo, hi in zip(lower, upper, strict=True)]
    return np.array(data.draw(st.tuples(*parts), label="par"), dtype=float)


def _scale(m: np.ndarray) -> float:
    return float(np.abs(m).max()) if m.size else 0.0


def _assert_symmetric_psd(m: np.ndarray, rel: float = 1e-10) -> None:
    scale = _scale(m)
    np.testing.assert_allclose(m, m.T, rtol=0, atol=1e-14 * scale)
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    assert ev.min() >= -rel * max(scale, 1e-300), (ev, m)


def _assert_symmetric_pd(m: np.ndarray) -> None:
    np.testing.assert_allclose(m, m.T, rtol=0, atol=1e-14 * _scale(m))
    np.linalg.cholesky(m)  # raises LinAlgError unless positive definite
    assert np.linalg.eigvalsh(m).min() > 0


# -- random-effects structures (G side) -------------------------------------------------------


def _random_structure(data: st.DataObject, kind: str, *, gaps: bool = True):
    p = data.draw(st.integers(2 if kind in CORRELATED else 1, 6), label="p")
    positions = None
    if gaps and kind in TIME_INDEXED and data.draw(st.booleans(), label="positions?"):
        times = data.draw(st.sets(st.integers(0, 2 * p), min_size=p, max_size=p))
        positions = np.array(sorted(times))
        lags = set(np.abs(positions[:, None] - positions[None, :]).ravel())
        if kind in ("TOEP", "TOEPH") and not lags >= set(
            range(1, positions.max() - positions.min() + 1)
        ):
            # A lag no pair of times has is refused (test_toeplitz_refuses_a_missing_lag).
            positions = np.arange(p)
    return make_structure(kind, p, positions), p


@pytest.mark.parametrize("kind", RANDOM_KINDS)
@settings(max_examples=25, deadline=None, database=None)
@given(data=st.data())
def test_random_structure_maps_bounded_theta_to_psd_covariance(kind: str, data) -> None:
    s, p = _random_structure(data, kind)
    columns = [f"c{j}" for j in range(p)]
    names = s.param_names(columns)
    lower, upper = s.lower, s.upper
    assert len(names) == s.n_theta == len(lower) == len(upper)
    assert len(set(names)) == len(names)
    assert np.all(lower < upper)
    start = s.start()
    assert start.shape == (s.n_theta,)
    assert np.all((lower <= start) & (start <= upper))
    np.testing.assert_allclose(s.rel_cov(start), np.eye(p), rtol=0, atol=1e-14)
    lam0 = s.lambda_block(start)
    np.testing.assert_allclose(lam0 @ lam0.T, np.eye(p), rtol=0, atol=1e-14)

    # Standard deviations in [0, 5], Λ's off-diagonal in [-5, 5], correlations in their box.
    theta = _draw_box(data, np.clip(lower, -5, 5), np.clip(upper, -5, 5))
    lam = s.lambda_block(theta)
    assert lam.shape == (p, p)
    assert np.all(np.isfinite(lam))
    cov = s.rel_cov(theta)
    assert cov.shape == (p, p)
    assert np.all(np.isfinite(cov))
    np.testing.assert_allclose(cov, lam @ lam.T, rtol=0, atol=1e-10 * _scale(cov) + 1e-300)
    _assert_symmetric_psd(cov)

    natural = s.correlation_params(theta)
    assert all(np.isfinite(v) for v in natural.values())
    if kind in ("UN", "DIAG", "ID"):
        assert natural == {}
    elif kind in ("TOEP", "TOEPH"):
        assert len(natural) == s.n_theta - s.n_sd
        assert all(abs(v) <= 1 + 1e-12 for v in natural.values())
    else:
        assert natural == {"rho": theta[-1]}


@pytest.mark.parametrize("kind", sorted(CORRELATED))
def test_correlated_kinds_refuse_one_column(kind: str) -> None:
    with pytest.raises(FormulaError, match="one column"):
        make_structure(kind, 1)


def test_toeplitz_refuses_a_missing_lag() -> None:
    # Times 0, 3, 4: no pair is 2 apart, so ρ_2 would be a free, unidentified parameter.
    with pytest.raises(FormulaError, match="2 apart"):
        make_structure("TOEP", 3, np.array([0, 3, 4]))


def test_identity_structure_with_one_column() -> None:
    # homdiag(1 | g) reaches this: lmer("Reaction ~ Days + homdiag(1 | Subject)", ...).
    s = make_structure("ID", 1)
    np.testing.assert_array_equal(s.lower, [0.0])
    np.testing.assert_array_equal(s.upper, [np.inf])


def _interior(s) -> tuple[np.ndarray, np.ndarray]:
    """A box strictly inside the bounds: sds in [0.1, 5], correlations 0.05 from their ends."""
    lo, hi = s.lower, s.upper
    inner_lo = np.where(lo == 0, 0.1, np.where(np.isfinite(lo), lo + 0.05, -5.0))
    inner_hi = np.where(np.isfinite(hi), hi - 0.05, 5.0)
    return inner_lo, inner_hi


@pytest.mark.parametrize("kind", RANDOM_KINDS)
@settings(max_examples=20, deadline=None, database=None)
@given(data=st.data())
def test_random_structure_round_trips_through_its_covariance(kind: str, data) -> None:
    s, _ = _random_structure(data, kind, gaps=False)
    theta = _draw_box(data, *_interior(s))
    cov = s.rel_cov(theta)
    back = s.theta_from_cov(cov)
    assert back.shape == (s.n_theta,)
    assert np.all((s.lower <= back) & (back <= s.upper))
    np.testing.assert_allclose(s.rel_cov(back), cov, rtol=0, atol=1e-8 * _scale(cov))
    if kind != "UN":  # UN's θ is a Cholesky factor, unique only up to column signs
        np.testing.assert_allclose(back, theta, rtol=0, atol=1e-7)


@pytest.mark.parametrize("kind", RANDOM_KINDS)
@settings(max_examples=20, deadline=None, database=None)
@given(data=st.data(), sigma=_floats(0.1, 10))
def test_random_structure_round_trips_through_lme4_scale(kind: str, data, sigma: float) -> None:
    # confint/profile/bootMer report θ as standard deviations and correlations: the map is
    # one to one, within its own bounds, and gives the covariance's own sds.
    s, _ = _random_structure(data, kind, gaps=False)
    theta = _draw_box(data, *_interior(s))
    values = s.sdcor(theta, sigma)
    lo, hi = s.sdcor_bounds()
    assert values.shape == (s.n_theta,) and np.all((lo <= values) & (values <= hi))
    back = s.theta_from_sdcor(values, sigma)
    np.testing.assert_allclose(s.rel_cov(back), s.rel_cov(theta), rtol=0, atol=1e-8)
    sds = sigma * np.sqrt(np.diag(s.rel_cov(theta)))
    assert all(np.isclose(values, sd).any() for sd in sds)


@pytest.mark.parametrize("kind", RANDOM_KINDS)
@settings(max_examples=12, deadline=None, database=None)
@given(data=st.data())
def test_random_structure_projects_any_covariance_into_its_bounds(kind: str, data) -> None:
    # theta_from_cov of any PSD matrix (singular ones too) is a valid θ, and projecting its
    # covariance again changes nothing.
    s, p = _random_structure(data, kind, gaps=False)
    rank = data.draw(st.integers(1, p), label="rank")
    a = np.array(
        data.draw(st.lists(_floats(-3, 3), min_size=p * rank, max_size=p * rank)), dtype=float
    ).reshape(p, rank)
    theta = s.theta_from_cov(a @ a.T)
    assert theta.shape == (s.n_theta,)
    assert np.all(np.isfinite(theta))
    assert np.all((s.lower <= theta) & (theta <= s.upper))
    cov = s.rel_cov(theta)
    _assert_symmetric_psd(cov)
    again = s.rel_cov(s.theta_from_cov(cov))
    np.testing.assert_allclose(again, cov, rtol=0, atol=1e-8 * max(_scale(cov), 1.0))


# Found by the properties above (now fixed): theta_from_cov did not invert rel_cov when the
# positions skip a lag, nor when a heterogeneous kind has a zero standard deviation.
@pytest.mark.parametrize(
    ("kind", "p", "positions", "theta"),
    [
        ("AR1", 2, [0, 2], [1.0, 0.5]),
        ("AR1", 4, [0, 2, 4, 6], [1.0, 0.5]),
        ("AR1", 3, [0, 2, 4], [1.0, -0.5]),
        ("ARH1", 3, None, [0.0, 1.0, 1.0, 0.5]),
        ("CSH", 3, None, [0.0, 1.0, 1.0, 0.5]),
        ("TOEPH", 3, None, [0.0, 1.0, 1.0, 0.5, 0.0]),
    ],
)
def test_random_structure_round_trips_on_these_covariances(
    kind: str, p: int, positions: list[int] | None, theta: list[float]
) -> None:
    s = make_structure(kind, p, None if positions is None else np.array(positions))
    cov = s.rel_cov(np.array(theta))
    np.testing.assert_allclose(s.rel_cov(s.theta_from_cov(cov)), cov, atol=1e-8)


# -- correlation functions ----------------------------------------------------------------


def _pacf(max_abs: float, max_k: int = 8) -> st.SearchStrategy[list[float]]:
    return st.lists(_floats(-max_abs, max_abs), min_size=1, max_size=max_k)


def _innovation_variances(pacf: np.ndarray) -> np.ndarray:
    """v_0 = 1, v_k = Π_{j<=k} (1 - π_j²): the prediction error variances of Durbin-Levinson."""
    return np.concatenate([[1.0], np.cumprod(1.0 - pacf**2)])


@settings(max_examples=150, deadline=None, database=None)
@given(pacf=_pacf(0.99))
def test_pacf_and_acf_are_inverse(pacf: list[float]) -> None:
    pi = np.array(pacf)
    acf = acf_from_pacf(pi)
    assert acf.shape == pi.shape
    assert np.all(np.abs(acf) <= 1)
    back = pacf_from_acf(acf)
    # π_k is ρ_k's coefficient over v_{k-1}: exact up to rounding of ρ divided by v_{k-1},
    # which for |π| near 1 at large lags is all the information floating point keeps.
    v = _innovation_variances(pi)[:-1]
    assert np.all(np.abs(back - pi) <= 1e-10 / v), (back, pi)
    np.testing.assert_allclose(acf_from_pacf(back), acf, rtol=0, atol=1e-11)


@settings(max_examples=80, deadline=None, database=None)
@given(acf=st.lists(_floats(-1, 1), min_size=1, max_size=8))
def test_pacf_from_acf_stays_in_the_box(acf: list[float]) -> None:
    # Even for sequences that are no autocorrelation at all.
    pacf = pacf_from_acf(np.array(acf))
    assert np.all(np.isfinite(pacf))
    assert np.all(np.abs(pacf) <= 1)


@settings(max_examples=80, deadline=None, database=None)
@given(pacf=_pacf(0.99))
def test_toeplitz_from_pacf_is_positive_semidefinite(pacf: list[float]) -> None:
    pi = np.array(pacf)
    C = toeplitz_from_pacf(pi)
    np.testing.assert_array_equal(np.diag(C), 1.0)
    # In exact arithmetic C is positive definite on the open box; near its corners its
    # smallest eigenvalue is below rounding, so only semi-definiteness survives.
    _assert_symmetric_psd(C, rel=1e-12)


@settings(max_examples=80, deadline=None, database=None)
@given(pacf=_pacf(0.9))
def test_toeplitz_from_pacf_is_positive_definite_with_its_determinant(pacf: list[float]) -> None:
    pi = np.array(pacf)
    C = toeplitz_from_pacf(pi)
    _assert_symmetric_pd(C)
    # det C = Π_k v_k (Durbin-Levinson).
    sign, logdet = np.linalg.slogdet(C)
    assert sign == 1
    v = _innovation_variances(pi)[1:]
    assert logdet == pytest.approx(float(np.sum(np.log(v))), rel=1e-8, abs=1e-10)


@settings(max_examples=80, deadline=None, database=None)
@given(
    rho=_floats(-1, 1),
    positions=st.lists(st.integers(-10, 10), min_size=1, max_size=8),
)
def test_ar1_corr_is_positive_semidefinite(rho: float, positions: list[int]) -> None:
    C = ar1_corr(rho, np.array(positions))
    assert C.shape == (len(positions), len(positions))
    assert np.all(np.isfinite(C))
    np.testing.assert_array_equal(np.diag(C), 1.0)
    _assert_symmetric_psd(C, rel=1e-12)


@settings(max_examples=80, deadline=None, database=None)
@given(m=st.integers(2, 10), u=_floats(0, 1))
def test_cs_corr_is_positive_semidefinite_inside_its_range(m: int, u: float) -> None:
    low = -1.0 / (m - 1)
    rho = low + u * (1.0 - low)
    C = cs_corr(rho, m)
    np.testing.assert_allclose(np.diag(C), 1.0, rtol=1e-15)
    _assert_symmetric_psd(C, rel=1e-12)
    np.testing.assert_allclose(
        np.linalg.eigvalsh(C).min(), min(1 - rho, 1 + (m - 1) * rho), atol=1e-12
    )


@settings(max_examples=80, deadline=None, database=None)
@given(m=st.integers(2, 10), eps=_floats(1e-6, 1), above=st.booleans())
def test_cs_corr_is_indefinite_outside_its_range(m: int, eps: float, above: bool) -> None:
    rho = 1.0 + eps if above else -1.0 / (m - 1) - eps
    assert np.linalg.eigvalsh(cs_corr(rho, m)).min() < -eps / 2


def _singular_or_not() -> st.SearchStrategy[np.ndarray]:
    m = st.integers(1, 7)
    cs = m.flatmap(
        lambda k: st.sampled_from(
            [cs_corr(1.0, k), cs_corr(-1.0 / max(k - 1, 1), k), cs_corr(0.3, k)]
        )
    )
    ar1 = st.tuples(st.sampled_from([-1.0, 1.0, 0.0, 0.7]), m).map(
        lambda t: ar1_corr(t[0], np.arange(t[1]))
    )

    @st.composite
    def low_rank(draw) -> np.ndarray:
        k = draw(st.integers(1, 7))
        r = draw(st.integers(1, k))
        a = np.array(draw(st.lists(_floats(-3, 3), min_size=k * r, max_size=k * r)))
        a = a.reshape(k, r)
        return a @ a.T

    return st.one_of(cs, ar1, low_rank())


@settings(max_examples=80, deadline=None, database=None)
@given(C=_singular_or_not())
def test_psd_sqrt_is_a_square_root(C: np.ndarray) -> None:
    F = psd_sqrt(C)
    assert F.shape == C.shape
    assert np.all(np.isfinite(F))
    np.testing.assert_allclose(F @ F.T, C, rtol=0, atol=1e-10 * max(_scale(C), 1.0))


# -- residual structures (R side) -------------------------------------------------------------


@st.composite
def panels(draw, continuous: bool = False) -> pd.DataFrame:
    """Subjects x times, the first subject complete, the others missing some times, rows
    shuffled; continuous times are unequally spaced."""
    n_sub = draw(st.integers(2, 6), label="subjects")
    n_times = draw(st.integers(2, 5), label="times")
    if continuous:
        gaps = draw(st.lists(_floats(0.1, 3), min_size=n_times - 1, max_size=n_times - 1))
        times = 1.0 + np.concatenate([[0.0], np.cumsum(gaps)])
    else:
        times = np.array(
            sorted(draw(st.sets(st.integers(0, 20), min_size=n_times, max_size=n_times)))
        )
    ids, ts = [], []
    for s in range(n_sub):
        keep = [True] * n_times
        if s:
            keep = draw(st.lists(st.booleans(), min_size=n_times, max_size=n_times))
            keep[draw(st.integers(0, n_times - 1))] = True
        for t, k in zip(times, keep, strict=True):
            if k:
                ids.append(f"s{s}")
                ts.append(t)
    order = draw(st.permutations(range(len(ids))))
    return pd.DataFrame({"id": np.array(ids)[order], "t": np.array(ts)[order]})


def _subject_rows(bound) -> list[np.ndarray]:
    """Each subject's row indices as a (1, m) batch."""
    return [np.flatnonzero(bound.codes == c)[None, :] for c in np.unique(bound.codes)]


def _residual_box(bound) -> tuple[np.ndarray, np.ndarray]:
    lo = np.clip(bound.lower, -3, 3)
    hi = np.clip(bound.upper, -3, 3)
    kind = bound.structure.kind
    if kind == "UN":
        # Near its lower bound (1e-6) the Cholesky diagonal leaves K numerically singular.
        lo = np.where(np.isfinite(bound.lower), np.maximum(lo, 0.05), lo)
    if kind in ("TOEP", "TOEPH"):
        # Near the bounds ±(1 - 1e-3) K is close to singular for many times (the bounds
        # themselves: test_residual_toeplitz_is_invertible_at_its_bounds); test inside.
        lo, hi = np.maximum(lo, -0.99), np.minimum(hi, 0.99)
    return lo, hi


def _expected_corr(bound, par: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The structure's correlation of one subject's rows (R side), written out by kind."""
    s = bound.structure
    c = par[bound.n_sd : bound.n_sd + bound.n_corr]
    ti = bound.tidx[rows]
    lag = np.abs(ti[:, None] - ti[None, :])
    m = rows.size
    if s.kind in ("AR1", "ARH1"):
        C = np.where(lag == 0, 1.0, c[0] ** lag.astype(float))
    elif s.kind in ("CS", "CSH"):
        C = np.where(lag == 0, 1.0, c[0])
    elif s.kind in ("TOEP", "TOEPH"):
        C = np.concatenate([[1.0], acf_from_pacf(c)])[lag]
    elif s.kind == "CAR1":
        rho = bound.natural(par)["rho"]  # φ = exp(-1 / range): the correlation at Δt = 1
        t = bound.tval[rows]
        C = rho ** np.abs(t[:, None] - t[None, :])
    else:
        C = np.eye(m)
    if s.nugget:
        C = (1.0 - par[-1]) * C + par[-1] * np.eye(m)
    return C


def _check_natural(bound, model: ResidualModel, par: np.ndarray) -> None:
    """The natural parameters are finite, within range and agree with the matrices."""
    natural = model.natural(par)
    assert all(np.isfinite(v) for v in natural.values())
    kind = bound.structure.kind
    nugget = bound.structure.nugget
    c = par[bound.n_sd : bound.n_sd + bound.n_corr]
    labels = bound.tlabels
    if kind in ("AR1", "ARH1", "CS", "CSH"):
        assert natural["rho"] == c[0]
    if kind in ("TOEP", "TOEPH"):
        lags = [natural[f"rho[{k}]"] for k in range(1, bound.n_corr + 1)]
        np.testing.assert_allclose(lags, acf_from_pacf(c), rtol=0, atol=0)
        assert all(abs(r) <= 1 for r in lags)
    if kind == "CAR1":
        assert 0 < natural["rho"] < 1
        assert natural["range"] == pytest.approx(np.exp(c[0]), rel=1e-12)
        assert natural["rho"] == pytest.approx(np.exp(-1 / natural["range"]), rel=1e-12)
    if nugget:
        assert natural["nugget"] == par[-1]
    if bound.structure.het:
        sd = model.row_sd(par)
        for row in range(bound.tidx.size):
            t = bound.tidx[row]
            expected = 1.0 if t == 0 else natural[f"sd ratio[{labels[t]}]"]
            assert sd[row] == pytest.approx(expected, rel=1e-12)
    if kind == "UN":
        T = len(labels)
        cors = {k: v for k, v in natural.items() if k.startswith("cor[")}
        assert len(cors) == T * (T - 1) // 2
        assert all(-1 - 1e-12 <= v <= 1 + 1e-12 for v in cors.values())
        # The natural parameters rebuild every subject's block, σ being the first time's sd.
        sds = np.array([1.0] + [natural[f"sd ratio[{lab}]"] for lab in labels[1:]])
        full = np.diag(sds**2)
        for i in range(T):
            for j in range(i):
                full[i, j] = full[j, i] = natural[f"cor[{labels[i]},{labels[j]}]"] * sds[i] * sds[j]
        for rows in _subject_rows(bound):
            ti = bound.tidx[rows[0]]
            np.testing.assert_allclose(
                model.cov(par, rows)[0], full[np.ix_(ti, ti)], rtol=1e-9, atol=1e-12
            )


@pytest.mark.parametrize(("cls", "form", "nugget"), RESIDUALS, ids=RESIDUAL_IDS)
@settings(max_examples=12, deadline=None, database=None)
@given(data=st.data())
def test_residual_structure_gives_positive_definite_blocks(cls, form, nugget, data) -> None:
    panel = data.draw(panels(continuous=cls is lmf.CAR1), label="panel")
    bound = bind_residual(cls(form, nugget=nugget), panel)
    model = ResidualModel(bound, None)
    kind = bound.structure.kind
    assert model.n_par == bound.n_par == len(model.lower) == len(model.upper)
    assert len(model.names) == model.n_par
    assert np.all(model.lower < model.upper)
    start = model.start()
    assert np.all((model.lower <= start) & (start <= model.upper))

    par = _draw_box(data, *_residual_box(bound))
    sd = model.row_sd(par)
    assert sd.shape == (len(panel),)
    assert np.all(np.isfinite(sd) & (sd > 0))
    _check_natural(bound, model, par)
    for rows in _subject_rows(bound):
        K = model.cov(par, rows)
        assert K.shape == (1, rows.size, rows.size)
        K = K[0]
        assert np.all(np.isfinite(K))
        _assert_symmetric_pd(K)
        if kind == "UN":
            continue
        np.testing.assert_allclose(np.diag(K), sd[rows[0]] ** 2, rtol=1e-12)
        expected = sd[rows[0], None] * _expected_corr(bound, par, rows[0]) * sd[None, rows[0]]
        np.testing.assert_allclose(K, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("cls", "form", "nugget"), RESIDUALS, ids=RESIDUAL_IDS)
@settings(max_examples=6, deadline=None, database=None)
@given(data=st.data())
def test_residual_structure_starts_at_independence(cls, form, nugget, data) -> None:
    panel = data.draw(panels(continuous=cls is lmf.CAR1), label="panel")
    bound = bind_residual(cls(form, nugget=nugget), panel)
    model = ResidualModel(bound, None)
    start = model.start()
    np.testing.assert_array_equal(model.row_sd(start), 1.0)
    if cls is lmf.CAR1:
        # CAR(1) starts at range = 0.1 x the median spacing within subjects: neighbours at
        # the typical spacing correlate e^-10.
        gaps = np.concatenate([np.diff(np.sort(g.to_numpy())) for _, g in panel.groupby("id").t])
        spacing = float(np.median(gaps[gaps > 0])) if (gaps > 0).any() else 1.0
        assert np.exp(start[0]) == pytest.approx(0.1 * spacing, rel=1e-12)
    for rows in _subject_rows(bound):
        K = model.cov(start, rows)[0]
        if cls is not lmf.CAR1:
            np.testing.assert_allclose(K, np.eye(rows.size), rtol=0, atol=1e-15)
            continue
        t = bound.tval[rows[0]]
        dt = np.abs(t[:, None] - t[None, :])
        np.testing.assert_allclose(np.diag(K), 1.0, rtol=1e-15)
        off = dt > 0
        expected = np.exp(-10.0 * dt / spacing) * (0.9 if nugget else 1.0)
        np.testing.assert_allclose(K[off], expected[off], rtol=1e-9)
        assert np.all(K[dt >= spacing] < 1e-4)


@pytest.mark.parametrize("cls", [lmf.TOEP, lmf.TOEPH])
@pytest.mark.parametrize("n_times", [4, 5])
def test_residual_toeplitz_is_invertible_at_its_bounds(cls, n_times: int) -> None:
    # The module promises correlations "just inside ±1: the residual covariance must stay
    # invertible"; at pacf = upper bound for every lag it is not, in floating point.
    panel = pd.DataFrame({"id": ["a"] * n_times + ["b"], "t": [*range(n_times), 0]})
    bound = bind_residual(cls("t | id"), panel)
    model = ResidualModel(bound, None)
    par = model.upper.copy()
    par[~np.isfinite(par)] = 0.0
    for rows in _subject_rows(bound):
        np.linalg.cholesky(model.cov(par, rows)[0])


def test_residual_unstructured_is_invertible_at_its_lower_bound() -> None:
    # L = [[1, 0], [0, 0]]: the second time has variance 0, K is singular and natural()
    # reports its correlation as 0/0 = nan.
    panel = pd.DataFrame({"id": ["a", "a", "b"], "t": [0, 1, 0]})
    model = ResidualModel(bind_residual(lmf.UN("t | id"), panel), None)
    par = np.where(np.isfinite(model.lower), model.lower, 0.0)
    assert all(np.isfinite(v) for v in model.natural(par).values())
    np.linalg.cholesky(model.cov(par, np.array([[0, 1]]))[0])


# -- variance functions ---------------------------------------------------------------------


@settings(max_examples=30, deadline=None, database=None)
@given(data=st.data())
def test_var_ident_is_one_for_the_first_level(data) -> None:
    g = data.draw(st.lists(st.sampled_from("abcde"), min_size=2, max_size=30), label="g")
    if len(set(g)) < 2:
        g = [*g, "z"]
    levels = sorted(set(g))
    bv = bind_variance(lmf.VarIdent("g"), pd.DataFrame({"g": g}))
    assert bv.n_par == len(levels) - 1
    par = _draw_box(data, np.full(bv.n_par, -3.0), np.full(bv.n_par, 3.0))
    sd = bv.row_sd(par)
    expected = np.array([1.0 if x == levels[0] else np.exp(par[levels.index(x) - 1]) for x in g])
    np.testing.assert_allclose(sd, expected, rtol=1e-15)
    assert np.all(sd > 0)
    np.testing.assert_array_equal(bv.row_sd(bv.start()), 1.0)
    assert list(bv.natural(par)) == [f"sd ratio[{lvl}]" for lvl in levels[1:]]


_nonzero = st.one_of(_floats(-10, -0.01), _floats(0.01, 10))


@settings(max_examples=30, deadline=None, database=None)
@given(x=st.lists(_nonzero, min_size=1, max_size=30), delta=_floats(-3, 3))
def test_var_power_is_a_power_of_the_covariate(x: list[float], delta: float) -> None:
    xs = np.array(x)
    bv = bind_variance(lmf.VarPower("x"), pd.DataFrame({"x": xs}))
    sd = bv.row_sd(np.array([delta]))
    np.testing.assert_allclose(sd, np.abs(xs) ** delta, rtol=1e-13)
    assert np.all(sd > 0)
    assert bv.natural(np.array([delta])) == {"delta": delta}


def test_var_power_refuses_zeros() -> None:
    with pytest.raises(DataError, match="zeros"):
        bind_variance(lmf.VarPower("x"), pd.DataFrame({"x": [1.0, 0.0, 2.0]}))


@settings(max_examples=30, deadline=None, database=None)
@given(x=st.lists(_floats(-5, 5), min_size=1, max_size=30), delta=_floats(-3, 3))
def test_var_exp_is_an_exponential_of_the_covariate(x: list[float], delta: float) -> None:
    xs = np.array(x)
    bv = bind_variance(lmf.VarExp("x"), pd.DataFrame({"x": xs}))
    sd = bv.row_sd(np.array([delta]))
    np.testing.assert_allclose(sd, np.exp(delta * xs), rtol=1e-13)
    assert np.all(sd > 0)


@pytest.mark.parametrize("cls", [lmf.AR1, lmf.ARH1, None])
@settings(max_examples=12, deadline=None, database=None)
@given(data=st.data())
def test_residual_model_multiplies_structure_variance_and_weights(cls, data) -> None:
    panel = data.draw(panels(), label="panel")
    n = len(panel)
    panel["x"] = data.draw(st.lists(_floats(-2, 2), min_size=n, max_size=n), label="x")
    w = np.array(data.draw(st.lists(_floats(0.1, 10), min_size=n, max_size=n), label="w"))
    bound = bind_residual(cls("t | id"), panel) if cls is not None else None
    variance = bind_variance(lmf.VarExp("x"), panel)
    model = ResidualModel(bound, variance, w)
    assert model.n_par == (bound.n_par if bound is not None else 0) + 1
    par = _draw_box(data, np.clip(model.lower, -3, 3), np.clip(model.upper, -3, 3))
    phi, delta = model.split(par)
    assert delta.shape == (1,)
    res_sd = bound.row_sd(phi) if bound is not None else np.ones(n)
    sd = model.row_sd(par)
    np.testing.assert_allclose(sd, res_sd * variance.row_sd(delta) / np.sqrt(w), rtol=1e-13)
    codes = bound.codes if bound is not None else pd.factorize(panel["id"])[0]
    for c in np.unique(codes):
        rows = np.flatnonzero(codes == c)[None, :]
        K = model.cov(par, rows)[0]
        _assert_symmetric_pd(K)
        np.testing.assert_allclose(np.diag(K), sd[rows[0]] ** 2, rtol=1e-12)
        if bound is None:
            np.testing.assert_array_equal(K - np.diag(np.diag(K)), 0.0)
        else:
            C = _expected_corr(bound, phi, rows[0])
            np.testing.assert_allclose(
                K, sd[rows[0], None] * C * sd[None, rows[0]], rtol=1e-9, atol=1e-12
            )
