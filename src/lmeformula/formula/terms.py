"""What a parsed lme4 formula is: frozen dataclasses, the contract between the grammar and
everything downstream.

The grammar (``lmeformula.formula.parse``) turns the string into a :class:`ParsedFormula`.
Expressions are kept as *formulaic* formula text (R syntax already translated: ``^`` inside
``I()`` becomes ``**``, ``TRUE`` becomes ``True``, ...), so the design stage can hand them to
formulaic unchanged and keep formulaic's ``ModelSpec`` for new data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["STRUCTURES", "ParsedFormula", "RandomTerm", "Structure"]

#: Covariance structures of a random-effects term, by SAS name, with what selects each one.
STRUCTURES: dict[str, str] = {
    "UN": "`(x | g)` or `us(x | g)`: unstructured (lme4's default)",
    "DIAG": "`(x || g)`, `diag(x | g)`: a variance per column, no correlation",
    "ID": "`diag(x | g, hom = TRUE)`, `homdiag(x | g)`: one common variance, no correlation",
    "CS": "`cs(x | g, hom = TRUE)`, `homcs(x | g)`: compound symmetry, one variance",
    "CSH": "`cs(x | g)`: compound symmetry with a variance per column",
    "AR1": "`ar1(x | g)`: first-order autoregressive, one variance",
    "ARH1": "`ar1(x | g, het = TRUE)`, `hetar1(x | g)`: AR(1) with a variance per column",
    "TOEP": "`homtoep(x | g)`: Toeplitz, one variance",
    "TOEPH": "`toep(x | g)`: Toeplitz with a variance per column",
}


@dataclass(frozen=True)
class Structure:
    """The covariance structure of one random-effects term.

    Attributes
    ----------
    kind
        SAS name, a key of :data:`STRUCTURES`.
    special
        The special as written (``"us"``, ``"diag"``, ``"cs"``, ``"ar1"``, ``"homdiag"``,
        ``"homcs"``, ``"hetar1"``, ``"toep"``, ``"homtoep"``), ``"||"`` for the double bar,
        or ``None`` for a plain bar.
    options
        Other named arguments of the special as ``(name, value)`` pairs, values as Python
        literals (``hom``/``het`` are folded into ``kind`` and not repeated here).
    """

    kind: str = "UN"
    special: str | None = None
    options: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(lhs | group)`` after expansion.

    Attributes
    ----------
    lhs
        formulaic right-hand-side text of the term's design, intercept explicit: ``"1"``,
        ``"1 + standLRT"``, ``"0 + Machine"``, ``"0 + dummy(f, 'A')"``.
    group
        Column names whose interaction is the grouping factor, in lme4's order:
        ``(1 | batch/cask)`` gives the terms with ``("batch",)`` and ``("cask", "batch")``.
    structure
        The covariance structure (UN for a plain bar).
    text
        The term as lme4 would print it, for messages: ``"1 + standLRT | school"``.
    position
        Character offset of the term in the original formula (for error messages).
    """

    lhs: str
    group: tuple[str, ...]
    structure: Structure = field(default_factory=Structure)
    text: str = ""
    position: int = 0

    @property
    def group_name(self) -> str:
        """lme4's name of the grouping factor: ``"school"``, ``"cask:batch"``."""
        return ":".join(self.group)


@dataclass(frozen=True)
class ParsedFormula:
    """A whole lme4 formula, parsed and expanded.

    Attributes
    ----------
    formula
        The formula as written.
    response
        formulaic text of the response expression (``"normexam"``, ``"log(y)"``), or
        ``None`` for a one-sided formula.
    fixed
        formulaic right-hand side of the fixed part, intercept explicit (``"1 + standLRT"``,
        ``"0 + x"``); random terms and offsets removed; ``.`` already expanded when the
        data's columns were given to the parser.
    random
        The random-effects terms after every expansion (``/``, ``+``, ``*`` on the right of
        the bar), in the order written.
    offsets
        formulaic text of each ``offset(...)`` argument in the fixed part.
    variables
        Every data column the formula refers to (response, fixed, random, groups, offsets),
        in order of first appearance, for the model frame and missing-value handling.
    """

    formula: str
    response: str | None
    fixed: str
    random: tuple[RandomTerm, ...] = ()
    offsets: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()
