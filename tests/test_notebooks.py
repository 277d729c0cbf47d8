"""Every notebook in ``notebooks/`` runs top to bottom from a fresh kernel, draws at least one
picture, and computes R's numbers.

Each notebook is executed once per test session (nbclient, a fresh ``python3`` kernel, the
notebook's folder as working directory). After its own cells, one more cell evaluates the
Python expressions of :data:`NUMBERS` in the notebook's namespace (the objects the notebook
made and printed) and prints them as JSON; the tests compare them with R's values in
``tests/reference/notebook_numbers.json`` (made by ``tests/reference/make_notebook_numbers.R``,
where each value sits beside the R expression that produced it).

Needs the test extras ``nbformat``, ``nbclient`` and ``ipykernel``; without them the tests
fail (they do not skip), so a missing dependency cannot hide a broken notebook.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
REFERENCE = json.loads((ROOT / "tests" / "reference" / "notebook_numbers.json").read_text())
CELL_TIMEOUT = 300  # seconds per cell
REQUIRED = ("nbformat", "nbclient", "ipykernel")
MARK = "LMEFORMULA-NOTEBOOK-NUMBERS "

# Relative tolerances. Likelihoods, fixed effects and what follows from them agree with
# lme4 and nlme to about 1e-6 (TIGHT); quantities that move along a flat likelihood, where
# two optimisers stop at slightly different points of the same optimum (variance components
# and correlations, df and p-values computed from them), to about 2e-4 (LOOSE); profile
# intervals (splines through points the optimiser places) to about 1e-3 (PROFILE). The
# shared reference tests allow 5e-3 for variance components.
TIGHT = 1e-5
LOOSE = 1e-3
PROFILE = 2e-3
# glmer fits against lme4's (the tolerances of tests/test_glmer_reference.py). lme4 takes the
# Laplace log-determinant at the working weights where PIRLS's last step started, not at the
# modes: its log-likelihoods are up to ~2e-3 away (absolute; 2e-6 of the |logLik| of 1180 to
# 2600 here, with quadrature 1e-9), its fixed effects within ~0.5 % of an SE (1e-3 of
# estimates with |z| > 4.6, and of the probabilities computed from them), its standard
# errors (and the Wald limits made from them) within ~0.5-1.3 %, variance components and what
# follows from them (ICC, R², the negative binomial's θ) within 1 %.
GLMM_LOGLIK = 2e-6
GLMM_FIXEF = 1e-3
GLMM_SE = 1.5e-2
GLMM_VC = 1e-2

# notebook -> {key in notebook_numbers.json: (Python expression in the notebook, rtol)}
NUMBERS: dict[str, dict[str, tuple[str, float]]] = {
    "01_exam_random_intercepts_and_slopes": {
        "ri_reml_criterion": ("m_ri.reml_criterion", TIGHT),
        "ri_var_school": ("s2_u", TIGHT),
        "ri_var_residual": ("s2_e", TIGHT),
        "ri_icc_adjusted": ("icc['adjusted']", TIGHT),
        "ri_icc_unadjusted": ("icc['unadjusted']", TIGHT),
        "ri_r2_marginal": ("r2['marginal']", TIGHT),
        "ri_r2_conditional": ("r2['conditional']", TIGHT),
        "ri_marginal_cov_offdiag": ("V1.iloc[0, 1]", TIGHT),
        "rs_fixef_standLRT": ("m_rs.fixef['standLRT']", TIGHT),
        "rs_se_standLRT": ("m_rs.fixef_se['standLRT']", TIGHT),
        "rs_sd_slope": ("sigma_1", TIGHT),
        "rs_corr": ("m_rs.varcorr()['sdcor'].iloc[2]", LOOSE),
        "rs_sigma": ("m_rs.sigma", TIGHT),
        "rs_coef_school1_intercept": ("coefs.loc['1', '(Intercept)']", TIGHT),
        "rs_condsd_school1_intercept": ("re.loc[0, 'condsd']", TIGHT),
        "ols_sd_slopes": ("ols['standLRT'].std()", TIGHT),
        "lrt_m0_m1": ("lmf.anova(m0, m1)['Chisq'].iloc[1]", TIGHT),
        "p_m0_m1": ("lmf.anova(m0, m1)['Pr(>Chisq)'].iloc[1]", LOOSE),
        "p_mixture_m0_m1": ("lmf.anova(m0, m1)['Pr(>Chisq) mixture'].iloc[1]", LOOSE),
        "lrt_m0_diag": ("table.loc['m_diag', 'lrt']", TIGHT),
        "p_mixture_m0_diag": ("table.loc['m_diag', 'p_value_mixture']", LOOSE),
        "lrt_diag_m1": ("table.loc['m1', 'lrt']", LOOSE),
        "lrt_slope_diag": ("lmf.anova(m_slope, m_diag)['Chisq'].iloc[1]", TIGHT),
        "aic_m1": ("table.loc['m1', 'aic']", TIGHT),
        "aic_m_diag": ("table.loc['m_diag', 'aic']", TIGHT),
        "aic_m0": ("table.loc['m0', 'aic']", TIGHT),
        "aic_m_slope": ("table.loc['m_slope', 'aic']", TIGHT),
        "bic_m1": ("table.loc['m1', 'bic']", TIGHT),
        "bic_m_diag": ("table.loc['m_diag', 'bic']", TIGHT),
        "weight_m1": ("table.loc['m1', 'weight']", TIGHT),
    },
    "02_two_stage_view_orthodont": {
        "stage2_girls_slope_mean": ("stage2.loc['Female', ('b1', 'mean')]", TIGHT),
        "stage2_boys_intercept_mean": ("stage2.loc['Male', ('b0', 'mean')]", TIGHT),
        "stage2_boys_slope_sd": ("stage2.loc['Male', ('b1', 'std')]", TIGHT),
        "rs_fixef_interaction": ("m_rs.fixef['I(age - 11):SexMale']", TIGHT),
        "rs_var_intercept": ("s2_0", TIGHT),
        "rs_var_slope": ("s2_1", LOOSE),
        "rs_sigma": ("m_rs.sigma", TIGHT),
        "rs_M13_slope": ("own.loc['M13', 'b1']", TIGHT),
        "lrt_ri_rs": ("lmf.anova(m_ri, m_rs)['Chisq'].iloc[1]", LOOSE),
        "p_mixture_ri_rs": ("lmf.anova(m_ri, m_rs)['Pr(>Chisq) mixture'].iloc[1]", LOOSE),
        "sex_sd_female": ("m_sex.varcorr()['sdcor'].iloc[0]", TIGHT),
        "sex_sd_male": ("m_sex.varcorr()['sdcor'].iloc[1]", TIGHT),
        "lrt_ri_sex": ("lmf.anova(m_ri, m_sex)['Chisq'].iloc[1]", LOOSE),
        "p_ri_sex": ("lmf.anova(m_ri, m_sex)['Pr(>Chisq)'].iloc[1]", LOOSE),
        "resid_sd_male": ("resid[orth['Sex'] == 'Male'].std()", TIGHT),
        "vi_sd_ratio": ("m_vi.residual_params()['sd ratio[Male]']", TIGHT),
        "vi_loglik": ("m_vi.loglik", TIGHT),
        "vi_aic": ("m_vi.aic", TIGHT),
        "ri_aic": ("m_ri.aic", TIGHT),
    },
    "03_repeated_measures_covariance": {
        "data_cor_8_14": ("wide.corr().loc[8, 14]", TIGHT),
        "loglik_UN": ("sel.table.loc['UN', 'loglik']", TIGHT),
        "loglik_CS": ("sel.table.loc['CS', 'loglik']", TIGHT),
        "loglik_CSH": ("sel.table.loc['CSH', 'loglik']", TIGHT),
        "loglik_AR1": ("sel.table.loc['AR1', 'loglik']", TIGHT),
        "loglik_ARH1": ("sel.table.loc['ARH1', 'loglik']", TIGHT),
        "loglik_TOEP": ("sel.table.loc['TOEP', 'loglik']", TIGHT),
        "aic_UN": ("sel.table.loc['UN', 'aic']", TIGHT),
        "aic_CS": ("sel.table.loc['CS', 'aic']", TIGHT),
        "aic_TOEP": ("sel.table.loc['TOEP', 'aic']", TIGHT),
        "aic_AR1": ("sel.table.loc['AR1', 'aic']", TIGHT),
        "bic_CS": ("by_bic.table.loc['CS', 'bic']", TIGHT),
        "bic_UN": ("by_bic.table.loc['UN', 'bic']", TIGHT),
        "un_cor_14_8": ("correlation(sel.fits['UN']).loc[14, 8]", LOOSE),
        "un_cor_14_12": ("correlation(sel.fits['UN']).loc[14, 12]", LOOSE),
        "cs_rho": ("cs.residual_params()['rho']", TIGHT),
        "ar1_phi": ("sel.fits['AR1'].residual_params()['rho']", TIGHT),
        "toep_lag2": ("sel.fits['TOEP'].residual_params()['rho[2]']", LOOSE),
        "se_interaction_CS": ("se.loc['SexMale:I(age - 11)', 'CS']", TIGHT),
        "se_interaction_AR1": ("se.loc['SexMale:I(age - 11)', 'AR1']", TIGHT),
        "se_interaction_UN": ("se.loc['SexMale:I(age - 11)', 'UN']", LOOSE),
        "lrt_cs_un": ("lmf.anova(cs, un)['Chisq'].iloc[1]", LOOSE),
        "ri_F_interaction": ("ri.anova().loc['Sex:I(age - 11)', 'f_value']", TIGHT),
        "ri_p_interaction": ("ri.anova().loc['Sex:I(age - 11)', 'p_value']", LOOSE),
        "ri_loglik": ("ri.loglik", TIGHT),
    },
    "04_serial_correlation_and_measurement_error": {
        "ind_sd_intercept": ("m_ind.varcorr()['sdcor'].iloc[0]", TIGHT),
        "ind_sigma": ("m_ind.sigma", TIGHT),
        "variog_first": (
            "lmf.plots.variogram_data(m_ind, time='Time')['variog'].iloc[0]",
            LOOSE,
        ),
        "loglik_ind": ("m_ind.loglik", TIGHT),
        "loglik_car": ("m_car.loglik", TIGHT),
        "loglik_nug": ("m_nug.loglik", TIGHT),
        "aic_nug": ("m_nug.aic", TIGHT),
        "bic_car": ("m_car.bic", TIGHT),
        "car_phi": ("m_car.residual_params()['rho']", LOOSE),
        "nug_range": ("p['range']", LOOSE),
        "nug_nugget": ("p['nugget']", LOOSE),
        "nug_sigma": ("m_nug.sigma", LOOSE),
        "lrt_car_nug": ("chisq", LOOSE),
        "p_mixture_car_nug": ("0.5 * stats.chi2.sf(chisq, 1)", LOOSE),
        "se_time_diet2_nug": ("m_nug.fixef_se['Time:Diet2']", LOOSE),
    },
    "05_crossed_random_effects": {
        "pen_reml_criterion": ("m_pen.reml_criterion", TIGHT),
        "pen_var_plate": ("m_pen.varcorr()['vcov'].iloc[0]", LOOSE),
        "pen_var_sample": ("m_pen.varcorr()['vcov'].iloc[1]", LOOSE),
        "pen_sigma": ("m_pen.sigma", TIGHT),
        "pen_icc": ("m_pen.icc()['adjusted']", TIGHT),
        "pen_ci_sample_lower": ("m_pen.confint().loc['.sig02', '2.5 %']", PROFILE),
        "pen_ci_sample_upper": ("m_pen.confint().loc['.sig02', '97.5 %']", PROFILE),
        "pen_ci_plate_upper": ("m_pen.confint().loc['.sig01', '97.5 %']", PROFILE),
        "pen_ranova_lrt_plate": ("m_pen.ranova().loc['(1 | plate)', 'lrt']", TIGHT),
        "ie_reml_criterion": ("m_ie.reml_criterion", TIGHT),
        "ie_var_s": ("m_ie.varcorr().set_index('grp').loc['s', 'vcov']", LOOSE),
        "ie_var_d": ("m_ie.varcorr().set_index('grp').loc['d', 'vcov']", LOOSE),
        "ie_var_dept_service": (
            "m_ie.varcorr().set_index('grp').loc['dept:service', 'vcov']",
            LOOSE,
        ),
        "ie_sigma": ("m_ie.sigma", TIGHT),
        "ie_service": ("m_ie.fixef['service']", LOOSE),
        "ie_se_service": ("m_ie.fixef_se['service']", LOOSE),
        "ie_icc": ("m_ie.icc()['adjusted']", LOOSE),
        "ie_wald_service_upper": ("m_ie.confint(method='wald').loc['service', '97.5 %']", LOOSE),
    },
    "06_for_r_users_side_by_side": {
        "reml_criterion": ("m.reml_criterion", TIGHT),
        "fixef_days": ("m.fixef['Days']", TIGHT),
        "se_days": ("m.fixef_se['Days']", TIGHT),
        "satterthwaite_df_days": ("m.tidy().set_index('term').loc['Days', 'df']", LOOSE),
        "satterthwaite_p_days": ("m.tidy().set_index('term').loc['Days', 'p_value']", LOOSE),
        "ranef_309_intercept": ("m.ranef['Subject'].loc['309', '(Intercept)']", TIGHT),
        "varcorr_cov": ("m.varcorr()['vcov'].iloc[2]", LOOSE),
        "coef_308_days": ("m.coef()['Subject'].loc['308', 'Days']", TIGHT),
        "predict_308_day10": ("m.predict(nd)[2]", TIGHT),
        "predict_population_day10": ("m.predict(nd, re_form='~0')[2]", TIGHT),
        "profile_sig01_upper": ("m.confint().loc['.sig01', '97.5 %']", PROFILE),
        "profile_sig02_lower": ("m.confint().loc['.sig02', '2.5 %']", PROFILE),
        "profile_days_lower": ("m.confint().loc['Days', '2.5 %']", PROFILE),
        "wald_days_upper": ("m.confint(method='wald').loc['Days', '97.5 %']", TIGHT),
        "anova_F_days": ("m.anova().loc['Days', 'f_value']", TIGHT),
        "anova_kr_dendf": ("m.anova(ddf='kenward-roger').loc['Days', 'den_df']", LOOSE),
        "lrt_m0_m": ("lmf.anova(m0, m)['Chisq'].iloc[1]", TIGHT),
        "p_mixture_m0_m": ("lmf.anova(m0, m)['Pr(>Chisq) mixture'].iloc[1]", LOOSE),
        "ranova_lrt": ("m.ranova()['lrt'].iloc[1]", TIGHT),
        "emmean_male": (
            "mo.emmeans('Sex', ddf='kenward-roger').set_index('Sex').loc['Male', 'emmean']",
            TIGHT,
        ),
        "emmean_male_se": (
            "mo.emmeans('Sex', ddf='kenward-roger').set_index('Sex').loc['Male', 'std_error']",
            TIGHT,
        ),
        "contrast_age14": ("_contrasts.set_index('age').loc[14, 'estimate']", TIGHT),
        "contrast_age14_df": ("_contrasts.set_index('age').loc[14, 'df']", LOOSE),
        "contrast_age14_p": ("_contrasts.set_index('age').loc[14, 'p_value']", LOOSE),
        "glance_bic": ("m.glance()['BIC'].iloc[0]", TIGHT),
        "augment_fixed_3": ("m.augment()['.fixed'].iloc[2]", TIGHT),
        "icc_adjusted": ("m.icc()['adjusted']", TIGHT),
        "icc_unadjusted": ("m.icc()['unadjusted']", TIGHT),
        "r2_marginal": ("m.r2()['marginal']", TIGHT),
        "r2_conditional": ("m.r2()['conditional']", TIGHT),
        "lme_loglik": ("ml.loglik", TIGHT),
        "lme_phi": ("ml.residual_params()['rho']", LOOSE),
        "lme_sigma": ("ml.sigma", LOOSE),
        "lme_se_days": ("ml.fixef_se['Days']", LOOSE),
        "lme_marginal_cov_1_3": ("ml.marginal_cov('308').iloc[0, 2]", LOOSE),
        "gls_loglik": ("mg.loglik", TIGHT),
        "gls_phi": ("mg.residual_params()['rho']", LOOSE),
        "gls_sigma": ("mg.sigma", LOOSE),
        "gls_bic": ("mg.bic", TIGHT),
    },
    "07_glmer_binary_and_counts": {
        "m1_loglik": ("m1.loglik", GLMM_LOGLIK),
        "m1_fixef_urban": ("m1.fixef['urbanY']", GLMM_FIXEF),
        "m1_se_urban": ("m1.fixef_se['urbanY']", GLMM_SE),
        "m1_var_urban": ("m1.varcorr()['vcov'].iloc[1]", GLMM_VC),
        "m1_or_urban_upper": ("odds.loc['urbanY', 'conf_high']", GLMM_SE),
        "m1_predict_urban_population": (
            "m1.predict(nd, type='response', re_form='~0')[1]",
            GLMM_FIXEF,
        ),
        "m1_emmean_urban": (
            "m1.emmeans('urban', type='response').set_index('urban').loc['Y', 'prob']",
            GLMM_FIXEF,
        ),
        "m1_icc_adjusted": ("m1.icc()['adjusted']", GLMM_VC),
        "m1_r2_conditional": ("m1.r2()['conditional']", GLMM_VC),
        # two log-likelihoods within 2e-3 each: 3e-4 of a χ² of 12.1
        "lrt_m0_m1": ("lmf.anova(m0, m1)['Chisq'].iloc[1]", LOOSE),
        "m0_agq_loglik": ("m0_agq.loglik", GLMM_LOGLIK),
        # R's logLik(g25) plus the saturated log-likelihood (lme4 issue #161)
        "cbpp_agq25_loglik": ("g25.loglik", GLMM_LOGLIK),
        "mp_loglik": ("mp.loglik", GLMM_LOGLIK),
        "mp_fixef_satiated": ("mp.fixef['FoodTreatmentSatiated']", GLMM_FIXEF),
        "mp_se_satiated": ("mp.fixef_se['FoodTreatmentSatiated']", GLMM_SE),
        "overdispersion_ratio": ("mp.check_overdispersion()['ratio']", LOOSE),
        "nb_theta": ("mnb.family.theta", GLMM_VC),
        "nb_loglik": ("mnb.loglik", GLMM_LOGLIK),
        "nb_fixef_satiated": ("mnb.fixef['FoodTreatmentSatiated']", GLMM_FIXEF),
        "nb_var_nest": ("mnb.varcorr()['vcov'].iloc[0]", GLMM_VC),
    },
}
# Helpers the checking cell defines before evaluating (objects the notebook shows as a
# cell's value without naming them).
SETUP = {
    "06_for_r_users_side_by_side": (
        "_contrasts = mo.emmeans_contrasts('Sex', by='age', at={'age': [8, 14]}, "
        "ddf='kenward-roger')"
    ),
}


def _require_extras() -> None:
    missing = []
    for name in REQUIRED:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        pytest.fail(
            f"running the notebooks needs {', '.join(missing)}: install the test extras "
            "(pip install -e '.[test]').",
            pytrace=False,
        )


@dataclass
class Run:
    """One execution of a notebook: its executed cells and the numbers it computed."""

    cells: list[Any]
    numbers: dict[str, Any]
    failure: str | None


_RUNS: dict[Path, Run] = {}


def _checking_cell(stem: str) -> str:
    exprs = {key: expr for key, (expr, _) in NUMBERS.get(stem, {}).items()}
    return "\n".join(
        [
            "import json as _json",
            SETUP.get(stem, ""),
            f"_exprs = {exprs!r}",
            "_out = {}",
            "for _key, _expr in _exprs.items():",
            "    try:",
            "        _out[_key] = float(eval(_expr))",
            "    except Exception as _err:",
            "        _out[_key] = f'{type(_err).__name__}: {_err}'",
            f"print({MARK!r} + _json.dumps(_out))",
        ]
    )


def _run(path: Path) -> Run:
    """Execute the notebook once per session from a fresh kernel, plus the checking cell."""
    if path in _RUNS:
        return _RUNS[path]
    _require_extras()
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    n_own = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(_checking_cell(path.stem)))
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    failure = None
    try:
        client.execute()
    except CellExecutionError as exc:
        failure = f"{path.name} failed:\n{exc}"
    numbers: dict[str, Any] = {}
    for out in nb.cells[-1].get("outputs", []):
        text = out.get("text", "") if out.get("output_type") == "stream" else ""
        for line in text.splitlines():
            if line.startswith(MARK):
                numbers = json.loads(line[len(MARK) :])
    run = Run(cells=nb.cells[:n_own], numbers=numbers, failure=failure)
    _RUNS[path] = run
    return run


_BAR = re.compile(r"^\s*[\w ]*:\s+\d+%\|.*\|.*$")


def _without_bars(text: str) -> str:
    """stderr text less tqdm's progress-bar lines (tqdm redraws them after a carriage return)."""
    parts = re.split(r"[\r\n]+", text)
    return "\n".join(p for p in parts if p.strip() and not _BAR.match(p))


