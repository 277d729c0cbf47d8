"""How many BLAS threads an objective's evaluations get.

Many small BLAS and LAPACK calls only pay the threads' synchronisation: on two cores shared
with other work, a 2 x 2 triangular solve took 4 ms with two threads and 2 µs with one, and
the three-term InstEval evaluation took 62 ms with two threads against 24.5 ms with one. A
dense block of thousands of levels is one big factorisation, where threads pay. Fits,
refits, profiles and parallel workers run their evaluations inside :func:`blas_threads`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

from threadpoolctl import ThreadpoolController

__all__ = ["LARGE_DENSE_BLOCK", "blas_threads", "limit_blas", "one_blas_thread"]

#: Dense blocks at least this large are factored with all BLAS threads (10,000 levels: 8.3 s
#: on two threads against 11.5 s on one).
LARGE_DENSE_BLOCK = 2000

# Discovering the loaded BLAS libraries takes milliseconds: do it once per process, with
# each library's own thread count then (what "all threads" restores).
_BLAS: list[tuple[Any, int]] | None = None


def _blas_libraries() -> list[tuple[Any, int]]:
    global _BLAS
    if _BLAS is None:
        _BLAS = [
            (lib, lib.get_num_threads())
            for lib in ThreadpoolController().lib_controllers
            if lib.user_api == "blas"
        ]
    return _BLAS


def blas_threads(largest_dense_block: int) -> Any:
    """A context in which BLAS uses one thread, unless the model has a dense block of
    ``LARGE_DENSE_BLOCK`` levels or more (one big factorisation, where threads pay).

    Examples
    --------
    >>> with blas_threads(0):
    ...     pass
    """
    return limit_blas(None if largest_dense_block >= LARGE_DENSE_BLOCK else 1)


# The limit in force in this thread's innermost limit_blas, if any: a nested context with
# the same limit changes nothing, and threadpoolctl's costs 20 us to enter and leave (a
# small fit entered three).
_ACTIVE = threading.local()
_UNSET = object()


def limit_blas(threads: int | None) -> Any:
    """A context in which BLAS uses ``threads`` threads (None: as many as it has).

    Examples
    --------
    >>> with limit_blas(1), limit_blas(1):  # the inner one is free
    ...     pass
    """
    if getattr(_ACTIVE, "threads", _UNSET) == threads:
        return nullcontext()
    return _limited(threads)


@contextmanager
def _limited(threads: int | None) -> Iterator[None]:
    # The libraries' own calls: threadpoolctl's limit() context costs 16 us to enter and
    # leave, these 3 (every fit enters one). None restores each library's own count.
    outer = getattr(_ACTIVE, "threads", _UNSET)
    libs = _blas_libraries()
    before = [lib.get_num_threads() for lib, _ in libs]
    for lib, own in libs:
        lib.set_num_threads(own if threads is None else threads)
    _ACTIVE.threads = threads
    try:
        yield
    finally:
        _ACTIVE.threads = outer
        for (lib, _), count in zip(libs, before, strict=True):
            lib.set_num_threads(count)


F = TypeVar("F", bound=Callable[..., Any])


def one_blas_thread(fn: F) -> F:
    """Run ``fn`` with one BLAS thread: a fit's stages inside it (the front end, the
    optimizer, the results) enter their own :func:`blas_threads` for free where they ask
    for the same, and a model with a large dense block still gets every thread where it
    factors it."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with limit_blas(1):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
