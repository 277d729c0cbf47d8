"""The lme4 formula grammar, as tables of formulas and what ``parse`` makes of them."""

from __future__ import annotations

import pandas as pd
import pytest
from formulaic import model_matrix

from lmeformula.formula import ParsedFormula, RandomTerm, Structure, parse
from lmeformula.model.design import formula_context

# (formula, (response, fixed, [(lhs, group, kind), ...], offsets))
GRAMMAR = [
    # -- left sides of the bar, intercept explicit -------------------------------------
    ("y ~ (1|g)", ("y", "1", [("1", ("g",), "UN")], ())),
    ("y ~ x + (x|g)", ("y", "1 + x", [("1 + x", ("g",), "UN")], ())),
    ("y ~ (1 + x|g)", ("y", "1", [("1 + x", ("g",), "UN")], ())),
    ("y ~ (x + 1|g)", ("y", "1", [("1 + x", ("g",), "UN")], ())),
    ("y ~ (0 + x|g)", ("y", "1", [("0 + x", ("g",), "UN")], ())),
    ("y ~ (-1 + x|g)", ("y", "1", [("0 + x", ("g",), "UN")], ())),
    ("y ~ (x - 1|g)", ("y", "1", [("0 + x", ("g",), "UN")], ())),
    ("y ~ (x + 0|g)", ("y", "1", [("0 + x", ("g",), "UN")], ())),
    ("y ~ (f|g)", ("y", "1", [("1 + f", ("g",), "UN")], ())),
    ("y ~ (0 + f|g)", ("y", "1", [("0 + f", ("g",), "UN")], ())),
    ("y ~ (x:z|g)", ("y", "1", [("1 + x:z", ("g",), "UN")], ())),
    ("y ~ (x*z|g)", ("y", "1", [("1 + x * z", ("g",), "UN")], ())),
    ("y ~ ((x+z)^2|g)", ("y", "1", [("1 + (x + z) ** 2", ("g",), "UN")], ())),
    ("y ~ (x + z | g)", ("y", "1", [("1 + x + z", ("g",), "UN")], ())),
    ('y ~ (0 + dummy(f, "A") | g)', ("y", "1", [("0 + dummy(f, 'A')", ("g",), "UN")], ())),
    ("y ~ (1 + log(x) | g)", ("y", "1", [("1 + log(x)", ("g",), "UN")], ())),
    # -- double bar and covariance specials --------------------------------------------
    ("y ~ x + (x||g)", ("y", "1 + x", [("1 + x", ("g",), "DIAG")], ())),
    ("y ~ (0 + x || g)", ("y", "1", [("0 + x", ("g",), "DIAG")], ())),
    ("y ~ us(x|g)", ("y", "1", [("1 + x", ("g",), "UN")], ())),
    ("y ~ diag(x|g)", ("y", "1", [("1 + x", ("g",), "DIAG")], ())),
    ("y ~ diag(x|g, hom = TRUE)", ("y", "1", [("1 + x", ("g",), "ID")], ())),
    ("y ~ diag(x|g, hom = FALSE)", ("y", "1", [("1 + x", ("g",), "DIAG")], ())),
    ("y ~ homdiag(x|g)", ("y", "1", [("1 + x", ("g",), "ID")], ())),
    ("y ~ cs(0 + f|g)", ("y", "1", [("0 + f", ("g",), "CSH")], ())),
    ("y ~ cs(0 + f|g, hom = T)", ("y", "1", [("0 + f", ("g",), "CS")], ())),
    ("y ~ cs(0 + f|g, hom = F)", ("y", "1", [("0 + f", ("g",), "CSH")], ())),
    ("y ~ homcs(0 + f|g)", ("y", "1", [("0 + f", ("g",), "CS")], ())),
    ("y ~ ar1(0 + f|g)", ("y", "1", [("0 + f", ("g",), "AR1")], ())),
    ("y ~ ar1(0 + f|g, het = TRUE)", ("y", "1", [("0 + f", ("g",), "ARH1")], ())),
    ("y ~ hetar1(0 + f|g)", ("y", "1", [("0 + f", ("g",), "ARH1")], ())),
    ("y ~ toep(0 + f|g)", ("y", "1", [("0 + f", ("g",), "TOEPH")], ())),
    ("y ~ homtoep(0 + f|g)", ("y", "1", [("0 + f", ("g",), "TOEP")], ())),
    ("y ~ toep(0 + f|g, hom = TRUE)", ("y", "1", [("0 + f", ("g",), "TOEP")], ())),
    ("y ~ (us(1|g))", ("y", "1", [("1", ("g",), "UN")], ())),
    (
        "Reaction ~ Days + ar1(0 + factor(Days) | Subject)",
        ("Reaction", "1 + Days", [("0 + factor(Days)", ("Subject",), "AR1")], ()),
    ),
    # -- grouping side: nesting, interaction, sums, crossing ----------------------------
    ("y ~ (1|a:b)", ("y", "1", [("1", ("a", "b"), "UN")], ())),
    (
        "strength ~ 1 + (1 | batch/cask)",
        ("strength", "1", [("1", ("cask", "batch"), "UN"), ("1", ("batch",), "UN")], ()),
    ),
    (
        "y ~ (1|a/b/c)",
        (
            "y",
            "1",
            [("1", ("c", "b", "a"), "UN"), ("1", ("b", "a"), "UN"), ("1", ("a",), "UN")],
            (),
        ),
    ),
    ("y ~ (1|a+b)", ("y", "1", [("1", ("a",), "UN"), ("1", ("b",), "UN")], ())),
    (
        "y ~ (1|a*b)",
        ("y", "1", [("1", ("a",), "UN"), ("1", ("b",), "UN"), ("1", ("a", "b"), "UN")], ()),
    ),
    (
        "y ~ (x|a/b)",
        ("y", "1", [("1 + x", ("b", "a"), "UN"), ("1 + x", ("a",), "UN")], ()),
    ),
    (
        "y ~ diag(x|a/b, hom = TRUE)",
        ("y", "1", [("1 + x", ("b", "a"), "ID"), ("1 + x", ("a",), "ID")], ()),
    ),
    (
        "y ~ (x||a/b)",
        ("y", "1", [("1 + x", ("b", "a"), "DIAG"), ("1 + x", ("a",), "DIAG")], ()),
    ),
    (
        "diameter ~ 1 + (1 | plate) + (1 | sample)",
        ("diameter", "1", [("1", ("plate",), "UN"), ("1", ("sample",), "UN")], ()),
    ),
    (
        "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)",
        (
            "score",
            "1 + Machine",
            [("1", ("Worker",), "UN"), ("1", ("Worker", "Machine"), "UN")],
            (),
        ),
    ),
    (
        "y ~ x + (1|g) + (0 + x|g)",
        ("y", "1 + x", [("1", ("g",), "UN"), ("0 + x", ("g",), "UN")], ()),
    ),
    (
        "y ~ (1|s) + x + (1|d) + (1|dept:service)",
        (
            "y",
            "1 + x",
            [("1", ("s",), "UN"), ("1", ("d",), "UN"), ("1", ("dept", "service"), "UN")],
            (),
        ),
    ),
    (
        "y ~ (1|a/b) + (1|c)",
        ("y", "1", [("1", ("b", "a"), "UN"), ("1", ("a",), "UN"), ("1", ("c",), "UN")], ()),
    ),
    # -- fixed part and intercepts -----------------------------------------------------
    ("y ~ 0 + x + (1|g)", ("y", "0 + x", [("1", ("g",), "UN")], ())),
    ("y ~ x + 0 + (1|g)", ("y", "0 + x", [("1", ("g",), "UN")], ())),
    ("y ~ x - 1 + (1|g)", ("y", "0 + x", [("1", ("g",), "UN")], ())),
    ("y ~ -1 + x + (1|g)", ("y", "0 + x", [("1", ("g",), "UN")], ())),
    ("y ~ 0 + (x|g)", ("y", "0", [("1 + x", ("g",), "UN")], ())),
    ("y ~ 1 + (1|g)", ("y", "1", [("1", ("g",), "UN")], ())),
    ("y ~ x + (1|g)", ("y", "1 + x", [("1", ("g",), "UN")], ())),
    ("~ x + (1|g)", (None, "1 + x", [("1", ("g",), "UN")], ())),
    ("y ~ x", ("y", "1 + x", [], ())),
    ("y ~ (x)", ("y", "1 + x", [], ())),
    ("y ~ ((x)) + ((1|g))", ("y", "1 + x", [("1", ("g",), "UN")], ())),
    ("y ~ (x + (1|g))", ("y", "1 + x", [("1", ("g",), "UN")], ())),
    ("y ~ a*b - a:b", ("y", "1 + a * b - a:b", [], ())),
    (
        "y ~ age * Sex + (age | Subject)",
        ("y", "1 + age * Sex", [("1 + age", ("Subject",), "UN")], ()),
    ),
    ("y ~ a/b", ("y", "1 + a / b", [], ())),
    ("y ~ (a + b)^2", ("y", "1 + (a + b) ** 2", [], ())),
    ("y ~ a:b:c", ("y", "1 + a:b:c", [], ())),
    # -- functions and R-to-Python translation -----------------------------------------
    ("log(y) ~ log(x)", ("log(y)", "1 + log(x)", [], ())),
    ("y ~ exp(x) + sqrt(x) + abs(x)", ("y", "1 + exp(x) + sqrt(x) + abs(x)", [], ())),
    (
        "follicles ~ sin(2*pi*Time) + cos(2*pi*Time) + (1 | Mare)",
        (
            "follicles",
            "1 + sin(2 * pi * Time) + cos(2 * pi * Time)",
            [("1", ("Mare",), "UN")],
            (),
        ),
    ),
    ("y ~ I(x^2)", ("y", "1 + I(x ** 2)", [], ())),
    ("y ~ I(x**2)", ("y", "1 + I(x ** 2)", [], ())),
    ("y ~ I(-x^2)", ("y", "1 + I(-x ** 2)", [], ())),
    ("y ~ I((x + 1)^-1)", ("y", "1 + I((x + 1) ** (-1))", [], ())),
    ("y ~ Sex * I(age - 11)", ("y", "1 + Sex * I(age - 11)", [], ())),
    ("y ~ I(x > 2 & z < 1)", ("y", "1 + I((x > 2) & (z < 1))", [], ())),
    ("y ~ I(!(x > 2))", ("y", "1 + I(~(x > 2))", [], ())),
    ("y ~ poly(x, 2)", ("y", "1 + poly(x, 2)", [], ())),
    ("y ~ poly(x, degree = 2, raw = TRUE)", ("y", "1 + poly(x, degree=2, raw=True)", [], ())),
    ("y ~ scale(x)", ("y", "1 + scale(x)", [], ())),
    (
        "y ~ scale(x, center = T, scale = F)",
        ("y", "1 + scale(x, center=True, scale=False)", [], ()),
    ),
    ("y ~ factor(x)", ("y", "1 + factor(x)", [], ())),
    (
        "weight ~ Time * factor(Diet) + (Time | Rat)",
        ("weight", "1 + Time * factor(Diet)", [("1 + Time", ("Rat",), "UN")], ()),
    ),
    ("y ~ C(f, contr.sum)", ("y", "1 + C(f, contr.sum)", [], ())),
    ('y ~ dummy(f, "A")', ("y", "1 + dummy(f, 'A')", [], ())),
    ("y ~ dummy(f, 'A')", ("y", "1 + dummy(f, 'A')", [], ())),
    ("y ~ x + offset(log(n))", ("y", "1 + x", [], ("log(n)",))),
    (
        "y ~ offset(n) + x + offset(log(m)) + (1|g)",
        ("y", "1 + x", [("1", ("g",), "UN")], ("n", "log(m)")),
    ),
    # -- names -------------------------------------------------------------------------
    (
        "`my y` ~ `my col` + (1 | `my group`)",
        ("`my y`", "1 + `my col`", [("1", ("my group",), "UN")], ()),
    ),
    ("y ~ log(`my col`)", ("y", "1 + log(`my col`)", [], ())),
    ("y ~ my.var + log(my.var)", ("y", "1 + my.var + log(`my.var`)", [], ())),
    ("y ~ x2L + `T`", ("y", "1 + x2L + `T`", [], ())),
    # -- layout --------------------------------------------------------------------------
    ("y~x+(1|g)", ("y", "1 + x", [("1", ("g",), "UN")], ())),
    ("y ~\n  x +\n\t(1 + x |\n g)", ("y", "1 + x", [("1 + x", ("g",), "UN")], ())),
    ("  y   ~   x  ", ("y", "1 + x", [], ())),
]


