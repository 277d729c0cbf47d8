"""The results of a linear mixed model, with lme4's numbers computed from the estimates.

Everything here is a function of (β, θ, σ) and the model's design, as lme4's accessors are:
``vcov`` is σ²(R_X'R_X)⁻¹, conditional modes are Λu, their variances come from the
Cholesky factor L. Nothing reaches back into an optimiser, so the results do not depend on
which engine found the estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from lmeformula.errors import DataError
from lmeformula.results.estimates import (
    SINGULAR_TOL,
    fixef_vcov,
    is_singular,
    variance_components,
)
from lmeformula.results.fixed import FixedEffectTables
from lmeformula.results.modes import coef_frames, ranef_frames, ranef_long
from lmeformula.results.state import ModelState
from lmeformula.validate import (
    check_ddf,
    check_positive,
    contrast_matrix,
)

__all__ = ["LmerResult", "Summary"]


@dataclass(frozen=True)
class Summary:
    """lme4's ``summary(merMod)``: printed as R prints it, and as HTML in notebooks."""

    result: LmerResult
    ddf: str | None = None

    def __str__(self) -> str:
        from lmeformula.results.display import format_summary

        return format_summary(self.result, ddf=self.ddf)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        from lmeformula.results.display import format_summary_html

        return format_summary_html(self.result, ddf=self.ddf)


