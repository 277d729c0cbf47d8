"""Formulas with a random term reduced or removed, as lmerTest's ``ranova`` writes them.

lmerTest reads a formula with lme4's ``findbars`` (``/`` expanded, ``(x || g)`` split into
``(1 | g) + (0 + x | g)``), then for each random term either removes it (``(1 | g)``) or,
with ``reduce.terms = TRUE``, drops in turn each term of its left side that
``drop.scope`` allows (the highest-order ones), the left side becoming ``1`` when nothing
is left: ``(x | g)`` becomes ``(1 | g)``, a row named ``"x in (x | g)"``. Everything here
is text in R's syntax, to be handed back to ``lmer``/``gls``; nothing is fitted.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmeformula.errors import NotExpressibleError
from lmeformula.formula.expand import expand_groups, intercept_and_terms, summands
from lmeformula.formula.nodes import Binary, Call, Dot, Expr, Paren, unparen
from lmeformula.formula.parser import parse_formula
from lmeformula.formula.render import to_r
from lmeformula.formula.source import Source
from lmeformula.formula.specials import is_random_term, structure_of

__all__ = [
    "FormulaPieces",
    "RandomPiece",
    "Reduction",
    "fixed_reductions",
    "reductions",
    "split_formula",
]


@dataclass(frozen=True)
class RandomPiece:
    """One random term after lme4's expansion.

    Attributes
    ----------
    text
        The term as it goes back into a formula: ``"(1 + x | g)"``, ``"cs(0 + f | g)"``.
    form
        The term as lme4 deparses it, for row names: ``"1 + x | g"``.
    group
        The grouping factor in R's text: ``"g"``, ``"cask:batch"``.
    intercept
        Whether the left side has an intercept.
    labels
        The left side's terms as R's ``terms()`` labels them (each a tuple of factors, main
        effects first), or ``None`` when the term can only be removed (a covariance
        special, or a left side with removed terms).
    diagonal
        Whether the term comes from ``||``: its pieces are written back with ``||`` so that
        a factor keeps lmeformula's diagonal covariance.
    """

    text: str
    form: str
    group: str
    intercept: bool
    labels: tuple[tuple[str, ...], ...] | None
    diagonal: bool = False


@dataclass(frozen=True)
class FormulaPieces:
    """A formula taken apart: the response, the fixed part and the random terms, in R's text.

    Attributes
    ----------
    response
        The left of ``~``.
    fixed
        The fixed part with its signs (``"Days"``, ``"1"``, ``"0 + x"``), offsets included.
    random
        The random terms after lme4's expansion, in the order written.
    """

    response: str
    fixed: str
    random: tuple[RandomPiece, ...]

    def formula(self, random: list[str] | tuple[str, ...] | None = None) -> str:
        """The formula with the given random terms (by default this one's); duplicates
        are dropped, as R's ``terms`` drops a repeated term."""
        texts = [p.text for p in self.random] if random is None else list(random)
        texts = list(dict.fromkeys(texts))
        return " + ".join([f"{self.response} ~ {self.fixed}", *texts])


@dataclass(frozen=True)
class Reduction:
    """One row of lmerTest's ``ranova`` table: its name and the reduced model's formula.

    Attributes
    ----------
    name
        ``"(1 | g)"`` for a removed term, ``"x in (1 + x | g)"`` for a reduced one.
    formula
        The reduced model's formula in R's syntax.
    has_random
        Whether random terms remain (else the reduced model is the linear model).
    """

    name: str
    formula: str
    has_random: bool


def _factors(node: Expr, formula: str) -> list[tuple[str, ...]] | None:
    """The terms a left-side summand stands for (``a*b`` -> a, b, a:b), or None."""
    if isinstance(node, Paren):
        return _factors(node.body, formula)
    if isinstance(node, Binary) and node.op in ("*", ":"):
        left, right = _factors(node.left, formula), _factors(node.right, formula)
        if left is None or right is None:
            return None
        inter = [tuple(dict.fromkeys(a + b)) for a in left for b in right]
        return (left + right + inter) if node.op == "*" else inter
    if isinstance(node, Binary) and node.op in ("/", "^", "%in%", "-", "+"):
        return None
    return [(to_r(node),)]


def _labels(items: list, formula: str) -> tuple[tuple[str, ...], ...] | None:
    found: list[tuple[str, ...]] = []
    for item in items:
        if item.sign < 0:
            return None
        factors = _factors(unparen(item.node), formula)
        if factors is None:
            return None
        found += factors
    # R's terms(): variables within a term in order of first appearance, terms by order.
    order = {v: i for i, v in enumerate(dict.fromkeys(v for t in found for v in t))}
    unique = {frozenset(t): tuple(sorted(t, key=order.__getitem__)) for t in found}
    return tuple(sorted(unique.values(), key=len))


def _piece(
    lhs: str, group: str, intercept: bool, labels: tuple[tuple[str, ...], ...] | None, bar: str
) -> RandomPiece:
    return RandomPiece(
        text=f"({lhs} {bar} {group})",
        form=f"{lhs} | {group}",
        group=group,
        intercept=intercept,
        labels=labels,
        diagonal=bar == "||",
    )


def split_formula(formula: str) -> FormulaPieces:
    """Take a formula apart as lme4's ``findbars`` and ``nobars`` do.

    Parameters
    ----------
    formula
        An lme4 formula (already known to parse).

    Returns
    -------
    FormulaPieces

    Raises
    ------
    NotExpressibleError
        When the fixed part uses ``.`` (its meaning changes when a grouping factor stops
        being one) or the formula is one-sided.

    Examples
    --------
    >>> pieces = split_formula("y ~ x + (x || g) + (1 | a/b)")
    >>> pieces.fixed, [p.text for p in pieces.random]
    ('x', ['(1 | g)', '(0 + x || g)', '(1 | b:a)', '(1 | a)'])
    """
    source = Source(formula)
    tree = parse_formula(source)
    if tree.lhs is None:
        raise NotExpressibleError(f"the formula '{formula}' has no response.")
    fixed: list[str] = []
    random: list[RandomPiece] = []
    for item in summands(tree.rhs):
        node = unparen(item.node)
        if not is_random_term(item.node):
            if isinstance(node, Dot):
                raise NotExpressibleError(
                    f"the formula '{formula}' uses '.', whose columns change when a random "
                    "term is removed (its grouping factor would join '.'); write the fixed "
                    "effects out."
                )
            text = to_r(item.node)
            fixed.append(text if item.sign > 0 else f"-{text}")
            continue
        special = node if isinstance(node, Call) else None
        bar = structure_of(node, source)[1] if isinstance(node, Call) else node
        assert isinstance(bar, Binary)
        for names in expand_groups(bar.right, source):
            group = ":".join(to_r(n) for n in names)
            if special is not None:
                extra = "".join(
                    f", {a.name} = {to_r(a.value)}" for a in special.args if a.name is not None
                )
                text = f"{special.func}({to_r(bar.left)} | {group}{extra})"
                random.append(RandomPiece(text, text, group, True, None))
                continue
            intercept, rest = intercept_and_terms(summands(bar.left), source)
            labels = _labels(rest, formula)
            if bar.op == "|":
                random.append(_piece(to_r(bar.left), group, intercept, labels, "|"))
            elif labels is None:
                random.append(_piece(to_r(bar.left), group, intercept, None, "||"))
            else:
                # lme4's expandDoubleVerts: the intercept and each term on its own.
                if intercept:
                    random.append(_piece("1", group, True, (), "|"))
                for label in labels:
                    lhs = f"0 + {':'.join(label)}"
                    random.append(_piece(lhs, group, False, (label,), "||"))
    joined = " + ".join(fixed).replace("+ -", "- ") if fixed else "1"
    return FormulaPieces(to_r(tree.lhs), joined, tuple(random))


def _droppable(labels: tuple[tuple[str, ...], ...]) -> list[tuple[str, ...]]:
    # R's drop.scope: a term contained in a higher-order term stays (marginality).
    return [t for t in labels if not any(set(t) < set(u) for u in labels)]


def reductions(pieces: FormulaPieces, reduce_terms: bool = True) -> list[Reduction]:
    """lmerTest's reduced models, one per row of ``ranova``'s table.

    Parameters
    ----------
    pieces
        The full model, from :func:`split_formula`.
    reduce_terms
        Reduce terms with slopes to simpler ones (lmerTest's default) instead of removing
        every term whole.

    Returns
    -------
    list of Reduction

    Examples
    --------
    >>> pieces = split_formula("Reaction ~ Days + (Days | Subject)")
    >>> [(r.name, r.formula) for r in reductions(pieces)]
    [('Days in (Days | Subject)', 'Reaction ~ Days + (1 | Subject)')]
    >>> [r.name for r in reductions(split_formula("y ~ 1 + (1 | a) + (x * z | b)"))]
    ['(1 | a)', 'x:z in (x * z | b)']
    """
    out = []
    texts = [p.text for p in pieces.random]
    for i, piece in enumerate(pieces.random):
        others = texts[:i] + texts[i + 1 :]
        if not reduce_terms or not piece.labels:
            name = f"({piece.form})" if piece.text.startswith("(") else piece.text
            out.append(Reduction(name, pieces.formula(others), bool(others)))
            continue
        for label in _droppable(piece.labels):
            kept = [t for t in piece.labels if t != label]
            if kept:
                lhs = ("" if piece.intercept else "0 + ") + " + ".join(":".join(t) for t in kept)
            else:
                # lmerTest: a left side left empty becomes the intercept, "1".
                lhs = "1"
            bar = "||" if piece.diagonal and lhs != "1" else "|"
            new = f"({lhs} {bar} {piece.group})"
            formula = pieces.formula([*texts[:i], new, *texts[i + 1 :]])
            out.append(Reduction(f"{':'.join(label)} in ({piece.form})", formula, True))
    return out


def fixed_reductions(formula: str) -> list[Reduction]:
    """The models of R's ``drop1``: each fixed term that ``drop.scope`` allows (not part of
    a higher-order term) removed in turn, the random terms and the intercept kept, the
    ``offset()`` terms left out (the caller keeps the offset as an argument).

    Raises
    ------
    NotExpressibleError
        For a fixed part whose terms R's ``terms()`` would rewrite (``-`` terms, ``/``,
        ``^``, ``.``).

    Examples
    --------
    >>> [(r.name, r.formula) for r in fixed_reductions("y ~ a * b + x + (1 | g)")]
    [('x', 'y ~ 1 + a + b + a:b + (1 | g)'), ('a:b', 'y ~ 1 + a + b + x + (1 | g)')]
    """
    pieces = split_formula(formula)
    source = Source(formula)
    tree = parse_formula(source)
    items = []
    for item in summands(tree.rhs):
        node = unparen(item.node)
        if is_random_term(item.node) or (isinstance(node, Call) and node.func == "offset"):
            continue
        items.append(item)
    intercept, rest = intercept_and_terms(items, source)
    labels = _labels(rest, formula)
    if labels is None:
        raise NotExpressibleError(
            f"the fixed part of '{formula}' has terms R's drop1 rewrites (a '-', '/', '^' or "
            "'.'); write its terms out (a + b + a:b)."
        )
    texts = [p.text for p in pieces.random]
    out = []
    for label in _droppable(labels):
        kept = [":".join(t) for t in labels if t != label]
        fixed = " + ".join([("1" if intercept else "0"), *kept])
        reduced = " + ".join([f"{pieces.response} ~ {fixed}", *dict.fromkeys(texts)])
        out.append(Reduction(":".join(label), reduced, bool(texts)))
    return out