def _ids(rows: list[tuple[str, object]]) -> list[str]:
    return [" ".join(row[0].split()) for row in rows]


@pytest.mark.parametrize(("formula", "expected"), GRAMMAR, ids=_ids(GRAMMAR))
def test_grammar(formula: str, expected: tuple[object, ...]) -> None:
    response, fixed, random, offsets = expected
    parsed = parse(formula)
    assert isinstance(parsed, ParsedFormula)
    assert parsed.formula == formula
    assert parsed.response == response
    assert parsed.fixed == fixed
    assert [(t.lhs, t.group, t.structure.kind) for t in parsed.random] == random
    assert parsed.offsets == offsets


# (formula, columns, expected fixed, expected variables)
DOT = [
    ("y ~ .", ["y", "a", "b"], "1 + a + b", ("y", "a", "b")),
    ("y ~ . + (1|g)", ["a", "y", "g", "b"], "1 + a + b", ("y", "a", "b", "g")),
    ("y ~ 0 + . + (x|g)", ["y", "x", "g"], "0 + x", ("y", "x", "g")),
    ("y ~ . - b", ["y", "a", "b"], "1 + a + b - b", ("y", "a", "b")),
    ("log(y) ~ .", ["y", "my col"], "1 + `my col`", ("y", "my col")),
    ("y ~ .^2", ["y", "a", "b"], "1 + (a + b) ** 2", ("y", "a", "b")),
]


