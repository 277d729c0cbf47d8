"""Contrasts of a glmer fit's marginal means against emmeans 1.8.4.1 (lme4 1.1.31).

tests/reference/glmer_contrasts.json is made by tests/reference/make_glmer_contrasts.R; each
table carries the R expression that made it (``r``, e.g. ``as.data.frame(summary(pairs(
emmeans(m, ~ period)), infer = TRUE, type = "response"))``) and the arguments of
``fit.emmeans_contrasts()`` that ask for the same thing (``args``). Each case also carries
R's ``fixef(m)`` and ``vcov(m)``.

Two comparisons:

- At R's estimates (our fit with R's fixed effects and covariance put in): the emmeans
  arithmetic itself, to 1e-6 relative (p-values 1e-8 absolute). The limits of dunnettx
  intervals to 1e-5: R finds its critical value with ``uniroot(tol = 5e-4)``, we solve to
  1e-10 (measured: 3.5e-6). Measured: all else within 7e-9 (Tukey limits; R's ``qtukey``).
- Our own fits: estimates and SEs to 2e-3 relative (estimates near 0: 2e-3 of the SE), and
  p-values to 2e-3 absolute, the brief's tolerances, which hold where our fixed effects'
  SEs agree with lme4's to 0.5 % (grouseticks: 1e-4). Where lme4 takes its Hessian at the
  working weights where its last PIRLS step started (test_glmer_reference's module
  docstring), its SEs, hence the z ratios and p-values, move: cbpp's by 1.3 % (SE_LAPLACE_TOL
  there is 1.5 %), the probit fit's by 0.6 %, Contraception's by 0.3 %; those cases get the
  looser tolerances in OWN_FIT_TOL, each with its measured difference.
"""

from __future__ import annotations

import copy
import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
from lmeformula.inference.emmeans import critical_values, emmeans_contrasts, p_adjust

REF = json.loads((Path(__file__).parent / "reference" / "glmer_contrasts.json").read_text())
CASES = {c["id"]: c for c in REF["cases"]}
TABLES = [(c["id"], i) for c in REF["cases"] for i in range(len(c["tables"]))]
IDS = [f"{cid}-{i}" for cid, i in TABLES]
ESTIMATES = {"estimate", "odds_ratio", "ratio"}
NUMERIC = ESTIMATES | {"std_error", "df", "lower_cl", "upper_cl", "t_ratio", "p_value"}

#: Own fits against R: (estimates and SEs relative, p-values absolute), with the largest
#: differences measured: cbpp 4e-4 / 1.3e-2 / 1.8e-2 (lme4's lagged Hessian, see the module),
#: probit 2.5e-4 / 5.7e-3 / 3.9e-3, Contraception 1.2e-3 / 2.7e-3 / 3.8e-4, grouseticks
#: 7e-6 / 9.8e-5 / 7e-7.
BRIEF = (2e-3, 2e-3)
OWN_FIT_TOL = {
    "cbpp_logit": (0.015, 0.025),
    "cbpp_probit": (0.008, 0.005),
    "contraception_int": (0.004, BRIEF[1]),
    "grouseticks_pois": BRIEF,
}


