"""Reading nlme's forms (``"time | id"``, ``"x + y | g"``, ``"1 | id"``) and the arguments
residual structures and variance functions are called with."""

from __future__ import annotations

from typing import Any

import numpy as np

from lmeformula.errors import ArgumentTypeError, DataError

__all__ = ["check_order", "refuse_unknown", "split_form"]


def split_form(form: Any, where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The coordinates left of the bar and the grouping columns right of it.

    Examples
    --------
    >>> split_form("time | id", "AR1")
    (('time',), ('id',))
    >>> split_form("1 | id", "AR1")
    ((), ('id',))
    >>> split_form("~ latitude + longitude", "SPH")
    (('latitude', 'longitude'), ())
    >>> split_form("age | Subject:Sex", "CS")
    (('age',), ('Subject', 'Sex'))
    """
    if not isinstance(form, str):
        raise ArgumentTypeError(
            f"{where} takes a form such as 'time | id', got {type(form).__name__}."
        )
    text = form.strip().lstrip("~").strip()
    if text.count("|") > 1:
        raise DataError(f"{where}: the form {form!r} has more than one '|'; write 'time | id'.")
    left, bar, right = text.partition("|")
    left = left.strip()
    if bar and not right.strip():
        raise DataError(
            f"{where}: the form {form!r} has nothing right of '|'; name the subject column "
            "('time | id') or drop the '|'."
        )
    group = tuple(g.strip().strip("`") for g in right.split(":")) if right.strip() else ()
    if not left:
        raise DataError(f"{where}: the form {form!r} has nothing left of '|'; write 'time | id'.")
    if any(not g for g in group):
        raise DataError(f"{where}: the form {form!r} has an empty grouping column.")
    coords = () if left == "1" else tuple(c.strip().strip("`") for c in left.split("+"))
    if any(not c for c in coords):
        raise DataError(f"{where}: the form {form!r} has an empty coordinate left of '|'.")
    return coords, group


def refuse_unknown(
    kind: str, form: Any, unknown: dict[str, Any], accepted: list[str], example: str
) -> None:
    """An answer in our terms to nlme's habits (``value = 0.5``, ``fixed = TRUE``) and to a
    forgotten form, rather than Python's "unexpected keyword argument"."""
    if not unknown:
        if form is None:
            raise ArgumentTypeError(
                f"{kind}() needs its form, e.g. lmf.{kind}({example!r}) (nlme's "
                f"form = ~ {example})."
            )
        return
    name = next(iter(unknown))
    hint = (
        " Starting values and fixed parameters (nlme's value= and fixed=) are not supported: "
        "the structure's parameters are estimated."
        if name in ("value", "fixed", "rho", "phi", "init", "start")
        else ""
    )
    raise ArgumentTypeError(
        f"{kind}() got an unknown argument {name!r}; it takes {', '.join(accepted)}, e.g. "
        f"lmf.{kind}({example!r}).{hint}"
    )


def check_order(name: str, value: Any) -> int:
    """A non-negative integer order (ARMA's p and q)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ArgumentTypeError(f"{name} must be a non-negative integer, got {value!r}.")
    return int(value)
