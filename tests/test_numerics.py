"""Numerical edge cases, table-driven: response scales from 1e-6 to 1e9, a singular fit,
collinear fixed effects, groups of one row, highly unbalanced groups, tied times, logical
and unused factor levels, 100,000 groups, repeated calls, the memory of a fit (no dense
n x n or n x q matrix anywhere), and the recovery of simulated parameters.

The lme4 numbers come from tests/reference/numerics.json, written by
tests/reference/make_numerics.R (R 4.2.2, lme4 1.1.31); each case stores the R call that
made it (``r_call``). Tolerances: log-likelihood within 1e-6 (+1e-10 of its size), fixed
effects within 1e-4 of their standard error, θ within 5e-4, σ within 1e-4 relative. The
measured differences are about 1e-7 of an SE, but for the tied-times slope model, whose
likelihood is flat enough that θ moves 1.7e-4 and σ 1.2e-5 (relative) for 1e-8 of
log-likelihood.
"""

from __future__ import annotations

import json
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lmeformula as lmf

REF = json.loads((Path(__file__).parent / "reference" / "numerics.json").read_text())

LOGLIK_ABS, LOGLIK_REL = 1e-6, 1e-10
FIXEF_OF_SE = 1e-4
THETA_ABS = 5e-4
SIGMA_REL = 1e-4

EXAM = lmf.datasets.load("exam")


def _scaled(scale: float) -> Callable[[], pd.DataFrame]:
    return lambda: EXAM.assign(y=EXAM["normexam"] * scale)


def _first_pupils() -> pd.DataFrame:
    # R: exam[!duplicated(exam$school) | as.integer(exam$school) %% 3 != 0, ]
    return EXAM[~EXAM["school"].duplicated() | (EXAM["school"].astype(int) % 3 != 0)]


def _unbalanced() -> pd.DataFrame:
    # R: exam[as.integer(exam$school) <= 5 | ave(seq_len(n), exam$school, FUN = seq_along) <= 2, ]
    first = EXAM.groupby("school").cumcount() + 1
    return EXAM[(EXAM["school"].astype(int) <= 5) | (first <= 2)]


SLOPES = "y ~ standLRT + (1 + standLRT | school)"

# (case in numerics.json, data, formula, warning the fit must give or None)
CASES: list[tuple[str, Callable[[], pd.DataFrame], str, type[Warning] | None]] = [
    *[
        (f"scale_{s}_{m}", _scaled(float(s)), SLOPES, None)
        for s in ("1e-06", "1", "1e+09")
        for m in ("reml", "ml")
    ],
    (
        "covariate_1e9",
        lambda: EXAM.assign(x=EXAM["standLRT"] * 1e9),
        "normexam ~ x + (1 | school)",
        None,
    ),
    (
        "singular_dyestuff2",
        lambda: pd.DataFrame(REF["singular_dyestuff2"]["data"]),
        "Yield ~ 1 + (1 | Batch)",
        lmf.SingularFitWarning,
    ),
    (
        "collinear_covariate",
        lambda: EXAM.assign(x2=2 * EXAM["standLRT"] + 1),
        "normexam ~ standLRT + x2 + (1 | school)",
        lmf.RankDeficiencyWarning,
    ),
    (
        "collinear_factor",
        lambda: EXAM,
        "normexam ~ standLRT + schgend + type + (1 | school)",
        lmf.RankDeficiencyWarning,
    ),
    ("groups_of_one", _first_pupils, "normexam ~ standLRT + (1 | school)", None),
    ("unbalanced", _unbalanced, "normexam ~ standLRT + (1 + standLRT | school)", None),
    (
        "logical_covariate",
        lambda: EXAM.assign(b=EXAM["standLRT"] > 0),
        "normexam ~ b + (1 | school)",
        None,
    ),
    (
        "tied_times",
        lambda: lmf.datasets.load("orthodont").pipe(
            lambda d: d.assign(age=d["age"].where(d.index != 1, 8))
        ),
        "distance ~ age + (age | Subject)",
        None,
    ),
    (
        "unused_level",
        lambda: EXAM.assign(s=pd.Categorical(EXAM["sex"], categories=["F", "M", "X"])),
        "normexam ~ s + (1 | school)",
        None,
    ),
]

_FITS: dict[str, lmf.LmerResult] = {}


