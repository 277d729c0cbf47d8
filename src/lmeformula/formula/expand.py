"""lme4's reading of a right-hand side: summands, intercepts and random-term expansion.

A random term ``(lhs | a/b)`` becomes one :class:`~.terms.RandomTerm` per grouping
factor, in lme4's order (``b:a`` before ``a``), each carrying the same left side and
covariance structure.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmeformula.formula.nodes import Binary, Call, Dot, Expr, Name, Number, Paren, Unary, unparen
from lmeformula.formula.render import Renderer, number_term_error, to_r
from lmeformula.formula.source import Source
from lmeformula.formula.specials import is_random_term, structure_of
from lmeformula.formula.terms import RandomTerm, Structure

__all__ = [
    "Summand",
    "expand_groups",
    "intercept_and_terms",
    "random_terms",
    "render_sum",
    "summands",
]


@dataclass(frozen=True)
class Summand:
    """One term of a sum, with the sign it is added with.

    Attributes
    ----------
    node
        The term.
    sign
        ``+1`` to add it, ``-1`` to remove it.
    sign_pos
        Offset of the operator that made the sign negative (for messages), else ``None``.
    """

    node: Expr
    sign: int
    sign_pos: int | None = None


def summands(node: Expr) -> list[Summand]:
    """Flatten ``a + (b - c) - d`` into its signed terms, in the order written.

    Parentheses around a sum are looked through when the sum is added, so
    ``y ~ (x + (1 | g))`` finds the random term as lme4 does; a removed parenthesised
    sum stays one summand. A parenthesised random term stays whole.
    """
    out: list[Summand] = []
    # A stack, not recursion: a formula of thousands of terms is a sum that deep.
    stack: list[tuple[Expr, int, int | None]] = [(node, 1, None)]
    while stack:
        item, sign, sign_pos = stack.pop()
        if isinstance(item, Binary) and item.op in ("+", "-"):
            if item.op == "-":
                stack.append((item.right, -sign, item.op_pos))
            else:
                stack.append((item.right, sign, sign_pos))
            stack.append((item.left, sign, sign_pos))
        elif isinstance(item, Unary) and item.op in ("+", "-"):
            if item.op == "-":
                stack.append((item.operand, -sign, item.start))
            else:
                stack.append((item.operand, sign, sign_pos))
        elif isinstance(item, Paren) and sign > 0 and not is_random_term(item):
            stack.append((item.body, sign, sign_pos))
        else:
            out.append(Summand(item, sign, sign_pos))
    return out


def intercept_and_terms(items: list[Summand], source: Source) -> tuple[bool, list[Summand]]:
    """Split the intercept markers ``0``/``1`` off a list of summands.

    As in R, ``+ 0`` and ``- 1`` remove the intercept, ``+ 1`` and ``- 0`` keep it, and
    the last marker wins.

    Returns
    -------
    tuple of (bool, list of Summand)
        Whether there is an intercept, and the remaining summands.
    """
    intercept = True
    rest: list[Summand] = []
    for item in items:
        node = unparen(item.node)
        if isinstance(node, Number):
            if node.value not in ("0", "1"):
                raise number_term_error(source, node)
            intercept = (node.value == "1") == (item.sign > 0)
            continue
        rest.append(item)
    return intercept, rest


def render_sum(intercept: bool, items: list[Summand], renderer: Renderer) -> str:
    """Formulaic text of a sum with the intercept explicit: ``"1 + x"``, ``"0 + x - z"``."""
    parts = ["1" if intercept else "0"]
    for item in items:
        node = unparen(item.node)
        if isinstance(node, Dot) and item.sign > 0:
            text = renderer.dot_sum(node)
        else:
            text = renderer.term(item.node)
        parts.append(f"+ {text}" if item.sign > 0 else f"- {text}")
    return " ".join(parts)


def expand_groups(node: Expr, source: Source) -> list[tuple[Name, ...]]:
    """Expand the right side of a bar into grouping factors, each a tuple of columns.

    ``a:b`` is one factor; ``a + b`` two; ``a * b`` is ``a + b + a:b``; ``a/b`` is
    ``b:a`` then ``a`` (lme4's order, and lme4's naming of the nested factor).

    Raises
    ------
    FormulaError
        On anything but column names joined by ``:``, ``/``, ``+``, ``*``.
    """
    forward = _groups(node, source)
    if _has_slash(node):
        # lme4 (reformulas' expandGrpVar) reverses both the list and each interaction.
        forward = [tuple(reversed(group)) for group in reversed(forward)]
    unique: list[tuple[Name, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for group in forward:
        key = tuple(name.name for name in group)
        if key not in seen:
            seen.add(key)
            unique.append(group)
    return unique


def _groups(node: Expr, source: Source) -> list[tuple[Name, ...]]:
    """Grouping factors of ``node`` in R's ``terms()`` order (``a/b`` -> ``a``, ``a:b``)."""
    if isinstance(node, Name):
        return [(node,)]
    if isinstance(node, Paren):
        return _groups(node.body, source)
    if isinstance(node, Binary) and node.op in (":", "+", "*", "/"):
        left = _groups(node.left, source)
        right = _groups(node.right, source)
        if node.op == "+":
            return left + right
        crossed = [a + b for a in left for b in right]
        if node.op == ":":
            return crossed
        if node.op == "*":
            return left + right + crossed
        outer: list[Name] = []
        for group in left:
            for name in group:
                if all(name.name != seen.name for seen in outer):
                    outer.append(name)
        return left + [tuple(outer) + group for group in right]
    if isinstance(node, Call):
        token = node.func
        position = node.start
    elif isinstance(node, Binary):
        token = node.op
        position = node.op_pos
    elif isinstance(node, Unary):
        token = node.op
        position = node.start
    else:
        token = source.span(node.start, node.end)
        position = node.start
    raise source.error(
        f"grouping factors must be columns, joined by ':', '/', '+' or '*'; {token!r} is "
        "not; make a new column for a derived grouping factor, e.g. 'data[\"g2\"] = ...'",
        position,
        token,
    )


