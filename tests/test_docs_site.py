"""The documentation site's sources hold together, without Sphinx installed.

The API reference (``docs/api/*.rst``) is written by hand, by topic; these tests read its
directives (``currentmodule``, ``autosummary`` entries, ``automodule``, ``autodata``, ...)
as Sphinx would and check that every public name is listed, so that a name added to
``lmeformula.__all__`` fails here until it has its place in the reference. They also check
that each toctree entry and each relative link of the Markdown pages (and of the README)
points at a file. The full build (``python -m sphinx -W -n -b html docs docs/_build/html``,
docs/README.md) runs in CI.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import lmeformula

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
API = DOCS / "api"
# The modules of ``lmeformula.__all__`` whose own ``__all__`` the reference lists too.
MODULES = ("families", "datasets", "inference", "plots", "errors")

_DIRECTIVE = re.compile(r"^(\s*)\.\. ([\w:-]+)::\s*(.*?)\s*$")
_NAMED = {"automodule", "autodata", "autofunction", "autoclass", "autoexception", "data"}


def _documented(paths: list[Path]) -> set[str]:
    """The fully qualified names the reST files document, as Sphinx resolves them."""
    names: set[str] = set()
    for path in paths:
        module = ""
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            match = _DIRECTIVE.match(lines[i])
            i += 1
            if not match:
                continue
            indent, directive, argument = match.groups()
            if directive in ("currentmodule", "py:currentmodule", "module", "py:module"):
                module = argument
                if directive.endswith("module") and "current" not in directive:
                    names.add(argument)
            elif directive in _NAMED or directive.removeprefix("py:") in _NAMED:
                full = argument if "." in argument or not module else f"{module}.{argument}"
                names.add(full)
                if directive == "automodule":
                    module = argument
            elif directive == "autosummary":
                # The entries: the lines indented under the directive, after its options.
                while i < len(lines) and (
                    not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)
                ):
                    entry = lines[i].strip()
                    i += 1
                    if entry and not entry.startswith(":"):
                        entry = entry.lstrip("~")
                        qualified = entry.startswith("lmeformula") or not module
                        names.add(entry if qualified else f"{module}.{entry}")
    return names


DOCUMENTED = _documented(sorted(API.glob("*.rst")))


def test_the_reader_finds_the_reference() -> None:
    # The parser sees the directives, not an empty set.
    assert {"lmeformula.lmer", "lmeformula.families.binomial"} <= DOCUMENTED


@pytest.mark.parametrize("name", sorted(lmeformula.__all__))
def test_every_public_name_is_in_the_api_reference(name: str) -> None:
    assert f"lmeformula.{name}" in DOCUMENTED, (
        f"lmeformula.{name} is public (lmeformula.__all__) but docs/api/index.rst does not "
        "list it: add it to the autosummary of its topic."
    )


@pytest.mark.parametrize("module", MODULES)
def test_every_name_of_the_public_modules_is_in_the_api_reference(module: str) -> None:
    mod = importlib.import_module(f"lmeformula.{module}")
    missing = [
        name
        for name in mod.__all__
        if f"lmeformula.{module}.{name}" not in DOCUMENTED
        # An error that is also at the top level is documented there once.
        and not (
            f"lmeformula.{name}" in DOCUMENTED
            and getattr(lmeformula, name, None) is getattr(mod, name)
        )
    ]
    assert f"lmeformula.{module}" in DOCUMENTED
    assert not missing, f"docs/api/index.rst does not list lmeformula.{module}: {missing}"


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_every_name_the_reference_lists_exists(name: str) -> None:
    # What Sphinx would fail to import (a typo, a name removed from the package).
    parts = name.split(".")
    obj: object = importlib.import_module(parts[0])
    for k, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: k + 1]))


def test_result_classes_get_a_page_per_method() -> None:
    # The class template lists a class's own methods, each with its page (autosummary).
    template = (DOCS / "_templates" / "autosummary" / "class.rst").read_text(encoding="utf-8")
    assert "own_methods" in template and ":toctree:" in template
    for cls in (lmeformula.LmerResult, lmeformula.GlmerResult):
        assert f"lmeformula.{cls.__name__}" in DOCUMENTED
        assert [m for m in vars(cls) if not m.startswith("_") and callable(vars(cls)[m])]


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def _toctree_entries(text: str) -> list[str]:
    entries = []
    for block in re.findall(r"```\{toctree\}\n(.*?)```", text, re.S):
        entries += [line.strip() for line in block.splitlines() if line.strip() and line[0] != ":"]
    return entries


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_toctree_entries_exist(page: Path) -> None:
    for entry in _toctree_entries(page.read_text(encoding="utf-8")):
        base = DOCS if entry.startswith("/") else page.parent
        target = base / entry.lstrip("/")
        if "*" in entry:
            assert list(target.parent.glob(target.name)), (page, entry)
        else:
            suffixes = (".md", ".rst", ".ipynb")
            assert any(target.with_name(target.name + s).is_file() for s in suffixes), (
                page,
                entry,
            )


def test_every_notebook_is_an_example() -> None:
    # docs/notebooks links to the repository's notebooks/ (rendered as stored), and the
    # examples page's glob takes them all.
    assert (DOCS / "notebooks").resolve() == (ROOT / "notebooks").resolve()
    assert "notebooks/*" in _toctree_entries((DOCS / "examples.md").read_text(encoding="utf-8"))
    assert list((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize(
    "page", [ROOT / "README.md", *_pages()], ids=lambda p: str(p.relative_to(ROOT))
)
def test_relative_links_point_at_files(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        assert (page.parent / path).exists(), f"{page.name}: {target}"
