"""One parallel map for everything that fits many models: the responses of
:func:`lmeformula.fit_many`, the replicates of a bootstrap, the candidates of a model search.

``run(func, items, shared=...)`` calls ``func(state, item)`` for every item and returns one
:class:`Outcome` per item, in the items' order, whatever finished first:

- ``state`` is ``setup(shared)``, made once per worker (not once per item nor per chunk):
  the shared object (a design, an engine, the model's data) travels to each worker once, as
  a pickle file the workers read (joblib's process backends) or scattered to every worker
  (Dask), and what ``setup`` builds from it stays there for all the chunks that worker runs;
- items travel in chunks, each to the one worker that runs it;
- an item whose call raises is reported (``Outcome.error``), not raised, and the others go
  on; warnings are collected per item where that is safe (a worker's main thread);
- the BLAS libraries run one thread per worker: the small factorisations of a fit gain
  nothing from more, and the same thread count on every backend keeps the results the
  same bit for bit whichever backend, worker or chunk runs an item;
- a progress bar (tqdm; a widget in notebooks) counts items as chunks finish.

Backends: ``"loky"`` (joblib's default: processes on this machine; ``n_jobs=1`` runs in
this process, without pickling anything), joblib's ``"threading"`` (threads of this
process: little gain, as most of a fit holds the GIL) and ``"dask"``, which runs on the
workers of a ``dask.distributed.Client`` (a ``LocalCluster`` or a real cluster).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import pickle
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lmeformula.engines.threads import limit_blas
from lmeformula.errors import ArgumentTypeError
from lmeformula.fitting.progress import progress_bar

__all__ = ["BACKENDS", "Outcome", "check_backend", "check_n_jobs", "run"]

#: The backends :func:`run` knows.
BACKENDS = ("loky", "threading", "dask")


@dataclass
class Outcome:
    """What one item's call gave.

    Attributes
    ----------
    value
        The call's return value (None when it raised).
    error
        ``"TypeName: message"`` of the exception it raised, else None.
    warnings
        (category, message) of the warnings it issued, when collected (in a worker's main
        thread: sequentially, and in joblib's and Dask's worker processes run one thread
        each; not in threads that share a process, where Python's warning filters are
        shared).
    """

    value: Any = None
    error: str | None = None
    warnings: list[tuple[type[Warning], str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the call returned."""
        return self.error is None


def check_n_jobs(n_jobs: Any) -> int:
    """A positive number of workers, or -1 (all cores).

    Examples
    --------
    >>> check_n_jobs(2), check_n_jobs(-1)
    (2, -1)
    """
    if isinstance(n_jobs, numbers.Integral) and not isinstance(n_jobs, bool):
        value = int(n_jobs)
        if value >= 1 or value == -1:
            return value
    raise ArgumentTypeError(
        f"n_jobs must be a positive integer, or -1 for all cores, got {n_jobs!r}."
    )


def check_backend(backend: Any, client: Any) -> str:
    """The backend's name, checked against the client.

    Examples
    --------
    >>> check_backend("loky", None)
    'loky'
    """
    if backend not in BACKENDS:
        raise ArgumentTypeError(f"backend must be one of {BACKENDS}, got {backend!r}.")
    if client is not None and backend != "dask":
        raise ArgumentTypeError(
            f"a client was given with backend={backend!r}; a Dask client needs backend='dask'."
        )
    return str(backend)


# -- the worker's side ---------------------------------------------------------------------

# State built by setup(shared), per run (token) and thread: a worker builds it for its first
# chunk of a run and reuses it for the others; a new run replaces it.
_STATES: dict[tuple[str, int], Any] = {}
_LOCK = threading.Lock()


class _PickleFile:
    """The shared object as a file the workers of this machine read (written once)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> Any:
        with open(self.path, "rb") as fh:
            return pickle.load(fh)


class _InProcess:
    """The shared object itself (threads, and Dask, which delivers it resolved)."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def load(self) -> Any:
        return self.obj


def _state(token: str, source: Any, setup: Callable[[Any], Any] | None) -> Any:
    key = (token, threading.get_ident())
    with _LOCK:
        if key in _STATES:
            return _STATES[key]
    shared = source.load() if isinstance(source, (_PickleFile, _InProcess)) else source
    state = setup(shared) if setup is not None else shared
    with _LOCK:
        for old in [k for k in _STATES if k[1] == key[1]]:
            del _STATES[old]
        _STATES[key] = state
    return state


