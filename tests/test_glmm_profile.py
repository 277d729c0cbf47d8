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
    parm = [".sig01", "time"]
    fast = _intervals(slope_fit, parm)
    monkeypatch.setattr(glmm_profile, "gradient_minimize", lambda *a, **k: None)
    slow = _intervals(slope_fit, parm)
    # Both minimisers stop within ~1e-8 of the deviance's minimum at each point; the
    # interval ends then agree to ~1e-5 (BOBYQA's xtol_rel = 1e-4 is the looser one).
    assert np.allclose(fast.to_numpy(), slow.to_numpy(), rtol=0, atol=2e-4)


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
