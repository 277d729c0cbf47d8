"""A precedence-climbing parser from tokens to the syntax tree of :mod:`.nodes`.

Operator precedence is R's (``?Syntax``), lowest first: ``~``; ``|`` ``||``; ``&`` ``&&``;
``!``; comparisons; binary ``+`` ``-``; ``*`` ``/``; ``%op%``; ``:``; unary ``-`` ``+``;
``^`` (right-associative). Because the bars bind loosest, ``(x + z | g)`` is
``(x + z) | g``.
"""

from __future__ import annotations

from lmeformula.formula.nodes import (
    Arg,
    Binary,
    Call,
    Dot,
    Expr,
    Formula,
    Name,
    Number,
    Paren,
    String,
    Unary,
)
from lmeformula.formula.source import Source
from lmeformula.formula.tokens import Kind, Token, tokenize

__all__ = ["parse_formula"]

# Left binding power of each infix operator.
_INFIX: dict[str, int] = {
    "|": 10, "||": 10,
    "&": 20, "&&": 20,
    "==": 40, "!=": 40, "<": 40, ">": 40, "<=": 40, ">=": 40,
    "+": 50, "-": 50,
    "*": 60, "/": 60,
    ":": 80,
    "^": 100,
}  # fmt: skip
_RIGHT_ASSOC: frozenset[str] = frozenset({"^"})
# Binding power of a prefix operator's operand: R's unary minus binds tighter than ':'
# (-1:3 is (-1):3) but looser than '^' (-x^2 is -(x^2)); '!' is looser than comparisons.
_PREFIX: dict[str, int] = {"-": 90, "+": 90, "!": 30}
_TERM_KINDS: frozenset[Kind] = frozenset(
    {Kind.NAME, Kind.BACKTICK, Kind.NUMBER, Kind.STRING, Kind.DOT}
)


def parse_formula(source: Source) -> Formula:
    """Parse a whole formula ``[lhs] ~ rhs`` into a :class:`~.nodes.Formula`.

    Parameters
    ----------
    source
        The formula.

    Returns
    -------
    Formula
        The syntax tree, before any lme4 interpretation.

    Raises
    ------
    FormulaError
        On any syntax error, pointing at the offending token.
    """
    return _Parser(source).formula()


