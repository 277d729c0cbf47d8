"""Tests of lmeformula.datasets: R's CSV files read back as R meant them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lmeformula import datasets
from lmeformula.errors import DataError, LmeFormulaError

ROOT = Path(__file__).resolve().parents[1]
ALL = [
    "bodyweight",
    "cake",
    "cbpp",
    "chickweight",
    "contraception",
    "dyestuff",
    "exam",
    "gammasim",
    "grouseticks",
    "insteval",
    "machines",
    "orthodont",
    "ovary",
    "owls",
    "pastes",
    "penicillin",
    "salamanders",
    "sleepstudy",
    "verbagg",
    "wheat2",
]


def test_names_lists_every_shipped_csv() -> None:
    assert datasets.names() == ALL


def test_package_copy_matches_top_level_data_folder() -> None:
    # Both copies are kept; they must not drift apart.
    for name in ALL:
        shipped = ROOT / "src" / "lmeformula" / "data" / f"{name}.csv"
        top = ROOT / "data" / f"{name}.csv"
        assert shipped.read_bytes() == top.read_bytes(), name


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("exam", (4059, 10)),
        ("sleepstudy", (180, 3)),
        ("dyestuff", (30, 2)),
        ("penicillin", (144, 3)),
        ("pastes", (60, 4)),
        ("insteval", (73421, 7)),
        ("orthodont", (108, 4)),
        ("ovary", (308, 3)),
        ("bodyweight", (176, 4)),
        ("machines", (54, 3)),
        ("cake", (270, 5)),
    ],
)
def test_shapes(name: str, shape: tuple[int, int]) -> None:
    assert datasets.load(name).shape == shape


def test_exam_school_is_a_label_not_a_number() -> None:
    exam = datasets.load("exam")
    assert exam["school"].iloc[0] == "1"
    assert {"1", "10", "65"} <= set(exam["school"])
    assert exam["school"].nunique() == 65
    assert exam["student"].map(type).eq(str).all()
    for col in ["normexam", "standLRT", "schavg"]:
        assert pd.api.types.is_float_dtype(exam[col]), col
    for col in ["schgend", "vr", "intake", "sex", "type"]:
        assert exam[col].map(type).eq(str).all(), col


def test_sleepstudy_columns() -> None:
    sleep = datasets.load("sleepstudy")
    assert sleep.columns.tolist() == ["Reaction", "Days", "Subject"]
    assert sleep["Subject"].iloc[0] == "308"
    assert pd.api.types.is_numeric_dtype(sleep["Reaction"])
    assert pd.api.types.is_integer_dtype(sleep["Days"])
    assert sleep["Subject"].nunique() == 18


def test_quoted_numbers_stay_strings_and_bare_numbers_are_numeric() -> None:
    cake = datasets.load("cake")
    # "temperature" is R's ordered factor written as "175"; "temp" is its numeric twin.
    assert cake["temperature"].iloc[0] == "175"
    assert cake["replicate"].iloc[0] == "1"
    assert pd.api.types.is_integer_dtype(cake["temp"])
    insteval = datasets.load("insteval")
    assert insteval["d"].iloc[0] == "1002"
    assert pd.api.types.is_integer_dtype(insteval["service"])
    assert pd.api.types.is_integer_dtype(insteval["y"])


def test_r_spelling_of_names_is_accepted() -> None:
    assert datasets.load("Dyestuff").equals(datasets.load("dyestuff"))
    assert datasets.load("InstEval").shape == (73421, 7)
    assert datasets.load(" Orthodont ").shape == (108, 4)


def test_each_call_returns_a_fresh_frame() -> None:
    first = datasets.load("dyestuff")
    first.loc[0, "Yield"] = -1
    first["extra"] = 1
    second = datasets.load("dyestuff")
    assert second.loc[0, "Yield"] == 1545
    assert "extra" not in second.columns
    assert second is not datasets.load("dyestuff")


def test_unknown_name_lists_available_datasets() -> None:
    with pytest.raises(DataError) as info:
        datasets.load("iris")
    message = str(info.value)
    assert "'iris'" in message
    for name in ALL:
        assert name in message
    assert isinstance(info.value, LmeFormulaError)
    assert isinstance(info.value, ValueError)


def test_non_string_name_is_a_data_error() -> None:
    with pytest.raises(DataError, match="string"):
        datasets.load(3)  # type: ignore[arg-type]


def test_read_csv_quoting_decides_types(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        '"y","g","x","label"\n1.5,NA,NA,"a, b"\n2.5,"01",3,"c ""quoted"""\nNA,"10",4,"d"\n'
    )
    df = datasets.read_csv(path)
    # g's first value is NA; its first real value is quoted, so it is a label column.
    assert df["g"].tolist()[1:] == ["01", "10"]
    assert pd.isna(df["g"].iloc[0])
    assert pd.api.types.is_float_dtype(df["x"])
    assert pd.isna(df["x"].iloc[0])
    assert pd.api.types.is_float_dtype(df["y"])
    assert pd.isna(df["y"].iloc[2])
    assert df["label"].tolist() == ["a, b", 'c "quoted"', "d"]


def test_read_csv_without_quotes_uses_pandas_inference(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("y,g\n1.0,a\n2.0,b\n")
    df = datasets.read_csv(path)
    assert df["g"].tolist() == ["a", "b"]
    assert pd.api.types.is_float_dtype(df["y"])


def test_read_csv_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        datasets.read_csv(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        datasets.read_csv(empty)
