"""Which data columns a formula refers to, in order of first appearance."""

from __future__ import annotations

from collections.abc import Sequence

from lmeformula.formula.nodes import Dot, Expr, Name, children
from lmeformula.formula.render import R_CONSTANTS

__all__ = ["column_names"]


def column_names(node: Expr | None, dot_columns: Sequence[str] | None = None) -> list[str]:
    """Every column named in ``node``, each once, in the order written.

    Function names and named-argument names are not nodes, so they never count; nor do
    R's constants (``pi``, ``TRUE``, ...) unless backticked, or R's contrast functions
    (``contr.sum``). ``.`` counts as ``dot_columns``, when known.
    """
    found: list[str] = []
    if node is not None:
        _walk(node, dot_columns, found)
    return list(dict.fromkeys(found))


def _walk(node: Expr, dot_columns: Sequence[str] | None, found: list[str]) -> None:
    if isinstance(node, Name):
        constant = node.name in R_CONSTANTS or node.name.startswith("contr.")
        if node.backticked or not constant:
            found.append(node.name)
        return
    if isinstance(node, Dot):
        found.extend(dot_columns or ())
        return
    for child in children(node):
        _walk(child, dot_columns, found)
