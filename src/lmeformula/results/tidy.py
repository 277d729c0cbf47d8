"""broom.mixed's tables: ``tidy``, ``glance`` and ``augment`` with snake_case columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from lmeformula.errors import ArgumentTypeError
from lmeformula.validate import check_bool, check_level

if TYPE_CHECKING:
    from lmeformula.results.glmer import GlmerResult
    from lmeformula.results.lmer import LmerResult

from lmeformula.results.estimates import ran_pars, variance_components

__all__ = ["augment", "glance", "tidy"]

TIDY_COLUMNS = ["effect", "group", "term", "estimate", "std_error", "statistic", "df", "p_value"]


def _is_glmm(result: Any) -> bool:
    return getattr(result, "family", None) is not None


def _ran_pars(result: LmerResult | GlmerResult) -> pd.DataFrame:
    components = variance_components(result.state.design, result.theta, result.sigma)
    rows = [("ran_pars", g, term, est) for g, term, est in ran_pars(components)]
    if _is_glmm(result):
        # No residual standard deviation where the family has no dispersion (broom.mixed).
        if not result.family.has_dispersion:  # type: ignore[union-attr]
            rows = [r for r in rows if r[1] != "Residual"]
    else:
        # A residual structure's parameters on their natural scale (ρ, sd ratios).
        rows += [("ran_pars", "Residual", k, v) for k, v in result.residual_params().items()]  # type: ignore[union-attr]
    return pd.DataFrame(rows, columns=["effect", "group", "term", "estimate"])


def tidy(
    result: LmerResult | GlmerResult,
    effects: str | None = None,
    conf_int: bool = False,
    conf_level: float = 0.95,
    ddf: str | None = "satterthwaite",
    exponentiate: bool = False,
) -> pd.DataFrame:
    """One row per estimate, as ``broom.mixed::tidy(m)`` on an lmerTest fit.

    Parameters
    ----------
    result
        A fitted model.
    effects
        ``None`` for both, ``"fixed"`` or ``"ran_pars"``.
    conf_int
        Add ``conf_low`` and ``conf_high`` (Wald intervals for fixed effects, as broom.mixed's
        default; missing for variance parameters).
    conf_level
        Coverage of the intervals.
    ddf
        Degrees of freedom of the fixed effects' t-tests: ``"satterthwaite"`` (lmerTest's
        default), ``"kenward-roger"`` (pbkrtest's adjusted standard errors and df),
        ``"wald"`` (normal reference, infinite df) or ``None`` (no df or p-values, as
        plain lme4). A glmer fit's tests are lme4's Wald z tests whatever ``ddf`` says.
    exponentiate
        A glmer fit's fixed effects as exp(estimate) (odds ratios for logit, rate ratios
        for log links), their standard errors by the delta method and the interval limits
        exponentiated, as broom.mixed's ``exponentiate = TRUE``.

    Returns
    -------
    pandas.DataFrame
        Columns ``effect, group, term, estimate, std_error, statistic, df, p_value`` (and the
        interval columns). ``df`` and ``p_value`` of the fixed effects follow ``ddf``.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> fit.tidy()["term"].tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['(Intercept)', 'Days', 'sd__(Intercept)', 'cor__(Intercept).Days', 'sd__Days',
     'sd__Observation']
    """
    if effects not in (None, "fixed", "ran_pars"):
        raise ArgumentTypeError(f"effects must be None, 'fixed' or 'ran_pars', got {effects!r}.")
    conf_level = check_level("conf_level", conf_level)
    check_bool("conf_int", conf_int)
    fixed = pd.DataFrame(
        {
            "effect": "fixed",
            "group": None,
            "term": result.fixef.index,
            "estimate": result.fixef.to_numpy(),
            "std_error": result.fixef_se.to_numpy(),
        }
    )
    fixed["statistic"] = fixed["estimate"] / fixed["std_error"]
    fixed["df"] = np.nan
    fixed["p_value"] = np.nan
    check_bool("exponentiate", exponentiate)
    if _is_glmm(result) and len(fixed):
        table = result.coef_table()  # type: ignore[union-attr]
        fixed["p_value"] = table["Pr(>|z|)"].to_numpy()
    elif ddf is not None and effects in (None, "fixed") and len(fixed):
        tests = result.contrast(np.eye(len(fixed)), ddf=ddf)  # type: ignore[union-attr]
        # Kenward-Roger's standard errors are its adjusted ones.
        for col in ("std_error", "statistic", "df", "p_value"):
            fixed[col] = tests[col].to_numpy()
    ran = _ran_pars(result)
    for col in ("std_error", "statistic", "df", "p_value"):
        ran[col] = np.nan
    parts = [p for p, kind in ((fixed, "fixed"), (ran, "ran_pars")) if effects in (None, kind)]
    out = pd.concat(parts, ignore_index=True)[TIDY_COLUMNS]
    if conf_int:
        z = stats.norm.ppf(0.5 + conf_level / 2)
        out["conf_low"] = out["estimate"] - z * out["std_error"]
        out["conf_high"] = out["estimate"] + z * out["std_error"]
    if exponentiate:
        if not _is_glmm(result):
            raise ArgumentTypeError(
                "exponentiate=True is for glmer fits (odds or rate ratios); an lmer fit's "
                "effects are on the response's own scale."
            )
        fx = out["effect"] == "fixed"
        est = np.exp(out.loc[fx, "estimate"])
        out.loc[fx, "std_error"] = out.loc[fx, "std_error"] * est
        out.loc[fx, "estimate"] = est
        for col in ("conf_low", "conf_high"):
            if col in out:
                out.loc[fx, col] = np.exp(out.loc[fx, col])
    return out


def glance(result: LmerResult | GlmerResult) -> pd.DataFrame:
    """One row of model statistics, as ``broom.mixed::glance(m)``.

    Returns
    -------
    pandas.DataFrame
        ``nobs, sigma, logLik, AIC, BIC``, then ``REMLcrit`` (REML fits) or ``deviance``
        (ML fits), and ``df_residual``.
    """
    row = {
        "nobs": result.nobs,
        "sigma": result.sigma,
        "logLik": result.loglik,
        "AIC": result.aic,
        "BIC": result.bic,
    }
    if result.reml:
        row["REMLcrit"] = result.reml_criterion
    else:
        row["deviance"] = result.deviance
    row["df_residual"] = result.df_resid
    return pd.DataFrame([row])


def augment(result: LmerResult | GlmerResult) -> pd.DataFrame:
    """The model frame with fitted values and residuals, as ``broom.mixed::augment(m)``.

    Returns
    -------
    pandas.DataFrame
        The model's columns of the rows used, plus ``.fitted`` (with random effects),
        ``.resid`` and ``.fixed`` (fixed effects only); for a glmer fit ``.fitted`` and
        ``.fixed`` are on the link scale, ``.resid`` the deviance residuals and ``.mu``
        the fitted means, as broom.mixed gives them.
    """
    out = result.model_frame
    if _is_glmm(result):
        out[".fitted"] = result.predict()
        out[".resid"] = result.residuals()
        out[".fixed"] = result.predict(re_form="~0")
        out[".mu"] = result.fitted()
        return out
    out[".fitted"] = result.fitted()
    out[".resid"] = result.residuals()
    out[".fixed"] = result.predict(re_form="~0")
    return out
