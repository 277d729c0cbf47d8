"""Variance functions (nlme's ``varFunc``): a residual standard deviation that depends on a
covariate, relative to σ.

Each function is one class: how it reads its form, how many parameters its covariate gives
it, and the standard deviation of each row at its parameters. Binding to the model's rows
(:func:`lmeformula.model.residual.bind_variance`) checks the column and returns a
:class:`BoundVariance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lmeformula.errors import DataError
from lmeformula.structures.forms import refuse_unknown, split_form

__all__ = ["BoundVariance", "VarExp", "VarIdent", "VarPower", "VarianceFunction"]


class VarianceFunction:
    """A covariate-dependent residual standard deviation (nlme's ``varFunc``).

    Parameters
    ----------
    form
        The covariate: ``"x"`` (or nlme's ``"~x"``); for VarIdent the stratifying column,
        ``"g"`` or ``"1 | g"``.
    """

    kind: ClassVar[str] = ""
    #: The covariate is a factor (a standard deviation per level) rather than a number.
    stratified: ClassVar[bool] = False
    example: ClassVar[str] = "x"

    def __init__(self, form: Any = None, **unknown: Any) -> None:
        refuse_unknown(self.kind, form, unknown, ["form"], self.example)
        where = f"{self.kind}({form!r})"
        coords, group = split_form(form, where)
        time = coords[0] if len(coords) == 1 else None
        if len(coords) > 1:
            raise DataError(f"{where}: name one covariate, e.g. {self.kind}('{self.example}').")
        if self.stratified:
            column = group[0] if group else time
            if time not in (None, column) or len(group) > 1:
                raise DataError(f"{where}: write {self.kind}('g') with one stratifying column.")
        else:
            if group:
                raise DataError(
                    f"{where}: strata ('| g') are not supported for {self.kind}; write "
                    f"{self.kind}('x')."
                )
            column = time
        if column is None:
            raise DataError(f"{where}: name the covariate, e.g. {self.kind}('{self.example}').")
        self.column = column
        self.form = form

    def __repr__(self) -> str:
        return f"{self.kind}({self.form!r})"

    @property
    def columns(self) -> list[str]:
        """The data columns the function reads."""
        return [self.column]

    def check(self, x: np.ndarray) -> None:
        """Refuse a numeric covariate the function cannot use (raises DataError)."""

    def n_par(self, levels: tuple[str, ...]) -> int:
        """Number of parameters (``levels``: the covariate's, when stratified)."""
        return 1

    def names(self, levels: tuple[str, ...]) -> list[str]:
        """A label per parameter."""
        return ["delta"]

    def row_sd(self, x: np.ndarray, par: np.ndarray) -> np.ndarray:
        """Relative standard deviation of each row (``x``: the covariate, level codes when
        stratified)."""
        raise NotImplementedError

    def natural(self, par: np.ndarray, levels: tuple[str, ...]) -> dict[str, float]:
        """The parameters as nlme reports them."""
        return {"delta": float(par[0])}


class VarIdent(VarianceFunction):
    """A standard deviation per level of a factor (nlme's ``varIdent(form = ~1 | g)``;
    SAS ``REPEATED / GROUP=g``): ratios to the first level, on the log scale for the
    optimizer."""

    kind = "VarIdent"
    stratified = True
    example = "g"

    def n_par(self, levels: tuple[str, ...]) -> int:
        return len(levels) - 1

    def names(self, levels: tuple[str, ...]) -> list[str]:
        return [f"log sd ratio[{lvl}]" for lvl in levels[1:]]

    def row_sd(self, x: np.ndarray, par: np.ndarray) -> np.ndarray:
        ratios = np.exp(np.concatenate([[0.0], par]))
        return ratios[x.astype(int)]

    def natural(self, par: np.ndarray, levels: tuple[str, ...]) -> dict[str, float]:
        return {
            f"sd ratio[{lvl}]": float(r) for lvl, r in zip(levels[1:], np.exp(par), strict=True)
        }


class VarPower(VarianceFunction):
    """Standard deviation ∝ ``|x|^δ`` (nlme's ``varPower(form = ~x)``)."""

    kind = "VarPower"

    def check(self, x: np.ndarray) -> None:
        if np.any(x == 0):
            raise DataError(
                f"variance={self!r}: {self.column!r} has zeros, where |x|^δ makes the "
                "variance 0 or infinite; shift the covariate (e.g. x + 1) or use VarExp."
            )

    def row_sd(self, x: np.ndarray, par: np.ndarray) -> np.ndarray:
        return np.abs(x) ** par[0]


class VarExp(VarianceFunction):
    """Standard deviation ∝ exp(δ x) (nlme's ``varExp(form = ~x)``)."""

    kind = "VarExp"

    def row_sd(self, x: np.ndarray, par: np.ndarray) -> np.ndarray:
        return np.exp(par[0] * x)


@dataclass
class BoundVariance:
    """A variance function bound to the model's rows."""

    function: VarianceFunction
    x: np.ndarray  # the covariate (level codes when stratified)
    levels: tuple[str, ...]

    @property
    def n_par(self) -> int:
        """Number of parameters."""
        return self.function.n_par(self.levels)

    @property
    def lower(self) -> np.ndarray:
        return np.full(self.n_par, -np.inf)

    @property
    def upper(self) -> np.ndarray:
        return np.full(self.n_par, np.inf)

    def start(self) -> np.ndarray:
        return np.zeros(self.n_par)

    def starts(self) -> list[np.ndarray]:
        """Where an optimizer may start: the variance ratios at 1."""
        return [self.start()]

    @property
    def names(self) -> list[str]:
        return self.function.names(self.levels)

    def row_sd(self, par: np.ndarray) -> np.ndarray:
        """Relative standard deviation of each row."""
        return self.function.row_sd(self.x, np.asarray(par, dtype=float))

    def natural(self, par: np.ndarray) -> dict[str, float]:
        """As nlme reports it: the ratios of VarIdent, δ of VarPower and VarExp."""
        return self.function.natural(np.asarray(par, dtype=float), self.levels)
