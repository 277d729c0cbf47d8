# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""PIRLS compiled (see :func:`lmeformula.engines.pirls.pirls`, whose loop this is, step for
step: the same working weights, step halving, stopping rule and final refresh), on two
kinds of system:

- one random-effects term (``run_onefactor``): per level the k x k block of Λ'Z'WZΛ + I
  and its coupling to [X z], the Schur complement on [X z] by one BLAS syrk: O(n (k + p)²)
  a step and the blocks of a BlockedFactorization;
- several terms (``run_crossed``): the first (most levels) by its blocks, the later ones
  together as one dense block coupled to the first by a dense array (BLAS syrk, potrf,
  gemm and trsm on those), while q2² q1 stays small;
- a small system of several terms (``run_dense``): W^½[ZΛ X z] as one dense array,
  factored by BLAS syrk and LAPACK potrf (SciPy's, through its Cython declarations).

The families and links are R's, written out below with ``make.link``'s clamps (the edges
come from :mod:`lmeformula.families.links` as arguments). Family codes: 0 binomial,
1 Poisson, 2 negative binomial, 3 Gamma, 4 inverse Gaussian, 5 gaussian. Link codes:
0 logit, 1 probit, 2 cauchit, 3 cloglog, 4 log, 5 identity, 6 sqrt, 7 inverse, 8 1/mu^2.
A Python loop over cbpp's 56 rows paid about 0.3 ms of NumPy call overhead per step; here a
step costs a few microseconds.
"""

import numpy as np

from libc.math cimport atan, erfc, exp, expm1, fabs, isfinite, isnan, log, sqrt, pow, INFINITY, NAN
from scipy.linalg.cython_blas cimport dgemm, dgemv, dsyrk, dtrsm, dtrsv
from scipy.linalg.cython_lapack cimport dpotrf

from .kernels_common cimport level_cholesky

cdef double EPS = 2.220446049250313e-16
cdef double THRESH = 30.0
cdef double PI = 3.141592653589793
cdef double SQRT2 = 1.4142135623730951
cdef double SQRT2PI = 2.5066282746310002


def _aligned(shape, order="C"):
    """An empty float array whose data starts on a 64-byte boundary: OpenBLAS's kernels
    split a vector by its alignment, so that the last bits of a product do not depend on
    where an allocation happened to land."""
    cdef Py_ssize_t size = 1, start
    if isinstance(shape, int):
        size = shape
    else:
        for extent in shape:
            size *= extent
    buf = np.empty(size + 8)
    cdef double[::1] view = buf
    start = ((64 - (<size_t>&view[0]) % 64) % 64) // 8
    out = buf[start : start + size]
    return out if isinstance(shape, int) else out.reshape(shape, order=order)


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


cdef inline double mu_eta_at(int link, double eta, double mu) noexcept nogil:
    """dμ/dη where μ = g⁻¹(η) is known: the logit's e/(1 + e)² is μ(1 - μ) and the log's
    max(exp η, ε) is μ itself (one exp a row fewer; the loop is bound by exp and log)."""
    if link == 0:
        return EPS if fabs(eta) > THRESH else mu * (1.0 - mu)
    if link == 4:
        return mu
    return mu_eta(link, eta)


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
    # 0 where y = 0 (μ is checked finite and positive before this is called).
    if y > 0:
        return y * log(y / mu)
    return 0.0


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


cdef class _System:
    """A model's rows, family and work arrays; the loop (:func:`_pirls`) reads them through
    three methods, which each kind of system writes."""

    cdef int n, q, p, family, link
    cdef double th, pe, ce
    cdef const double[::1] y, wt, off
    # The working response of the last factor().
    cdef double[::1] z
    # Σ dev_i of the last deviance() that returned a finite value.
    cdef double devres
    # The last factor() was not whole (see factor).
    cdef bint partial

    cdef double deviance(self, double[::1] coef, double[::1] eta, double[::1] mu) noexcept nogil:
        """μ from η, and Σ dev_i + ||u||², or inf where η or μ leaves the domain."""
        cdef int i
        cdef double dev = 0.0
        for i in range(self.n):
            if not valid_eta(self.link, eta[i]):
                return INFINITY
            mu[i] = linkinv(self.link, eta[i], self.pe, self.ce)
            if not valid_mu(self.family, mu[i]):
                return INFINITY
            dev += dev_resid(self.family, self.y[i], mu[i], self.wt[i], self.th)
        self.devres = dev
        for i in range(self.q):
            dev += coef[i] * coef[i]
        return dev

    cdef int weights(self, double[::1] eta, double[::1] mu, double[::1] w) noexcept nogil:
        """The working weights and response at (η, μ); 1 where a weight is not positive
        and finite."""
        cdef int i
        cdef double me
        for i in range(self.n):
            me = mu_eta_at(self.link, eta[i], mu[i])
            w[i] = self.wt[i] * me * me / variance(self.family, mu[i], self.th)
            if not (w[i] > 0 and isfinite(w[i])):
                return 1
            self.z[i] = eta[i] - self.off[i] + (self.y[i] - mu[i]) / me
        return 0

    cdef double predict(self, double[::1] coef, double[::1] eta, double[::1] mu) noexcept nogil:
        """η = offset + ZΛu + Xβ at [u; β] = coef, then :meth:`deviance`."""
        return INFINITY

    cdef int factor(self, double[::1] w, bint whole) noexcept nogil:
        """The factor of the system at the weights w and the response z; 2 where it is
        not positive definite. Not ``whole``: a system may factor only what the steps of
        :meth:`solve` read (with β held), and says so in ``partial``."""
        return 2

    cdef void hold(self, bint fixed, double[::1] coef) noexcept nogil:
        """Called once before the steps, with β = coef[q:] held where ``fixed``."""
        pass

    cdef void solve(self, bint fixed, double[::1] coef) noexcept nogil:
        """[u; β] from the factor (β kept where fixed)."""
        pass


cdef class _Dense(_System):
    """The whole system W^½[ZΛ X z] dense: one syrk and one potrf a step."""

    cdef int m
    cdef double[::1, :] A  # [ZΛ X], n x (q + p)
    cdef double[::1, :] R  # W^½ [ZΛ X z]
    cdef double[::1, :] L  # its factor, m x m lower

    cdef double predict(self, double[::1] coef, double[::1] eta, double[::1] mu) noexcept nogil:
        cdef int i, one = 1, n = self.n, k = self.q + self.p
        cdef double a = 1.0, b = 1.0
        cdef char trans = b"N"
        for i in range(n):
            eta[i] = self.off[i]
        dgemv(&trans, &n, &k, &a, &self.A[0, 0], &n, &coef[0], &one, &b, &eta[0], &one)
        return self.deviance(coef, eta, mu)

    cdef int factor(self, double[::1] w, bint whole) noexcept nogil:
        cdef int i, j, n = self.n, q = self.q, m = self.m, info = 0
        cdef double sw, a = 1.0, b = 0.0
        cdef char lo = b"L", tr = b"T"
        for i in range(n):
            sw = sqrt(w[i])
            for j in range(m - 1):
                self.R[i, j] = sw * self.A[i, j]
            self.R[i, m - 1] = sw * self.z[i]
        dsyrk(&lo, &tr, &m, &n, &a, &self.R[0, 0], &n, &b, &self.L[0, 0], &m)
        for j in range(q):
            self.L[j, j] += 1.0
        dpotrf(&lo, &m, &self.L[0, 0], &m, &info)
        return 2 if info != 0 else 0

    cdef void solve(self, bint fixed, double[::1] coef) noexcept nogil:
        # L_X' β = l_y, then L_Z' u = l_yZ - L_XZ' β, as DenseFactorization.solve.
        cdef int i, j, q = self.q, p = self.p, m = self.m, one = 1
        cdef char lo = b"L", tr = b"T", nd = b"N"
        if not fixed:
            for j in range(p):
                coef[q + j] = self.L[q + p, q + j]
            if p:
                dtrsv(&lo, &tr, &nd, &p, &self.L[q, q], &m, &coef[q], &one)
        for i in range(q):
            coef[i] = self.L[q + p, i]
            for j in range(p):
                coef[i] -= self.L[q + j, i] * coef[q + j]
        dtrsv(&lo, &tr, &nd, &q, &self.L[0, 0], &m, &coef[0], &one)




cdef class _Rows(_System):
    """A system whose rows hold X apart from ZΛ (one term, several): with β held its steps
    read z - Xβ, Xβ taken once (:meth:`hold`)."""

    cdef double[:, ::1] X  # n x p
    cdef bint held  # β held (see hold)
    cdef double[::1] xb  # Xβ where held

    cdef void hold(self, bint fixed, double[::1] coef) noexcept nogil:
        cdef int i, c, p = self.p, q = self.q
        cdef double e
        self.held = fixed
        if fixed:
            for i in range(self.n):
                e = 0.0
                for c in range(p):
                    e += self.X[i, c] * coef[q + c]
                self.xb[i] = e


cdef class _OneFactor(_Rows):
    """One random-effects term: per level j the k x k block M_j = Σ w a_i a_i' + I (a_i the
    row's ZΛ entries), its coupling C_j = Σ w a_i [x_i z_i]' and the Schur complement
    S = Σ w [x z][x z]' - Σ_j Y_j'Y_j, Y_j = L_j⁻¹C_j: O(n (k + p)²) a step, no q x q
    array (BlockedFactorization's blocks for one term)."""

    cdef int k, nlev, r
    cdef const long long[::1] codes
    cdef double[:, ::1] a  # n x k: the rows of ZΛ at the row's level
    cdef double[:, :, ::1] Lj  # nlev x k x k: the blocks' lower factors
    cdef double[:, :, ::1] Y  # nlev x k x (p + 1)
    cdef double[:, ::1] S  # (p + 1) x (p + 1): the last block's lower factor
    cdef double[::1, :] R  # W^½ [X z], n x (p + 1): S's cross-products by one syrk
    cdef double[::1, :] G  # (p + 1) x (p + 1), syrk's output (lower)
    cdef double logdet

    cdef double predict(self, double[::1] coef, double[::1] eta, double[::1] mu) noexcept nogil:
        cdef int i, c, base, k = self.k, p = self.p, q = self.q
        cdef double e
        for i in range(self.n):
            e = self.off[i]
            if self.held:
                e += self.xb[i]
            else:
                for c in range(p):
                    e += self.X[i, c] * coef[q + c]
            base = <int>self.codes[i] * k
            for c in range(k):
                e += self.a[i, c] * coef[base + c]
            eta[i] = e
        return self.deviance(coef, eta, mu)

    cdef int factor(self, double[::1] w, bint whole) noexcept nogil:
        # With β held and not ``whole`` (see hold), only the blocks and the z - Xβ column of
        # Y (c0 = p): a fifth of the products a row at p = 7 and no syrk, all that solve()
        # then reads.
        cdef int i, j, b, c, d, c0, k = self.k, p = self.p, r = self.r
        cdef double wi, wa, s, zi
        self.partial = self.held and not whole
        c0 = p if self.partial else 0
        for j in range(self.nlev):
            for b in range(k):
                for c in range(k):
                    self.Lj[j, b, c] = 0.0
                for c in range(c0, r):
                    self.Y[j, b, c] = 0.0
        # The rows' sums on raw pointers: through the memoryviews (strides read, the
        # attributes reloaded at every access) the loop cost twice as much.
        cdef Py_ssize_t sa = self.a.strides[0] // sizeof(double)
        cdef Py_ssize_t sx = self.X.strides[0] // sizeof(double)
        cdef Py_ssize_t sl0 = self.Lj.strides[0] // sizeof(double)
        cdef Py_ssize_t sl1 = self.Lj.strides[1] // sizeof(double)
        cdef Py_ssize_t sy0 = self.Y.strides[0] // sizeof(double)
        cdef Py_ssize_t sy1 = self.Y.strides[1] // sizeof(double)
        cdef const double* ap = &self.a[0, 0]
        cdef const double* xp = &self.X[0, 0]
        cdef double* lp = &self.Lj[0, 0, 0]
        cdef double* yp = &self.Y[0, 0, 0]
        cdef const double* ai
        cdef const double* xi
        cdef double* lj
        cdef double* yj
        cdef bint part = self.partial
        for i in range(self.n):
            wi = w[i]
            j = <int>self.codes[i]
            zi = self.z[i] - self.xb[i] if part else self.z[i]
            ai = ap + i * sa
            xi = xp + i * sx
            for b in range(k):
                wa = wi * ai[b]
                lj = lp + j * sl0 + b * sl1
                for c in range(b + 1):
                    lj[c] += wa * ai[c]
                yj = yp + j * sy0 + b * sy1
                if not part:
                    for c in range(p):
                        yj[c] += wa * xi[c]
                yj[p] += wa * zi
        # [X z]'W[X z] by BLAS: the most products per row.
        cdef int n = self.n
        cdef double alpha = 1.0, zero = 0.0
        cdef char lo = b"L", tr = b"T"
        if not self.partial:
            for i in range(n):
                wa = sqrt(w[i])
                for c in range(p):
                    self.R[i, c] = wa * self.X[i, c]
                self.R[i, p] = wa * self.z[i]
            dsyrk(&lo, &tr, &r, &n, &alpha, &self.R[0, 0], &n, &zero, &self.G[0, 0], &r)
            for c in range(r):
                for d in range(c + 1):
                    self.S[c, d] = self.G[c, d]
        self.logdet = 0.0
        for j in range(self.nlev):
            # Cholesky of M_j = Σ w a a' + I in place (lower), then Y_j = L_j⁻¹ C_j.
            if level_cholesky(self.Lj, j, k, &self.logdet):
                return 2
            for c in range(c0, r):
                for b in range(k):
                    s = self.Y[j, b, c]
                    for d in range(b):
                        s -= self.Lj[j, b, d] * self.Y[j, d, c]
                    self.Y[j, b, c] = s / self.Lj[j, b, b]
            if self.partial:
                continue
            for c in range(r):
                for d in range(c + 1):
                    s = 0.0
                    for b in range(k):
                        s += self.Y[j, b, c] * self.Y[j, b, d]
                    self.S[c, d] -= s
        if self.partial:
            return 0
        # The last block's factor, (p + 1) x (p + 1), in place.
        for b in range(r):
            s = self.S[b, b]
            for c in range(b):
                s -= self.S[b, c] * self.S[b, c]
            if not s > 0:
                if b < p:
                    return 2
                s = 1e-300  # r² = 0: y on X and Z exactly (as the blocked factor's floor)
            self.S[b, b] = sqrt(s)
            for d in range(b + 1, r):
                s = self.S[d, b]
                for c in range(b):
                    s -= self.S[d, c] * self.S[b, c]
                self.S[d, b] = s / self.S[b, b]
        return 0

    cdef void solve(self, bint fixed, double[::1] coef) noexcept nogil:
        # R_X β = r_y from the last block, then L_j' u_j = Y_j[:, p] - Y_j[:, :p] β (with a
        # partial factor Xβ is in Y_j[:, p] already).
        cdef int j, b, c, k = self.k, p = self.p, q = self.q
        cdef double s
        if self.partial:
            for j in range(self.nlev):
                for b in range(k - 1, -1, -1):
                    s = self.Y[j, b, p]
                    for c in range(b + 1, k):
                        s -= self.Lj[j, c, b] * coef[j * k + c]
                    coef[j * k + b] = s / self.Lj[j, b, b]
            return
        if not fixed:
            for b in range(p - 1, -1, -1):
                s = self.S[p, b]
                for c in range(b + 1, p):
                    s -= self.S[c, b] * coef[q + c]
                coef[q + b] = s / self.S[b, b]
        for j in range(self.nlev):
            for b in range(k - 1, -1, -1):
                s = self.Y[j, b, p]
                for c in range(p):
                    s -= self.Y[j, b, c] * coef[q + c]
                for c in range(b + 1, k):
                    s -= self.Lj[j, c, b] * coef[j * k + c]
                coef[j * k + b] = s / self.Lj[j, b, b]


cdef inline int _chol_last(double[::1, :] G, int r, int p) noexcept nogil:
    """The lower Cholesky factor of the r x r [X z] block in place (column-major, lower);
    the last pivot floored as the blocked factor floors r² (y on X and Z exactly). 2 where
    X's block is not positive definite."""
    cdef int b, c, d
    cdef double s
    for b in range(r):
        s = G[b, b]
        for c in range(b):
            s -= G[b, c] * G[b, c]
        if not s > 0:
            if b < p:
                return 2
            s = 1e-300
        G[b, b] = sqrt(s)
        for d in range(b + 1, r):
            s = G[d, b]
            for c in range(b):
                s -= G[d, c] * G[b, c]
            G[d, b] = s / G[b, b]
    return 0


cdef inline void _schur_level(
    const double* Bv, int k, const long long* pat, int lo, int hi, double* L22, int q2,
    const double* Y1, int q1, double* Y2, int r,
) noexcept nogil:
    """One first-term level's part of the Schur update: L_22 -= B B' and Y2 -= B Y1_j at
    the level's later columns (``pat[lo:hi]``), B its rows of L_21 (``Bv[lo:hi]``, k each,
    row-major), L_22 and Y2 column-major (leading dimension q2), Y1_j its k rows of Y1
    (leading dimension q1). By raw pointers, k = 1 and 2 written out: through memoryviews
    the indexing cost binary 100k's factor twice the products themselves."""
    cdef int e, f, b, c
    cdef double s, b0, b1
    cdef double* col
    if k == 1:
        for f in range(lo, hi):
            b0 = Bv[f]
            col = L22 + pat[f] * q2
            for e in range(f, hi):
                col[pat[e]] -= Bv[e] * b0
    elif k == 2:
        for f in range(lo, hi):
            b0 = Bv[2 * f]
            b1 = Bv[2 * f + 1]
            col = L22 + pat[f] * q2
            for e in range(f, hi):
                col[pat[e]] -= Bv[2 * e] * b0 + Bv[2 * e + 1] * b1
    else:
        for f in range(lo, hi):
            col = L22 + pat[f] * q2
            for e in range(f, hi):
                s = 0.0
                for b in range(k):
                    s += Bv[e * k + b] * Bv[f * k + b]
                col[pat[e]] -= s
    for c in range(r):
        col = Y2 + c * q2
        if k == 1:
            b0 = Y1[c * q1]
            for e in range(lo, hi):
                col[pat[e]] -= Bv[e] * b0
            continue
        for e in range(lo, hi):
            s = 0.0
            for b in range(k):
                s += Bv[e * k + b] * Y1[b + c * q1]
            col[pat[e]] -= s


cdef class _Crossed(_Rows):
    """Several terms: the first (most levels) by its k x k blocks, the later ones together
    as one dense q2 x q2 block. Their coupling L_21 is kept by its pattern: for each level
    of the first term the later columns its rows touch (``ptr`` / ``pat``), so that the
    Schur update L_21 L_21' costs Σ_levels (touched columns)² k (a dense coupling's q2² q1
    where every pair occurs, an observation-level or nested factor's few products where
    not). BLAS for the later block (potrf, trsm) and for [X z]'W[X z] (syrk)."""

    cdef int k, nlev, r, q1, q2, r2
    cdef bint full  # k = 1 and every level's pattern is all q2 later columns
    cdef const long long[::1] codes
    cdef const long long[:, ::1] cols2  # n x r2: each row's columns in the later block
    cdef const long long[:, ::1] pos2  # n x r2: where each of them is in the pattern
    cdef const long long[::1] ptr  # nlev + 1: each level's stretch of the pattern
    cdef const long long[::1] pat  # the later columns of each level, ascending
    cdef double[:, ::1] a  # n x k: the rows of Z_1Λ_1 at the row's level
    cdef double[:, ::1] a2  # n x r2: the rows of Z_kΛ_k (k > 1) at cols2
    cdef double[:, :, ::1] Lj  # nlev x k x k
    cdef double[::1, :] Y1  # q1 x r: L_11⁻¹ Λ_1'Z_1'W[X z]
    cdef double[:, ::1] Bv  # nnz x k: L_21 at the pattern (row pat[e], columns j k + b)
    cdef double[::1, :] L22  # q2 x q2 lower
    cdef double[::1, :] Y2  # q2 x r: L_22⁻¹ (Λ'Z'W[X z] - L_21 Y1)
    cdef double[::1, :] R  # W^½ [X z]
    cdef double[::1, :] G  # r x r: the last block, then its factor
    cdef double[::1] tmp  # q1
    cdef double logdet

    cdef double predict(self, double[::1] coef, double[::1] eta, double[::1] mu) noexcept nogil:
        cdef int i, c, base, k = self.k, p = self.p, q = self.q, q1 = self.q1
        cdef double e
        for i in range(self.n):
            e = self.off[i]
            if self.held:
                e += self.xb[i]
            else:
                for c in range(p):
                    e += self.X[i, c] * coef[q + c]
            base = <int>self.codes[i] * k
            for c in range(k):
                e += self.a[i, c] * coef[base + c]
            for c in range(self.r2):
                e += self.a2[i, c] * coef[q1 + <int>self.cols2[i, c]]
            eta[i] = e
        return self.deviance(coef, eta, mu)

    cdef int factor(self, double[::1] w, bint whole) noexcept nogil:
        # With β held and not ``whole`` (see hold), only the blocks, the coupling and the
        # z - Xβ column of Y1 and Y2 (c0 = p: cw = 1 column): what solve() then reads.
        cdef int i, j, b, c, d, t, e, col, col2, k = self.k, p = self.p, r = self.r
        cdef int q1 = self.q1, q2 = self.q2, n = self.n, info = 0, nnz = self.Bv.shape[0]
        cdef int c0, cw
        cdef double wi, wa, v, s, zi, one = 1.0, zero = 0.0, minus = -1.0
        cdef char lo = b"L", tr = b"T", nt = b"N"
        self.partial = self.held and not whole
        c0 = p if self.partial else 0
        cw = r - c0
        for j in range(self.nlev):
            for b in range(k):
                for c in range(k):
                    self.Lj[j, b, c] = 0.0
        for c in range(c0, r):
            for b in range(q1):
                self.Y1[b, c] = 0.0
            for t in range(q2):
                self.Y2[t, c] = 0.0
        for e in range(nnz):
            for b in range(k):
                self.Bv[e, b] = 0.0
        for b in range(q2):
            for t in range(q2):
                self.L22[t, b] = 0.0
        for i in range(n):
            wi = w[i]
            j = <int>self.codes[i]
            zi = self.z[i] - self.xb[i] if self.partial else self.z[i]
            for b in range(k):
                wa = wi * self.a[i, b]
                for c in range(b + 1):
                    self.Lj[j, b, c] += wa * self.a[i, c]
                if not self.partial:
                    for c in range(p):
                        self.Y1[j * k + b, c] += wa * self.X[i, c]
                self.Y1[j * k + b, p] += wa * zi
            for d in range(self.r2):
                col = <int>self.cols2[i, d]
                e = <int>self.pos2[i, d]
                v = wi * self.a2[i, d]
                for b in range(k):
                    self.Bv[e, b] += v * self.a[i, b]
                for c in range(self.r2):
                    col2 = <int>self.cols2[i, c]
                    if col2 <= col:
                        self.L22[col, col2] += v * self.a2[i, c]
                if not self.partial:
                    for c in range(p):
                        self.Y2[col, c] += v * self.X[i, c]
                self.Y2[col, p] += v * zi
            if not self.partial:
                wa = sqrt(wi)
                for c in range(p):
                    self.R[i, c] = wa * self.X[i, c]
                self.R[i, p] = wa * self.z[i]
        if not self.partial:
            dsyrk(&lo, &tr, &r, &n, &one, &self.R[0, 0], &n, &zero, &self.G[0, 0], &r)
        for t in range(q2):
            self.L22[t, t] += 1.0
        self.logdet = 0.0
        for j in range(self.nlev):
            # L_j of Λ_1'Z_j'WZ_jΛ_1 + I in place; Y1_j = L_j⁻¹ C_j; L_21's entries of level
            # j: B_j L_j⁻ᵀ; then their part of L_21 L_21' and of L_21 Y1.
            if level_cholesky(self.Lj, j, k, &self.logdet):
                return 2
            for c in range(c0, r):
                for b in range(k):
                    s = self.Y1[j * k + b, c]
                    for d in range(b):
                        s -= self.Lj[j, b, d] * self.Y1[j * k + d, c]
                    self.Y1[j * k + b, c] = s / self.Lj[j, b, b]
            for e in range(<int>self.ptr[j], <int>self.ptr[j + 1]):
                for b in range(k):
                    s = self.Bv[e, b]
                    for d in range(b):
                        s -= self.Bv[e, d] * self.Lj[j, b, d]
                    self.Bv[e, b] = s / self.Lj[j, b, b]
            if not self.full:
                _schur_level(&self.Bv[0, 0], k, &self.pat[0], <int>self.ptr[j],
                             <int>self.ptr[j + 1], &self.L22[0, 0], q2,
                             &self.Y1[j * k, c0], q1, &self.Y2[0, c0], cw)
        if self.full:
            # Every level touches every later column (VerbAgg's persons by items): L_21 is
            # Bv as it stands, q2 x q1 column-major, and the update two BLAS calls (by
            # levels it had cost VerbAgg's factor a third of its time).
            dsyrk(&lo, &nt, &q2, &q1, &minus, &self.Bv[0, 0], &q2, &one, &self.L22[0, 0], &q2)
            dgemm(&nt, &nt, &q2, &cw, &q1, &minus, &self.Bv[0, 0], &q2, &self.Y1[0, c0], &q1,
                  &one, &self.Y2[0, c0], &q2)
        dpotrf(&lo, &q2, &self.L22[0, 0], &q2, &info)
        if info != 0:
            return 2
        for t in range(q2):
            self.logdet += 2.0 * log(self.L22[t, t])
        # Y2 = L_22⁻¹ (C_2 - L_21 Y1); the last block G -= Y1'Y1 + Y2'Y2.
        dtrsm(&lo, &lo, &nt, &nt, &q2, &cw, &one, &self.L22[0, 0], &q2, &self.Y2[0, c0], &q2)
        if self.partial:
            return 0
        dsyrk(&lo, &tr, &r, &q1, &minus, &self.Y1[0, 0], &q1, &one, &self.G[0, 0], &r)
        dsyrk(&lo, &tr, &r, &q2, &minus, &self.Y2[0, 0], &q2, &one, &self.G[0, 0], &r)
        return _chol_last(self.G, r, p)

    cdef void solve(self, bint fixed, double[::1] coef) noexcept nogil:
        cdef int j, b, c, t, e, k = self.k, p = self.p, q = self.q, q1 = self.q1, q2 = self.q2
        cdef int one_i = 1
        cdef double s
        cdef char lo = b"L", tr = b"T", nd = b"N"
        if not fixed:
            for b in range(p - 1, -1, -1):
                s = self.G[p, b]
                for c in range(b + 1, p):
                    s -= self.G[c, b] * coef[q + c]
                coef[q + b] = s / self.G[b, b]
        for t in range(q2):
            s = self.Y2[t, p]
            if not self.partial:  # else Xβ is in z's column already
                for c in range(p):
                    s -= self.Y2[t, c] * coef[q + c]
            coef[q1 + t] = s
        dtrsv(&lo, &tr, &nd, &q2, &self.L22[0, 0], &q2, &coef[q1], &one_i)
        # Each level's L_j' u_j = Y1_j[:, p] - Y1_j[:, :p] β - (L_21'u_2)_j.
        for j in range(self.nlev):
            for b in range(k):
                s = 0.0
                for e in range(<int>self.ptr[j], <int>self.ptr[j + 1]):
                    s += self.Bv[e, b] * coef[q1 + <int>self.pat[e]]
                self.tmp[j * k + b] = s
            for b in range(k - 1, -1, -1):
                s = self.Y1[j * k + b, p] - self.tmp[j * k + b]
                if not self.partial:
                    for c in range(p):
                        s -= self.Y1[j * k + b, c] * coef[q + c]
                for c in range(b + 1, k):
                    s -= self.Lj[j, c, b] * coef[j * k + c]
                coef[j * k + b] = s / self.Lj[j, b, b]


cdef void _setup(
    _System s, int n, int q, const double[::1] y, const double[::1] wt, const double[::1] off,
    int family, int link, double nb_theta, double probit_edge, double cauchit_edge,
):
    s.n, s.q = n, q
    s.family, s.link = family, link
    s.th, s.pe, s.ce = nb_theta, probit_edge, cauchit_edge
    s.y, s.wt = y, wt
    s.off = _aligned_copy(np.asarray(off))
    s.z = _aligned(n)


def _pirls(
    _System s,
    coef0,
    bint fixed,
    eta0,
    double tol,
    bint rough,
    int max_steps,
    int max_halvings,
):
    """The loop of :func:`lmeformula.engines.pirls.pirls`, step for step, on a system."""
    cdef int n = s.n, k = s.q + s.p
    cdef int i, h, steps = 0, status = 0
    cdef double pdev, pdev_t, scale, moved, last, ratio, d, dev = 0.0
    cdef bint converged = False, settled = False, found
    # Σ dev_i at the current μ, from the deviance() that accepted it (NaN: not taken).
    cdef double devres = NAN
    if len(coef0) != k:
        raise ValueError("coef0 holds [u; β]: one entry per column of [Z X].")
    coef_np = _aligned_copy(np.asarray(coef0, dtype=float))
    new_np, trial_np = _aligned(k), _aligned(k)
    eta_np, mu_np, eta_t_np, mu_t_np, w_np = (_aligned(n) for _ in range(5))
    cdef double[::1] coef = coef_np, new = new_np, trial = trial_np
    cdef double[::1] eta = eta_np, mu = mu_np, eta_t = eta_t_np, mu_t = mu_t_np, w = w_np
    cdef double[::1] e0

    # β held: Xβ taken once, which every η (the start's too) and step then read.
    s.hold(fixed, coef)
    if not fixed and eta0 is not None:
        e0 = np.ascontiguousarray(eta0, dtype=float)
        for i in range(n):
            eta[i] = e0[i]
            mu[i] = linkinv(s.link, eta[i], s.pe, s.ce)
        pdev = INFINITY  # the start is no point (β, u): the first step is taken whole
    else:
        pdev = s.predict(coef, eta, mu)
        if pdev == INFINITY:
            for i in range(n):
                mu[i] = linkinv(s.link, eta[i], s.pe, s.ce)
        else:
            devres = s.devres

    last = INFINITY
    s.partial = False
    with nogil:
        while steps < max_steps:
            steps += 1
            status = s.weights(eta, mu, w)
            if status == 0:
                status = s.factor(w, False)
            if status:
                break
            for i in range(k):
                new[i] = coef[i]
            s.solve(fixed, new)
            scale = 1.0
            found = False
            for h in range(max_halvings):
                for i in range(k):
                    trial[i] = coef[i] + scale * (new[i] - coef[i])
                pdev_t = s.predict(trial, eta_t, mu_t)
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
            devres = s.devres
            # Newton's quadratic convergence: once the next step would move by less than
            # the tolerance, the point is the modes (as the Python loop).
            ratio = moved / last if scale == 1.0 and last != INFINITY else 1.0
            if moved < tol or (ratio < 0.1 and moved * ratio < tol):
                converged = True
                settled = moved < tol or rough
                break
            last = moved if scale == 1.0 else INFINITY
        if status == 0:
            # The weights reported are the modes' own; the factor is refreshed there unless
            # the last step was too small to move them.
            status = s.weights(eta, mu, w)
            if status == 0 and (not settled or s.partial):
                status = s.factor(w, True)
    if status == 1:
        raise ValueError(f"reweight takes {n} positive finite weights.")
    if status == 2:
        raise np.linalg.LinAlgError("the system is not positive definite")
    if isnan(devres):
        for i in range(n):
            dev += dev_resid(s.family, s.y[i], mu[i], s.wt[i], s.th)
    else:
        dev = devres  # the same sum, already taken where μ was accepted
    return coef_np, eta_np, mu_np, w_np, dev, steps, converged


def run_dense(
    A, int q, const double[::1] y, const double[::1] wt, const double[::1] off,
    int family, int link, double nb_theta, double probit_edge, double cauchit_edge,
    coef0, bint fixed, eta0, double tol, bint rough, int max_steps, int max_halvings,
):
    """PIRLS on the dense system [ZΛ X] (n x (q + p)) from [u; β] = ``coef0`` (β held
    where ``fixed``), or from η = ``eta0`` where that is given and β is free.

    Returns
    -------
    tuple
        (coef, eta, mu, weights, dev, steps, converged, L): [u; β] at the modes, η, μ and
        the working weights there, Σ dev_i, the steps, whether they stopped moving, and
        the factor of the whole system (m x m lower, m = q + p + 1).

    Raises
    ------
    numpy.linalg.LinAlgError
        Where the system is not positive definite.
    ValueError
        Where a working weight is not positive and finite.
    """
    cdef _Dense s = _Dense()
    A = np.asarray(A, dtype=float)
    n, cols = A.shape
    _setup(s, n, q, y, wt, off, family, link, nb_theta, probit_edge, cauchit_edge)
    s.p, s.m = cols - q, cols + 1
    # Every array BLAS reads or writes starts on a 64-byte boundary (see _aligned).
    s.A = _aligned_copy(A, "F")
    s.R = _aligned((n, cols + 1), "F")
    L = _aligned((cols + 1, cols + 1), "F")
    L[...] = 0.0
    s.L = L
    out = _pirls(s, coef0, fixed, eta0, tol, rough, max_steps, max_halvings)
    return (*out, L)


def run_onefactor(
    const long long[::1] codes, int nlev, a, X, const double[::1] y, const double[::1] wt,
    const double[::1] off, int family, int link, double nb_theta, double probit_edge,
    double cauchit_edge, coef0, bint fixed, eta0, double tol, bint rough, int max_steps,
    int max_halvings,
):
    """PIRLS on one random-effects term: ``codes`` the rows' levels, ``a`` (n x k) the
    rows of ZΛ at their level, X (n x p).

    Returns
    -------
    tuple
        (coef, eta, mu, weights, dev, steps, converged, L0inv, Y, S, logdet): as
        :func:`run_dense`, with the factor's blocks: L0inv (nlev x k x k, the inverses of
        the blocks' lower factors), Y
        (nlev x k x (p + 1)) = L_j⁻¹ Λ'Z_j'W[X z], S ((p + 1) x (p + 1), lower) and
        log|L|².
    """
    cdef _OneFactor s = _OneFactor()
    a = np.ascontiguousarray(a, dtype=float)
    X = np.ascontiguousarray(X, dtype=float)
    n, k = a.shape
    p = X.shape[1]
    _setup(s, n, nlev * k, y, wt, off, family, link, nb_theta, probit_edge, cauchit_edge)
    s.p, s.k, s.nlev, s.r = p, k, nlev, p + 1
    s.codes, s.a, s.X = codes, a, X
    s.R = _aligned((n, p + 1), "F")
    G = _aligned((p + 1, p + 1), "F")
    G[...] = 0.0
    s.G = G
    Lj = np.zeros((nlev, k, k))
    Y = np.zeros((nlev, k, p + 1))
    S = np.zeros((p + 1, p + 1))
    s.Lj, s.Y, s.S = Lj, Y, S
    s.xb = _aligned(n)
    out = _pirls(s, coef0, fixed, eta0, tol, rough, max_steps, max_halvings)
    # S is written below its diagonal only (its zeros above as allocated): lower as it is.
    return (*out, _lower_inverses(Lj), Y, S, s.logdet)


def _lower_inverses(double[:, :, ::1] L):
    """L_j⁻¹ of each lower-triangular block, by forward substitution."""
    cdef int nlev = L.shape[0], k = L.shape[1], j, a, b, c
    cdef double s
    out_np = np.zeros((nlev, k, k))
    cdef double[:, :, ::1] out = out_np
    for j in range(nlev):
        for b in range(k):
            out[j, b, b] = 1.0 / L[j, b, b]
            for a in range(b + 1, k):
                s = 0.0
                for c in range(b, a):
                    s -= L[j, a, c] * out[j, c, b]
                out[j, a, b] = s / L[j, a, a]
    return out_np


def run_crossed(
    const long long[::1] codes, int nlev, a, cols2, pos2, ptr, pat, a2, int q2, X,
    const double[::1] y, const double[::1] wt, const double[::1] off, int family, int link,
    double nb_theta, double probit_edge, double cauchit_edge, coef0, bint fixed, eta0,
    double tol, bint rough, int max_steps, int max_halvings,
):
    """PIRLS on several terms: ``codes`` and ``a`` (n x k) the first term's levels and rows
    of Z_1Λ_1, ``cols2`` / ``a2`` (n x r2) each row's columns in the later terms' block
    (q2 random effects) and Z_kΛ_k's values there, ``pos2`` where each is in the coupling's
    pattern (``ptr``: each first-term level's stretch of ``pat``, its later columns
    ascending), X (n x p); [u; β] holds u_1, then u_2.

    Returns
    -------
    tuple
        (coef, eta, mu, weights, dev, steps, converged, L0inv, Y1, Bv, L22, Y2, Lyy,
        logdet): as :func:`run_onefactor`, with the later block's pieces: Bv (nnz x k),
        L_21 at the pattern, L22 (q2 x q2, lower) and Y2 (q2 x (p + 1)); Y1 is
        q1 x (p + 1).
    """
    cdef _Crossed s = _Crossed()
    a = np.ascontiguousarray(a, dtype=float)
    a2 = np.ascontiguousarray(a2, dtype=float)
    n, k = a.shape
    p = X.shape[1]
    q1 = nlev * k
    _setup(s, n, q1 + q2, y, wt, off, family, link, nb_theta, probit_edge, cauchit_edge)
    s.p, s.k, s.nlev, s.r, s.q1, s.q2, s.r2 = p, k, nlev, p + 1, q1, q2, a2.shape[1]
    s.codes, s.a, s.X = codes, a, X
    s.cols2, s.pos2, s.ptr, s.pat = cols2, pos2, ptr, pat
    # Each level's later columns are distinct and ascending: nlev q2 of them are all of them.
    s.full = k == 1 and len(pat) == nlev * q2
    s.a2 = a2
    Lj = np.zeros((nlev, k, k))
    Y1 = _aligned((q1, p + 1), "F")
    Bv = np.zeros((len(pat), k))
    L22 = _aligned((q2, q2), "F")
    Y2 = _aligned((q2, p + 1), "F")
    G = _aligned((p + 1, p + 1), "F")
    G[...] = 0.0
    s.Lj, s.Y1, s.Bv, s.L22, s.Y2, s.G = Lj, Y1, Bv, L22, Y2, G
    s.R = _aligned((n, p + 1), "F")
    s.tmp = _aligned(q1)
    s.xb = _aligned(n)
    out = _pirls(s, coef0, fixed, eta0, tol, rough, max_steps, max_halvings)
    return (*out, _lower_inverses(Lj), Y1, Bv, L22, Y2, np.tril(G), s.logdet)
