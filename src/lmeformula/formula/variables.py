"""Which data columns a formula refers to, in order of first appearance."""

from __future__ import annotations

from collections.abc import Sequence

from lmeformula.formula.nodes import Call, Dot, Expr, Name, children
from lmeformula.formula.render import R_CONSTANTS

__all__ = ["CONTRAST_WORDS", "column_names"]

#: Bare names that R's ``C(f, contr)`` reads as a coding's name (``C(f, sum)`` is
#: ``C(f, contr.sum)``), whatever the data's columns.
CONTRAST_WORDS: frozenset[str] = frozenset({"poly", "helmert", "sum", "treatment", "SAS"})


def _contrast_word(node: Call) -> Expr | None:
    """The coding argument of ``C(f, sum)`` when it is one of R's bare names."""
    if node.func != "C" or node.backticked:
        return None
    positional = [a.value for a in node.args if a.name is None]
    named = [a.value for a in node.args if a.name == "contr"]
    value = named[0] if named else positional[1] if len(positional) > 1 else None
    if isinstance(value, Name) and not value.backticked and value.name in CONTRAST_WORDS:
        return value
    return None


def column_names(node: Expr | None, dot_columns: Sequence[str] | None = None) -> list[str]:
    """Every column named in ``node``, each once, in the order written.

    Function names and named-argument names are not nodes, so they never count; nor do
    R's constants (``pi``, ``TRUE``, ...) unless backticked, or R's contrast functions
    (``contr.sum``, and ``sum`` in ``C(f, sum)``). ``.`` counts as ``dot_columns``, when
    known.
    """
    found: list[str] = []
    # Depth first, in the order written, with a stack rather than recursion.
    stack: list[Expr] = [] if node is None else [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Name):
            constant = item.name in R_CONSTANTS or item.name.startswith("contr.")
            if item.backticked or not constant:
                found.append(item.name)
        elif isinstance(item, Dot):
            found.extend(dot_columns or ())
        else:
            word = _contrast_word(item) if isinstance(item, Call) else None
            stack.extend(reversed([c for c in children(item) if c is not word]))
    return list(dict.fromkeys(found))
