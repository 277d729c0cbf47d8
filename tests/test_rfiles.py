"""``lmf.read_r`` on R's own files: R's factor levels, ordered factors, and lmer on them.

The files are R's, written by tests/reference/make_rfiles.R (R 4.2.2, lme4 1.1.31, nlme
3.1.161), with what R says of them in tests/reference/rfiles.json (each entry carries the
R expression that made it, ``r_call``):

- rfiles_orthodont.rds: ``saveRDS(d)``, nlme's Orthodont (``levels(Orthodont$Sex)`` is
  Male, Female: not alphabetical; Subject is an ordered factor) with ``dose`` (levels low,
  mid, high) and the ordered ``grade`` (low < mid < high < top);
- rfiles.RData: ``save(model, orthodont, ages, contr4, notes, compress = "xz")``: that data
  frame after a fitted lmer model (an S4 object, on which librdata gives up), a numeric
  vector, a matrix and a list;
- rfiles_vector.rds: ``saveRDS(c(a = 1, b = 2))``.

Fits on the data read are held to R's fixed effects as in test_contrasts.py (1e-5 relative
or of the SE, SEs 1e-4 relative, logLik 1e-6; measured over all 21 fits: 3.3e-9, 3.3e-9, 7e-12).
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_contrasts import check_fit

import lmeformula as lmf

pytest.importorskip("pyreadr")

HERE = Path(__file__).parent / "reference"
REF = json.loads((HERE / "rfiles.json").read_text())
FITS = {case["id"]: case for case in REF["fits"]}
RDS, RDATA, VECTOR = (
    HERE / "rfiles_orthodont.rds",
    HERE / "rfiles.RData",
    HERE / "rfiles_vector.rds",
)


def test_levels_are_rs() -> None:
    # REF["levels"]: lapply(d[c("Subject", "Sex", "dose", "grade")], levels), is.ordered.
    data = lmf.read_r(RDS)
    assert isinstance(data, pd.DataFrame)
    assert data.shape == (108, 6)
    levels = REF["levels"]
    for name in ("Subject", "Sex", "dose", "grade"):
        assert data[name].cat.categories.tolist() == levels[name], name
        assert data[name].cat.ordered == levels["ordered"][name], name
    assert data["Sex"].cat.categories.tolist() == ["Male", "Female"]
    assert data["dose"].tolist() == REF["data"]["dose"]
    assert data["distance"].tolist() == REF["data"]["distance"]


def test_rdata_gives_its_data_frames() -> None:
    frames = lmf.read_r(RDATA)
    # model, ages, contr4 and notes are not data frames: left out.
    assert isinstance(frames, dict)
    assert list(frames) == ["orthodont"]
    pd.testing.assert_frame_equal(frames["orthodont"], lmf.read_r(RDS))
    one = lmf.read_r(RDATA, object="orthodont")
    assert isinstance(one, pd.DataFrame)
    assert one["grade"].cat.ordered


@pytest.mark.parametrize("cid", ["sex_levels", "dose_levels", "dose_no_intercept"])
def test_lmer_on_r_file_gives_rs_coefficients(cid: str) -> None:
    # R's names by R's levels: SexFemale (not SexMale), dosemid and dosehigh (not doselow).
    case = FITS[cid]
    check_fit(lmf.lmer(case["formula"], lmf.read_r(RDS)), case)


@pytest.mark.parametrize("cid", ["grade_ordered_poly", "grade_ordered_by_age"])
def test_ordered_factor_of_r_file_gets_contr_poly(cid: str) -> None:
    # grade.L, grade.Q, grade.C and age:grade.L, ... as R's default contrasts give them.
    case = FITS[cid]
    check_fit(lmf.lmer(case["formula"], lmf.read_r(RDATA, object="orthodont")), case)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"path": VECTOR}, lmf.DataError, ["rfiles_vector.rds", "numeric vector", "not a data"]),
        ({"path": RDATA, "object": "ages"}, lmf.DataError, ["'ages'", "numeric vector"]),
        ({"path": RDATA, "object": "contr4"}, lmf.DataError, ["'contr4'", "a matrix"]),
        ({"path": RDATA, "object": "model"}, lmf.DataError, ["'model'", "lmerModLmerTest"]),
        ({"path": RDATA, "object": "nope"}, lmf.DataError, ["'nope'", "'orthodont'", "'ages'"]),
        ({"path": RDS, "object": "d"}, lmf.DataError, [".rds file", "without object="]),
        ({"path": HERE / "no_such.rds"}, lmf.errors.DataFileNotFoundError, ["no_such.rds"]),
        ({"path": HERE}, lmf.errors.DataFileNotFoundError, ["is a directory"]),
        ({"path": HERE / "rfiles.json"}, lmf.DataError, ["rfiles.json", "could not be read"]),
    ],
    ids=["vector", "object-vector", "object-matrix", "object-model", "unknown-object",
         "object-of-rds", "missing", "directory", "not-r"],
)  # fmt: skip
def test_errors_name_the_culprit(kwargs: dict[str, Any], error: type, words: list[str]) -> None:
    with pytest.raises(error) as info:
        lmf.read_r(**kwargs)
    for word in words:
        assert word in str(info.value)
    assert isinstance(info.value, lmf.LmeFormulaError)


def test_missing_file_is_also_a_file_not_found_error() -> None:
    with pytest.raises(FileNotFoundError):
        lmf.read_r(HERE / "no_such.rds")


def test_without_pyreadr(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pyreadr(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pyreadr":
            raise ImportError("No module named 'pyreadr'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyreadr)
    with pytest.raises(lmf.errors.MissingDependencyError, match=r'pip install "lmeformula\[r\]"'):
        lmf.read_r(RDS)
    with pytest.raises(ImportError):
        lmf.read_r(RDS)


def test_classes_unreadable_warns_and_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    # Where R's classes cannot be read, pyreadr's frame comes with a warning that ordered
    # factors are not ordered.
    import lmeformula.rfiles as rfiles

    def unreadable(path: Path) -> Any:
        raise ValueError("an R object of type 99")

    monkeypatch.setattr(rfiles, "_contents", unreadable)
    with pytest.warns(lmf.LmeFormulaWarning, match="type 99.*ordered factors"):
        data = lmf.read_r(RDS)
    assert isinstance(data, pd.DataFrame)
    assert data["Sex"].cat.categories.tolist() == ["Male", "Female"]
    assert not data["grade"].cat.ordered
