"""``mimetic benchmark <name>``: the field's benchmark tables run here (the experiment machinery of
:mod:`mimetic.cli.experiment`: cells kept on disk, ``--resume``, Ctrl-C after a cell)."""

from __future__ import annotations

import argparse

from mimetic.cli.experiment import add_group

HELP = "the field's benchmark tables (MuJoCo locomotion, PushT), run here"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "benchmark", help=HELP)