class LmerResult(FixedEffectTables):
    """A fitted linear mixed model, with lme4's accessors.

    Attributes
    ----------
    formula : str
        The formula as written.
    reml : bool
        Fitted by REML (True) or maximum likelihood.
    nobs : int
        Number of observations used.
    n_dropped : int
        Rows dropped for missing values (R's ``na.omit``).
    ngroups : dict[str, int]
        Number of levels of each grouping factor, in lme4's order.
    fixef, fixef_se : pandas.Series
        Fixed effects and their standard errors, indexed by R's coefficient names.
    vcov : pandas.DataFrame
        Covariance of the fixed effects, σ²(X'V⁻¹X)⁻¹ as lme4's ``vcov``.
    sigma : float
        Residual standard deviation.
    theta : numpy.ndarray
        lme4's θ (relative covariance factors).
    loglik, aic, bic : float
        Log-likelihood (REML criterion / -2 for REML fits, as lme4), AIC and BIC with lme4's
        parameter count ``npar``.
    deviance : float
        ML deviance (for a REML fit, at the REML estimates, as ``deviance(m, REML = FALSE)``).
    reml_criterion : float or None
        The REML criterion at convergence (None for ML fits).
    ranef : dict[str, pandas.DataFrame]
        Conditional modes, a DataFrame per grouping factor (levels x terms).
    optinfo : OptInfo
        The optimisation record.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", data=lmf.datasets.load("sleepstudy"))
    >>> round(fit.loglik, 2)
    -871.81
    """

    def __init__(self, state: ModelState, *, data_name: str | None = None) -> None:
        self.state = state
        self._cond_var: np.ndarray | None = None
        model, solution = state.model, state.solution
        design, frame, residual = model.design, model.frame, model.residual
        #: A marginal model (``gls``): no random effects.
        self.is_gls = not design.terms
        parts = [] if residual is None else [b for b in (residual.residual, residual.variance) if b]
        #: The residual structure and variance function as written, e.g. "AR1('1 | Mare')".
        self.residual_description = ", ".join(
            repr(getattr(b, "structure", None) or getattr(b, "function", None)) for b in parts
        )
        self.formula = model.formula
        self.reml = model.reml
        self.optinfo = state.optinfo
        self.data_name = data_name
        self.nobs = frame.nobs
        self.n_dropped = frame.n_dropped
        self.theta = state.theta
        self.sigma = solution.sigma
        p = len(design.fixed_names)
        self.ngroups: dict[str, int] = {}
        for term in design.terms:
            self.ngroups.setdefault(term.name, term.factor.nlevels)
        # lme4's count: fixed effects, every parameter of the objective, and σ.
        self.npar = p + state.layout.size + 1
        n = self.nobs
        # lme4 keeps both criteria: the ML deviance at the REML estimates is "dev".
        self.deviance = solution.ml_deviance
        self.reml_criterion = solution.deviance if model.reml else None
        self.loglik = -0.5 * solution.deviance
        self.aic = -2.0 * self.loglik + 2.0 * self.npar
        # nlme (gls, and lme with residual structures) counts n - p observations in a REML
        # fit's BIC; lme4 counts n.
        n_bic = n - p if model.reml and residual is not None else n
        self.bic = -2.0 * self.loglik + self.npar * math.log(n_bic)
        self.df_resid = n - self.npar

    def fixed_arrays(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """The coefficient names, β̂ and Var(β̂) (``fixef``, ``vcov`` as arrays)."""
        return tuple(self.state.design.fixed_names), self.state.solution.beta, self._vcov_array

    @cached_property
    def _vcov_array(self) -> np.ndarray:
        # On first use: a refit or a bootstrap replicate seldom reads it.
        design = self.state.design
        cov = fixef_vcov(self.state.solution.RX, self.sigma)
        p = len(design.fixed_names)
        if p and not design.terms and not self.reml:
            # nlme's gls estimates Var(β̂) with σ² n / (n - p) also under ML (its summary's
            # standard errors are REML-like); lme and lme4 do not.
            cov = cov * self.nobs / (self.nobs - p)
        return cov

    # -- random effects ----------------------------------------------------------------

    @cached_property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes by grouping factor, a frame of levels x effects each
        (lme4's ``ranef``).

        Built on first use: a frame per term with a row per level costs more than the
        rest of the results together on a small model, and most fits never read them.
        """
        return self._ranef()

    def _ranef(self) -> dict[str, pd.DataFrame]:
        return ranef_frames(self.state)

    def _cond_var_diag(self) -> np.ndarray:
        # lme4's condVar, σ² diag(Λ (Λ'Z'WZΛ + I)⁻¹ Λ'), from the engine's factor as lme4
        # takes it from L. Computed on first use: for a large crossed factor it takes seconds.
        if self._cond_var is None:
            cond_var = self.state.solution.cond_var
            if cond_var is None:
                raise NotImplementedError(
                    "this fit's engine provides no conditional variances (condVar)."
                )
            self._cond_var = self.sigma**2 * cond_var()
        return self._cond_var

    def ranef_table(self) -> pd.DataFrame:
        """Conditional modes and SDs as R's ``as.data.frame(ranef(m, condVar = TRUE))``.

        Returns
        -------
        pandas.DataFrame
            Columns ``grpvar, term, grp, condval, condsd``.
        """
        var = self._cond_var_diag()
        return ranef_long(self.state, var)

    def varcorr(self) -> pd.DataFrame:
        """Variance components as lme4's ``as.data.frame(VarCorr(m))``.

        Returns
        -------
        pandas.DataFrame
            Columns ``grp, var1, var2, vcov, sdcor``: per term the variances, then the
            covariances (``sdcor`` holds the correlation); last the residual.
        """
        rows = variance_components(self.state.design, self.theta, self.sigma)
        # Residual structure parameters on their natural scale (ρ, sd ratios), as nlme
        # prints them; no variance of their own.
        for name, value in self.residual_params().items():
            rows.append(("Residual", name, "", np.nan, value))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def residual_params(self) -> dict[str, float]:
        """The residual structure's and variance function's parameters, as nlme reports
        them: ``rho`` (AR1, CAR1, CS), ``rho[k]`` (Toeplitz lags), ``cor[a,b]`` (UN),
        ``nugget``, ``sd ratio[level]`` (variance per time or per level, relative to the
        first), ``delta`` (VarPower, VarExp). Empty without a residual model.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> orth = lmf.datasets.load("orthodont")
        >>> fit = lmf.gls("distance ~ Sex * I(age - 11)", orth, residual=lmf.AR1("age | Subject"))
        >>> round(fit.residual_params()["rho"], 4)
        0.6245
        """
        residual = self.state.residual
        if residual is None:
            return {}
        return residual.natural(self.state.residual_params)

    def coef(self) -> dict[str, pd.DataFrame]:
        """Fixed plus random effects per level, as lme4's ``coef(m)``.

        Returns
        -------
        dict[str, pandas.DataFrame]
            A DataFrame per grouping factor, one row per level, one column per fixed effect.
        """
        return coef_frames(self.fixef, self.ranef)

    def is_singular(self, tol: float = SINGULAR_TOL) -> bool:
        """lme4's ``isSingular``: a standard deviation (θ bounded below by 0) below ``tol``,
        or a structured correlation within ``tol`` of its bound."""
        return is_singular(self.state.design, self.theta, check_positive("tol", tol))

    @cached_property
    def singular(self) -> bool:
        """Whether the fit is singular (``is_singular()`` with lme4's tolerance)."""
        return self.is_singular()

    # -- covariance of the data ----------------------------------------------------------

    def marginal_cov(self, subject: Any, group: str | None = None) -> pd.DataFrame:
        """The implied covariance matrix of one subject's rows: σ²(Z_i Λ Λ' Z_i' + K_i),
        with K_i the residual structure (or W_i⁻¹ for prior weights), as nlme's
        ``getVarCov(m, type = "marginal")``.

        Parameters
        ----------
        subject
            A level of the grouping factor.
        group
            The grouping factor or the residual structure's subject column(s); by default
            the one with the fewest levels (the outermost).

        Returns
        -------
        pandas.DataFrame
            Indexed by the rows' labels in the data.
        """
        codes, levels, name = self._subject_factor(group)
        label = str(subject)
        if label not in levels:
            raise DataError(
                f"{subject!r} is not a level of {name!r}; levels are e.g. {list(levels[:5])}."
            )
        rows = np.flatnonzero(codes == levels.index(label))
        state = self.state
        if state.residual is not None:
            resid = state.residual.cov(state.residual_params, rows[None, :])[0]
        else:
            w = state.weights
            resid = np.diag(np.ones(rows.size) if w is None else 1.0 / w[rows])
        cov = resid
        if state.design.terms:
            # Sparse until the product: the rows x q factor would be dense otherwise.
            zl = state.Z[rows] @ state.Lambda
            cov = np.asarray((zl @ zl.T).toarray()) + resid
        index = state.frame.data.index[rows]
        return pd.DataFrame(self.sigma**2 * cov, index=index, columns=index)

    def _subject_factor(self, group: str | None) -> tuple[np.ndarray, tuple[str, ...], str]:
        model = self.state.residual
        res = model.residual if model is not None else None
        candidates = {name: (f.codes, f.levels) for name, f in self.state.frame.groups.items()}
        if res is not None:
            candidates[":".join(res.structure.group)] = (res.codes, res.levels)
        if not candidates:
            raise DataError(
                "this model has no subjects (no random effects and no residual structure); "
                "its rows are independent."
            )
        if group is None:
            # The outermost grouping: everything else nests in it.
            group = min(candidates, key=lambda g: len(candidates[g][1]))
        if group not in candidates:
            raise DataError(
                f"{group!r} is not a grouping factor of this model; use one of {list(candidates)}."
            )
        codes, levels = candidates[group]
        return codes, levels, group

    # -- fitted values and prediction ----------------------------------------------------

    def fitted(self) -> np.ndarray:
        """Fitted values X β + Z b + offset, as lme4's ``fitted``."""
        return self.state.mu

    def residuals(self, type: str = "response") -> np.ndarray:
        """Residuals: ``"response"`` (y - fitted), ``"pearson"`` (× √w / σ) or
        ``"normalized"`` (nlme's: Pearson residuals premultiplied by the inverse lower
        Cholesky factor of each subject's residual correlation matrix; the Pearson residuals
        when the model has no residual structure; see :mod:`!lmeformula.results.diagnostics`)."""
        res = self.state.y - self.fitted()
        if type == "response":
            return res
        if type == "normalized":
            from lmeformula.results.diagnostics import normalized_residuals

            return normalized_residuals(self)
        if type == "pearson":
            # nlme's and lme4's: divided by the row's standard deviation (σ, weights and
            # variance function), not decorrelated.
            model = self.state.residual
            if model is not None:
                return res / (self.sigma * model.row_sd(self.state.residual_params))
            w = self.state.weights
            return res / self.sigma if w is None else np.sqrt(w) * res / self.sigma
        raise DataError(
            f"unknown residual type {type!r}; use 'response', 'pearson' or 'normalized'."
        )

    def predict(
        self,
        newdata: Any = None,
        re_form: str | None = None,
        allow_new_levels: bool = False,
    ) -> np.ndarray:
        """Predictions as lme4's ``predict.merMod``.

        Parameters
        ----------
        newdata
            A table to predict for (pandas, polars, Arrow or a dict of columns); by default
            the fitted data.
        re_form
            ``None`` to include all random effects, ``"~0"`` (or ``"NA"``) for the fixed
            effects only (R's ``re.form = NA``).
        allow_new_levels
            Levels not seen in the fit predict with random effects 0 when True; otherwise
            they are an error.

        Returns
        -------
        numpy.ndarray
        """
        from lmeformula.results.prediction import linear_predictor

        return linear_predictor(self.state, newdata, re_form, allow_new_levels)

    def anova(self, type: int = 3, ddf: str = "satterthwaite") -> pd.DataFrame:
        """F tests of the fixed-effects terms, as lmerTest's ``anova(m, type = type)``.

        Parameters
        ----------
        type
            3 (lmerTest's default): SAS's type III hypotheses (each term's sum-to-zero
            coded effects, whatever coding the fit used); 1: sequential (each term after
            the ones before it); 2: each term after every term that does not contain it.
        ddf
            ``"satterthwaite"`` (lmerTest's default), ``"kenward-roger"`` (REML fits) or
            ``"wald"`` (χ² reference).

        Returns
        -------
        pandas.DataFrame
            Indexed by term, columns ``sum_sq, mean_sq, num_df, den_df, f_value, p_value``;
            ``attrs["heading"]`` is the title R prints.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)",
        ...                lmf.datasets.load("machines"))
        >>> fit.anova()[["num_df", "den_df", "f_value"]].round(2)
                 num_df  den_df  f_value
        term
        Machine       2    10.0    20.58
        """
        from lmeformula.inference.ftests import anova_table

        check_ddf(ddf, self.reml)
        return anova_table(self, type, ddf)

    # -- variance decomposition ---------------------------------------------------------

    def icc(self, random_variance: str = "performance") -> dict[str, float]:
        """Intraclass correlation as ``performance::icc``: ``adjusted`` (random over random
        plus residual variance) and ``unadjusted`` (over the total, fixed part included).

        Parameters
        ----------
        random_variance
            ``"performance"`` (default): the random part's variance as performance 0.10.2
            computes it; ``"johnson"``: Johnson's formula over every random term. They
            differ for random slopes that are not fixed effects and for several terms on
            one grouping factor, ``||`` included (see :mod:`!lmeformula.results.decomposition`).

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
        >>> round(fit.icc()["adjusted"], 4)
        0.4185
        """
        from lmeformula.results.decomposition import variance_parts

        fixed, random, resid = variance_parts(self, random_variance)
        return {
            "adjusted": random / (random + resid),
            "unadjusted": random / (fixed + random + resid),
        }

    def r2(self, random_variance: str = "performance") -> dict[str, float]:
        """Nakagawa's R² as ``performance::r2_nakagawa``: ``marginal`` (fixed effects) and
        ``conditional`` (fixed and random effects).

        Parameters
        ----------
        random_variance
            As in :meth:`icc`.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
        >>> {k: round(v, 3) for k, v in fit.r2().items()}
        {'marginal': 0.279, 'conditional': 0.799}
        """
        from lmeformula.results.decomposition import variance_parts

        fixed, random, resid = variance_parts(self, random_variance)
        total = fixed + random + resid
        return {"marginal": fixed / total, "conditional": (fixed + random) / total}

    # -- tests of fixed effects ----------------------------------------------------------

    def contrast(self, L: Any, ddf: str = "satterthwaite") -> pd.DataFrame:
        """t-tests of linear combinations of the fixed effects, as lmerTest's
        ``contest(m, L, joint = FALSE)``.

        Parameters
        ----------
        L
            A matrix with one row per contrast and one column per fixed effect (a numpy
            array, or a DataFrame whose columns are coefficient names), or a dict
            ``{label: {coefficient: weight, ...}}``.
        ddf
            ``"satterthwaite"`` (lmerTest's default), ``"kenward-roger"`` (pbkrtest's
            adjusted covariance and df, for REML fits) or ``"wald"`` (normal reference).

        Returns
        -------
        pandas.DataFrame
            Columns ``estimate, std_error, df, statistic, p_value``, a row per contrast.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
        >>> fit.contrast({"day 5": {"(Intercept)": 1, "Days": 5}}).round(2)
               estimate  std_error    df  statistic  p_value
        day 5    303.74       9.58  17.0       31.7      0.0
        """
        from lmeformula.inference.satterthwaite import t_tests

        check_ddf(ddf, self.reml)
        matrix, labels = contrast_matrix(L, list(self.fixef.index))
        out = t_tests(self, matrix, ddf)
        cols = ["estimate", "std_error", "df", "statistic", "p_value"]
        return pd.DataFrame({c: out[c] for c in cols}, index=labels)

    # -- comparing models (lmeformula.comparison.ranova) -----------------------------------

    def ranova(self, reduce_terms: bool = True) -> pd.DataFrame:
        """Likelihood-ratio tests of the random-effects terms, as lmerTest's ``ranova(m)``,
        with the boundary-mixture p-value; see :func:`!lmeformula.comparison.ranova.ranova`.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
        >>> fit.ranova()[["lrt", "p_value", "p_value_mixture"]].round(4)
                       lrt  p_value  p_value_mixture
        <none>         NaN      NaN              NaN
        (1 | Batch)  6.369   0.0116           0.0058
        """
        from lmeformula.comparison.ranova import ranova

        return ranova(self, reduce_terms=reduce_terms)

    # -- presentation -------------------------------------------------------------------

    def summary(self, ddf: str | None = None) -> Summary:
        """lme4's summary; ``print(fit.summary())`` shows R's layout.

        ``ddf="satterthwaite"`` gives lmerTest's summary instead: df and p-values of the
        fixed effects, with significance stars; ``ddf="kenward-roger"`` its Kenward-Roger
        version (adjusted standard errors).
        """
        if ddf is not None:
            check_ddf(ddf, self.reml)
        return Summary(self, ddf)

    def tidy(
        self,
        effects: str | None = None,
        conf_int: bool = False,
        conf_level: float = 0.95,
        ddf: str | None = "satterthwaite",
    ) -> pd.DataFrame:
        """broom.mixed's ``tidy``; see :func:`!lmeformula.results.tidy.tidy`."""
        from lmeformula.results.tidy import tidy

        return tidy(self, effects=effects, conf_int=conf_int, conf_level=conf_level, ddf=ddf)

    def glance(self) -> pd.DataFrame:
        """broom.mixed's ``glance``; see :func:`!lmeformula.results.tidy.glance`."""
        from lmeformula.results.tidy import glance

        return glance(self)

    def augment(self) -> pd.DataFrame:
        """broom.mixed's ``augment``; see :func:`!lmeformula.results.tidy.augment`."""
        from lmeformula.results.tidy import augment

        return augment(self)

    @property
    def model_frame(self) -> pd.DataFrame:
        """The rows and columns the model was fitted on (a copy)."""
        return self.state.frame.data.copy()

    # -- estimated marginal means (emmeans) ---------------------------------------------

    def emmeans(
        self,
        specs: str | list[str],
        by: str | list[str] | None = None,
        ddf: str = "satterthwaite",
        level: float = 0.95,
        at: dict[str, Any] | None = None,
        offset: float | None = None,
    ) -> pd.DataFrame:
        """Estimated marginal means, as ``as.data.frame(emmeans(m, ~ specs | by, at = at))``.

        The reference grid is emmeans': each factor of the fixed effects at each level,
        each numeric covariate at its mean over the fitted rows (or at the values in
        ``at``), the fixed part evaluated through the model's formula (so ``log(age)`` or
        ``I(age - 11)`` is taken at the mean of ``age``), and the means of ``specs``
        averaged over the other factors with equal weights (emmeans' ``weights =
        "equal"``). Details in :mod:`!lmeformula.inference.emmeans`.

        Parameters
        ----------
        specs
            The factor(s) whose means are wanted: a name, a list of names, or emmeans'
            formula ``"~ Sex"``, ``"~ Sex * age"``, ``"~ Sex | age"``; ``"1"`` for the
            overall mean. A numeric covariate needs its values in ``at``.
        by
            Factor(s) within whose levels the means are given (emmeans' ``by``).
        ddf
            ``"satterthwaite"`` (lmerTest's, emmeans' ``lmer.df = "satterthwaite"``),
            ``"kenward-roger"`` (pbkrtest's adjusted covariance and df; REML fits without
            residual structures) or ``"wald"`` (normal reference, emmeans'
            ``"asymptotic"``). emmeans itself defaults to ``"kenward-roger"`` for lmer fits
            when pbkrtest is installed, and switches to ``"asymptotic"`` above 3,000 rows
            (``pbkrtest.limit``, ``lmerTest.limit``); here the df are what ``ddf`` says,
            whatever the size. For ``gls`` fits and fits with residual structures,
            Satterthwaite is lmerTest's recipe on this model's likelihood. emmeans' own
            defaults there differ: ``gls`` takes Satterthwaite from nlme's ``apVar`` (the
            same df to 1e-4 on the reference fit), ``lme`` takes ``"containment"`` df, and
            its ``mode = "satterthwaite"`` for ``lme`` estimates the derivatives by
            refitting to randomly perturbed responses, so its df move by about 0.5% from
            run to run (ours are within 1% of one seeded run). ``"wald"`` is emmeans'
            ``mode = "asymptotic"``.
        level
            Confidence level of the intervals.
        at
            Values for grid variables, e.g. ``{"age": [8, 14]}`` (a covariate's values, or
            a subset of a factor's levels).
        offset
            The offset added to every mean. By default the mean of the fit's offset vector
            (zero without one), as emmeans with lme4 (``ref_grid(m)@grid$.offset.``),
            whatever ``at`` says of the offset's variables; a number replaces it, as
            emmeans' ``offset =``.

        Returns
        -------
        pandas.DataFrame
            One row per combination of the ``specs`` and ``by`` levels (the first ``specs``
            variable varying fastest, ``by`` slowest, as emmeans orders them): the factor
            columns, then ``emmean, std_error, df, lower_cl, upper_cl``. Means that are not
            estimable in a rank-deficient model are NaN (R's ``nonEst``).

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)",
        ...                lmf.datasets.load("machines"))
        >>> fit.emmeans("Machine").round(2)
          Machine  emmean  std_error    df  lower_cl  upper_cl
        0       A   52.36       2.49  8.52     46.68     58.03
        1       B   60.32       2.49  8.52     54.65     65.99
        2       C   66.27       2.49  8.52     60.60     71.94
        """
        from lmeformula.inference.emmeans import emmeans

        return emmeans(self, specs, by=by, ddf=ddf, level=level, at=at, offset=offset)

    def emmeans_contrasts(
        self,
        specs: str | list[str],
        method: str = "pairwise",
        by: str | list[str] | None = None,
        adjust: str | None = None,
        ddf: str = "satterthwaite",
        at: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Pairwise comparisons of estimated marginal means, as
        ``as.data.frame(pairs(emmeans(m, ~ specs | by)))`` (or the contrasts of
        ``emmeans(m, pairwise ~ specs)``).

        Parameters
        ----------
        specs, by, ddf, at
            As in :meth:`emmeans`; with ``by`` the means are compared within each of its
            levels, and each by-group is its own family for the adjustment.
        method
            ``"pairwise"`` (``"A - B"``, emmeans' and ``pairs()``'s default) or
            ``"revpairwise"`` (``"B - A"``, ``pairs(..., reverse = TRUE)``).
        adjust
            P-value adjustment: ``"tukey"`` (the default, as emmeans: the studentized
            range, R's ``ptukey``), ``"sidak"``, ``"bonferroni"``, ``"holm"`` or
            ``"none"``. A family of one contrast is not adjusted.

        Returns
        -------
        pandas.DataFrame
            ``contrast`` (emmeans' labels, e.g. ``"F - M"``), the ``by`` columns, then
            ``estimate, std_error, df, t_ratio, p_value`` (``t_ratio`` is emmeans'
            ``z.ratio`` when ``ddf="wald"``).

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)",
        ...                lmf.datasets.load("machines"))
        >>> fit.emmeans_contrasts("Machine").round(3)
          contrast  estimate  std_error    df  t_ratio  p_value
        0    A - B    -7.967      2.177  10.0   -3.660    0.011
        1    A - C   -13.917      2.177  10.0   -6.393    0.000
        2    B - C    -5.950      2.177  10.0   -2.733    0.051
        """
        from lmeformula.inference.emmeans import emmeans_contrasts

        return emmeans_contrasts(self, specs, method=method, by=by, adjust=adjust, ddf=ddf, at=at)

    def __repr__(self) -> str:
        crit = (
            f"REML criterion {self.reml_criterion:.4f}"
            if self.reml
            else f"logLik {self.loglik:.4f}"
        )
        return f"<LmerResult {self.formula!r}: nobs={self.nobs}, {crit}>"

    # -- simulation, bootstrap, profiles and intervals ---------------------------------

    def simulate(
        self,
        nsim: int = 1,
        seed: Any = None,
        re_form: Any = "~0",
        use_u: bool | None = None,
    ) -> pd.DataFrame:
        """Responses simulated from the fitted model, as lme4's ``simulate(m, nsim, seed)``.

        Parameters
        ----------
        nsim
            Number of simulated responses.
        seed
            An integer, a ``numpy.random.SeedSequence`` or ``Generator`` (None: fresh
            entropy). The same seed gives the same responses (numpy's generator, not R's).
        re_form
            Which random effects to condition on, spelled as in :meth:`predict`:
            ``"~0"`` (default; R's ``re.form = NA``, ``use.u = FALSE``) draws new random
            effects from the fitted covariance; ``None`` (R's ``re.form = NULL``,
            ``use.u = TRUE``) keeps the conditional modes and draws residuals only.
        use_u
            lme4's other spelling: ``use_u=True`` is ``re_form=None``; give one of the two.

        Returns
        -------
        pandas.DataFrame
            A row per observation (the model frame's index), columns ``sim_1 ... sim_nsim``.
            Residuals are N(0, σ²/w) with prior weights w (lme4 1.1-31 ignores the
            weights here), and follow the residual structure and variance function of the
            model, subject by subject, when it has them.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
        >>> sims = fit.simulate(3, seed=42)
        >>> sims.shape, list(sims.columns)
        ((180, 3), ['sim_1', 'sim_2', 'sim_3'])
        >>> bool((fit.simulate(3, seed=42) == sims).all().all())
        True
        """
        from lmeformula.inference.simulate import simulate

        return simulate(self, nsim=nsim, seed=seed, re_form=re_form, use_u=use_u)

    def bootstrap(
        self,
        n: int,
        seed: Any = None,
        n_jobs: int = 1,
        progress: bool | None = None,
        func: Any = None,
        backend: str = "loky",
        client: Any = None,
    ) -> Any:
        """The parametric bootstrap, as ``lme4::bootMer(m, FUN, nsim = n)``.

        Each replicate simulates a response from the fit (new random effects and
        residuals), refits the same model to it (same formula, REML or ML, weights and
        structures; the design is reused, not rebuilt) and records ``func(refit)``.

        Parameters
        ----------
        n
            Number of replicates.
        seed
            Seed of ``numpy.random.SeedSequence``; replicate i uses its i-th child, so
            results do not depend on ``n_jobs``.
        n_jobs
            Parallel workers (joblib; -1: all cores).
        progress
            A progress bar (tqdm; a widget in notebooks with ipywidgets): None (default)
            shows it once the bootstrap has run 2 s, True at once, False never.
        func
            A function of a fitted model returning numbers (a Series, dict, array or
            scalar). By default lme4's statistics for ``confint(method = "boot")``:
            ``.sig01``, ... (standard deviations and correlations), ``.sigma``, a residual
            structure's parameters, then the fixed effects.
        backend, client
            ``"loky"`` (joblib's processes, default), ``"threading"``, or ``"dask"`` with a
            ``dask.distributed.Client`` (see :func:`lmeformula.fit_many`); the replicates
            are the same whichever runs them.

        Returns
        -------
        BootstrapResult
            ``t0`` (the fit's statistics), ``t`` (replicates x statistics), ``summary()``
            and ``confint()``. Failed refits are counted (``n_failed``, ``errors``) with a
            ``BootstrapWarning``, their rows NaN; warnings of the refits (singular fits)
            are counted in ``warnings``.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
        >>> boot = fit.bootstrap(20, seed=1, progress=False)
        >>> boot.t.shape, list(boot.t.columns)
        ((20, 3), ['.sig01', '.sigma', '(Intercept)'])
        """
        from lmeformula.inference.bootstrap import bootstrap

        return bootstrap(
            self,
            n,
            seed=seed,
            n_jobs=n_jobs,
            progress=progress,
            func=func,
            backend=backend,
            client=client,
        )

    def profile(
        self,
        which: Any = None,
        alphamax: float = 0.01,
        maxpts: int = 100,
        delta: float | None = None,
        delta_cutoff: float = 1 / 8,
        progress: bool | None = None,
    ) -> pd.DataFrame:
        """The likelihood profile of each parameter, as lme4's ``profile(m)``.

        As lme4, a REML fit is profiled at its maximum-likelihood refit. For each
        parameter the others are re-optimised along a grid of its values, and
        ζ = sign(x - x̂) √(deviance(x) - deviance(x̂)) is recorded.

        Parameters
        ----------
        which
            Parameters to profile, by name (``".sig01"``, ``"Days"``) or position (from 0), or
            ``"theta_"`` (variance parameters) / ``"beta_"`` (fixed effects); None: all.
        alphamax, maxpts, delta, delta_cutoff
            lme4's: the profile extends to ``|ζ|`` = √χ²_{1-alphamax}(number of parameters),
            in steps of Δζ ≈ ``delta`` (default cutoff x ``delta_cutoff``), with at most
            ``maxpts`` points each way.
        progress
            A progress bar over the parameters: None (default) shows it once the profile
            has run 2 s, True at once, False never.

        Returns
        -------
        pandas.DataFrame
            One row per point: ``parameter`` (the one held fixed), ``value`` (its value),
            ``zeta``, then every parameter's value at that point (``.sig01``, ...,
            ``.sigma``, fixed effects): R's ``as.data.frame(profile(m))``.

        Raises
        ------
        NotExpressibleError
            For models with a residual structure or variance function, or gls models.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
        >>> prof = fit.profile()
        >>> list(prof.columns)
        ['parameter', 'value', 'zeta', '.sig01', '.sigma', '(Intercept)']
        >>> prof.groupby("parameter", sort=False).size().to_dict()  # the points R places
        {'.sig01': 20, '.sigma': 19, '(Intercept)': 21}
        """
        from lmeformula.inference.profile import profile

        return profile(
            self,
            which=which,
            alphamax=alphamax,
            maxpts=maxpts,
            delta=delta,
            delta_cutoff=delta_cutoff,
            progress=progress,
        )

    def confint(
        self,
        parm: Any = None,
        level: float = 0.95,
        method: str = "profile",
        nsim: int = 500,
        seed: Any = None,
        boot_type: str = "perc",
        n_jobs: int = 1,
        progress: bool | None = None,
    ) -> pd.DataFrame:
        """Confidence intervals of all parameters, as lme4's ``confint(m)``.

        Parameters
        ----------
        parm
            Names (``".sig01"``, ``".sigma"``, ``"Days"``), positions (from 0, unlike
            R's), ``"theta_"`` or ``"beta_"``; None: all.
        level
            Confidence level.
        method
            ``"profile"`` (lme4's default; likelihood profile of the ML fit, as lme4),
            ``"wald"`` (normal intervals for the fixed effects, NaN for the variance
            parameters, as lme4's ``"Wald"``) or ``"boot"`` (parametric bootstrap).
        nsim, seed, boot_type, n_jobs
            For ``"boot"``: replicates, seed, interval type (``"perc"``, lme4's default;
            ``"basic"``, ``"norm"``) and workers (see :meth:`bootstrap`).
        progress
            A progress bar for ``"profile"`` and ``"boot"``: None (default) shows it once
            the work has run 2 s, True at once, False never.

        Returns
        -------
        pandas.DataFrame
            Rows as lme4 names them (``.sig01``, ..., ``.sigma``, fixed effects), columns
            with R's labels (``"2.5 %"``, ``"97.5 %"``).

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
        >>> fit.confint().round(2)
                        2.5 %   97.5 %
        .sig01          12.20    84.06
        .sigma          38.23    67.66
        (Intercept)   1486.45  1568.55
        >>> fit.confint(method="wald").round(2)
                       2.5 %   97.5 %
        .sig01           NaN      NaN
        .sigma           NaN      NaN
        (Intercept)  1489.51  1565.49
        """
        from lmeformula.inference.intervals import confint

        return confint(
            self,
            parm=parm,
            level=level,
            method=method,
            nsim=nsim,
            seed=seed,
            boot_type=boot_type,
            n_jobs=n_jobs,
            progress=progress,
        )

    # -- diagnostic plots (lmeformula.plots.figures; matplotlib is imported on first use) ----------

    def plot_caterpillar(self, **kwargs: Any) -> Any:
        """Caterpillar plot of the conditional modes with conditional intervals, as lme4's
        ``dotplot(ranef(m, condVar = TRUE))``; see :func:`lmeformula.plots.caterpillar`.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
        >>> len(fit.plot_caterpillar().axes)
        2
        """
        from lmeformula.plots.figures import caterpillar

        return caterpillar(self, **kwargs)

    def plot_residuals(self, **kwargs: Any) -> Any:
        """Pearson residuals against fitted values with a lowess smooth, as lme4's
        ``plot(m)``; see :func:`lmeformula.plots.residuals_vs_fitted`.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
        >>> fit.plot_residuals().axes[0].get_title()
        'Residuals vs fitted'
        """
        from lmeformula.plots.figures import residuals_vs_fitted

        return residuals_vs_fitted(self, **kwargs)

    def plot_qq(self, **kwargs: Any) -> Any:
        """Normal QQ plot of the residuals, as ``qqnorm(resid(m))``; see
        :func:`lmeformula.plots.qq`.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
        >>> fit.plot_qq().axes[0].get_xlabel()
        'Standard normal quantiles'
        """
        from lmeformula.plots.figures import qq

        return qq(self, **kwargs)

    def plot_ranef_qq(self, **kwargs: Any) -> Any:
        """Normal QQ plots of the conditional modes per term, as lme4's
        ``qqmath(ranef(m))``; see :func:`lmeformula.plots.ranef_qq`.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
        >>> len(fit.plot_ranef_qq().axes)
        2
        """
        from lmeformula.plots.figures import ranef_qq

        return ranef_qq(self, **kwargs)

    def plot_trajectories(self, x: str, **kwargs: Any) -> Any:
        """Observed and fitted values per subject over ``x`` with the population line;
        see :func:`lmeformula.plots.trajectories`.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
        >>> fit.plot_trajectories("Days").axes[0].get_xlabel()
        'Days'
        """
        from lmeformula.plots.figures import trajectories

        return trajectories(self, x, **kwargs)

    def plot_variogram(self, **kwargs: Any) -> Any:
        """Semivariogram of the normalized residuals, as nlme's
        ``plot(Variogram(m, form = ~ time | g, resType = "normalized"))``; see
        :func:`lmeformula.plots.variogram`.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
        >>> fit.plot_variogram(time="Days").axes[0].get_xlabel()
        'Distance in Days within Subject'
        """
        from lmeformula.plots.figures import variogram

        return variogram(self, **kwargs)

    def plot_acf(self, **kwargs: Any) -> Any:
        """Autocorrelation of the normalized residuals with nlme's bands, as
        ``plot(ACF(m, resType = "normalized"), alpha = 0.05)``; see
        :func:`lmeformula.plots.acf`.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
        >>> fit.plot_acf().axes[0].get_ylabel()
        'Autocorrelation'
        """
        from lmeformula.plots.figures import acf

        return acf(self, **kwargs)

    # -- notebook display ------------------------------------------------------------------

    def _repr_html_(self) -> str:
        """In a notebook a fit shows as its summary (``summary(m)``), in HTML."""
        return Summary(self)._repr_html_()
