"""What a bug report needs: lmeformula's version, its dependencies', the platform's and BLAS'."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

# The one place the version is written: pyproject.toml reads it from here.
VERSION = "0.1.0"

# The runtime dependencies, then the optional ones that change what a fit can take or do.
DEPENDENCIES = (
    "numpy",
    "scipy",
    "pandas",
    "statsmodels",
    "formulaic",
    "narwhals",
    "nlopt",
    "threadpoolctl",
    "joblib",
    "tqdm",
    "matplotlib",
    "cloudpickle",
)
OPTIONAL = ("polars", "pyarrow", "pyreadr", "dask", "distributed", "ipywidgets")


def _version_of(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _blas() -> list[dict[str, Any]]:
    # threadpoolctl reads the loaded libraries; numpy's BLAS is loaded by importing numpy.
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "version", "architecture", "num_threads", "filepath")
    return [{k: info.get(k) for k in keys} for info in threadpool_info()]


def show_versions(as_dict: bool = False) -> dict[str, Any] | None:
    """Print (or return) the versions a bug report should give, as ``pandas.show_versions``.

    Parameters
    ----------
    as_dict : bool, default False
        Return the information as a dictionary instead of printing it.

    Returns
    -------
    dict or None
        With ``as_dict=True``: keys ``"lmeformula"``, ``"system"`` (python, platform,
        machine), ``"dependencies"`` and ``"optional"`` (name to version, ``None`` when
        not installed) and ``"blas"`` (the BLAS and OpenMP libraries loaded, from
        threadpoolctl: their API, version, kernel, threads and file).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> info = lmf.show_versions(as_dict=True)
    >>> info["lmeformula"] == lmf.__version__
    True
    >>> sorted(info)
    ['blas', 'dependencies', 'lmeformula', 'optional', 'system']
    >>> lmf.show_versions()  # doctest: +SKIP
    INSTALLED VERSIONS
    ------------------
    lmeformula     : 0.1.0
    python         : 3.11.7 (main, ...) [GCC 12.2.0]
    ...
    """
    info: dict[str, Any] = {
        "lmeformula": VERSION,
        "system": {
            "python": sys.version.replace("\n", " "),
            "platform": platform.platform(),
            "machine": platform.machine(),
        },
        "dependencies": {name: _version_of(name) for name in DEPENDENCIES},
        "optional": {name: _version_of(name) for name in OPTIONAL},
        "blas": _blas(),
    }
    if as_dict:
        return info
    rows = [("lmeformula", VERSION), *info["system"].items()]
    rows += [(k, v or "not installed") for k, v in info["dependencies"].items()]
    rows += [(k, v or "not installed") for k, v in info["optional"].items()]
    width = max(len(k) for k, _ in rows) + 1
    lines = ["INSTALLED VERSIONS", "------------------"]
    lines += [f"{k:<{width}}: {v}" for k, v in rows]
    lines += ["", "BLAS", "----"]
    for lib in info["blas"]:
        lines.append(
            f"{lib['internal_api']} {lib['version']} ({lib['architecture']}, "
            f"{lib['num_threads']} threads): {lib['filepath']}"
        )
    print("\n".join(lines))
    return None
