"""R's own data files (``.rds``, ``.RData``/``.rda``) as pandas DataFrames, with R's factors.

A CSV written by R loses what a factor knows: its level order (``levels(Orthodont$Sex)`` is
Male, Female, not the alphabetical Female, Male) and whether it is ordered. Both decide a
model's coefficients: the first level is the baseline (``SexFemale``, not ``SexMale``) and
an ordered factor gets polynomial contrasts (``grade.L``, ``grade.Q``). :func:`read_r` reads
R's files with pyreadr (``pip install "lmeformula[r]"``), whose factors are pandas
Categoricals in R's level order.

pyreadr (librdata) reports neither an object's class nor whether a factor is ordered, and it
turns vectors and matrices into data frames. So the file's objects are also walked here,
without their values, as R's ``unserialize`` reads them (R Internals, "Serialization
formats"): that gives each object's class and each column's, hence the ordered factors and
an error for an object that is not a data frame.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lmeformula.errors import (
    DataError,
    DataFileNotFoundError,
    LmeFormulaWarning,
    MissingDependencyError,
)

__all__ = ["read_r"]

# SEXP types and the special codes of R's serialization (src/main/serialize.c).
_SYM, _LIST, _CLO, _ENV, _PROM, _LANG = 1, 2, 3, 4, 5, 6
_SPECIAL, _BUILTIN, _CHAR, _LGL, _INT, _REAL, _CPLX, _STR = 7, 8, 9, 10, 13, 14, 15, 16
_DOT, _VEC, _EXPR, _BCODE, _EXTPTR, _WEAKREF, _RAW, _S4 = 17, 19, 20, 21, 22, 23, 24, 25
_REF, _NIL, _PERSIST, _PACKAGE, _NAMESPACE = 255, 254, 247, 248, 249
_BCREPDEF, _BCREPREF, _ATTRLANG, _ATTRLIST, _ALTREP = 244, 243, 240, 239, 238
_SINGLETONS = frozenset({253, 252, 251, 250, 242, 241})  # environments, unbound, missing
_PAIRS = frozenset({_LIST, _LANG, _CLO, _PROM, _DOT})
_WIDTH = {_LGL: 4, _INT: 4, _REAL: 8, _CPLX: 16, _RAW: 1}
#: The vector types of R's ALTREP classes (compact_intseq, deferred_string, ...) by name.
_ALTREP_TYPES = (("int", _INT), ("real", _REAL), ("string", _STR), ("logical", _LGL))
#: R's implicit class of an object without a class attribute, for messages.
_TYPE_NAMES = {
    _SYM: "name",
    _LIST: "pairlist",
    _CLO: "function",
    _ENV: "environment",
    _PACKAGE: "environment",
    _NAMESPACE: "environment",
    _LANG: "call",
    _SPECIAL: "function",
    _BUILTIN: "function",
    _LGL: "logical vector",
    _INT: "integer vector",
    _REAL: "numeric vector",
    _CPLX: "complex vector",
    _STR: "character vector",
    _VEC: "list",
    _EXPR: "expression",
    _RAW: "raw vector",
    _S4: "S4 object",
    **dict.fromkeys((253, 250, 242, 241), "environment"),  # global, base, empty
}


@dataclass
class _Node:
    """What the walk keeps of an R object: its type, attributes, strings and elements."""

    type: int
    attributes: dict[str, _Node] = field(default_factory=dict)
    strings: list[str | None] = field(default_factory=list)
    items: list[_Node] = field(default_factory=list)
    tags: list[str | None] = field(default_factory=list)
    length: int = 0
    #: Where each element of a pairlist sits in the stream (start, end).
    extents: list[tuple[int, int]] = field(default_factory=list)

    def classes(self) -> tuple[str, ...]:
        cls = self.attributes.get("class")
        return tuple(s for s in cls.strings if s is not None) if cls is not None else ()

    def describe(self) -> str:
        """R's class of the object, as a message names it."""
        if self.classes():
            return "an object of class " + "/".join(self.classes())
        dim = self.attributes.get("dim")
        if dim is not None:
            return "a matrix" if dim.length == 2 else "an array"
        name = _TYPE_NAMES.get(self.type)
        if self.type == _NIL:
            return "NULL"
        if name is None:
            return f"an R object of type {self.type}"
        return ("an " if name[0] in "aeiou" else "a ") + name


