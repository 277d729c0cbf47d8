"""The LMM optimizer's exact-gradient paths (issue 15, part 1).

One-term LMMs whose deviance and gradient are one compiled function are minimised by
compiled Newton steps (:func:`lmeformula.fitting.optimize._compiled_newton`); other LMMs
with a compiled gradient and at least ``GRADIENT_MIN_THETA`` θ entries start by SLSQP on the
exact gradient (:func:`lmeformula.fitting.optimize._uses_gradient`); every other LMM keeps
BOBYQA, and the last two end with the same Newton finish. Each case here is fitted by each
path that applies (the choice forced by patching): a gradient path must reach a deviance no
higher than BOBYQA's (+1e-7, the rounding of a flat optimum) and lme4's value stored in
tests/reference/reference.json (within the reference README's 1e-3 on the log-likelihood;
and never more than 1e-6 above it: every path ends at a tighter optimum than lme4's BOBYQA
tolerance).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import lmeformula as lmf
from lmeformula.fitting import optimize as opt
from lmeformula.fitting import stages

REFERENCE = json.loads((Path(__file__).parent / "reference" / "reference.json").read_text())
CASES = {c["id"]: c for c in REFERENCE["cases"]}

#: sleepstudy and Exam (one factor), Machines (6 θ, the gradient path by default),
#: Penicillin and two smaller crossed / nested models of two terms.
IDS = [
    "sleep_rs",
    "exam_rs",
    "machines_un",
    "penicillin_crossed",
    "machines_nested",
    "pastes_nested",
]

#: How far above BOBYQA's deviance the gradient path may end (rounding of a flat optimum).
ABOVE_BOBYQA = 1e-7
#: lme4's stored optimum is its BOBYQA's (xtol_rel 1e-4): ours may be lower by up to the
#: README's 1e-3, and higher by no more than this.
ABOVE_LME4 = 1e-6
LME4_ABS = 1e-3


#: The optimizer paths: the compiled Newton (where it applies), SLSQP, BOBYQA.
PATHS = ["compiled", "slsqp"]


def _fit(case_id: str, path: str, monkeypatch: pytest.MonkeyPatch) -> opt.OptInfo:
    case = CASES[case_id]
    if path != "compiled":
        monkeypatch.setattr(opt, "_compiled_newton", lambda engine, box, starts, near=False: None)
    monkeypatch.setattr(opt, "_uses_gradient", lambda engine: path != "bobyqa")
    model = stages.build_model(
        case["call"]["formula"], lmf.datasets.load(case["dataset"]), reml=case["call"]["reml"]
    )
    return stages.optimize(stages.make_engine(model))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case_id", IDS)
def test_gradient_path_no_worse_than_bobyqa(
    case_id: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    grad = _fit(case_id, path, monkeypatch)
    bob = _fit(case_id, "bobyqa", monkeypatch)
    assert grad.converged and bob.converged
    assert grad.deviance <= bob.deviance + ABOVE_BOBYQA
    # The same optimum: θ to the digits a flat likelihood determines.
    np.testing.assert_allclose(grad.par, bob.par, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case_id", IDS)
def test_gradient_path_matches_lme4(
    case_id: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[case_id]
    info = _fit(case_id, path, monkeypatch)
    ref = -2.0 * case["loglik"]  # the REML criterion or the ML deviance
    assert info.deviance <= ref + ABOVE_LME4
    assert abs(info.deviance - ref) < LME4_ABS


def test_default_choice() -> None:
    """One-term models and small systems whose Λ is θ among zeros (unstructured and
    diagonal blocks) take the compiled Newton path; a patterned structure (no exact
    gradient) keeps BOBYQA."""
    machines = lmf.datasets.load("machines")
    for formula, data, most in [
        # 327 evaluations by BOBYQA before the gradient paths; 71 measured compiled.
        ("score ~ Machine + (0 + Machine | Worker)", machines, 120),
        ("score ~ Machine + (Machine | Worker) + (1 | Worker:Machine)", machines, 200),
        ("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"), 60),
        ("Reaction ~ Days + (Days || Subject)", lmf.datasets.load("sleepstudy"), 60),
        ("diameter ~ 1 + (1 | plate) + (1 | sample)", lmf.datasets.load("penicillin"), 60),
    ]:
        fit = lmf.lmer(formula, data)
        assert fit.state.optinfo.optimizer.startswith("Newton, compiled"), formula
        assert fit.state.optinfo.evaluations < most, formula
        assert fit.state.optinfo.converged
    fit = lmf.lmer("score ~ Machine + cs(0 + Machine | Worker)", machines)
    assert fit.state.optinfo.optimizer.startswith("bobyqa")


@pytest.mark.parametrize("seed", [1, 3])
def test_singular_fit_on_gradient_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """sleepstudy with a grouping of no effect (4 θ, the gradient path): seed 1 ends with
    its θ at 0 (singular), seed 3 near it (lme4's restart_edge runs BOBYQA from SLSQP's
    end). Both paths agree on θ's boundary entries and on lme4's singular-fit check."""
    data = lmf.datasets.load("sleepstudy").copy()
    data["g"] = np.random.default_rng(seed).integers(0, 6, len(data)).astype(str)
    formula = "Reaction ~ Days + (Days | Subject) + (1 | g)"
    out = {}
    for gradient in (True, False):
        monkeypatch.setattr(opt, "_uses_gradient", lambda engine, g=gradient: g)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = lmf.lmer(formula, data)
        warned = any(issubclass(w.category, lmf.SingularFitWarning) for w in caught)
        assert fit.reml_criterion is not None
        out[gradient] = (fit.singular, warned, fit.theta == 0.0, float(fit.reml_criterion))
    assert out[True][0] == out[False][0] == (seed == 1)
    assert out[True][1] == out[False][1]
    np.testing.assert_array_equal(out[True][2], out[False][2])
    assert out[True][3] <= out[False][3] + ABOVE_BOBYQA


def test_compiled_newton_leaves_singular_fits_to_bobyqa() -> None:
    """A variance whose optimum is 0: the compiled steps come within BOUNDARY_GAP of the
    bound and stop (status 1); BOBYQA fits the model as lme4 does, θ exactly 0."""
    data = lmf.datasets.load("sleepstudy")
    data["noise"] = np.random.default_rng(1).normal(size=len(data))
    model = stages.build_model("noise ~ 1 + (1 | Subject)", data)
    engine = stages.make_engine(model)
    out = engine.objective.newton(
        engine.layout.starts()[0], engine.layout.lower, engine.layout.upper, gap=opt.BOUNDARY_GAP
    )
    assert out["status"] == 1
    with pytest.warns(lmf.SingularFitWarning):
        fit = lmf.lmer("noise ~ 1 + (1 | Subject)", data)
    assert fit.state.optinfo.optimizer.startswith("bobyqa")
    assert fit.theta[0] == 0.0
