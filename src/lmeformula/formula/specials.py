"""Covariance specials such as ``cs(x | g, hom = TRUE)``: which exist and what they mean."""

from __future__ import annotations

from dataclasses import dataclass

from lmeformula.formula.nodes import (
    Binary,
    Call,
    Expr,
    Name,
    Number,
    String,
    Unary,
    find_bar,
    unparen,
)
from lmeformula.formula.source import Source
from lmeformula.formula.terms import Structure

__all__ = ["SPECIALS", "Special", "is_random_term", "literal", "structure_of"]


@dataclass(frozen=True)
class Special:
    """One covariance special.

    Attributes
    ----------
    kind
        The structure's SAS name when the flag is absent or false.
    flag
        ``"hom"`` or ``"het"``: the logical argument that switches to ``flag_kind``.
    flag_kind
        The structure when ``flag`` is true.
    options
        Other named arguments the special accepts; their values go to
        :attr:`~lmeformula.formula.terms.Structure.options`.
    """

    kind: str
    flag: str | None = None
    flag_kind: str | None = None
    options: frozenset[str] = frozenset()

    def arguments(self) -> list[str]:
        """Every named argument this special accepts."""
        named = [self.flag] if self.flag else []
        return named + sorted(self.options)


#: Every covariance special, in the order the error messages list them.
SPECIALS: dict[str, Special] = {
    "us": Special("UN"),
    "diag": Special("DIAG", "hom", "ID"),
    "homdiag": Special("ID"),
    "cs": Special("CSH", "hom", "CS"),
    "homcs": Special("CS"),
    "ar1": Special("AR1", "het", "ARH1"),
    "hetar1": Special("ARH1"),
    "toep": Special("TOEPH", "hom", "TOEP"),
    "homtoep": Special("TOEP"),
}

_LOGICALS: dict[str, bool] = {"TRUE": True, "T": True, "FALSE": False, "F": False}

_NOT_LITERAL = object()


def literal(node: Expr) -> object:
    """Return the Python value of an R literal, or a private sentinel if it is not one.

    Numbers, strings, ``TRUE``/``FALSE``/``T``/``F``, ``NULL`` and negated numbers count.
    """
    if isinstance(node, Number):
        text = node.value
        try:
            return int(text)
        except ValueError:
            return float(text)
    if isinstance(node, String):
        return node.value
    if isinstance(node, Name) and not node.backticked:
        if node.name in _LOGICALS:
            return _LOGICALS[node.name]
        if node.name == "NULL":
            return None
    if isinstance(node, Unary) and node.op == "-" and isinstance(node.operand, Number):
        value = literal(node.operand)
        if isinstance(value, (int, float)):
            return -value
    return _NOT_LITERAL


def structure_of(call: Call, source: Source) -> tuple[Structure, Binary]:
    """Check a special's arguments; return its structure and its ``lhs | group`` bar.

    Parameters
    ----------
    call
        A call whose function is a key of :data:`SPECIALS`.
    source
        The formula, for error messages.

    Returns
    -------
    tuple of (Structure, Binary)
        The covariance structure and the bar expression inside the special.

    Raises
    ------
    FormulaError
        On a missing or misplaced bar, an extra positional argument, an unknown or
        repeated named argument, or a ``hom``/``het`` value that is not a logical.
    """
    special = SPECIALS[call.func]
    positional = [arg for arg in call.args if arg.name is None]
    first = unparen(positional[0].value) if positional else None
    if not isinstance(first, Binary) or not first.is_bar or positional[0] is not call.args[0]:
        raise source.error(
            f"the covariance special '{call.func}' takes the random term as its first "
            f"argument; write e.g. '{call.func}(1 + x | g)'",
            call.start,
            call.func,
        )
    if first.op == "||":
        raise source.error(
            f"'||' inside '{call.func}()': the special sets the covariance structure "
            f"itself; write '{call.func}(x | g)' with a single '|'",
            first.op_pos,
            "||",
        )
    kind = special.kind
    options: list[tuple[str, object]] = []
    seen: set[str] = set()
    for arg in call.args[1:]:
        if arg.name is None:
            raise source.error(
                f"unexpected positional argument {source.span(arg.value.start, arg.value.end)!r} "
                f"of '{call.func}()'; name it, e.g. "
                f"'{call.func}(x | g, {(special.arguments() or ['hom'])[0]} = TRUE)'",
                arg.start,
                source.span(arg.value.start, arg.value.end),
            )
        if arg.name in seen:
            raise source.error(
                f"argument '{arg.name}' of '{call.func}()' is given twice; keep one",
                arg.start,
                arg.name,
            )
        seen.add(arg.name)
        if arg.name == special.flag:
            value = literal(arg.value)
            if not isinstance(value, bool):
                text = source.span(arg.value.start, arg.value.end)
                raise source.error(
                    f"argument '{arg.name}' of '{call.func}()' must be TRUE or FALSE, not {text!r}",
                    arg.value.start,
                    text,
                )
            if value and special.flag_kind is not None:
                kind = special.flag_kind
            continue
        if arg.name in special.options:
            value = literal(arg.value)
            if value is _NOT_LITERAL:
                text = source.span(arg.value.start, arg.value.end)
                raise source.error(
                    f"argument '{arg.name}' of '{call.func}()' must be a number, string "
                    f"or logical, not {text!r}",
                    arg.value.start,
                    text,
                )
            options.append((arg.name, value))
            continue
        known = ", ".join(special.arguments()) or "none"
        raise source.error(
            f"unknown argument '{arg.name}' of the covariance special '{call.func}()'; "
            f"its named arguments are: {known}",
            arg.start,
            arg.name,
        )
    return Structure(kind=kind, special=call.func, options=tuple(options)), first


def is_random_term(node: Expr) -> bool:
    """Whether ``node`` (redundant parentheses aside) is a random term.

    A random term is a bar ``lhs | g`` / ``lhs || g`` or a special call with a bar inside.
    """
    inner = unparen(node)
    if isinstance(inner, Binary):
        return inner.is_bar
    if isinstance(inner, Call) and inner.func in SPECIALS and not inner.backticked:
        return any(find_bar(arg.value) is not None for arg in inner.args)
    return False