_NIL_NODE = _Node(_NIL)


class _Walker:
    """R's ``unserialize`` (XDR format) keeping classes, names and strings, not values."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.refs: list[_Node] = []
        # Where each shared object (symbol, environment, ...) is defined and referred to,
        # in stream order, to cut one object out of a workspace (see extract).
        self.events: list[tuple[int, int, int]] = []  # (position, size or 0, ref index)
        self.spans: dict[int, tuple[int, int, int]] = {}  # index: (start, end, type)
        self.header_bytes = b""

    def raw(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("the file ends early")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def integer(self) -> int:
        return int(struct.unpack(">i", self.raw(4))[0])

    def length(self) -> int:
        n = self.integer()
        if n == -1:  # a long vector: the length follows as two 32-bit halves
            upper, lower = self.integer(), self.integer()
            n = (upper << 32) + lower
        return n

    def header(self) -> None:
        start = self.pos
        if bytes(self.raw(2)) != b"X\n":
            raise ValueError("not R's binary (XDR) serialization")
        version = self.integer()
        self.integer()  # the writer's R version
        self.integer()  # the oldest R version that reads it
        if version == 3:
            self.raw(self.integer())  # the native encoding's name
        elif version != 2:
            raise ValueError(f"serialization version {version}")
        self.header_bytes = bytes(self.data[start : self.pos])

    def define(self, node: _Node, start: int) -> None:
        self.refs.append(node)
        self.events.append((start, 0, len(self.refs)))

    def string_vector(self, kind: int) -> _Node:
        self.integer()  # always 0
        return _Node(kind, items=[self.item() for _ in range(self.integer())])

    def item(self) -> _Node:
        start = self.pos
        flags = self.integer()
        kind = flags & 0xFF
        has_attr = bool(flags & (1 << 9))
        if kind == _NIL:
            return _NIL_NODE
        if kind in _SINGLETONS:
            return _Node(kind)
        if kind == _REF:
            index = (flags >> 8) or self.integer()
            self.events.append((start, self.pos - start, index))
            return self.refs[index - 1]
        if kind in (_PERSIST, _PACKAGE, _NAMESPACE, _SYM):
            if kind == _SYM:
                node = _Node(_SYM, strings=list(self.item().strings))
            else:
                node = self.string_vector(kind)
            self.define(node, start)
            self.spans[len(self.refs)] = (start, self.pos, kind)
            return node
        if kind == _ENV:
            node = _Node(_ENV)
            self.define(node, start)
            self.integer()  # locked
            for _ in range(4):  # enclosure, frame, hash table, attributes
                self.item()
            return node
        if kind in _PAIRS:
            return self.pairs(flags)
        if kind == _CHAR:
            n = self.integer()
            text = None if n == -1 else bytes(self.raw(n)).decode("utf-8", errors="replace")
            return _Node(_CHAR, strings=[text])
        node = _Node(kind)
        if kind in _WIDTH:
            node.length = self.length()
            self.raw(_WIDTH[kind] * node.length)
        elif kind in (_STR, _VEC, _EXPR):
            node.items = [self.item() for _ in range(self.length())]
            if kind == _STR:
                node.strings = [s for it in node.items for s in it.strings]
                node.items = []
        elif kind in (_SPECIAL, _BUILTIN):
            self.raw(self.integer())
        elif kind == _BCODE:
            self.integer()  # the number of calls shared within the code
            self.bytecode()
        elif kind == _ALTREP:
            # A compact or wrapped vector (1:n, sort(x)): its class, state and attributes.
            info, state = self.item(), self.item()
            node.attributes = _as_attributes(self.item())
            wrapped = state.items[0] if state.type == _LIST and state.items else None
            if wrapped is not None and wrapped.type in _TYPE_NAMES:
                node.type = wrapped.type
                node.attributes = node.attributes or wrapped.attributes
            else:
                name = info.items[0].strings[0] if info.items and info.items[0].strings else ""
                node.type = next((t for w, t in _ALTREP_TYPES if w in (name or "")), _ALTREP)
            return node
        elif kind in (_EXTPTR, _WEAKREF):
            self.define(node, start)
            if kind == _EXTPTR:
                self.item()  # protected value
                self.item()  # tag
        elif kind != _S4:
            raise ValueError(f"an R object of type {kind}")
        if has_attr:
            node.attributes = _as_attributes(self.item())
        return node

    def pairs(self, flags: int) -> _Node:
        """A pairlist (attributes, the objects of an .RData file) or a call or function,
        its links followed in a loop (a long list would overflow a recursion)."""
        node = _Node(flags & 0xFF)
        while True:
            kind = flags & 0xFF
            if flags & (1 << 9):
                node.attributes = _as_attributes(self.item())
            tag = self.item() if flags & (1 << 10) else None
            node.tags.append(tag.strings[0] if tag is not None and tag.strings else None)
            begin = self.pos
            node.items.append(self.item())
            node.extents.append((begin, self.pos))
            flags = self.integer()
            if (flags & 0xFF) != kind:
                break
        self.pos -= 4
        self.item()  # the list's end (NULL), or the body of a function
        return node

    def extract(self, start: int, end: int) -> bytes | None:
        """The object at ``start:end`` as an .rds stream of its own (None when it shares
        more than symbols with the objects before it).

        A workspace defines each symbol once (``names``, ``class``, ...) and refers back
        to it by number: the object's references are renumbered, and a symbol defined
        before it is written out where it is first used.
        """
        out = bytearray(self.header_bytes)
        cursor, count = start, 0
        renumbered: dict[int, int] = {}
        for pos, size, index in self.events:
            if not start <= pos < end:
                continue
            if size == 0:  # a definition inside the object
                count += 1
                renumbered[index] = count
                continue
            out += self.data[cursor:pos]
            cursor = pos + size
            if index not in renumbered:
                begin, finish, kind = self.spans.get(index, (0, 0, _ENV))
                if kind not in (_SYM, _PACKAGE, _NAMESPACE):
                    return None
                out += self.data[begin:finish]
                count += 1
                renumbered[index] = count
            else:
                out += struct.pack(">i", (renumbered[index] << 8) | _REF)
        out += self.data[cursor:end]
        return bytes(out)

    def bytecode(self) -> None:
        # R's ReadBC1: the code vector, then its constants, calls in a format of their own.
        self.item()
        for _ in range(self.integer()):
            kind = self.integer()
            if kind == _BCODE:
                self.bytecode()
            elif kind in (_LANG, _LIST, _BCREPDEF, _BCREPREF, _ATTRLANG, _ATTRLIST):
                self.bytecode_call(kind)
            else:
                self.item()

    def bytecode_call(self, kind: int) -> None:
        while True:
            if kind == _BCREPREF:
                self.integer()
                return
            if kind not in (_BCREPDEF, _LANG, _LIST, _ATTRLANG, _ATTRLIST):
                self.item()
                return
            if kind == _BCREPDEF:
                self.integer()
                kind = self.integer()
            if kind in (_ATTRLANG, _ATTRLIST):
                self.item()
            self.item()  # tag
            self.bytecode_call(self.integer())  # car
            kind = self.integer()  # the cdr, followed in the loop


def _as_attributes(node: _Node) -> dict[str, _Node]:
    return {t: v for t, v in zip(node.tags, node.items, strict=True) if t is not None}


def _decompressed(path: Path) -> bytes:
    with path.open("rb") as fh:
        magic = fh.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.decompress(path.read_bytes())
    if magic[:3] == b"BZh":
        return bz2.decompress(path.read_bytes())
    if magic == b"\xfd7zXZ\x00":
        return lzma.decompress(path.read_bytes())
    return path.read_bytes()


@dataclass
class _Contents:
    """A file's objects (``None`` for the one object of an .rds file), without values."""

    objects: dict[str | None, _Node]
    walker: _Walker
    extents: dict[str, tuple[int, int]]

    def cut(self, name: str) -> bytes | None:
        """The object ``name`` of a workspace as an .rds stream of its own."""
        return self.walker.extract(*self.extents[name]) if name in self.extents else None


