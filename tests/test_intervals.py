"""Intervals, profiles, the parametric bootstrap and simulation against lme4 1.1-31.

tests/reference/intervals.json is made by tests/reference/make_intervals.R; every entry
carries the R call that made it. Tolerances:

- profile intervals: 1e-3 relative on each bound (``confint(m, method = "profile")``; the
  measured worst is 5.5e-4, Exam's .sig03, where lme4's and our BOBYQA runs, both stopping
  at nloptr's xtol_rel = 1e-4, leave ~1e-3 of noise in ζ);
- Wald intervals: 1e-5 relative (``confint(m, method = "Wald")``);
- the profile itself: the same number of points per parameter as lme4 places, and our
  profile spline at lme4's points within 0.02 of lme4's ζ (the optimiser noise above);
- bootstrap (R's and numpy's random numbers differ): means within 4 standard errors of
  the difference of two Monte Carlo means, SDs within 5 standard errors
  (sd √(1/(2(n-1)) + 1/(2(m-1)))), percentile bounds within 4 standard errors of a
  2.5% quantile under normality (sd √(p(1-p)/n) / φ(z_p), for both runs);
- simulation: sample moments of many draws within 4-5 standard errors of the implied ones
  (``fit.marginal_cov``), the errors stated in each test.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmeformula as lmf
from lmeformula.engines.blocked import BlockedPLS
from lmeformula.engines.factory import make_engine
from lmeformula.engines.marginal import MarginalDeviance
from lmeformula.fitting.refit import refit_response
from lmeformula.inference.bootstrap import format_percent, percentile_interval
from lmeformula.inference.splines import interp_spline

REF = json.loads((Path(__file__).parent / "reference" / "intervals.json").read_text())

MODELS = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", True),
    "sleepstudy_ml": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", False),
    "sleepstudy_diag": ("Reaction ~ Days + (Days || Subject)", "sleepstudy", True),
    "exam": ("normexam ~ standLRT + (1 + standLRT | school)", "exam", True),
    "dyestuff": ("Yield ~ 1 + (1 | Batch)", "dyestuff", True),
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin", True),
}

_FITS: dict[str, lmf.LmerResult] = {}


def _fit(key: str) -> lmf.LmerResult:
    # Fitted once per session; confint caches its profile on the fit.
    if key not in _FITS:
        formula, data, reml = MODELS[key]
        _FITS[key] = lmf.lmer(formula, lmf.datasets.load(data), reml=reml)
    return _FITS[key]


def _bounds(entry: dict) -> tuple[np.ndarray, np.ndarray]:
    def arr(v: list) -> np.ndarray:
        return np.array([np.nan if x is None else x for x in v], dtype=float)

    return arr(entry["lower"]), arr(entry["upper"])


PROFILE_CASES = [(key, level) for key in MODELS for level in REF[key]["profile"]]


@pytest.mark.parametrize("key,level", PROFILE_CASES, ids=[f"{k}-{lv}" for k, lv in PROFILE_CASES])
def test_profile_intervals_as_lme4(key: str, level: str) -> None:
    # confint(m, method = "profile", level = level / 100)
    ref = REF[key]["profile"][level]
    ci = _fit(key).confint(level=float(level) / 100)
    assert list(ci.index) == ref["parm"]
    assert list(ci.columns) == ref["columns"]
    lower, upper = _bounds(ref)
    np.testing.assert_allclose(ci.iloc[:, 0].to_numpy(), lower, rtol=1e-3)
    np.testing.assert_allclose(ci.iloc[:, 1].to_numpy(), upper, rtol=1e-3)


@pytest.mark.parametrize("key", list(MODELS))
def test_wald_intervals_as_lme4(key: str) -> None:
    # confint(m, method = "Wald"): NA for the variance parameters
    ref = REF[key]["wald"]["95"]
    ci = _fit(key).confint(method="wald")
    assert list(ci.index) == ref["parm"]
    assert list(ci.columns) == ref["columns"]
    lower, upper = _bounds(ref)
    np.testing.assert_allclose(ci.iloc[:, 0].to_numpy(), lower, rtol=1e-5)
    np.testing.assert_allclose(ci.iloc[:, 1].to_numpy(), upper, rtol=1e-5)
    assert ci.iloc[: -len(_fit(key).fixef)].isna().all().all()


@pytest.mark.parametrize("key", ["sleepstudy", "exam", "dyestuff", "penicillin"])
def test_profile_table_as_lme4(key: str) -> None:
    # as.data.frame(profile(m)): the points lme4 places, and the profile's shape at them
    pt = REF[key]["profile_table"]
    ref = pd.DataFrame({"parameter": pt["par"], "zeta": pt["zeta"], "value": pt["focal"]})
    ref = ref.astype({"zeta": float, "value": float})
    prof = _fit(key).profile()
    names = list(pt["values"])
    assert list(prof.columns) == ["parameter", "value", "zeta", *names]
    assert prof.groupby("parameter", sort=False).size().to_dict() == (
        ref.groupby("parameter", sort=False).size().to_dict()
    )
    for name, part in prof.groupby("parameter", sort=False):
        spline = interp_spline(part["value"].to_numpy(), part["zeta"].to_numpy())
        theirs = ref[ref["parameter"] == name]
        ours = spline(theirs["value"].to_numpy())
        inside = np.isfinite(ours)
        assert inside.sum() >= len(theirs) - 2, name
        np.testing.assert_allclose(ours[inside], theirs["zeta"][inside], atol=0.02, err_msg=name)
        # Every row holds the focal parameter's value in its own column.
        np.testing.assert_array_equal(part["value"], part[name])


def test_profile_of_some_parameters() -> None:
    fit = _fit("sleepstudy")
    prof = fit.profile(which=["Days", ".sigma"])
    assert list(prof["parameter"].unique()) == [".sigma", "Days"]
    assert list(fit.confint(parm="beta_", method="wald").index) == ["(Intercept)", "Days"]
    assert list(fit.confint(parm=[".sig02", "Days"]).index) == [".sig02", "Days"]


def test_profile_with_prior_weights() -> None:
    # Weights of 2 everywhere halve each residual variance, σ²/w: σ doubles its square,
    # the random-effects SD and the fixed effects keep their intervals. This checks that
    # the profile's deviance and the fit's count the weights alike (lme4's ldW).
    dye = lmf.datasets.load("dyestuff")
    plain = _fit("dyestuff").confint()
    weighted = lmf.lmer("Yield ~ 1 + (1 | Batch)", dye, weights=np.full(len(dye), 2.0)).confint()
    scale = pd.Series([1.0, np.sqrt(2.0), 1.0], index=plain.index)
    pd.testing.assert_frame_equal(weighted, plain.mul(scale, axis=0), rtol=1e-4)


def test_profile_of_a_structured_term() -> None:
    # ar1() is lme4 2.x's; lme4 1.1-31 has no reference. The intervals cover the estimates
    # and the correlation stays in [-1, 1].
    fit = lmf.lmer(
        "Reaction ~ Days + ar1(0 + factor(Days) | Subject)", lmf.datasets.load("sleepstudy")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.ProfileWarning)
        ci = fit.confint()
    est = lmf.results.varpar.default_statistics(fit)
    assert list(ci.index) == list(est.index)
    assert np.all((ci.iloc[:, 0] < est) & (est < ci.iloc[:, 1]))
    assert ci.loc[".sig02"].iloc[0] >= -1 and ci.loc[".sig02"].iloc[1] <= 1


def _boot_check(key: str, boot: lmf.BootstrapResult) -> None:
    ref = REF[key]["bootmer"]
    boot_ci = REF[key]["boot_confint"]
    assert boot_ci["parm"] == ref["names"] == list(boot.t.columns)
    m = int(ref["n_ok"][0])  # R's replicates (bootMer(m, FUN, nsim = 500, seed = ...))
    n = int(boot.t.notna().all(axis=1).sum())
    summary = boot.summary()
    ci = boot.confint()
    z = stats.norm.ppf(0.975)
    q_se = np.sqrt(0.025 * 0.975) / stats.norm.pdf(z)
    for i, name in enumerate(ref["names"]):
        sd = ref["sd"][i]
        mean_tol = 4 * sd * np.sqrt(1 / n + 1 / m)
        assert abs(summary.loc[name, "mean"] - ref["mean"][i]) <= mean_tol, name
        sd_tol = 5 * sd * np.sqrt(1 / (2 * (n - 1)) + 1 / (2 * (m - 1)))
        assert abs(summary.loc[name, "std_error"] - sd) <= sd_tol, name
        # confint(m, method = "boot", nsim = 500, seed = ...): the same numbers as
        # confint(bootMer(...), type = "perc") with that seed.
        perc_tol = 4 * sd * q_se * np.sqrt(1 / n + 1 / m)
        assert abs(ci.loc[name].iloc[0] - boot_ci["lower"][i]) <= perc_tol, name
        assert abs(ci.loc[name].iloc[1] - boot_ci["upper"][i]) <= perc_tol, name


def test_bootstrap_as_bootmer_sleepstudy() -> None:
    # 300 replicates against R's 500 (bootMer(m, FUN, nsim = 500, seed = 101)).
    fit = _fit("sleepstudy")
    boot = fit.bootstrap(300, seed=2024, progress=False)
    assert boot.n == 300 and boot.n_failed == 0
    pd.testing.assert_series_equal(boot.t0, lmf.results.varpar.default_statistics(fit))
    _boot_check("sleepstudy", boot)


def test_boot_confint_is_the_bootstrap_percentile_interval() -> None:
    # lme4's confint(method = "boot") is confint(bootMer(m, FUN, nsim), type = "perc").
    fit = _fit("dyestuff")
    ci = fit.confint(method="boot", nsim=30, seed=9, progress=False, level=0.9)
    boot = fit.bootstrap(30, seed=9, progress=False)
    pd.testing.assert_frame_equal(ci, boot.confint(level=0.9))
    basic = fit.confint(method="boot", nsim=30, seed=9, progress=False, boot_type="basic")
    t0 = boot.t0.to_numpy()
    np.testing.assert_allclose(basic.iloc[:, 0], 2 * t0 - boot.confint().iloc[:, 1])


def test_bootstrap_as_bootmer_exam() -> None:
    # 100 replicates of 4,059 rows against R's 500 (seed = 202): tolerances widen with 1/n.
    _boot_check("exam", _fit("exam").bootstrap(100, seed=5, progress=False))


def test_bootstrap_reproducible_and_parallel() -> None:
    fit = _fit("dyestuff")
    a = fit.bootstrap(6, seed=11, progress=False)
    b = fit.bootstrap(6, seed=11, progress=False)
    pd.testing.assert_frame_equal(a.t, b.t)
    c = fit.bootstrap(6, seed=11, n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(a.t, c.t)
    assert not fit.bootstrap(6, seed=12, progress=False).t.equals(a.t)


def test_bootstrap_counts_failures() -> None:
    fit = _fit("dyestuff")

    def fragile(m: lmf.LmerResult) -> pd.Series:
        if m.fixef.iloc[0] > fit.fixef.iloc[0]:
            raise RuntimeError("above the estimate")
        return m.fixef

    with pytest.warns(lmf.BootstrapWarning, match="bootstrap refits failed"):
        boot = fit.bootstrap(20, seed=3, progress=False, func=fragile)
    assert 0 < boot.n_failed < 20
    assert boot.errors == {"RuntimeError: above the estimate": boot.n_failed}
    assert boot.t.isna().all(axis=1).sum() == boot.n_failed
    assert boot.summary().loc["(Intercept)", "n_ok"] == 20 - boot.n_failed


def test_bootstrap_of_a_residual_structure() -> None:
    orth = lmf.datasets.load("orthodont")
    fit = lmf.lmer("distance ~ age + (1 | Subject)", orth, residual=lmf.AR1("age | Subject"))
    boot = fit.bootstrap(5, seed=1, progress=False)
    assert list(boot.t.columns) == [".sig01", ".sigma", "rho", "(Intercept)", "age"]
    assert boot.t.notna().all().all()


@pytest.mark.parametrize(
    "level,labels",
    [
        (0.95, ["2.5 %", "97.5 %"]),  # lme4:::format.perc(c(0.025, 0.975), 3)
        (0.9, ["5 %", "95 %"]),
        (0.99, ["0.5 %", "99.5 %"]),
        (0.999, ["0.05 %", "99.95 %"]),
        (0.975, ["1.25 %", "98.75 %"]),
    ],
)
def test_interval_labels_as_r(level: float, labels: list[str]) -> None:
    a = (1 - level) / 2
    assert format_percent([a, 1 - a]) == labels


def test_percentile_interval_as_boot() -> None:
    # boot:::norm.inter(c(5, 3, 1, 2, 4, 8, 7, 6, 9, 10, 11), c(0.025, 0.975, 0.1))
    t = np.array([5, 3, 1, 2, 4, 8, 7, 6, 9, 10, 11], dtype=float)
    np.testing.assert_allclose(
        percentile_interval(t, [0.025, 0.975, 0.1]), [1.0, 11.0, 1.244103127], rtol=1e-9
    )


# -- simulation ---------------------------------------------------------------------------


def _check_moments(sims: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> None:
    n = sims.shape[1]
    se_mean = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(sims.mean(axis=1) - mean) <= 4.5 * se_mean)
    # Var of a sample covariance of normals: (Σ_ii Σ_jj + Σ_ij²) / n.
    d = np.diag(cov)
    se_cov = np.sqrt((np.outer(d, d) + cov**2) / n)
    assert np.all(np.abs(np.cov(sims) - cov) <= 5 * se_cov)


SIM_MODELS = {
    "random slopes": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", {}, "308"),
    "AR1 residuals + VarIdent": (
        "distance ~ age + (1 | Subject)",
        "orthodont",
        {"residual": lmf.AR1("age | Subject"), "variance": lmf.VarIdent("Sex")},
        "F01",
    ),
    "gls UN": ("distance ~ Sex * age", "orthodont", {"residual": lmf.UN("age | Subject")}, "M01"),
}


@pytest.mark.parametrize("name", list(SIM_MODELS))
def test_simulate_moments_match_marginal_cov(name: str) -> None:
    formula, data, extra, subject = SIM_MODELS[name]
    df = lmf.datasets.load(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = lmf.gls if name.startswith("gls") else lmf.lmer
        fit = fn(formula, df, **extra)
    cov = fit.marginal_cov(subject)
    sims = fit.simulate(4000, seed=1).loc[cov.index].to_numpy()
    mean = fit.predict(re_form="~0")[fit.model_frame.index.get_indexer(cov.index)]
    _check_moments(sims, mean, cov.to_numpy())


def test_simulate_with_weights_and_conditional_modes() -> None:
    sleep = lmf.datasets.load("sleepstudy")
    w = np.linspace(0.5, 2.0, len(sleep))
    fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", sleep, weights=w)
    rows = fit.model_frame.index[:10]
    # use.u = TRUE: the modes are kept, residuals only: N(fitted, σ²/w).
    sims = fit.simulate(4000, seed=2, re_form=None).loc[rows].to_numpy()
    _check_moments(sims, fit.fitted()[:10], np.diag(fit.sigma**2 / w[:10]))
    again = fit.simulate(4000, seed=2, use_u=True).loc[rows].to_numpy()
    np.testing.assert_array_equal(sims, again)
    # New random effects: the marginal covariance, weights included.
    cov = fit.marginal_cov("308")
    sims = fit.simulate(4000, seed=3).loc[cov.index].to_numpy()
    _check_moments(sims, fit.predict(re_form="~0")[:10], cov.to_numpy())


def test_simulate_is_reproducible_by_seed() -> None:
    fit = _fit("sleepstudy")
    a = fit.simulate(3, seed=5)
    assert list(a.columns) == ["sim_1", "sim_2", "sim_3"]
    assert a.index.equals(fit.model_frame.index)
    pd.testing.assert_frame_equal(a, fit.simulate(3, seed=5))
    pd.testing.assert_frame_equal(a, fit.simulate(3, seed=np.random.default_rng(5)))
    assert not a.equals(fit.simulate(3, seed=6))


def test_simulate_bad_arguments() -> None:
    fit = _fit("dyestuff")
    with pytest.raises(lmf.errors.ArgumentTypeError, match="only one of use_u"):
        fit.simulate(re_form=None, use_u=True)
    with pytest.raises(lmf.errors.ArgumentTypeError, match="nsim"):
        fit.simulate(0)
    with pytest.raises(lmf.errors.ArgumentTypeError, match="re_form"):
        fit.simulate(re_form="~(1 | Batch)")


def test_interval_bad_arguments() -> None:
    fit = _fit("dyestuff")
    with pytest.raises(lmf.errors.ArgumentTypeError, match="method must be one of"):
        fit.confint(method="mcmc")
    with pytest.raises(lmf.errors.ArgumentTypeError, match="not a parameter"):
        fit.confint(parm="Days")
    with pytest.raises(lmf.errors.ArgumentTypeError, match="level"):
        fit.confint(level=95)
    orth = lmf.datasets.load("orthodont")
    ar1 = lmf.lmer("distance ~ age + (1 | Subject)", orth, residual=lmf.AR1("age | Subject"))
    with pytest.raises(lmf.NotExpressibleError, match="method='boot'"):
        ar1.confint()
    # Wald needs no profile: it works for any model.
    assert list(ar1.confint(method="wald").index) == [".sig01", ".sigma", "(Intercept)", "age"]


# -- refitting ----------------------------------------------------------------------------


def test_refit_with_the_same_response_reproduces_the_fit() -> None:
    fit = _fit("exam")
    again = refit_response(fit, fit.model_frame["normexam"])
    np.testing.assert_allclose(again.fixef, fit.fixef, rtol=1e-6)
    np.testing.assert_allclose(again.theta, fit.theta, rtol=1e-5)
    assert again.reml_criterion == pytest.approx(fit.reml_criterion, abs=1e-7)


def test_engine_with_response_equals_a_fresh_engine() -> None:
    pen = lmf.datasets.load("penicillin")
    fit = lmf.lmer(
        "diameter ~ 1 + (1 | plate) + (1 | sample)", pen, weights=np.linspace(1, 2, len(pen))
    )
    y = fit.state.design.y + np.random.default_rng(0).normal(size=fit.nobs)
    fresh = BlockedPLS(fit.state.design.with_response(y), True)
    assert make_engine(fit.state.model).with_response(y).deviance(fit.theta) == pytest.approx(
        fresh.deviance(fit.theta), rel=1e-12
    )
    orth = lmf.datasets.load("orthodont")
    ar1 = lmf.lmer("distance ~ age + (1 | Subject)", orth, residual=lmf.AR1("age | Subject"))
    y = ar1.state.design.y + np.random.default_rng(1).normal(size=ar1.nobs)
    par = ar1.state.params
    fresh_m = MarginalDeviance(ar1.state.design.with_response(y), True, ar1.state.residual)
    assert make_engine(ar1.state.model).with_response(y).deviance(par) == pytest.approx(
        fresh_m.deviance(par), rel=1e-12
    )


def test_design_with_response_keeps_only_what_y_does_not_change() -> None:
    """with_response is a shallow copy that keeps the cached properties: each must be the
    one a design made anew with that response computes (a cached property that read y
    would be carried over stale); the refit's model frame holds the new response, the
    fit's its own."""
    from dataclasses import fields, replace
    from functools import cached_property

    from lmeformula.cached import cached_attribute
    from lmeformula.model.design import Design

    fit = _fit("sleepstudy")
    design = fit.state.design
    cached = [
        n for n, v in vars(Design).items() if isinstance(v, (cached_property, cached_attribute))
    ]
    assert {"theta_slices", "lower", "upper", "start", "Z"} <= set(cached)
    for name in cached:
        getattr(design, name)
    y = design.y + np.random.default_rng(2).normal(size=design.y.size)
    copied = design.with_response(y)
    fresh = replace(design, y=y)
    assert [
        f.name for f in fields(Design) if getattr(copied, f.name) is not getattr(design, f.name)
    ] == ["y"]
    for name in cached:
        a, b = getattr(copied, name), getattr(fresh, name)
        if hasattr(a, "toarray"):
            a, b = a.toarray(), b.toarray()
        if isinstance(a, list):
            assert a == b, name
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)
    refitted = refit_response(fit, y)
    np.testing.assert_array_equal(refitted.model_frame["Reaction"].to_numpy(), y)
    np.testing.assert_array_equal(fit.model_frame["Reaction"].to_numpy(), design.y)


def test_new_response_must_fit_the_rows() -> None:
    fit = _fit("dyestuff")
    with pytest.raises(lmf.DataError, match="one value per row"):
        refit_response(fit, np.ones(3))
    with pytest.raises(lmf.DataError, match="non-finite"):
        refit_response(fit, np.full(fit.nobs, np.nan))
