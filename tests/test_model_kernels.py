"""The model stage's compiled passes (model/model_kernels.pyx) against numpy: the scaled
QR of [X y] that the estimability checks read (the scaling, the norms, the centred sum of
squares and |R|'s diagonal), and the columns' peaks that the magnitude checks read, on a
table of designs; the coding of text kept as Python objects against pandas' factorize."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as la

from lmeformula.model.frame import code_array
from lmeformula.model.model_kernels import column_peaks, object_codes, scaled_qr


def _design(case: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 57
    one, x = np.ones(n), rng.normal(size=n)
    y = 2 + x + rng.normal(size=n)
    if case == "plain":
        return np.column_stack([one, x]), y
    if case == "a zero column":
        return np.column_stack([one, np.zeros(n), x]), y
    if case == "magnitudes 1e-150 and 1e150":
        return np.column_stack([one, 1e-150 * x, 1e150 * x**2]), 1e100 * y
    if case == "collinear":
        return np.column_stack([one, x, 2 * x - 1]), y
    if case == "fewer rows than columns":
        return rng.normal(size=(3, 5)), rng.normal(size=3)
    if case == "Fortran order":
        return np.asfortranarray(np.column_stack([one, x, x**2])), y
    if case == "strided rows and columns":
        wide = np.column_stack([one, x, x**2, x**3])
        return wide[::2, ::2], y[::2]
    if case == "one row":
        return np.array([[1.0, 4.0]]), np.array([3.0])
    raise KeyError(case)


CASES = [
    "plain",
    "a zero column",
    "magnitudes 1e-150 and 1e150",
    "collinear",
    "fewer rows than columns",
    "Fortran order",
    "strided rows and columns",
    "one row",
]


@pytest.mark.parametrize("case", CASES)
def test_scaled_qr_as_numpy_computes_it(case: str) -> None:
    X, y = _design(case)
    A = np.column_stack([X, y])
    scale = np.abs(A).max(axis=0)
    scale[scale == 0] = 1.0
    A = A / scale
    qr, norms, tss, constant = scaled_qr(X, y)
    assert constant == (np.ptp(y) == 0)
    np.testing.assert_allclose(norms, np.linalg.norm(A, axis=0), rtol=1e-13)
    assert tss == pytest.approx(
        float(np.sum((A[:, -1] - A[:, -1].mean()) ** 2)), rel=1e-12, abs=1e-300
    )
    R = np.triu(qr[: min(A.shape)])
    expected = la.qr(A, mode="r")[0][: min(A.shape)]
    # What the checks read of any column: R's column has the scaled column's norm.
    np.testing.assert_allclose(np.linalg.norm(R, axis=0), norms, rtol=1e-12)
    # R is unique up to the signs of its rows, up to the first column in the span of
    # those before it (its diagonal is rounding; the reflections after it are arbitrary).
    small = np.flatnonzero(np.abs(np.diagonal(expected)) < 1e-10)
    upto = int(small[0]) + 1 if small.size else A.shape[1]
    np.testing.assert_allclose(
        np.abs(R[:, :upto]), np.abs(expected[:, :upto]), rtol=1e-10, atol=1e-12
    )
    assert qr.shape == A.shape and qr.flags.f_contiguous


@pytest.mark.parametrize("case", CASES)
def test_column_peaks_as_numpy_computes_them(case: str) -> None:
    X, y = _design(case)
    A = np.column_stack([X, -y])
    A[0, 0] = np.nan  # passed over, as the magnitude checks want
    want = np.nanmax(np.abs(A), axis=0, initial=0.0)
    # Exact: a maximum of absolute values involves no rounding.
    np.testing.assert_array_equal(column_peaks(A), want)
    np.testing.assert_array_equal(column_peaks(X), np.abs(X).max(axis=0))


def test_column_peaks_of_no_rows_are_zero() -> None:
    np.testing.assert_array_equal(column_peaks(np.zeros((0, 3))), np.zeros(3))


def _texts(case: str) -> np.ndarray:
    rng = np.random.default_rng(5)
    if case == "grouping labels":
        return np.array([f"S{i}" for i in rng.integers(300, 372, 180)], dtype=object)
    if case == "multi-byte and empty strings":
        return np.array(["é", "", "日本", "e", "", "é", "z"] * 3, dtype=object)
    if case == "one level":
        return np.array(["a"] * 5, dtype=object)
    if case == "4,000 rows of 2,000 levels":
        return np.array([str(v) for v in rng.integers(0, 2000, 4000)], dtype=object)
    if case == "a strided view":
        return np.array([f"L{i % 7}" for i in range(40)], dtype=object)[::3]
    raise KeyError(case)


TEXTS = [
    "grouping labels",
    "multi-byte and empty strings",
    "one level",
    "4,000 rows of 2,000 levels",
    "a strided view",
]


@pytest.mark.parametrize("case", TEXTS)
def test_object_codes_as_pandas_factorize(case: str) -> None:
    values = _texts(case)
    codes, levels = object_codes(values)
    want_codes, want_levels = pd.factorize(values)  # first appearance, as ours
    np.testing.assert_array_equal(codes, want_codes)
    assert levels == list(want_levels)
    # Sorted, as the model frame codes a dict's text: pandas' sorted factorize.
    codes, sorted_levels = code_array(values)
    want_codes, want_levels = pd.factorize(values, sort=True)
    np.testing.assert_array_equal(codes, want_codes)
    assert sorted_levels == tuple(want_levels)


def test_code_array_leaves_other_objects_to_pandas() -> None:
    # Numbers among the objects: pandas' factorize, whose labels print as R's levels.
    codes, levels = code_array(np.array([2.0, 1.0, 2.0], dtype=object))
    assert codes.tolist() == [1, 0, 1] and levels == ("1", "2")


INTEGERS = [
    # (case, values, coded by the table: the range spans at most 4 n + 1024)
    ("subjects", np.array([308, 309, 308, 350, 309, 330]), True),
    ("negative and int8", np.array([5, 3, 5, -2], dtype=np.int8), True),
    ("uint32", np.array([3, 1, 3], dtype=np.uint32), True),
    ("one value", np.array([7, 7, 7]), True),
    ("a sparse range", np.array([1, 10**9, 1]), False),
    ("int64's ends", np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max]), False),
    ("beyond int64", np.array([2**63 + 5, 2**63 + 1], dtype=np.uint64), False),
]


@pytest.mark.parametrize(("case", "values", "table"), INTEGERS, ids=[c[0] for c in INTEGERS])
def test_integer_codes_as_numpy_unique(case: str, values: np.ndarray, table: bool) -> None:
    from lmeformula.model.model_kernels import integer_codes

    want_levels, want_codes = np.unique(values, return_inverse=True)
    got = integer_codes(values) if values.dtype != np.uint64 else None
    assert (got is not None) == table
    if got is not None:
        np.testing.assert_array_equal(got[0], want_codes)
        np.testing.assert_array_equal(got[1], want_levels)
    # Whichever way: the model frame's codes and R's level labels.
    codes, levels = code_array(values)
    np.testing.assert_array_equal(codes, want_codes)
    assert levels == tuple(str(v) for v in want_levels.tolist())
