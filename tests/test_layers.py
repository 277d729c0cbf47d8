"""The package's layering, held by checks rather than by hand.

- import-linter's layers contract (``[tool.importlinter]`` in pyproject.toml): the face,
  then comparison | inference | plots, fitting, results, engines, model,
  structures | formula, validate, errors; a module imports from layers below its own only
  (results' facade methods, which hand over to inference, comparison and plots on first
  use, are the listed exception).
- ``import lmeformula`` imports neither statsmodels nor matplotlib.
- No module imports another module's private name, and no module outside
  ``lmeformula/results`` reads a private attribute of the fit (``LmerResult``,
  ``ModelState``): they read ``fit.state``, which is public.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "lmeformula"
ROOT = PACKAGE.parent.parent


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(f, ast.parse(f.read_text())) for f in sorted(PACKAGE.rglob("*.py"))]


def test_layers_contract() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    done = subprocess.run(
        [exe, "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_contract_catches_an_upward_import(tmp_path: Path) -> None:
    # The contract is not vacuous: the model layer reaching up into results breaks it.
    copy = tmp_path / "lmeformula"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("data", "__pycache__"))
    (copy / "model" / "frame.py").write_text(
        (copy / "model" / "frame.py").read_text()
        + "\nfrom lmeformula.results.state import ModelState  # noqa: E402,F401\n"
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    done = subprocess.run(
        [exe, "--config", str(tmp_path / "pyproject.toml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(tmp_path), "PATH": str(Path(exe).parent)},
    )
    assert done.returncode != 0
    assert "lmeformula.model.frame -> lmeformula.results.state" in done.stdout


@pytest.mark.parametrize("heavy", ["statsmodels", "matplotlib"])
def test_import_is_light(heavy: str) -> None:
    code = f"import sys, lmeformula; assert {heavy!r} not in sys.modules, {heavy!r}"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_no_private_name_is_imported_across_modules() -> None:
    found = [
        f"{f.relative_to(ROOT)}:{node.lineno}: {node.module}.{alias.name}"
        for f, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lmeformula")
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert not found, "\n".join(found)


def _private_fields(path: Path, classes: set[str]) -> set[str]:
    """The private attributes the classes set on themselves (``self._x = ...``)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name in classes):
        for node in ast.walk(cls):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and node.attr.startswith("_")
                and not node.attr.endswith("__")
            ):
                names.add(node.attr)
    return names


def test_no_module_outside_results_reads_the_fits_private_fields() -> None:
    private = _private_fields(PACKAGE / "results" / "lmer.py", {"LmerResult"})
    private |= _private_fields(PACKAGE / "results" / "state.py", {"ModelState"})
    assert "_cond_var" in private  # the scan sees LmerResult's own fields
    found = [
        f"{f.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"
        for f, tree in _modules()
        if "results" not in f.relative_to(PACKAGE).parts
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in private
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]
    assert not found, "\n".join(found)
