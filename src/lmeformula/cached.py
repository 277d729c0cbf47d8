"""An attribute computed on first read and kept in the instance, without a lock.

``functools.cached_property`` takes a lock on every first read before Python 3.12 (1 µs on
this machine, where the read itself costs 0.3): a small fit reads six of them on objects it
has just made (the design's bounds and start, its layout's). The computation is repeated
if two threads race to it, and kept once, as Python 3.12's ``cached_property`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

__all__ = ["cached_attribute"]

T = TypeVar("T")


class cached_attribute(Generic[T]):
    """``functools.cached_property`` without its lock (see the module).

    Examples
    --------
    >>> class Box:
    ...     @cached_attribute
    ...     def size(self) -> int:
    ...         print("computed")
    ...         return 3
    >>> box = Box()
    >>> box.size
    computed
    3
    >>> box.size
    3
    """

    def __init__(self, fn: Callable[[Any], T]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> cached_attribute[T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> T | cached_attribute[T]:
        if obj is None:
            return self
        value = self.fn(obj)
        # The instance's own entry shadows this (non-data) descriptor from now on; a frozen
        # dataclass's __setattr__ is bypassed as cached_property bypasses it.
        obj.__dict__[self.name] = value
        return value