@cache
def _fit(cid: str) -> lmf.GlmerResult:
    case = CASES[cid]
    family = lmf.families.as_family(case["family"], case["link"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these fits warns in lme4 (bobyqa)
        return lmf.glmer(case["formula"], lmf.datasets.load(case["dataset"]), family=family)


@cache
def _at_r(cid: str) -> lmf.GlmerResult:
    """Our fit carrying R's ``fixef(m)`` and ``vcov(m)``: emmeans' inputs."""
    case, fit = CASES[cid], copy.copy(_fit(cid))
    names = list(case["fixef"])
    assert names == list(fit.fixef.index)
    fit.fixef = pd.Series(list(case["fixef"].values()), index=names, name="estimate")
    fit.vcov = pd.DataFrame(np.array(case["vcov"], dtype=float), index=names, columns=names)
    return fit


def _values(v: Any) -> list[Any]:
    # jsonlite unboxes one-element vectors and writes NA and Inf as strings.
    v = v if isinstance(v, list) else [v]
    return [np.nan if x == "NA" else np.inf if x == "Inf" else x for x in v]


def _compare(
    out: pd.DataFrame, table: dict, rtol: float, p_atol: float, cl_rtol: float | None
) -> None:
    ref = {col: _values(v) for col, v in table["table"].items()}
    assert list(out.columns) == list(ref), table["r"]
    assert len(out) == len(ref["contrast"])
    se = np.asarray(ref["std_error"], dtype=float)
    for col, expected in ref.items():
        got = out[col].to_numpy()
        if col not in NUMERIC:
            # Labels and by levels, as R prints them.
            assert [str(g) for g in got] == [str(e) for e in expected], (col, table["r"])
            continue
        r, g = np.asarray(expected, dtype=float), got.astype(float)
        if col == "df":
            assert np.all(np.isinf(g)) and np.all(np.isinf(r))  # emmeans' "df = Inf"
        elif col == "p_value":
            np.testing.assert_allclose(g, r, rtol=0, atol=p_atol, err_msg=f"{col} {table['r']}")
        elif col in ("lower_cl", "upper_cl"):
            if cl_rtol is not None:
                np.testing.assert_allclose(g, r, rtol=cl_rtol, err_msg=f"{col} {table['r']}")
        else:
            # A difference near 0 (link scale) is compared on the scale of its SE.
            scale = np.maximum(np.abs(r), se) if col in ESTIMATES else np.abs(r)
            assert np.all(np.abs(g - r) <= rtol * scale), (col, table["r"], g, r)


@pytest.mark.parametrize(("cid", "index"), TABLES, ids=IDS)
def test_at_r_estimates(cid: str, index: int) -> None:
    table = CASES[cid]["tables"][index]
    out = emmeans_contrasts(_at_r(cid), **table["args"])
    dunnettx = "trt.vs.ctrl" in table["r"] and "adjust" not in table["args"]
    _compare(out, table, rtol=1e-6, p_atol=1e-8, cl_rtol=1e-5 if dunnettx else 1e-6)


@pytest.mark.parametrize(("cid", "index"), TABLES, ids=IDS)
def test_own_fit(cid: str, index: int) -> None:
    table = CASES[cid]["tables"][index]
    out = _fit(cid).emmeans_contrasts(**table["args"])
    rtol, p_atol = OWN_FIT_TOL[cid]
    # The limits follow from the estimates and SEs (checked at R's estimates above).
    _compare(out, table, rtol=rtol, p_atol=p_atol, cl_rtol=None)


def test_response_scale_is_the_link_scale_transformed() -> None:
    fit = _fit("grouseticks_pois")
    link = fit.emmeans_contrasts("YEAR")
    resp = fit.emmeans_contrasts("YEAR", type="response")
    assert [c.replace(" - ", " / ") for c in link["contrast"]] == list(resp["contrast"])
    np.testing.assert_allclose(resp["ratio"], np.exp(link["estimate"]))
    np.testing.assert_allclose(resp["std_error"], resp["ratio"] * link["std_error"])
    np.testing.assert_allclose(resp["lower_cl"], np.exp(link["lower_cl"]))
    np.testing.assert_array_equal(resp["p_value"], link["p_value"])
    # Each by group is its own family: the same contrasts, the same adjusted p-values.
    by = _fit("contraception_int").emmeans_contrasts("livch", by="urban")
    assert list(by["urban"]) == ["N"] * 6 + ["Y"] * 6
    assert by["contrast"].iloc[2] == "0 - (3+)"


def test_dunnettx_as_emmeans() -> None:
    # R: 1 - emmeans:::.pdunnx(c(2, 3, 1), 3, df) for df = Inf and 12.5
    t = np.array([2.0, 3.0, 1.0])
    for df, r in (
        (np.inf, [0.11825013207179, 0.00776454720318, 0.61183875721477]),
        (12.5, [0.1652041033345, 0.0283561102734, 0.6293621670343]),
    ):
        np.testing.assert_allclose(p_adjust(t, np.full(3, df), "dunnettx", 3), r, rtol=1e-8)
    # R: emmeans:::.qdunnx(0.95, 3, Inf), 2.359426578, solved by uniroot(tol = 5e-4).
    cv = critical_values(0.95, np.full(1, np.inf), "dunnettx", 4, 3)[0]
    assert abs(cv - 2.359426578) < 5e-4
    # One contrast: no adjustment, the normal quantile.
    np.testing.assert_allclose(
        critical_values(0.95, np.full(1, np.inf), "tukey", 2, 1), [1.959964], rtol=1e-6
    )


BAD = [
    ({"type": "lin"}, lmf.errors.ArgumentTypeError, r"type must be 'link' or 'response'.*'lin'"),
    ({"type": None}, lmf.errors.ArgumentTypeError, "type must be 'link' or 'response'"),
    ({"method": "consec"}, lmf.errors.ArgumentTypeError, r"method must be one of.*'consec'"),
    ({"method": "trt.vs.ctrl", "adjust": "mvt"}, lmf.errors.ArgumentTypeError, "'mvt'"),
    ({"adjust": "scheffe"}, lmf.errors.ArgumentTypeError, r"adjust must be one of.*'scheffe'"),
    ({"level": 95}, lmf.errors.ArgumentTypeError, "level must be between"),
    ({"by": "period"}, lmf.errors.ArgumentTypeError, "named twice"),
    ({"specs": "herd"}, lmf.DataError, "grouping factor of the random effects"),
    ({"specs": "1"}, lmf.DataError, "two or more levels"),
    ({"at": {"periodd": ["1"]}}, lmf.DataError, "periodd"),
]


@pytest.mark.parametrize(("kw", "error", "match"), BAD, ids=[b[2] for b in BAD])
def test_bad_arguments_name_the_culprit(kw: dict, error: type, match: str) -> None:
    kw = {"specs": "period", **kw}
    with pytest.raises(error, match=match):
        _fit("cbpp_logit").emmeans_contrasts(**kw)


def test_what_is_not_expressible() -> None:
    # An lmer fit's contrasts are on the response scale already.
    fit = lmf.lmer("score ~ Machine + (1 | Worker)", lmf.datasets.load("machines"))
    with pytest.raises(lmf.NotExpressibleError, match="type='response'"):
        emmeans_contrasts(fit, "Machine", type="response")
