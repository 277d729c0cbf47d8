"""``python -m lmeformula``: the same command line as ``lmeformula``."""

from __future__ import annotations

import sys

from lmeformula.cli import main

if __name__ == "__main__":
    sys.exit(main())
