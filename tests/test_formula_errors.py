"""The catalogue of formula errors: what is wrong, where, and that the message says so."""

from __future__ import annotations

import pytest

from lmeformula.errors import ArgumentTypeError, FormulaError
from lmeformula.formula import parse

# (formula, error class, substring of the message, position of the offending token)
ERRORS = [
    # -- the shape of the formula ------------------------------------------------------
    ("", FormulaError, "formula is empty", 0),
    ("  \n\t ", FormulaError, "formula is empty", 0),
    ("y", FormulaError, "write it as 'response ~ terms'", 0),
    ("y + x + (1|g)", FormulaError, "has no '~'", 0),
    ("y ~ x ~ z", FormulaError, "exactly one '~'", 6),
    ("y ~ ~ x", FormulaError, "exactly one '~'", 4),
    ("y ~ (a ~ b)", FormulaError, "exactly one '~'", 7),
    ("y ~", FormulaError, "nothing after '~'", 2),
    ("y ~   \n", FormulaError, "nothing after '~'", 2),
    # -- parentheses -------------------------------------------------------------------
    ("y ~ (x", FormulaError, "unmatched '('", 4),
    ("y ~ (x + (1|g)", FormulaError, "unmatched '('", 4),
    ("y ~ log(x", FormulaError, "unmatched '('", 7),
    ("y ~ x)", FormulaError, "unmatched ')'", 5),
    ("y ~ (x))", FormulaError, "unmatched ')'", 7),
    ("y ~ ()", FormulaError, "empty parentheses", 4),
    # -- operators ---------------------------------------------------------------------
    ("y ~ x +", FormulaError, "no term on its right", 6),
    ("y ~ (x +)", FormulaError, "no term on its right", 7),
    ("+ ~ x", FormulaError, "no term on its right", 0),
    ("y ~ * x", FormulaError, "no term on its left", 4),
    ("y ~ : x", FormulaError, "no term on its left", 4),
    ("y ~ x * / z", FormulaError, "two operators in a row", 8),
    ("y ~ x + * z", FormulaError, "two operators in a row", 8),
    ("y ~ x z", FormulaError, "join terms with an operator", 6),
    ("y ~ x, z", FormulaError, "between the arguments of a function", 5),
    ("y ~ x = 2", FormulaError, "named argument", 6),
    ("y ~ x %in% g", FormulaError, "not supported", 6),
    ("y ~ x %/% 2", FormulaError, "not supported", 6),
    ("y ~ x > 2", FormulaError, "use it inside a function", 6),
    ("y ~ x:-z", FormulaError, "can only remove a whole term", 6),
    ("y ~ x^z", FormulaError, "must be a whole number", 6),
    ("y ~ f(x, )", FormulaError, "empty argument", 7),
    ("y ~ I(1:3)", FormulaError, "sequence operator", 7),
    # -- characters, strings, backticks ------------------------------------------------
    ("y ~ x $ z", FormulaError, "unknown character", 6),
    ("y ~ x; z", FormulaError, "unknown character", 5),
    ("y ~ x@z", FormulaError, "unknown character", 5),
    ("y ~ x # comment", FormulaError, "unknown character", 6),
    ("y ~ x[1]", FormulaError, "unknown character", 5),
    ("y ~ x % 2", FormulaError, "unknown character", 6),
    ('y ~ dummy(f, "A)', FormulaError, "unterminated string", 13),
    ("y ~ dummy(f, 'A)", FormulaError, "unterminated string", 13),
    ("y ~ `my col", FormulaError, "unterminated backticked name", 4),
    ("y ~ ``", FormulaError, "empty backticked name", 4),
    # -- terms that are not terms ------------------------------------------------------
    ("y ~ TRUE", FormulaError, "R constant", 4),
    ("y ~ x + pi", FormulaError, "R constant", 8),
    ("y ~ 2", FormulaError, "only 0 and 1", 4),
    ("y ~ x + 2", FormulaError, "only 0 and 1", 8),
    ("y ~ 2L * x", FormulaError, "only 0 and 1", 4),
    ("y ~ x + 1e3", FormulaError, "only 0 and 1", 8),
    ('y ~ "A"', FormulaError, "cannot be a term", 4),
    ("y ~ .", FormulaError, "columns=", 4),
    ("y ~ log(.)", FormulaError, "inside a function call", 8),
    (". ~ x", FormulaError, "cannot be the response", 0),
    # -- what lme4 silently drops or mangles -------------------------------------------
    ("y ~ (1|g)*z", FormulaError, "can only be added", 9),
    ("y ~ (1|g):z", FormulaError, "can only be added", 9),
    ("y ~ z:(1|g)", FormulaError, "can only be added", 5),
    ("y ~ (1|g)/z", FormulaError, "can only be added", 9),
    ("y ~ (1|g)^2", FormulaError, "can only be added", 9),
    ("y ~ x * us(1|g)", FormulaError, "can only be added", 6),
    ("y ~ (x + (1|g)):z", FormulaError, "can only be added", 15),
    ("y ~ -(1|g)", FormulaError, "removed with '-'", 4),
    ("y ~ x - (1|g)", FormulaError, "removed with '-'", 6),
    ("y ~ (0|g)", FormulaError, "did you mean (1|g)?", 5),
    ("y ~ (-1|g)", FormulaError, "at least one column", 5),
    ("y ~ (0 + 1 - 1|school)", FormulaError, "did you mean (1|school)?", 5),
    ("y ~ (0||g)", FormulaError, "at least one column", 5),
    ("y ~ diag(0|g)", FormulaError, "at least one column", 9),
    ("y ~ log(1|g)", FormulaError, "unknown covariance special 'log'", 4),
    ("y ~ I(x|g)", FormulaError, "known covariance specials: us, diag", 4),
    ("y ~ x + foo(x|g)", FormulaError, "unknown covariance special 'foo'", 8),
    ("y ~ (x | g | h)", FormulaError, "nested inside the left side", 7),
    ("y ~ ((1|h) + x | g)", FormulaError, "nested inside the left side", 7),
    ("y ~ (|g)", FormulaError, "left side of '|' is empty", 5),
    ("y ~ (||g)", FormulaError, "left side of '||' is empty", 5),
    ("y ~ (1|)", FormulaError, "right side of '|' is empty", 6),
    ("y ~ x + 1|g", FormulaError, "outside parentheses", 9),
    ("y ~ x + (1|g) | h", FormulaError, "outside parentheses", 14),
    ("y ~ (1|log(g))", FormulaError, "grouping factors must be columns", 7),
    ("y ~ (1|g+1)", FormulaError, "grouping factors must be columns", 9),
    ("y ~ (1|-g)", FormulaError, "grouping factors must be columns", 7),
    ('y ~ (1|"g")', FormulaError, "grouping factors must be columns", 7),
    ("y ~ (1|.)", FormulaError, "grouping factors must be columns", 7),
    ("y ~ (1|(g|h))", FormulaError, "grouping factors must be columns", 9),
    ("(1|g) ~ x", FormulaError, "left of '~'", 2),
    ("y + (1|g) ~ x", FormulaError, "left of '~'", 6),
    ("y ~ (. | g)", FormulaError, "only allowed in the fixed part", 5),
    # -- covariance specials -----------------------------------------------------------
    ("y ~ diag(x|g, foo = 1)", FormulaError, "unknown argument 'foo'", 14),
    ("y ~ ar1(x|g, hom = TRUE)", FormulaError, "unknown argument 'hom'", 13),
    ("y ~ us(x|g, hom = TRUE)", FormulaError, "unknown argument 'hom'", 12),
    ("y ~ homcs(x|g, hom = TRUE)", FormulaError, "unknown argument 'hom'", 15),
    ("y ~ cs(x|g, hom = 1)", FormulaError, "must be TRUE or FALSE", 18),
    ('y ~ diag(x|g, hom = "yes")', FormulaError, "must be TRUE or FALSE", 20),
    ("y ~ ar1(x|g, het = maybe)", FormulaError, "must be TRUE or FALSE", 19),
    ("y ~ cs(x|g, TRUE)", FormulaError, "positional argument", 12),
    ("y ~ cs(x|g, hom = TRUE, hom = FALSE)", FormulaError, "given twice", 24),
    ("y ~ cs(x, 1|g)", FormulaError, "random term as its first argument", 4),
    ("y ~ us(x||g)", FormulaError, "single '|'", 8),
]


