"""What a user installs: the package's files, and one version written everywhere it is shown.

In CI these tests run against the installed wheel, so a data file or ``py.typed`` left out
of the wheel fails here, not on a user's machine.
"""

from __future__ import annotations

import re
from importlib import metadata, resources
from pathlib import Path

import lmeformula as lmf

ROOT = Path(__file__).resolve().parent.parent


def test_installed_package_has_every_dataset_and_py_typed() -> None:
    installed = resources.files("lmeformula")
    assert installed.joinpath("py.typed").is_file()
    # The datasets of the top-level data/ folder (the copy CI and users download).
    for csv in sorted((ROOT / "data").glob("*.csv")):
        assert installed.joinpath("data", csv.name).is_file(), csv.name


def test_version_is_the_distributions() -> None:
    assert metadata.version("lmeformula") == lmf.__version__


def test_citation_and_changelog_carry_the_version() -> None:
    citation = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(lmf.__version__)}$", citation, re.M)
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{lmf.__version__}]" in changelog
    assert "## [Unreleased]" in changelog


def test_show_versions_prints_the_dependencies_and_blas(capsys) -> None:
    lmf.show_versions()
    out = capsys.readouterr().out
    assert out.startswith("INSTALLED VERSIONS")
    for name in ("lmeformula", "numpy", "scipy", "pandas", "statsmodels", "formulaic"):
        assert re.search(rf"^{name}\s+: \S", out, re.M), name
    assert "openblas" in out.lower() or "mkl" in out.lower() or "blis" in out.lower()