def _forget(token: str) -> None:
    with _LOCK:
        for key in [k for k in _STATES if k[0] == token]:
            del _STATES[key]


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _blas_limit(threads: int | None) -> contextlib.AbstractContextManager[Any]:
    # Only a process's main thread sets the limit: it is process-wide, and threads that
    # entered and left it in turn would restore each other's settings out of order. Threads
    # sharing the caller's process run under the limit :func:`run` sets around everything.
    if threads is None or not _in_main_thread():
        return contextlib.nullcontext()
    return limit_blas(threads)


def _call(func: Callable[[Any, Any], Any], state: Any, item: Any) -> Outcome:
    if not _in_main_thread():
        try:
            return Outcome(value=func(state, item))
        except Exception as err:  # reported per item, the others go on
            return Outcome(error=f"{type(err).__name__}: {err}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = func(state, item)
        except Exception as err:  # reported per item, the others go on
            return Outcome(error=f"{type(err).__name__}: {err}", warnings=_pairs(caught))
    return Outcome(value=value, warnings=_pairs(caught))


def _pairs(caught: list[warnings.WarningMessage]) -> list[tuple[type[Warning], str]]:
    return [(w.category, str(w.message)) for w in caught]


def _run_chunk(
    func: Callable[[Any, Any], Any],
    setup: Callable[[Any], Any] | None,
    token: str,
    source: Any,
    items: Sequence[Any],
    blas_threads: int | None,
) -> list[Outcome]:
    with _blas_limit(blas_threads):
        state = _state(token, source, setup)
        return [_call(func, state, item) for item in items]


# -- the caller's side ---------------------------------------------------------------------


def _chunks(n: int, size: int) -> list[range]:
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def _default_chunk(n: int, workers: int, largest: int) -> int:
    # A few chunks per worker balance the load; small enough for a live progress bar.
    return max(1, min(largest, math.ceil(n / max(1, workers * 4))))


def _dask_client(client: Any) -> Any:
    if client is not None:
        return client
    try:
        from distributed import get_client
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ArgumentTypeError(
            "backend='dask' needs dask.distributed: pip install 'dask[distributed]'."
        ) from err
    try:
        return get_client()
    except ValueError as err:
        raise ArgumentTypeError(
            "backend='dask' needs a client: pass client=Client('tcp://scheduler:8786') (or a "
            "Client(LocalCluster())), or create one before the call."
        ) from err


def run(
    func: Callable[[Any, Any], Any],
    items: Sequence[Any],
    *,
    shared: Any = None,
    setup: Callable[[Any], Any] | None = None,
    n_jobs: int = 1,
    backend: str = "loky",
    client: Any = None,
    progress: bool | None = True,
    desc: str = "",
    unit: str = "fit",
    chunk_size: int | None = None,
    max_chunk: int = 64,
    blas_threads: int | None = 1,
    pack: Callable[[list[Any]], list[Any]] | None = None,
) -> list[Outcome]:
    """Call ``func(state, item)`` for every item, in parallel, and return the outcomes in
    the items' order.

    Parameters
    ----------
    func
        A module-level function (or anything picklable) of the worker's state and an item.
    items
        The items; each travels to one worker, in a chunk.
    shared
        What every call needs (a design, a fitted model): sent to each worker once.
    setup
        ``setup(shared)`` builds the worker's state once (an engine from a design, say);
        None: the state is ``shared``.
    n_jobs
        Workers for joblib's backends (-1: all cores); 1 runs in this process.
    backend
        ``"loky"``, ``"threading"`` or ``"dask"``.
    client
        The ``dask.distributed.Client`` for ``backend="dask"`` (by default the current one).
    progress
        The progress bar, as :func:`lmeformula.fitting.progress.progress_bar` shows it (True: at
        once; None: once the work has run 2 s; False: never).
    desc, unit
        The bar's label and unit.
    chunk_size
        Items per chunk (by default a few chunks per worker, at most ``max_chunk``).
    max_chunk
        The largest default chunk.
    blas_threads
        BLAS threads in each worker (None: as they are).
    pack
        Turns a chunk of items into what is sent for it (one element per item), called in
        this process just before the chunk leaves, so that only the chunks on their way are
        held in memory at once (items can be cheap keys, ``pack`` loads their data).

    Returns
    -------
    list of Outcome

    Examples
    --------
    >>> def scaled(factor, x):
    ...     return factor * x
    >>> [o.value for o in run(scaled, [1, 2, 3], shared=10, progress=False)]
    [10, 20, 30]
    >>> run(scaled, ["a", None], shared=2.5, progress=False)[1].error
    "TypeError: unsupported operand type(s) for *: 'float' and 'NoneType'"
    """
    n_jobs = check_n_jobs(n_jobs)
    backend = check_backend(backend, client)
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
    ):
        raise ArgumentTypeError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    items = list(items)
    if pack is None:
        pack = list
    bar = progress_bar(len(items), desc, progress, unit=unit)
    token = uuid.uuid4().hex
    try:
        with _blas_limit(blas_threads):
            if backend == "dask":
                parts = _run_dask(
                    func, items, pack, shared, setup, client, chunk_size, max_chunk,
                    blas_threads, token, bar,
                )  # fmt: skip
            elif n_jobs == 1:
                parts = _run_local(func, items, pack, shared, setup, chunk_size, max_chunk, bar)
            else:
                parts = _run_joblib(
                    func, items, pack, shared, setup, n_jobs, backend, chunk_size, max_chunk,
                    blas_threads, token, bar,
                )  # fmt: skip
    finally:
        bar.close()
        _forget(token)
    return [o for part in parts for o in part]