def _contents(path: Path) -> _Contents:
    data = _decompressed(path)
    walker = _Walker(data)
    if data[:5] not in (b"RDX2\n", b"RDX3\n"):
        walker.header()
        return _Contents({None: walker.item()}, walker, {})
    walker.pos = 5
    walker.header()
    top = walker.item()
    if top.type != _LIST:
        raise ValueError("the workspace is not a list of objects")
    named = [(t, v, e) for t, v, e in zip(top.tags, top.items, top.extents, strict=True) if t]
    return _Contents({t: v for t, v, _ in named}, walker, {t: e for t, _, e in named})


def _columns(node: _Node) -> dict[str, tuple[str, ...]]:
    """Each column's R class, by name."""
    names = node.attributes.get("names")
    labels = names.strings if names is not None else []
    return {
        str(n): item.classes() for n, item in zip(labels, node.items, strict=False) if n is not None
    }


def _pyreadr() -> Any:
    try:
        import pyreadr
    except ImportError:
        raise MissingDependencyError(
            'read_r needs the pyreadr package, which lmeformula\'s "r" extra installs: '
            'pip install "lmeformula[r]" (or pip install pyreadr).'
        ) from None
    return pyreadr


def _with_r_classes(frame: pd.DataFrame, node: _Node | None) -> pd.DataFrame:
    """The frame with R's ordered factors as ordered Categoricals (pyreadr drops that)."""
    if node is None:
        return frame
    for name, classes in _columns(node).items():
        col = frame.get(name)
        if "ordered" in classes and col is not None and isinstance(col.dtype, pd.CategoricalDtype):
            frame[name] = col.cat.as_ordered()
    return frame


