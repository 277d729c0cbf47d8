"""Render syntax trees as formulaic text (R translated to Python) or as R would deparse them.

Two dialects meet in a formulaic formula: the formula level (``+ - * / : **`` between
terms) and Python code inside function calls, which formulaic evaluates as Python. So
R's ``^`` becomes ``**`` everywhere, ``TRUE`` becomes ``True`` in arguments, and a dotted
R name such as ``my.var`` is backticked inside calls (Python would read an attribute).
"""

from __future__ import annotations

import keyword
from collections.abc import Sequence

from lmeformula.errors import FormulaError
from lmeformula.formula.nodes import (
    BAR_OPS,
    Binary,
    Call,
    Dot,
    Expr,
    Name,
    Number,
    Paren,
    String,
    Unary,
    find_bar,
)
from lmeformula.formula.source import Source
from lmeformula.formula.specials import SPECIALS, is_random_term

__all__ = ["R_CONSTANTS", "Renderer", "quote_column", "to_r"]

#: R names that are constants, not columns.
R_CONSTANTS: frozenset[str] = frozenset({"pi", "TRUE", "FALSE", "T", "F"})

_PY_CONSTANTS: dict[str, str] = {"TRUE": "True", "T": "True", "FALSE": "False", "F": "False"}
_PY_OPS: dict[str, str] = {"^": "**", "&&": "&"}
# Python's precedence of each operator as rendered; R's differs for '&' against
# comparisons and for '!', so operands are parenthesised by these numbers.
_PY_PREC: dict[str, int] = {
    "==": 5, "!=": 5, "<": 5, ">": 5, "<=": 5, ">=": 5,
    "&": 7, "&&": 7,
    "+": 11, "-": 11,
    "*": 12, "/": 12,
    "^": 14,
}  # fmt: skip
_PY_UNARY_PREC = 13
_PY_ATOM_PREC = 20
_COMPARISONS: frozenset[str] = frozenset({"==", "!=", "<", ">", "<=", ">="})
_FORMULA_OPS: frozenset[str] = frozenset({"+", "-", "*", "/", ":", "^"})
_R_TIGHT_OPS: frozenset[str] = frozenset({"/", ":", "^"})


def number_term_error(source: Source, node: Number) -> FormulaError:
    """The error for a number other than 0 or 1 standing as a formula term."""
    written = source.span(node.start, node.end)
    return source.error(
        f"the number {written!r} cannot be a term; only 0 and 1 (the intercept) can; for "
        f"arithmetic use I(), e.g. 'I({written} * x)'",
        node.start,
        written,
    )


def quote_column(name: str) -> str:
    """Write a column name for a formulaic formula, backticked unless it is a plain name."""
    plain = (
        bool(name)
        and (name[0].isalpha() or name[0] == "_")
        and all(ch.isalnum() or ch in "._" for ch in name)
    )
    return name if plain else f"`{name}`"


def _python_name(name: str) -> str:
    """Write a bare R name inside Python code, backticking what Python cannot read."""
    if name.startswith("contr."):
        # formulaic provides R's contrast functions as attributes of a 'contr' object.
        return name
    if name.isidentifier() and not keyword.iskeyword(name):
        return name
    return f"`{name}`"


