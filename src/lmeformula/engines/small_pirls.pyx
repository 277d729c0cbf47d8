# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""PIRLS on a small dense system, compiled (see :mod:`lmeformula.engines.small_pirls`).

The loop of :func:`lmeformula.engines.pirls.pirls` step for step (the same working
weights, step halving, stopping rule and final refresh), on the whole system
W^½ [ZΛ X z] as one dense n x (q + p + 1) array factored by BLAS/LAPACK (SciPy's), with
the family and link written out below. A Python loop over a 56-row model pays about 0.3 ms
of NumPy call overhead per step; here a step costs a few microseconds.

Family codes: 0 binomial, 1 Poisson, 2 negative binomial, 3 Gamma, 4 inverse Gaussian,
5 gaussian. Link codes: 0 logit, 1 probit, 2 cauchit, 3 cloglog, 4 log, 5 identity,
6 sqrt, 7 inverse, 8 1/mu^2. The clamps are R's ``make.link``'s, as in
:mod:`lmeformula.families.links` (the edges come from there as arguments).
"""

import numpy as np

from libc.math cimport atan, erfc, exp, expm1, fabs, isfinite, log, sqrt, pow, INFINITY
from scipy.linalg.cython_blas cimport dgemv, dsyrk, dtrsv
from scipy.linalg.cython_lapack cimport dpotrf

cdef double EPS = 2.220446049250313e-16
cdef double THRESH = 30.0
cdef double PI = 3.141592653589793
cdef double SQRT2 = 1.4142135623730951
cdef double SQRT2PI = 2.5066282746310002


def _aligned(shape, order="C"):
    """An empty float array whose data starts on a 64-byte boundary. OpenBLAS's kernels
    split a vector by its alignment, so the last bits of a product depend on where the
    arrays lie: a model unpickled in a worker would get other bits than the caller's."""
    size = int(np.prod(shape))
    buf = np.empty(size + 8)
    start = (-buf.ctypes.data % 64) // 8
    return buf[start : start + size].reshape(shape, order=order)


def _aligned_copy(a, order="C"):
    out = _aligned(a.shape, order)
    out[...] = a
    return out


cdef inline double clip(double x, double edge) noexcept nogil:
    if x < -edge:
        return -edge
    if x > edge:
        return edge
    return x


cdef inline double linkinv(int link, double eta, double pe, double ce) noexcept nogil:
    cdef double e
    if link == 0:
        if eta < -THRESH:
            return EPS
        if eta > THRESH:
            return 1.0 - EPS
        if eta >= 0:
            return 1.0 / (1.0 + exp(-eta))
        e = exp(eta)
        return e / (1.0 + e)
    if link == 1:
        return 0.5 * erfc(-clip(eta, pe) / SQRT2)
    if link == 2:
        return 0.5 + atan(clip(eta, ce)) / PI
    if link == 3:
        e = -expm1(-exp(eta))
        if e < EPS:
            return EPS
        if e > 1.0 - EPS:
            return 1.0 - EPS
        return e
    if link == 4:
        e = exp(eta)
        return e if e > EPS else EPS
    if link == 5:
        return eta
    if link == 6:
        return eta * eta
    if link == 7:
        return 1.0 / eta
    return 1.0 / sqrt(eta)


cdef inline double mu_eta(int link, double eta) noexcept nogil:
    cdef double e
    if link == 0:
        if fabs(eta) > THRESH:
            return EPS
        e = exp(-fabs(eta))
        return e / ((1.0 + e) * (1.0 + e))
    if link == 1:
        e = exp(-0.5 * eta * eta) / SQRT2PI
        return e if e > EPS else EPS
    if link == 2:
        e = 1.0 / (PI * (1.0 + eta * eta))
        return e if e > EPS else EPS
    if link == 3:
        e = eta if eta < 700.0 else 700.0
        e = exp(e) * exp(-exp(e))
        return e if e > EPS else EPS
    if link == 4:
        e = exp(eta)
        return e if e > EPS else EPS
    if link == 5:
        return 1.0
    if link == 6:
        return 2.0 * eta
    if link == 7:
        return -1.0 / (eta * eta)
    return -1.0 / (2.0 * pow(eta, 1.5))


cdef inline bint valid_eta(int link, double eta) noexcept nogil:
    if not isfinite(eta):
        return False
    if link == 6 or link == 8:
        return eta > 0
    if link == 7:
        return eta != 0
    return True


cdef inline bint valid_mu(int family, double mu) noexcept nogil:
    if not isfinite(mu):
        return False
    if family == 0:
        return 0 < mu < 1
    if family == 5:
        return True
    return mu > 0


cdef inline double variance(int family, double mu, double th) noexcept nogil:
    if family == 0:
        return mu * (1.0 - mu)
    if family == 1:
        return mu
    if family == 2:
        return mu + mu * mu / th
    if family == 3:
        return mu * mu
    if family == 4:
        return mu * mu * mu
    return 1.0


cdef inline double ylogy(double y, double mu) noexcept nogil:
    if y > 0:
        return y * log(y / mu)
    return 0.0 * log(1.0 / mu)


cdef inline double dev_resid(int family, double y, double mu, double wt, double th) noexcept nogil:
    if family == 0:
        return 2.0 * wt * (ylogy(y, mu) + ylogy(1.0 - y, 1.0 - mu))
    if family == 1:
        return 2.0 * wt * (ylogy(y, mu) - (y - mu))
    if family == 2:
        return 2.0 * wt * (ylogy(y, mu) - (y + th) * log((y + th) / (mu + th)))
    if family == 3:
        return -2.0 * wt * (log(y / mu if y != 0 else 1.0) - (y - mu) / mu)
    if family == 4:
        return wt * (y - mu) * (y - mu) / (y * mu * mu)
    return wt * (y - mu) * (y - mu)


cdef class _Rows:
    """The model's rows and the family, shared by the loop's helpers."""

    cdef int n, q, p, m, family, link
    cdef double th, pe, ce
    cdef double[::1, :] A  # [ZΛ X], n x (q + p)
    cdef const double[::1] y, wt, off

    cdef double predict(self, double[::1] coef, double[::1] eta, double[::1] mu) noexcept nogil:
        """η = offset + [ZΛ X] [u; β] and μ; the penalised deviance Σ dev_i + ||u||², or
        inf where η or μ leaves the family's domain."""
        cdef int i, one = 1, n = self.n, k = self.q + self.p
        cdef double a = 1.0, b = 1.0, dev = 0.0
        cdef char trans = b"N"
        for i in range(n):
            eta[i] = self.off[i]
        dgemv(&trans, &n, &k, &a, &self.A[0, 0], &n, &coef[0], &one, &b, &eta[0], &one)
        for i in range(n):
            if not valid_eta(self.link, eta[i]):
                return INFINITY
            mu[i] = linkinv(self.link, eta[i], self.pe, self.ce)
            if not valid_mu(self.family, mu[i]):
                return INFINITY
            dev += dev_resid(self.family, self.y[i], mu[i], self.wt[i], self.th)
        for i in range(self.q):
            dev += coef[i] * coef[i]
        return dev

    cdef int factor(
        self, double[::1] eta, double[::1] mu, double[::1] w, double[::1, :] R, double[::1, :] L
    ) noexcept nogil:
        """The working weights at (η, μ) into w, and the lower Cholesky factor of
        [ZΛ X z]'W[ZΛ X z] + diag(I_q, 0) into L. 1 where a weight is not positive and
        finite, 2 where the system is not positive definite."""
        cdef int i, j, n = self.n, q = self.q, m = self.m, info = 0
        cdef double me, sw, a = 1.0, b = 0.0
        cdef char lo = b"L", tr = b"T"
        for i in range(n):
            me = mu_eta(self.link, eta[i])
            w[i] = self.wt[i] * me * me / variance(self.family, mu[i], self.th)
            if not (w[i] > 0 and isfinite(w[i])):
                return 1
            sw = sqrt(w[i])
            for j in range(m - 1):
                R[i, j] = sw * self.A[i, j]
            R[i, m - 1] = sw * (eta[i] - self.off[i] + (self.y[i] - mu[i]) / me)
        dsyrk(&lo, &tr, &m, &n, &a, &R[0, 0], &n, &b, &L[0, 0], &m)
        for j in range(q):
            L[j, j] += 1.0
        dpotrf(&lo, &m, &L[0, 0], &m, &info)
        return 2 if info != 0 else 0

    cdef void solve(self, double[::1, :] L, bint fixed, double[::1] coef) noexcept nogil:
        """[u; β] from the factor (β kept where fixed): L_X' β = l_y, then
        L_Z' u = l_yZ - L_XZ' β, as DenseFactorization.solve."""
        cdef int i, j, q = self.q, p = self.p, m = self.m, one = 1
        cdef char lo = b"L", tr = b"T", nd = b"N"
        if not fixed:
            for j in range(p):
                coef[q + j] = L[q + p, q + j]
            if p:
                dtrsv(&lo, &tr, &nd, &p, &L[q, q], &m, &coef[q], &one)
        for i in range(q):
            coef[i] = L[q + p, i]
            for j in range(p):
                coef[i] -= L[q + j, i] * coef[q + j]
        dtrsv(&lo, &tr, &nd, &q, &L[0, 0], &m, &coef[0], &one)


def run(
    double[::1, :] A,
    int q,
    const double[::1] y,
    const double[::1] wt,
    const double[::1] off,
    int family,
    int link,
    double nb_theta,
    double probit_edge,
    double cauchit_edge,
    double[::1] coef0,
    bint fixed,
    eta0,
    double tol,
    bint rough,
    int max_steps,
    int max_halvings,
):
    """PIRLS from [u; β] = ``coef0`` (β held where ``fixed``), or from η = ``eta0`` where
    that is given and β is free (the first step then taken whole).

    Parameters
    ----------
    A
        [ZΛ X] at θ, n x (q + p), Fortran order.
    q
        The number of random effects (A's first q columns).

    Returns
    -------
    tuple
        (coef, eta, mu, weights, dev, L, steps, converged): [u; β] at the modes, η and μ
        there, the working weights there, Σ dev_i, the factor at those weights (m x m,
        lower, m = q + p + 1), the steps taken and whether they stopped moving.

    Raises
    ------
    numpy.linalg.LinAlgError
        Where the system is not positive definite.
    ValueError
        Where a working weight is not positive and finite.
    """
    cdef _Rows rows = _Rows()
    cdef int n = A.shape[0], k = A.shape[1], m = A.shape[1] + 1
    cdef int i, h, steps = 0
    cdef int status = 0
    cdef double pdev, pdev_t, scale, moved, last, ratio, d, me, dev = 0.0
    cdef bint converged = False, settled = False, found
    if coef0.shape[0] != k or not 0 <= q <= k:
        raise ValueError("coef0 holds [u; β]: one entry per column of A.")
    rows.n, rows.q, rows.p, rows.m = n, q, k - q, m
    rows.family, rows.link = family, link
    rows.th, rows.pe, rows.ce = nb_theta, probit_edge, cauchit_edge
    # Every array BLAS reads or writes starts on a 64-byte boundary (see _aligned).
    rows.A = _aligned_copy(np.asarray(A), "F")
    rows.y, rows.wt, rows.off = y, wt, _aligned_copy(np.asarray(off))

    coef_np = _aligned_copy(np.asarray(coef0))
    new_np = _aligned(k)
    trial_np = _aligned(k)
    eta_np = _aligned(n)
    mu_np = _aligned(n)
    eta_t_np = _aligned(n)
    mu_t_np = _aligned(n)
    w_np = _aligned(n)
    R_np = _aligned((n, m), "F")
    L_np = _aligned((m, m), "F")
    L_np[...] = 0.0
    cdef double[::1] coef = coef_np, new = new_np, trial = trial_np
    cdef double[::1] eta = eta_np, mu = mu_np, eta_t = eta_t_np, mu_t = mu_t_np, w = w_np
    cdef double[::1, :] R = R_np, L = L_np
    cdef double[::1] e0

    if not fixed and eta0 is not None:
        e0 = np.ascontiguousarray(eta0, dtype=float)
        for i in range(n):
            eta[i] = e0[i]
            mu[i] = linkinv(link, eta[i], probit_edge, cauchit_edge)
        pdev = INFINITY
    else:
        pdev = rows.predict(coef, eta, mu)
        if pdev == INFINITY:
            # The start itself outside the domain: as the Python loop, every step then
            # compares with inf.
            for i in range(n):
                mu[i] = linkinv(link, eta[i], probit_edge, cauchit_edge)

    last = INFINITY
    with nogil:
        while steps < max_steps:
            steps += 1
            status = rows.factor(eta, mu, w, R, L)
            if status:
                break
            for i in range(k):
                new[i] = coef[i]
            rows.solve(L, fixed, new)
            scale = 1.0
            found = False
            for h in range(max_halvings):
                for i in range(k):
                    trial[i] = coef[i] + scale * (new[i] - coef[i])
                pdev_t = rows.predict(trial, eta_t, mu_t)
                if pdev_t != INFINITY and pdev_t <= pdev + 1e-12 * fabs(pdev_t):
                    found = True
                    break
                scale *= 0.5
            if not found:
                # No step along this direction lowers pdev: the modes within rounding.
                converged = True
                break
            moved = 0.0
            for i in range(k):
                d = fabs(trial[i] - coef[i]) / (fabs(trial[i]) if fabs(trial[i]) > 1.0 else 1.0)
                if d > moved:
                    moved = d
            for i in range(k):
                coef[i] = trial[i]
            for i in range(n):
                eta[i] = eta_t[i]
                mu[i] = mu_t[i]
            pdev = pdev_t
            ratio = moved / last if scale == 1.0 and last != INFINITY else 1.0
            if moved < tol or (ratio < 0.1 and moved * ratio < tol):
                converged = True
                settled = moved < tol or rough
                break
            last = moved if scale == 1.0 else INFINITY
        if status == 0:
            if settled:
                # The factor stays at the last step's weights (within 1e-10 of the modes');
                # the weights reported are the modes' own.
                for i in range(n):
                    me = mu_eta(link, eta[i])
                    w[i] = wt[i] * me * me / variance(family, mu[i], nb_theta)
            else:
                status = rows.factor(eta, mu, w, R, L)
    if status == 1:
        raise ValueError(f"reweight takes {n} positive finite weights.")
    if status == 2:
        raise np.linalg.LinAlgError("the system is not positive definite")
    for i in range(n):
        dev += dev_resid(family, y[i], mu[i], wt[i], nb_theta)
    return coef_np, eta_np, mu_np, w_np, dev, L_np, steps, converged
