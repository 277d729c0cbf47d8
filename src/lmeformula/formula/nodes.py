"""The syntax tree of a formula: small frozen dataclasses, each knowing its source span."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "BAR_OPS",
    "Arg",
    "Binary",
    "Call",
    "Dot",
    "Expr",
    "Formula",
    "Name",
    "Number",
    "Paren",
    "String",
    "Unary",
    "children",
    "find_bar",
    "unparen",
]

#: The random-effects bars: correlated ``|`` and uncorrelated ``||``.
BAR_OPS: frozenset[str] = frozenset({"|", "||"})


@dataclass(frozen=True)
class Name:
    """A name: a column, a constant such as ``pi`` or ``TRUE``, or ``contr.sum``."""

    start: int
    end: int
    name: str
    backticked: bool = False


@dataclass(frozen=True)
class Number:
    """A numeric literal; ``value`` is the text Python reads (``2L`` -> ``2``)."""

    start: int
    end: int
    value: str


@dataclass(frozen=True)
class String:
    """A string literal with quotes removed and escapes resolved."""

    start: int
    end: int
    value: str


@dataclass(frozen=True)
class Dot:
    """R's ``.``: every column not otherwise used."""

    start: int
    end: int


@dataclass(frozen=True)
class Paren:
    """Parentheses as written, kept so positions and R's deparsed text stay faithful."""

    start: int
    end: int
    body: Expr


@dataclass(frozen=True)
class Arg:
    """One argument of a call: ``value`` or ``name = value``."""

    start: int
    name: str | None
    value: Expr


@dataclass(frozen=True)
class Call:
    """A function call ``func(args)``; ``start`` is the function name's offset."""

    start: int
    end: int
    func: str
    args: tuple[Arg, ...]
    backticked: bool = False


@dataclass(frozen=True)
class Unary:
    """A prefix operator: ``-``, ``+`` or ``!``."""

    start: int
    end: int
    op: str
    operand: Expr


@dataclass(frozen=True)
class Binary:
    """A binary operator, bars included; ``op_pos`` is the operator's offset."""

    start: int
    end: int
    op: str
    op_pos: int
    left: Expr
    right: Expr

    @property
    def is_bar(self) -> bool:
        """Whether this is a random-effects bar ``|`` or ``||``."""
        return self.op in BAR_OPS


Expr = Name | Number | String | Dot | Paren | Call | Unary | Binary


@dataclass(frozen=True)
class Formula:
    """A whole formula ``lhs ~ rhs``; ``lhs`` is ``None`` when one-sided."""

    lhs: Expr | None
    rhs: Expr
    tilde_pos: int


def children(node: Expr) -> Iterator[Expr]:
    """Yield the direct sub-expressions of ``node`` in source order."""
    if isinstance(node, Paren):
        yield node.body
    elif isinstance(node, Unary):
        yield node.operand
    elif isinstance(node, Binary):
        yield node.left
        yield node.right
    elif isinstance(node, Call):
        for arg in node.args:
            yield arg.value


def unparen(node: Expr) -> Expr:
    """Strip redundant parentheses: ``((x))`` -> ``x``."""
    while isinstance(node, Paren):
        node = node.body
    return node


def find_bar(node: Expr) -> Binary | None:
    """Return the first bar anywhere inside ``node`` (itself included), or ``None``."""
    if isinstance(node, Binary) and node.is_bar:
        return node
    for child in children(node):
        found = find_bar(child)
        if found is not None:
            return found
    return None
