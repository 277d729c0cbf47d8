"""Every docstring example of the package runs, on the package as it is imported.

The examples are collected from the imported ``lmeformula`` (the installed wheel in CI,
the editable tree in development), not from the source files, so a module or data file
missing from the wheel fails here too.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lmeformula

MODULES = [
    "lmeformula",
    *sorted(m.name for m in pkgutil.walk_packages(lmeformula.__path__, prefix="lmeformula.")),
]
# pandas pads the index-name row of a printed frame with blanks that editors strip.
FLAGS = doctest.NORMALIZE_WHITESPACE


def test_every_module_is_collected() -> None:
    # walk_packages sees the subpackages too, not only the top level.
    assert {"lmeformula.engines.laplace", "lmeformula.formula.parser"} <= set(MODULES)


def test_examples_are_found() -> None:
    # The finder sees the public functions' examples (lmer's, tidy's), not an empty set.
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = finder.find(importlib.import_module("lmeformula.fitting.api"))
    assert sum(len(t.examples) for t in found) >= 10


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in finder.find(module, name):
        # Examples defined in another module are run where they are defined.
        if test.filename and module.__file__ and test.filename != module.__file__:
            continue
        runner.run(test)
    failed = runner.summarize(verbose=False).failed
    assert failed == 0, capsys.readouterr().out
