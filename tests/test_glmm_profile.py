"""The glmer profile by L-BFGS-B with the exact Laplace gradient is the profile BOBYQA gives.

Each profile point minimises the deviance over every parameter but one. Where the exact
gradient exists the minimiser is L-BFGS-B (in the coordinates of the fixed effects' Wald
covariance); elsewhere BOBYQA, as lme4. Both minimise the same function, so the
intervals they give agree to the minimisers' tolerance; the reference tests compare the
intervals with R's (tests/test_glmer_reference.py::test_profile_intervals).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmeformula as lmf
import lmeformula.inference.glmm_profile as glmm_profile


def _intervals(fit: lmf.GlmerResult, parm: list[str]) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.ProfileWarning)
        return fit.confint(method="profile", parm=parm, progress=False)


@pytest.fixture(scope="module")
def slope_fit() -> lmf.GlmerResult:
    # A vector term: its (σ, ρ) -> θ map has a non-trivial Jacobian in the chain rule.
    data = lmf.datasets.load("cbpp")
    data = data.assign(time=data["period"].astype(int) - 2.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.SingularFitWarning)
        return lmf.glmer(
            "cbind(incidence, size - incidence) ~ time + (1 + time | herd)",
            data,
            family="binomial",
        )


def test_gradient_path_is_bobyqas_profile(slope_fit, monkeypatch) -> None:
    fast = glmm_profile.glmm_profile(slope_fit, which=[".sig01", "time"], progress=False)
    monkeypatch.setattr(glmm_profile, "gradient_minimize", lambda *a, **k: None)
    slow = glmm_profile.glmm_profile(slope_fit, which=[".sig01", "time"], progress=False)
    # The walks step alike, so most points pair up to 1e-5 (a step depends on the last points'
    # ζ, so under another BLAS kernel one may move by 1e-4). At each pair, the deviance
    # minimised over the other parameters is BOBYQA's or lower (ζ² = d - d̂). At σ₀ = 0,
    # where ρ has no effect, BOBYQA stops 0.11 above the minimum that L-BFGS-B reaches
    # (ζ -2.294 against -2.269): the one point where they differ by more than their
    # tolerances. Elsewhere either may stop a little above the other's minimum: at the walk's
    # far end (ζ = 4.1) L-BFGS-B stopped 2.5e-5 above BOBYQA in deviance under scipy 1.17.1,
    # within the 1e-4 that both minimisers' tolerances allow there.
    paired = (fast["parameter"] == slow["parameter"]) & (
        (fast["value"] - slow["value"]).abs() < 1e-5
    )
    assert paired.mean() >= 0.7
    f, s = fast[paired], slow[paired]
    assert np.all(f["zeta"] ** 2 <= s["zeta"] ** 2 + 1e-4)
    same = ~((f["parameter"] == ".sig01") & (f["value"] < 1e-3))
    assert np.allclose(f["zeta"][same], s["zeta"][same], rtol=0, atol=1e-4)


def test_gradient_path_gives_bobyqas_intervals(slope_fit, monkeypatch) -> None:
    fast = _intervals(slope_fit, [".sig01", "time"])
    monkeypatch.setattr(glmm_profile, "gradient_minimize", lambda *a, **k: None)
    slow = _intervals(slope_fit, [".sig01", "time"])
    # Every end but .sig01's lower one, which the spline reads near σ₀ = 0 (above).
    pairs = [(".sig01", "97.5 %"), ("time", "2.5 %"), ("time", "97.5 %")]
    for row, col in pairs:
        assert abs(fast.loc[row, col] - slow.loc[row, col]) <= 2e-4, (row, col)


def test_gradient_path_is_taken(slope_fit, monkeypatch) -> None:
    # Not vacuous: the exact-gradient minimiser is what ran above.
    calls = []
    original = glmm_profile.gradient_minimize

    def counted(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(glmm_profile, "gradient_minimize", counted)
    _intervals(slope_fit, ["time"])
    assert calls and np.mean(calls) > 0.9
