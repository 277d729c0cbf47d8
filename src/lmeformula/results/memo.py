"""Work done once per fit: a fit does not change, so what is computed from it can be kept.

Satterthwaite's derivatives cost O(k²) likelihood evaluations, Kenward-Roger's matrices a
few dense q x q products, a profile hundreds of refits; each is asked for by several
tables (``summary``, ``anova``, ``contrast``, ``confint`` at several levels). The modules
that compute them decorate their function with :func:`once_per_fit`, which keeps each
answer beside the fit (weakly: it goes when the fit goes) rather than in the fit.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["once_per_fit"]

T = TypeVar("T")


def once_per_fit(fn: Callable[..., T]) -> Callable[..., T]:
    """Cache ``fn(fit, *args)`` per fit object and hashable ``args``.

    Examples
    --------
    >>> calls = []
    >>> @once_per_fit
    ... def work(fit, k):
    ...     calls.append(k)
    ...     return k * 2
    >>> class Fit: pass
    >>> f = Fit()
    >>> work(f, 3), work(f, 3), calls
    (6, 6, [3])
    """
    store: weakref.WeakKeyDictionary[Any, dict[Hashable, Any]] = weakref.WeakKeyDictionary()

    @functools.wraps(fn)
    def wrapper(fit: Any, *args: Hashable) -> T:
        answers = store.setdefault(fit, {})
        if args not in answers:
            answers[args] = fn(fit, *args)
        return answers[args]

    return wrapper
