"""The optimum: the deviance at most lme4's plus 1e-6 on every lme4 reference model.

Every lme4 fit of a single model whose criterion the project's references record to full
precision (R 4.2.2, lme4 1.1.31, ``toJSON(digits = NA)``):

- tests/reference/reference.json, lme4 cases: ``REMLcrit(m)`` (REML) or ``deviance(m)``
  (ML), for the case's ``r_call``;
- tests/reference/extra.json (make_extra.R): ``as.numeric(logLik(m))`` for each ``r_call``;
- tests/reference/numerics.json (make_numerics.R): ``as.numeric(logLik(m))``, ``r_call``;
- tests/reference/partially_crossed.json (make_partially_crossed.R): ``REMLcrit(m)`` or
  ``deviance(m)`` (its ``r_exprs``);
- tests/reference/fit_many.json (make_fit_many.R): ``as.numeric(logLik(m))`` for
  ``lmer(<y> ~ x + (x | g), d)`` and ``lmer(<y> ~ x + (1 | g), d, REML = FALSE,
  weights = w)``, 10 of the 37 responses lme4 fits of each (all of lme4's singular fits
  of the first, the responses with missing values, the first few);
- test_restart_edge.py: ``as.numeric(logLik(lmer(y ~ x + (x | g), d, REML = FALSE)))``;
- tests/reference/notebook_numbers.json (make_notebook_numbers.R): its lme4 fits'
  ``REMLcrit``, ``logLik`` and ``AIC`` (logLik(m) = -(AIC(m) - 2 npar) / 2).

Our criterion must be at most lme4's + 1e-6 (a log-likelihood at least R's - 5e-7). The gaps
print as a table with ``pytest -s``. Each fit must also pass the convergence check with a
scaled gradient below 1e-5, except where a parameter sits on its bound (singular fits).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from test_extra_reference import EXTRA
from test_extra_reference import MODELS as EXTRA_MODELS
from test_extra_reference import fit as extra_fit
from test_fit_many import DATA as MANY_DATA
from test_fit_many import MODELS as MANY_MODELS
from test_fit_many import REF as MANY_REF
from test_numerics import CASES as NUMERICS_CASES
from test_numerics import REF as NUMERICS
from test_numerics import _fit as numerics_fit
from test_partially_crossed import MODELS as CROSSED_MODELS
from test_partially_crossed import REF as CROSSED
from test_partially_crossed import fit as crossed_fit
from test_reference import CASES, LME4, fit_case
from test_restart_edge import LOGLIK_RESTARTED
from test_restart_edge import _fit as restart_edge_fit

import lmeformula as lmf

HERE = Path(__file__).parent / "reference"
NOTEBOOKS = json.loads((HERE / "notebook_numbers.json").read_text())

#: Our criterion at most lme4's plus this (deviance scale: -2 log-likelihood).
DEVIANCE_SLACK = 1e-6
#: lme4's scaled gradient (its check.conv.grad measure) at our optimum, off the boundary.
MAX_GRADIENT = 1e-5


@dataclass(frozen=True)
class Entry:
    """One lme4 criterion: which fit, which criterion, lme4's value and its R expression."""

    fit: str  # a key of FITS
    kind: str  # "reml" (REMLcrit), "ml" (deviance) or "loglik"
    value: float
    r: str
    source: str

    @property
    def lme4_deviance(self) -> float:
        """lme4's value on the deviance scale (-2 log-likelihood)."""
        return -2.0 * self.value if self.kind == "loglik" else self.value


def _quiet(make: Callable[[], lmf.LmerResult]) -> lmf.LmerResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.SingularFitWarning)
        return make()


def _lmer(formula: str, dataset: str, **kwargs: object) -> lmf.LmerResult:
    return lmf.lmer(formula, lmf.datasets.load(dataset), **kwargs)


def _many(model: str, response: str) -> lmf.LmerResult:
    spec = MANY_MODELS[model]
    return lmf.lmer(
        f"{response} {spec['formula']}",
        MANY_DATA,
        reml=spec["reml"],
        weights=spec.get("weights"),
    )


