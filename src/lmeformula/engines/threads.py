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

# Discovering the loaded BLAS libraries takes milliseconds: do it once per process.
_CONTROLLER: ThreadpoolController | None = None


def _controller() -> ThreadpoolController:
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


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
    outer = getattr(_ACTIVE, "threads", _UNSET)
    with _controller().limit(limits=threads, user_api="blas"):
        _ACTIVE.threads = threads
        try:
            yield
        finally:
            _ACTIVE.threads = outer


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
