"""Every notebook in ``notebooks/`` must run top to bottom from a fresh kernel.

Needs the test extras ``nbformat``, ``nbclient`` and ``ipykernel``; without them the test
fails (it does not skip), so a missing dependency cannot hide a broken notebook.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell
REQUIRED = ("nbformat", "nbclient", "ipykernel")


def _require_extras() -> None:
    missing = []
    for name in REQUIRED:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        pytest.fail(
            f"running the notebooks needs {', '.join(missing)}: install the test extras "
            "(pip install -e '.[test]').",
            pytrace=False,
        )


def test_notebooks_exist() -> None:
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    _require_extras()
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}", pytrace=False)
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, f"{path.name} produced error outputs: {errors}"


def test_plot_shows_once_in_a_notebook() -> None:
    # lmeformula.plots makes figures without pyplot: one shows as the cell's value once
    # matplotlib-inline has registered its formatter (plots.py imports it under the inline
    # backend), and pyplot, which does not know the figure, does not show it a second time.
    _require_extras()
    import nbclient
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import lmeformula as lmf\n"
            "fit = lmf.lmer('Reaction ~ Days + (1 | Subject)', lmf.datasets.load('sleepstudy'))\n"
            "fit.plot_qq()"
        )
    ]
    nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["execute_result"]
    assert "image/png" in outputs[0]["data"]
