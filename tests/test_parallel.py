"""The parallel map that fit_many, the bootstrap and the model searches share.

No R here: these are properties of the machinery (order, error capture, one setup per
worker, results independent of chunking), each of which a wrong implementation fails.
"""

from __future__ import annotations

import os
import threading
import uuid
import warnings
from typing import Any

import pytest

from lmeformula.errors import ArgumentTypeError
from lmeformula.fitting.parallel import Outcome, run


class _State:
    def __init__(self, shared: int) -> None:
        self.factor = shared
        self.serial = uuid.uuid4().hex


def _scaled(state: _State, x: Any) -> tuple[int, int, str]:
    if x == 3:
        raise ValueError("three is refused")
    if x == 4:
        warnings.warn("four is odd", UserWarning, stacklevel=1)
    # (value, the worker's process and thread, the state object): who ran it, with what.
    return state.factor * x, hash((os.getpid(), threading.get_ident())), state.serial


ITEMS = list(range(10))


def _values(outcomes: list[Outcome]) -> list[Any]:
    return [o.value[0] if o.ok else o.error for o in outcomes]


EXPECTED = [0, 7, 14, "ValueError: three is refused", 28, 35, 42, 49, 56, 63]


# Threads do not collect warnings (the filters are the process's): they show.
@pytest.mark.filterwarnings("ignore:four is odd")
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"chunk_size": 1},
        {"chunk_size": 4},
        {"n_jobs": 2, "backend": "threading", "chunk_size": 3},
        {"n_jobs": 2, "chunk_size": 3},
    ],
    ids=["serial", "serial-chunks-of-1", "serial-chunks-of-4", "threads", "loky"],
)
def test_ordered_outcomes_and_errors_per_item(kwargs: dict[str, Any]) -> None:
    out = run(_scaled, ITEMS, shared=7, setup=_State, progress=False, **kwargs)
    assert _values(out) == EXPECTED
    assert [o.ok for o in out].count(False) == 1


@pytest.mark.filterwarnings("ignore:four is odd")
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"n_jobs": 2, "backend": "threading", "chunk_size": 2}, {"n_jobs": 2, "chunk_size": 2}],
    ids=["serial", "threads", "loky"],
)
def test_setup_runs_once_per_worker(kwargs: dict[str, Any]) -> None:
    out = run(_scaled, ITEMS, shared=7, setup=_State, progress=False, **kwargs)
    workers = {o.value[1] for o in out if o.ok}
    states = {(o.value[1], o.value[2]) for o in out if o.ok}
    # Five chunks or more, but one state per worker.
    assert len(states) == len(workers)


def test_warnings_are_collected_in_a_main_thread() -> None:
    out = run(_scaled, ITEMS, shared=1, setup=_State, progress=False)
    assert out[4].warnings == [(UserWarning, "four is odd")]
    assert all(not o.warnings for i, o in enumerate(out) if i != 4)


def test_pack_loads_each_chunk_when_it_leaves() -> None:
    seen: list[list[int]] = []

    def pack(chunk: list[int]) -> list[int]:
        seen.append(chunk)
        return [10 * i for i in chunk]

    out = run(_scaled, [1, 2, 5], shared=1, setup=_State, pack=pack, chunk_size=2, progress=False)
    assert _values(out) == [10, 20, 50]
    assert seen == [[1, 2], [5]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_jobs": 0}, "n_jobs must be a positive integer"),
        ({"n_jobs": 1.5}, "n_jobs must be a positive integer"),
        ({"backend": "spark"}, "backend must be one of"),
        ({"client": object()}, "needs backend='dask'"),
        ({"chunk_size": 0}, "chunk_size must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ArgumentTypeError, match=match):
        run(_scaled, ITEMS, shared=1, progress=False, **kwargs)
