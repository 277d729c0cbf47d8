"""The results of a generalized linear mixed model, with lme4's numbers (``glmerMod``).

As for a linear mixed model everything is a function of the estimates and the design:
the conditional modes are Λu, the means μ = g⁻¹(Xβ + Zb + offset), the residuals the
family's. The covariance of the fixed effects is lme4's default (``use.hessian = TRUE``):
the fixed-effects block of 2 H⁻¹, H the Hessian of the deviance in (θ, β) at the optimum;
with nAGQ = 0, whose objective has no β, it is (R_X'R_X)⁻¹ as for ``lmer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from lmeformula.engines.derivatives import finite_differences
from lmeformula.engines.laplace import GlmmSolution
from lmeformula.errors import ArgumentTypeError, DataError
from lmeformula.families import Family, NegativeBinomial
from lmeformula.results.estimates import (
    SINGULAR_TOL,
    fixef_vcov,
    is_singular,
    variance_components,
)
from lmeformula.results.fixed import FixedEffectTables
from lmeformula.results.modes import coef_frames, ranef_frames, ranef_long
from lmeformula.results.prediction import linear_predictor
from lmeformula.results.state import ModelState

__all__ = ["GlmerResult", "GlmerSummary"]

#: What ``residuals(type=)`` takes, as R's ``residuals.glmResp``.
RESIDUAL_TYPES = ("deviance", "pearson", "response", "working")


@dataclass(frozen=True)
class GlmerSummary:
    """lme4's ``summary(glmerMod)``: printed as R prints it, and as HTML in notebooks."""

    result: GlmerResult

    def __str__(self) -> str:
        from lmeformula.results.display import format_summary

        return format_summary(self.result)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        from lmeformula.results.display import format_summary_html

        return format_summary_html(self.result)


