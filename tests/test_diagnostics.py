"""Normalized residuals, ACF and variogram against nlme 3.1.162.

Reference: tests/reference/plots_data.json, made by tests/reference/make_plots_data.R; each
case records the nlme fit (``r_call``) and each table the R call that made it
(``residuals(m, type = "normalized")``, ``ACF(m, resType = ...)``, ``Variogram(m, form =
..., resType = ...)``). Tolerances: 1e-4 relative. Residual and ACF vectors are compared
relative to their largest absolute value (a value near 0 has no relative precision);
semivariogram values elementwise; pair counts and lags exactly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lmeformula as lmf
from lmeformula.errors import ArgumentTypeError, DataError

REF = Path(__file__).parent / "reference"
CASES = {c["id"]: c for c in json.loads((REF / "plots_data.json").read_text())["cases"]}
REL = 1e-4

_FITS: dict[str, Any] = {}


def _data(case: dict[str, Any]) -> Any:
    data = lmf.datasets.load(case["dataset"])
    if case.get("sort_by"):
        # As the R script does (Ovary[order(Ovary$Mare), ]): R's order() is stable.
        data = data.sort_values(case["sort_by"], kind="stable")
    return data


def _fit(case_id: str) -> Any:
    if case_id not in _FITS:
        case = CASES[case_id]
        call = case["lmf_call"]
        kwargs = {}
        if "residual" in call:
            kwargs["residual"] = getattr(lmf, call["residual"]["type"])(call["residual"]["form"])
        _FITS[case_id] = lmf.lmer(call["formula"], _data(case), reml=call["reml"], **kwargs)
    return _FITS[case_id]


def _rel_to_max(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))


@pytest.mark.parametrize("case_id", list(CASES))
def test_fit_is_nlmes(case_id: str) -> None:
    # The residuals below are only comparable at nlme's optimum: logLik(m).
    assert abs(_fit(case_id).loglik - CASES[case_id]["loglik"]) < 1e-6


@pytest.mark.parametrize("kind", ["normalized", "pearson"])
@pytest.mark.parametrize("case_id", list(CASES))
def test_residuals_as_nlme(case_id: str, kind: str) -> None:
    # residuals(m, type = kind), every row.
    ref = np.asarray(CASES[case_id][f"resid_{kind}"])
    ours = _fit(case_id).residuals(kind)
    assert _rel_to_max(ours, ref) < REL


def test_normalized_residuals_do_not_depend_on_row_order() -> None:
    # nlme needs the rows sorted by subject (see make_plots_data.R's `misaligned`: on
    # Ovary in data order 8 of 11 mares get another mare's factor); ours follow the
    # definition whatever the order. Fit on data order, compare row by row with R's sorted.
    case = CASES["ovary_lme_ar1"]
    assert max(case["misaligned"]["max_abs_diff"]) > 0.1  # the nlme issue is real
    call = case["lmf_call"]
    data = lmf.datasets.load("ovary")
    fit = lmf.lmer(call["formula"], data, residual=lmf.AR1(call["residual"]["form"]))
    ours = dict(zip(data.index, fit.residuals("normalized"), strict=True))
    sorted_index = _data(case).index
    ref = np.asarray(case["resid_normalized"])
    assert _rel_to_max(np.array([ours[i] for i in sorted_index]), ref) < REL


def test_normalized_equal_pearson_without_correlation() -> None:
    # nlme: without a corStruct, type = "normalized" gives the Pearson residuals; a
    # variance function alone leaves the rows uncorrelated.
    orth = lmf.datasets.load("orthodont")
    fit = lmf.gls("distance ~ Sex * I(age - 11)", orth, variance=lmf.VarIdent("Sex"))
    np.testing.assert_allclose(fit.residuals("normalized"), fit.residuals("pearson"), rtol=1e-12)


ACF = [(cid, key) for cid, c in CASES.items() for key in c if key.startswith("acf_")]


@pytest.mark.parametrize(("case_id", "key"), ACF, ids=[f"{c}-{k}" for c, k in ACF])
def test_acf_as_nlme(case_id: str, key: str) -> None:
    ref = CASES[case_id][key]
    table = lmf.plots.acf_data(_fit(case_id), resid_type=key.removeprefix("acf_"))
    np.testing.assert_array_equal(table["lag"], ref["lag"])
    np.testing.assert_array_equal(table["n_used"], ref["n_used"])
    # Relative to the largest value, the lag-0 autocorrelation 1: a value near 0 has no
    # relative precision.
    assert _rel_to_max(table["acf"].to_numpy(), np.asarray(ref["acf"])) < REL


VARIO = [(cid, key) for cid, c in CASES.items() for key in c if key.startswith("variogram_")]


def _variogram_args(r_call: str) -> dict[str, Any]:
    """The R call's arguments, in lmeformula's spelling."""
    args: dict[str, Any] = {"resid_type": re.search(r'resType = "(\w+)"', r_call)[1]}
    form = re.search(r"form = ~(\w+)", r_call)
    if form:
        args["time"] = form[1]
    for r_name, name, cast in [
        ("collapse", "collapse", str),
        ("nint", "nint", int),
        ("maxDist", "max_dist", float),
    ]:
        m = re.search(rf'{r_name} = "?([\w.]+)"?', r_call)
        if m:
            args[name] = cast(m[1])
    if "robust = TRUE" in r_call:
        args["robust"] = True
    return args


@pytest.mark.parametrize(("case_id", "key"), VARIO, ids=[f"{c}-{k}" for c, k in VARIO])
def test_variogram_as_nlme(case_id: str, key: str) -> None:
    ref = CASES[case_id][key]
    table = lmf.plots.variogram_data(_fit(case_id), **_variogram_args(ref["r_call"]))
    np.testing.assert_array_equal(table["n_pairs"], ref["n_pairs"])
    np.testing.assert_allclose(table["dist"], ref["dist"], rtol=1e-12)
    np.testing.assert_allclose(table["variog"], ref["variog"], rtol=REL, atol=0)


def test_variogram_without_collapse_lists_every_pair() -> None:
    fit = _fit("sleepstudy_lme")
    table = lmf.plots.variogram_data(fit, time="Days", collapse="none")
    # 18 subjects with 10 days each: 18 * 45 pairs.
    assert len(table) == 18 * 45
    binned = lmf.plots.variogram_data(fit, time="Days")
    means = table.groupby("dist")["variog"].mean().to_numpy()
    np.testing.assert_allclose(means, binned["variog"], rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda f: lmf.plots.variogram_data(f, time="Mare"), DataError, "numeric"),
        (lambda f: lmf.plots.variogram_data(f, time="age"), DataError, "model frame"),
        (lambda f: lmf.plots.variogram_data(f, collapse="bins"), DataError, "collapse"),
        (lambda f: lmf.plots.variogram_data(f, nint=0), ArgumentTypeError, "nint"),
        (lambda f: lmf.plots.acf_data(f, max_lag=-1), ArgumentTypeError, "max_lag"),
        (lambda f: lmf.plots.acf_data(f, resid_type="raw"), DataError, "resid_type"),
        (lambda f: lmf.plots.acf_data(f, group="Horse"), DataError, "Horse"),
        (lambda f: f.residuals("studentized"), DataError, "normalized"),
    ],
    ids=[
        "time-not-numeric",
        "time-not-in-frame",
        "collapse",
        "nint",
        "max-lag",
        "type",
        "group",
        "residual-type",
    ],
)
def test_bad_arguments(call: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call(_fit("ovary_lme_ar1"))


def test_gls_without_subjects_needs_group() -> None:
    orth = lmf.datasets.load("orthodont")
    fit = lmf.gls("distance ~ age", orth, variance=lmf.VarIdent("Sex"))
    with pytest.raises(DataError, match="group="):
        lmf.plots.acf_data(fit)
    # Named, a column of the model frame groups the rows.
    fit = lmf.gls("distance ~ age + Subject", orth, variance=lmf.VarIdent("Sex"))
    table = lmf.plots.acf_data(fit, group="Subject")
    # 27 children measured at 4 ages: 27 * 3 pairs one row apart.
    assert list(table["n_used"][:2]) == [108, 81]
