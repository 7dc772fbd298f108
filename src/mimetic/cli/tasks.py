"""``mimetic tasks``: the built-in tasks and their experts, from the task registry alone (no
torch, no policies: the command starts in a fraction of a second)."""

from __future__ import annotations

import argparse

from mimetic.cli.base import print_table
from mimetic.envs import describe_tasks


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="list the built-in tasks and their experts")
    p.set_defaults(handler=tasks)


def tasks(args: argparse.Namespace) -> None:

    rows = [[d["name"], d["gym_id"], d["obs_dim"], d["action"], d["max_steps"], d["description"]]
            for d in describe_tasks()]
    print_table(rows, ["task", "gymnasium id", "obs", "action", "horizon", "description"])
