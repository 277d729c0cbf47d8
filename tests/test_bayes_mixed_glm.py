"""``lmf.to_bayes_mixed_glm``: an lme4 formula as statsmodels' Bayesian mixed GLM.

What it refuses (each message names the culprit), the structure of what it builds (glmer's
fixed design and names, one sparse variance component per uncorrelated column) and one
variational-Bayes fit set against glmer's Laplace estimates.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lmeformula as lmf
from lmeformula.errors import DataError, NotExpressibleError

VERBAGG = "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)"


def _simulated(n_groups: int = 20, per_group: int = 12, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    n = g.size
    x = rng.normal(size=n)
    b = rng.normal(scale=0.8, size=n_groups)
    eta = -0.3 + 0.9 * x + b[g]
    return pd.DataFrame(
        {
            "y": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int),
            "c": rng.poisson(np.exp(0.2 + 0.3 * x)),
            "x": x,
            "f": np.array(["a", "b", "c"])[np.arange(n) % 3],
            "t": np.arange(n) % 4 + 1,
            "g": [f"g{k:02d}" for k in g],
            "h": [f"h{k % 2}" for k in range(n)],
            "s": rng.integers(0, 5, size=n),
            "m": np.full(n, 5),
            "o": rng.normal(size=n),
        }
    ).assign(p=lambda d: d["s"] / d["m"])


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return _simulated()


# formula, keyword arguments, text the message must contain
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("y ~ x + (1 + x | g)", {}, "(1 + x | g)"),
    ("y ~ x + (1 | h) + (x | g)", {}, "(x | g)"),
    ("y ~ x + (0 + f | g)", {}, "(0 + f | g)"),
    ("y ~ x + cs(0 + f | g)", {}, "cs(0 + f | g)"),
    ("y ~ x + ar1(0 + factor(t) | g)", {}, "ar1(0 + factor(t) | g)"),
    ("cbind(s, m - s) ~ x + (1 | g)", {}, "cbind(s, m - s)"),
    ("p ~ x + (1 | g)", {"weights": "m"}, "trials"),
    ("y ~ x + offset(o) + (1 | g)", {}, "offset(o)"),
    ("y ~ x + (1 | g)", {"offset": "o"}, "offset="),
    ("c ~ x + (1 | g)", {"family": "poisson", "weights": "m"}, "weights="),
    ("y ~ x + (1 | g)", {"family": lmf.families.binomial(link="probit")}, "probit"),
    ("c ~ x + (1 | g)", {"family": lmf.families.poisson(link="sqrt")}, "sqrt"),
    ("o ~ x + (1 | g)", {"family": "gaussian"}, "gaussian"),
    ("c ~ x + (1 | g)", {"family": lmf.families.negative_binomial(2.0)}, "Negative Binomial"),
    ("y ~ x + (1 | g)", {"nagq": 1}, "nagq"),
]


@pytest.mark.parametrize(("formula", "kwargs", "culprit"), REFUSED)
def test_refused_names_the_culprit(
    sim: pd.DataFrame, formula: str, kwargs: dict[str, Any], culprit: str
) -> None:
    with pytest.raises(NotExpressibleError) as err:
        lmf.to_bayes_mixed_glm(formula, sim, **kwargs)
    assert culprit in str(err.value)


def test_constant_response_is_a_data_error(sim: pd.DataFrame) -> None:
    # The design refuses it already, as glmer's does.
    with pytest.raises(DataError, match="constant"):
        lmf.to_bayes_mixed_glm("y ~ x + (1 | g)", sim.assign(y=1))


def test_verbagg_structure() -> None:
    verb = lmf.datasets.load("verbagg")
    model = lmf.to_bayes_mixed_glm(VERBAGG, verb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmf.glmer(VERBAGG, verb)
    assert type(model).__name__ == "BinomialBayesMixedGLM"
    assert model.fep_names == list(fit.fixef.index) == model.exog_names
    np.testing.assert_array_equal(model.exog, fit.state.X)
    # r2 is "N"/"Y": glmer's 0/1 reading of it.
    np.testing.assert_array_equal(model.endog, fit.state.y)
    assert set(np.unique(model.endog)) == {0.0, 1.0}
    assert sp.isspmatrix_csr(model.exog_vc) or isinstance(model.exog_vc, sp.csr_array)
    assert model.exog_vc.shape == (7584, 316 + 24)
    assert model.exog_vc.nnz == 2 * 7584  # one level of id and one of item per row
    assert model.vcp_names == ["id", "item"]
    np.testing.assert_array_equal(np.bincount(model.ident), [316, 24])
    assert model.vc_names[0] == f"id[{fit.state.design.terms[0].factor.levels[0]}]"
    assert len(model.vc_names) == 340


@pytest.mark.parametrize(
    "formula", ["y ~ x + (x || g)", "y ~ x + (1 | g) + (0 + x | g)", "y ~ x + diag(x | g)"]
)
def test_uncorrelated_slopes_are_two_components(sim: pd.DataFrame, formula: str) -> None:
    model = lmf.to_bayes_mixed_glm(formula, sim)
    n, q = len(sim), sim["g"].nunique()
    assert model.vcp_names == ["g", "g:x"]
    assert model.exog_vc.shape == (n, 2 * q)
    assert model.exog_vc.nnz == 2 * n
    np.testing.assert_array_equal(model.ident, np.repeat([0, 1], q))
    # The slope component's row sums are x itself (one level per row).
    slope = model.exog_vc[:, q:].sum(axis=1)
    np.testing.assert_allclose(np.asarray(slope).ravel(), sim["x"].to_numpy())


def test_nested_homdiag_and_repeated_terms(sim: pd.DataFrame) -> None:
    model = lmf.to_bayes_mixed_glm("y ~ x + (1 | g/h) + homdiag(0 + f | g)", sim)
    q = sim["g"].nunique()
    # lme4's order: most levels first, then as written.
    assert model.vcp_names == ["h:g", "g", "g:fa+fb+fc"]
    assert np.bincount(model.ident).tolist() == [2 * q, q, 3 * q]
    # f's dummy columns: one nonzero per row for the homdiag term, as for each intercept.
    assert model.exog_vc.nnz == 3 * len(sim)
    again = lmf.to_bayes_mixed_glm("y ~ x + (1 | g) + (1 | g)", sim)
    assert again.vcp_names == ["g", "g.1"]


def test_poisson_and_missing_rows(sim: pd.DataFrame) -> None:
    data = sim.copy()
    data.loc[[0, 5], "x"] = np.nan
    model = lmf.to_bayes_mixed_glm("c ~ x + f + (1 | g)", data, family="poisson")
    assert type(model).__name__ == "PoissonBayesMixedGLM"
    assert model.exog.shape == (len(data) - 2, 4)
    assert model.fep_names == ["(Intercept)", "x", "fb", "fc"]
    np.testing.assert_array_equal(model.endog, data["c"].drop(index=[0, 5]).to_numpy())


def test_priors_are_passed_and_checked(sim: pd.DataFrame) -> None:
    model = lmf.to_bayes_mixed_glm("y ~ x + (1 | g)", sim, vcp_p=0.5, fe_p=3.0)
    assert (model.vcp_p, model.fe_p) == (0.5, 3.0)
    with pytest.raises(lmf.errors.ArgumentTypeError, match="vcp_p"):
        lmf.to_bayes_mixed_glm("y ~ x + (1 | g)", sim, vcp_p=0.0)


def test_fit_vb_near_glmer() -> None:
    data = _simulated(n_groups=40, per_group=25, seed=7)
    formula = "y ~ x + (1 | g)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmf.glmer(formula, data)
        # rng fixes statsmodels' random starting standard deviations.
        vb = lmf.to_bayes_mixed_glm(formula, data).fit_vb(rng=0)
    glmer_beta = fit.fixef.to_numpy()
    glmer_sd = float(np.sqrt(fit.varcorr()["vcov"].iloc[0]))
    # Simulated with intercept -0.3 and slope 0.9: the slope's sign is not in doubt.
    assert vb.fe_mean[1] > 0 and glmer_beta[1] > 0
    # Variational Bayes is not lme4's Laplace maximum likelihood: a mean-field posterior
    # with priors, whose means differ from the ML estimates systematically (not by
    # rounding). The bands are loose on purpose: a few of glmer's standard errors.
    se = np.sqrt(np.diag(np.asarray(fit.vcov)))
    assert np.all(np.abs(vb.fe_mean - glmer_beta) < 2 * se)
    vb_sd = float(np.exp(vb.vcp_mean[0]))
    assert 0.5 * glmer_sd < vb_sd < 2 * glmer_sd
    assert np.all(vb.fe_sd > 0)
