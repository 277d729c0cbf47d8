"""lme4's ``checkHess`` (lme4:::checkHess, tol = 1e-6 as lmerControl()$checkConv$
check.conv.hess$tol and glmerControl's): what each kind of Hessian at an optimum says, as a
table; the reference fits where lme4 warns are in tests/test_glmer_reference.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lmeformula as lmf
from lmeformula.fitting.checks import hessian_messages

CASES = [
    # (eigenvalues, lme4's message start, or None where lme4 is silent)
    ([1.0, 2.0, 3.0], None),
    ([20.35301, 6.709238e6], "Model is nearly unidentifiable: very large eigenvalue"),
    ([0.7816606, 3.028366e7], "Model is nearly unidentifiable: very large eigenvalue"),
    ([1e-4, 1e3], "Model is nearly unidentifiable: large eigenvalue ratio"),
    ([-1.0, 2.0, 3.0], "Model failed to converge: degenerate Hessian with 1 negative"),
    ([-1.0, -2.0, 3.0], "Model failed to converge: degenerate Hessian with 2 negative"),
    ([1e-9, 1.0], "Hessian is numerically singular"),
    ([-1e-8, 1.0], "Hessian is numerically singular"),  # within -tol: zero, not negative
]


@pytest.mark.parametrize(("eigenvalues", "message"), CASES)
def test_hessian_check_as_lme4(eigenvalues: list[float], message: str | None) -> None:
    rng = np.random.default_rng(len(eigenvalues))
    Q, _ = np.linalg.qr(rng.normal(size=(len(eigenvalues), len(eigenvalues))))
    H = Q @ np.diag(eigenvalues) @ Q.T
    out = hessian_messages(H)
    if message is None:
        assert out == []
    else:
        assert out and out[0].startswith(message)


def test_both_conditions_give_both_messages() -> None:
    # R: checkHess(diag(c(1e-1, 1e7)), 1e-6)$messages: very large eigenvalue, and
    # large eigenvalue ratio.
    out = hessian_messages(np.diag([1e-1, 1e7]))
    assert [m.split(" of the")[0] for m in out] == [
        "Model is nearly unidentifiable: very large eigenvalue",
        "Model is nearly unidentifiable: large eigenvalue ratio",
    ]


def test_infinite_hessian() -> None:
    assert hessian_messages(np.array([[np.inf, 0.0], [0.0, 1.0]]))[0].startswith("Problem")


@pytest.mark.parametrize(
    "fit",
    [
        # A singular lmer fit, a singular glmer fit: each warning names the caller's line.
        lambda: lmf.lmer(
            "Reaction ~ Days + (Days | Subject) + (1 | Days)", lmf.datasets.load("sleepstudy")
        ),
        lambda: lmf.glmer(
            "cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | period)",
            lmf.datasets.load("cbpp"),
            family="binomial",
        ),
    ],
    ids=["lmer", "glmer"],
)
def test_warnings_point_at_the_caller(fit) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    ours = [w for w in caught if issubclass(w.category, lmf.SingularFitWarning)]
    assert ours, [str(w.message) for w in caught]
    assert all(w.filename == __file__ for w in ours), [w.filename for w in ours]


# lme4's checkConv statistic, max(pmin(abs(solve(chol(H), g)), abs(g))), with g alone where
# chol(H) fails (lme4:::checkConv); each value from R as
# f <- function(H, g) { r <- try(chol(H), silent = TRUE)
#   max(pmin(abs(if (inherits(r, "try-error")) g else solve(r, g)), abs(g))) }
SCALED_GRADIENT_CASES = [
    # (H by columns, g, R's f(matrix(H, n), g))
    ([4.0, 1.0, 1.0, 3.0], [0.5, -0.2], 0.28015113445777634),
    (
        [2.0, 0.5, 0.1, 0.5, 1.0, 0.2, 0.1, 0.2, 5.0],
        [1e-3, -2e-4, 3e-3],
        0.0013470397652008117,
    ),
    ([-1.0, 0.0, 0.0, 2.0], [0.5, -0.2], 0.5),  # not positive definite: |g|
    ([1e-8, 0.0, 0.0, 1e-8], [1e-3, 2e-3], 0.002),  # solve() grows it: pmin keeps |g|
]


@pytest.mark.parametrize(("H", "g", "expected"), SCALED_GRADIENT_CASES)
def test_scaled_gradient_as_lme4(H: list[float], g: list[float], expected: float) -> None:
    from lmeformula.engines.derivatives import Derivatives

    n = len(g)
    hessian = np.array(H).reshape(n, n, order="F")
    derivs = Derivatives(np.ones(n), np.array(g), hessian, np.arange(n))
    assert derivs.scaled_gradient() == pytest.approx(expected, rel=1e-12)


def test_scaled_gradient_of_a_non_finite_gradient_is_nan() -> None:
    # A NaN must fail the convergence check (``not grad < tol``), never pass it as 0.
    from lmeformula.engines.derivatives import Derivatives

    derivs = Derivatives(np.ones(2), np.array([np.nan, 1e-9]), np.eye(2), np.arange(2))
    assert np.isnan(derivs.scaled_gradient())
    H = np.array([[np.inf, 0.0], [0.0, 1.0]])
    assert Derivatives(np.ones(2), np.array([0.3, -0.1]), H, np.arange(2)).scaled_gradient() == 0.3
