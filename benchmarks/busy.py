"""A moment of busy waiting before a timed block, on every side of a comparison.

A process that has just waited (on R, on a peer's process, on a sleep) runs its next few
milliseconds slower: the core has idled (its clock and caches cooled). Measured here: the
median of 41 sleepstudy fits was 0.22 ms after 0.3 s of busy waiting and 0.30-0.43 ms after
a 1 s sleep or a subprocess. A peer's driver times right after reading its data, busy;
lmeformula's timings came right after waiting on lme4 or on the peers. Every timed block
now starts after :func:`spin`.
"""

from __future__ import annotations

import time

__all__ = ["BUSY_SECONDS", "spin"]

#: Seconds of busy waiting before a timed block.
BUSY_SECONDS = 0.3


def spin(seconds: float = BUSY_SECONDS) -> None:
    """Keep this core busy for ``seconds`` (a loop on the clock, touching no data)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