def read_r(path: str | Path, object: str | None = None) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """Read R's own data files: an ``.rds`` file, or the data frames of an ``.RData`` (``.rda``)
    file, with R's factor levels.

    Factors become pandas Categoricals with the categories in R's ``levels()`` order (the
    first is the baseline of treatment contrasts, as in R) and ordered factors become
    ordered Categoricals (polynomial contrasts by default, as in R). Needs pyreadr:
    ``pip install "lmeformula[r]"``.

    Parameters
    ----------
    path
        The file. Its content, not its name, tells an .rds file (one object) from an
        .RData file (named objects); gzip, bzip2 and xz compression are read.
    object
        For an .RData file, the name of the one data frame to return.

    Returns
    -------
    pandas.DataFrame or dict of str to pandas.DataFrame
        The data frame of an .rds file or the one named by ``object``; without ``object``,
        every data frame of an .RData file by name (objects that are not data frames,
        such as fitted models or vectors, are left out). Row names other than R's
        automatic 1, 2, ... are the index.

    Raises
    ------
    MissingDependencyError
        Without pyreadr.
    DataFileNotFoundError
        When the file does not exist.
    DataError
        For a file that is not R's, an object that is not a data frame, or an ``object``
        the file does not hold.

    Examples
    --------
    >>> import tempfile, pathlib, pyreadr
    >>> import lmeformula as lmf
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "doses.rds"
    >>> dose = pd.Categorical(["high", "low", "mid"], categories=["low", "mid", "high"])
    >>> pyreadr.write_rds(path, pd.DataFrame({"dose": dose, "y": [3.0, 1.0, 2.0]}))
    >>> doses = lmf.read_r(path)
    >>> doses["dose"].cat.categories.tolist()
    ['low', 'mid', 'high']
    """
    file = Path(path)
    if not file.is_file():
        where = "is a directory" if file.is_dir() else "does not exist"
        raise DataFileNotFoundError(
            f"the R file {str(file)!r} {where}; give the path of an .rds or .RData file "
            f"(a relative path starts at {str(Path.cwd())!r})."
        )
    pyreadr = _pyreadr()
    try:
        contents = _contents(file)
    except (ValueError, OSError, EOFError, IndexError, lzma.LZMAError) as err:
        return _without_classes(pyreadr, file, object, str(err))
    objects = contents.objects
    if None in objects:
        if object is not None:
            raise DataError(
                f"{str(file)!r} is an .rds file, which holds one object without a name; "
                f"call read_r({str(file)!r}) without object={object!r}."
            )
        _check_frame(file, None, objects[None])
        return _with_r_classes(_read(pyreadr, file, None)[None], objects[None])
    names = {str(n): node for n, node in objects.items()}
    if object is not None:
        if object not in names:
            held = ", ".join(map(repr, names)) or "no objects"
            raise DataError(f"{str(file)!r} has no object named {object!r}; it holds {held}.")
        _check_frame(file, object, names[object])
        return _with_r_classes(_read(pyreadr, file, [object], contents)[object], names[object])
    frames = {n: node for n, node in names.items() if "data.frame" in node.classes()}
    if not frames:
        held = "; ".join(f"{n!r} is {node.describe()}" for n, node in names.items())
        raise DataError(
            f"{str(file)!r} holds no data frame ({held or 'it holds no objects'}); read_r "
            "reads data frames (R's data.frame, tibble, data.table)."
        )
    read = _read(pyreadr, file, list(frames), contents)
    return {n: _with_r_classes(read[n], node) for n, node in frames.items()}


