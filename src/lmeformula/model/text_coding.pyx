# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Text columns coded in one pass over Arrow's buffers (pandas 3's default text is
Arrow-backed): each row's bytes hashed into a table of the distinct values met so far.

A grouping column of a few hundred rows cost 100 us by Arrow's dictionary encoding and
the Python around it, when the fit before has left the caches cold (30 warm); the pass
here reads the offsets and bytes once and decodes only the distinct values.
"""

import numpy as np

from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp


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
