"""lme4's objective for generalized linear mixed models: the Laplace approximation to
-2 log L, and adaptive Gauss-Hermite quadrature for one scalar random-effects term.

At the conditional modes u of PIRLS (:mod:`lmeformula.engines.pirls`),

    Laplace:  d(θ, β) = -2 log p(y | u) + ||u||² + log|L|²,   L L' = Λ'Z'WZΛ + I,

with W the working weights there and -2 log p(y | u) the family's with every constant
(R's ``family$aic``), so -d/2 is lme4's ``logLik``. Two objectives, as lme4's two stages:

- ``fast`` (lme4's nAGQ = 0, MixedModels.jl's ``fast = true``): a function of θ alone, β
  found with u inside PIRLS;
- otherwise a function of (θ, β): the ``"theta"`` and ``"beta"`` blocks of the layout.

With ``nagq`` > 1 (one scalar term, as lme4 allows) each group's integral is taken by
adaptive Gauss-Hermite quadrature around its mode, with the Laplace approximation's own
scale: nagq = 1 is the Laplace approximation exactly. The value is the marginal
log-likelihood itself, constants included; lme4 reports another figure for binomial counts
(lme4 issue #161) but minimises the same function up to a constant, so the estimates agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.linalg as la

from lmeformula.engines.factor import BlockedFactor
from lmeformula.engines.laplace_gradient import RowPattern, laplace_beta_hessian, laplace_gradient
from lmeformula.engines.layout import ParameterBlock, ParameterLayout, theta_block
from lmeformula.engines.pirls import GlmData, PirlsResult, pirls
from lmeformula.engines.selinv import MAX_CROSS
from lmeformula.engines.solution import Criteria, PLSSolution
from lmeformula.families import Family, NegativeBinomial
from lmeformula.model.design import Design

__all__ = ["GlmmSolution", "LaplaceDeviance", "has_exact_gradient"]


@dataclass(frozen=True)
class GlmmSolution(PLSSolution):
    """A generalized model's solution: the PLS solution's fields (``criteria.deviance`` is
    the Laplace or quadrature deviance, ``criteria.sigma`` the dispersion's square root or
    1) and what follows from the modes.

    Attributes
    ----------
    eta, mu
        Linear predictor and mean at the modes.
    weights
        Working weights there.
    dev
        Σ dev_i, lme4's ``deviance(m)``.
    """

    eta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mu: np.ndarray = field(default_factory=lambda: np.zeros(0))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dev: float = 0.0


def has_exact_gradient(design: Design, family: Family, nagq: int) -> bool:
    """Whether the Laplace objective of (θ, β) has its exact gradient here
    (:mod:`~lmeformula.engines.laplace_gradient`): a canonical link without a dispersion,
    Laplace (nagq <= 1), every Λ θ among zeros, and the blocked factor's dense q_1 x q_0
    arrays within :data:`~lmeformula.engines.selinv.MAX_CROSS`."""
    if nagq > 1 or family.has_dispersion or family.weight_slope(np.full(1, 0.5)) is None:
        return False
    if any(t.structure.theta_positions() is None for t in design.terms):
        return False
    q0 = design.terms[0].q
    return q0 * sum(t.q for t in design.terms[1:]) <= MAX_CROSS


class LaplaceDeviance:
    """lme4's GLMM deviance (see the module).

    Parameters
    ----------
    design
        The model's design.
    data
        The family and the rows (:class:`~lmeformula.engines.pirls.GlmData`).
    fast
        nAGQ = 0: θ alone, β inside PIRLS.
    nagq
        Quadrature points per group (1: Laplace); more needs one scalar term.
    beta0, u0
        Where β starts (the layout's start) and where u starts at every evaluation.
    factor
        The factor of the design's system (built when not given).
    share
        An engine of the same design that will not be evaluated again (the first stage's):
        its factor is taken over, and with the same ``data`` its start, deviance constant
        and row pattern too.
    """

    reml = False

    def __init__(
        self,
        design: Design,
        data: GlmData,
        *,
        fast: bool = False,
        nagq: int = 1,
        beta0: np.ndarray | None = None,
        u0: np.ndarray | None = None,
        factor: BlockedFactor | None = None,
        share: LaplaceDeviance | None = None,
    ) -> None:
        self.design = design
        self.data = data
        self.fast = fast
        self.nagq = int(nagq)
        if share is not None:
            factor = share.factor
        self.factor: BlockedFactor = BlockedFactor(design) if factor is None else factor
        self.n, self.p = design.X.shape
        self.largest_dense_block = self.factor.largest_dense_block
        q = sum(t.q for t in design.terms)
        self.u0 = np.zeros(q) if u0 is None else np.asarray(u0, dtype=float)
        fam = data.family
        self._warm: PirlsResult | None = None
        self._rough = False
        self._last: tuple[bytes, PirlsResult] | None = None
        exact = has_exact_gradient(design, data.family, self.nagq)
        self.eta0: np.ndarray
        self._offset: float | None
        self._pattern: RowPattern | None
        if share is not None and share.data is data:
            # The other stage's engine of the same rows: what depends on them alone.
            self.eta0, self._offset = share.eta0, share._offset
            self._pattern = share._pattern if exact else None
        else:
            self.eta0 = fam.link.link(fam.mustart(data.y, data.wt))
            # -2 log p(y | μ) as PIRLS's deviance plus a constant, where the family has one.
            self._offset = fam.deviance_offset(data.y, data.wt, data.trials)
            self._pattern = None
        if exact and self._pattern is None:
            self._pattern = RowPattern(design)
        blocks = [theta_block(design)]
        # glmer.nb's θ, on the log scale, when the fit estimates it.
        self._nb = fam if isinstance(fam, NegativeBinomial) and fam.estimated else None
        if self._nb is not None:
            start = np.array([np.log(self._nb.theta)])
            blocks.append(
                ParameterBlock(
                    "dispersion", ("log(theta)",), np.array([-12.0]), np.array([12.0]), start
                )
            )
        if not fast:
            start = np.zeros(self.p) if beta0 is None else np.asarray(beta0, dtype=float)
            inf = np.full(self.p, np.inf)
            blocks.append(ParameterBlock("beta", tuple(design.fixed_names), -inf, inf, start))
        self.layout = ParameterLayout.of(blocks)
        if self.nagq > 1:
            t = design.terms[0]
            self._codes, self._nlev, self._x = t.factor.codes, t.factor.nlevels, t.X[:, 0]
            self._nodes, w = np.polynomial.hermite_e.hermegauss(self.nagq)
            self._log_w = np.log(w / np.sqrt(2.0 * np.pi))

    @property
    def rough(self) -> bool:
        """PIRLS to about 1e-6 only (:func:`~lmeformula.engines.pirls.pirls`'s ``rough``):
        for an optimiser scouting a start, never for an optimum reported."""
        return self._rough

    @rough.setter
    def rough(self, value: bool) -> None:
        self._rough = bool(value)
        self._last = None  # a remembered solution was taken at the other precision

    # -- the engine contract ------------------------------------------------------------

    def with_response(self, y: np.ndarray) -> LaplaceDeviance:
        """The same model for another response (a simulated one): y in the design's
        scale (a proportion for the binomial)."""
        design = self.design.with_response(y)
        data = replace(self.data, y=np.asarray(y, dtype=float))
        return LaplaceDeviance(
            design,
            data,
            fast=self.fast,
            nagq=self.nagq,
            beta0=self.layout.start[self.layout.slice("beta")] if not self.fast else None,
            u0=self.u0,
            factor=BlockedFactor(design),
        )

    def gradient(self, par: np.ndarray) -> np.ndarray | None:
        """The exact gradient in (θ, β), or in θ alone for ``fast`` (β inside PIRLS), where
        :mod:`~lmeformula.engines.laplace_gradient` has one (canonical links, no
        dispersion, Laplace); None elsewhere, and the optimizer takes finite differences."""
        if self._pattern is None:
            return None
        try:
            r = self.modes(par)
            return laplace_gradient(
                self.design,
                self.data,
                r,
                self.layout.get(par, "theta"),
                self._pattern,
                joint=self.fast,
            )
        except (la.LinAlgError, np.linalg.LinAlgError, FloatingPointError):
            return None

    def beta_curvature(self, par: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool] | None:
        """The deviance's curvature in β at ``par``, with β's places in the layout and
        whether it is exact: :func:`~lmeformula.engines.laplace_gradient.laplace_beta_hessian`
        where there is one, else as the modes' factor gives it, 2 R_X'R_X (the
        log-determinant's part left out); None with β inside PIRLS."""
        if self.fast:
            return None
        where = np.arange(self.layout.size)[self.layout.slice("beta")]
        r = self.modes(par)
        if self._pattern is not None:
            theta = self.layout.get(par, "theta")
            try:
                data = self.data_at(par)
                exact = laplace_beta_hessian(self.design, data, r, theta, self._pattern)
            except (la.LinAlgError, np.linalg.LinAlgError, FloatingPointError):
                exact = None
            if exact is not None:
                return where, exact, True
        p = self.p
        Lx = r.fac.Lyy[:p, :p]
        return where, 2.0 * (Lx @ Lx.T), False

    def modes(self, par: np.ndarray) -> PirlsResult:
        """PIRLS at ``par``: the conditional modes (and β for ``fast``).

        Each evaluation starts where the last one converged (an optimizer's next point is
        near its last), which halves the steps; the modes are converged to 1e-10 either
        way, so the deviance does not depend on the start beyond that.
        """
        # The point by its bytes: the same values (array_equal's Python costs 4 us a call,
        # and an optimizer asks twice a point).
        key = np.asarray(par, dtype=float).tobytes()
        if self._last is not None and self._last[0] == key:
            # The gradient at the point whose deviance was just taken.
            return self._last[1]
        theta = self.layout.get(par, "theta")
        beta = None if self.fast else self.layout.get(par, "beta")
        data = self.data_at(par)
        warm = self._warm
        if warm is None:
            eta0 = self.eta0 if self.fast else None
            r = pirls(self.factor, data, theta, beta, self.u0, eta0, rough=self._rough)
        else:
            r = pirls(self.factor, data, theta, beta, warm.u, None, warm.beta, rough=self._rough)
        # A finite sum has finite terms (an overflowing one only costs the warm start).
        self._warm = r if r.converged and np.isfinite(r.u.sum()) else None
        self._last = (key, r)
        return r

    def data_at(self, par: np.ndarray) -> GlmData:
        """The rows with the family at ``par`` (glmer.nb's θ from the dispersion block)."""
        if self._nb is None:
            return self.data
        theta = float(np.exp(self.layout.get(par, "dispersion")[0]))
        return replace(self.data, family=self._nb.with_theta(theta))

    def deviance(self, par: np.ndarray) -> float:
        """The Laplace (or quadrature) deviance at ``par``; inf where PIRLS fails."""
        try:
            return self._criteria(self.modes(par), par).deviance
        except (la.LinAlgError, np.linalg.LinAlgError, FloatingPointError):
            return np.inf

    def solve(self, par: np.ndarray) -> GlmmSolution:
        """β, u, b, μ and the criteria at ``par``: the same computation as :meth:`deviance`."""
        r = self.modes(par)
        criteria = self._criteria(r, par)
        p = self.p
        return GlmmSolution(
            theta=self.layout.get(par, "theta"),
            beta=r.beta,
            u=r.u,
            b=r.b,
            criteria=criteria,
            RX=np.ascontiguousarray(r.fac.Lyy[:p, :p].T),
            cond_var=r.fac.cond_var,
            eta=r.eta,
            mu=r.mu,
            weights=r.weights,
            dev=r.dev,
        )

    # -- the objective --------------------------------------------------------------------

    def _criteria(self, r: PirlsResult, par: np.ndarray) -> Criteria:
        d = self.data_at(par)
        parts = r.fac.criteria(self.n, False, 0.0)
        logdet_L, logdet_RX = parts.logdet_L, parts.logdet_RX
        fam = d.family
        uu = float(r.u @ r.u)
        if self.nagq > 1:
            dev = self._quadrature(r, self.layout.get(par, "theta"), d)
        elif self._offset is not None:
            dev = r.dev + self._offset + uu + logdet_L
        else:
            dev = fam.minus2loglik(d.y, r.mu, d.wt, d.trials) + uu + logdet_L
        sigma = 1.0
        if fam.has_dispersion:
            # lme4's sigma(): sqrt(pwrss / n), pwrss the Pearson residuals' weighted sum of
            # squares plus ||u||².
            pearson = float(np.sum(d.wt * (d.y - r.mu) ** 2 / fam.variance(r.mu)))
            sigma = np.sqrt((pearson + uu) / self.n)
        return Criteria(dev, dev, float(sigma), r.dev + uu, logdet_L, logdet_RX)

    def _quadrature(self, r: PirlsResult, theta: np.ndarray, d: GlmData) -> float:
        """Σ_j -2 log ∫ p(y_j | u) φ(u) du by adaptive Gauss-Hermite around each mode."""
        fam = d.family
        lam = float(self.design.lambda_blocks(theta)[0][0, 0])
        codes, nlev, x = self._codes, self._nlev, self._x
        # The Laplace approximation's curvature of each group: L_jj² = 1 + λ² Σ w x².
        curv = 1.0 + lam * lam * np.bincount(codes, weights=r.weights * x * x, minlength=nlev)
        scale = 1.0 / np.sqrt(curv)
        u_hat = r.u
        terms = np.empty((self._nodes.size, nlev))
        for k, z in enumerate(self._nodes):
            shift = scale * z
            eta = r.eta + x * lam * shift[codes]
            mu = fam.link.inverse(eta)
            ll = fam.row_loglik(d.y, mu, d.wt, d.trials)
            assert ll is not None
            uk = u_hat + shift
            terms[k] = (
                np.bincount(codes, weights=ll, minlength=nlev) - 0.5 * uk * uk + 0.5 * z * z
            ) + self._log_w[k]
        top = terms.max(axis=0)
        log_int = np.log(scale) + top + np.log(np.exp(terms - top).sum(axis=0))
        return float(-2.0 * log_int.sum())