def _fit(case: str) -> tuple[lmf.LmerResult, list[warnings.WarningMessage]]:
    _, data, formula, _ = next(c for c in CASES if c[0] == case)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = lmf.lmer(formula, data(), reml=REF[case]["reml"])
    return fit, list(caught)


@pytest.mark.parametrize(("case", "data", "formula", "warning"), CASES, ids=[c[0] for c in CASES])
def test_against_lme4(
    case: str, data: Callable[[], pd.DataFrame], formula: str, warning: type[Warning] | None
) -> None:
    ref = REF[case]
    fit, caught = _fit(case)
    _FITS[case] = fit
    # logLik(m), nobs(m), fixef(m), getME(m, "theta"), sigma(m), isSingular(m)
    assert fit.loglik == pytest.approx(
        ref["loglik"], abs=LOGLIK_ABS + LOGLIK_REL * abs(ref["loglik"])
    )
    assert fit.nobs == ref["nobs"]
    assert list(fit.fixef.index) == list(ref["fixef"]), "lme4's coefficient names and order"
    expected = pd.Series(ref["fixef"])[fit.fixef.index]
    assert np.all(np.abs(fit.fixef - expected) <= FIXEF_OF_SE * fit.fixef_se)
    np.testing.assert_allclose(fit.theta, np.atleast_1d(ref["theta"]), rtol=0, atol=THETA_ABS)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=SIGMA_REL)
    assert fit.singular == ref["singular"]
    ours = [w.category for w in caught if issubclass(w.category, lmf.LmeFormulaWarning)]
    assert ours == ([warning] if warning else []), [str(w.message) for w in caught]