def _ids(rows: list[tuple[object, ...]]) -> list[str]:
    return [" ".join(str(row[0]).split()) or repr(row[0]) for row in rows]


@pytest.mark.parametrize(("formula", "error", "message", "position"), ERRORS, ids=_ids(ERRORS))
def test_formula_error(formula: str, error: type[Exception], message: str, position: int) -> None:
    with pytest.raises(error) as info:
        parse(formula)
    err = info.value
    assert isinstance(err, ValueError)
    assert message in err.reason
    assert err.formula == formula
    assert err.position == position
    assert err.token is not None
    if err.token:
        assert formula[err.position :].startswith(err.token)
        assert err.token in err.reason
    # The rendered message shows the formula with a caret under the token.
    assert str(err).endswith(" " * position + "^")


@pytest.mark.parametrize("formula", [None, 3, b"y ~ x", ["y ~ x"]], ids=repr)
def test_formula_must_be_str(formula: object) -> None:
    with pytest.raises(ArgumentTypeError, match="must be a str"):
        parse(formula)  # type: ignore[arg-type]


@pytest.mark.parametrize("columns", ["abc", [1, 2]], ids=repr)
def test_columns_must_be_names(columns: object) -> None:
    with pytest.raises(ArgumentTypeError, match="columns"):
        parse("y ~ .", columns=columns)  # type: ignore[arg-type]


def test_dot_with_no_column_left() -> None:
    with pytest.raises(FormulaError, match="stands for no column") as info:
        parse("y ~ . + (1|g)", columns=["y", "g"])
    assert info.value.position == 4


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="unknown covariance special"):
        parse("y ~ log(1|g)")