def _run_local(
    func: Callable[[Any, Any], Any],
    items: list[Any],
    pack: Callable[[list[Any]], list[Any]],
    shared: Any,
    setup: Callable[[Any], Any] | None,
    chunk_size: int | None,
    max_chunk: int,
    bar: Any,
) -> list[list[Outcome]]:
    state = setup(shared) if setup is not None else shared
    parts = []
    for c in _chunks(len(items), chunk_size or max_chunk):
        part = []
        for packed in pack([items[i] for i in c]):
            part.append(_call(func, state, packed))
            bar.update(1)
        parts.append(part)
    return parts


@contextlib.contextmanager
def _pickled(shared: Any) -> Iterator[_PickleFile]:
    import cloudpickle

    fd, path = tempfile.mkstemp(prefix="lmeformula-", suffix=".pkl")
    try:
        with os.fdopen(fd, "wb") as fh:
            cloudpickle.dump(shared, fh, protocol=pickle.HIGHEST_PROTOCOL)
        yield _PickleFile(path)
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)


def _run_joblib(
    func: Callable[[Any, Any], Any],
    items: list[Any],
    pack: Callable[[list[Any]], list[Any]],
    shared: Any,
    setup: Callable[[Any], Any] | None,
    n_jobs: int,
    backend: str,
    chunk_size: int | None,
    max_chunk: int,
    blas_threads: int | None,
    token: str,
    bar: Any,
) -> list[list[Outcome]]:
    from joblib import Parallel, cpu_count, delayed

    workers = cpu_count() if n_jobs < 0 else n_jobs
    size = chunk_size or _default_chunk(len(items), workers, max_chunk)
    chunks = _chunks(len(items), size)
    parts: list[list[Outcome]] = []
    with contextlib.ExitStack() as stack:
        source: Any = (
            _InProcess(shared) if backend == "threading" else stack.enter_context(_pickled(shared))
        )
        runner = Parallel(n_jobs=n_jobs, backend=backend, return_as="generator")
        tasks = (
            delayed(_run_chunk)(
                func, setup, token, source, pack([items[i] for i in c]), blas_threads
            )
            for c in chunks
        )
        for part in runner(tasks):
            parts.append(part)
            bar.update(len(part))
    return parts


def _run_dask(
    func: Callable[[Any, Any], Any],
    items: list[Any],
    pack: Callable[[list[Any]], list[Any]],
    shared: Any,
    setup: Callable[[Any], Any] | None,
    client: Any,
    chunk_size: int | None,
    max_chunk: int,
    blas_threads: int | None,
    token: str,
    bar: Any,
) -> list[list[Outcome]]:
    from distributed import as_completed

    client = _dask_client(client)
    workers = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
    size = chunk_size or _default_chunk(len(items), workers, max_chunk)
    chunks = _chunks(len(items), size)
    # The shared object once to every worker; each chunk once, to the worker that runs it,
    # and only a few chunks per worker on their way at a time.
    [shared_f] = client.scatter([shared], broadcast=True, hash=False)
    in_flight = max(2, 2 * workers)
    parts: list[list[Outcome] | None] = [None] * len(chunks)
    index: dict[str, int] = {}
    live: list[Any] = [shared_f]

    def submit(k: int) -> Any:
        fut = client.submit(
            _run_chunk,
            func,
            setup,
            token,
            shared_f,
            pack([items[i] for i in chunks[k]]),
            blas_threads,
            pure=False,
        )
        index[fut.key] = k
        live.append(fut)
        return fut

    try:
        pending = as_completed([submit(k) for k in range(min(in_flight, len(chunks)))])
        nxt = min(in_flight, len(chunks))
        for done in pending:
            k = index[done.key]
            parts[k] = done.result()
            bar.update(len(chunks[k]))
            done.release()
            if nxt < len(chunks):
                pending.add(submit(nxt))
                nxt += 1
    finally:
        client.cancel(live)
        with contextlib.suppress(Exception):
            client.run(_forget, token)
    return [p for p in parts if p is not None]
