# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""lme4's profiled deviance of a linear mixed model with one random-effects term, and its
gradient, compiled (see :class:`lmeformula.engines.onefactor.OneFactorPLS`).

Per level l of the term, with A_l = Z_l'WZ_l (k x k) and B_l = Z_l'W[X y] (k x r,
r = p + 1), the factor of M_l = Λ'A_lΛ + I is L_l, Y_l = L_l⁻¹Λ'B_l, and

    log|L|² = Σ_l log det M_l,    S = [X y]'W[X y] - Σ_l Y_l'Y_l = L_S L_S'.

The gradient along E = ∂Λ/∂θ_i is 2 Σ_ab E_ab G_ab with K_l = M_l⁻¹Λ', R_l = I - A_lΛK_l,
C_l = B_l Φ B_l' and G = Σ_l (A_l - R_l C_l) K_l', where Φ = m z z' (+ S_XX⁻¹ for REML),
z the last row of L_S⁻¹ and m = n (ML) or n - p (REML). An evaluation costs
O(levels (k³ + k² r + k r²)) and no NumPy call per level: a few microseconds on
sleepstudy's 18 levels, where the array expressions it replaces cost about 30.
"""

import numpy as np

from libc.math cimport INFINITY as INF, NAN, fabs, log, sqrt
from scipy.linalg.cython_blas cimport dgemm, dsyrk, dtrmm
from scipy.linalg.cython_lapack cimport dpotrf, dsyev, dtrtri

from .kernels_common cimport level_cholesky, times_into_log


cdef double LOG_2PI = 1.8378770664093453


cdef double _criterion(double logdet, double logdet_rx, double pwrss, Py_ssize_t n,
                       Py_ssize_t p, bint reml, double log_weights) noexcept nogil:
    """The profiled deviance (REML criterion) from log|L|², log|R_X| and the penalised
    residual sum of squares, as criteria_from_factor sums them."""
    cdef double m
    if not (logdet < INF):
        return INF
    if pwrss < 1e-300:
        pwrss = 1e-300
    if not reml:
        return logdet - log_weights + n * (1.0 + LOG_2PI + log(pwrss / n))
    m = <double>(n - p)
    return logdet - log_weights + 2.0 * logdet_rx + m * (1.0 + LOG_2PI + log(pwrss / m))


cdef double _deviance_of(double[:, ::1] S, double logdet, Py_ssize_t n, bint reml,
                         double log_weights) noexcept nogil:
    """The criterion from log|L|² and the factor of S."""
    cdef Py_ssize_t p = S.shape[0] - 1, b
    cdef double logdet_rx = 0.0
    if reml:
        for b in range(p):
            logdet_rx += log(S[b, b])
    return _criterion(logdet, logdet_rx, S[p, p] * S[p, p], n, p, reml, log_weights)


cdef int _forward(
    const double[:, ::1] lam,
    const double[:, :, ::1] A,
    const double[:, :, ::1] B,
    const double[:, ::1] XyXy,
    double[:, :, ::1] Lw,
    double[:, :, ::1] Yw,
    double[:, ::1] S,
    double* logdet,
) noexcept nogil:
    """Lw[l] = chol(Λ'A_lΛ + I), Yw[l] = Lw[l]⁻¹Λ'B_l, S = chol(XyXy - Σ Y'Y) (lower, in
    place); 1 where some M_l or S is not positive definite."""
    cdef Py_ssize_t nlev = A.shape[0], k = A.shape[1], r = B.shape[2]
    cdef Py_ssize_t l, a, b, c, d
    cdef double s, t
    for a in range(r):
        for b in range(a + 1):
            S[a, b] = XyXy[a, b]
    logdet[0] = 0.0
    if k == 2:
        if _forward2(lam, A, B, Lw, Yw, S, logdet):
            return 1
        return _factor_S(S, r)
    for l in range(nlev):
        # M = Λ'AΛ + I (lower triangle), Λ lower triangular: (Λ'AΛ)_ab = Σ_cd λ_ca A_cd λ_db.
        for a in range(k):
            for b in range(a + 1):
                s = 0.0
                for c in range(a, k):
                    t = 0.0
                    for d in range(b, k):
                        t += A[l, c, d] * lam[d, b]
                    s += lam[c, a] * t
                Lw[l, a, b] = s
        if level_cholesky(Lw, <int>l, <int>k, logdet):
            return 1
        # Y = L⁻¹ Λ' B.
        for c in range(r):
            for a in range(k):
                s = 0.0
                for d in range(a, k):
                    s += lam[d, a] * B[l, d, c]
                for d in range(a):
                    s -= Lw[l, a, d] * Yw[l, d, c]
                Yw[l, a, c] = s / Lw[l, a, a]
        for c in range(r):
            for d in range(c + 1):
                s = 0.0
                for a in range(k):
                    s += Yw[l, a, c] * Yw[l, a, d]
                S[c, d] -= s
    return _factor_S(S, r)


cdef int _factor_S(double[:, ::1] S, Py_ssize_t r) noexcept nogil:
    """S's lower Cholesky factor in place (its upper triangle zeroed); 1 where S is not
    positive definite."""
    cdef Py_ssize_t b, c, d
    cdef double s
    for b in range(r):
        s = S[b, b]
        for c in range(b):
            s -= S[b, c] * S[b, c]
        if not s > 0:
            return 1
        S[b, b] = sqrt(s)
        for d in range(b + 1, r):
            s = S[d, b]
            for c in range(b):
                s -= S[d, c] * S[b, c]
            S[d, b] = s / S[b, b]
    for b in range(r):
        for d in range(b + 1, r):
            S[b, d] = 0.0
    return 0


cdef int _forward2(
    const double[:, ::1] lam,
    const double[:, :, ::1] A,
    const double[:, :, ::1] B,
    double[:, :, ::1] Lw,
    double[:, :, ::1] Yw,
    double[:, ::1] S,
    double* logdet,
) noexcept nogil:
    """:func:`_forward`'s pass over the levels for two-column blocks (intercept and slope),
    written out on raw pointers: through 3-d memoryviews the general loops cost Exam's 65
    levels 4 us an evaluation. S is updated, not factored."""
    cdef Py_ssize_t nlev = A.shape[0], r = B.shape[2], l, c, d
    cdef double l00 = lam[0, 0], l10 = lam[1, 0], l11 = lam[1, 1]
    cdef double a00, a10, a11, t0, t1, m00, m10, m11, L00, L10, L11, det, prod = 1.0
    cdef const double* Ap = &A[0, 0, 0]
    cdef const double* Bp
    cdef double* Lp = &Lw[0, 0, 0]
    cdef double* Yp
    cdef double* Sp = &S[0, 0]
    for l in range(nlev):
        a00, a10, a11 = Ap[4 * l], Ap[4 * l + 2], Ap[4 * l + 3]
        # M = Λ'AΛ + I with Λ = [l00 0; l10 l11].
        t0 = a00 * l00 + a10 * l10
        t1 = a10 * l00 + a11 * l10
        m00 = l00 * t0 + l10 * t1 + 1.0
        m10 = l11 * t1
        m11 = l11 * a11 * l11 + 1.0
        if not m00 > 0:
            return 1
        L00 = sqrt(m00)
        L10 = m10 / L00
        det = m11 - L10 * L10
        if not det > 0:
            return 1
        L11 = sqrt(det)
        Lp[4 * l], Lp[4 * l + 1], Lp[4 * l + 2], Lp[4 * l + 3] = L00, 0.0, L10, L11
        times_into_log(m00 * det, &prod, logdet)
        # Y = L⁻¹ Λ' B (2 x r), S -= Y'Y (lower triangle).
        Bp = &B[l, 0, 0]
        Yp = &Yw[l, 0, 0]
        for c in range(r):
            t0 = (l00 * Bp[c] + l10 * Bp[r + c]) / L00
            Yp[c] = t0
            Yp[r + c] = (l11 * Bp[r + c] - L10 * t0) / L11
        for c in range(r):
            t0, t1 = Yp[c], Yp[r + c]
            for d in range(c + 1):
                Sp[c * r + d] -= t0 * Yp[d] + t1 * Yp[r + d]
    logdet[0] += log(prod)
    return 0


def onefactor_pieces(lam, A, B, XyXy):
    """log|L|², L_S and the levels' factors L_l at Λ (see the module).

    Parameters
    ----------
    lam
        Λ's k x k block, lower triangular.
    A, B
        The levels' Z_l'WZ_l (levels x k x k) and Z_l'W[X y] (levels x k x (p + 1)).
    XyXy
        [X y]'W[X y].

    Returns
    -------
    (float, ndarray, ndarray) or None
        log|L|², L_S (lower) and the levels' lower factors; None where a factor is not
        positive definite.
    """
    cdef const double[:, ::1] lam_v = np.ascontiguousarray(lam, dtype=float)
    cdef const double[:, :, ::1] A_v = A
    cdef const double[:, :, ::1] B_v = B
    cdef Py_ssize_t nlev = A_v.shape[0], k = A_v.shape[1], r = B_v.shape[2]
    Lw = np.empty((nlev, k, k))
    Yw = np.empty((nlev, k, r))
    S = np.empty((r, r))
    cdef double logdet = 0.0
    cdef int status
    cdef double[:, :, ::1] Lw_v = Lw
    cdef double[:, :, ::1] Yw_v = Yw
    cdef double[:, ::1] S_v = S
    cdef const double[:, ::1] XyXy_v = XyXy
    with nogil:
        status = _forward(lam_v, A_v, B_v, XyXy_v, Lw_v, Yw_v, S_v, &logdet)
    if status:
        return None
    return logdet, S, Lw


cdef void _onefactor_G(
    const double[:, ::1] lam_v,
    const double[:, :, ::1] A_v,
    const double[:, :, ::1] B_v,
    const double[:, :, ::1] Lw_v,
    const double[:, ::1] S_v,
    Py_ssize_t n,
    bint reml,
    double[:, :, ::1] W,
    double[:, ::1] Ph,
    double[:, ::1] G_v,
) noexcept nogil:
    """G = Σ_l (A_l - R_l C_l) K_l' (see the module) from a forward pass's factors; W is
    work space (5 x max(k, r) x max(k, r)), Ph r x r."""
    cdef Py_ssize_t nlev = A_v.shape[0], k = A_v.shape[1], r = B_v.shape[2], p = r - 1
    cdef double s, m
    cdef Py_ssize_t l, a, b, c, d
    for a in range(k):
        for b in range(k):
            G_v[a, b] = 0.0
    # W[0] = L_S⁻¹ (lower), row by row of the identity's forward substitution.
    for a in range(r):
        for b in range(r):
            W[0, a, b] = 0.0
    for b in range(r):
        W[0, b, b] = 1.0 / S_v[b, b]
        for a in range(b + 1, r):
            s = 0.0
            for c in range(b, a):
                s += S_v[a, c] * W[0, c, b]
            W[0, a, b] = -s / S_v[a, a]
    m = <double>(n - p) if reml else <double>n
    for a in range(r):
        for b in range(r):
            Ph[a, b] = m * W[0, p, a] * W[0, p, b]
    if reml:
        # S_XX⁻¹ = L_X⁻ᵀ L_X⁻¹, L_X⁻¹ the leading p x p block of L_S⁻¹.
        for a in range(p):
            for b in range(p):
                s = 0.0
                for c in range(max(a, b), p):
                    s += W[0, c, a] * W[0, c, b]
                Ph[a, b] += s
    if k == 2:
        _levels_G2(lam_v, A_v, B_v, Lw_v, Ph, G_v)
        return
    for l in range(nlev):
        # W[1] = L_l⁻¹ (lower).
        for a in range(k):
            for b in range(k):
                W[1, a, b] = 0.0
        for b in range(k):
            W[1, b, b] = 1.0 / Lw_v[l, b, b]
            for a in range(b + 1, k):
                s = 0.0
                for c in range(b, a):
                    s += Lw_v[l, a, c] * W[1, c, b]
                W[1, a, b] = -s / Lw_v[l, a, a]
        # W[2] = K = M⁻¹Λ' = L⁻ᵀ (L⁻¹ Λ'); W[3] = L⁻¹Λ' first.
        for a in range(k):
            for b in range(k):
                s = 0.0
                for c in range(a + 1):
                    if b >= c:
                        s += W[1, a, c] * lam_v[b, c]
                W[3, a, b] = s
        for a in range(k):
            for b in range(k):
                s = 0.0
                for c in range(a, k):
                    s += W[1, c, a] * W[3, c, b]
                W[2, a, b] = s
        # W[3] = R = I - A Λ K.
        for a in range(k):
            for b in range(k):
                s = 0.0
                for c in range(k):
                    for d in range(c + 1):
                        s += A_v[l, a, c] * lam_v[c, d] * W[2, d, b]
                W[3, a, b] = (1.0 if a == b else 0.0) - s
        # W[4] = C = B Φ B' (k x k), then A - R C into W[1].
        for a in range(k):
            for b in range(k):
                s = 0.0
                for c in range(r):
                    for d in range(r):
                        s += B_v[l, a, c] * Ph[c, d] * B_v[l, b, d]
                W[4, a, b] = s
        for a in range(k):
            for b in range(k):
                s = A_v[l, a, b]
                for c in range(k):
                    s -= W[3, a, c] * W[4, c, b]
                W[1, a, b] = s
        # G += (A - R C) K'.
        for a in range(k):
            for b in range(k):
                s = 0.0
                for c in range(k):
                    s += W[1, a, c] * W[2, b, c]
                G_v[a, b] += s


cdef void _levels_G2(
    const double[:, ::1] lam,
    const double[:, :, ::1] A,
    const double[:, :, ::1] B,
    const double[:, :, ::1] Lw,
    const double[:, ::1] Ph,
    double[:, ::1] G,
) noexcept nogil:
    """:func:`_onefactor_G`'s sum over the levels for two-column blocks, written out on
    raw pointers (the general loops through 3-d memoryviews cost Exam 4 us a gradient)."""
    cdef Py_ssize_t nlev = A.shape[0], r = B.shape[2], l, c, d
    cdef double l00 = lam[0, 0], l10 = lam[1, 0], l11 = lam[1, 1]
    cdef double w00, w10, w11, u00, u01, u10, u11, k00, k01, k10, k11
    cdef double p00, p01, p10, p11, a00, a10, a11, r00, r01, r10, r11
    cdef double c00, c01, c10, c11, d00, d01, d10, d11, q0, q1
    cdef double g00 = 0.0, g01 = 0.0, g10 = 0.0, g11 = 0.0
    cdef const double* Ap = &A[0, 0, 0]
    cdef const double* Lp = &Lw[0, 0, 0]
    cdef const double* Bp
    cdef const double* Pp = &Ph[0, 0]
    for l in range(nlev):
        # L⁻¹ (lower), U = L⁻¹Λ', K = M⁻¹Λ' = L⁻ᵀU.
        w00 = 1.0 / Lp[4 * l]
        w11 = 1.0 / Lp[4 * l + 3]
        w10 = -Lp[4 * l + 2] * w00 * w11
        u00, u01 = w00 * l00, w00 * l10
        u10, u11 = w10 * l00, w10 * l10 + w11 * l11
        k00, k01 = w00 * u00 + w10 * u10, w00 * u01 + w10 * u11
        k10, k11 = w11 * u10, w11 * u11
        # R = I - AΛK.
        p00, p01 = l00 * k00, l00 * k01
        p10, p11 = l10 * k00 + l11 * k10, l10 * k01 + l11 * k11
        a00, a10, a11 = Ap[4 * l], Ap[4 * l + 2], Ap[4 * l + 3]
        r00 = 1.0 - (a00 * p00 + a10 * p10)
        r01 = -(a00 * p01 + a10 * p11)
        r10 = -(a10 * p00 + a11 * p10)
        r11 = 1.0 - (a10 * p01 + a11 * p11)
        # C = BΦB'.
        Bp = &B[l, 0, 0]
        c00 = c01 = c10 = c11 = 0.0
        for c in range(r):
            q0 = 0.0
            q1 = 0.0
            for d in range(r):
                q0 += Pp[c * r + d] * Bp[d]
                q1 += Pp[c * r + d] * Bp[r + d]
            c00 += Bp[c] * q0
            c01 += Bp[c] * q1
            c10 += Bp[r + c] * q0
            c11 += Bp[r + c] * q1
        # D = A - RC, G += DK'.
        d00 = a00 - (r00 * c00 + r01 * c10)
        d01 = a10 - (r00 * c01 + r01 * c11)
        d10 = a10 - (r10 * c00 + r11 * c10)
        d11 = a11 - (r10 * c01 + r11 * c11)
        g00 += d00 * k00 + d01 * k01
        g01 += d00 * k10 + d01 * k11
        g10 += d10 * k00 + d11 * k01
        g11 += d10 * k10 + d11 * k11
    G[0, 0] += g00
    G[0, 1] += g01
    G[1, 0] += g10
    G[1, 1] += g11


def onefactor_inverses(Lw):
    """M_l⁻¹ = L_l⁻ᵀ L_l⁻¹ for each level's lower factor (levels x k x k)."""
    cdef const double[:, :, ::1] L = Lw
    cdef Py_ssize_t nlev = L.shape[0], k = L.shape[1], l, a, b, c
    out = np.empty((nlev, k, k))
    inv = np.zeros((k, k))
    cdef double[:, :, ::1] O = out
    cdef double[:, ::1] V = inv
    cdef double s
    with nogil:
        for l in range(nlev):
            for b in range(k):
                V[b, b] = 1.0 / L[l, b, b]
                for a in range(b + 1, k):
                    s = 0.0
                    for c in range(b, a):
                        s += L[l, a, c] * V[c, b]
                    V[a, b] = -s / L[l, a, a]
            for a in range(k):
                for b in range(a + 1):
                    s = 0.0
                    for c in range(a, k):
                        s += V[c, a] * V[c, b]
                    O[l, a, b] = s
                    O[l, b, a] = s
    return out



def onefactor_solution(lam, Lw, B, S):
    """β, u, b = Λu (levels x k) and R_X (upper triangular) off the pieces at Λ
    (:func:`onefactor_pieces`): R_X β = the y row of L_S below R_X' by back substitution,
    then per level u_l = M_l⁻¹Λ'c_l (c_l = B_l [-β; 1]) by two triangular solves with L_l.
    One call where LAPACK's solve, the levels' inverses and NumPy's products cost a small
    fit's results a tenth of its time.
    """
    cdef const double[:, ::1] lam_v = lam
    cdef const double[:, :, ::1] L = Lw
    cdef const double[:, :, ::1] B_v = B
    cdef const double[:, ::1] S_v = S
    cdef Py_ssize_t nlev = L.shape[0], k = L.shape[1], p = S_v.shape[0] - 1, l, a, c
    cdef double acc
    beta_np = np.empty(p)
    u_np = np.empty((nlev, k))
    b_np = np.empty((nlev, k))
    RX_np = np.zeros((p, p))
    w_np = np.empty(2 * k)
    cdef double[::1] beta = beta_np, w = w_np[:k], cl = w_np[k:]
    cdef double[:, ::1] u = u_np, b = b_np, RX = RX_np
    with nogil:
        for a in range(p - 1, -1, -1):
            acc = S_v[p, a]
            for c in range(a + 1, p):
                acc -= S_v[c, a] * beta[c]
            beta[a] = acc / S_v[a, a]
        for a in range(p):
            for c in range(a, p):
                RX[a, c] = S_v[c, a]
        for l in range(nlev):
            # w = Λ'c_l, then L_l⁻¹ w and L_l⁻ᵀ of that.
            for c in range(k):
                acc = B_v[l, c, p]
                for a in range(p):
                    acc -= B_v[l, c, a] * beta[a]
                cl[c] = acc
            for a in range(k):
                acc = 0.0
                for c in range(k):
                    acc += lam_v[c, a] * cl[c]
                w[a] = acc
            for a in range(k):
                acc = w[a]
                for c in range(a):
                    acc -= L[l, a, c] * w[c]
                w[a] = acc / L[l, a, a]
            for a in range(k - 1, -1, -1):
                acc = w[a]
                for c in range(a + 1, k):
                    acc -= L[l, c, a] * u[l, c]
                u[l, a] = acc / L[l, a, a]
            for a in range(k):
                acc = 0.0
                for c in range(k):
                    acc += lam_v[a, c] * u[l, c]
                b[l, a] = acc
    return beta_np, u_np, b_np, RX_np


def onefactor_deviance(lam, A, B, XyXy, Py_ssize_t n, bint reml, double log_weights):
    """The profiled deviance (REML criterion for ``reml``) at Λ, as
    :func:`lmeformula.engines.solution.criteria_from_factor` computes it from the pieces;
    inf where a factor is not positive definite."""
    cdef const double[:, ::1] lam_v = np.ascontiguousarray(lam, dtype=float)
    cdef const double[:, :, ::1] A_v = A
    cdef const double[:, :, ::1] B_v = B
    cdef const double[:, ::1] XyXy_v = XyXy
    cdef Py_ssize_t nlev = A_v.shape[0], k = A_v.shape[1], r = B_v.shape[2]
    Lw = np.empty((nlev, k, k))
    Yw = np.empty((nlev, k, r))
    S = np.empty((r, r))
    cdef double[:, :, ::1] Lw_v = Lw
    cdef double[:, :, ::1] Yw_v = Yw
    cdef double[:, ::1] S_v = S
    cdef double logdet = 0.0
    cdef int status
    with nogil:
        status = _forward(lam_v, A_v, B_v, XyXy_v, Lw_v, Yw_v, S_v, &logdet)
    if status or not (logdet < INF):
        return INF
    return _deviance_of(S_v, logdet, n, reml, log_weights)




# -- a small system, dense ------------------------------------------------------------
#
# The whole system of a small model (q <= SMALL_Q random effects,
# :class:`lmeformula.engines.factor.BlockedFactor`'s dense path) as one (q + r) square
# array, column-major: [Λ'Z'ZΛ + I, .; [X y]'ZΛ, [X y]'[X y]], factored by LAPACK's potrf
# in place. Λ comes as its row-major q x q buffer, which BLAS reads as Λ'; Z'[X y] as its
# row-major q x r buffer, read as [X y]'Z.


cdef int _dense_factor(
    double* lamT, double* ZtZ, double* XyZ, const double[:, ::1] XyXy, double* T,
    double* work, int q, int r, bint diagonal,
) noexcept nogil:
    """The small system at Λ into ``work`` and factored; with ``diagonal`` (every term
    scalar: Λ diagonal) its products by scaling, O(q²) where the products cost O(q³)."""
    cdef int N = q + r, info = 0, i, j
    cdef double one = 1.0, zero = 0.0, lj
    cdef char* nn = b"N"
    cdef char* nt = b"T"
    cdef char* lo = b"L"
    if diagonal:
        for j in range(q):
            lj = lamT[j + j * q]
            for i in range(q):
                T[i + j * q] = ZtZ[i + j * q] * lj
            for i in range(q):
                work[i + j * N] = lamT[i + i * q] * T[i + j * q]
            for i in range(r):
                work[q + i + j * N] = XyZ[i + j * r] * lj
    else:
        # T = Z'Z Λ = Z'Z (Λ')'.
        dgemm(nn, nt, &q, &q, &q, &one, ZtZ, &q, lamT, &q, &zero, T, &q)
        # The leading block Λ'Z'ZΛ = Λ' T.
        dgemm(nn, nn, &q, &q, &q, &one, lamT, &q, T, &q, &zero, work, &N)
        # Below it, [X y]'ZΛ = ([X y]'Z) (Λ')'.
        dgemm(nn, nt, &r, &q, &q, &one, XyZ, &r, lamT, &q, &zero, &work[q], &N)
    for i in range(q):
        work[i + i * N] += 1.0
    for j in range(r):
        for i in range(j, r):
            work[(q + i) + (q + j) * N] = XyXy[i, j]
    dpotrf(lo, &N, work, &N, &info)
    return info


def dense_factor(lam, ZtZ, ZtXy, XyXy, work, bint diagonal=False):
    """Factor the small system at Λ into ``work`` ((q + r) square, Fortran order; its
    lower triangle then holds L). Returns LAPACK's info (0: positive definite)."""
    cdef double[:, ::1] lam_v = lam
    cdef double[:, ::1] ZtZ_v = ZtZ
    cdef double[:, ::1] XyZ_v = ZtXy
    cdef const double[:, ::1] XyXy_v = XyXy
    cdef double[::1, :] W = work
    cdef int q = lam_v.shape[0], r = XyXy_v.shape[0], info
    T = np.empty(q * q)
    cdef double[::1] T_v = T
    with nogil:
        info = _dense_factor(&lam_v[0, 0], &ZtZ_v[0, 0], &XyZ_v[0, 0], XyXy_v, &T_v[0],
                             &W[0, 0], q, r, diagonal)
    return info


cdef double _deviance_from(double* L, int N, int q, int r, Py_ssize_t n, bint reml,
                           double log_weights) noexcept nogil:
    cdef double logdet = 0.0, logdet_rx = 0.0, d
    cdef int i, p = r - 1
    for i in range(q):
        logdet += 2.0 * log(L[i + i * N])
    d = L[(N - 1) + (N - 1) * N]
    if reml:
        for i in range(q, q + p):
            logdet_rx += log(fabs(L[i + i * N]))
    return _criterion(logdet, logdet_rx, d * d, n, p, reml, log_weights)


def dense_deviance(lam, ZtZ, ZtXy, XyXy, Py_ssize_t n, bint reml, double log_weights,
                   bint diagonal=False):
    """The profiled deviance (REML criterion for ``reml``) of the small system at Λ, as
    :func:`lmeformula.engines.solution.criteria_from_factor` reads it off the factor; inf
    where the system is not positive definite."""
    cdef double[:, ::1] lam_v = lam
    cdef double[:, ::1] ZtZ_v = ZtZ
    cdef double[:, ::1] XyZ_v = ZtXy
    cdef const double[:, ::1] XyXy_v = XyXy
    cdef int q = lam_v.shape[0], r = XyXy_v.shape[0], N = q + r, info
    buf = np.empty(N * N + q * q)
    cdef double[::1] B = buf
    cdef double out = INF
    with nogil:
        info = _dense_factor(&lam_v[0, 0], &ZtZ_v[0, 0], &XyZ_v[0, 0], XyXy_v, &B[N * N],
                             &B[0], q, r, diagonal)
        if info == 0:
            out = _deviance_from(&B[0], N, q, r, n, reml, log_weights)
    if not (out < INF):
        return INF
    return out


def hessian_spectrum(H):
    """What lme4's ``checkHess`` reads of a Hessian: the eigenvalues of (H + H')/2,
    ascending (LAPACK's dsyev), and whether H has a Cholesky factor (dpotrf on its lower
    triangle); None where H is not finite. One call where scipy's two wrappers and the
    symmetrisation cost every fit 10 us."""
    cdef const double[:, ::1] Hv = np.ascontiguousarray(H, dtype=float)
    cdef int n = <int>Hv.shape[0], i, j, info = 0, lwork
    if Hv.shape[1] != n:
        raise ValueError(f"the Hessian must be square; got {Hv.shape[0]} x {Hv.shape[1]}")
    for i in range(n):
        for j in range(n):
            if not fabs(Hv[i, j]) < INF:
                return None
    lwork = max(1, 3 * n)
    ev_np = np.empty(n)
    buf_np = np.empty(2 * n * n + lwork + 1)
    cdef double[::1] ev = ev_np, buf = buf_np
    cdef double* S = &buf[0]
    cdef double* C = &buf[n * n]
    cdef double* wk = &buf[2 * n * n]
    cdef char* jobz = b"N"
    cdef char* uplo = b"L"
    cdef int factored_info = 0
    if n == 0:
        return [], True
    with nogil:
        for j in range(n):
            for i in range(n):
                S[i + j * n] = 0.5 * (Hv[i, j] + Hv[j, i])
                C[i + j * n] = Hv[i, j]
        dsyev(jobz, uplo, &n, S, &n, &ev[0], wk, &lwork, &info)
        dpotrf(uplo, &n, C, &n, &factored_info)
    if info != 0:
        raise ValueError(f"dsyev failed (info {info})")
    return ev_np.tolist(), factored_info == 0


def lower_triangle(work):
    """The lower triangle of a factored small system (``work`` as :func:`dense_factor`
    leaves it, Fortran order) row-major with zeros above: numpy's tril builds a mask and
    a product where this copies half the entries."""
    cdef const double[::1, :] W = work
    cdef Py_ssize_t N = W.shape[0], i, j
    out = np.zeros((N, N))
    cdef double[:, ::1] L = out
    for i in range(N):
        for j in range(i + 1):
            L[i, j] = W[i, j]
    return out


def dense_solution(L, Py_ssize_t q, lam):
    """The penalised least-squares solution off the small system's factor L ((q + p + 1)
    square, lower triangular, row-major; Λ q x q): log|L_ZZ|², log|R_X|², r², β, u, b = Λu
    and R_X (upper triangular), summed in order as :func:`dense_deviance` sums them.

    β solves R_X β = the y row of L below R_X' (back substitution), u solves
    L_ZZ' u = L_yZ' - L_XZ' β: what LAPACK's two triangular solves and NumPy's products
    give, in one call where theirs cost a small fit's results a tenth of its time.
    """
    cdef const double[:, ::1] Lv = L
    cdef const double[:, ::1] lv = lam
    cdef Py_ssize_t N = Lv.shape[0], p = N - q - 1, i, j
    cdef double logdet = 0.0, logdet_rx = 0.0, acc, r
    beta_np = np.empty(p)
    u_np = np.empty(q)
    b_np = np.empty(q)
    RX_np = np.zeros((p, p))
    cdef double[::1] beta = beta_np, u = u_np, b = b_np
    cdef double[:, ::1] RX = RX_np
    for i in range(q):
        logdet += 2.0 * log(Lv[i, i])
    for i in range(q, q + p):
        logdet_rx += log(fabs(Lv[i, i]))
    r = Lv[N - 1, N - 1]
    for i in range(p - 1, -1, -1):
        acc = Lv[q + p, q + i]
        for j in range(i + 1, p):
            acc -= Lv[q + j, q + i] * beta[j]
        beta[i] = acc / Lv[q + i, q + i]
    for i in range(p):
        for j in range(i, p):
            RX[i, j] = Lv[q + j, q + i]
    for i in range(q - 1, -1, -1):
        acc = Lv[q + p, i]
        for j in range(p):
            acc -= Lv[q + j, i] * beta[j]
        for j in range(i + 1, q):
            acc -= Lv[j, i] * u[j]
        u[i] = acc / Lv[i, i]
    for i in range(q):
        acc = 0.0
        for j in range(q):
            acc += lv[i, j] * u[j]
        b[i] = acc
    return logdet, 2.0 * logdet_rx, max(r * r, 1e-300), beta_np, u_np, b_np, RX_np


cdef int _dense_gradient_from(
    double* L, double* T, double* M, double* XyZ, int q, int r, Py_ssize_t n, bint reml,
    const long long* rw, const long long* cl, Py_ssize_t nt, double* g,
) noexcept nogil:
    """∂ deviance / ∂Λ_ab at the positions (rw[t], cl[t]) of θ's entries, for the small
    system factored in L by :func:`_dense_factor` (T as it left it; L is overwritten by
    L⁻¹, M is N x q work space); LAPACK's info (0: done).

    With W = L⁻¹, U = W[:, :q], M = U (Z'ZΛ)' plus, below the Z rows, W[q:, q:] ([X y]'Z),
    entry t sums E = M[:, a_t] U[:, b_t] over the Z rows (log|A_q|), the X rows (log|R_X|²)
    and takes the y row (log r²), weighted as the criterion weighs them (see
    :meth:`lmeformula.engines.factor.BlockedFactor.gradient`).
    """
    cdef int N = q + r, p = r - 1, info = 0
    cdef Py_ssize_t t, i
    cdef double one = 1.0, zero = 0.0, zz, xx, yy, wy
    cdef char* nn = b"N"
    cdef char* ntr = b"T"
    cdef char* lo = b"L"
    dtrtri(lo, nn, &N, L, &N, &info)
    if info != 0:
        return info
    for t in range(N):
        for i in range(t):
            L[i + t * N] = 0.0
    # M = U T' (N x q), T = Z'ZΛ as the factor left it.
    dgemm(nn, ntr, &N, &q, &q, &one, L, &N, T, &q, &zero, M, &N)
    # Below the Z rows: + W[q:, q:] ([X y]'Z).
    dgemm(nn, nn, &r, &q, &r, &one, &L[q + q * N], &N, XyZ, &r, &one, &M[q], &N)
    wy = <double>(n - p) if reml else <double>n
    for t in range(nt):
        zz = 0.0
        xx = 0.0
        for i in range(q):
            zz += M[i + rw[t] * N] * L[i + cl[t] * N]
        for i in range(q, q + p):
            xx += M[i + rw[t] * N] * L[i + cl[t] * N]
        yy = M[(N - 1) + rw[t] * N] * L[(N - 1) + cl[t] * N]
        g[t] = zz + wy * yy + (xx if reml else 0.0)
    return 0


#: Bytes of ``out``'s rows one sweep of :func:`schur_products` writes to (a core's L2 cache;
#: on 2 shared cores 512 KB ran a 1,500-square block in 14.4 ms, 256 KB and 1 MB in 16).
cdef Py_ssize_t TILE_BYTES = 512 * 1024


def schur_products(
    const Py_ssize_t[::1] indptr_i,
    const Py_ssize_t[::1] indices_i,
    const double[::1] data_i,
    const Py_ssize_t[::1] indptr_j,
    const Py_ssize_t[::1] indices_j,
    const double[::1] data_j,
    const double[::1] w,
    double[:, ::1] out,
    bint symmetric,
):
    """out += A_i diag(w) A_j' for two couplings of later terms to the first (scalar terms),
    each in CSC form with sorted rows (columns: the first term's levels).

    With ``symmetric`` (i == j; A_j is then A_i) only the entries (a, b) with b >= a are
    summed: ``out``'s upper triangle, the lower triangle of its transpose (a Fortran-ordered
    block, as LAPACK factors it). The crossed factors' Schur complement then needs no map
    of where each product lands (a 300,000-row design's: 100 MB held) and no sparse
    product. The levels are swept once per band of ``out``'s rows that fits in a core's
    cache (:data:`TILE_BYTES`), each level's rows in the band found by a moving pointer:
    scattered writes over all of a 1,500-square block ran three times slower.
    """
    cdef Py_ssize_t nlev = indptr_i.shape[0] - 1, nrow = out.shape[0], l, pa, pb, end
    cdef Py_ssize_t band = max(1, TILE_BYTES // (8 * max(1, out.shape[1]))), lo, hi
    cdef Py_ssize_t[::1] cur = np.array(indptr_i[:nlev], dtype=np.intp)
    cdef double wv
    cdef double* row
    lo = 0
    with nogil:
        while lo < nrow:
            hi = min(nrow, lo + band)
            for l in range(nlev):
                end = indptr_i[l + 1]
                pa = cur[l]
                if w[l] == 0.0:
                    while pa < end and indices_i[pa] < hi:
                        pa += 1
                    cur[l] = pa
                    continue
                while pa < end and indices_i[pa] < hi:
                    row = &out[indices_i[pa], 0]
                    wv = w[l] * data_i[pa]
                    if symmetric:
                        for pb in range(pa, end):
                            row[indices_i[pb]] += wv * data_i[pb]
                    else:
                        for pb in range(indptr_j[l], indptr_j[l + 1]):
                            row[indices_j[pb]] += wv * data_j[pb]
                    pa += 1
                cur[l] = pa
            lo = hi


# -- the whole minimisation compiled ---------------------------------------------------
#
# A small model's evaluation costs a few microseconds here, and each call from an optimizer
# in Python costs as much again (NLopt's wrapper, the closures, the arrays): a sleepstudy
# fit spent 0.9 of its 2.3 ms in BOBYQA's 43 calls and the Newton finish's. An objective
# that is a C function is minimised here instead, by damped Newton steps on its exact
# gradient (the Hessian from forward differences of the gradient, as
# lmeformula.engines.derivatives.gradient_hessian takes it), with no Python call at all.


#: Exit codes of Objective.newton.
cdef int CONVERGED = 0, BOUNDARY = 1, FAILED = 2, STUCK = 3


cdef int _chol_factor(double* M, int n) noexcept nogil:
    """M's lower Cholesky factor in place (n x n, column-major; the lower triangle is
    read and overwritten); 1 where M is not positive definite."""
    cdef int i, j, c
    cdef double s
    for j in range(n):
        s = M[j + j * n]
        for c in range(j):
            s -= M[j + c * n] * M[j + c * n]
        if not s > 0:
            return 1
        M[j + j * n] = sqrt(s)
        for i in range(j + 1, n):
            s = M[i + j * n]
            for c in range(j):
                s -= M[i + c * n] * M[j + c * n]
            M[i + j * n] = s / M[j + j * n]
    return 0


cdef void _chol_apply(const double* L, double* b, int n) noexcept nogil:
    """b := (LL')⁻¹ b for the factor of :func:`_chol_factor`."""
    cdef int i, c
    cdef double s
    for i in range(n):
        s = b[i]
        for c in range(i):
            s -= L[i + c * n] * b[c]
        b[i] = s / L[i + i * n]
    for i in range(n - 1, -1, -1):
        s = b[i]
        for c in range(i + 1, n):
            s -= L[c + i * n] * b[c]
        b[i] = s / L[i + i * n]


cdef int _cholesky_solve(double* M, double* b, int n) noexcept nogil:
    """b := M⁻¹ b for symmetric positive definite M (n x n, column-major; its lower
    triangle overwritten by the factor); 1 where M is not positive definite."""
    if _chol_factor(M, n):
        return 1
    _chol_apply(M, b, n)
    return 0


def scaled_gradient(H, g):
    """lme4's ``checkConv`` statistic: the largest min(|solve(chol(H), g)|, |g|) (R's
    solve(chol(H), g): R x = g with R'R = H upper triangular), |g| alone where H is not
    finite or not positive definite; NaN where g is not finite. One call where scipy's two
    LAPACK wrappers and NumPy's reductions cost a small fit 15 us."""
    cdef const double[:, ::1] Hv = np.ascontiguousarray(H, dtype=float)
    cdef const double[::1] gv = np.ascontiguousarray(g, dtype=float)
    cdef int n = <int>gv.shape[0], i, j, ok = 1
    if Hv.shape[0] != n or Hv.shape[1] != n:
        raise ValueError(f"the Hessian must be {n} x {n}; got {Hv.shape[0]} x {Hv.shape[1]}")
    if n == 0:
        return 0.0
    for i in range(n):
        if not fabs(gv[i]) < INF:
            return NAN
    work_np = np.empty(n * n + n)
    cdef double[::1] wk = work_np
    cdef double* M = &wk[0]
    cdef double* x = &wk[n * n]
    cdef double s, top = 0.0
    with nogil:
        for i in range(n):
            x[i] = gv[i]
            for j in range(n):
                if not fabs(Hv[i, j]) < INF:
                    ok = 0
                M[i + j * n] = Hv[i, j]
        if ok and _chol_factor(M, n) == 0:
            # R = L': R x = g by back substitution on L's columns.
            for i in range(n - 1, -1, -1):
                s = x[i]
                for j in range(i + 1, n):
                    s -= M[j + i * n] * x[j]
                x[i] = s / M[i + i * n]
        else:
            for i in range(n):
                x[i] = gv[i]
        for i in range(n):
            top = max(top, min(fabs(x[i]), fabs(gv[i])))
    return top


cdef double _direction(const double* H, const double* g, double mu, const double* x,
                       double* M, double* d, int n) noexcept nogil:
    """d = -(H + μI)⁻¹ g (H row-major, M work space) and the step's size relative to
    max(1, |x_i|); -1 where H + μI is not positive definite."""
    cdef int i, j
    cdef double size = 0.0
    for i in range(n):
        for j in range(n):
            M[i + j * n] = H[i * n + j]
        M[i + i * n] += mu
        d[i] = -g[i]
    if _cholesky_solve(M, d, n):
        return -1.0
    for i in range(n):
        size = max(size, fabs(d[i]) / (fabs(x[i]) if fabs(x[i]) > 1.0 else 1.0))
    return size


cdef double _least_squares(const double[:, ::1] XyXy, double* XX, double* beta) noexcept nogil:
    """β̂ of y on X by least squares into ``beta`` (p), from [X y]'W[X y] ((p + 1) square;
    ``XX`` p x p work), and the residual sum of squares; NaN where X'WX is not positive
    definite."""
    cdef Py_ssize_t p = XyXy.shape[0] - 1, a, b
    cdef double rss = XyXy[p, p]
    for a in range(p):
        beta[a] = XyXy[a, p]
        for b in range(p):
            XX[a + b * p] = XyXy[a, b]
    if p and _cholesky_solve(XX, beta, <int>p):
        return NAN
    for a in range(p):
        rss -= beta[a] * XyXy[a, p]
    return rss


cdef class Objective:
    """A deviance with its exact gradient as a C function of θ, and its compiled Newton
    minimiser (:meth:`newton`). Subclasses define ``_eval``; the criterion (n, REML or
    ML, Σ log w) is every subclass's."""

    cdef public Py_ssize_t size
    cdef public Py_ssize_t evaluations
    cdef Py_ssize_t n
    cdef bint reml
    cdef double log_weights

    cdef double _eval(self, const double* x, double* g) noexcept nogil:
        return INF

    def deviance(self, theta):
        """The deviance at θ (inf where a factor is not positive definite)."""
        cdef const double[::1] x = np.ascontiguousarray(theta, dtype=float)
        cdef double f
        with nogil:
            f = self._eval(&x[0], NULL)
        return f

    def gradient(self, theta):
        """(deviance, gradient) at θ, or None where a factor is not positive definite."""
        cdef const double[::1] x = np.ascontiguousarray(theta, dtype=float)
        out = np.empty(self.size)
        cdef double[::1] g = out
        cdef double f
        with nogil:
            f = self._eval(&x[0], &g[0])
        if not f < INF:
            return None
        return f, out

    def moment_start(self):
        """A start near the optimum estimated from the data's moments, or None where the
        objective has none (see :meth:`OneTermObjective.moment_start`)."""
        return None

    def newton(self, start, lower, upper, double step_tol=1e-9, double gap=1e-3,
               int max_iter=100, int max_evals=1000):
        """Minimise from ``start`` within the bounds by damped Newton steps.

        Each iteration takes the Hessian from forward differences of the exact gradient
        (steps 1e-4 max(1, |θ_i|), backward where an upper bound is that close), solves
        (H + μI) d = -g with μ = 0 unless H is not positive definite or the step fails,
        and backtracks along d (kept inside the bounds) until the deviance falls by
        Armijo's rule, or, within rounding of the deviance (1e-10 relative), the gradient
        does. It stops when the next step would move no component by more than
        ``step_tol`` (relative to max(1, |θ_i|)).

        Returns
        -------
        dict
            ``status`` (0 converged, 1 a component came within ``gap`` of a finite lower
            bound: a singular fit, which BOBYQA should fit; 2 not finite; 3 no progress or
            out of iterations), ``par``, ``deviance``, ``gradient``, ``hessian`` (taken at
            the last point where it was taken), ``iterations`` (steps taken),
            ``evaluations`` and ``history`` (the deviance at every evaluation).
        """
        cdef Py_ssize_t n = self.size
        x_arr = np.array(start, dtype=float)
        lo_arr = np.ascontiguousarray(lower, dtype=float)
        up_arr = np.ascontiguousarray(upper, dtype=float)
        g_arr = np.zeros(n)
        H_arr = np.zeros((n, n))
        work = np.zeros(4 * n + n * n)
        hist = np.empty(max_evals)
        cdef double[::1] x = x_arr
        cdef const double[::1] lo = lo_arr
        cdef const double[::1] up = up_arr
        cdef double[::1] g = g_arr
        cdef double[:, ::1] Hv = H_arr
        cdef double[::1] wk = work
        cdef double[::1] hs = hist
        cdef double f = INF
        cdef int status, evals = 0, steps = 0
        with nogil:
            status = self._newton(<int>n, &x[0], &lo[0], &up[0], &f, &g[0], &Hv[0, 0],
                                  &wk[0], &hs[0], max_evals, step_tol, gap, max_iter, &evals,
                                  &steps)
        return {
            "status": status,
            "iterations": steps,
            "par": x_arr,
            "deviance": f,
            "gradient": g_arr,
            "hessian": H_arr,
            "evaluations": evals,
            "history": hist[:evals].copy(),
        }

    cdef int _newton(self, int n, double* x, const double* lo, const double* up, double* f,
                     double* g, double* H, double* wk, double* hist, int max_evals,
                     double step_tol, double gap, int max_iter, int* evals,
                     int* steps) noexcept nogil:
        cdef double* xn = wk
        cdef double* gn = &wk[n]
        cdef double* gh = &wk[2 * n]
        cdef double* d = &wk[3 * n]
        cdef double* M = &wk[4 * n]
        cdef int it, i, j, attempt, ls, accepted, chord, fresh = 1
        cdef double h, fh, fn = INF, mu, scale, tmax, t, gd, size, gmax, gnmax, last = INF
        for i in range(n):
            if x[i] < lo[i]:
                x[i] = lo[i]
            if x[i] > up[i]:
                x[i] = up[i]
        f[0] = self._eval(x, g)
        hist[0] = f[0]
        evals[0] = 1
        if not f[0] < INF:
            return FAILED
        for it in range(max_iter):
            for i in range(n):
                if lo[i] > -INF and x[i] - lo[i] < gap:
                    return BOUNDARY
            # Near the optimum a chord step (the last Hessian kept) does when it is under a
            # tenth of the last step: the Hessian has hardly moved, and taking it anew
            # would cost n evaluations.
            chord = 0
            if not fresh and last < 1e-2:
                size = _direction(H, g, 0.0, x, M, d, n)
                chord = 0.0 <= size <= 0.1 * last
            fresh = 1
            # The Hessian, column by column from the gradient at x + h e_i.
            for i in range(n if not chord else 0):
                h = 1e-4 * (fabs(x[i]) if fabs(x[i]) > 1.0 else 1.0)
                if x[i] + h > up[i]:
                    h = -h
                for j in range(n):
                    xn[j] = x[j]
                xn[i] += h
                if evals[0] >= max_evals:
                    return STUCK
                fh = self._eval(xn, gh)
                hist[evals[0]] = fh
                evals[0] += 1
                if not fh < INF:
                    return FAILED
                for j in range(n):
                    H[j * n + i] = (gh[j] - g[j]) / h
            for i in range(n):
                for j in range(i):
                    H[i * n + j] = H[j * n + i] = 0.5 * (H[i * n + j] + H[j * n + i])
            scale = 0.0
            gmax = 0.0
            for i in range(n):
                scale = max(scale, fabs(H[i * n + i]))
                gmax = max(gmax, fabs(g[i]))
            mu = 0.0
            accepted = 0
            for attempt in range(30):
                # A chord step's direction is already in d (mu = 0 there).
                if not (chord and attempt == 0):
                    size = _direction(H, g, mu, x, M, d, n)
                    if size < 0:
                        mu = max(4.0 * mu, 1e-8 * (1.0 + scale))
                        continue
                if size < step_tol and mu == 0.0:
                    return CONVERGED
                # Inside the bounds: at most 0.9 of the way to the nearest one.
                tmax = 1.0
                for i in range(n):
                    if d[i] < 0 and lo[i] > -INF:
                        tmax = min(tmax, 0.9 * (x[i] - lo[i]) / -d[i])
                    elif d[i] > 0 and up[i] < INF:
                        tmax = min(tmax, 0.9 * (up[i] - x[i]) / d[i])
                gd = 0.0
                for i in range(n):
                    gd += g[i] * d[i]
                t = tmax
                for ls in range(12):
                    for i in range(n):
                        xn[i] = x[i] + t * d[i]
                    if evals[0] >= max_evals:
                        return STUCK
                    fn = self._eval(xn, gn)
                    hist[evals[0]] = fn
                    evals[0] += 1
                    if fn < INF:
                        if fn <= f[0] + 1e-4 * t * gd:
                            accepted = 1
                        elif fn - f[0] <= 1e-10 * max(1.0, fabs(f[0])):
                            gnmax = 0.0
                            for i in range(n):
                                gnmax = max(gnmax, fabs(gn[i]))
                            accepted = gnmax < gmax
                    if accepted:
                        break
                    t *= 0.5
                if accepted or chord:
                    break
                mu = max(10.0 * mu, 1e-4 * (1.0 + scale))
            if not accepted:
                if chord:
                    # The kept Hessian misled: take it anew from the same point.
                    fresh = 1
                    last = INF
                    continue
                return STUCK
            size = 0.0
            for i in range(n):
                size = max(size, fabs(xn[i] - x[i]) / (fabs(x[i]) if fabs(x[i]) > 1.0 else 1.0))
                x[i] = xn[i]
                g[i] = gn[i]
            f[0] = fn
            steps[0] += 1
            if size < step_tol:
                return CONVERGED
            # A full, undamped step: the Newton region, where the next may be a chord step.
            fresh = not (t == 1.0 and mu == 0.0)
            last = size
        return STUCK


cdef class OneTermObjective(Objective):
    """The one-term profiled deviance (:func:`onefactor_deviance`) and its exact gradient
    as a C function of θ, where θ's entries are Λ's at ``rows``, ``cols`` (``which``:
    the θ entry of each position; unstructured and diagonal blocks)."""

    cdef const double[:, :, ::1] A
    cdef const double[:, :, ::1] B
    cdef const double[:, ::1] XyXy
    cdef const long long[::1] rows
    cdef const long long[::1] cols
    cdef const long long[::1] which
    cdef double[:, ::1] lam
    cdef double[:, :, ::1] Lw
    cdef double[:, :, ::1] Yw
    cdef double[:, ::1] S
    cdef double[:, ::1] G
    cdef double[:, :, ::1] W
    cdef double[:, ::1] Ph

    def __init__(self, A, B, XyXy, Py_ssize_t n, bint reml, double log_weights, rows, cols,
                 which, Py_ssize_t size):
        self.A, self.B, self.XyXy = A, B, XyXy
        self.rows = np.ascontiguousarray(rows, dtype=np.int64)
        self.cols = np.ascontiguousarray(cols, dtype=np.int64)
        self.which = np.ascontiguousarray(which, dtype=np.int64)
        self.n, self.reml, self.log_weights, self.size = n, reml, log_weights, size
        cdef Py_ssize_t nlev = self.A.shape[0], k = self.A.shape[1], r = self.B.shape[2]
        self.lam = np.zeros((k, k))
        self.Lw = np.empty((nlev, k, k))
        self.Yw = np.empty((nlev, k, r))
        self.S = np.empty((r, r))
        self.G = np.zeros((k, k))
        self.W = np.empty((5, max(k, r), max(k, r)))
        self.Ph = np.zeros((r, r))

    def moment_start(self):
        """θ from a moment estimate of the term's covariance, or None where there is none.

        Each level's random coefficients by least squares on the residuals of the fixed
        effects' least-squares fit, b̂_l = A_l⁻¹ c_l (c_l = Z_l'W(y - Xβ̂)), from the levels
        whose A_l is well conditioned (each pivot of its Cholesky factor, squared, at least
        1e-2 of its diagonal entry); σ̂² from what they leave, (r'r - Σ c_l'b̂_l) / (n - k m),
        and the relative covariance (cov(b̂) - σ̂² mean(A_l⁻¹)) / σ̂², its eigenvalues held
        at least 1e-2 of the largest (and 1e-4) and factored as Λ is (unstructured: the
        Cholesky factor; diagonal: the square roots of its diagonal). In a balanced design
        this is the REML estimate itself (sleepstudy, Machines, Pastes: Newton takes 4, 7
        and 2 evaluations to confirm it, against 24, 59 and 10 from lme4's start); where
        it is not, a start near the optimum all the same (Exam's slope model 39 -> 12).
        None for fewer than two such levels, no residual degrees of freedom, or θ that is
        not Λ's entries one for one.
        """
        cdef Py_ssize_t m = self.A.shape[0], k = self.A.shape[1], r = self.B.shape[2]
        cdef Py_ssize_t p = r - 1, npos = self.rows.shape[0], l, a, b, j, ok = 0
        cdef int ki = <int>k, info = 0, lwork = <int>(3 * k + 64), failed = 0
        cdef bint full = npos == k * (k + 1) // 2, diagonal = npos == k
        cdef double rss, expl = 0.0, s2, floor, top, piv
        if npos != self.size or m < 2 or k == 0:
            return None
        # One buffer for every work array (a dozen NumPy allocations and views cost more
        # than the estimate on sleepstudy's 18 levels): θ first, then the rest.
        buf_np = np.zeros(self.size + p * p + p + 5 * k * k + 4 * k + lwork)
        cdef double[::1] buf = buf_np
        cdef double* theta = &buf[0]
        cdef double* XX = theta + self.size
        cdef double* beta = XX + p * p
        cdef double* Al = beta + p
        cdef double* S2 = Al + k * k
        cdef double* Ai = S2 + k * k
        cdef double* c = Ai + k * k
        cdef double* e = c + k
        cdef double* S1 = e + k
        cdef double* w = S1 + k
        cdef double* wk = w + k
        for j in range(npos):
            # θ must be Λ's entries one for one (θ's slots doubling as the marks).
            if self.which[j] < 0 or self.which[j] >= self.size or theta[self.which[j]] != 0:
                return None
            theta[self.which[j]] = 1.0
            full = full and self.rows[j] >= self.cols[j]
            diagonal = diagonal and self.rows[j] == self.cols[j]
        if not (full or diagonal):
            return None
        cdef char* jobz = b"V"
        cdef char* uplo = b"L"
        with nogil:
            rss = _least_squares(self.XyXy, XX, beta)
            failed = not rss >= 0
            for l in range(m if not failed else 0):
                for a in range(k):
                    for b in range(k):
                        Al[a + b * k] = self.A[l, a, b]
                if _chol_factor(Al, ki):
                    continue
                piv = INF
                for a in range(k):
                    piv = min(piv, Al[a + a * k] * Al[a + a * k] / self.A[l, a, a])
                if not piv >= 1e-2:
                    continue
                for a in range(k):
                    c[a] = self.B[l, a, p]
                    for b in range(p):
                        c[a] -= self.B[l, a, b] * beta[b]
                    e[a] = c[a]
                _chol_apply(Al, e, ki)
                for a in range(k):
                    expl += c[a] * e[a]
                    S1[a] += e[a]
                    for b in range(k):
                        S2[a + b * k] += e[a] * e[b]
                # A_l⁻¹, column by column.
                for b in range(k):
                    for a in range(k):
                        c[a] = 1.0 if a == b else 0.0
                    _chol_apply(Al, c, ki)
                    for a in range(k):
                        Ai[a + b * k] += c[a]
                ok += 1
        if failed or ok < 2 or self.n - k * ok <= 0:
            return None
        s2 = (rss - expl) / (self.n - k * ok)
        if not (s2 > 0 and s2 < INF):
            return None
        with nogil:
            # The relative covariance, into Al (column-major, symmetric).
            for a in range(k):
                for b in range(k):
                    Al[a + b * k] = (
                        (S2[a + b * k] - S1[a] * S1[b] / ok) / (ok - 1) - s2 * Ai[a + b * k] / ok
                    ) / s2
            if diagonal:
                top = 0.0
                for a in range(k):
                    top = max(top, Al[a + a * k])
                floor = max(1e-2 * top, 1e-4)
                for j in range(npos):
                    a = self.rows[j]
                    theta[self.which[j]] = sqrt(max(Al[a + a * k], floor))
            else:
                dsyev(jobz, uplo, &ki, Al, &ki, w, wk, &lwork, &info)
                if info == 0:
                    top = w[k - 1]
                    floor = max(1e-2 * top, 1e-4)
                    # V max(w, floor) V' (V's columns in Al), then its Cholesky factor.
                    for a in range(k):
                        for b in range(a + 1):
                            piv = 0.0
                            for j in range(k):
                                piv += Al[a + j * k] * max(w[j], floor) * Al[b + j * k]
                            S2[a + b * k] = piv
                    if _chol_factor(S2, ki):
                        info = 1
                    else:
                        for j in range(npos):
                            theta[self.which[j]] = S2[self.rows[j] + self.cols[j] * k]
        if not diagonal and info != 0:
            return None
        for j in range(self.size):
            if not (fabs(theta[j]) < INF):
                return None
        return buf_np[: self.size].copy()

    cdef double _eval(self, const double* x, double* g) noexcept nogil:
        cdef Py_ssize_t j, a, b, k = self.lam.shape[0]
        cdef double logdet = 0.0, dev
        for a in range(k):
            for b in range(k):
                self.lam[a, b] = 0.0
        for j in range(self.rows.shape[0]):
            self.lam[self.rows[j], self.cols[j]] = x[self.which[j]]
        self.evaluations += 1
        if _forward(self.lam, self.A, self.B, self.XyXy, self.Lw, self.Yw, self.S, &logdet):
            return INF
        if not (logdet < INF):
            return INF
        dev = _deviance_of(self.S, logdet, self.n, self.reml, self.log_weights)
        if g != NULL:
            _onefactor_G(self.lam, self.A, self.B, self.Lw, self.S, self.n, self.reml,
                         self.W, self.Ph, self.G)
            for j in range(self.size):
                g[j] = 0.0
            for j in range(self.rows.shape[0]):
                g[self.which[j]] += 2.0 * self.G[self.rows[j], self.cols[j]]
        return dev


cdef class DenseObjective(Objective):
    """The small system's profiled deviance (:func:`dense_deviance`) and its exact gradient
    as a C function of θ, where θ's entries are Λ's: θ[src[t]] goes to the flat position
    ``flat[t]`` of the q x q Λ (row-major), row ``rows[t]`` and column ``cols[t]``."""

    cdef double[:, ::1] ZtZ
    cdef double[:, ::1] XyZ
    cdef const double[:, ::1] XyXy
    cdef const long long[::1] flat
    cdef const long long[::1] src
    cdef const long long[::1] rows
    cdef const long long[::1] cols
    cdef double[::1] lam
    cdef double[::1] buf
    cdef double[::1] per
    cdef bint diagonal

    def __init__(self, ZtZ, ZtXy, XyXy, Py_ssize_t n, bint reml, double log_weights, flat,
                 src, rows, cols, Py_ssize_t size, bint diagonal=False):
        self.diagonal = diagonal
        self.ZtZ = np.ascontiguousarray(ZtZ, dtype=float)
        self.XyZ = np.ascontiguousarray(ZtXy, dtype=float)
        self.XyXy = np.ascontiguousarray(XyXy, dtype=float)
        self.flat = np.ascontiguousarray(flat, dtype=np.int64)
        self.src = np.ascontiguousarray(src, dtype=np.int64)
        self.rows = np.ascontiguousarray(rows, dtype=np.int64)
        self.cols = np.ascontiguousarray(cols, dtype=np.int64)
        self.n, self.reml, self.log_weights, self.size = n, reml, log_weights, size
        cdef Py_ssize_t q = self.ZtZ.shape[0], N = q + self.XyXy.shape[0]
        self.lam = np.zeros(q * q)
        self.buf = np.empty(N * N + q * q + N * q)
        self.per = np.empty(self.flat.shape[0])

    cdef double _eval(self, const double* x, double* g) noexcept nogil:
        cdef int q = <int>self.ZtZ.shape[0], r = <int>self.XyXy.shape[0], N = q + r
        cdef Py_ssize_t t
        cdef double dev
        cdef double* L = &self.buf[0]
        cdef double* T = &self.buf[N * N]
        for t in range(self.flat.shape[0]):
            self.lam[self.flat[t]] = x[self.src[t]]
        self.evaluations += 1
        if _dense_factor(&self.lam[0], &self.ZtZ[0, 0], &self.XyZ[0, 0], self.XyXy, T, L, q, r,
                         self.diagonal):
            return INF
        dev = _deviance_from(L, N, q, r, self.n, self.reml, self.log_weights)
        if not (dev < INF):
            return INF
        if g != NULL:
            if _dense_gradient_from(L, T, &self.buf[N * N + q * q], &self.XyZ[0, 0], q, r,
                                    self.n, self.reml, &self.rows[0], &self.cols[0],
                                    self.flat.shape[0], &self.per[0]):
                return INF
            for t in range(self.size):
                g[t] = 0.0
            for t in range(self.flat.shape[0]):
                g[self.src[t]] += 2.0 * self.per[t]
        return dev



cdef class ScalarTermsObjective(Objective):
    """The small system's profiled deviance and exact gradient when every term is scalar
    (Λ diagonal: λ_j for Z's column j), with the first term's q_1 levels eliminated first.

    Their block of Z'Z is diagonal (d), so the factor is L = [D 0; B L_S] with
    D = diag(√(λ²d + 1)), B = A_21 D⁻¹ and L_S the factor of the Schur complement
    A_22 - BB' (m = q_2 + p + 1 square, q_2 the later terms' columns), and
    L⁻¹ = [D⁻¹ 0; -L_S⁻¹BD⁻¹ L_S⁻¹]. The gradient is :func:`_dense_gradient_from`'s sums,
    each product formed only where L⁻¹ is not zero: O(m² q_1 + m q q_2) where the dense
    system's evaluation costs O((q + p)³) and a q-square inverse (Penicillin's 24 plates
    onto 6 samples: 3.5 us a deviance and 9.2 a gradient by :class:`DenseObjective`).
    ``col[t]``: Λ's column of θ's entry ``src[t]``."""

    cdef const double[:, ::1] ZtZ
    cdef const double[:, ::1] ZtXy
    cdef const double[:, ::1] XyXy
    cdef const long long[::1] col
    cdef const long long[::1] src
    cdef Py_ssize_t lead
    cdef double[::1] lam
    cdef double[::1] dl
    cdef double[::1, :] Bm
    cdef double[::1, :] Sm
    cdef double[::1, :] Cm
    cdef double[::1, :] Wm
    cdef double[::1, :] Vm
    cdef double[::1, :] Rm
    cdef double[::1] gj

    def __init__(self, ZtZ, ZtXy, XyXy, Py_ssize_t n, bint reml, double log_weights, col,
                 src, Py_ssize_t size, Py_ssize_t lead):
        self.ZtZ = np.ascontiguousarray(ZtZ, dtype=float)
        self.ZtXy = np.ascontiguousarray(ZtXy, dtype=float)
        self.XyXy = np.ascontiguousarray(XyXy, dtype=float)
        self.col = np.ascontiguousarray(col, dtype=np.int64)
        self.src = np.ascontiguousarray(src, dtype=np.int64)
        self.n, self.reml, self.log_weights, self.size = n, reml, log_weights, size
        cdef Py_ssize_t q = self.ZtZ.shape[0], m = q - lead + self.XyXy.shape[0]
        if not 0 < lead < q:
            raise ValueError(f"lead must be between 1 and q - 1 = {q - 1}; got {lead}")
        self.lead = lead
        self.lam = np.zeros(q)
        self.dl = np.empty(lead)
        self.Bm = np.empty((m, lead), order="F")
        self.Sm = np.empty((m, m), order="F")
        self.Cm = np.empty((m, m), order="F")
        self.Wm = np.empty((m, lead), order="F")
        self.Vm = np.empty((m, q), order="F")
        self.Rm = np.empty((m, q), order="F")
        self.gj = np.empty(q)

    def moment_start(self):
        """θ from a moment estimate of each term's variance, or None where there is none.

        The random effects as fixed, by Gauss-Seidel sweeps on Z'W(y - Xβ̂) (β̂ the fixed
        effects' least-squares fit; the terms with the fewest levels first, so that a
        nested term's levels keep what their groups leave), until no effect moves by more
        than 1e-10 of the largest (at most 50 sweeps); σ̂² from what they leave over
        n - p - Σ_k (levels_k - 1) degrees of freedom, and each term's relative variance
        (the variance of its effects less σ̂² times the mean of 1 / (Z'WZ)_jj) / σ̂², held at
        least 1e-2 of the largest and 1e-4. In a balanced crossed design this is the REML
        estimate (Penicillin: Newton confirms it in 3 evaluations, against 25 from lme4's
        start); in a nested one a start near it. None without residual degrees of freedom
        or where a term has fewer than two levels.
        """
        cdef Py_ssize_t q = self.ZtZ.shape[0], p = self.XyXy.shape[0] - 1, K = self.size
        cdef Py_ssize_t i, j, t, k, sweep
        cdef double rss, big, top, new, res, df, s2, floor
        if self.col.shape[0] != q or K == 0:
            return None
        # One buffer for every work array, the relative variances first.
        buf_np = np.zeros(4 * K + p * p + p + 2 * q)
        term_np = np.empty(q, dtype=np.int64)
        cdef double[::1] buf = buf_np
        cdef double* rel = &buf[0]
        cdef double* cnt = rel + K
        cdef double* mean = cnt + K
        cdef double* inv = mean + K
        cdef double* XX = inv + K
        cdef double* beta = XX + p * p
        cdef double* c = beta + p
        cdef double* u = c + q
        cdef long long[::1] term = term_np
        for t in range(q):
            term[self.col[t]] = self.src[t]
        with nogil:
            rss = _least_squares(self.XyXy, XX, beta)
            for j in range(q):
                c[j] = self.ZtXy[j, p]
                for i in range(p):
                    c[j] -= self.ZtXy[j, i] * beta[i]
                if not self.ZtZ[j, j] > 0:
                    rss = NAN
            for sweep in range(50 if rss >= 0 else 0):
                big = 0.0
                top = 0.0
                for j in range(q - 1, -1, -1):
                    new = c[j]
                    for i in range(q):
                        if i != j:
                            new -= self.ZtZ[j, i] * u[i]
                    new /= self.ZtZ[j, j]
                    big = max(big, fabs(new - u[j]))
                    top = max(top, fabs(new))
                    u[j] = new
                if big <= 1e-10 * top:
                    break
            # r'r - 2u'c + u'Z'WZu: what the effects leave.
            res = rss
            for j in range(q):
                new = 0.0
                for i in range(q):
                    new += self.ZtZ[j, i] * u[i]
                res += u[j] * (new - 2.0 * c[j])
            for j in range(q):
                k = term[j]
                cnt[k] += 1.0
                mean[k] += u[j]
                inv[k] += 1.0 / self.ZtZ[j, j]
            df = <double>(self.n - p)
            for k in range(K):
                df -= cnt[k] - 1.0
                mean[k] /= cnt[k] if cnt[k] > 0 else 1.0
            for j in range(q):
                k = term[j]
                rel[k] += (u[j] - mean[k]) * (u[j] - mean[k])
        if not (rss >= 0 and df > 0 and res > 0):
            return None
        s2 = res / df
        top = 0.0
        for k in range(K):
            if cnt[k] < 2:
                return None
            rel[k] = (rel[k] / (cnt[k] - 1.0) - s2 * inv[k] / cnt[k]) / s2
            top = max(top, rel[k])
        floor = max(1e-2 * top, 1e-4)
        for k in range(K):
            rel[k] = sqrt(max(rel[k], floor))
            if not rel[k] < INF:
                return None
        return buf_np[:K].copy()

    cdef double _eval(self, const double* x, double* g) noexcept nogil:
        cdef Py_ssize_t q = self.ZtZ.shape[0], r = self.XyXy.shape[0], q1 = self.lead
        cdef Py_ssize_t q2 = q - q1, m = q2 + r, p = r - 1, t, i, a, b, c
        cdef int mi = <int>m, q1i = <int>q1, info = 0
        cdef double logdet = 0.0, logdet_rx = 0.0, prod = 1.0, pwrss, s, lj, dev
        cdef double one = 1.0, minus = -1.0
        cdef char* lo = b"L"
        cdef char* nn = b"N"
        for t in range(self.col.shape[0]):
            self.lam[self.col[t]] = x[self.src[t]]
        self.evaluations += 1
        for i in range(q1):
            s = self.lam[i] * self.lam[i] * self.ZtZ[i, i] + 1.0
            times_into_log(s, &prod, &logdet)
            self.dl[i] = sqrt(s)
            s = self.lam[i] / self.dl[i]
            for a in range(q2):
                self.Bm[a, i] = self.lam[q1 + a] * self.ZtZ[q1 + a, i] * s
            for c in range(r):
                self.Bm[q2 + c, i] = self.ZtXy[i, c] * s
        # A_22's lower triangle, then less BB'.
        for b in range(q2):
            lj = self.lam[q1 + b]
            for a in range(b, q2):
                self.Sm[a, b] = self.lam[q1 + a] * self.ZtZ[q1 + a, q1 + b] * lj
            self.Sm[b, b] += 1.0
            for c in range(r):
                self.Sm[q2 + c, b] = self.ZtXy[q1 + b, c] * lj
        for b in range(r):
            for c in range(b, r):
                self.Sm[q2 + c, q2 + b] = self.XyXy[c, b]
        dsyrk(lo, nn, &mi, &q1i, &minus, &self.Bm[0, 0], &mi, &one, &self.Sm[0, 0], &mi)
        dpotrf(lo, &mi, &self.Sm[0, 0], &mi, &info)
        if info != 0:
            return INF
        for a in range(q2):
            times_into_log(self.Sm[a, a] * self.Sm[a, a], &prod, &logdet)
        logdet += log(prod)
        for c in range(p):
            logdet_rx += log(fabs(self.Sm[q2 + c, q2 + c]))
        pwrss = self.Sm[m - 1, m - 1] * self.Sm[m - 1, m - 1]
        dev = _criterion(logdet, logdet_rx, pwrss, self.n, p, self.reml, self.log_weights)
        if g == NULL or not (dev < INF):
            return dev
        if self._gradient():
            return INF
        for t in range(self.size):
            g[t] = 0.0
        for t in range(self.col.shape[0]):
            g[self.src[t]] += 2.0 * self.gj[self.col[t]]
        return dev

    cdef int _gradient(self) noexcept nogil:
        """gj[j] = ∂ deviance / ∂λ_j / 2 from the factor _eval left (see the class)."""
        cdef Py_ssize_t q = self.ZtZ.shape[0], r = self.XyXy.shape[0], q1 = self.lead
        cdef Py_ssize_t q2 = q - q1, m = q2 + r, p = r - 1, i, j, a, b, c
        cdef int mi = <int>m, q1i = <int>q1, q2i = <int>q2, qi = <int>q, info = 0
        cdef double one = 1.0, minus = -1.0, zero = 0.0, zz, xx, yy, s
        cdef double wy = <double>(self.n - p) if self.reml else <double>self.n
        cdef const double* w
        cdef char* lo = b"L"
        cdef char* nn = b"N"
        cdef char* left = b"L"
        # C = L_S⁻¹ (lower, zeros above), W_21 = -C B D⁻¹.
        for b in range(m):
            for a in range(m):
                self.Cm[a, b] = self.Sm[a, b] if a >= b else 0.0
        dtrtri(lo, nn, &mi, &self.Cm[0, 0], &mi, &info)
        if info != 0:
            return info
        for i in range(q1):
            for a in range(m):
                self.Wm[a, i] = self.Bm[a, i]
        dtrmm(left, lo, nn, nn, &mi, &q1i, &minus, &self.Cm[0, 0], &mi, &self.Wm[0, 0], &mi)
        for i in range(q1):
            s = 1.0 / self.dl[i]
            for a in range(m):
                self.Wm[a, i] *= s
        # V = [W_21 C[:, :q_2]] Λ; R = V (Z'Z)' below the first term's rows, whose
        # diagonal block needs no product.
        for i in range(q1):
            for a in range(m):
                self.Vm[a, i] = self.Wm[a, i] * self.lam[i]
        for b in range(q2):
            for a in range(m):
                self.Vm[a, q1 + b] = self.Cm[a, b] * self.lam[q1 + b]
        # Z'Z read in Fortran order is itself (symmetric): its [q_1:, :q_1] block starts
        # at the C-ordered [0, q_1], its [:, q_1:] at [q_1, 0].
        dgemm(nn, nn, &mi, &q1i, &q2i, &one, &self.Vm[0, q1], &mi,
              <double*>&self.ZtZ[0, q1], &qi, &zero, &self.Rm[0, 0], &mi)
        for j in range(q1):
            for a in range(m):
                self.Rm[a, j] += self.Vm[a, j] * self.ZtZ[j, j]
        dgemm(nn, nn, &mi, &q2i, &qi, &one, &self.Vm[0, 0], &mi,
              <double*>&self.ZtZ[q1, 0], &qi, &zero, &self.Rm[0, q1], &mi)
        # Below the Z rows: + L⁻¹[q:, q:] ([X y]'Z).
        for j in range(q):
            for a in range(q2, m):
                s = 0.0
                for c in range(a - q2 + 1):
                    s += self.Cm[a, q2 + c] * self.ZtXy[j, c]
                self.Rm[a, j] += s
        # Column j of L⁻¹ below the first term's rows: W_21's (and D⁻¹ on the diagonal,
        # whose product with R's is the first term's own), or C's.
        for j in range(q):
            if j < q1:
                w = &self.Wm[0, j]
                zz = self.ZtZ[j, j] * self.lam[j] / (self.dl[j] * self.dl[j])
            else:
                w = &self.Cm[0, j - q1]
                zz = 0.0
            for a in range(q2):
                zz += self.Rm[a, j] * w[a]
            xx = 0.0
            for a in range(q2, q2 + p):
                xx += self.Rm[a, j] * w[a]
            yy = self.Rm[m - 1, j] * w[m - 1]
            self.gj[j] = zz + wy * yy + (xx if self.reml else 0.0)
        return 0

def level_products(const long long[::1] codes, X0, X, y, Py_ssize_t nlev):
    """The first term's cross-products per level and [X y]'[X y] in one pass over the rows:
    A[l] = Σ x x' (levels x k x k), XyZ0[c, l] = Σ [X y]_c x (r x levels x k) and
    XyXy = Σ [X y]'[X y] (r x r, r = p + 1), x the row's term columns (X0: n x k, X: n x p,
    either order; y: n). Nine bincounts over strided columns cost Exam's 4,059 rows 0.2 ms,
    and [X y] stacked and its product with itself 45 us; this pass 20 us. (Its r² per row
    stays below BLAS's product for the few fixed effects of a mixed model; X'X of a wide
    X is a product of its own elsewhere.)"""
    cdef const double[:, :] x0 = X0
    cdef const double[:, :] xv = X
    cdef const double[:] yv = y
    cdef Py_ssize_t n = codes.shape[0], k = x0.shape[1], p = xv.shape[1], r = p + 1
    cdef Py_ssize_t i, a, b, c, l
    A = np.zeros((nlev, k, k))
    XyZ0 = np.zeros((r, nlev, k))
    XyXy = np.zeros((r, r))
    row_np = np.empty(r)
    cdef double[:, :, ::1] Av = A
    cdef double[:, :, ::1] Bv = XyZ0
    cdef double[:, ::1] Cv = XyXy
    cdef double[::1] row = row_np
    cdef double xa
    with nogil:
        for i in range(n):
            l = codes[i]
            for c in range(p):
                row[c] = xv[i, c]
            row[p] = yv[i]
            _add_cross(&row[0], r, &Cv[0, 0])
            for a in range(k):
                xa = x0[i, a]
                for b in range(a + 1):
                    Av[l, a, b] += xa * x0[i, b]
                for c in range(r):
                    Bv[c, l, a] += row[c] * xa
        for l in range(nlev):
            for a in range(k):
                for b in range(a):
                    Av[l, b, a] = Av[l, a, b]
        _mirror_lower(&Cv[0, 0], r)
    return A, XyZ0, XyXy


cdef inline void _add_cross(const double* row, Py_ssize_t r, double* C) noexcept nogil:
    """C += row row' on and below the diagonal (C r x r, row-major): the one summation
    order of [X y]'[X y], whether built with a factor or refreshed at new weights."""
    cdef Py_ssize_t b, c
    cdef double rc
    for c in range(r):
        rc = row[c]
        for b in range(c + 1):
            C[c * r + b] += rc * row[b]


cdef inline void _mirror_lower(double* C, Py_ssize_t r) noexcept nogil:
    cdef Py_ssize_t b, c
    for c in range(r):
        for b in range(c):
            C[b * r + c] = C[c * r + b]


def xy_cross(const double[:, ::1] Xy):
    """[X y]'[X y] of a row-major n x r [X y], summed as :func:`level_products` sums it
    (row by row, the lower triangle: :func:`_add_cross`), so that a factor reweighted in
    place and one built with those weights hold the same bits."""
    cdef Py_ssize_t n = Xy.shape[0], r = Xy.shape[1], i
    out = np.zeros((r, r))
    cdef double[:, ::1] C = out
    if n == 0 or r == 0:
        return out
    with nogil:
        for i in range(n):
            _add_cross(&Xy[i, 0], r, &C[0, 0])
        _mirror_lower(&C[0, 0], r)
    return out


def xy_rows(X, y):
    """[X y] as one row-major n x (p + 1) array (NumPy's stacking writes strided columns
    and cost Exam's 4,059 rows 20 us; this 4)."""
    cdef const double[:, :] xv = X
    cdef const double[:] yv = y
    cdef Py_ssize_t n = xv.shape[0], p = xv.shape[1], i, c
    out = np.empty((n, p + 1))
    cdef double[:, ::1] o = out
    with nogil:
        for i in range(n):
            for c in range(p):
                o[i, c] = xv[i, c]
            o[i, p] = yv[i]
    return out


def small_products(const long long[:, ::1] cols, const double[:, ::1] vals, Xy, Py_ssize_t q):
    """Z'WZ (q x q) and (W^½ Z)' ``Xy`` (q x r) of a small system in one pass over the rows:
    row i has, for each column kind k (a term's column a), the value vals[i, k] in Z's
    column cols[i, k]; kinds are in Z's column order, so a later kind's column is the
    larger one in any row (the pair lands on or below the diagonal, mirrored at the end).
    The counts per pair of kinds it replaces cost Penicillin's 144 rows 25 us."""
    cdef const double[:, :] xy = Xy
    cdef Py_ssize_t n = cols.shape[0], K = cols.shape[1], r = xy.shape[1], i, a, b, c, j
    ZtZ = np.zeros((q, q))
    ZtXy = np.zeros((q, r))
    cdef double[:, ::1] A = ZtZ
    cdef double[:, ::1] B = ZtXy
    cdef double va
    with nogil:
        for i in range(n):
            for a in range(K):
                c = cols[i, a]
                va = vals[i, a]
                for b in range(a + 1):
                    A[c, cols[i, b]] += va * vals[i, b]
                for j in range(r):
                    B[c, j] += va * xy[i, j]
        for i in range(q):
            for j in range(i):
                A[j, i] = A[i, j]
    return ZtZ, ZtXy


def coupling_inverse_products(
    const long long[::1] ptr, const long long[::1] rows, values, L0inv, P11, P00
):
    """The selected inverse's pieces of a first term coupled to a dense later block
    (:mod:`lmeformula.engines.selinv`), from L_10 at its pattern (level c's entries
    ptr[c]:ptr[c + 1], at later rows ``rows``, each a k-vector of ``values``): M = L_10
    L_00⁻¹ at the pattern (m_e = L_00,c⁻ᵀ applied to the entry's values), T_e = Σ_f
    P_11[r_e, r_f] m_f over the entries f of e's level, so that P_10 at the pattern is -T;
    and P00[c] += Σ_e m_e T_e' (M_c'P_11M_c) in place. Σ_levels (entries)² k / 2 flops
    (each pair's P_11 entry read once, P_11 being symmetric and C-ordered), by raw pointers
    with k = 1 and 2 written out (through memoryviews the indexing cost the binary 100k
    model's gradient twice the products). Returns (T, M at the pattern)."""
    cdef const double[:, ::1] vals = values
    cdef const double[:, :, ::1] Li = L0inv
    cdef const double[:, ::1] P = P11
    cdef double[:, :, ::1] P0 = P00
    cdef Py_ssize_t nlev = ptr.shape[0] - 1, k = vals.shape[1], q1 = P.shape[0]
    cdef Py_ssize_t c, e, f, a, b, lo, hi
    M = np.empty((vals.shape[0], k))
    T = np.zeros((vals.shape[0], k))
    cdef double[:, ::1] mv = M
    cdef double[:, ::1] Tv = T
    cdef double* mp
    cdef double* tp
    cdef const double* prow
    cdef const long long* rp = &rows[0] if rows.shape[0] else NULL
    cdef double s, t0, t1, m0, m1
    if vals.shape[0] == 0:
        return T, M
    mp, tp = &mv[0, 0], &Tv[0, 0]
    with nogil:
        for c in range(nlev):
            lo, hi = ptr[c], ptr[c + 1]
            for e in range(lo, hi):
                for a in range(k):
                    s = 0.0
                    for b in range(k):
                        s += vals[e, b] * Li[c, b, a]
                    mp[e * k + a] = s
            if k == 1:
                for e in range(lo, hi):
                    prow = &P[rp[e], 0]
                    m0 = mp[e]
                    t0 = tp[e] + prow[rp[e]] * m0
                    for f in range(e + 1, hi):
                        s = prow[rp[f]]
                        t0 += s * mp[f]
                        tp[f] += s * m0
                    tp[e] = t0
            elif k == 2:
                for e in range(lo, hi):
                    prow = &P[rp[e], 0]
                    m0, m1 = mp[2 * e], mp[2 * e + 1]
                    s = prow[rp[e]]
                    t0 = tp[2 * e] + s * m0
                    t1 = tp[2 * e + 1] + s * m1
                    for f in range(e + 1, hi):
                        s = prow[rp[f]]
                        t0 += s * mp[2 * f]
                        t1 += s * mp[2 * f + 1]
                        tp[2 * f] += s * m0
                        tp[2 * f + 1] += s * m1
                    tp[2 * e], tp[2 * e + 1] = t0, t1
            else:
                for e in range(lo, hi):
                    prow = &P[rp[e], 0]
                    s = prow[rp[e]]
                    for b in range(k):
                        tp[e * k + b] += s * mp[e * k + b]
                    for f in range(e + 1, hi):
                        s = prow[rp[f]]
                        for b in range(k):
                            tp[e * k + b] += s * mp[f * k + b]
                            tp[f * k + b] += s * mp[e * k + b]
            for e in range(lo, hi):
                for a in range(k):
                    for b in range(k):
                        P0[c, a, b] += mp[e * k + a] * tp[e * k + b]
    return T, M


def pattern_positions(
    const long long[::1] ptr, const long long[::1] rows, const long long[::1] level,
    const long long[::1] row,
):
    """Where each pair (level[i], row[i]) is in a pattern held as each level's rows
    ascending (``rows[ptr[c]:ptr[c + 1]]``), or -1 where it is not: a bisection within the
    level's few entries (a search of the whole pattern cost the binary 100k model's
    gradient 40 ms)."""
    cdef Py_ssize_t n = level.shape[0], i, lo, hi, mid
    cdef long long target
    out = np.empty(n, dtype=np.int64)
    cdef long long[::1] o = out
    with nogil:
        for i in range(n):
            lo, hi = ptr[level[i]], ptr[level[i] + 1]
            target = row[i]
            while lo < hi:
                mid = (lo + hi) // 2
                if rows[mid] < target:
                    lo = mid + 1
                else:
                    hi = mid
            o[i] = lo if lo < ptr[level[i] + 1] and rows[lo] == target else -1
    return out
