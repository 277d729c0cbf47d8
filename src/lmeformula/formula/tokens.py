"""A hand-written tokenizer for R model formulas: it scans characters, never regexes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from lmeformula.formula.source import Source

__all__ = ["Kind", "Token", "tokenize"]


class Kind(Enum):
    """What a token is."""

    NAME = "name"
    BACKTICK = "backticked name"
    NUMBER = "number"
    STRING = "string"
    DOT = "dot"
    OP = "operator"
    PERCENT = "%op%"
    EOF = "end of formula"


@dataclass(frozen=True)
class Token:
    """One token of a formula.

    Attributes
    ----------
    kind
        What the token is.
    text
        The token as written (for strings and backticks: with the quotes).
    position
        Zero-based offset of the token's first character.
    value
        The token's meaning: a name without backticks, a string without quotes and with
        escapes resolved, an operator in canonical spelling (``**`` is ``^``).
    """

    kind: Kind
    text: str
    position: int
    value: str

    @property
    def end(self) -> int:
        """Offset just after the token."""
        return self.position + len(self.text)

    def is_op(self, *ops: str) -> bool:
        """Whether this is an operator token spelled as one of ``ops``."""
        return self.kind is Kind.OP and self.value in ops


# Longest first, so "||" wins over "|" and "<=" over "<".
_OPERATORS: tuple[str, ...] = (
    "**", "||", "&&", "==", "!=", "<=", ">=",
    "~", "+", "-", "*", "/", ":", "^", "(", ")", ",", "=", "|", "&", "<", ">", "!",
)  # fmt: skip

_CANONICAL: dict[str, str] = {"**": "^"}

_ESCAPES: dict[str, str] = {
    "n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'", "`": "`",
}  # fmt: skip

_HINTS: dict[str, str] = {
    "$": "pick the column by its name instead (write 'x', not 'data$x')",
    "#": "R comments are not allowed in a formula string; delete the comment",
    ";": "a formula is a single expression; delete the ';'",
    "[": "indexing is not supported in a formula; make a new column first",
    "]": "indexing is not supported in a formula; make a new column first",
    "@": "slot access is not supported in a formula; make a new column first",
}


def _is_name_start(ch: str) -> bool:
    return ch.isalpha() or ch in "._"


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch in "._"


def tokenize(source: Source) -> list[Token]:
    """Split a formula into tokens, ending with an ``EOF`` token.

    Parameters
    ----------
    source
        The formula.

    Returns
    -------
    list of Token
        The tokens in order; white space (including line breaks and tabs) is skipped.

    Raises
    ------
    FormulaError
        On a character with no meaning in a formula, or an unterminated string, backtick
        or ``%op%``.
    """
    text = source.text
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        nxt = text[i + 1] if i + 1 < n else ""
        if ch.isdigit() or (ch == "." and nxt.isdigit()):
            i = _scan_number(text, i)
            raw = text[start:i]
            # R's integer suffix 2L means the number 2 to Python.
            value = raw[:-1] if raw.endswith("L") else raw
            tokens.append(Token(Kind.NUMBER, raw, start, value))
            continue
        if _is_name_start(ch):
            while i < n and _is_name_char(text[i]):
                i += 1
            raw = text[start:i]
            kind = Kind.DOT if raw == "." else Kind.NAME
            tokens.append(Token(kind, raw, start, raw))
            continue
        if ch in "\"'`":
            i, value = _scan_quoted(source, i)
            raw = text[start:i]
            if ch == "`":
                if not value:
                    raise source.error(
                        "empty backticked name '``'; write the column name between the backticks",
                        start,
                        "``",
                    )
                tokens.append(Token(Kind.BACKTICK, raw, start, value))
            else:
                tokens.append(Token(Kind.STRING, raw, start, value))
            continue
        if ch == "%":
            close = text.find("%", i + 1)
            line_end = text.find("\n", i + 1)
            if close == -1 or (line_end != -1 and line_end < close):
                raise source.error(
                    "unknown character '%': R's '%op%' operators need a closing '%', and "
                    "none of them is supported in a formula anyway; remove it",
                    start,
                    "%",
                )
            i = close + 1
            raw = text[start:i]
            tokens.append(Token(Kind.PERCENT, raw, start, raw))
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token(Kind.OP, op, start, _CANONICAL.get(op, op)))
                i += len(op)
                break
        else:
            hint = _HINTS.get(ch, "remove it, or put a column name that contains it in backticks")
            raise source.error(
                f"unknown character {ch!r} in the formula; {hint}",
                start,
                ch,
            )
    tokens.append(Token(Kind.EOF, "", n, ""))
    return tokens


def _scan_number(text: str, i: int) -> int:
    """Return the offset just after the number starting at ``i`` (R syntax, ``2L`` too)."""
    n = len(text)
    while i < n and text[i].isdigit():
        i += 1
    if i < n and text[i] == ".":
        i += 1
        while i < n and text[i].isdigit():
            i += 1
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        # Only an exponent if digits follow; otherwise 'e' starts the next name.
        if j < n and text[j].isdigit():
            i = j
            while i < n and text[i].isdigit():
                i += 1
    if i < n and text[i] == "L":
        i += 1
    return i


def _scan_quoted(source: Source, start: int) -> tuple[int, str]:
    """Scan a string or backticked name; return the offset after it and its value."""
    text = source.text
    quote = text[start]
    chars: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            chars.append(_ESCAPES.get(text[i + 1], text[i + 1]))
            i += 2
            continue
        if ch == quote:
            return i + 1, "".join(chars)
        chars.append(ch)
        i += 1
    what = "backticked name" if quote == "`" else "string"
    raise source.error(
        f"unterminated {what} starting at {quote!r}; close it with a matching {quote!r}",
        start,
        quote,
    )
