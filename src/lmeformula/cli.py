"""The ``lmeformula`` command: ``lmeformula demo`` and ``lmeformula fit FORMULA --data FILE``.

lmeformula itself is imported inside the commands, so ``lmeformula --help`` answers at once
and argument errors are reported before the fitting code is loaded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

DEMO_FORMULA = "normexam ~ standLRT + (1 + standLRT | school)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmeformula",
        description="Fit lme4 mixed-model formulas in Python and print lme4's summary.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    commands.add_parser(
        "demo",
        help="fit lmer(normexam ~ standLRT + (1 + standLRT | school)) to the exam data",
        description=f"Fit lmer({DEMO_FORMULA}, data = exam) and print its summary and tidy table.",
    )
    fit = commands.add_parser(
        "fit",
        help="fit a formula to a CSV file and print the summary",
        description="Fit an lme4 formula to a CSV file (quoted columns are read as labels).",
    )
    fit.add_argument("formula", metavar="FORMULA", help='e.g. "y ~ x + (1 | g)"')
    fit.add_argument("--data", required=True, metavar="FILE.csv", help="the data, a CSV file")
    fit.add_argument(
        "--ml", action="store_true", help="maximum likelihood instead of REML (REML = FALSE)"
    )
    fit.add_argument("--tidy", action="store_true", help="also print broom.mixed's tidy table")
    return parser


def _print_tidy(fit: Any) -> None:
    import pandas as pd

    table = fit.tidy().copy()
    # Missing cells print as NA, as broom.mixed's tibble shows them to R users; na_rep
    # alone would leave None in text columns (the fixed effects' group).
    for col in table.columns:
        if not pd.api.types.is_numeric_dtype(table[col]):
            table[col] = table[col].astype(object).where(table[col].notna(), "NA")
    print(table.to_string(index=False, na_rep="NA"))


def _demo() -> int:
    from lmeformula import datasets, lmer

    exam = datasets.load("exam")
    fit = lmer(DEMO_FORMULA, data=exam, data_name="exam")
    print(fit.summary())
    _print_tidy(fit)
    return 0


def _fit(formula: str, data: str, *, ml: bool, tidy: bool) -> int:
    from lmeformula import lmer
    from lmeformula.datasets import read_csv

    frame = read_csv(data)
    fit = lmer(formula, data=frame, reml=not ml, data_name=Path(data).name)
    print(fit.summary())
    if tidy:
        _print_tidy(fit)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lmeformula`` command line.

    Parameters
    ----------
    argv
        The arguments after the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        The exit status: 0 on success, 2 for a usage error or an error of lmeformula
        (printed to stderr as ``error: <message>``).

    Examples
    --------
    >>> from lmeformula.cli import main
    >>> main(["demo"])  # doctest: +SKIP
    Linear mixed model fit by REML ['lmerMod']
    Formula: normexam ~ standLRT + (1 + standLRT | school)
    ...
    0
    >>> main(["fit", "y ~ x + (1 | g)", "--data", "mydata.csv", "--ml"])  # doctest: +SKIP
    """
    from lmeformula.errors import LmeFormulaError

    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.command == "demo":
            return _demo()
        return _fit(args.formula, args.data, ml=args.ml, tidy=args.tidy)
    except LmeFormulaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
