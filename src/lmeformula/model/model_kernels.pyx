# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The model stage's passes over the rows, compiled: where numpy's calls, each a pass and
a temporary, cost more than the arithmetic (and twice as much after a fit has left the
caches cold).

- :func:`text_codes`: text columns coded from Arrow's buffers (pandas 3's default text is
  Arrow-backed), each row's bytes hashed into a table of the distinct values met so far; a
  grouping column of a few hundred rows cost 100 us by Arrow's dictionary encoding and
  the Python around it, cold (30 warm).
- :func:`scaled_qr`: [X y] scaled to a column maximum of 1 and factored, for the
  estimability checks of :func:`lmeformula.model.design.estimable_columns`.
- :func:`object_codes`: text kept as Python objects (a dict of NumPy arrays' columns)
  coded by a dict of the values met so far.
- :func:`column_peaks`: each column's largest absolute value, for the design's magnitude
  checks (numpy's reduction per column cost four checks 25 us a small fit).
"""

import numpy as np

from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.math cimport fabs, sqrt
from libc.string cimport memcmp
from scipy.linalg.cython_lapack cimport dgeqrf


cdef inline uint64_t _fnv1a(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef uint64_t h = 14695981039346656037ULL
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ p[i]) * 1099511628211ULL
    return h


cdef int _grow(int64_t** table, Py_ssize_t* cap, const uint64_t* hashes,
               Py_ssize_t nlev) noexcept nogil:
    """Double the table and place the levels again (0; -1 when out of memory)."""
    cdef Py_ssize_t new_cap = cap[0] * 2, i, slot, mask = new_cap - 1
    cdef int64_t* new = <int64_t*>malloc(new_cap * sizeof(int64_t))
    if new == NULL:
        return -1
    for i in range(new_cap):
        new[i] = -1
    for i in range(nlev):
        slot = <Py_ssize_t>(hashes[i] & <uint64_t>mask)
        while new[slot] != -1:
            slot = (slot + 1) & mask
        new[slot] = i
    free(table[0])
    table[0], cap[0] = new, new_cap
    return 0


def text_codes(const int64_t[::1] offsets, const unsigned char[::1] data):
    """Codes in order of first appearance and the distinct values of the strings
    ``data[offsets[i]:offsets[i + 1]]`` (UTF-8), i = 0 .. len(offsets) - 2.

    Returns
    -------
    codes : numpy.ndarray
        int64, one per string.
    levels : list of str
        The distinct values, level ``c`` first met at the first row coded ``c``.

    Examples
    --------
    >>> import numpy as np
    >>> codes, levels = text_codes(np.array([0, 1, 3, 4, 6]), np.frombuffer(b"abbabb", np.uint8))
    >>> codes.tolist(), levels
    ([0, 1, 0, 1], ['a', 'bb'])
    """
    cdef Py_ssize_t n = offsets.shape[0] - 1, i, slot, mask, nlev = 0, length
    cdef Py_ssize_t cap = 64
    cdef int64_t start, c
    cdef uint64_t h
    cdef const unsigned char* base = &data[0] if data.shape[0] else NULL
    codes = np.empty(max(n, 0), dtype=np.int64)
    firsts = np.empty(max(n, 0), dtype=np.int64)
    cdef int64_t[::1] cv = codes
    cdef int64_t[::1] fv = firsts
    cdef int64_t* table
    cdef uint64_t* hashes
    cdef int failed = 0
    if n <= 0:
        return codes, []
    table = <int64_t*>malloc(cap * sizeof(int64_t))
    hashes = <uint64_t*>malloc(n * sizeof(uint64_t))
    if table == NULL or hashes == NULL:
        free(table)
        free(hashes)
        raise MemoryError("no memory to code a text column")
    with nogil:
        for i in range(cap):
            table[i] = -1
        mask = cap - 1
        for i in range(n):
            start = offsets[i]
            length = <Py_ssize_t>(offsets[i + 1] - start)
            h = _fnv1a(base + start, length)
            slot = <Py_ssize_t>(h & <uint64_t>mask)
            while True:
                c = table[slot]
                if c == -1:
                    c = nlev
                    table[slot] = c
                    hashes[c] = h
                    fv[c] = i
                    nlev += 1
                    if 2 * nlev > cap:
                        if _grow(&table, &cap, hashes, nlev):
                            failed = 1
                            break
                        mask = cap - 1
                    break
                if (
                    hashes[c] == h
                    and offsets[fv[c] + 1] - offsets[fv[c]] == length
                    and memcmp(base + offsets[fv[c]], base + start, length) == 0
                ):
                    break
                slot = (slot + 1) & mask
            if failed:
                break
            cv[i] = c
    free(table)
    free(hashes)
    if failed:
        raise MemoryError("no memory to code a text column")
    levels = []
    for c in range(nlev):
        start = offsets[fv[c]]
        length = <Py_ssize_t>(offsets[fv[c] + 1] - start)
        levels.append(PyUnicode_DecodeUTF8(<const char*>(base + start), length, NULL))
    return codes, levels


cdef inline void _column(const double[:, :] X, Py_ssize_t j, double* col,
                         Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, st = X.strides[0] // sizeof(double)
    cdef const double* x = &X[0, j]
    for i in range(n):
        col[i] = x[i * st]


cdef inline double _scale_column(double* col, Py_ssize_t n) noexcept nogil:
    """Divide the column by its largest absolute value (none where it is 0); its norm
    after. Four sums at a time: one waits on the last add's latency."""
    cdef Py_ssize_t i
    cdef double m0 = 0.0, m1 = 0.0, v, sc, s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    for i in range(0, n - 1, 2):
        v = fabs(col[i])
        m0 = v if v > m0 else m0
        v = fabs(col[i + 1])
        m1 = v if v > m1 else m1
    if n % 2:
        v = fabs(col[n - 1])
        m0 = v if v > m0 else m0
    m0 = m1 if m1 > m0 else m0
    sc = 1.0 / m0 if m0 > 0 else 1.0
    for i in range(0, n - 3, 4):
        col[i] *= sc
        col[i + 1] *= sc
        col[i + 2] *= sc
        col[i + 3] *= sc
        s0 += col[i] * col[i]
        s1 += col[i + 1] * col[i + 1]
        s2 += col[i + 2] * col[i + 2]
        s3 += col[i + 3] * col[i + 3]
    for i in range(n - n % 4, n):
        col[i] *= sc
        s0 += col[i] * col[i]
    return sqrt((s0 + s1) + (s2 + s3))


cdef inline double _centred_squares(const double* v, Py_ssize_t n) noexcept nogil:
    """Σ (v - mean)², both sums four at a time."""
    cdef Py_ssize_t i, end = n - n % 4
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, mean, d0, d1, d2, d3
    for i in range(0, end, 4):
        s0 += v[i]
        s1 += v[i + 1]
        s2 += v[i + 2]
        s3 += v[i + 3]
    for i in range(end, n):
        s0 += v[i]
    mean = ((s0 + s1) + (s2 + s3)) / n
    s0 = s1 = s2 = s3 = 0.0
    for i in range(0, end, 4):
        d0, d1, d2, d3 = v[i] - mean, v[i + 1] - mean, v[i + 2] - mean, v[i + 3] - mean
        s0 += d0 * d0
        s1 += d1 * d1
        s2 += d2 * d2
        s3 += d3 * d3
    for i in range(end, n):
        d0 = v[i] - mean
        s0 += d0 * d0
    return (s0 + s1) + (s2 + s3)


def scaled_qr(const double[:, :] X, const double[:] y):
    """[X y] with each column divided by its largest absolute value (1 where that is 0),
    and LAPACK's QR of it in place (dgeqrf: R on and above the diagonal).

    Returns
    -------
    qr : numpy.ndarray
        n x (p + 1), Fortran order, as dgeqrf leaves it.
    norms : numpy.ndarray
        The scaled columns' Euclidean norms (R's columns' norms).
    tss : float
        The scaled y's sum of squares about its mean.
    constant : bool
        Whether every y equals the first (NumPy's ptp would be 0).

    Examples
    --------
    >>> import numpy as np
    >>> qr, norms, tss, constant = scaled_qr(np.array([[1.0], [1.0]]), np.array([2.0, 4.0]))
    >>> norms.round(4).tolist(), tss, constant
    ([1.4142, 1.118], 0.125, False)
    """
    cdef Py_ssize_t n = X.shape[0], p = X.shape[1], i, j
    cdef int m = <int>n, r = <int>(p + 1), info = 0, lwork = <int>(64 * (p + 1))
    out = np.empty((n, p + 1), order="F")
    norms_np = np.empty(p + 1)
    tau = np.empty(max(1, min(n, p + 1)))
    work = np.empty(lwork)
    cdef double[::1, :] A = out
    cdef double[::1] nv = norms_np
    cdef double[::1] tv = tau
    cdef double[::1] wv = work
    cdef double tss = 0.0
    cdef double* col
    cdef bint constant = True
    if n == 0:
        norms_np[:] = 0.0
        return out, norms_np, 0.0, True
    with nogil:
        for j in range(p + 1):
            col = &A[0, j]
            if j < p:
                _column(X, j, col, n)
            else:
                for i in range(n):
                    col[i] = y[i]
                    if y[i] != y[0]:
                        constant = False
            nv[j] = _scale_column(col, n)
        tss = _centred_squares(&A[0, p], n)
        # A work space of 64 per column: dgeqrf's blocked steps, which a few columns never
        # reach (the size query itself costs as much as a small factorisation).
        dgeqrf(&m, &r, &A[0, 0], &m, &tv[0], &wv[0], &lwork, &info)
    if info != 0:
        raise ValueError(f"dgeqrf failed (info {info})")
    return out, norms_np, tss, constant


def column_peaks(const double[:, :] X):
    """The largest absolute value of each column of X, in one pass over its rows (NaNs
    passed over; 0 for an empty column), for the magnitude checks of the design stage.

    Examples
    --------
    >>> import numpy as np
    >>> column_peaks(np.array([[1.0, -3.0], [-2.0, np.nan]])).tolist()
    [2.0, 3.0]
    """
    cdef Py_ssize_t n = X.shape[0], p = X.shape[1], i, j
    peaks_np = np.zeros(p)
    cdef double[::1] peaks = peaks_np
    cdef double a
    with nogil:
        for i in range(n):
            for j in range(p):
                a = fabs(X[i, j])
                if a > peaks[j]:
                    peaks[j] = a
    return peaks_np


def object_codes(values):
    """Codes in order of first appearance and the distinct values of a one-dimensional
    array of Python objects, by a dict of the values met so far (the objects' own hash and
    equality, as pandas' factorize has them): a grouping column of a few hundred strings in
    a few microseconds, where factorize's Python around its table costs twenty.

    Examples
    --------
    >>> import numpy as np
    >>> codes, levels = object_codes(np.array(["b", "a", "b"], dtype=object))
    >>> codes.tolist(), levels
    ([0, 1, 0], ['b', 'a'])
    """
    # A list of the same objects (read-only arrays have no writable object buffer).
    cdef list items = values.tolist()
    cdef Py_ssize_t n = len(items), i, code
    codes_np = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] codes = codes_np
    cdef dict seen = {}
    cdef list levels = []
    cdef object item, found
    for i in range(n):
        item = items[i]
        found = seen.get(item)
        if found is None:
            code = len(levels)
            seen[item] = code
            levels.append(item)
        else:
            code = <Py_ssize_t>found
        codes[i] = code
    return codes_np, levels


def integer_codes(values):
    """Codes and sorted distinct values of integers whose range spans at most a few times
    their count, by a table of the values present (linear, no hashing, no sort); None for
    a sparser range or no values. One pass for the range, one to mark, one to code: NumPy's
    eight calls for the same cost a small fit's grouping column 15 us.

    Examples
    --------
    >>> import numpy as np
    >>> codes, levels = integer_codes(np.array([30, 10, 30, 20]))
    >>> codes.tolist(), levels.tolist()
    ([2, 0, 2, 1], [10, 20, 30])
    """
    cdef const int64_t[::1] v = np.ascontiguousarray(values, dtype=np.int64)
    cdef Py_ssize_t n = v.shape[0], i, span, used = 0
    cdef int64_t lo, hi
    if n == 0:
        return None
    lo = hi = v[0]
    for i in range(n):
        if v[i] < lo:
            lo = v[i]
        elif v[i] > hi:
            hi = v[i]
    # The span in unsigned arithmetic: hi - lo may not fit a signed 64-bit integer.
    if <uint64_t>hi - <uint64_t>lo > <uint64_t>(4 * n + 1024):
        return None
    span = <Py_ssize_t>(hi - lo) + 1
    table_np = np.zeros(span, dtype=np.int64)
    codes_np = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] table = table_np
    cdef int64_t[::1] codes = codes_np
    with nogil:
        for i in range(n):
            table[v[i] - lo] = 1
        for i in range(span):
            if table[i]:
                table[i] = used
                used += 1
            else:
                table[i] = -1
        for i in range(n):
            codes[i] = table[v[i] - lo]
    levels_np = np.empty(used, dtype=np.int64)
    cdef int64_t[::1] levels = levels_np
    used = 0
    for i in range(span):
        if table[i] >= 0:
            levels[used] = lo + i
            used += 1
    return codes_np, levels_np
