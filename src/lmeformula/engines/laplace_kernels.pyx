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