def _outputs(run: Run) -> list[Any]:
    return [out for cell in run.cells if cell.cell_type == "code" for out in cell.outputs]


def test_notebooks_exist() -> None:
    assert len(NOTEBOOKS) >= 6, f"expected six notebooks in {NOTEBOOK_DIR}, found {NOTEBOOKS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_draws(path: Path) -> None:
    run = _run(path)
    if run.failure:
        pytest.fail(run.failure, pytrace=False)
    errors = [o for o in _outputs(run) if o.get("output_type") == "error"]
    assert not errors, f"{path.name} produced error outputs: {errors}"
    # Warnings in a teaching notebook are either explained or fixed, never left to print;
    # a progress bar (long work on a slow machine) is not a warning.
    stderr = [_without_bars(o["text"]) for o in _outputs(run) if o.get("name") == "stderr"]
    assert not any(stderr), f"{path.name} wrote to stderr: {stderr}"
    pictures = [o for o in _outputs(run) if "image/png" in o.get("data", {})]
    assert pictures, f"{path.name} draws no picture"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_stored_notebook_has_its_outputs(path: Path) -> None:
    # Stored executed, so that the notebooks render where they are read (GitHub).
    import nbformat

    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    missing = [i for i, c in enumerate(code) if c.execution_count is None]
    assert not missing, f"{path.name}: code cells {missing} were stored without running"
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebook_is_checked_against_r(path: Path) -> None:
    assert path.stem in REFERENCE, f"no R reference numbers for {path.name}"
    assert set(NUMBERS.get(path.stem, {})) == set(REFERENCE[path.stem])


