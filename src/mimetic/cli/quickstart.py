"""``mimetic quickstart``: collect demonstrations, train BC, evaluate against the expert."""

from __future__ import annotations

import argparse

from mimetic.cli.common import check_positive, check_seed, print_table
from mimetic.quickstart import run_quickstart


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", help="collect demos, train BC, evaluate against the expert")
    p.add_argument("--task", default="cartpole", help="task (default: cartpole)")
    p.add_argument("--episodes", type=int, default=10, help="expert demonstration episodes (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="seed for demos and training (default: 0)")
    p.add_argument("--out", default=None, help="run directory (default: runs/quickstart-<task>-<time>)")
    p.add_argument("--eval-episodes", type=int, default=50, help="evaluation episodes (default: 50)")
    p.set_defaults(handler=quickstart)


def quickstart(args: argparse.Namespace) -> None:

    check_positive(episodes=args.episodes, eval_episodes=args.eval_episodes)
    check_seed(args.seed)
    summary = run_quickstart(task=args.task, episodes=args.episodes, seed=args.seed, out=args.out,
                             eval_episodes=args.eval_episodes)
    rows = [[label, d["return_mean"], d["success_rate"], d["normalized_score"], d["imitation_error"]]
            for label, d in summary["table"]]
    print_table(rows, ["policy", "return", "success", "expert-normalized", "imitation error"])
    print(f"{summary['transitions']} demo transitions from {args.episodes} episodes; "
          f"BC trained {summary['train_s']:.1f} s; run saved to {summary['out']}")
