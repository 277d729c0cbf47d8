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
            stack.extend(reversed(list(children(item))))
    return list(dict.fromkeys(found))