CASES = [
    (stem, key) for stem in sorted(NUMBERS) for key in sorted(NUMBERS[stem])
]  # fmt: skip


@pytest.mark.parametrize(("stem", "key"), CASES, ids=[f"{s[:2]}-{k}" for s, k in CASES])
def test_notebook_number_matches_r(stem: str, key: str) -> None:
    path = NOTEBOOK_DIR / f"{stem}.ipynb"
    run = _run(path)
    if run.failure:
        pytest.fail(run.failure, pytrace=False)
    expr, rtol = NUMBERS[stem][key]
    ours = run.numbers.get(key)
    ref = REFERENCE[stem][key]
    assert isinstance(ours, float), f"{expr} gave {ours!r}"
    assert math.isclose(ours, ref["value"], rel_tol=rtol, abs_tol=1e-12), (
        f"{stem}: {expr} = {ours!r}, R: {ref['r']} = {ref['value']!r} "
        f"(relative difference {abs(ours - ref['value']) / abs(ref['value']):.2e} > {rtol})"
    )


def test_plot_shows_once_in_a_notebook() -> None:
    # lmeformula.plots.figures makes figures without pyplot: one shows as the cell's value once
    # matplotlib-inline has registered its formatter (plots.py imports it under the inline
    # backend), and pyplot, which does not know the figure, does not show it a second time.
    _require_extras()
    import nbclient
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import lmeformula as lmf\n"
            "fit = lmf.lmer('Reaction ~ Days + (1 | Subject)', lmf.datasets.load('sleepstudy'))\n"
            "fit.plot_qq()"
        )
    ]
    nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["execute_result"]
    assert "image/png" in outputs[0]["data"]
