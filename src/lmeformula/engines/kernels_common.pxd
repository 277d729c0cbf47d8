# cython: language_level=3
"""What the compiled kernels share (inlined into each: nothing is linked between them)."""

from libc.math cimport log, sqrt


cdef inline int level_cholesky(
    double[:, :, ::1] Lj, int j, int k, double* logdet
) noexcept nogil:
    """The lower Cholesky factor of block j plus the identity, in place (its lower
    triangle holds the block), log det added to ``logdet``; 2 where the block is not
    positive definite. One log of the pivots' product per block, not one per pivot: the
    logs were half of a two-column term's evaluation (the product is taken in pieces below
    1e150, so no block's overflows)."""
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
        if det > 1e150:
            logdet[0] += log(det)
            det = 1.0
        det *= s
        for d in range(b + 1, k):
            s = Lj[j, d, b]
            for c in range(b):
                s -= Lj[j, d, c] * Lj[j, b, c]
            Lj[j, d, b] = s / Lj[j, b, b]
    logdet[0] += log(det)
    return 0