#: fit id -> how to make the fit (each made once)
FITS: dict[str, Callable[[], lmf.LmerResult]] = {}
ENTRIES: dict[str, Entry] = {}


def _add(entry_id: str, fit_id: str, make: Callable[[], lmf.LmerResult], entry: Entry) -> None:
    FITS.setdefault(fit_id, make)
    ENTRIES[entry_id] = entry


# reference.json: REMLcrit(m) / deviance(m) of each lme4 case's r_call
for _id in LME4:
    _case = CASES[_id]
    _reml = _case["call"]["reml"]
    _add(
        f"reference/{_id}",
        _id,
        partial(fit_case, _id),
        Entry(
            _id,
            "reml" if _reml else "ml",
            _case["reml_criterion"] if _reml else _case["deviance_ml"],
            f"{'REMLcrit' if _reml else 'deviance'}({_case['r_call']})",
            "reference.json",
        ),
    )

# extra.json: as.numeric(logLik(m)) of each r_call
for _id in EXTRA_MODELS:
    _add(
        f"extra/{_id}",
        f"extra/{_id}",
        partial(extra_fit, _id),
        Entry(
            f"extra/{_id}",
            "loglik",
            EXTRA[_id]["loglik"],
            f"logLik({EXTRA[_id]['r_call']})",
            "extra.json",
        ),
    )

# numerics.json: as.numeric(logLik(m)) of each r_call
for _id, *_ in NUMERICS_CASES:
    _add(
        f"numerics/{_id}",
        f"numerics/{_id}",
        partial(lambda c: numerics_fit(c)[0], _id),
        Entry(
            f"numerics/{_id}",
            "loglik",
            NUMERICS[_id]["loglik"],
            f"logLik({NUMERICS[_id]['r_call']})",
            "numerics.json",
        ),
    )

# partially_crossed.json: REMLcrit(m) (REML) or deviance(m) (ML)
for _id, (_, _reml) in CROSSED_MODELS.items():
    _add(
        f"partially_crossed/{_id}",
        f"partially_crossed/{_id}",
        partial(crossed_fit, _id),
        Entry(
            f"partially_crossed/{_id}",
            "reml" if _reml else "ml",
            CROSSED[_id]["reml_criterion"] if _reml else CROSSED[_id]["deviance_ml"],
            f"{'REMLcrit' if _reml else 'deviance'}({CROSSED[_id]['r_call']})",
            "partially_crossed.json",
        ),
    )

# fit_many.json: as.numeric(logLik(m)) per response. lme4's isSingular(m) is TRUE for the
# first model's y05, y06, y07, y10, y16, y23, y33 and y36; y35, y36 and y37 have missing
# values of their own.
MANY_SAMPLE = {
    "slopes_reml": ["y05", "y06", "y07", "y10", "y16", "y23", "y33", "y36", "y35", "y37"],
    "intercept_ml_weights": ["y01", "y02", "y03", "y04", "y05", "y06", "y07", "y35", "y36", "y37"],
}
for _model, _responses in MANY_SAMPLE.items():
    for _y in _responses:
        _ref = next(f for f in MANY_REF[_model]["fits"] if f["response"] == _y)
        _key = f"fit_many/{_model}/{_y}"
        _add(
            _key,
            _key,
            partial(_many, _model, _y),
            Entry(
                _key,
                "loglik",
                _ref["loglik"],
                "logLik(" + MANY_REF[_model]["r_call"].replace("<y>", _y) + ")",
                "fit_many.json",
            ),
        )

# test_restart_edge.py's lme4 value (lme4's default restart_edge = TRUE)
_add(
    "restart_edge",
    "restart_edge",
    restart_edge_fit,
    Entry(
        "restart_edge",
        "loglik",
        LOGLIK_RESTARTED,
        'logLik(lmer(y ~ x + (x | g), read.csv("restart_edge.csv"), REML = FALSE))',
        "test_restart_edge.py",
    ),
)

