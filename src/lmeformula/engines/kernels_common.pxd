# cython: language_level=3
"""What the compiled kernels share (inlined into each: nothing is linked between them)."""

from libc.math cimport log, sqrt


cdef inline int level_cholesky(
    double[:, :, ::1] Lj, int j, int k, double* logdet
) noexcept nogil:
    """The lower Cholesky factor of block j plus the identity, in place (its lower
    triangle holds the block), each log L_bb² added to ``logdet`` in turn; 2 where the
    block is not positive definite."""
    cdef int b, c, d
    cdef double s
    for b in range(k):
        Lj[j, b, b] += 1.0
    for b in range(k):
        s = Lj[j, b, b]
        for c in range(b):
            s -= Lj[j, b, c] * Lj[j, b, c]
        if not s > 0:
            return 2
        Lj[j, b, b] = sqrt(s)
        logdet[0] += 2.0 * log(Lj[j, b, b])
        for d in range(b + 1, k):
            s = Lj[j, d, b]
            for c in range(b):
                s -= Lj[j, d, c] * Lj[j, b, c]
            Lj[j, d, b] = s / Lj[j, b, b]
    return 0