def _has_slash(node: Expr) -> bool:
    if isinstance(node, Paren):
        return _has_slash(node.body)
    if isinstance(node, Binary):
        return node.op == "/" or _has_slash(node.left) or _has_slash(node.right)
    return False


def random_terms(item: Summand, source: Source) -> list[RandomTerm]:
    """Expand one random-term summand into :class:`~.terms.RandomTerm` objects.

    Parameters
    ----------
    item
        A summand for which :func:`~.specials.is_random_term` holds.
    source
        The formula, for error messages.

    Returns
    -------
    list of RandomTerm
        One per grouping factor, in lme4's order.
    """
    node = unparen(item.node)
    position = item.node.start
    if item.sign < 0:
        text = source.span(item.node.start, item.node.end)
        pos = item.sign_pos if item.sign_pos is not None else position
        raise source.error(
            f"the random term {text!r} is removed with '-'; random terms can only be "
            "added with '+'; delete the term to drop it",
            pos,
            "-",
        )
    call: Call | None = None
    if isinstance(node, Call):
        call = node
        structure, bar = structure_of(node, source)
    else:
        assert isinstance(node, Binary)
        bar = node
        structure = Structure("DIAG", "||") if bar.op == "||" else Structure()
    lhs_text = _random_lhs(bar, source)
    groups = expand_groups(bar.right, source)
    extra = ""
    if call is not None:
        extra = "".join(
            f", {arg.name} = {to_r(arg.value)}" for arg in call.args if arg.name is not None
        )
    terms: list[RandomTerm] = []
    for group in groups:
        group_r = ":".join(to_r(name) for name in group)
        text = f"{to_r(bar.left)} {bar.op} {group_r}"
        if call is not None:
            text = f"{call.func}({text}{extra})"
        terms.append(
            RandomTerm(
                lhs=lhs_text,
                group=tuple(name.name for name in group),
                structure=structure,
                text=text,
                position=position,
            )
        )
    return terms


def _random_lhs(bar: Binary, source: Source) -> str:
    """Formulaic text of a bar's left side with the intercept explicit."""
    lhs = bar.left
    items = summands(lhs)
    for item in items:
        inner = unparen(item.node)
        if is_random_term(item.node) or (isinstance(inner, Binary) and inner.is_bar):
            nested = inner if isinstance(inner, Binary) else None
            pos = nested.op_pos if nested is not None else inner.start
            token = nested.op if nested is not None else source.span(inner.start, inner.end)
            raise source.error(
                f"a bar {token!r} is nested inside the left side of the random term "
                f"'{to_r(bar)}'; a random term's left side lists columns only",
                pos,
                token,
            )
        if isinstance(inner, Dot):
            raise source.error(
                "'.' is only allowed in the fixed part, not on the left of a bar; name the columns",
                inner.start,
                ".",
            )
    intercept, rest = intercept_and_terms(items, source)
    if not intercept and not any(item.sign > 0 for item in rest):
        text = source.span(lhs.start, lhs.end)
        group = source.span(bar.right.start, bar.right.end)
        raise source.error(
            f"the left side {text!r} of the random term '{to_r(bar)}' leaves no column; a "
            f"random term needs at least one column; did you mean (1{bar.op}{group})?",
            lhs.start,
            text,
        )
    return render_sum(intercept, rest, Renderer(source))
