"""Penalised iteratively reweighted least squares (lme4's ``pwrssUpdate``).

For a generalized model the conditional modes of the spherical random effects u at
(θ, β) minimise the penalised deviance

    pdev(u) = Σ dev_i(y_i, μ_i) + ||u||²,   μ = g⁻¹(offset + Xβ + ZΛu),

and with β free as well (lme4's nAGQ = 0, MixedModels.jl's ``fast``) β and u together.
Each step is a penalised weighted least-squares solve with the working weights
w = wt (dμ/dη)² / V(μ) and the working response z = η - offset + (y - μ)/(dμ/dη): the
weights change at every step, so the factor's values are refreshed
(:meth:`~lmeformula.engines.factor.BlockedFactor.reweight`) and its structure kept. A step
that does not lower pdev is halved, as lme4 halves it.

lme4 stops when pdev changes by less than 1e-7 of itself; here the steps go on until they
no longer move u (1e-10, relative), so that the Laplace deviance is a smooth function of
the parameters to near rounding, which the optimizer's finite differences need. The factor
is then refreshed at the modes' own weights, whose log-determinant the Laplace
approximation takes.

With one of R's families and links the loop runs compiled
(``lmeformula.engines.pirls_kernels``) on one random-effects term (its blocks, O(n (k + p)²)
a step), on a small system of several terms (dense, by LAPACK) and on several terms whose
later ones fit one dense block (``CROSSED_WORK``): there NumPy's per-call
overhead, not arithmetic, was the cost (0.3 ms a step on cbpp's 56 rows, 1.2 ms on
Contraception's 1,934, against 5 and 150 µs compiled). The loop below takes
the rest (later terms with many levels, such as 400 items crossed with 2,000 subjects'
slopes, kept sparse) and families a user writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from lmeformula.engines import pirls_kernels
from lmeformula.engines.factor import BlockedFactor, BlockedFactorization, DenseFactorization
from lmeformula.families import Family
from lmeformula.families.family import (
    Binomial,
    GammaFamily,
    Gaussian,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
)
from lmeformula.families.links import CAUCHIT_EDGE, LINKS, PROBIT_EDGE

__all__ = ["GlmData", "PirlsResult", "pirls"]

#: Steps stop once they move no component of (u, β) by more than this, relative.
STEP_TOL = 1e-10
#: Where rough evaluations stop (see :func:`pirls`).
ROUGH_TOL = 1e-6
#: At most this many steps (Fisher scoring with a non-canonical link converges linearly).
MAX_STEPS = 200
#: Step halvings before a step is given up.
MAX_HALVINGS = 12


@dataclass(frozen=True)
class GlmData:
    """The rows of a generalized model as PIRLS reads them.

    Attributes
    ----------
    family
        The family and link.
    y
        The response (a proportion for the binomial).
    wt
        Prior weights times the number of trials.
    trials
        The number of trials of each row (binomial's likelihood).
    offset
        The offset.
    """

    family: Family
    y: np.ndarray
    wt: np.ndarray
    trials: np.ndarray
    offset: np.ndarray


@dataclass(frozen=True)
class PirlsResult:
    """Where PIRLS ends.

    Attributes
    ----------
    beta, u, b
        Fixed effects (given, or found with nAGQ = 0), spherical random effects and
        b = Λu at the modes.
    eta, mu
        Linear predictor and mean there.
    weights
        The working weights there.
    dev
        Σ dev_i: the deviance of the conditional model at the modes.
    fac
        The factor at those weights (log|L|², R_X, conditional variances).
    steps
        Steps taken.
    converged
        Whether the steps stopped moving (u, β) within ``MAX_STEPS``.
    """

    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    weights: np.ndarray
    dev: float
    fac: DenseFactorization | BlockedFactorization
    steps: int
    converged: bool

    @property
    def pdev(self) -> float:
        """The penalised deviance Σ dev_i + ||u||²."""
        return self.dev + float(self.u @ self.u)


#: The compiled kernel's codes of R's families (exact types: a subclass may rewrite a
#: function) and links (see ``lmeformula.engines.pirls_kernels``).
_FAMILY_CODES: dict[type, int] = {
    Binomial: 0,
    Poisson: 1,
    NegativeBinomial: 2,
    GammaFamily: 3,
    InverseGaussian: 4,
    Gaussian: 5,
}
_LINK_CODES = {
    name: k
    for k, name in enumerate(
        ["logit", "probit", "cauchit", "cloglog", "log", "identity", "sqrt", "inverse", "1/mu^2"]
    )
}


def _kernel_codes(family: Family) -> tuple[int, int, float] | None:
    """(family, link, negative binomial θ) for the compiled kernel, or None where the
    family or link is not one of R's own."""
    code = _FAMILY_CODES.get(type(family))
    link = family.link
    if code is None or LINKS.get(link.name) is not link:
        return None
    theta = float(family.theta) if isinstance(family, NegativeBinomial) else 0.0
    return code, _LINK_CODES[link.name], theta


#: The crossed kernel's bound on a Schur update of the later terms' block, in flops a step
#: (:attr:`~lmeformula.engines.factor.BlockedFactor.coupling_pattern`): beyond it the
#: later terms are too many for one dense block (the loop below keeps them sparse).
CROSSED_WORK = 200_000_000


def _crossed(
    factor: BlockedFactor, theta: np.ndarray, rows: tuple[Any, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, int, bool, BlockedFactorization]:
    """The crossed kernel's run on the rows sorted by level
    (:attr:`~lmeformula.engines.factor.BlockedFactor.crossed_rows`), its pieces cut into a
    BlockedFactorization's per-term blocks (the later terms' block factored whole is the
    same factor) and its row vectors put back in the design's order."""
    design = factor.design
    terms = design.terms
    lams = design.lambda_blocks(theta)
    t0 = terms[0]
    sorted_rows = factor.crossed_rows
    order = sorted_rows.order
    later = [X @ lam for X, lam in zip(sorted_rows.later_X, lams[1:], strict=True)]
    p = design.X.shape[1]
    pos, ptr, pat, _ = factor.coupling_pattern
    y, wt, off = (np.ascontiguousarray(v[order]) for v in rows[:3])
    eta0 = rows[10]
    rows = (y, wt, off, *rows[3:10], None if eta0 is None else eta0[order], *rows[11:])
    out = pirls_kernels.run_crossed(
        sorted_rows.codes,
        t0.factor.nlevels,
        sorted_rows.X0 @ lams[0],
        sorted_rows.later_columns,
        sorted_rows.pos,
        ptr,
        pat,
        later[0] if len(later) == 1 else np.column_stack(later),
        sum(t.q for t in terms[1:]),
        sorted_rows.X,
        *rows,
    )
    coef, eta_s, mu_s, w_s, dev, steps, converged, L0inv, Y1, Bv, L22, Y2, Lyy, logdet = out
    eta, mu, w = np.empty_like(eta_s), np.empty_like(mu_s), np.empty_like(w_s)
    eta[order], mu[order], w[order] = eta_s, mu_s, w_s
    edges = np.cumsum([0] + [t.q for t in terms[1:]])
    K = len(terms)
    # L_21 from its pattern: column j k + b holds Bv[ptr[j]:ptr[j+1], b] at rows pat[...]
    # (ascending), so it is a CSC matrix as it stands, cut into the later terms' rows.
    k0 = Bv.shape[1]
    q1 = t0.q
    if k0 == 1:
        L21 = sp.csc_matrix((Bv[:, 0], pat, ptr), shape=(edges[-1], q1))
    else:
        per_column = np.repeat(np.diff(ptr), k0)
        indptr = np.concatenate([[0], np.cumsum(per_column)])
        column = np.repeat(np.arange(per_column.size), per_column)
        order = ptr[column // k0] + np.arange(indptr[-1]) - indptr[column]
        L21 = sp.csc_matrix((Bv[order, column % k0], pat[order], indptr), shape=(edges[-1], q1))
    L21 = L21.tocsr()
    Lk0: list[Any] = []
    for k in range(1, K):
        m = L21 if K == 2 else L21[edges[k - 1] : edges[k]]
        Lk0.append(m.toarray() if factor.dense_coupling else m)
    Ldense = {
        (i, j): L22[edges[i - 1] : edges[i], edges[j - 1] : edges[j]]
        for i in range(1, K)
        for j in range(1, i + 1)
    }
    fac = BlockedFactorization(
        lams=lams,
        L0inv=L0inv,
        D0=lams[0] @ L0inv.transpose(0, 2, 1),
        Lk0=Lk0,
        Ldense=Ldense,
        Ly=[Y1.T] + [Y2[edges[k - 1] : edges[k]].T for k in range(1, K)],
        Lyy=Lyy,
        logdet_L=float(logdet),
        coupling=None if factor.dense_coupling else (ptr, pat, Bv, pos),
    )
    assert p == Y1.shape[1] - 1
    return coef, eta, mu, w, dev, steps, converged, fac


def _compiled(
    factor: BlockedFactor,
    data: GlmData,
    theta: np.ndarray,
    beta: np.ndarray | None,
    u0: np.ndarray,
    eta0: np.ndarray | None,
    beta0: np.ndarray | None,
    rough: bool,
) -> PirlsResult | None:
    """:func:`pirls` by a compiled kernel, or None where none takes the model: one term
    by its blocks (O(n (k + p)²) a step), else a small system dense."""
    codes = _kernel_codes(data.family)
    if codes is None:
        return None
    design = factor.design
    terms = design.terms
    one = len(terms) == 1
    system = None if one else factor.dense_system(theta)
    if not one and system is None and factor.coupling_pattern[3] > CROSSED_WORK:
        return None
    fixed = beta is not None
    p = design.X.shape[1]
    start = beta if fixed else (np.zeros(p) if beta0 is None else beta0)
    coef0 = np.concatenate([np.asarray(u0, dtype=float), np.asarray(start, dtype=float)])
    fam, link, nb_theta = codes
    rows = (
        np.ascontiguousarray(data.y, dtype=float),
        np.ascontiguousarray(data.wt, dtype=float),
        np.ascontiguousarray(data.offset, dtype=float),
        fam,
        link,
        nb_theta,
        PROBIT_EDGE,
        CAUCHIT_EDGE,
        coef0,
        fixed,
        None if fixed or eta0 is None else eta0,
        ROUGH_TOL if rough else STEP_TOL,
        rough,
        MAX_STEPS,
        MAX_HALVINGS,
    )
    fac: DenseFactorization | BlockedFactorization
    if one:
        term = design.terms[0]
        lam = design.lambda_blocks(theta)[0]
        out = pirls_kernels.run_onefactor(
            factor.level_codes, term.factor.nlevels, term.X @ lam, factor.X_rows, *rows
        )
        coef, eta, mu, w, dev, steps, converged, L0inv, Y, S, logdet = out
        fac = BlockedFactorization(
            lams=[lam],
            L0inv=L0inv,
            D0=None,  # read by the conditional variances alone: made there
            Lk0=[],
            Ldense={},
            Ly=[Y.transpose(2, 0, 1).reshape(p + 1, -1)],
            Lyy=S,
            logdet_L=float(logdet),
        )
        q = coef.size - p
        b = (u := coef[:q]).reshape(-1, lam.shape[0]) @ lam.T
        b = b.ravel()
    elif system is None:
        coef, eta, mu, w, dev, steps, converged, crossed = _crossed(factor, theta, rows)
        fac = crossed
        q = coef.size - p
        u = coef[:q]
        parts = np.split(u, np.cumsum([t.q for t in terms])[:-1])
        b = np.concatenate(
            [
                (part.reshape(-1, m.shape[0]) @ m.T).ravel()
                for part, m in zip(parts, crossed.lams, strict=True)
            ]
        )
    else:
        A, lam = system
        q = lam.shape[0]
        coef, eta, mu, w, dev, steps, converged, L = pirls_kernels.run_dense(A, q, *rows)
        fac = DenseFactorization(L, q, lam)
        u = coef[:q]
        b = lam @ u
    beta_out = np.asarray(beta, dtype=float) if fixed else coef[q:]
    return PirlsResult(beta_out, u, b, eta, mu, w, dev, fac, steps, converged)


def pirls(
    factor: BlockedFactor,
    data: GlmData,
    theta: np.ndarray,
    beta: np.ndarray | None,
    u0: np.ndarray,
    eta0: np.ndarray | None = None,
    beta0: np.ndarray | None = None,
    rough: bool = False,
) -> PirlsResult:
    """The conditional modes at θ (and β, or with β found too when ``beta`` is None).

    Parameters
    ----------
    factor
        The factor of the model's [Z X] system; its values are overwritten.
    data
        The rows (:class:`GlmData`).
    theta
        The random-effects parameters.
    beta
        The fixed effects, or None to find them with u (nAGQ = 0).
    u0
        Where u starts.
    eta0
        Where the linear predictor starts when ``beta`` is None (the family's start,
        ``linkfun(mustart)``, at the first evaluation); by default from u0 and ``beta0``.
    beta0
        Where β starts when ``beta`` is None and ``eta0`` is not given (by default 0).
    rough
        Stop at ``ROUGH_TOL`` and take log|L|² at the last step's weights: an objective
        smooth to about 1e-6, enough to scout a start, for a fifth fewer factorisations.

    Returns
    -------
    PirlsResult

    Raises
    ------
    numpy.linalg.LinAlgError
        Where the system is not positive definite.
    """
    done = _compiled(factor, data, theta, beta, u0, eta0, beta0, rough)
    if done is not None:
        return done
    design = factor.design
    fam, link = data.family, data.family.link
    y, wt, off = data.y, data.wt, data.offset
    X, Z = design.X, design.Z
    terms = design.terms
    lams = design.lambda_blocks(theta)
    sizes = [t.q for t in terms]
    cuts = np.cumsum(sizes)[:-1]

    def lam_u(u: np.ndarray) -> np.ndarray:
        parts = np.split(u, cuts) if len(sizes) > 1 else [u]
        return np.concatenate(
            [
                (part.reshape(-1, lam.shape[0]) @ lam.T).ravel()
                for part, lam in zip(parts, lams, strict=True)
            ]
        )

    fixed = beta is not None
    if fixed:
        beta_cur = np.asarray(beta, dtype=float)
    else:
        beta_cur = np.zeros(X.shape[1]) if beta0 is None else np.asarray(beta0, dtype=float)
    u = np.asarray(u0, dtype=float).copy()
    b = lam_u(u)
    if not fixed and eta0 is not None:
        eta = np.asarray(eta0, dtype=float)
        pdev = np.inf  # the start is no point (β, u): the first step is taken whole
    else:
        eta = off + X @ beta_cur + Z @ b
        mu = link.inverse(eta)
        pdev = float(np.sum(fam.dev_resids(y, mu, wt))) + float(u @ u)
    mu = link.inverse(eta)

    def working(eta: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        me = link.mu_eta(eta)
        w = wt * me * me / fam.variance(mu)
        return w, eta - off + (y - mu) / me

    converged, steps, last, settled = False, 0, np.inf, False
    tol = ROUGH_TOL if rough else STEP_TOL
    while steps < MAX_STEPS:
        steps += 1
        w, z = working(eta, mu)
        factor.reweight(w, z)
        fac = factor.update(theta, keep=True)
        beta_new, u_new, b_new = fac.solve(beta_cur if fixed else None)
        du, db, dbeta = u_new - u, b_new - b, beta_new - beta_cur
        scale = 1.0
        for _ in range(MAX_HALVINGS):
            u_t = u + scale * du
            b_t = b + scale * db
            beta_t = beta_cur + scale * dbeta
            eta_t = off + X @ beta_t + Z @ b_t
            mu_t = link.inverse(eta_t)
            if link.valid_eta(eta_t) and fam.valid_mu(mu_t):
                pdev_t = float(np.sum(fam.dev_resids(y, mu_t, wt))) + float(u_t @ u_t)
                if pdev_t <= pdev + 1e-12 * abs(pdev_t):
                    break
            scale *= 0.5
        else:
            # No step along this direction lowers pdev: the modes within rounding.
            converged = True
            break
        moved = max(
            float(np.max(np.abs(u_t - u) / np.maximum(1.0, np.abs(u_t)), initial=0.0)),
            float(np.max(np.abs(beta_t - beta_cur) / np.maximum(1.0, np.abs(beta_t)), initial=0.0)),
        )
        u, b, beta_cur, eta, mu, pdev = u_t, b_t, beta_t, eta_t, mu_t, pdev_t
        # Where the steps shrink fast (Newton's quadratic convergence with a canonical
        # link) the next would move by about moved x (moved / last): once that is below the
        # tolerance the point is the modes, without taking it.
        ratio = moved / last if scale == 1.0 and np.isfinite(last) else 1.0
        if moved < tol or (ratio < 0.1 and moved * ratio < tol):
            converged = True
            # A step this small leaves the weights the factor was taken at those of the
            # modes (to 1e-10): no need to take it again.
            settled = moved < tol or rough
            break
        last = moved if scale == 1.0 else np.inf
    w, z = working(eta, mu)
    if not settled:
        factor.reweight(w, z)
        fac = factor.update(theta, keep=True)
    dev = float(np.sum(fam.dev_resids(y, mu, wt)))
    return PirlsResult(beta_cur, u, b, eta, mu, w, dev, fac, steps, converged)