@pytest.mark.parametrize("method", ["reml", "ml"])
@pytest.mark.parametrize("scale", [1e-6, 1e9])
def test_scale_invariance(scale: float, method: str) -> None:
    # lme4 is equivariant in the response's scale: estimates scale with it, θ and the
    # standardized estimates do not move, and the log-likelihood moves by n log(s) (ML)
    # or (n - p) log(s) (REML).
    reml = method == "reml"
    one = lmf.lmer(SLOPES, _scaled(1.0)(), reml=reml)
    big = lmf.lmer(SLOPES, _scaled(scale)(), reml=reml)
    np.testing.assert_allclose(big.fixef / scale, one.fixef, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(big.fixef / big.fixef_se, one.fixef / one.fixef_se, rtol=1e-5)
    np.testing.assert_allclose(big.theta, one.theta, rtol=1e-5, atol=1e-7)
    assert big.sigma / scale == pytest.approx(one.sigma, rel=1e-6)
    n_eff = one.nobs - (len(one.fixef) if reml else 0)
    assert big.loglik == pytest.approx(one.loglik - n_eff * np.log(scale), abs=1e-5)


def test_singular_fit_reports_its_zero() -> None:
    fit, _ = _fit("singular_dyestuff2")
    vc = fit.varcorr().set_index("grp")
    # as.data.frame(VarCorr(m)): Batch's variance is 0 in lme4's Dyestuff2 fit.
    assert vc.loc["Batch", "vcov"] == 0.0
    assert fit.is_singular() and "singular" in str(fit.summary())


@pytest.mark.parametrize(
    ("case", "dropped"),
    [("collinear_covariate", "x2"), ("collinear_factor", "typeSngl")],
)
def test_collinear_columns_dropped_and_named(case: str, dropped: str) -> None:
    # lme4: "fixed-effect model matrix is rank deficient so dropping 1 column / coefficient"
    fit, caught = _fit(case)
    messages = [str(w.message) for w in caught if w.category is lmf.RankDeficiencyWarning]
    assert len(messages) == 1 and dropped in messages[0]
    assert dropped not in fit.fixef.index


def test_groups_of_one_and_unbalanced_sizes() -> None:
    # table(e$school) for the two designs of make_numerics.R
    sizes = _first_pupils().groupby("school").size()
    assert int((sizes == 1).sum()) == REF["groups_of_one"]["n_single"]
    sizes = _unbalanced().groupby("school").size()
    assert [int(sizes.min()), int(sizes.max())] == REF["unbalanced"]["group_sizes"]


def test_repeated_calls_are_bit_identical() -> None:
    data = _unbalanced()
    fits = [lmf.lmer("normexam ~ standLRT + sex + (1 + standLRT | school)", data) for _ in (1, 2)]
    a, b = fits
    assert a.loglik == b.loglik
    assert np.array_equal(a.theta, b.theta)
    assert np.array_equal(a.fixef.to_numpy(), b.fixef.to_numpy())
    assert np.array_equal(a.vcov.to_numpy(), b.vcov.to_numpy())
    pd.testing.assert_frame_equal(a.ranef["school"], b.ranef["school"], check_exact=True)
    pd.testing.assert_frame_equal(a.anova(), b.anova(), check_exact=True)


def _simulate(groups: int, per: int, seed: int, sd_b: float = 0.8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    y = 1.0 + 0.5 * x + rng.normal(scale=sd_b, size=groups)[g] + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": g})


def test_100000_groups() -> None:
    # A random intercept on 300,000 rows and 100,000 groups (half a second here).
    fit = lmf.lmer("y ~ x + (1 | g)", _simulate(100_000, 3, seed=1))
    assert fit.ngroups == {"g": 100_000} and fit.optinfo.converged
    assert np.all(np.abs(fit.fixef.to_numpy() - [1.0, 0.5]) < 4 * fit.fixef_se.to_numpy())
    sd = fit.varcorr().set_index("grp")["sdcor"]
    assert sd["g"] == pytest.approx(0.8, rel=0.02) and sd["Residual"] == pytest.approx(1, rel=0.01)


def test_no_dense_n_by_q_matrix() -> None:
    # 20,000 rows and q = 10,040 random effects: a dense n x q matrix would take 1.6 GB and
    # an n x n one 3.2 GB. The fit and every accessor stay far below either.
    rng = np.random.default_rng(3)
    data = _simulate(5000, 4, seed=2).assign(
        h=rng.integers(0, 40, size=20_000), f=lambda d: np.where(d["x"] > 0, "a", "b")
    )
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lmf.LmeFormulaWarning)
            fit = lmf.lmer("y ~ x + f + (1 + x | g) + (1 | h)", data)
        peaks = {"fit": tracemalloc.get_traced_memory()[1]}
        calls: dict[str, Callable[[], object]] = {
            "summary": lambda: str(fit.summary()),
            # Wald df: Satterthwaite's Hessian costs seconds of evaluations, not memory.
            "anova": lambda: fit.anova(ddf="wald"),
            "tidy": lambda: fit.tidy(ddf="wald"),
            "predict": lambda: fit.predict(data),
            "ranef_table": fit.ranef_table,
            "augment": fit.augment,
            "marginal_cov": lambda: fit.marginal_cov(3, group="h"),
            "emmeans": lambda: fit.emmeans("f", ddf="wald"),
            "icc": fit.icc,
        }
        for name, call in calls.items():
            tracemalloc.reset_peak()
            call()
            peaks[name] = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert max(peaks.values()) < 150e6, {k: round(v / 1e6, 1) for k, v in peaks.items()}


@settings(max_examples=12, deadline=None)
@given(
    beta=st.tuples(st.floats(-5, 5), st.floats(-2, 2)),
    sd_b=st.floats(0.3, 3.0),
    sigma=st.floats(0.3, 3.0),
    seed=st.integers(0, 2**16),
)
def test_recovers_simulated_parameters(
    beta: tuple[float, float], sd_b: float, sigma: float, seed: int
) -> None:
    # Data simulated from known parameters (40 groups of 10, balanced): the estimates fall
    # within 4 standard errors of the truth. The variance components' standard errors are
    # those of the balanced one-way ANOVA estimators, which REML equals here.
    groups, per = 40, 10
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    y = beta[0] + beta[1] * x + rng.normal(scale=sd_b, size=groups)[g]
    y = y + rng.normal(scale=sigma, size=g.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.SingularFitWarning)
        fit = lmf.lmer("y ~ x + (1 | g)", pd.DataFrame({"y": y, "x": x, "g": g}))
    assert np.all(np.abs(fit.fixef.to_numpy() - beta) < 4 * fit.fixef_se.to_numpy())
    s2, b2 = sigma**2, sd_b**2
    n = groups * per
    se_s2 = s2 * np.sqrt(2.0 / (n - groups))
    se_b2 = np.sqrt(2.0 / per**2 * ((s2 + per * b2) ** 2 / (groups - 1) + s2**2 / (n - groups)))
    vc = fit.varcorr().set_index("grp")["vcov"]
    assert abs(vc["Residual"] - s2) < 4 * se_s2
    assert abs(vc["g"] - b2) < 4 * se_b2