@pytest.mark.parametrize(("formula", "columns", "fixed", "variables"), DOT, ids=_ids(DOT))
def test_dot_expands_to_other_columns(
    formula: str, columns: list[str], fixed: str, variables: tuple[str, ...]
) -> None:
    parsed = parse(formula, columns=columns)
    assert parsed.fixed == fixed
    assert parsed.variables == variables


# (formula, variables in order of first appearance)
VARIABLES = [
    ("y ~ x + (1|g)", ("y", "x", "g")),
    ("log(y) ~ sin(2*pi*Time) + (Time|Mare)", ("y", "Time", "Mare")),
    ("y ~ poly(x, degree = 2, raw = TRUE)", ("y", "x")),
    ('y ~ dummy(f, "A") + (0 + dummy(f, "B")|g)', ("y", "f", "g")),
    ("y ~ (1|b/a) + a", ("y", "b", "a")),
    ("y ~ x + offset(log(n))", ("y", "x", "n")),
    ("`my y` ~ `my col` + (1|`my g`)", ("my y", "my col", "my g")),
    ("y ~ C(f, contr.treatment) + I(x > T)", ("y", "f", "x")),
    ("y ~ `T` + `pi`", ("y", "T", "pi")),
    ("y ~ cs(0 + f | g, hom = TRUE)", ("y", "f", "g")),
]


