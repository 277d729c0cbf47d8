"""Property-based tests of the formula grammar, and a bounded fuzz run of the parser.

* Valid formulas, drawn from the grammar's pieces (responses, fixed terms, intercept
  markers, offsets, random terms with every bar, special and grouping form), parse; their
  printed form (the syntax tree deparsed as R writes it, :func:`~lmeformula.formula.render.to_r`)
  parses to the same terms; and no drawn term is lost on the way.
* Arbitrary text never makes :func:`lmeformula.parse` raise anything but lmeformula's own
  errors.
* A fuzz run mutates valid formulas (characters inserted, deleted, swapped) and feeds them
  to ``parse`` and, on a tiny frame, to ``lmer``: only lmeformula's errors may come out.

Hypothesis runs derandomized (the same examples on every run, so CI is deterministic);
``HYPOTHESIS_PROFILE=explore`` searches new examples, and ``LMEFORMULA_FUZZ_EXAMPLES``
sets the size of the fuzz run (default 2,000 parser and 66 model examples, about 15 s).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmeformula as lmf
from lmeformula.formula import ParsedFormula, parse
from lmeformula.formula.parser import parse_formula
from lmeformula.formula.render import to_r
from lmeformula.formula.source import Source

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FUZZ_EXAMPLES = int(os.environ.get("LMEFORMULA_FUZZ_EXAMPLES", "2000"))

# -- valid formulas from the grammar's pieces --------------------------------------------

COLUMNS = ["y", "x", "z", "w", "f", "h", "g", "s", "t"]
NUMERIC = ["x", "z", "w"]
FACTORS = ["f", "h"]
GROUPS = ["g", "s", "t"]

plain = st.sampled_from(NUMERIC + FACTORS)
odd_name = st.sampled_from(["`my x`", "`class`", "`if`", "`a.b`", "my.var", "`x 2`"])


@st.composite
def fixed_term(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A fixed-effects term and the columns it names."""
    a, b = draw(plain), draw(plain)
    x = draw(st.sampled_from(NUMERIC))
    kind = draw(st.integers(0, 10))
    if kind == 0:
        return a, [a]
    if kind == 1:
        return f"{a}:{b}", [a, b]
    if kind == 2:
        return f"{a} * {b}", [a, b]
    if kind == 3:
        return f"({a} + {b})^2", [a, b]
    if kind == 4:
        return f"poly({x}, {draw(st.integers(1, 3))})", [x]
    if kind == 5:
        return f"I({x}^2)", [x]
    if kind == 6:
        return f"log({x})", [x]
    if kind == 7:
        return f"factor({x})", [x]
    if kind == 8:
        name = draw(odd_name)
        return name, [name.strip("`")]
    if kind == 9:
        return f"I({x} - {draw(st.integers(0, 20))})", [x]
    return f'dummy({draw(st.sampled_from(FACTORS))}, "A")', []


