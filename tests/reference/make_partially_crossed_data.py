"""Writes tests/reference/partially_crossed.csv: subjects crossed with items, most pairs absent.

60 subjects each see 12 of 40 items (30% of the pairs), chosen at random, so the design is
crossed but not balanced and the subject x item table has empty cells. Subjects and items
have random intercepts and random slopes on the trial covariate ``x``. Numbers are written
rounded, so R and Python read the same values from the text. Run from the repository root:
``python3 tests/reference/make_partially_crossed_data.py``; then
``Rscript tests/reference/make_partially_crossed.R`` for the lme4 values.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

SUBJECTS, ITEMS, PER_SUBJECT = 60, 40, 12


def make() -> pd.DataFrame:
    """The deterministic data set (numpy's PCG64 with seed 20261122)."""
    rng = np.random.default_rng(20261122)
    subj = np.repeat(np.arange(SUBJECTS), PER_SUBJECT)
    item = np.concatenate(
        [np.sort(rng.choice(ITEMS, PER_SUBJECT, replace=False)) for _ in range(SUBJECTS)]
    )
    x = np.round(rng.normal(size=subj.size), 3)
    # Subject intercepts and slopes correlated (0.4); item intercepts and slopes independent.
    cov_s = np.array([[0.8**2, 0.4 * 0.8 * 0.3], [0.4 * 0.8 * 0.3, 0.3**2]])
    bs = rng.multivariate_normal(np.zeros(2), cov_s, size=SUBJECTS)
    bi = rng.normal(size=(ITEMS, 2)) * np.array([0.5, 0.25])
    y = (
        2.0
        + 0.5 * x
        + bs[subj, 0]
        + bs[subj, 1] * x
        + bi[item, 0]
        + bi[item, 1] * x
        + rng.normal(size=subj.size)
    )
    return pd.DataFrame(
        {
            "subj": [f"s{s + 1:02d}" for s in subj],
            "item": [f"i{i + 1:02d}" for i in item],
            "x": x,
            "y": np.round(y, 4),
        }
    )


if __name__ == "__main__":
    out = Path(__file__).parent / "partially_crossed.csv"
    # Labels quoted as R's write.csv quotes them, so both sides read them as labels.
    make().to_csv(out, index=False, quoting=csv.QUOTE_NONNUMERIC)
