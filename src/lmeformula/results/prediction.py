"""The linear predictor of a fitted mixed model for new data (lme4's ``predict.merMod``
before any inverse link): X β, the offsets, and Z b for the levels seen in the fit.

Both ``LmerResult.predict`` and ``GlmerResult.predict`` come here; a generalized model then
applies its inverse link for ``type="response"``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from lmeformula.errors import DataError
from lmeformula.model.design import formula_context, r_names
from lmeformula.model.frame import level_label
from lmeformula.results.state import ModelState
from lmeformula.validate import check_bool, is_fixed_only

__all__ = ["linear_predictor"]


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", text) is not None


def _group_labels(data: pd.DataFrame, columns: tuple[str, ...]) -> list[str]:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"newdata lacks the grouping column(s) {missing}.")
    parts = [[level_label(v) for v in data[c].tolist()] for c in columns]
    return [":".join(vals) for vals in zip(*parts, strict=True)]


def linear_predictor(
    state: ModelState,
    newdata: Any = None,
    re_form: str | None = None,
    allow_new_levels: bool = False,
) -> np.ndarray:
    """X β + offset + Z b for ``newdata`` (by default the fitted rows).

    Parameters
    ----------
    state
        The fit's model state.
    newdata
        A table to predict for (pandas, polars, Arrow or a dict of columns); by default
        the fitted data.
    re_form
        ``None`` to include all random effects, ``"~0"`` (or ``"NA"``) for the fixed
        effects only (R's ``re.form = NA``).
    allow_new_levels
        Levels not seen in the fit predict with random effects 0 when True; otherwise
        they are an error.

    Returns
    -------
    numpy.ndarray
        NaN where a row of ``newdata`` lacks a value the model needs (R's ``na.pass``).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    >>> linear_predictor(fit.state, re_form="~0")[:2].round(1).tolist()
    [1527.5, 1527.5]
    """
    from lmeformula.model.newdata import model_matrix, prepare_newdata

    fixed_only = is_fixed_only(re_form)
    check_bool("allow_new_levels", allow_new_levels)
    d, parsed = state.design, state.parsed
    if newdata is None:
        if fixed_only:
            return d.X @ state.beta + d.offset
        return d.X @ state.beta + np.asarray(d.Z @ state.b).ravel() + d.offset
    # The columns of the right-hand side only: the response's (a cbind's counts) are not
    # needed to predict, nor, for the fixed effects alone, the random terms' (R's
    # re.form = NA reads no grouping column).
    if fixed_only:
        groups: set[str] = set()
        rhs = " ".join([parsed.fixed, *parsed.offsets])
    else:
        groups = {c for t in parsed.random for c in t.group}
        rhs = " ".join([parsed.fixed, *(t.text for t in parsed.random), *parsed.offsets])
    variables = [v for v in parsed.variables if v in groups or _mentions(rhs, v)]
    data = prepare_newdata(newdata, variables, state.frame.data, sorted(groups))
    # R's predict passes missing values through (na.pass): NaN where a row lacks one.
    complete = data.notna().all(axis=1).to_numpy()
    out = np.full(len(data), np.nan)
    if not complete.any():
        return out
    data = data.loc[complete]
    ctx = formula_context()
    mm = model_matrix(d.fixed_spec, data, ctx, "the fixed-effects part")
    fixed = pd.DataFrame(np.asarray(mm, dtype=float), columns=r_names(list(mm.columns)))
    eta = fixed[d.fixed_names].to_numpy() @ state.beta
    for expr in parsed.offsets:
        import formulaic

        off = formulaic.model_matrix(f"0 + I({expr})", data, context=ctx)
        eta = eta + np.asarray(off, dtype=float).sum(axis=1)
    if fixed_only:
        out[complete] = eta
        return out
    for block in state.term_blocks:
        term = block.term
        b = state.b[block.columns].reshape(term.factor.nlevels, term.p)
        labels = _group_labels(data, term.term.group)
        lookup = {lvl: i for i, lvl in enumerate(term.factor.levels)}
        idx = np.array([lookup.get(lbl, -1) for lbl in labels])
        if (idx < 0).any() and not allow_new_levels:
            new = sorted({lbl for lbl, i in zip(labels, idx, strict=True) if i < 0})
            raise DataError(
                f"newdata has level(s) {new[:5]} of {term.name!r} not seen in the fit; "
                "pass allow_new_levels=True to predict them with random effects 0."
            )
        where = f"the random term ({term.term.text})"
        zx = np.asarray(model_matrix(term.spec, data, ctx, where), dtype=float)
        contrib = np.where(idx[:, None] >= 0, b[np.maximum(idx, 0)], 0.0)
        eta = eta + np.sum(zx * contrib, axis=1)
    out[complete] = eta
    return out
