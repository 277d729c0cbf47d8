"""Puts the versions a run tested on at the head of its log (as CI shows them)."""

from __future__ import annotations


def pytest_report_header() -> list[str]:
    import lmeformula

    versions = lmeformula.show_versions(as_dict=True)
    pinned = ", ".join(f"{k} {v}" for k, v in versions["dependencies"].items() if v)
    return [
        f"lmeformula {lmeformula.__version__} from {lmeformula.__file__}",
        f"python {versions['system']['python']}; {pinned}",
        f"BLAS: {versions['blas']}",
    ]
