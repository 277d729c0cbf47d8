"""Writes tests/reference/many_responses.csv: 40 responses on one design, for fit_many.

30 groups of 8 rows (240 rows), a covariate ``x`` and positive prior weights ``w``. The
responses ``y01`` ... ``y40`` follow y = 1 + 0.5 x + b0[g] + b1[g] x + e with random
intercept and slope SDs drawn per response (some slopes with no variance, so some fits are
singular). Missing values: ``y35`` and ``y36`` miss the same 12 rows, ``y37`` 5 other rows
(two patterns besides the complete one). Responses that no lmer fit can use: ``y38`` is
constant, ``y39`` is observed in one group only (a grouping factor needs 2 levels), and
``label`` is text. Numbers are written rounded, so R and Python read the same values from
the text. Run from the repository root: ``python3 tests/reference/make_many_data.py``; then
``Rscript tests/reference/make_fit_many.R`` for the lme4 values.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

GROUPS, PER_GROUP, RESPONSES = 30, 8, 40


def make() -> pd.DataFrame:
    """The deterministic data set (numpy's PCG64 with seed 20261129)."""
    rng = np.random.default_rng(20261129)
    g = np.repeat(np.arange(GROUPS), PER_GROUP)
    n = g.size
    x = np.round(rng.normal(size=n), 3)
    out = pd.DataFrame(
        {
            "g": [f"g{i + 1:02d}" for i in g],
            "x": x,
            "w": np.round(rng.uniform(0.5, 2.0, n), 3),
        }
    )
    for j in range(1, RESPONSES + 1):
        sd0 = rng.uniform(0.3, 1.5)
        sd1 = 0.0 if j % 5 == 0 else rng.uniform(0.0, 0.6)
        b0 = rng.normal(0.0, sd0, GROUPS)
        b1 = rng.normal(0.0, 1.0, GROUPS) * sd1
        y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(size=n)
        out[f"y{j:02d}"] = np.round(y, 4)
    rows = rng.permutation(n)
    out.loc[rows[:12], ["y35", "y36"]] = np.nan
    out.loc[rows[12:17], "y37"] = np.nan
    out["y38"] = 2.5
    out.loc[g != 0, "y39"] = np.nan
    out["label"] = np.where(g % 2 == 0, "a", "b")
    return out


if __name__ == "__main__":
    target = Path(__file__).parent / "many_responses.csv"
    # Labels quoted as R's write.csv quotes them; missing values as R writes them (NA).
    make().to_csv(target, index=False, quoting=csv.QUOTE_NONNUMERIC, na_rep="NA")
