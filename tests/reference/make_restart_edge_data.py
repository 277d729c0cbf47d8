"""Writes tests/reference/restart_edge.csv: a random-slope design where lme4 needs restart_edge.

17 groups of 3 observations; the slope variance is small (SD 0.1 against a residual SD of
1), so BOBYQA from lme4's start stops with the slope's θ on its bound 0 although the ML
deviance falls when it leaves 0; lme4's ``restart_edge`` then finds the interior optimum.
Found by simulating such designs with numpy's PCG64 seeds 0, 1, ... and keeping the first
where that happens (seed 173). Run from the repository root:
``python3 tests/reference/make_restart_edge_data.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def make(seed: int = 173) -> pd.DataFrame:
    """The data set: ``y ~ x + (x | g)`` with intercept SD 1 and slope SD 0.1."""
    rng = np.random.default_rng(seed)
    ng, m = rng.integers(5, 20), rng.integers(3, 10)
    g = np.repeat(np.arange(ng), m)
    x = np.tile(np.arange(m), ng) - m / 2
    # The draws in the search's order (intercepts, slope SD, slopes, residuals).
    intercepts = rng.normal(size=ng)
    slope_sd = rng.choice([0.02, 0.05, 0.1])
    slopes = slope_sd * rng.normal(size=ng)
    y = intercepts[g] + slopes[g] * x + 0.3 * x + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


if __name__ == "__main__":
    # Full precision (shortest round-trip repr), so R reads the same doubles.
    make().to_csv(Path(__file__).parent / "restart_edge.csv", index=False)
