"""The profiled deviance of a model with one random-effects term, level by level, compiled.

With one term the blocked factorisation of :mod:`lmeformula.engines.factor` has a single
block-diagonal block: one small p₀ x p₀ matrix M_l = Λ'A_lΛ + I per level l, A_l = Z_l'WZ_l.
What the deviance needs from it is

    log|L|² = Σ_l log det M_l,
    S = [X y]'W[X y] - Σ_l B_l' Λ M_l⁻¹ Λ' B_l,   B_l = Z_l'W[X y],

and the Cholesky factor of the (p + 1) x (p + 1) matrix S (R_X and the penalised residual
sum of squares). :mod:`lmeformula.engines.lmm_kernels` computes both, and the exact
gradient, from the per-level A_l and B_l in one compiled pass: an evaluation costs a few
microseconds (sleepstudy: 4, against 30 for the closed-form array expressions it
replaced), which is what small fits and fitting thousands of responses
(:func:`lmeformula.fit_many`) spend their time on. :meth:`~OneFactorPLS.deviance` and
:meth:`~OneFactorPLS.solve` evaluate the same pieces; ``solve`` reads β, the random
effects and their conditional variances from them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lmeformula.engines.factor import BlockedFactor
from lmeformula.engines.layout import layout_of
from lmeformula.engines.lmm_kernels import (
    OneTermObjective,
    onefactor_deviance,
    onefactor_inverses,
    onefactor_pieces,
    onefactor_solution,
)
from lmeformula.engines.solution import Criteria, PLSSolution, criteria_from_factor
from lmeformula.model.design import Design

__all__ = ["OneFactorPLS"]


class OneFactorPLS:
    """lme4's profiled deviance for models with one random-effects term.

    Parameters
    ----------
    design
        A design with exactly one random-effects term.
    reml
        REML (True) or ML (False) criterion.
    factor
        The cross-products of the design's system (built from the design when not given).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
    >>> problem = OneFactorPLS(fit.state.design, reml=True)
    >>> abs(problem.deviance(fit.theta) - fit.reml_criterion) < 1e-8
    True
    """

    largest_dense_block = 0

    def __init__(self, design: Design, reml: bool, factor: BlockedFactor | None = None) -> None:
        if len(design.terms) != 1:
            raise ValueError(f"OneFactorPLS takes one random term, got {len(design.terms)}.")
        self.design = design
        self.reml = reml
        self.factor = BlockedFactor(design) if factor is None else factor
        self.layout = layout_of(design)
        self.n, self.p = design.X.shape
        self._structure = design.terms[0].structure
        # Where θ's entries sit in Λ, when Λ is θ among zeros: then the gradient is exact.
        self._positions = self._structure.theta_positions()
        self._A = np.ascontiguousarray(self.factor.A00)
        self._last: tuple[bytes, float] | None = None
        self._p0 = self._A.shape[1]
        self._set_response_products()

    @property
    def objective(self) -> OneTermObjective | None:
        """The deviance and its exact gradient as one compiled function of θ, which the
        optimizer minimises without calling back into Python
        (:meth:`~lmeformula.engines.lmm_kernels.Objective.newton`); None where θ's entries
        are not Λ's (patterned structures)."""
        return self._objective

    @property
    def has_gradient(self) -> bool:
        """Whether :meth:`gradient` is exact (unstructured and diagonal terms)."""
        return self._positions is not None

    def _set_response_products(self) -> None:
        # B_l = Z_l'W[X y] as (levels, p0, p + 1), and [X y]'W[X y], as the kernels read them.
        self._B = np.ascontiguousarray(self.factor.XyZ0.transpose(1, 2, 0))
        self._XyXy = np.ascontiguousarray(self.factor.XyXy)
        self._objective = (
            None
            if self._positions is None
            else OneTermObjective(
                self._A,
                self._B,
                self._XyXy,
                self.n,
                self.reml,
                self.factor.log_weights,
                *self._positions,
                len(self.design.start),
            )
        )

    def with_response(self, y: np.ndarray) -> OneFactorPLS:
        """The same model for another response (the factor's X and Z products shared)."""
        factor = self.factor.with_response(y)
        new = OneFactorPLS.__new__(OneFactorPLS)
        new.__dict__.update(self.__dict__)
        new.design, new.factor = factor.design, factor
        new._last = None
        new._set_response_products()
        return new

    def gradient(self, par: np.ndarray) -> np.ndarray | None:
        """The exact gradient of the deviance where θ's entries are Λ's (UN, DIAG); None
        for patterned structures (the optimizer then takes finite differences) and where
        a factor is not positive definite.

        With K_l = M_l⁻¹Λ', R_l = I - A_lΛK_l and C_l = B_l Φ B_l' (Φ: S⁻¹ and S_XX⁻¹
        combined as the criterion weighs log|S| and log|R_X|²), the derivative along
        E = ∂Λ/∂θ_i is 2 Σ_ab E_ab G_ab with G = Σ_l (A_l - R_l C_l) K_l'.
        """
        if self._objective is None:
            return None
        par = np.asarray(par, dtype=float)
        out = self._objective.gradient(par)
        if out is None:
            return None
        # The forward pass's deviance, for a deviance asked for at the same point next (a
        # quasi-Newton method asks for both): the same kernel arithmetic, bit for bit.
        self._last = (par.tobytes(), out[0])
        return out[1]

    # -- the pieces at θ (one code path for deviance and solve) --------------------------

    def _products(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool, float]:
        """What the kernels take after Λ: A, B, [X y]'W[X y], n, the criterion, Σ log w."""
        return self._A, self._B, self._XyXy, self.n, self.reml, self.factor.log_weights

    def _lambda(self, theta: np.ndarray) -> np.ndarray:
        """Λ's block at θ: θ written into zeros where its entries are Λ's (UN, DIAG; the
        structure's own map costs more than the whole deviance here), else the map."""
        if self._positions is None:
            return self._structure.lambda_block(theta)
        rows, cols, which = self._positions
        lam = np.zeros((self._p0, self._p0))
        lam[rows, cols] = theta[which]
        return lam

    def _pieces(self, theta: np.ndarray) -> tuple[float, np.ndarray, Any] | None:
        """log|L|², the factor of S and (Λ, the levels' factors of M_l)."""
        lam = self._lambda(theta)
        out = onefactor_pieces(lam, self._A, self._B, self._XyXy)
        # M_l >= I, so log|L|² >= 0 in exact arithmetic; a non-finite one flags overflow.
        if out is None or not math.isfinite(out[0]):
            return None
        return out[0], out[1], (lam, out[2])

    def deviance(self, par: np.ndarray) -> float:
        """The profiled deviance (REML criterion for REML) at θ."""
        theta = par if isinstance(par, np.ndarray) else np.asarray(par, dtype=float)
        last = self._last
        if last is not None and theta.dtype == float and last[0] == theta.tobytes():
            return last[1]
        if self._objective is not None:
            return float(self._objective.deviance(theta))
        return float(onefactor_deviance(self._lambda(theta), *self._products()))

    def criteria(self, par: np.ndarray) -> Criteria:
        """The criteria at θ, without solving for β and u."""
        pieces = self._pieces(np.asarray(par, dtype=float))
        if pieces is None:
            raise np.linalg.LinAlgError(f"the model's factor is not positive definite at {par}")
        return criteria_from_factor(
            pieces[1], pieces[0], self.n, self.reml, self.factor.log_weights
        )

    def solve(self, par: np.ndarray) -> PLSSolution:
        """Solve the penalised least-squares problem at θ (β, u, b, σ and the criteria).

        With one term the random effects come level by level: for c_l = B_l [-β; 1]
        (Z_l'W(y - Xβ)), u_l = M_l⁻¹ Λ' c_l and b_l = Λ u_l, and the conditional
        variances (relative to σ²) are the diagonals of Λ M_l⁻¹ Λ'.
        """
        theta = np.asarray(par, dtype=float)
        pieces = self._pieces(theta)
        if pieces is None:
            raise np.linalg.LinAlgError(f"the model's factor is not positive definite at {theta}")
        logdet, L, (lam, Lw) = pieces
        criteria = criteria_from_factor(L, logdet, self.n, self.reml, self.factor.log_weights)
        beta, u, b, RX = onefactor_solution(lam, Lw, self._B, L)

        def cond() -> np.ndarray:
            # On demand: a refit seldom reads the conditional variances.
            N = lam @ onefactor_inverses(Lw) @ lam.T
            return np.ascontiguousarray(N.diagonal(axis1=1, axis2=2)).ravel()

        return PLSSolution(
            theta=theta,
            beta=beta,
            u=u.ravel(),
            b=b.ravel(),
            criteria=criteria,
            RX=RX,
            cond_var=cond,
        )