# notebook_numbers.json: lme4's fits in the notebooks (nlme's and gls fits left out). The
# models of the shared reference reuse its fits; AIC(m) counts lme4's npar (fixed effects,
# θ and σ), so logLik(m) = -(AIC(m) - 2 npar) / 2 (the REML log-likelihood for REML fits).
_NB_EXAM = "01_exam_random_intercepts_and_slopes"
_NB_ORTH = "02_two_stage_view_orthodont"
_NB_COV = "03_repeated_measures_covariance"
_NB_CROSSED = "05_crossed_random_effects"
_NB_R = "06_for_r_users_side_by_side"
# (block, entry, fit id, how to fit, kind, npar for AIC entries)
_NOTEBOOK: list[tuple[str, str, str, Callable[[], lmf.LmerResult], str, int]] = [
    # m_ri <- lmer(normexam ~ standLRT + (1 | school), Exam)
    (_NB_EXAM, "ri_reml_criterion", "exam_ri", partial(fit_case, "exam_ri"), "reml", 0),
    # m1 <- lmer(normexam ~ standLRT + (1 + standLRT | school), Exam, REML = FALSE): 2 + 3 + 1
    (_NB_EXAM, "aic_m1", "exam_rs_ml", partial(fit_case, "exam_rs_ml"), "aic", 6),
    # m0 <- lmer(normexam ~ standLRT + (1 | school), Exam, REML = FALSE): 2 + 1 + 1
    (_NB_EXAM, "aic_m0", "exam_ri_ml", partial(fit_case, "exam_ri_ml"), "aic", 4),
    # m_diag <- lmer(normexam ~ standLRT + (1 + standLRT || school), Exam, REML = FALSE):
    # 2 + 2 + 1
    (
        _NB_EXAM,
        "aic_m_diag",
        "notebook/exam_m_diag",
        partial(_lmer, "normexam ~ standLRT + (1 + standLRT || school)", "exam", reml=False),
        "aic",
        5,
    ),
    # m_slope <- lmer(normexam ~ standLRT + (0 + standLRT | school), Exam, REML = FALSE):
    # 2 + 1 + 1
    (
        _NB_EXAM,
        "aic_m_slope",
        "notebook/exam_m_slope",
        partial(_lmer, "normexam ~ standLRT + (0 + standLRT | school)", "exam", reml=False),
        "aic",
        4,
    ),
    # m_ri <- lmer(distance ~ I(age - 11) * Sex + (1 | Subject), Orthodont): 4 + 1 + 1
    (
        _NB_ORTH,
        "ri_aic",
        "notebook/orthodont_ri",
        partial(_lmer, "distance ~ I(age - 11) * Sex + (1 | Subject)", "orthodont"),
        "aic",
        6,
    ),
    # ri <- lmerTest::lmer(distance ~ Sex * I(age - 11) + (1 | Subject), Orthodont)
    (
        _NB_COV,
        "ri_loglik",
        "notebook/orthodont_ri_sex_first",
        partial(_lmer, "distance ~ Sex * I(age - 11) + (1 | Subject)", "orthodont"),
        "loglik",
        0,
    ),
    # m_pen <- lmerTest::lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
    (
        _NB_CROSSED,
        "pen_reml_criterion",
        "penicillin_crossed",
        partial(fit_case, "penicillin_crossed"),
        "reml",
        0,
    ),
    # m_ie <- lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept:service), InstEval)
    (
        _NB_CROSSED,
        "ie_reml_criterion",
        "insteval_crossed",
        partial(fit_case, "insteval_crossed"),
        "reml",
        0,
    ),
    # m <- lmer(Reaction ~ Days + (Days | Subject), sleep)
    (_NB_R, "reml_criterion", "sleep_rs", partial(fit_case, "sleep_rs"), "reml", 0),
]
for _block, _name, _fit_id, _make, _kind, _npar in _NOTEBOOK:
    _rec = NOTEBOOKS[_block][_name]
    _value, _r = _rec["value"], _rec["r"]
    if _kind == "aic":
        _kind, _value, _r = "loglik", -(_value - 2 * _npar) / 2, f"-({_r} - 2 * {_npar}) / 2"
    _key = f"notebook/{_block[:2]}/{_name}"
    _add(_key, _fit_id, _make, Entry(_fit_id, _kind, _value, _r, "notebook_numbers.json"))

