"""The code stays ruff-clean (lint and format) and mypy-clean, as the project's style requires."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_lint() -> None:
    proc = _ruff("check", "src", "tests", "benchmarks", "notebooks")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format() -> None:
    proc = _ruff("format", "--check", "src", "tests", "benchmarks", "notebooks")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy() -> None:
    # The package's type hints hold (pyproject.toml's [tool.mypy]).
    proc = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