def _check_frame(file: Path, name: str | None, node: _Node) -> None:
    if "data.frame" not in node.classes():
        what = "the object" if name is None else f"the object {name!r}"
        raise DataError(
            f"{what} in {str(file)!r} is {node.describe()}, not a data frame; read_r reads "
            "data frames (R's data.frame, tibble, data.table): convert it in R with "
            "as.data.frame() and save it again."
        )


def _read(
    pyreadr: Any, file: Path, names: list[str] | None, contents: _Contents | None = None
) -> dict[str | None, pd.DataFrame]:
    try:
        read = pyreadr.read_r(str(file), use_objects=names)
    except Exception as err:  # pyreadr raises its own LibrdataError, PyreadrError, ...
        if contents is not None and names:
            # librdata gives up on a whole workspace for one object it cannot read (an S4
            # object such as a fitted lme4 model): read the data frames one at a time.
            return {n: _read_one(pyreadr, file, n, contents, err) for n in names}
        raise _unreadable(file, err) from None
    return {n: pd.DataFrame(f) for n, f in read.items()}


def _unreadable(file: Path, err: Exception, name: str | None = None) -> DataError:
    what = f"the data frame {name!r} of {str(file)!r}" if name else repr(str(file))
    return DataError(
        f"{what} could not be read as R's .rds or .RData file ({err}); R's saveRDS() and "
        "save() files are read, in R's default binary format (not with ascii = TRUE). In "
        'R, save the data frame alone: saveRDS(d, "d.rds").'
    )


def _read_one(
    pyreadr: Any, file: Path, name: str, contents: _Contents, err: Exception
) -> pd.DataFrame:
    stream = contents.cut(name)
    if stream is None:
        raise _unreadable(file, err, name)
    with tempfile.TemporaryDirectory() as tmp:
        single = Path(tmp) / "object.rds"
        single.write_bytes(stream)
        try:
            read = pyreadr.read_r(str(single))
        except Exception as again:  # as above: pyreadr's own errors
            raise _unreadable(file, again, name) from None
    return pd.DataFrame(read[None])


def _without_classes(
    pyreadr: Any, file: Path, object: str | None, reason: str
) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """What pyreadr alone reads, when R's classes could not be: no ordered factors."""
    read = _read(pyreadr, file, None)
    warnings.warn(
        f"the R classes of the objects in {str(file)!r} could not be read ({reason}), so "
        "ordered factors come as unordered Categoricals (treatment contrasts, not "
        "polynomial ones); order them in pandas (series.cat.as_ordered()) where needed.",
        LmeFormulaWarning,
        stacklevel=3,
    )
    if None in read:
        return read[None]
    if object is None:
        return {str(n): f for n, f in read.items()}
    if object not in read:
        held = ", ".join(repr(n) for n in read) or "none"
        raise DataError(f"{str(file)!r} has no data frame named {object!r}; it has {held}.")
    return read[object]
