"""The parameter vector an objective is minimised over, as named blocks.

An engine's parameter vector is a concatenation of blocks, each with its own name, bounds,
start and labels: ``"theta"`` (the random-effects structures' θ, lme4's), ``"residual"``
(a residual correlation structure's parameters), ``"variance"`` (a variance function's);
a generalized model adds ``"dispersion"`` and, where β is not profiled out, ``"beta"``.
Whoever reads estimates asks the layout for a block by name and never slices by position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from lmeformula.cached import cached_attribute

if TYPE_CHECKING:
    from lmeformula.model.design import Design
    from lmeformula.structures.residual import ResidualModel

__all__ = [
    "BLOCK_NAMES",
    "ParameterBlock",
    "ParameterLayout",
    "layout_of",
    "residual_blocks",
    "theta_block",
]

#: The block names objectives use, in the order they come in a parameter vector.
BLOCK_NAMES = ("theta", "residual", "variance", "dispersion", "beta")


@dataclass(frozen=True)
class ParameterBlock:
    """One named block of the parameter vector.

    Attributes
    ----------
    name
        One of :data:`BLOCK_NAMES`.
    labels
        A label per entry (``"Subject: sd[(Intercept)]"``, ``"rho"``), for records.
    lower, upper
        Bounds of the entries (``-inf`` / ``inf`` where unbounded).
    start
        Where an optimizer starts.
    alternatives
        Other starts worth trying for this block (a range across the data's distances):
        the optimizer starts from the best of them (:func:`ParameterLayout.starts`).
    """

    name: str
    labels: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    start: np.ndarray
    alternatives: tuple[np.ndarray, ...] = ()

    def __post_init__(self) -> None:
        if self.name not in BLOCK_NAMES:
            raise ValueError(f"unknown parameter block {self.name!r}; use one of {BLOCK_NAMES}.")
        sizes = {len(self.labels), len(self.lower), len(self.upper), len(self.start)}
        if len(sizes) != 1:
            raise ValueError(f"the block {self.name!r} has entries of unequal lengths {sizes}.")

    @property
    def size(self) -> int:
        """Number of entries."""
        return len(self.labels)


@dataclass(frozen=True)
class ParameterLayout:
    """The blocks of a parameter vector, in order.

    Examples
    --------
    >>> theta = ParameterBlock("theta", ("sd",), np.zeros(1), np.full(1, np.inf), np.ones(1))
    >>> rho = ParameterBlock("residual", ("rho",), -np.ones(1), np.ones(1), np.zeros(1))
    >>> layout = ParameterLayout((theta, rho))
    >>> layout.get(np.array([0.5, 0.3]), "residual")
    array([0.3])
    >>> layout.get(np.array([0.5, 0.3]), "variance").size
    0
    >>> layout.join(theta=[0.7], residual=[0.1])
    array([0.7, 0.1])
    """

    blocks: tuple[ParameterBlock, ...] = ()
    _slices: dict[str, slice] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [b.name for b in self.blocks]
        if len(set(names)) != len(names):
            raise ValueError(f"parameter blocks named twice: {names}.")
        if names != sorted(names, key=BLOCK_NAMES.index):
            raise ValueError(f"parameter blocks out of order: {names}; use {BLOCK_NAMES}.")
        slices, at = {}, 0
        for b in self.blocks:
            slices[b.name] = slice(at, at + b.size)
            at += b.size
        object.__setattr__(self, "_slices", slices)

    @classmethod
    def of(cls, blocks: Sequence[ParameterBlock]) -> ParameterLayout:
        """The layout of the non-empty blocks among ``blocks``."""
        return cls(tuple(b for b in blocks if b.size))

    @property
    def size(self) -> int:
        """Length of the parameter vector."""
        return sum(b.size for b in self.blocks)

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the blocks present."""
        return tuple(self._slices)

    def slice(self, name: str) -> slice:
        """Where the block ``name`` sits; an absent block is the empty slice where it would
        sit (after the blocks before it in :data:`BLOCK_NAMES`)."""
        if name not in BLOCK_NAMES:
            raise KeyError(f"unknown parameter block {name!r}; use one of {BLOCK_NAMES}.")
        if name in self._slices:
            return self._slices[name]
        before = BLOCK_NAMES[: BLOCK_NAMES.index(name)]
        at = max((sl.stop for n, sl in self._slices.items() if n in before), default=0)
        return slice(at, at)

    def get(self, par: np.ndarray, name: str) -> np.ndarray:
        """The block ``name`` of ``par`` (empty when the layout has no such block)."""
        return np.asarray(par, dtype=float)[self.slice(name)]

    def join(self, **parts: Sequence[float] | np.ndarray) -> np.ndarray:
        """A parameter vector from its blocks (every block present must be given)."""
        missing = [n for n in self._slices if n not in parts]
        extra = [n for n in parts if n not in self._slices]
        if missing or extra:
            raise ValueError(f"blocks missing {missing} or not in the layout {extra}.")
        values = [np.asarray(parts[n], dtype=float).ravel() for n in self._slices]
        return np.concatenate([np.zeros(0), *values])

    def _cat(self, what: str) -> np.ndarray:
        if len(self.blocks) == 1:
            # θ alone (most models): the block's own array, not a copy made on every fit.
            return np.asarray(getattr(self.blocks[0], what), dtype=float)
        return np.concatenate([np.zeros(0)] + [getattr(b, what) for b in self.blocks])

    @cached_attribute
    def lower(self) -> np.ndarray:
        """Lower bounds of the whole vector."""
        return self._cat("lower")

    @cached_attribute
    def upper(self) -> np.ndarray:
        """Upper bounds of the whole vector."""
        return self._cat("upper")

    @cached_attribute
    def start(self) -> np.ndarray:
        """The default start of the whole vector."""
        return self._cat("start")

    def starts(self) -> list[np.ndarray]:
        """The default start, then each block's alternatives with the other blocks at
        their default starts."""
        out = [self.start]
        for name, block in zip(self._slices, self.blocks, strict=True):
            for alt in block.alternatives:
                par = self.start.copy()
                par[self._slices[name]] = alt
                out.append(par)
        return out

    @cached_property
    def labels(self) -> tuple[str, ...]:
        """A label per entry."""
        return tuple(label for b in self.blocks for label in b.labels)


def theta_block(design: Design) -> ParameterBlock:
    """The ``"theta"`` block of a design: each random-effects term's structure parameters,
    terms in lme4's order, labelled ``"Subject: sd[(Intercept)]"``."""
    labels = tuple(
        f"{t.name}: {n}" for t in design.terms for n in t.structure.param_names(t.columns)
    )
    return ParameterBlock("theta", labels, design.lower, design.upper, design.start)


def residual_blocks(model: ResidualModel | None) -> list[ParameterBlock]:
    """The ``"residual"`` and ``"variance"`` blocks of a residual model (none without)."""
    if model is None:
        return []
    out = []
    for name, part in (("residual", model.residual), ("variance", model.variance)):
        if part is not None:
            first, *others = part.starts()
            out.append(
                ParameterBlock(
                    name, tuple(part.names), part.lower, part.upper, first, tuple(others)
                )
            )
    return out


def layout_of(design: Design, residual: ResidualModel | None = None) -> ParameterLayout:
    """The parameter layout of a Gaussian model: θ, then the residual model's blocks."""
    return ParameterLayout.of([theta_block(design), *residual_blocks(residual)])
