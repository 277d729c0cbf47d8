"""``parse``: from a formula string to a :class:`~.terms.ParsedFormula`."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from lmeformula.errors import ArgumentTypeError
from lmeformula.formula.expand import (
    Summand,
    intercept_and_terms,
    random_terms,
    render_sum,
    summands,
)
from lmeformula.formula.nodes import Binary, Call, Dot, Expr, children, find_bar, unparen
from lmeformula.formula.parser import parse_formula
from lmeformula.formula.render import Renderer
from lmeformula.formula.source import Source
from lmeformula.formula.specials import is_random_term
from lmeformula.formula.terms import ParsedFormula, RandomTerm
from lmeformula.formula.variables import column_names

__all__ = ["parse"]


def parse(formula: str, columns: Sequence[str] | None = None) -> ParsedFormula:
    """Parse an lme4 mixed-model formula.

    Parameters
    ----------
    formula
        The formula in R's syntax, e.g. ``"normexam ~ standLRT + (1 + standLRT | school)"``.
        White space and line breaks may appear anywhere.
    columns
        The data's column names, in the data's order. Needed only to expand ``.``, which
        stands for every column that is neither the response nor a grouping factor.

    Returns
    -------
    ParsedFormula
        The response, the fixed part and each random term (after expanding ``/``, ``+``
        and ``*`` on the right of the bar) as formulaic text, the offsets and the columns
        used.

    Raises
    ------
    ArgumentTypeError
        If ``formula`` is not a string, or ``columns`` is not a sequence of strings.
    FormulaError
        If the formula cannot be parsed or has no meaning for lme4; the error points at
        the offending token.

    Examples
    --------
    >>> from lmeformula.formula import parse
    >>> parsed = parse("normexam ~ standLRT + (1 + standLRT | school)")
    >>> parsed.response, parsed.fixed
    ('normexam', '1 + standLRT')
    >>> [(t.lhs, t.group_name, t.structure.kind) for t in parsed.random]
    [('1 + standLRT', 'school', 'UN')]
    >>> [t.group_name for t in parse("strength ~ 1 + (1 | batch/cask)").random]
    ['cask:batch', 'batch']
    >>> parse("y ~ 0 + x + cs(0 + f | g, hom = TRUE)").random[0].structure.kind
    'CS'
    >>> parse("y ~ .", columns=["y", "a", "b"]).fixed
    '1 + a + b'
    """
    if not isinstance(formula, str):
        raise ArgumentTypeError(
            f"the formula must be a str such as 'y ~ x + (1 | g)', not {type(formula).__name__}"
        )
    column_list = _check_columns(columns)
    try:
        return _parse(formula, None if column_list is None else tuple(column_list))
    except RecursionError:
        # Python's stack, not the grammar, sets this limit (R's parser has one as well).
        raise Source(formula).error(
            "the formula nests too deeply to be read (hundreds of parentheses, calls or "
            "operators inside one term); write it flatter, e.g. compute a long sum inside "
            "a term as a new column",
            0,
            formula[:1],
        ) from None


# A parse is a pure function of the text and the columns, and its result is immutable:
# refits, bootstrap replicates and many models on one formula parse it once (a small fit
# spent 0.2 of its 3.5 ms here).
@lru_cache(maxsize=256)
def _parse(formula: str, column_list: tuple[str, ...] | None) -> ParsedFormula:
    source = Source(formula)
    tree = parse_formula(source)

    response: str | None = None
    if tree.lhs is not None:
        _check_response(tree.lhs, source)
        # R evaluates the left of '~' as an ordinary expression: y/100 divides.
        response = Renderer(source).python(tree.lhs)

    fixed_items: list[Summand] = []
    random: list[RandomTerm] = []
    for item in summands(tree.rhs):
        if isinstance(item.node, Binary) and item.node.is_bar:
            raise _bare_bar_error(item.node, source)
        if is_random_term(item.node):
            random.extend(random_terms(item, source))
        else:
            fixed_items.append(item)

    response_columns = column_names(tree.lhs)
    dot_columns: list[str] | None = None
    if column_list is not None:
        excluded = set(response_columns).union(*(term.group for term in random))
        dot_columns = [col for col in column_list if col not in excluded]
    renderer = Renderer(source, dot_columns)

    offsets: list[str] = []
    kept: list[Summand] = []
    for item in fixed_items:
        node = unparen(item.node)
        if _is_offset(node) and item.sign > 0:
            assert isinstance(node, Call)
            renderer.call(node)  # raises on a bar inside, like any call
            offsets.append(renderer.python(node.args[0].value))
        else:
            kept.append(item)
    intercept, rest = intercept_and_terms(kept, source)
    fixed = render_sum(intercept, rest, renderer)

    variables = column_names(tree.lhs) + column_names(tree.rhs, dot_columns)
    return ParsedFormula(
        formula=formula,
        response=response,
        fixed=fixed,
        random=tuple(random),
        offsets=tuple(offsets),
        variables=tuple(dict.fromkeys(variables)),
    )


def _check_columns(columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, (str, bytes)) or not all(isinstance(c, str) for c in columns):
        raise ArgumentTypeError(
            "columns must be a sequence of column names (str), e.g. list(data.columns)"
        )
    return list(columns)


def _check_response(lhs: Expr, source: Source) -> None:
    bar = find_bar(lhs)
    if bar is not None:
        raise source.error(
            f"random terms cannot be on the left of '~' ({bar.op!r} found there); put the "
            "response on the left and random terms on the right: 'y ~ x + (1 | g)'",
            bar.op_pos,
            bar.op,
        )
    dot = _find_dot(lhs)
    if dot is not None:
        raise source.error(
            "'.' cannot be the response; name the response column on the left of '~'",
            dot.start,
            ".",
        )


def _find_dot(node: Expr) -> Dot | None:
    if isinstance(node, Dot):
        return node
    for child in children(node):
        found = _find_dot(child)
        if found is not None:
            return found
    return None


def _is_offset(node: Expr) -> bool:
    return (
        isinstance(node, Call)
        and node.func == "offset"
        and not node.backticked
        and len(node.args) == 1
        and node.args[0].name is None
    )


def _bare_bar_error(bar: Binary, source: Source) -> Exception:
    text = source.span(bar.start, bar.end)
    return source.error(
        f"{bar.op!r} outside parentheses: R reads {text!r} as one random term over "
        f"everything around it; put the random term in parentheses, e.g. "
        f"'y ~ x + (1 {bar.op} g)'",
        bar.op_pos,
        bar.op,
    )
