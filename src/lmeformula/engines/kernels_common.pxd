# cython: language_level=3
"""What the compiled kernels share (inlined into each: nothing is linked between them)."""

from libc.math cimport log, sqrt


cdef inline void times_into_log(double v, double* prod, double* logdet) noexcept nogil:
    """prod *= v for a running product of factors of at least 1 (pivots of a matrix plus
    the identity), moved into ``logdet`` as its log before it could overflow: one log
    per 150 decades instead of one per factor, which were half of a two-column term's
    evaluation. The caller adds log(prod) at the end."""
    if prod[0] > 1e150:
        logdet[0] += log(prod[0])
        prod[0] = 1.0
    prod[0] *= v


cdef inline int level_cholesky(
    double[:, :, ::1] Lj, int j, int k, double* logdet
) noexcept nogil:
    """The lower Cholesky factor of block j plus the identity, in place (its lower
    triangle holds the block), log det added to ``logdet``; 2 where the block is not
    positive definite. One log of the pivots' product per block (:func:`times_into_log`),
    not one per pivot."""
    cdef int b, c, d
    cdef double s, det = 1.0
    for b in range(k):
        Lj[j, b, b] += 1.0
    for b in range(k):
        s = Lj[j, b, b]
        for c in range(b):
            s -= Lj[j, b, c] * Lj[j, b, c]
        if not s > 0:
            return 2
        Lj[j, b, b] = sqrt(s)
        times_into_log(s, &det, logdet)
        for d in range(b + 1, k):
            s = Lj[j, d, b]
            for c in range(b):
                s -= Lj[j, d, c] * Lj[j, b, c]
            Lj[j, d, b] = s / Lj[j, b, b]
    logdet[0] += log(det)
    return 0