@st.composite
def random_term(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A random-effects term and its grouping columns."""
    x = draw(st.sampled_from(NUMERIC))
    lhs = draw(
        st.sampled_from(["1", x, f"1 + {x}", f"0 + {x}", f"{x} - 1", "0 + f", f"1 + {x} + w"])
    )
    g1, g2 = draw(st.permutations(GROUPS))[:2]
    group = draw(st.sampled_from([g1, f"{g1}:{g2}", f"{g1}/{g2}"]))
    groups = [g1] if group == g1 else [g1, g2]
    bar = draw(st.sampled_from(["|", "||"]))
    special = draw(
        st.sampled_from(
            [None, "us", "diag", "homdiag", "cs", "homcs", "ar1", "hetar1", "toep", "homtoep"]
        )
    )
    if special is None:
        return f"({lhs} {bar} {group})", groups
    args = ""
    if special in ("diag", "cs") and draw(st.booleans()):
        args = f", hom = {draw(st.sampled_from(['TRUE', 'FALSE', 'T', 'F']))}"
    if special == "ar1" and draw(st.booleans()):
        args = f", het = {draw(st.sampled_from(['TRUE', 'FALSE']))}"
    return f"{special}({lhs} | {group}{args})", groups


@st.composite
def formula(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    """A valid lme4 formula, the fixed columns and the grouping columns it names."""
    response = draw(st.sampled_from(["y", "log(y)", "I(y / 100)", "`my y`", "y^2"]))
    pieces: list[tuple[str, str, list[str]]] = []
    for _ in range(draw(st.integers(0, 4))):
        text, cols = draw(fixed_term())
        pieces.append(("fixed", text, cols))
    for _ in range(draw(st.integers(0, 3))):
        text, groups = draw(random_term())
        pieces.append(("random", text, groups))
    if draw(st.booleans()):
        pieces.append(("marker", draw(st.sampled_from(["0", "1", "-1", "+1"])), []))
    if draw(st.booleans()):
        pieces.append(("offset", "offset(w)", ["w"]))
    if not pieces:
        pieces.append(("marker", "1", []))
    pieces = draw(st.permutations(pieces))
    rhs = ""
    for i, (_, text, _) in enumerate(pieces):
        if i == 0:
            rhs = text
        elif text.startswith(("-", "+")):
            rhs += f" {text[0]} {text[1:]}"
        else:
            rhs += f" {draw(st.sampled_from(['+', ' + ', '+ ']))} {text}"
    fixed_cols = [c for kind, _, cols in pieces if kind in ("fixed", "offset") for c in cols]
    group_cols = [c for kind, _, cols in pieces if kind == "random" for c in cols]
    space = draw(st.sampled_from([" ", "", "\n  ", "\t"]))
    return f"{response}{space}~{space}{rhs}", fixed_cols, group_cols


def printed(text: str) -> str:
    """The formula's syntax tree printed as R deparses it."""
    tree = parse_formula(Source(text))
    lhs = "" if tree.lhs is None else f"{to_r(tree.lhs)} "
    return f"{lhs}~ {to_r(tree.rhs)}"


def _terms(parsed: ParsedFormula) -> tuple[object, ...]:
    # Everything but the text as written and the terms' offsets into it.
    random = tuple(replace(t, position=0, text="") for t in parsed.random)
    return parsed.response, parsed.fixed, random, parsed.offsets, parsed.variables


@settings(max_examples=300, deadline=None)
@given(formula())
def test_printed_form_parses_to_the_same_terms(drawn: tuple[str, list[str], list[str]]) -> None:
    text, fixed_cols, group_cols = drawn
    parsed = parse(text)
    again = parse(printed(text))
    assert _terms(again) == _terms(parsed), (text, printed(text))
    # Printing is a fixed point after one round.
    assert printed(printed(text)) == printed(text)
    # No drawn term is lost: every column named is used, every group has its term.
    for col in fixed_cols + group_cols:
        assert col in parsed.variables, (col, text)
    groups = {c for t in parsed.random for c in t.group}
    assert set(group_cols) <= groups, (text, parsed.random)


# -- arbitrary text ----------------------------------------------------------------------

FORMULA_CHARS = [
    *"yxzfg~+-*/:^()|,.`'\"01 2e5L=!<>&%$#[]{}\\\n\t_",
    "||",
    "**",
    "(1|g)",
    "TRUE",
    "hom",
    "us(",
    "ar1(",
    "offset(",
    "poly(",
    "I(",
    "%in%",
    "..",
]
formula_text = st.lists(
    st.sampled_from(FORMULA_CHARS) | st.characters(codec="utf-8"), max_size=40
).map("".join)


@settings(max_examples=400, deadline=None)
@given(formula_text)
def test_arbitrary_text_raises_only_our_errors(text: str) -> None:
    try:
        parsed = parse(text)
    except lmf.LmeFormulaError as err:
        # Every parse error points into the formula.
        if isinstance(err, lmf.FormulaError) and err.position is not None:
            assert 0 <= err.position <= len(text)
        return
    assert isinstance(parsed, ParsedFormula)


# -- the bounded fuzz run ----------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid formula with a few characters inserted, deleted, swapped or repeated."""
    text = draw(formula())[0]
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.integers(0, 3))
        if op == 0:
            text = text[:i] + draw(st.sampled_from(FORMULA_CHARS)) + text[i:]
        elif op == 1:
            text = text[:i] + text[i + 1 :]
        elif op == 2 and i + 1 < len(text):
            text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        else:
            j = draw(st.integers(i, min(len(text), i + 8)))
            text = text[:i] + text[i:j] * 2 + text[j:]
    return text


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutated() | formula_text)
def test_fuzz_parse(text: str) -> None:
    with contextlib.suppress(lmf.LmeFormulaError):
        parse(text, columns=COLUMNS)


def _tiny_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 24
    return pd.DataFrame(
        {
            "y": rng.normal(10, 2, n),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "w": rng.uniform(1, 2, n),
            "f": np.tile(["A", "B", "C"], n // 3),
            "h": np.repeat(["u", "v"], n // 2),
            "g": np.repeat(["g1", "g2", "g3", "g4"], n // 4),
            "s": np.tile(["s1", "s2", "s3"], n // 3),
            "t": np.tile(np.arange(4), n // 4),
            "my x": rng.normal(size=n),
            "my y": rng.normal(size=n),
            "class": rng.normal(size=n),
            "if": rng.normal(size=n),
            "a.b": rng.normal(size=n),
            "my.var": rng.normal(size=n),
            "x 2": rng.normal(size=n),
        }
    )


TINY = _tiny_frame()


@settings(
    max_examples=max(FUZZ_EXAMPLES // 30, 20),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(formula().map(lambda d: d[0]) | mutated())
def test_fuzz_lmer_on_a_tiny_frame(text: str) -> None:
    before = TINY.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmf.LmeFormulaWarning)
        try:
            parsed = parse(text)
            fit = (lmf.lmer if parsed.random else lmf.gls)(text, TINY)
        except lmf.LmeFormulaError:
            pass
        else:
            assert np.isfinite(fit.loglik)
    pd.testing.assert_frame_equal(TINY, before)


@pytest.mark.parametrize(
    "text",
    [
        "y ~ `a\\`b` + (1 | g)",
        'y ~ dummy(f, "a\\"b") + (1 | g)',
        "y ~ dummy(f, 'it''s') + (1 | g)",
        "y ~ - - x + (1 | g)",
        "y ~ x + -1 + (1 | g)",
        "y ~ (x + (1 | g))",
        "y ~ I(x^-1) + (1 | g)",
        "y ~ I(-x^2) + (1 | g)",
        "y ~ I((x - 1)^2) + (1 | g)",
        "y ~ I(!(x > 1)) + (1 | g)",
    ],
)
def test_printed_form_of_awkward_formulas(text: str) -> None:
    try:
        parsed = parse(text)
    except lmf.FormulaError:
        return
    assert _terms(parse(printed(text))) == _terms(parsed), printed(text)