_FITTED: dict[str, lmf.LmerResult] = {}


def fitted(fit_id: str) -> lmf.LmerResult:
    if fit_id not in _FITTED:
        _FITTED[fit_id] = _quiet(FITS[fit_id])
    return _FITTED[fit_id]


def our_deviance(entry: Entry) -> float:
    """Our criterion for the entry, on the deviance scale."""
    fit = fitted(entry.fit)
    if entry.kind == "loglik":
        return -2.0 * fit.loglik
    assert fit.reml == (entry.kind == "reml"), entry
    return fit.reml_criterion if fit.reml else fit.deviance


def gap(entry: Entry) -> float:
    """Ours - lme4's, on the deviance scale (negative: ours is lower)."""
    return our_deviance(entry) - entry.lme4_deviance


@pytest.mark.parametrize("entry_id", list(ENTRIES))
def test_deviance_at_most_lme4s(entry_id: str) -> None:
    entry = ENTRIES[entry_id]
    fit = fitted(entry.fit)
    if entry.kind == "loglik":
        # as.numeric(logLik(m)) for the entry's R call
        assert fit.loglik >= entry.value - DEVIANCE_SLACK / 2, (entry.r, fit.loglik)
    else:
        # REMLcrit(m) or deviance(m) for the entry's R call
        assert our_deviance(entry) <= entry.value + DEVIANCE_SLACK, (entry.r, gap(entry))


def test_machines_reaches_the_reml_optimum() -> None:
    # glmmTMB and statsmodels' MixedLM reach 208.3112183164 on Machines' unstructured 3 x 3
    # model; lme4 stops at REMLcrit(lmer(score ~ Machine + (0 + Machine | Worker),
    # Machines)) = 208.311218493056, on BOBYQA's loose tolerance.
    fit = fitted("machines_un")
    assert fit.formula == "score ~ Machine + (0 + Machine | Worker)" and fit.reml
    assert fit.reml_criterion <= 208.3112183 + 5e-8
    assert fit.reml_criterion < CASES["machines_un"]["reml_criterion"]


def _on_boundary(fit: lmf.LmerResult) -> bool:
    par, layout = fit.state.params, fit.state.layout
    return bool(np.any(par == layout.lower) or np.any(par == layout.upper))


@pytest.mark.parametrize("fit_id", list(FITS))
def test_converged_with_a_small_gradient(fit_id: str) -> None:
    fit = fitted(fit_id)
    info = fit.optinfo
    assert info.converged, (info.optimizer, info.messages)
    if not _on_boundary(fit):
        assert info.max_gradient < MAX_GRADIENT, (info.optimizer, info.max_gradient)


def test_gap_table() -> None:
    # The table (run with -s): ours - lme4's on the deviance scale, negative where ours is
    # lower, sorted by source.
    rows = [(e.source, key, e.kind, gap(e)) for key, e in ENTRIES.items()]
    width = max(len(key) for _, key, _, _ in rows)
    lines = [f"{'source':<24} {'model':<{width}} {'crit':<6} {'ours - lme4':>14}"]
    lines += [f"{s:<24} {k:<{width}} {c:<6} {g:>14.3e}" for s, k, c, g in rows]
    gaps = np.array([g for *_, g in rows])
    lines.append(
        f"{len(rows)} criteria, {len(FITS)} fits: max gap {gaps.max():.3e}, "
        f"min {gaps.min():.3e}, {int((gaps < -1e-6).sum())} lower than lme4's by > 1e-6"
    )
    print("\n" + "\n".join(lines))
    assert gaps.max() <= DEVIANCE_SLACK
