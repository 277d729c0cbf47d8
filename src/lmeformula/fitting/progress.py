"""Progress bars for long work: bootstraps, profiles and model searches.

One rule everywhere a ``progress=`` argument appears: ``None`` (the default) shows a bar only
once the work has lasted :data:`AUTO_DELAY` seconds, so quick calls print nothing;
``True`` shows it from the start; ``False`` never. The bar is tqdm's: a widget in a notebook
when ipywidgets is installed (``pip install "lmeformula[notebook]"``), a line of text
otherwise (the terminal, or a notebook without ipywidgets).
"""

from __future__ import annotations

import warnings
from typing import Any

from lmeformula.errors import ArgumentTypeError

__all__ = ["AUTO_DELAY", "check_progress", "progress_bar"]

#: Seconds of work after which ``progress=None`` shows its bar.
AUTO_DELAY = 2.0


def check_progress(progress: Any) -> bool | None:
    """``progress`` as given, after checking it is True, False or None.

    Examples
    --------
    >>> check_progress(None), check_progress(False)
    (None, False)
    >>> check_progress("yes")
    Traceback (most recent call last):
    ...
    lmeformula.errors.ArgumentTypeError: progress must be True, False or None (a bar once the \
work lasts 2 s), got 'yes'.
    """
    if progress is None or isinstance(progress, bool):
        return progress
    raise ArgumentTypeError(
        "progress must be True, False or None (a bar once the work lasts "
        f"{AUTO_DELAY:g} s), got {progress!r}."
    )


def progress_bar(total: int, desc: str, progress: bool | None, unit: str = "fit") -> Any:
    """A tqdm bar over ``total`` steps, shown as ``progress`` says (see the module).

    Use it as a context manager and call ``update(k)`` after each k steps.

    Examples
    --------
    >>> with progress_bar(3, "demo", progress=False) as bar:  # prints nothing
    ...     for _ in range(3):
    ...         _ = bar.update(1)
    >>> bar = progress_bar(3, "demo", progress=None)
    >>> bar.delay  # a bar only after 2 s of work
    2.0
    >>> bar.close()
    """
    progress = check_progress(progress)
    with warnings.catch_warnings():
        # Without ipywidgets tqdm.auto warns once and falls back to a text bar, which is
        # what we want there: the warning would only clutter the cell.
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=progress is False,
        delay=AUTO_DELAY if progress is None else 0.0,
    )
