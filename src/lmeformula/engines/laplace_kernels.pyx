# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The Laplace gradient's passes over the rows (:mod:`lmeformula.engines.laplace_gradient`),
compiled. Each row i touches r random effects (``cols[i]``, the values of ZΛ there
``A[i]``); the gradient is sums over rows of products of row vectors with P = (L L')⁻¹ at
those columns. As NumPy expressions (einsum, bincount, one pass per θ entry) they cost the
binary 100k model's gradient about 10 ms of its 30; here each is one loop over the rows.
"""

import numpy as np


def leverages(const double[:, :, ::1] Pi, const double[:, ::1] A):
    """m_i = P_i a_i and the leverages h_i = a_i' P_i a_i, P_i the (r, r) block of P at row
    i's columns (``Pi``, as :meth:`~lmeformula.engines.selinv.PatternInverse.at_rows`)."""
    cdef Py_ssize_t n = A.shape[0], r = A.shape[1], i, a, b
    cdef double s, t
    m = np.empty((n, r))
    h = np.empty(n)
    cdef double[:, ::1] mv = m
    cdef double[::1] hv = h
    with nogil:
        for i in range(n):
            t = 0.0
            for a in range(r):
                s = 0.0
                for b in range(r):
                    s += Pi[i, a, b] * A[i, b]
                mv[i, a] = s
                t += A[i, a] * s
            hv[i] = t
    return m, h


def scatter_rows(
    const long long[:, ::1] cols, const double[:, ::1] A, const double[::1] weight, Py_ssize_t q
):
    """(ZΛ)' weight: Σ_i weight_i a_i placed at row i's columns, a q-vector."""
    cdef Py_ssize_t n = A.shape[0], r = A.shape[1], i, a
    out = np.zeros(q)
    cdef double[::1] o = out
    with nogil:
        for i in range(n):
            for a in range(r):
                o[cols[i, a]] += weight[i] * A[i, a]
    return out


def row_products(const long long[:, ::1] cols, const double[:, ::1] A, const double[::1] g):
    """ZΛ g: a_i' g at row i's columns, for every row."""
    cdef Py_ssize_t n = A.shape[0], r = A.shape[1], i, a
    cdef double s
    out = np.empty(n)
    cdef double[::1] o = out
    with nogil:
        for i in range(n):
            s = 0.0
            for a in range(r):
                s += A[i, a] * g[cols[i, a]]
            o[i] = s
    return out


def theta_gradient(
    const double[:, ::1] x,
    const long long[:, ::1] cols,
    const double[::1] e,
    const double[::1] s,
    const double[::1] w,
    const double[::1] u,
    const double[::1] g,
    const double[:, ::1] m,
    const long long[::1] ca,
    const long long[::1] cb,
    const long long[::1] which,
    Py_ssize_t size,
):
    """∂d/∂θ: for each place l (Λ's entry [a, b] of a term, θ entry ``which[l]``, the row's
    columns ``ca[l]`` and ``cb[l]`` of it), Σ_i x_i,ca (e_i u_cb + s_i g_cb + 2 w_i m_i,cb),
    u and g at row i's column cb."""
    cdef Py_ssize_t n = x.shape[0], places = ca.shape[0], i, l, c
    out = np.zeros(size)
    cdef double[::1] o = out
    with nogil:
        for i in range(n):
            for l in range(places):
                c = cb[l]
                o[which[l]] += x[i, ca[l]] * (
                    e[i] * u[cols[i, c]] + s[i] * g[cols[i, c]] + 2.0 * w[i] * m[i, c]
                )
    return out


def block_leverages(
    const double[:, :, ::1] L0inv, const long long[::1] level, const double[:, ::1] A
):
    """:func:`leverages` for one random-effects term, whose P is block diagonal: P_l =
    L_l⁻ᵀ L_l⁻¹ at row i's level l (``L0inv[l]`` = L_l⁻¹, ``level[i]`` = l), taken as
    y = L_l⁻¹ a_i, m_i = L_l⁻ᵀ y and h_i = y'y, without the rows' blocks of P."""
    cdef Py_ssize_t n = A.shape[0], k = A.shape[1], i, a, b, l
    cdef double s, t
    cdef double y[16]
    if k > 16:
        raise ValueError(f"block_leverages takes at most 16 random effects a level, got {k}")
    m = np.empty((n, k))
    h = np.empty(n)
    cdef double[:, ::1] mv = m
    cdef double[::1] hv = h
    with nogil:
        for i in range(n):
            l = level[i]
            t = 0.0
            for a in range(k):
                s = 0.0
                for b in range(k):
                    s += L0inv[l, a, b] * A[i, b]
                y[a] = s
                t += s * s
            hv[i] = t
            for b in range(k):
                s = 0.0
                for a in range(k):
                    s += L0inv[l, a, b] * y[a]
                mv[i, b] = s
    return m, h


def block_solve_rows(
    const double[:, :, ::1] L0inv,
    const long long[::1] level,
    const double[:, ::1] A,
    const double[::1] weight,
):
    """For one random-effects term (P block diagonal, as :func:`block_leverages`):
    g = P (ZΛ)' weight and ZΛ g, in one pass over the rows each and one over the levels."""
    cdef Py_ssize_t n = A.shape[0], k = A.shape[1], nlev = L0inv.shape[0], i, a, l
    cdef double s
    if k > 16:
        raise ValueError(f"block_solve_rows takes at most 16 random effects a level, got {k}")
    g = np.zeros(nlev * k)
    ag = np.empty(n)
    cdef double[::1] gv = g
    cdef double[::1] agv = ag
    with nogil:
        for i in range(n):
            l = level[i] * k
            for a in range(k):
                gv[l + a] += weight[i] * A[i, a]
        _block_apply(L0inv, gv, nlev, k)
        for i in range(n):
            l = level[i] * k
            s = 0.0
            for a in range(k):
                s += A[i, a] * gv[l + a]
            agv[i] = s
    return g, ag


def block_beta_rows(
    const double[:, :, ::1] L0inv,
    const long long[::1] level,
    const double[:, ::1] A,
    const double[:, ::1] X,
    const double[:, ::1] Y,
    const double[::1] c,
):
    """The Laplace Hessian's β-block terms for one random-effects term (see
    :func:`~lmeformula.engines.laplace_gradient.laplace_beta_hessian`): MX = X - A P A'WX,
    P A'WX per level as L_l⁻ᵀ Y_l (``Y`` = L⁻¹ A'WX, p x q, the factor's row), and
    B[l, a k + b, j] = Σ_i c_i a_ia a_ib (MX)_ij over level l's rows."""
    cdef Py_ssize_t n = A.shape[0], k = A.shape[1], p = X.shape[1], nlev = L0inv.shape[0]
    cdef Py_ssize_t i, a, b, j, l
    cdef double s, t
    D = np.zeros((nlev, k, p))
    MX = np.empty((n, p))
    B = np.zeros((nlev, k * k, p))
    cdef double[:, :, ::1] dv = D
    cdef double[:, ::1] mv = MX
    cdef double[:, :, ::1] bv = B
    with nogil:
        for l in range(nlev):
            for a in range(k):
                for j in range(p):
                    s = 0.0
                    for b in range(k):
                        s += L0inv[l, b, a] * Y[j, l * k + b]
                    dv[l, a, j] = s
        for i in range(n):
            l = level[i]
            for j in range(p):
                s = X[i, j]
                for a in range(k):
                    s -= A[i, a] * dv[l, a, j]
                mv[i, j] = s
            for a in range(k):
                for b in range(k):
                    t = c[i] * A[i, a] * A[i, b]
                    for j in range(p):
                        bv[l, a * k + b, j] += t * mv[i, j]
    return MX, B


def block_gradient(
    const double[:, :, ::1] L0inv,
    const long long[::1] level,
    const double[:, ::1] A,
    const double[:, ::1] x,
    const double[:, ::1] X,
    const double[::1] y,
    const double[::1] mu,
    const double[::1] wt,
    const double[::1] w,
    const double[::1] slope,
    const double[::1] u,
    const double[:, ::1] Lx,
    bint joint,
    const long long[::1] ca,
    const long long[::1] cb,
    const long long[::1] which,
    Py_ssize_t size,
):
    """The Laplace gradient for one random-effects term (see
    :func:`~lmeformula.engines.laplace_gradient.laplace_gradient`), every pass compiled:
    the leverages and solves by P as :func:`block_leverages` and :func:`block_solve_rows`,
    s, v = h w', e, and the θ (and, unless ``joint``, β) components. With ``joint`` the
    modes of β move too: g_β by the Schur complement's factor ``Lx`` (p x p, lower)."""
    cdef Py_ssize_t n = A.shape[0], k = A.shape[1], p = X.shape[1], nlev = L0inv.shape[0]
    cdef Py_ssize_t i, a, b, j, l, c, places = ca.shape[0]
    cdef double t, sm
    cdef double yv[16]
    if k > 16:
        raise ValueError(f"block_gradient takes at most 16 random effects a level, got {k}")
    if joint and (Lx.shape[0] != p or Lx.shape[1] != p):
        raise ValueError("block_gradient with joint needs the p x p factor Lx")
    m_np = np.empty((n, k))
    s_np, v_np, ag_np, e_np, xb_np = (np.empty(n) for _ in range(5))
    g_np = np.zeros(nlev * k)
    g2_np = np.zeros(nlev * k)
    rhs_np = np.zeros(p)
    out = np.zeros(size + (0 if joint else p))
    cdef double[:, ::1] m = m_np
    cdef double[::1] s = s_np, v = v_np, ag = ag_np, e = e_np, xb = xb_np
    cdef double[::1] g = g_np, g2 = g2_np, rhs = rhs_np, o = out
    cdef bint singular = False
    with nogil:
        # Rows: y = L_l⁻¹ a_i, h_i = y'y, m_i = L_l⁻ᵀ y; s, v; (ZΛ)'v by level.
        for i in range(n):
            l = level[i]
            t = 0.0
            for a in range(k):
                sm = 0.0
                for b in range(k):
                    sm += L0inv[l, a, b] * A[i, b]
                yv[a] = sm
                t += sm * sm
            for b in range(k):
                sm = 0.0
                for a in range(k):
                    sm += L0inv[l, a, b] * yv[a]
                m[i, b] = sm
            s[i] = wt[i] * (y[i] - mu[i])
            v[i] = t * w[i] * slope[i]
            for a in range(k):
                g[l * k + a] += v[i] * A[i, a]
        _block_apply(L0inv, g, nlev, k)
        for i in range(n):
            sm = 0.0
            for a in range(k):
                sm += A[i, a] * g[level[i] * k + a]
            ag[i] = sm
        if joint:
            # g_β = (L_x L_x')⁻¹ X'(v - W Ag), then g_u less P A'W X g_β.
            for i in range(n):
                t = v[i] - w[i] * ag[i]
                for j in range(p):
                    rhs[j] += X[i, j] * t
            for j in range(p):
                sm = rhs[j]
                for c in range(j):
                    sm -= Lx[j, c] * rhs[c]
                if Lx[j, j] == 0.0:
                    singular = True
                    break
                rhs[j] = sm / Lx[j, j]
            if not singular:
                for j in range(p - 1, -1, -1):
                    sm = rhs[j]
                    for c in range(j + 1, p):
                        sm -= Lx[c, j] * rhs[c]
                    rhs[j] = sm / Lx[j, j]
                for i in range(n):
                    sm = 0.0
                    for j in range(p):
                        sm += X[i, j] * rhs[j]
                    xb[i] = sm
                    for a in range(k):
                        g2[level[i] * k + a] += w[i] * sm * A[i, a]
                _block_apply(L0inv, g2, nlev, k)
                for l in range(nlev * k):
                    g[l] -= g2[l]
                for i in range(n):
                    sm = 0.0
                    for a in range(k):
                        sm += A[i, a] * g2[level[i] * k + a]
                    ag[i] += xb[i] - sm
        if not singular:
            for i in range(n):
                e[i] = -2.0 * s[i] + v[i] - w[i] * ag[i]
            for i in range(n):
                l = level[i] * k
                for j in range(places):
                    c = cb[j]
                    o[which[j]] += x[i, ca[j]] * (
                        e[i] * u[l + c] + s[i] * g[l + c] + 2.0 * w[i] * m[i, c]
                    )
            if not joint:
                for i in range(n):
                    for j in range(p):
                        o[size + j] += X[i, j] * e[i]
    if singular:
        raise np.linalg.LinAlgError("the factor's fixed-effects block is singular")
    return out


cdef void _block_apply(const double[:, :, ::1] L0inv, double[::1] g, Py_ssize_t nlev,
                       Py_ssize_t k) noexcept nogil:
    """g_l <- L_l⁻ᵀ L_l⁻¹ g_l at every level (P's blocks), in place."""
    cdef Py_ssize_t l, a, b
    cdef double sm
    cdef double yv[16]
    for l in range(nlev):
        for a in range(k):
            sm = 0.0
            for b in range(k):
                sm += L0inv[l, a, b] * g[l * k + b]
            yv[a] = sm
        for b in range(k):
            sm = 0.0
            for a in range(k):
                sm += L0inv[l, a, b] * yv[a]
            g[l * k + b] = sm