class _Parser:
    """Recursive descent over a token list; one instance per formula."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.index = 0
        # Open parentheses not yet closed, innermost last, to report an unmatched one.
        self.open_parens: list[Token] = []

    # -- token access -------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def previous(self) -> Token | None:
        return self.tokens[self.index - 1] if self.index > 0 else None

    def advance(self) -> Token:
        tok = self.tokens[self.index]
        self.index += 1
        return tok

    # -- grammar ------------------------------------------------------------------------

    def formula(self) -> Formula:
        first = self.peek()
        if first.kind is Kind.EOF:
            raise self.source.error(
                "the formula is empty; write it as 'response ~ terms', e.g. 'y ~ x + (1 | g)'",
                0,
                "",
            )
        if not any(tok.is_op("~") for tok in self.tokens):
            # Say the real problem before any syntax error the missing '~' would cause.
            text = self.source.text.strip()
            raise self.source.error(
                f"the formula {text!r} has no '~'; write it as 'response ~ terms', "
                "e.g. 'y ~ x + (1 | g)'",
                first.position,
                text,
            )
        lhs: Expr | None = None
        if not first.is_op("~"):
            lhs = self.expr(0)
            tok = self.peek()
            if not tok.is_op("~"):
                raise self.unexpected(tok)
        tilde = self.advance()
        if self.peek().kind is Kind.EOF:
            raise self.source.error(
                "nothing after '~'; add the terms, e.g. 'y ~ 1 + (1 | g)' for an "
                "intercept-only model",
                tilde.position,
                "~",
            )
        rhs = self.expr(0)
        tok = self.peek()
        if tok.kind is not Kind.EOF:
            raise self.unexpected(tok)
        return Formula(lhs, rhs, tilde.position)

    def expr(self, min_bp: int) -> Expr:
        left = self.prefix()
        while True:
            tok = self.peek()
            if tok.kind is Kind.PERCENT:
                raise self.source.error(
                    f"operator {tok.text!r} is not supported in a formula; for nesting "
                    "write 'a/b' or the interaction 'a:b'",
                    tok.position,
                    tok.text,
                )
            if tok.kind is not Kind.OP or tok.value not in _INFIX:
                return left
            lbp = _INFIX[tok.value]
            if lbp <= min_bp:
                return left
            self.advance()
            rbp = lbp - 1 if tok.value in _RIGHT_ASSOC else lbp
            right = self.expr(rbp)
            left = Binary(left.start, right.end, tok.value, tok.position, left, right)

    def prefix(self) -> Expr:
        tok = self.peek()
        if tok.kind in _TERM_KINDS:
            self.advance()
            if tok.kind in (Kind.NAME, Kind.BACKTICK) and self.peek().is_op("("):
                return self.call(tok)
            if tok.kind is Kind.NAME:
                return Name(tok.position, tok.end, tok.value)
            if tok.kind is Kind.BACKTICK:
                return Name(tok.position, tok.end, tok.value, backticked=True)
            if tok.kind is Kind.NUMBER:
                return Number(tok.position, tok.end, tok.value)
            if tok.kind is Kind.STRING:
                return String(tok.position, tok.end, tok.value)
            return Dot(tok.position, tok.end)
        if tok.is_op("("):
            return self.paren()
        if tok.kind is Kind.OP and tok.value in _PREFIX:
            self.advance()
            operand = self.expr(_PREFIX[tok.value])
            return Unary(tok.position, operand.end, tok.value, operand)
        raise self.missing_operand(tok)

    def paren(self) -> Paren:
        open_tok = self.advance()
        if self.peek().is_op(")"):
            raise self.source.error(
                "empty parentheses '()'; put a term inside or remove them",
                open_tok.position,
                "()",
            )
        self.open_parens.append(open_tok)
        body = self.expr(0)
        close = self.expect_close(open_tok)
        self.open_parens.pop()
        return Paren(open_tok.position, close.end, body)

    def call(self, name_tok: Token) -> Call:
        open_tok = self.advance()
        self.open_parens.append(open_tok)
        args: list[Arg] = []
        if not self.peek().is_op(")"):
            while True:
                args.append(self.argument())
                if not self.peek().is_op(","):
                    break
                comma = self.advance()
                if self.peek().is_op(")"):
                    raise self.source.error(
                        f"empty argument after ',' in {name_tok.value}(); remove the ','",
                        comma.position,
                        ",",
                    )
        close = self.expect_close(open_tok)
        self.open_parens.pop()
        return Call(
            name_tok.position,
            close.end,
            name_tok.value,
            tuple(args),
            backticked=name_tok.kind is Kind.BACKTICK,
        )

    def argument(self) -> Arg:
        tok = self.peek()
        if tok.kind in (Kind.NAME, Kind.BACKTICK, Kind.STRING) and self.peek(1).is_op("="):
            self.advance()
            self.advance()
            return Arg(tok.position, tok.value, self.expr(0))
        value = self.expr(0)
        return Arg(value.start, None, value)

    def expect_close(self, open_tok: Token) -> Token:
        tok = self.peek()
        if tok.is_op(")"):
            return self.advance()
        if tok.kind is Kind.EOF:
            raise self.source.error(
                "unmatched '(': it is never closed; add the missing ')'",
                open_tok.position,
                "(",
            )
        raise self.unexpected(tok)

    # -- errors -------------------------------------------------------------------------

    def missing_operand(self, tok: Token) -> Exception:
        """The error for a token that cannot start a term, given what came before."""
        prev = self.previous()
        src = self.source
        operator_before = (
            prev is not None
            and prev.kind is Kind.OP
            and (prev.value in _INFIX or prev.value in _PREFIX)
        )
        if tok.is_op("~") and not operator_before:
            return self.tilde_error(tok)
        if operator_before:
            assert prev is not None
            ends = tok.kind is Kind.EOF or tok.is_op(")", ",", "~")
            if prev.value in ("|", "||") and ends:
                return src.error(
                    f"the right side of {prev.text!r} is empty; name the grouping factor, "
                    f"e.g. '(1 {prev.text} g)'",
                    prev.position,
                    prev.text,
                )
            if ends:
                return src.error(
                    f"operator {prev.text!r} has no term on its right; add one or remove "
                    "the operator",
                    prev.position,
                    prev.text,
                )
            return src.error(
                f"two operators in a row: {prev.text!r} then {tok.text!r}; remove one or "
                "put a term between them",
                tok.position,
                tok.text,
            )
        if tok.is_op("|", "||"):
            return src.error(
                f"the left side of {tok.text!r} is empty; write '(1 {tok.text} g)' for a "
                "random intercept",
                tok.position,
                tok.text,
            )
        if tok.kind is Kind.EOF and self.open_parens:
            return src.error(
                "unmatched '(': it is never closed; add the missing ')'",
                self.open_parens[-1].position,
                "(",
            )
        if tok.kind is Kind.OP and tok.value in _INFIX:
            return src.error(
                f"operator {tok.text!r} has no term on its left; add one or remove the operator",
                tok.position,
                tok.text,
            )
        return self.unexpected(tok)

    def unexpected(self, tok: Token) -> Exception:
        """The error for a token that cannot continue the expression before it."""
        src = self.source
        if tok.is_op("~"):
            return self.tilde_error(tok)
        if tok.is_op(")") and not self.open_parens:
            return src.error(
                "unmatched ')': there is no '(' to close; remove it or add the '('",
                tok.position,
                ")",
            )
        if tok.is_op("="):
            return src.error(
                "'=' is only allowed for a named argument of a function, e.g. "
                "'poly(x, degree = 2)'; use '==' inside I() to compare",
                tok.position,
                "=",
            )
        if tok.is_op(","):
            return src.error(
                "',' is only allowed between the arguments of a function; join terms with '+'",
                tok.position,
                ",",
            )
        if tok.kind is Kind.EOF and self.open_parens:
            return src.error(
                "unmatched '(': it is never closed; add the missing ')'",
                self.open_parens[-1].position,
                "(",
            )
        prev = self.previous()
        after = f" after {prev.text!r}" if prev is not None else ""
        hint = ""
        if prev is not None and prev.kind is Kind.NAME and tok.kind is Kind.NAME:
            # Two names in a row: most often a column name with a space in it.
            hint = (
                f" (a column name with a space is written in backticks: `{prev.text} {tok.text}`)"
            )
        return src.error(
            f"unexpected {tok.text!r}{after}; join terms with an operator such as '+'{hint}",
            tok.position,
            tok.text,
        )

    def tilde_error(self, tok: Token) -> Exception:
        return self.source.error(
            "a formula has exactly one '~' and it cannot be inside parentheses or a "
            "function; write 'response ~ terms'",
            tok.position,
            "~",
        )
