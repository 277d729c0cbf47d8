"""fit_many with a family: many binary or count responses on one design, each fitted by
glmer's stages.

The data are simulated here (numpy's default_rng, a fixed seed): 30 groups x 8 rows, a
covariate x, five binary responses (two with their own missing values), a logical and a
two-level string response, two Poisson counts, and responses outside the binomial's and the
Poisson's support. Each response's fit must be its single ``lmf.glmer`` fit (the same code
path: the tolerances are tight), the table must be the fits' own ``tidy``, the results the
same bit for bit with two joblib workers, and what fails is reported with the response's
name. One response is checked against lme4 (R 4.2.2, lme4 1.1.31).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
from lmeformula.fitting.many import TABLE_COLUMNS

FORMULA = "~ x + (1 | g)"
BINARY = ["b1", "b2", "b3", "b4", "b5"]
COUNTS = ["c1", "c2"]
GLANCE_COLUMNS = [
    "nobs",
    "n_dropped",
    "sigma",
    "loglik",
    "aic",
    "bic",
    "deviance",
    "df_residual",
    "converged",
    "singular",
    "evaluations",
    "na_pattern",
    "message",
    "error",
]


def _simulate() -> pd.DataFrame:
    rng = np.random.default_rng(20240611)
    n_groups, per = 30, 8
    g = np.repeat(np.arange(n_groups), per)
    n = g.size
    x = rng.standard_normal(n)
    d = pd.DataFrame({"g": [f"g{k:02d}" for k in g], "x": x})
    for j, (b0, b1, sd) in enumerate(
        [(-0.5, 1.0, 1.0), (0.3, -0.6, 0.7), (0.0, 0.4, 1.5), (-1.0, 0.8, 0.8), (0.5, 0.0, 1.2)],
        start=1,
    ):
        u = sd * rng.standard_normal(n_groups)
        p = 1.0 / (1.0 + np.exp(-(b0 + b1 * x + u[g])))
        d[f"b{j}"] = (rng.random(n) < p).astype(float)
    d.loc[rng.choice(n, 12, replace=False), "b4"] = np.nan
    d.loc[rng.choice(n, 5, replace=False), "b5"] = np.nan
    for j, (b0, b1) in enumerate([(1.0, 0.5), (0.2, -0.3)], start=1):
        u = 0.5 * rng.standard_normal(n_groups)
        d[f"c{j}"] = rng.poisson(np.exp(b0 + b1 * x + u[g])).astype(float)
    d["flag"] = d["b1"] > 0.5  # logical
    d["word"] = np.where(d["b2"] > 0.5, "yes", "no")  # a two-level factor: "no" is failure
    d["bad"] = d["b3"]
    d.loc[7, "bad"] = 0.5  # neither 0 nor 1 (a proportion, without its trials)
    d["neg"] = d["c1"]
    d.loc[3, "neg"] = -1.0  # not a count
    return d


DATA = _simulate()
# Against lme4: test_glmer_reference.py's tolerances.
LOGLIK_TOL, FIXEF_TOL, SE_LAPLACE_TOL, VC_TOL = 2e-3, 0.005, 0.015, 0.01
_MANY: dict[str, lmf.ManyFits] = {}


def binary() -> lmf.ManyFits:
    if "binary" not in _MANY:
        _MANY["binary"] = lmf.fit_many(
            FORMULA, DATA, [*BINARY, "flag", "word"], family="binomial", progress=False
        )
    return _MANY["binary"]


def counts() -> lmf.ManyFits:
    if "counts" not in _MANY:
        _MANY["counts"] = lmf.fit_many(FORMULA, DATA, COUNTS, family="poisson", progress=False)
    return _MANY["counts"]


def _single(response: str, family: Any, **kwargs: Any) -> lmf.GlmerResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.SingularFitWarning)
        return lmf.glmer(f"{response} {FORMULA}", DATA, family, **kwargs)


def _assert_is_single(result: lmf.ManyFits, response: str, single: lmf.GlmerResult) -> None:
    info = result.glance().loc[response]
    assert info["loglik"] == pytest.approx(single.loglik, rel=1e-6)
    assert info["nobs"] == single.nobs and info["n_dropped"] == single.n_dropped
    assert info["aic"] == pytest.approx(single.aic, rel=1e-6)
    assert info["deviance"] == pytest.approx(single.deviance, rel=1e-6)
    assert info["df_residual"] == single.df_resid
    block = result.table[result.table["response"] == response].set_index("term")
    fixed = block.loc[single.fixef.index]
    np.testing.assert_allclose(fixed["estimate"], single.fixef, rtol=1e-5)
    np.testing.assert_allclose(fixed["std_error"], single.fixef_se, rtol=1e-5)
    assert result.fixef().loc[response].tolist() == fixed["estimate"].tolist()


@pytest.mark.parametrize("response", [*BINARY, "flag", "word"])
def test_each_binary_response_is_its_single_glmer_fit(response: str) -> None:
    _assert_is_single(binary(), response, _single(response, "binomial"))


@pytest.mark.parametrize("response", COUNTS)
def test_each_count_response_is_its_single_poisson_fit(response: str) -> None:
    _assert_is_single(counts(), response, _single(response, "poisson"))


@pytest.mark.parametrize(("many", "response"), [(binary, "b4"), (binary, "word"), (counts, "c2")])
def test_the_fit_made_on_demand_is_the_tables(many: Any, response: str) -> None:
    result = many()
    fit = result.fits[response]
    assert isinstance(fit, lmf.GlmerResult)
    assert fit.loglik == result.glance().loc[response, "loglik"]
    block = result.table[result.table["response"] == response]
    tidy = fit.tidy()
    assert tidy["term"].tolist() == block["term"].tolist()
    assert tidy["group"].tolist()[-1] == "g"  # no residual row without a dispersion
    assert np.array_equal(tidy["estimate"].to_numpy(), block["estimate"].to_numpy())
    assert np.array_equal(
        tidy["std_error"].to_numpy(), block["std_error"].to_numpy(), equal_nan=True
    )
    assert np.array_equal(
        tidy["statistic"].to_numpy(), block["statistic"].to_numpy(), equal_nan=True
    )
    glance = fit.glance().iloc[0]
    info = result.glance().loc[response]
    for ours, theirs in [("loglik", "logLik"), ("aic", "AIC"), ("bic", "BIC")]:
        assert info[ours] == glance[theirs]
    assert info["deviance"] == glance["deviance"]
    assert info["df_residual"] == glance["df_residual"]
    # Its model frame is the single fit's: the response's own values, rows and labels.
    single = _single(response, "poisson" if many is counts else "binomial")
    assert fit.formula == single.formula
    pd.testing.assert_frame_equal(fit.model_frame, single.model_frame)
    assert fit.n_dropped == single.n_dropped
    assert np.allclose(fit.fitted(), single.fitted(), rtol=1e-6, atol=0)


def test_table_and_glance_layout() -> None:
    result = binary()
    assert list(result.table.columns) == TABLE_COLUMNS
    block = result.table[result.table["response"] == "b1"]
    assert block["effect"].tolist() == ["fixed", "fixed", "ran_pars"]
    assert block["term"].tolist() == ["(Intercept)", "x", "sd__(Intercept)"]
    info = result.glance()
    assert info.columns.tolist() == GLANCE_COLUMNS
    assert "reml_criterion" not in info.columns
    assert (info["sigma"] == 1.0).all()
    assert info["converged"].all() and info["error"].isna().all()
    assert repr(result).startswith("<ManyFits: 7 responses, 7 fitted")
    wide = result.fixef()
    assert wide.shape == (7, 2) and list(wide.columns) == ["(Intercept)", "x"]


def test_missing_values_are_dropped_per_response() -> None:
    info = binary().glance()
    assert info.loc[["b1", "b4", "b5"], "nobs"].tolist() == [240, 228, 235]
    assert info.loc[["b1", "b4", "b5"], "n_dropped"].tolist() == [0, 12, 5]
    # the complete responses share one pattern; b4 and b5 have their own
    assert info.loc[["b1", "b2", "b3", "flag", "word"], "na_pattern"].nunique() == 1
    assert len({info.loc[y, "na_pattern"] for y in ("b1", "b4", "b5")}) == 3
    fit = binary().fits["b4"]
    assert fit.nobs == 228 and fit.n_dropped == 12
    assert fit.model_frame.index.equals(DATA.index[DATA["b4"].notna()])


def test_two_workers_give_the_same_bits() -> None:
    parallel = lmf.fit_many(
        FORMULA,
        DATA,
        [*BINARY, "flag", "word"],
        family="binomial",
        n_jobs=2,
        chunk_size=2,
        progress=False,
    )
    assert parallel.table.equals(binary().table)
    assert parallel.glance().equals(binary().glance())


def test_responses_outside_the_support_are_reported_with_their_names() -> None:
    with pytest.warns(lmf.FitManyWarning, match="2 of 4 responses could not be fitted"):
        result = lmf.fit_many(
            FORMULA, DATA, ["b1", "bad", "word", "c1"], family="binomial", progress=False
        )
    # glmer's own checks and messages (glm_response), with the response's name
    assert "DataError" in result.errors["bad"]
    assert "the response 'bad' has the value 0.5 (row 8)" in result.errors["bad"]
    assert "neither 0 nor 1" in result.errors["bad"]
    assert "the response 'c1'" in result.errors["c1"]
    assert pd.isna(result.glance().loc["word", "error"])
    rows = result.table[result.table["response"] == "bad"]
    assert len(rows) == 1 and "'bad'" in rows["error"].iloc[0]
    assert np.isnan(result.glance().loc["bad", "df_residual"])
    with pytest.raises(lmf.DataError, match="failed"):
        result.fits["bad"]
    with pytest.warns(lmf.FitManyWarning, match="2 of 3"):
        pois = lmf.fit_many(FORMULA, DATA, ["c1", "neg", "word"], family="poisson", progress=False)
    assert "the response 'neg' has the negative count -1 (row 4)" in pois.errors["neg"]
    assert "'word' is not numeric" in pois.errors["word"]
    assert pd.isna(pois.glance().loc["c1", "error"])


def test_a_constant_or_predictor_response_is_reported() -> None:
    data = DATA.assign(zeros=0.0)
    with pytest.warns(lmf.FitManyWarning, match="2 of 3"):
        result = lmf.fit_many(
            FORMULA, data, ["b1", "zeros", "x"], family="binomial", progress=False
        )
    assert "the response 'zeros' is constant" in result.errors["zeros"]
    assert "the response 'x' is also a column" in result.errors["x"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"family": "binomal"}, lmf.errors.ArgumentTypeError, "family='binomal'"),
        ({"family": object()}, lmf.errors.ArgumentTypeError, "family= takes a name"),
        ({"family": "negbin"}, lmf.errors.ArgumentTypeError, "glmer_nb"),
        ({"family": "binomial", "nagq": -1}, lmf.errors.ArgumentTypeError, "nagq"),
        ({"family": "binomial", "nagq": 1.5}, lmf.errors.ArgumentTypeError, "nagq"),
        (
            {"family": "binomial", "nagq": 5, "formula": "~ x + (x | g)"},
            lmf.FormulaError,
            "nagq=5 .*single scalar random-effects term",
        ),
        ({"family": "binomial", "formula": "~ x"}, lmf.errors.ArgumentTypeError, "no random"),
        ({"family": "binomial", "formula": "~ x + (1 | gg)"}, lmf.DataError, "'gg'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    args: dict[str, Any] = {"formula": FORMULA, "data": DATA, "responses": ["b1"]}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        lmf.fit_many(**args, progress=False)


@pytest.mark.parametrize("nagq", [0, 7])
def test_nagq_is_passed_to_glmer(nagq: int) -> None:
    result = lmf.fit_many(FORMULA, DATA, ["b1", "b4"], family="binomial", nagq=nagq, progress=False)
    for response in ("b1", "b4"):
        _assert_is_single(result, response, _single(response, "binomial", nagq=nagq))
    assert result.fits["b1"].nagq == nagq


def test_a_family_object_and_responses_as_a_frame() -> None:
    probit = lmf.families.binomial(link="probit")
    frame = DATA[["b1", "b5"]].rename(columns=lambda c: f"gene {c}")
    result = lmf.fit_many("y ~ x + (1 | g)", DATA[["x", "g"]], frame, family=probit, progress=False)
    for name in ("b1", "b5"):
        _assert_is_single(result, f"gene {name}", _single(name, probit))
    fit = result.fits["gene b1"]
    assert fit.formula == "`gene b1` ~ x + (1 | g)"
    assert fit.family.link.name == "probit"


def test_binomial_proportions_with_weights() -> None:
    # weights= the number of trials, for every response, as glmer takes a proportion
    rng = np.random.default_rng(7)
    data = DATA[["x", "g"]].assign(n=rng.integers(1, 6, len(DATA)).astype(float))
    group = data["g"].str[1:].astype(int).to_numpy()
    for j in (1, 2):
        eta = -0.5 + 0.3 * j + 0.8 * rng.standard_normal(30)[group] + 0.5 * data["x"]
        p = 1.0 / (1.0 + np.exp(-eta))
        data[f"p{j}"] = rng.binomial(data["n"].astype(int), p) / data["n"]
    result = lmf.fit_many(
        FORMULA, data, ["p1", "p2"], family="binomial", weights="n", progress=False
    )
    for name in ("p1", "p2"):
        single = lmf.glmer(f"{name} {FORMULA}", data, "binomial", weights="n")
        _assert_is_single(result, name, single)
    assert result.fits["p1"].loglik == result.glance().loc["p1", "loglik"]


def test_gaussian_with_the_identity_link_is_the_lmer_path() -> None:
    names = ["c1", "c2"]
    lmer_path = lmf.fit_many(FORMULA, DATA, names, progress=False)
    gaussian = lmf.fit_many(FORMULA, DATA, names, family="gaussian", progress=False)
    assert gaussian.table.equals(lmer_path.table)
    assert gaussian.glance().equals(lmer_path.glance())
    assert isinstance(gaussian.fits["c1"], lmf.LmerResult)
    assert "reml_criterion" in gaussian.glance().columns


def test_changed_data_is_detected() -> None:
    data = DATA[["x", "g", "b1", "b2"]].copy()
    result = lmf.fit_many(FORMULA, data, ["b1", "b2"], family="binomial", progress=False)
    data.loc[0, "b2"] = 1.0 - data.loc[0, "b2"]
    assert result.fits["b1"].nobs == 240
    with pytest.raises(lmf.DataError, match="data changed"):
        result.fits["b2"]


def test_b1_and_c1_as_lme4() -> None:
    # R 4.2.2, lme4 1.1.31, on DATA written to CSV with 17 significant digits (d), with
    # ctl <- glmerControl(optimizer = "bobyqa") as tests/reference/glmm_reference.json:
    # m <- glmer(b1 ~ x + (1 | g), d, family = binomial, control = ctl)
    r_loglik = -131.807197172  # as.numeric(logLik(m))
    r_fixef = {"(Intercept)": -0.8074018784, "x": 1.1513085036}  # fixef(m)
    r_se = {"(Intercept)": 0.2121778769, "x": 0.2077395037}  # sqrt(diag(vcov(m)))
    r_sd = 0.7297650338  # attr(VarCorr(m)$g, "stddev")
    info = binary().glance().loc["b1"]
    # lme4's Laplace deviance is taken where PIRLS's last step started (see
    # test_glmer_reference.py): its logLik is 5.7e-4 below ours, its SEs 2.1 % and 2.5 %
    # above (glmer's own difference from lme4, not fit_many's: each fit is glmer's).
    assert info["loglik"] == pytest.approx(r_loglik, abs=LOGLIK_TOL)
    block = binary().table[binary().table["response"] == "b1"].set_index("term")
    for term, value in r_fixef.items():
        assert abs(block.loc[term, "estimate"] - value) <= FIXEF_TOL * r_se[term], term
        assert block.loc[term, "std_error"] == pytest.approx(r_se[term], rel=0.03), term
    assert block.loc["sd__(Intercept)", "estimate"] ** 2 == pytest.approx(r_sd**2, rel=VC_TOL)
    # m2 <- glmer(c1 ~ x + (1 | g), d, family = poisson, control = ctl)
    r_loglik = -436.470736202  # as.numeric(logLik(m2))
    r_fixef = {"(Intercept)": 0.6994182965, "x": 0.5664131602}  # fixef(m2)
    r_se = {"(Intercept)": 0.09306505, "x": 0.04996749}  # sqrt(diag(vcov(m2)))
    r_sd = 0.4319054634  # attr(VarCorr(m2)$g, "stddev")
    info = counts().glance().loc["c1"]
    assert info["loglik"] == pytest.approx(r_loglik, abs=LOGLIK_TOL)
    block = counts().table[counts().table["response"] == "c1"].set_index("term")
    for term, value in r_fixef.items():
        assert abs(block.loc[term, "estimate"] - value) <= FIXEF_TOL * r_se[term], term
        assert block.loc[term, "std_error"] == pytest.approx(r_se[term], rel=SE_LAPLACE_TOL)
    assert block.loc["sd__(Intercept)", "estimate"] ** 2 == pytest.approx(r_sd**2, rel=VC_TOL)
