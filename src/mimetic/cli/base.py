"""What even the quickest commands need: the one-line-error parser, tables and the version.

It imports nothing heavy (no torch, no tasks), so that ``mimetic --help``, ``--version`` and
``tasks`` start fast; :mod:`mimetic.cli.common` re-exports all of it for the command modules.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from mimetic import __version__


class Parser(argparse.ArgumentParser):
    """argparse that reports bad input as a single line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    def fmt(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"  # undefined, e.g. the normalized score when expert and random tie
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    cells = [[fmt(h) for h in header]] + [[fmt(v) for v in r] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    print(table(rows, header))


def version() -> str:
    return f"mimetic {__version__}"


def cwd_on_path() -> None:
    """Put the current directory on ``sys.path`` as ``python -m`` does (the console script does
    not), so ``--expert module:function`` and ``--import MODULE`` find a user's own modules."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