class Renderer:
    """Formulaic text of formula expressions, raising on what has no meaning there.

    Parameters
    ----------
    source
        The formula, for error messages.
    dot_columns
        What ``.`` stands for, or ``None`` when the data's columns are unknown.
    """

    def __init__(self, source: Source, dot_columns: Sequence[str] | None = None) -> None:
        self.source = source
        self.dot_columns = dot_columns

    # -- formula level ------------------------------------------------------------------

    def term(self, node: Expr) -> str:
        """Formulaic text of ``node`` used as (part of) a formula term."""
        src = self.source
        if isinstance(node, Name):
            if node.backticked:
                return f"`{node.name}`"
            if node.name in R_CONSTANTS:
                raise src.error(
                    f"the R constant {node.name!r} cannot be a term of the formula; for a "
                    f"column with that name write `{node.name}` in backticks",
                    node.start,
                    node.name,
                )
            return node.name
        if isinstance(node, Number):
            if node.value in ("0", "1"):
                return node.value
            raise number_term_error(src, node)
        if isinstance(node, String):
            text = src.span(node.start, node.end)
            raise src.error(
                f"the string {text} cannot be a term; strings belong inside a function "
                f"call, e.g. 'dummy(f, {text})'",
                node.start,
                text,
            )
        if isinstance(node, Dot):
            return f"({self.dot_sum(node)})"
        if isinstance(node, Paren):
            return f"({self.term(node.body)})"
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Unary):
            return self.unary_term(node)
        return self.binary_term(node)

    def dot_sum(self, node: Dot) -> str:
        """Formulaic text of the columns ``.`` stands for, joined by ``+``."""
        if self.dot_columns is None:
            raise self.source.error(
                "'.' stands for the data's other columns, which are unknown here; pass "
                "the data's columns to the parser (parse(formula, columns=...)) or name "
                "the columns",
                node.start,
                ".",
            )
        if not self.dot_columns:
            raise self.source.error(
                "'.' stands for no column: every column is already the response or a "
                "grouping factor; remove the '.'",
                node.start,
                ".",
            )
        return " + ".join(quote_column(col) for col in self.dot_columns)

    def unary_term(self, node: Unary) -> str:
        src = self.source
        operand = src.span(node.operand.start, node.operand.end)
        if _contains_random(node.operand):
            raise src.error(
                f"a random term cannot be negated with {node.op!r}: {operand!r}; random "
                "terms can only be added with '+'; delete the term to drop it",
                node.start,
                node.op,
            )
        raise src.error(
            f"{node.op!r} in front of {operand!r} has no meaning here; '-' can only "
            "remove a whole term at the top level, e.g. 'y ~ a*b - a:b'",
            node.start,
            node.op,
        )

    def binary_term(self, node: Binary) -> str:
        src = self.source
        if node.is_bar:
            raise src.error(
                f"{node.op!r} outside a random term: a random term is written in "
                f"parentheses and added with '+', e.g. 'y ~ x + (1 {node.op} g)'",
                node.op_pos,
                node.op,
            )
        if node.op not in _FORMULA_OPS:
            raise src.error(
                f"the operator {node.op!r} between terms has no meaning in a formula; use "
                f"it inside a function, e.g. 'I(x {node.op} 0)'",
                node.op_pos,
                node.op,
            )
        for side in (node.left, node.right):
            if _contains_random(side):
                text = src.span(side.start, side.end)
                raise src.error(
                    f"the random term {text!r} is combined with {node.op!r}; random "
                    "terms can only be added at the top level with '+', e.g. "
                    "'y ~ x + (1 | g)'",
                    node.op_pos,
                    node.op,
                )
        if node.op == "^":
            exponent = node.right
            if not (isinstance(exponent, Number) and exponent.value.isdigit()):
                text = src.span(exponent.start, exponent.end)
                raise src.error(
                    f"the power {text!r} of '^' must be a whole number: '(a + b)^2' "
                    "crosses terms; to raise a value to a power write 'I(x^2)'",
                    exponent.start,
                    text,
                )
            return f"{self.term(node.left)} ** {exponent.value}"
        left = self.term(node.left)
        right = self.term(node.right)
        if node.op == ":":
            return f"{left}:{right}"
        return f"{left} {node.op} {right}"

    def call(self, node: Call) -> str:
        """Formulaic text of a function call; its arguments are Python code."""
        src = self.source
        for arg in node.args:
            bar = find_bar(arg.value)
            if bar is None:
                continue
            if node.func in SPECIALS and not node.backticked:
                text = src.span(node.start, node.end)
                raise src.error(
                    f"the random term {text!r} can only be added at the top level of "
                    "the formula with '+'",
                    node.start,
                    node.func,
                )
            known = ", ".join(SPECIALS)
            raise src.error(
                f"{bar.op!r} inside '{node.func}()': unknown covariance special "
                f"'{node.func}'; write a random term as '(lhs | g)' or with one of the "
                f"known covariance specials: {known}",
                node.start,
                node.func,
            )
        func = f"`{node.func}`" if node.backticked else node.func
        args = ", ".join(
            f"{arg.name}={self.python(arg.value)}" if arg.name else self.python(arg.value)
            for arg in node.args
        )
        return f"{func}({args})"

    # -- Python level -------------------------------------------------------------------

    def python(self, node: Expr) -> str:
        """Python text of ``node`` as an argument of a function call."""
        return self._python(node)[0]

    def _python(self, node: Expr) -> tuple[str, int]:
        """Python text of ``node`` and its Python precedence (to parenthesise correctly)."""
        src = self.source
        if isinstance(node, Name):
            if node.backticked:
                return f"`{node.name}`", _PY_ATOM_PREC
            text = _PY_CONSTANTS.get(node.name) or _python_name(node.name)
            return text, _PY_ATOM_PREC
        if isinstance(node, Number):
            return node.value, _PY_ATOM_PREC
        if isinstance(node, String):
            return repr(node.value), _PY_ATOM_PREC
        if isinstance(node, Dot):
            raise src.error(
                "'.' cannot be used inside a function call; name the columns instead",
                node.start,
                ".",
            )
        if isinstance(node, Paren):
            return f"({self.python(node.body)})", _PY_ATOM_PREC
        if isinstance(node, Call):
            return self.call(node), _PY_ATOM_PREC
        if isinstance(node, Unary):
            text, prec = self._python(node.operand)
            if prec < _PY_UNARY_PREC:
                text = f"({text})"
            op = "~" if node.op == "!" else node.op
            return f"{op}{text}", _PY_UNARY_PREC
        if node.op in BAR_OPS:
            raise src.error(
                f"{node.op!r} inside a function call: random terms are written "
                "'(lhs | g)' at the top level of the formula",
                node.op_pos,
                node.op,
            )
        if node.op == ":":
            raise src.error(
                "':' inside a function call is R's sequence operator, which is not "
                "supported; compute the values in a new column instead",
                node.op_pos,
                ":",
            )
        prec = _PY_PREC[node.op]
        left, left_prec = self._python(node.left)
        right, right_prec = self._python(node.right)
        # Python chains comparisons (a < b < c) where R nests them, and '**' is right-
        # associative: both need parentheses where R's tree has none.
        chain = node.op in _COMPARISONS or node.op == "^"
        if left_prec < prec or (chain and left_prec == prec):
            left = f"({left})"
        if right_prec < prec or (right_prec == prec and node.op != "^"):
            right = f"({right})"
        return f"{left} {_PY_OPS.get(node.op, node.op)} {right}", prec


