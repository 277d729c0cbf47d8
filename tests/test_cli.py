"""Tests of the ``lmeformula`` command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import lmeformula
from lmeformula import datasets
from lmeformula.cli import main
from lmeformula.errors import FormulaError

DATA = Path(__file__).resolve().parents[1] / "data"


class FakeFit:
    """What the CLI needs from a fit: ``summary()`` and ``tidy()``."""

    def summary(self) -> str:
        return "SUMMARY TEXT"

    def tidy(self) -> pd.DataFrame:
        return pd.DataFrame({"term": ["(Intercept)"], "estimate": [1.5], "df": [None]})


@pytest.fixture
def fake_lmer(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace ``lmeformula.lmer`` and record how the CLI called it."""
    calls: list[dict[str, Any]] = []

    def lmer(formula: str, data: pd.DataFrame, **kwargs: Any) -> FakeFit:
        calls.append({"formula": formula, "data": data, **kwargs})
        return FakeFit()

    monkeypatch.setattr(lmeformula, "lmer", lmer, raising=False)
    return calls


def test_fit_reads_csv_as_datasets_does(
    fake_lmer: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["fit", "Reaction ~ Days + (Days | Subject)", "--data", str(DATA / "sleepstudy.csv")]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert out == "SUMMARY TEXT\n"
    (call,) = fake_lmer
    assert call["formula"] == "Reaction ~ Days + (Days | Subject)"
    assert call["reml"] is True
    assert call["data_name"] == "sleepstudy.csv"
    pd.testing.assert_frame_equal(call["data"], datasets.load("sleepstudy"))


def test_fit_ml_and_tidy(
    fake_lmer: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["fit", "y ~ 1 + (1 | Batch)", "--data", str(DATA / "dyestuff.csv"), "--ml", "--tidy"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("SUMMARY TEXT\n")
    assert "(Intercept)" in out
    assert "NA" in out  # missing tidy cells print as R's NA
    assert fake_lmer[0]["reml"] is False


def test_lmeformula_error_prints_message_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def lmer(formula: str, data: pd.DataFrame, **kwargs: Any) -> FakeFit:
        raise FormulaError("unexpected ')'")

    monkeypatch.setattr(lmeformula, "lmer", lmer, raising=False)
    code = main(["fit", "y ~ x)", "--data", str(DATA / "dyestuff.csv")])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.err == "error: unexpected ')'\n"
    assert captured.out == ""


def test_missing_data_file_is_an_error(
    fake_lmer: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["fit", "y ~ x", "--data", str(tmp_path / "nope.csv")])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: cannot read data file")
    assert fake_lmer == []


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["fit", "y ~ x"]) == 2  # --data is required
    assert main(["frobnicate"]) == 2
    assert "usage: lmeformula" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "demo" in out
    assert "fit" in out


def test_python_dash_m_runs_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lmeformula", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "usage: lmeformula" in proc.stdout


def test_demo_prints_lme4_summary_and_tidy_table(capsys: pytest.CaptureFixture[str]) -> None:
    """The real demo: fits the seed example (needs lmeformula.lmer)."""
    try:
        from lmeformula import lmer  # noqa: F401
    except ImportError:
        pytest.skip("lmeformula.lmer is not available yet")
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Linear mixed model fit by REML ['lmerMod']\n")
    assert "Formula: normexam ~ standLRT + (1 + standLRT | school)\n" in out
    assert "   Data: exam\n" in out
    assert "REML criterion at convergence: 9327.6\n" in out
    assert "Number of obs: 4059, groups:  school, 65\n" in out
    assert "Correlation of Fixed Effects:" in out
    assert "standLRT" in out.split("Correlation of Fixed Effects:")[1]
    # Then the tidy table, one row per fixed effect and variance component.
    assert "sd__(Intercept)" in out
    assert "sd__Observation" in out
