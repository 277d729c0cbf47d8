"""The formula text being parsed, and the one way this package builds a parse error."""

from __future__ import annotations

from dataclasses import dataclass

from lmeformula.errors import FormulaError

__all__ = ["Source"]


@dataclass(frozen=True)
class Source:
    """The formula as written, shared by every stage so errors can point into it.

    Parameters
    ----------
    text
        The formula string exactly as the user wrote it.
    """

    text: str

    def span(self, start: int, end: int) -> str:
        """Return the source text between two offsets, as written."""
        return self.text[start:end]

    def error(self, message: str, position: int, token: str) -> FormulaError:
        """Build a :class:`~lmeformula.errors.FormulaError` pointing at ``token``.

        Parameters
        ----------
        message
            What is wrong and what to do; should quote ``token``.
        position
            Zero-based offset of the offending token in the formula.
        token
            The offending token's text.

        Returns
        -------
        FormulaError
            The error, for the caller to ``raise`` (so tracebacks end at the caller).
        """
        return FormulaError(message, formula=self.text, position=position, token=token)