def _contains_random(node: Expr) -> bool:
    """Whether a random term sits in ``node`` through parentheses, sums and signs."""
    if is_random_term(node):
        return True
    if isinstance(node, Paren):
        return _contains_random(node.body)
    if isinstance(node, Unary):
        return _contains_random(node.operand)
    if isinstance(node, Binary) and node.op in ("+", "-"):
        return _contains_random(node.left) or _contains_random(node.right)
    return False


def to_r(node: Expr) -> str:
    """The text of ``node`` as R's ``deparse`` writes it: ``1 + x | g``, ``a/b``."""
    if isinstance(node, Name):
        return _backticked(node.name) if node.backticked else node.name
    if isinstance(node, Number):
        return node.value
    if isinstance(node, String):
        escaped = node.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(node, Dot):
        return "."
    if isinstance(node, Paren):
        return f"({to_r(node.body)})"
    if isinstance(node, Call):
        func = _backticked(node.func) if node.backticked else node.func
        args = ", ".join(
            f"{arg.name} = {to_r(arg.value)}" if arg.name else to_r(arg.value) for arg in node.args
        )
        return f"{func}({args})"
    if isinstance(node, Unary):
        return f"{node.op}{to_r(node.operand)}"
    if node.op in _R_TIGHT_OPS:
        return f"{to_r(node.left)}{node.op}{to_r(node.right)}"
    return f"{to_r(node.left)} {node.op} {to_r(node.right)}"


def _backticked(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace("`", "\\`")
    return f"`{escaped}`"
