"""A table that prints a note under itself, as R's anova tables print a heading and notes.

Comparing models needs a sentence beside the numbers (which p-value to read, which model
is chosen and why). The table stays a pandas DataFrame; the note sits in
``table.attrs["note"]`` and is printed below the rows. Anything derived from the table
(a column, a slice, a copy) is a plain DataFrame.
"""

from __future__ import annotations

import html
import textwrap

import pandas as pd

__all__ = ["NotedFrame"]

_WIDTH = 88


def _significant(x: float) -> str:
    return f"{x:.6g}"


class NotedFrame(pd.DataFrame):
    """A DataFrame whose printed form ends with ``attrs["note"]`` (and starts with
    ``attrs["heading"]`` when there is one).

    Examples
    --------
    >>> t = NotedFrame({"aic": [1.0, 2.0]}, index=["m0", "m1"])
    >>> t.attrs["note"] = "m0 has the lowest AIC."
    >>> print(t)
        aic
    m0  1.0
    m1  2.0
    <BLANKLINE>
    m0 has the lowest AIC.
    """

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    def _paragraphs(self, key: str) -> list[str]:
        text = self.attrs.get(key) or ""
        return [p for p in str(text).split("\n") if p.strip()]

    def __repr__(self) -> str:
        head = [textwrap.fill(p, _WIDTH) for p in self._paragraphs("heading")]
        body = super().__repr__()
        notes = [textwrap.fill(p, _WIDTH) for p in self._paragraphs("note")]
        parts = ["\n".join(head)] if head else []
        parts.append(body)
        if notes:
            parts.append("\n".join(notes))
        return "\n\n".join(parts)

    def _repr_html_(self) -> str | None:
        # Six significant digits per number: a column holding an Akaike weight of 0.96 and
        # one of 1e-80 would otherwise print every entry in scientific notation.
        with pd.option_context("display.float_format", _significant):
            body = super()._repr_html_()  # type: ignore[misc]
        if body is None:
            return None
        head = "".join(f"<p><b>{html.escape(p)}</b></p>" for p in self._paragraphs("heading"))
        notes = "".join(f"<p>{html.escape(p)}</p>" for p in self._paragraphs("note"))
        return head + body + notes