@pytest.mark.parametrize(("formula", "variables"), VARIABLES, ids=_ids(VARIABLES))
def test_variables(formula: str, variables: tuple[str, ...]) -> None:
    assert parse(formula).variables == variables


# (formula, [(text, position, special), ...])
TEXTS = [
    ("y ~ x + (1 + x | school)", [("1 + x | school", 8, None)]),
    ("y ~ (Days||Subject)", [("Days || Subject", 4, "||")]),
    ("y~(1|batch/cask)", [("1 | cask:batch", 2, None), ("1 | batch", 2, None)]),
    ("y ~ x + ((1|g))", [("1 | g", 8, None)]),
    ("y ~ cs(0+Machine|Worker, hom=TRUE)", [("cs(0 + Machine | Worker, hom = TRUE)", 4, "cs")]),
    ("y ~ diag(x|a/b)", [("diag(x | b:a)", 4, "diag"), ("diag(x | a)", 4, "diag")]),
]


@pytest.mark.parametrize(("formula", "terms"), TEXTS, ids=_ids(TEXTS))
def test_term_text_and_position(formula: str, terms: list[tuple[str, int, object]]) -> None:
    parsed = parse(formula)
    assert [(t.text, t.position, t.structure.special) for t in parsed.random] == terms


def test_random_term_is_the_contract_dataclass() -> None:
    (term,) = parse("y ~ diag(x | g, hom = TRUE)").random
    assert term == RandomTerm(
        lhs="1 + x",
        group=("g",),
        structure=Structure(kind="ID", special="diag"),
        text="diag(x | g, hom = TRUE)",
        position=4,
    )
    assert term.group_name == "g"
    assert parse("y ~ (1|a/b)").random[0].group_name == "b:a"


