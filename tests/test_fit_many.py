"""fit_many against lme4, one lmer fit per response, and against lmeformula's own single fits.

The data are tests/reference/many_responses.csv (40 responses on 30 groups x 8 rows, written
by make_many_data.py beside it); the numbers are tests/reference/fit_many.json, written by
make_fit_many.R (R 4.2.2, lme4 1.1.31): for each response ``<y>`` and model, the fields of
``m <- lmer(<y> ~ x + (x | g), d)`` and ``lmer(<y> ~ x + (1 | g), d, REML = FALSE,
weights = w)`` named in the JSON's ``r_exprs`` (``as.numeric(logLik(m))``, ``fixef(m)``,
``sqrt(diag(vcov(m)))``, ``sigma(m)``, ``as.data.frame(VarCorr(m))``, ``isSingular(m)``), or
the error R raised. Tolerances are test_reference.py's.

Beyond R: each response's numbers equal its single ``lmf.lmer`` fit's, failures are reported
and not raised, responses with their own missing values get their own rows, and the results
are the same bit for bit with 2 joblib workers and on a Dask LocalCluster.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_reference import CORR_ABS, FIXEF_OF_SE, SE_REL, VC_REL, loglik_tol

import lmeformula as lmf
from lmeformula.fitting.many import TABLE_COLUMNS

HERE = Path(__file__).parent / "reference"
REF = json.loads((HERE / "fit_many.json").read_text())
DATA = lmf.datasets.read_csv(HERE / "many_responses.csv")
RESPONSES = [f"y{j:02d}" for j in range(1, 40)] + ["label"]
# model id -> fit_many's arguments, as the model's r_call
MODELS: dict[str, dict[str, Any]] = {
    "slopes_reml": {"formula": "~ x + (x | g)", "reml": True},
    "intercept_ml_weights": {"formula": "~ x + (1 | g)", "reml": False, "weights": "w"},
}
# What lme4 fits and lmeformula refuses, deliberately: a constant response (lme4 returns
# sigma = 4e-16 and a log-likelihood of +8030, flagged as not converged).
REFUSED = {"y38": "is constant"}
# What both refuse (lme4's message, ours).
FAILS = {
    "y39": ("grouping factors must have > 1 sampled level", "'g' has 1 level"),
    "label": ("response must be numeric", "is not numeric"),
}

_MANY: dict[str, lmf.ManyFits] = {}


def many(model: str) -> lmf.ManyFits:
    if model not in _MANY:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lmf.FitManyWarning)
            _MANY[model] = lmf.fit_many(
                data=DATA, responses=RESPONSES, progress=False, **MODELS[model]
            )
    return _MANY[model]


def _r_fit(model: str, response: str) -> dict[str, Any]:
    return next(f for f in REF[model]["fits"] if f["response"] == response)


FITTED = [(m, f["response"]) for m in MODELS for f in REF[m]["fits"] if f["error"] is None]
COMPARED = [(m, y) for m, y in FITTED if y not in REFUSED]


@pytest.mark.parametrize(("model", "response"), COMPARED)
def test_each_response_as_lme4(model: str, response: str) -> None:
    ref = _r_fit(model, response)
    table, info = many(model).table, many(model).glance()
    block = table[table["response"] == response].set_index("term")
    # as.numeric(logLik(m)), nobs(m), isSingular(m), no convergence message
    assert info.loc[response, "loglik"] == pytest.approx(
        ref["loglik"], abs=loglik_tol(ref["loglik"])
    )
    assert info.loc[response, "nobs"] == ref["nobs"]
    assert bool(info.loc[response, "singular"]) == ref["singular"]
    assert bool(info.loc[response, "converged"]) == ref["converged"]
    # fixef(m), sqrt(diag(vcov(m)))
    for term, value in ref["fixef"].items():
        se = ref["fixef_se"][term]
        assert abs(block.loc[term, "estimate"] - value) <= FIXEF_OF_SE * se, term
        assert block.loc[term, "std_error"] == pytest.approx(se, rel=SE_REL), term
    # sigma(m), as.data.frame(VarCorr(m)): variances (a zero matched absolutely), correlations
    assert info.loc[response, "sigma"] == pytest.approx(ref["sigma"], rel=SE_REL)
    for row in ref["varcorr"]:
        if row["grp"] == "Residual":
            continue
        if row["var2"]:
            ours = block.loc[f"cor__{row['var1']}.{row['var2']}", "estimate"]
            assert ours == pytest.approx(row["sdcor"], abs=CORR_ABS), row
        else:
            ours = block.loc[f"sd__{row['var1']}", "estimate"] ** 2
            assert ours == pytest.approx(row["vcov"], rel=VC_REL, abs=1e-6), row


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("response", [*FAILS, *REFUSED])
def test_failures_are_reported_not_raised(model: str, response: str) -> None:
    ours = FAILS[response][1] if response in FAILS else REFUSED[response]
    if response in FAILS:
        # R: tryCatch(lmer(...), error = conditionMessage)
        assert _r_fit(model, response)["error"] == FAILS[response][0]
    result = many(model)
    assert ours in result.errors[response]
    rows = result.table[result.table["response"] == response]
    assert len(rows) == 1
    assert ours in rows["error"].iloc[0]
    assert np.isnan(rows["estimate"].iloc[0]) and not rows["converged"].iloc[0]
    assert ours in result.glance().loc[response, "error"]
    with pytest.raises(lmf.DataError, match="failed"):
        result.fits[response]


def test_failures_warn_once_and_the_others_are_fitted() -> None:
    with pytest.warns(lmf.FitManyWarning, match="3 of 40 responses could not be fitted"):
        result = lmf.fit_many("~ x + (1 | g)", DATA, RESPONSES, progress=False)
    assert sorted(result.errors) == ["label", "y38", "y39"]
    assert len(result.fits) == 37
    assert result.glance()["error"].isna().sum() == 37


def test_what_no_fit_can_use_is_reported_with_its_name() -> None:
    data = DATA[["x", "g", "y01"]].assign(empty=np.nan, w=DATA["w"])
    with pytest.warns(lmf.FitManyWarning, match="3 of 4"):
        result = lmf.fit_many(
            "~ x + (1 | g)", data, ["y01", "empty", "x", "w"], weights="w", progress=False
        )
    assert "no complete rows" in result.errors["empty"] and "'empty'" in result.errors["empty"]
    # A response that is also a predictor (or the weights) is not fitted against itself.
    for name in ("x", "w"):
        assert f"the response {name!r} is also a column" in result.errors[name]
    assert pd.isna(result.glance().loc["y01", "error"])
    assert repr(result).startswith("<ManyFits: 4 responses, 1 fitted (1 converged, 0 singular)")
    assert "<table" in result._repr_html_()


def test_table_layout() -> None:
    result = many("slopes_reml")
    table = result.table
    assert list(table.columns) == TABLE_COLUMNS
    assert list(dict.fromkeys(table["response"])) == RESPONSES
    block = table[table["response"] == "y01"]
    assert block["effect"].tolist() == ["fixed"] * 2 + ["ran_pars"] * 4
    assert block["term"].tolist() == [
        "(Intercept)",
        "x",
        "sd__(Intercept)",
        "cor__(Intercept).x",
        "sd__x",
        "sd__Observation",
    ]
    assert block["group"].tolist()[2:] == ["g", "g", "g", "Residual"]
    assert block["loglik"].nunique() == 1 and block["error"].isna().all()
    assert result.glance().columns.tolist() == [
        "nobs",
        "n_dropped",
        "sigma",
        "loglik",
        "aic",
        "bic",
        "reml_criterion",
        "converged",
        "singular",
        "evaluations",
        "na_pattern",
        "message",
        "error",
    ]
    wide = result.fixef()
    assert wide.shape == (40, 2) and list(wide.columns) == ["(Intercept)", "x"]
    assert wide.loc["y01", "x"] == block.set_index("term").loc["x", "estimate"]
    assert np.isnan(wide.loc["y38", "x"])


# responses of each kind: complete, singular, with missing values (two patterns)
SINGLE = ["y01", "y05", "y35", "y36", "y37"]


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("response", SINGLE)
def test_each_response_is_its_single_fit(model: str, response: str) -> None:
    kwargs = MODELS[model]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.SingularFitWarning)
        single = lmf.lmer(
            f"{response} {kwargs['formula']}",
            DATA,
            reml=kwargs["reml"],
            weights=kwargs.get("weights"),
        )
    result = many(model)
    info = result.glance().loc[response]
    assert info["loglik"] == pytest.approx(single.loglik, abs=1e-6)
    assert info["nobs"] == single.nobs and info["n_dropped"] == single.n_dropped
    block = result.table[result.table["response"] == response].set_index("term")
    ours = block.loc[single.fixef.index, "estimate"]
    assert np.all(np.abs(ours - single.fixef) <= 1e-6 * single.fixef_se)
    # The fit made on demand is the table's, bit for bit.
    fit = result.fits[response]
    assert fit.loglik == info["loglik"]
    tidy = fit.tidy(ddf=None)
    assert tidy["term"].tolist() == block.index.tolist()
    assert np.array_equal(tidy["estimate"].to_numpy(), block["estimate"].to_numpy())
    assert np.array_equal(
        tidy["std_error"].to_numpy(), block["std_error"].to_numpy(), equal_nan=True
    )
    assert fit.formula == f"{response} ~ {kwargs['formula'].lstrip('~ ')}"
    assert fit.model_frame.index.equals(single.model_frame.index)
    assert np.allclose(fit.fitted(), single.fitted(), rtol=0, atol=1e-6)
    assert np.allclose(fit.model_frame[response], single.model_frame[response], rtol=0, atol=0)


def test_missing_value_patterns() -> None:
    info = many("slopes_reml").glance()
    # y35 and y36 miss the same 12 rows, y37 5 others; the complete responses share one
    assert info.loc["y35", "na_pattern"] == info.loc["y36", "na_pattern"]
    assert len({info.loc[y, "na_pattern"] for y in ("y01", "y35", "y37")}) == 3
    assert info.loc[["y01", "y35", "y37"], "nobs"].tolist() == [240, 228, 235]
    assert info.loc["y35", "n_dropped"] == 12


def test_responses_as_a_frame_and_formula_with_a_response() -> None:
    names = ["y01", "y35", "y37"]
    a = lmf.fit_many("~ x + (x | g)", DATA, names, progress=False)
    frame = DATA[names].rename(columns=lambda c: f"gene {c}")
    b = lmf.fit_many("y ~ x + (x | g)", DATA[["x", "g"]], frame, progress=False)
    assert b.responses == [f"gene {c}" for c in names]
    pd.testing.assert_series_equal(
        a.table["estimate"], b.table["estimate"], check_names=False, check_exact=True
    )
    assert b.fits["gene y01"].formula == "`gene y01` ~ x + (x | g)"


def test_a_crossed_design_is_its_single_fits() -> None:
    # Two random terms: the general blocked engine, not the one-term one.
    pen = lmf.datasets.load("penicillin")
    pen["log_diameter"] = np.log(pen["diameter"])
    formula = "~ 1 + (1 | plate) + (1 | sample)"
    result = lmf.fit_many(formula, pen, ["diameter", "log_diameter"], progress=False)
    for y in ("diameter", "log_diameter"):
        single = lmf.lmer(f"{y} {formula}", pen)
        assert result.glance().loc[y, "loglik"] == pytest.approx(single.loglik, abs=1e-6)
        # Both stop within BOBYQA's tolerance (xtol_rel 1e-4) of the same optimum: the
        # deviance is flat there, and the two evaluations differ in the last bits.
        assert result.fits[y].varcorr()["vcov"].to_numpy() == pytest.approx(
            single.varcorr()["vcov"].to_numpy(), rel=1e-4
        )


def test_changed_data_is_detected() -> None:
    data = DATA[["x", "g", "y01", "y02"]].copy()
    result = lmf.fit_many("~ x + (1 | g)", data, ["y01", "y02"], progress=False)
    data.loc[0, "y02"] += 1.0
    assert result.fits["y01"].nobs == 240
    with pytest.raises(lmf.DataError, match="data changed"):
        result.fits["y02"]
    with pytest.raises(KeyError, match="Did you mean 'y01'"):
        result.fits["y1"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"responses": "y01"}, lmf.errors.ArgumentTypeError, "list of column names"),
        ({"responses": []}, lmf.errors.ArgumentTypeError, "empty"),
        ({"responses": ["y01", "y01"]}, lmf.errors.ArgumentTypeError, "'y01' more than once"),
        ({"responses": ["y01", "yy02"]}, lmf.DataError, "'yy02'.*Did you mean 'y02'"),
        ({"responses": DATA[["y01"]].iloc[::-1]}, lmf.DataError, "other rows than data"),
        ({"formula": "~ x"}, lmf.errors.ArgumentTypeError, "no random effects"),
        ({"formula": "~ x + (1 | gg)"}, lmf.DataError, "'gg'.*Did you mean 'g'"),
        ({"formula": "~ x + (1 | g"}, lmf.FormulaError, "unmatched '\\('"),
        ({"weights": "ww"}, lmf.DataError, "weights column 'ww'"),
        ({"n_jobs": 0}, lmf.errors.ArgumentTypeError, "n_jobs"),
        ({"backend": "spark"}, lmf.errors.ArgumentTypeError, "backend must be one of"),
        ({"client": object()}, lmf.errors.ArgumentTypeError, "backend='dask'"),
        ({"reml": "yes"}, lmf.errors.ArgumentTypeError, "reml"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    args: dict[str, Any] = {"formula": "~ x + (1 | g)", "data": DATA, "responses": ["y01"]}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        lmf.fit_many(**args, progress=False)


def test_two_workers_give_the_same_bits() -> None:
    serial = many("slopes_reml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.FitManyWarning)
        parallel = lmf.fit_many(
            "~ x + (x | g)", DATA, RESPONSES, n_jobs=2, chunk_size=3, progress=False
        )
    assert parallel.table.equals(serial.table)
    assert parallel.glance().equals(serial.glance())


@pytest.fixture(scope="module")
def dask_client() -> Any:
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install '.[test]')"
    )
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_dask_gives_the_same_bits(dask_client: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.FitManyWarning)
        on_dask = lmf.fit_many(
            "~ x + (x | g)",
            DATA,
            RESPONSES,
            backend="dask",
            client=dask_client,
            chunk_size=4,
            progress=False,
        )
    assert on_dask.table.equals(many("slopes_reml").table)
    assert on_dask.glance().equals(many("slopes_reml").glance())
    # The bootstrap and the model search run on the same machinery.
    fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    local = fit.bootstrap(12, seed=5, progress=False)
    remote = fit.bootstrap(12, seed=5, progress=False, backend="dask", client=dask_client)
    assert remote.t.equals(local.t)
    orth = lmf.datasets.load("orthodont")
    args = ("distance ~ Sex * I(age - 11)", orth)
    kwargs = {"subject": "Subject", "time": "age", "candidates": ("CS", "AR1")}
    sel = lmf.select_covariance(*args, **kwargs)
    sel_dask = lmf.select_covariance(*args, **kwargs, backend="dask", client=dask_client)
    assert sel_dask.table.equals(sel.table)