class GlmerResult(FixedEffectTables):
    """A fitted generalized linear mixed model, with lme4's accessors.

    Attributes
    ----------
    formula : str
        The formula as written.
    family : Family
        The family and link (``fit.family.theta`` for ``glmer_nb``).
    nagq : int
        Quadrature points per group (0, 1: Laplace, or more).
    nobs, n_dropped : int
        Observations used, and rows dropped for missing values.
    ngroups : dict[str, int]
        Levels of each grouping factor, in lme4's order.
    fixef, fixef_se : pandas.Series
        Fixed effects and standard errors, by R's coefficient names.
    vcov : pandas.DataFrame
        Covariance of the fixed effects (lme4's ``vcov``).
    theta : numpy.ndarray
        lme4's θ.
    sigma : float
        The dispersion's square root (Gamma, inverse Gaussian, gaussian), else 1.
    loglik, aic, bic : float
        The log-likelihood (Laplace's, or by quadrature the marginal log-likelihood
        itself), AIC and BIC with lme4's ``npar``.
    deviance : float
        lme4's ``deviance(m)``: the sum of the squared deviance residuals.
    minus2loglik : float
        -2 logLik, what lme4's summary prints as "deviance".
    df_resid : int
        nobs - npar.
    ranef : dict[str, pandas.DataFrame]
        Conditional modes per grouping factor.
    optinfo : OptInfo
        The optimisation record.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 lmf.datasets.load("cbpp"), family="binomial")
    >>> round(fit.loglik, 2)  # R: logLik(glmer(...)): -92.03
    -92.03
    """

    def __init__(self, state: ModelState, *, data_name: str | None = None) -> None:
        self.state = state
        model, solution = state.model, state.solution
        assert model.family is not None
        family = model.family
        if isinstance(family, NegativeBinomial) and family.estimated:
            # glmer.nb: the θ the fit estimated (its "dispersion" block, on the log scale).
            family = family.with_theta(
                float(np.exp(state.layout.get(state.params, "dispersion")[0]))
            )
        self.family: Family = family
        self.nagq = model.nagq
        design, frame = model.design, model.frame
        self.formula = model.formula
        self.reml = False
        self.optinfo = state.optinfo
        self.data_name = data_name
        self.nobs = frame.nobs
        self.n_dropped = frame.n_dropped
        self.theta = state.theta
        self.sigma = float(solution.sigma) if self.family.has_dispersion else 1.0
        names = design.fixed_names
        self.ngroups: dict[str, int] = {}
        for term in design.terms:
            self.ngroups.setdefault(term.name, term.factor.nlevels)
        ntheta = state.layout.get(state.params, "theta").size
        nb = state.layout.get(state.params, "dispersion").size
        self.npar = len(names) + ntheta + nb + int(self.family.has_dispersion)
        self.loglik = -0.5 * solution.deviance
        self.minus2loglik = solution.deviance
        self.aic = -2.0 * self.loglik + 2.0 * self.npar
        self.bic = -2.0 * self.loglik + self.npar * np.log(self.nobs)
        self.deviance = float(getattr(solution, "dev", np.nan))
        self.df_resid = self.nobs - self.npar
        self.reml_criterion = None
        self._cond_var: np.ndarray | None = None

    # -- estimates -----------------------------------------------------------------------

    def fixed_arrays(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """The coefficient names, β̂ and Var(β̂) (``fixef``, ``vcov`` as arrays)."""
        return tuple(self.state.design.fixed_names), self.state.solution.beta, self._fixef_cov()

    def _fixef_cov(self) -> np.ndarray:
        state = self.state
        layout = state.layout
        beta_at = layout.slice("beta")
        if beta_at.stop == beta_at.start:
            return fixef_vcov(state.solution.RX, self.sigma)
        derivs = getattr(state.optinfo, "derivs", None)
        if derivs is None or not np.array_equal(derivs.par, state.params):
            from lmeformula.engines.factory import make_engine

            engine = make_engine(state.model)
            derivs = finite_differences(engine.deviance, state.params, layout.lower, layout.upper)
        free = list(derivs.free)
        H = derivs.hessian
        # lme4's glmer.nb reports the final glmer's vcov, at its θ: the dispersion held.
        held = layout.slice("dispersion")
        keep = [k for k, i in enumerate(free) if not held.start <= i < held.stop]
        H = H[np.ix_(keep, keep)]
        free = [free[k] for k in keep]
        try:
            inv = np.linalg.inv(H)
        except np.linalg.LinAlgError:
            return fixef_vcov(state.solution.RX, self.sigma)
        full = inv + inv.T  # lme4's calc.vcov.hess: solve(H) made symmetric, times 2 / 2
        where = [free.index(i) for i in range(beta_at.start, beta_at.stop) if i in free]
        cov = full[np.ix_(where, where)]
        if len(where) != beta_at.stop - beta_at.start or np.any(np.linalg.eigvalsh(cov) <= 0):
            return fixef_vcov(state.solution.RX, self.sigma)
        return np.asarray(cov)

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

    def ranef_table(self) -> pd.DataFrame:
        """Conditional modes and SDs as R's ``as.data.frame(ranef(m, condVar = TRUE))``.

        Returns
        -------
        pandas.DataFrame
            Columns ``grpvar, term, grp, condval, condsd``.
        """
        if self._cond_var is None:
            cond_var = self.state.solution.cond_var
            if cond_var is None:
                raise NotImplementedError("this fit's engine provides no conditional variances.")
            self._cond_var = self.sigma**2 * cond_var()
        var = self._cond_var
        return ranef_long(self.state, var)

    def varcorr(self) -> pd.DataFrame:
        """Variance components as lme4's ``as.data.frame(VarCorr(m))``: no residual row for
        families without a dispersion (binomial, Poisson), σ² for the others.

        Returns
        -------
        pandas.DataFrame
            Columns ``grp, var1, var2, vcov, sdcor``.
        """
        # Random effects on the linear predictor's scale: Λ's relative covariance times σ²
        # (σ = 1 without a dispersion).
        rows = variance_components(self.state.design, self.theta, self.sigma)
        if not self.family.has_dispersion:
            rows = rows[:-1]
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def coef(self) -> dict[str, pd.DataFrame]:
        """Fixed plus random effects per level, as lme4's ``coef(m)``."""
        return coef_frames(self.fixef, self.ranef)

    def is_singular(self, tol: float = SINGULAR_TOL) -> bool:
        """lme4's ``isSingular``."""
        return is_singular(self.state.design, self.theta, tol)

    @cached_property
    def singular(self) -> bool:
        """Whether the fit is singular (lme4's ``isSingular`` with its tolerance)."""
        return self.is_singular()

    # -- predictions and residuals ----------------------------------------------------------

    @property
    def _solution(self) -> GlmmSolution:
        sol = self.state.solution
        assert isinstance(sol, GlmmSolution)
        return sol

    def fitted(self) -> np.ndarray:
        """The fitted means μ, as lme4's ``fitted``."""
        return self.family.link.inverse(self._solution.eta)

    def predict(
        self,
        newdata: Any = None,
        type: str = "link",
        re_form: str | None = None,
        allow_new_levels: bool = False,
    ) -> np.ndarray:
        """Predictions as lme4's ``predict.merMod``.

        Parameters
        ----------
        newdata
            A table to predict for (pandas, polars, Arrow or a dict of columns); by default
            the fitted data.
        type
            ``"link"`` (the linear predictor, lme4's default) or ``"response"`` (the mean).
        re_form
            ``None`` for all random effects, ``"~0"`` (or ``"NA"``) for the fixed effects
            only (R's ``re.form = NA``).
        allow_new_levels
            Levels not seen in the fit get random effects 0 when True; otherwise an error.

        Returns
        -------
        numpy.ndarray
        """
        if type not in ("link", "response"):
            raise ArgumentTypeError(f"type must be 'link' or 'response', got {type!r}.")
        eta = linear_predictor(self.state, newdata, re_form, allow_new_levels)
        return self.family.link.inverse(eta) if type == "response" else eta

    def residuals(self, type: str = "deviance") -> np.ndarray:
        """Residuals as R's ``residuals(glmerMod, type)``: ``"deviance"`` (the default),
        ``"pearson"``, ``"response"`` or ``"working"``."""
        d = self.state.design
        y, mu, eta = d.y, self.fitted(), self._solution.eta
        wt = d.weights if d.weights is not None else np.ones_like(y)
        if type == "response":
            return y - mu
        if type == "pearson":
            return (y - mu) * np.sqrt(wt) / np.sqrt(self.family.variance(mu))
        if type == "working":
            return (y - mu) / self.family.link.mu_eta(eta)
        if type == "deviance":
            dev = self.family.dev_resids(y, mu, wt)
            return np.sign(y - mu) * np.sqrt(np.maximum(dev, 0.0))
        raise DataError(f"unknown residual type {type!r}; use one of {list(RESIDUAL_TYPES)}.")

    def scaled_residuals(self) -> np.ndarray:
        """Pearson residuals divided by σ, lme4's ``residuals(m, "pearson", scaled = TRUE)``
        (the summary's "Scaled residuals")."""
        return self.residuals("pearson") / self.sigma

    # -- tables -------------------------------------------------------------------------

    def coef_table(self) -> pd.DataFrame:
        """lme4's coefficient table: Estimate, Std. Error, z value and Pr(>|z|)."""
        from scipy import stats

        z = self.fixef / self.fixef_se
        return pd.DataFrame(
            {
                "Estimate": self.fixef,
                "Std. Error": self.fixef_se,
                "z value": z,
                "Pr(>|z|)": 2.0 * stats.norm.sf(np.abs(z)),
            }
        )

    def confint(
        self,
        level: float = 0.95,
        method: str = "profile",
        parm: Any = None,
        progress: bool | None = None,
        nsim: int = 500,
        seed: Any = None,
    ) -> pd.DataFrame:
        """Confidence intervals as lme4's ``confint(m, method = ...)``.

        Parameters
        ----------
        level
            Confidence level.
        method
            ``"profile"`` (the default, as lme4's: the likelihood profile of every
            parameter, ``.sig01``, ... and the fixed effects;
            :mod:`!lmeformula.inference.glmm_profile`), ``"Wald"`` (the fixed effects, from
            their standard errors) or ``"boot"`` (parametric bootstrap percentile
            intervals of ``nsim`` refits from ``seed``).
        parm
            The parameters, by name (``".sig01"``, a fixed effect) or position,
            ``"theta_"`` or ``"beta_"``; None for all (not for ``"boot"``).
        progress
            A progress bar for ``"profile"`` and ``"boot"`` (None: once it takes a while).
        nsim, seed
            For ``"boot"``: replicates and seed.

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter (``.sig01``, ..., ``.sigma`` for a family with a
            dispersion, then the fixed effects), with R's column labels (``"2.5 %"``,
            ``"97.5 %"``); Wald's variance-parameter rows are NaN, as lme4's. For a family
            with a dispersion, which lme4 refuses to profile, the profile has no
            ``.sigma`` row (lme4's σ there is a moment estimate, not a parameter of the
            Laplace deviance) and its ``.sig`` limits are θ's times the fit's σ.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmf.datasets.load("cbpp"))
        >>> fit.confint(method="profile").loc[".sig01"].round(2).tolist()  # R: 0.35 1.10
        [0.35, 1.1]
        """
        from scipy import stats

        name = method.lower() if isinstance(method, str) else method
        if name == "boot":
            return self.bootstrap(nsim, seed=seed, progress=progress).confint(level)
        if name == "profile":
            from lmeformula.inference.glmm_profile import glmm_profile
            from lmeformula.inference.profile import profile_confint

            return profile_confint(glmm_profile(self, which=parm, progress=progress), level)
        if name != "wald":
            raise ArgumentTypeError(
                f"method must be 'Wald', 'profile' or 'boot' for a glmer fit, got {method!r}."
            )
        from lmeformula.inference.bootstrap import format_percent, interval_tails
        from lmeformula.inference.profile import select_parameters
        from lmeformula.results.varpar import sdcor_names

        a = interval_tails(level)
        # lme4's rows: the variance parameters (NA: Wald gives none), σ only where the
        # family has a dispersion, then the fixed effects.
        names = sdcor_names(self.state.design)
        if not self.family.has_dispersion:
            names = names[:-1]
        nvp = len(names)
        names += list(self.fixef.index)
        z = stats.norm.ppf(a)
        fixed = self.fixef.to_numpy()[:, None] + self.fixef_se.to_numpy()[:, None] * z[None, :]
        values = np.vstack([np.full((nvp, 2), np.nan), fixed])
        table = pd.DataFrame(values, index=names, columns=format_percent(a))
        return table.iloc[select_parameters(parm, names, nvp)]

    def emmeans(
        self,
        specs: str | list[str],
        by: str | list[str] | None = None,
        type: str = "link",
        level: float = 0.95,
        at: dict[str, Any] | None = None,
        offset: float | None = None,
    ) -> pd.DataFrame:
        """Estimated marginal means as ``emmeans(m, specs, type = type)``: asymptotic,
        on the link scale or, with ``type="response"``, back-transformed (columns ``prob``
        for binomial, ``rate`` for Poisson, then ``std_error``, ``df``, ``lower_cl``,
        ``upper_cl``).

        A model with an offset (``offset()`` in the formula or ``offset=``) has the mean
        of its offset vector added to every mean on the link scale, as emmeans does
        with lme4 (``ref_grid(m)@grid$.offset.``); ``offset`` replaces it, as emmeans'
        ``offset =`` (``offset=0``: rates per unit of exposure).

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmf.datasets.load("cbpp"))
        >>> fit.emmeans("period", type="response")["prob"].round(2).tolist()
        [0.2, 0.08, 0.07, 0.05]

        Counts with an exposure: the rate at the mean log brood size, and per chick.

        >>> owls = lmf.glmer(
        ...     "SiblingNegotiation ~ FoodTreatment + offset(log(BroodSize)) + (1 | Nest)",
        ...     lmf.datasets.load("owls"), family="poisson")
        >>> owls.emmeans("FoodTreatment", type="response")["rate"].round(2).tolist()
        [7.95, 4.46]
        >>> owls.emmeans("FoodTreatment", type="response", offset=0)["rate"].round(2).tolist()
        [1.89, 1.06]
        """
        from lmeformula.inference.emmeans import emmeans

        return emmeans(
            self,  # type: ignore[arg-type]
            specs,
            by=by,
            level=level,
            at=at,
            type=type,
            offset=offset,
        )

    def emmeans_contrasts(
        self,
        specs: str | list[str],
        method: str = "pairwise",
        by: str | list[str] | None = None,
        adjust: str | None = None,
        at: dict[str, Any] | None = None,
        level: float = 0.95,
        type: str = "link",
        offset: float | None = None,
    ) -> pd.DataFrame:
        """Contrasts of estimated marginal means, as emmeans'
        ``summary(contrast(emmeans(m, ~ specs | by), method, adjust = adjust),
        infer = TRUE, type = type)``: asymptotic z tests (``df`` infinite).

        Parameters
        ----------
        specs, by, at
            As in :meth:`emmeans`; with ``by`` the means are compared within each of its
            levels, and each by-group is its own family for the adjustment.
        method
            ``"pairwise"`` (``"A - B"``, ``pairs()``), ``"revpairwise"`` (``"B - A"``) or
            ``"trt.vs.ctrl"`` (each level against the first, ``"B - A"``).
        adjust
            P-value adjustment: ``"tukey"`` (default for the pairwise methods: the
            studentized range with infinite df; Šidák for ``trt.vs.ctrl``, as emmeans),
            ``"dunnettx"`` (emmeans' approximate Dunnett, default for ``trt.vs.ctrl``),
            ``"sidak"``, ``"bonferroni"``, ``"holm"`` or ``"none"``. The confidence limits
            take the same adjustment (Bonferroni's for ``"holm"``), as emmeans' ``confint``.
        level
            Confidence level of ``lower_cl`` and ``upper_cl``.
        type
            ``"link"``: differences on the link scale (log odds ratios, log ratios).
            ``"response"``: for a log link the ``ratio`` of the two means, for a logit
            link their ``odds_ratio`` (labels ``"A / B"``), each with its SE by the
            delta method (ratio times the SE of the log difference) and limits
            back-transformed; the test is the link scale's (of R's ``null = 1``). For
            any other link (probit, cloglog, identity, inverse, ...) the differences of
            the response-scale means with delta-method SEs, tests and limits, as
            ``pairs(regrid(emmeans(m, specs)))``; emmeans' own ``type = "response"``
            leaves those contrasts on the link scale (``type="link"`` here).
        offset
            The grid's offset, as in :meth:`emmeans`; only regridded differences depend
            on it.

        Returns
        -------
        pandas.DataFrame
            ``contrast``, the ``by`` columns, then ``estimate`` (``ratio`` or
            ``odds_ratio`` on the response scale), ``std_error``, ``df``, ``lower_cl``,
            ``upper_cl``, ``t_ratio`` (emmeans' ``z.ratio``) and ``p_value``.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmf.datasets.load("cbpp"))
        >>> out = fit.emmeans_contrasts("period", method="trt.vs.ctrl", type="response")
        >>> out["contrast"].tolist()
        ['period2 / period1', 'period3 / period1', 'period4 / period1']
        >>> out["odds_ratio"].round(2).tolist()
        [0.37, 0.32, 0.21]
        """
        from lmeformula.inference.emmeans import emmeans_contrasts

        return emmeans_contrasts(
            self,  # type: ignore[arg-type]
            specs,
            method=method,
            by=by,
            adjust=adjust,
            at=at,
            level=level,
            type=type,
            offset=offset,
        )

    def simulate(self, nsim: int = 1, seed: Any = None, re_form: Any = "~0") -> pd.DataFrame:
        """Responses simulated from the fit, as lme4's ``simulate(m, nsim, seed)``: new
        random effects from the fitted covariance (``re_form="~0"``, R's ``re.form = NA``),
        or the conditional modes (``re_form=None``), then each row drawn from the family
        (a binomial row as its proportion of successes).

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmf.datasets.load("cbpp"))
        >>> fit.simulate(3, seed=1).shape
        (56, 3)
        """
        from lmeformula.inference.simulate import simulate

        return simulate(self, nsim, seed=seed, re_form=re_form)  # type: ignore[arg-type]

    def bootstrap(
        self,
        n: int,
        seed: Any = None,
        n_jobs: int = 1,
        progress: bool | None = None,
        func: Any = None,
    ) -> Any:
        """The parametric bootstrap, as lme4's ``bootMer``: ``n`` responses simulated from
        the fit, each refitted (both stages), ``func`` (default: the standard deviations
        and fixed effects, as lme4's ``confint(method = "boot")``) of each refit; a
        :class:`~lmeformula.inference.bootstrap.BootstrapResult` (``.confint()``)."""
        from lmeformula.inference.bootstrap import bootstrap

        return bootstrap(self, n, seed=seed, n_jobs=n_jobs, progress=progress, func=func)  # type: ignore[arg-type]

    def drop1(self) -> pd.DataFrame:
        """Single-term deletions with likelihood-ratio tests, as R's ``drop1(m, test =
        "Chisq")``; see :func:`!lmeformula.comparison.drop1.drop1`."""
        from lmeformula.comparison.drop1 import drop1

        return drop1(self)

    def plot_caterpillar(self, **kwargs: Any) -> Any:
        """Caterpillar plot of the conditional modes with conditional intervals, as lme4's
        ``dotplot(ranef(m, condVar = TRUE))``; see :func:`lmeformula.plots.caterpillar`."""
        from lmeformula.plots.figures import caterpillar

        return caterpillar(self, **kwargs)  # type: ignore[arg-type]

    def plot_residuals(self, **kwargs: Any) -> Any:
        """Pearson residuals against fitted values, as lme4's ``plot(m)``; see
        :func:`lmeformula.plots.residuals_vs_fitted`."""
        from lmeformula.plots.figures import residuals_vs_fitted

        return residuals_vs_fitted(self, **kwargs)  # type: ignore[arg-type]

    def plot_binned_residuals(self, **kwargs: Any) -> Any:
        """performance's binned residuals plot (binomial fits); see
        :func:`lmeformula.plots.binned_residuals`."""
        from lmeformula.plots.figures import binned_residuals

        return binned_residuals(self, **kwargs)

    def binned_residuals(self, n_bins: int | None = None) -> pd.DataFrame:
        """performance's ``binned_residuals`` (binomial fits); see
        :func:`!lmeformula.results.binned.binned_residuals`."""
        from lmeformula.results.binned import binned_residuals

        return binned_residuals(self, n_bins)

    def check_overdispersion(self) -> dict[str, float]:
        """performance's ``check_overdispersion`` (count models); see
        :func:`!lmeformula.inference.overdispersion.check_overdispersion`."""
        from lmeformula.inference.overdispersion import check_overdispersion

        return check_overdispersion(self)

    def icc(self) -> dict[str, float]:
        """Intraclass correlation as ``performance::icc``: ``adjusted`` and
        ``unadjusted``, with the distribution-specific variance (π²/3 for logit, the
        lognormal approximation for Poisson; :mod:`!lmeformula.inference.glmm_variance`).

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmf.datasets.load("cbpp"))
        >>> round(fit.icc()["adjusted"], 3)  # R: performance::icc(m)$ICC_adjusted
        0.111
        """
        from lmeformula.inference.glmm_variance import icc

        return icc(self)

    def r2(self) -> dict[str, float]:
        """Nakagawa's R² as ``performance::r2_nakagawa``: ``marginal`` and ``conditional``.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmf.datasets.load("cbpp"))
        >>> round(fit.r2()["conditional"], 3)  # R: performance::r2_nakagawa(m)
        0.187
        """
        from lmeformula.inference.glmm_variance import r2

        return r2(self)

    @property
    def model_frame(self) -> pd.DataFrame:
        """The rows and columns the model was fitted on (a copy)."""
        return self.state.frame.data.copy()

    def tidy(
        self,
        effects: str | None = None,
        conf_int: bool = False,
        conf_level: float = 0.95,
        exponentiate: bool = False,
    ) -> pd.DataFrame:
        """broom.mixed's ``tidy``: Wald z tests, ``exponentiate=True`` for odds or rate
        ratios; see :func:`!lmeformula.results.tidy.tidy`.

        Examples
        --------
        >>> import lmeformula as lmf
        >>> fit = lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmf.datasets.load("cbpp"))
        >>> fit.tidy(exponentiate=True)["estimate"].round(2).tolist()[:2]  # odds, ratio
        [0.25, 0.37]
        """
        from lmeformula.results.tidy import tidy

        return tidy(
            self,
            effects=effects,
            conf_int=conf_int,
            conf_level=conf_level,
            exponentiate=exponentiate,
        )

    def glance(self) -> pd.DataFrame:
        """broom.mixed's ``glance``; see :func:`!lmeformula.results.tidy.glance`."""
        from lmeformula.results.tidy import glance

        return glance(self)

    def augment(self) -> pd.DataFrame:
        """broom.mixed's ``augment``; see :func:`!lmeformula.results.tidy.augment`."""
        from lmeformula.results.tidy import augment

        return augment(self)

    def summary(self) -> GlmerSummary:
        """lme4's summary; ``print(fit.summary())`` shows R's layout."""
        return GlmerSummary(self)

    def __repr__(self) -> str:
        return (
            f"<GlmerResult {self.formula!r}: {self.family!r}, nobs={self.nobs}, "
            f"logLik={self.loglik:.4f}>"
        )

    def _repr_html_(self) -> str:
        """In a notebook a fit shows as its summary, in HTML."""
        return GlmerSummary(self)._repr_html_()
