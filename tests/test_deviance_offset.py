"""-2 log p(y | μ) as the deviance plus a constant (Family.deviance_offset), which the
Laplace objective reads instead of n logs an evaluation: the same at every μ, to
rounding, where the family has one; None where R's likelihood drops rows the deviance
keeps."""

import numpy as np
import pytest

import lmeformula as lmf

RNG = np.random.default_rng(7)
N = 300

# name: (family, y, prior weights, trials)
_trials = RNG.integers(1, 9, N).astype(float)
CASES = {
    "binomial 0/1": (lmf.families.binomial(), RNG.integers(0, 2, N).astype(float), None, None),
    "binomial cbind": (
        lmf.families.binomial(),
        RNG.binomial(_trials.astype(int), 0.4) / _trials,
        _trials,
        _trials,
    ),
    "poisson": (lmf.families.poisson(), RNG.poisson(3.0, N).astype(float), None, None),
    "poisson, weights": (
        lmf.families.poisson(),
        RNG.poisson(3.0, N).astype(float),
        RNG.uniform(0.5, 2.0, N),
        None,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_minus2loglik_is_the_deviance_shifted(name: str) -> None:
    fam, y, wt, trials = CASES[name]
    wt = np.ones(N) if wt is None else wt
    trials = np.ones(N) if trials is None else trials
    offset = fam.deviance_offset(y, wt, trials)
    assert offset is not None
    for scale in (0.2, 0.5, 0.9):
        mu = np.clip(RNG.uniform(0.05, 0.95, N), 0.01, 0.99) if "binomial" in name else None
        mu = mu if mu is not None else RNG.uniform(0.5, 6.0, N) * scale
        want = fam.minus2loglik(y, mu, wt, trials)
        got = float(np.sum(fam.dev_resids(y, mu, wt))) + offset
        assert got == pytest.approx(want, rel=1e-12, abs=1e-9)


def test_no_offset_where_a_row_has_under_half_a_trial() -> None:
    # R's binomial aic weighs row i by wt/m with m = round(wt): 0 for wt = 0.3.
    y = np.array([0.0, 1.0, 1.0])
    wt = np.array([1.0, 0.3, 2.0])
    assert lmf.families.binomial().deviance_offset(y, wt, wt) is None


def test_families_without_a_constant_have_none() -> None:
    y = RNG.gamma(2.0, 1.0, N)
    assert lmf.families.Gamma().deviance_offset(y, np.ones(N), np.ones(N)) is None
