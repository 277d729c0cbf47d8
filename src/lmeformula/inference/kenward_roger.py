"""Kenward and Roger's (1997) small-sample inference, as pbkrtest computes it for lmer fits,
without any n x n matrix.

pbkrtest writes the marginal covariance as V = Σ_r τ_r G_r, linear in the covariance
parameters τ (each variance and covariance of every random term, and σ²), so the second
derivatives of V vanish and the adjusted covariance of β̂ is

    Φ_A = Φ + 2 Φ U Φ,   U = Σ_ij W_ij (Q_ij - P_i Φ P_j),
    P_i = -X'V⁻¹G_iV⁻¹X,   Q_ij = X'V⁻¹G_iV⁻¹G_jV⁻¹X,   W⁻¹_ij = ½ tr(P G_i P G_j),

with P = V⁻¹ - V⁻¹XΦX'V⁻¹ and Φ = (X'V⁻¹X)⁻¹. pbkrtest forms these n x n. Here every
G is written as G = c V₀ + Z F Z', where V₀ = V / σ² = W⁻¹ + Z D Z' (D = ΛΛ'): a random
term's element has c = 0 and F the indicator of that element in every level's block, and
the residual variance has G = W⁻¹ = V₀ - Z D Z' (c = 1, F = -D). Then every product above
reduces to the (q + p)-square S = [Z X]' V₀⁻¹ [Z X] (Woodbury on the PLS system
Λ'Z'WZΛ + I), K = Z'P₀Z and the identities P₀V₀P₀ = P₀, tr(P₀V₀) = n - p. The cost is
that of a few dense q x q products, whatever n is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from lmeformula.errors import NotExpressibleError
from lmeformula.results.memo import once_per_fit

__all__ = ["KenwardRoger", "kenward_roger"]

# Dense q x q work: 8 q² bytes per matrix, a handful of them.
MAX_Q = 10_000


@dataclass
class KenwardRoger:
    """pbkrtest's Kenward-Roger ingredients at the estimates of a REML fit.

    Attributes
    ----------
    vcov_beta
        Φ = (X'V⁻¹X)⁻¹, the unadjusted covariance of β̂.
    vcov_adjusted
        Φ_A, Kenward and Roger's bias-corrected covariance (pbkrtest's ``vcovAdj``).
    P
        The matrices P_i = -X'V⁻¹G_iV⁻¹X, one per covariance parameter.
    W
        The covariance of the covariance parameters (inverse expected information).
    """

    vcov_beta: np.ndarray
    vcov_adjusted: np.ndarray
    P: list[np.ndarray]
    W: np.ndarray

    def df(self, L: np.ndarray) -> tuple[float, float]:
        """Denominator df and F scaling of the joint test of the rows of L (Kenward & Roger
        1997, section 3, as pbkrtest's ``KRmodcomp``).

        Examples
        --------
        >>> import numpy as np, lmeformula as lmf
        >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))
        >>> ddf, scale = kenward_roger(fit).df(np.array([[0.0, 1.0]]))
        >>> round(ddf, 3), round(scale, 3)
        (17.0, 1.0)
        """
        L = np.atleast_2d(L)
        q = L.shape[0]
        Phi = self.vcov_beta
        Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
        M = np.stack([Theta @ Phi @ Pi @ Phi for Pi in self.P])
        tr = np.trace(M, axis1=1, axis2=2)
        A1 = float(tr @ self.W @ tr)
        A2 = float(np.einsum("ij,iab,jba->", self.W, M, M))
        B = (A1 + 6 * A2) / (2 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        d = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / d, (q - g) / d, (q + 2 - g) / d
        E = 1 / (1 - A2 / q)
        V = 2 / q * (1 + c1 * B) / ((1 - c2 * B) ** 2 * (1 - c3 * B))
        rho = V / (2 * E**2)
        ddf = 4 + (q + 2) / (q * rho - 1)
        scale = ddf / (E * (ddf - 2))
        return float(ddf), float(scale)


def _element_indicators(design: Any) -> list[sp.csr_matrix]:
    """F for each random-effects covariance parameter: the symmetric indicator of element
    (a, b) of a term's covariance, repeated in every level's block (pbkrtest's order of
    parameters does not matter: W is their inverse information)."""
    q = design.Z.shape[1]
    out = []
    start = 0
    for term in design.terms:
        free = term.structure.free_elements()
        if free is None:
            raise NotExpressibleError(
                f"Kenward-Roger needs a covariance linear in its parameters; the "
                f"{term.structure.kind} structure of ({' + '.join(term.columns)} | "
                f"{term.name}) is not. Use ddf='satterthwaite'."
            )
        p, levels = term.p, term.factor.nlevels
        base = start + p * np.arange(levels)
        for a, b in zip(*free, strict=True):
            rows, cols = base + a, base + b
            if a != b:
                rows, cols = np.r_[rows, cols], np.r_[cols, rows]
            out.append(sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(q, q)))
        start += term.q
    return out


@once_per_fit
def kenward_roger(result: Any) -> KenwardRoger:
    """Kenward-Roger's adjusted covariance and df ingredients of a REML lmer fit (see the
    module docstring). Structured random effects and residual structures are refused:
    their covariance is not linear in their parameters, which pbkrtest's recipe needs."""
    d = result.state.design
    if result.state.residual is not None:
        raise NotExpressibleError(
            "Kenward-Roger with residual structures or variance functions is not "
            "available; use ddf='satterthwaite'."
        )
    Z, X = d.Z, d.X
    n, q = Z.shape
    p = X.shape[1]
    if q > MAX_Q:
        raise NotExpressibleError(
            f"Kenward-Roger works on dense {q} x {q} matrices here ({8 * q * q / 1e9:.1f} GB "
            f"each); with more than {MAX_Q} random effects use ddf='satterthwaite'."
        )
    w = np.ones(n) if d.weights is None else np.asarray(d.weights, dtype=float)
    F = _element_indicators(d)

    # S = T'V₀⁻¹T, T = [Z X], by Woodbury: V₀⁻¹ = W - WZΛ(Λ'Z'WZΛ + I)⁻¹Λ'Z'W.
    WT = sp.hstack([Z, sp.csc_matrix(X)], format="csc").multiply(w[:, None]).tocsc()
    T = sp.hstack([Z, sp.csc_matrix(X)], format="csc")
    A = (T.T @ WT).toarray()
    Lam = d.lambda_matrix(result.theta)
    ALam = (Lam.T @ A[:q, :]).T  # T'WZΛ, (q + p) x q
    M = Lam.T @ ALam[:q, :] + np.eye(q)
    cM = la.cho_factor(M, lower=True)
    S = A - ALam @ la.cho_solve(cM, ALam.T)
    S_zz, S_zx, S_xx = S[:q, :q], S[:q, q:], S[q:, q:]
    Phi0 = np.linalg.inv(S_xx)
    K = S_zz - S_zx @ Phi0 @ S_zx.T
    D = (Lam @ Lam.T).tocsr()

    s2 = result.sigma**2
    k = len(F) + 1  # the random terms' elements, then σ²
    # X'V₀⁻¹ Z F Z' V₀⁻¹ X for each F (the residual's F is -D).
    FS = [f @ S_zx for f in F] + [-(D @ S_zx)]
    XGX = [S_zx.T @ fs for fs in FS]
    c = np.r_[np.zeros(k - 1), 1.0]
    P = [-(c[i] * S_xx + XGX[i]) / s2**2 for i in range(k)]
    # Q_ij = X'V₀⁻¹G_iV₀⁻¹G_jV₀⁻¹X (σ⁻⁶): c_i c_j S_xx + c_i (j's) + c_j (i's) + i, j through S_zz.
    Q = [
        [
            (c[i] * c[j] * S_xx + c[i] * XGX[j] + c[j] * XGX[i] + FS[i].T @ S_zz @ FS[j]) / s2**3
            for j in range(k)
        ]
        for i in range(k)
    ]
    # tr(P₀G_iP₀G_j) = c_i c_j (n - p) + c_i tr(F_j K) + c_j tr(F_i K) + tr(F_i K F_j K).
    # F_i K is zero outside the rows F_i touches: keep those rows only.
    supp = [np.unique(f.indices) for f in F]
    FK = [f[r] @ K for f, r in zip(F, supp, strict=True)]
    DK = D @ K
    trFK = np.r_[
        [fk[np.arange(r.size), r].sum() for fk, r in zip(FK, supp, strict=True)], -np.trace(DK)
    ]
    tr2 = np.empty((k, k))
    for i in range(k - 1):
        for j in range(i + 1):
            tr2[i, j] = tr2[j, i] = np.sum(FK[i][:, supp[j]] * FK[j][:, supp[i]].T)
        tr2[i, k - 1] = tr2[k - 1, i] = -np.sum(FK[i] * DK[:, supp[i]].T)
    tr2[k - 1, k - 1] = np.sum(DK * DK.T)
    info = 0.5 * (np.outer(c, c) * (n - p) + np.outer(c, trFK) + np.outer(trFK, c) + tr2) / s2**2
    W = np.linalg.inv(info)
    Phi = s2 * Phi0
    U = sum(W[i, j] * (Q[i][j] - P[i] @ Phi @ P[j]) for i in range(k) for j in range(k))
    return KenwardRoger(Phi, Phi + 2 * Phi @ U @ Phi, P, W)