def test_zero_intercept_in_fixed_part_keeps_random_intercepts() -> None:
    parsed = parse("y ~ 0 + x + (1|g) + (1 + x|h) - 1")
    assert parsed.fixed == "0 + x"
    assert [t.lhs for t in parsed.random] == ["1", "1 + x"]


# -- formulaic accepts what the grammar writes ---------------------------------------------

FRAME = pd.DataFrame(
    {
        "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "x": [0.5, 1.5, 2.0, 3.5, 4.0, 5.5],
        "z": [2.0, 1.0, 4.0, 3.0, 6.0, 5.0],
        "a": [1.0, 2.0, 1.0, 2.0, 1.0, 2.0],
        "b": [3.0, 1.0, 2.0, 5.0, 4.0, 6.0],
        "n": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "f": ["A", "B", "C", "A", "B", "C"],
        "g": ["g1", "g1", "g2", "g2", "g3", "g3"],
        "Time": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        "my col": [1.0, 3.0, 2.0, 5.0, 4.0, 6.0],
        "my.var": [2.0, 1.0, 3.0, 6.0, 5.0, 4.0],
    }
)


# The context the design stage evaluates formulas in: what the grammar emits must run there.
CONTEXT = formula_context()

FORMULAIC = [
    "y ~ x + (x|g)",
    "y ~ 0 + x + (0 + f|g)",
    "y ~ (x:z|g) + (x*z|g)",
    "y ~ ((x+z)^2|g)",
    "y ~ (a + b)^2 + a/b + a:b:z - a:b",
    "y ~ log(x) + exp(x) + sqrt(x) + abs(x - 3)",
    "y ~ sin(2*pi*Time) + cos(2*pi*Time) + (1|g)",
    "y ~ I(x^2) + I(-x^2) + I((x + 1)^-1)",
    "y ~ I(x > 2 & z < 4) + I(!(x > 2))",
    "y ~ poly(x, 2) + scale(x)",
    "y ~ poly(x, degree = 2, raw = TRUE)",
    "y ~ factor(a) + x:factor(b)",
    "y ~ C(f, contr.sum)",
    "y ~ dummy(f, \"A\") + (0 + dummy(f, 'B') | g)",
    "y ~ `my col` + log(`my col`) + my.var + log(my.var)",
    "y ~ x + offset(log(n))",
    "y ~ (1|g)",
    "y ~ 0 + (1|g)",
    "y ~ -1 + x + (1|g)",
    "log(y) ~ x",
]


def _formulaic_texts(parsed: ParsedFormula) -> list[str]:
    texts = [parsed.fixed, *(term.lhs for term in parsed.random), *parsed.offsets]
    if parsed.response is not None:
        texts.append(parsed.response)
    return texts


@pytest.mark.parametrize("formula", FORMULAIC, ids=_ids([(f, None) for f in FORMULAIC]))
def test_formulaic_accepts_rendered_text(formula: str) -> None:
    for text in _formulaic_texts(parse(formula)):
        matrix = model_matrix(text, FRAME, context=CONTEXT)
        assert matrix.shape[0] == len(FRAME), text


def test_formulaic_accepts_dot_expansion() -> None:
    parsed = parse("y ~ . + (1|g)", columns=list(FRAME.columns))
    assert "g" not in parsed.fixed.split(" + ")
    matrix = model_matrix(parsed.fixed, FRAME, context=CONTEXT)
    assert "my col" in matrix.columns
