"""Command-line interface: ``mimetic collect | train <algo> | eval | experiment | quickstart | tasks``.

Every command prints results as a small table; long work shows progress bars on stderr. Any
:class:`MimeticError` ends the command with one ``error: ...`` line and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from mimetic.cliutil import add_config_args
from mimetic.errors import MimeticError


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad input as a single line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
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


def _add_common_task(p: argparse.ArgumentParser, *, required: bool, default_from: str) -> None:
    task_help = "task name (see 'mimetic tasks') or gym:<Gymnasium id>"
    p.add_argument("--task", required=required,
                   help=task_help if required else f"{task_help} (default: {default_from})")
    p.add_argument("--max-steps", type=int, default=None, help=f"episode horizon (default: {default_from})")
    p.add_argument("--num-envs", type=int, default=16, help="environments stepped together (default: 16)")
    p.add_argument("--expert", default=None,
                   help="'module:function' (batched or single obs) or an SB3 .zip; needed for gym:<id> tasks "
                        "(default: the task's built-in expert)")


def build_parser() -> argparse.ArgumentParser:
    from mimetic.algos.bc import BCConfig
    from mimetic.policies.mlp import MLPConfig

    parser = _Parser(prog="mimetic", description="Imitation learning from expert demonstrations.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("tasks", help="list the built-in tasks and their experts")

    p = sub.add_parser("collect", help="record expert demonstrations to a Minari (HDF5) dataset")
    _add_common_task(p, required=True, default_from="the task's own")
    p.add_argument("--episodes", type=int, default=20, help="number of episodes (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="episode k starts from reset seed SEED+k (default: 0)")
    p.add_argument("--out", required=True, help="dataset directory to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")

    p = sub.add_parser("train", help="train a policy")
    algos = p.add_subparsers(dest="algo", required=True, parser_class=_Parser)
    bc = algos.add_parser("bc", help="behavioral cloning from a dataset")
    bc.add_argument("--data", required=True, help="Minari dataset directory (or its main_data.hdf5)")
    bc.add_argument("--task", default=None, help="task to evaluate on (default: the dataset's task)")
    bc.add_argument("--max-steps", type=int, default=None, help="evaluation horizon (default: the dataset's)")
    bc.add_argument("--out", default=None, help="run directory (default: runs/bc-<task>-<time>)")
    bc.add_argument("--eval-episodes", type=int, default=50,
                    help="evaluation episodes after training (default: 50; 0 skips it)")
    bc.add_argument("--num-envs", type=int, default=16, help="environments for evaluation (default: 16)")
    bc.add_argument("--expert", default=None,
                    help="expert for the evaluation, as in 'collect --help' (default: the task's built-in one)")
    bc.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard events")
    add_config_args(bc, BCConfig, title="behavioral cloning")
    add_config_args(bc, MLPConfig, title="policy network")
    add_policy_args(bc)

    _add_interactive_parsers(algos)
    from mimetic.commands_rl import add_parsers as add_rl_parsers

    add_rl_parsers(algos)

    p = sub.add_parser("eval", help="evaluate a trained policy")
    p.add_argument("--policy", required=True, help="run directory, or its checkpoint/ folder")
    _add_common_task(p, required=False, default_from="the checkpoint's")
    p.add_argument("--episodes", type=int, default=50, help="evaluation episodes (default: 50)")
    p.add_argument("--seed", type=int, default=10_000, help="first reset seed (default: 10000)")
    p.add_argument("--video", default=None, help="write a video (mp4/gif) of the first episode here")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")

    import importlib

    p = sub.add_parser("experiment", help="experiments that show the theory on real runs")
    exps = p.add_subparsers(dest="experiment", required=True, parser_class=_Parser)
    for name, exp in EXPERIMENTS.items():
        e = exps.add_parser(name, help=exp.help, description=exp.description)
        default = f"runs/{exp.run_kind}-{'<task>' if exp.run_task is None else exp.run_task}-<time>"
        e.add_argument("--out", default=None, help=f"output folder (default: {default})")
        module = importlib.import_module(f"mimetic.experiments.{exp.module}")
        add_config_args(e, getattr(module, exp.config), title="experiment")

    p = sub.add_parser("quickstart", help="collect demos, train BC, evaluate against the expert")
    p.add_argument("--task", default="cartpole", help="task (default: cartpole)")
    p.add_argument("--episodes", type=int, default=10, help="expert demonstration episodes (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="seed for demos and training (default: 0)")
    p.add_argument("--out", default=None, help="run directory (default: runs/quickstart-<task>-<time>)")
    p.add_argument("--eval-episodes", type=int, default=50, help="evaluation episodes (default: 50)")
    return parser


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One ``mimetic experiment`` subcommand: module ``mimetic.experiments.<module>`` provides the
    config class, ``run_<module>(config, out_dir=, progress=)``, ``markdown(result)`` and ``FILES``."""

    module: str
    config: str  # the config dataclass's name in that module
    help: str
    description: str
    run_kind: str  # the default output folder is runs/<run_kind>-<task>-<time>
    run_task: str | None  # a fixed task for that name, or None: the config's ``task``


EXPERIMENTS = {
    "horizon": Experiment(
        "horizon", "HorizonConfig", "compounding error: BC vs DAgger cost as the horizon grows (driving)",
        "BC and DAgger trained with the same expert labels at each horizon on the driving task; total cost vs "
        "horizon, log-log slopes, table and PNG plot.", "experiment-horizon", "driving"),
    "labels": Experiment(
        "labels", "LabelsConfig", "expert-normalized score vs expert labels spent, one curve per method",
        "BC and the interactive methods (DAgger, HG-DAgger, ThriftyDAgger, SMILe, forward training, AggreVaTe) "
        "on one task and label budget; score vs labels per round, labels to reach the target, table and PNG plot.",
        "experiment-labels", None),
    "demos": Experiment(
        "demos", "DemosConfig", "demonstrations needed: BC vs GAIL with 1, 2, 4, 8, 16 expert episodes",
        "BC and GAIL (optionally GAIL warm-started by BC) trained on growing sets of expert episodes on one task "
        "(pendulum or driving); final score or cost vs episodes, GAIL's learning curves, table and PNG plot.",
        "experiment-demos", None),
    "multimodal": Experiment(
        "multimodal", "MultimodalConfig", "multimodal expert: MSE-BC vs mixture vs diffusion vs ACT success",
        "On the multimodal task (the expert passes an obstacle left or right by a hidden coin), BC with an MSE "
        "loss, a mixture-density head, a diffusion policy and ACT chunking, trained on the same demonstrations; "
        "success per seed, table, and a PNG of evaluation paths and sampled start actions.",
        "experiment", "multimodal"),
    "chunking": Experiment(
        "chunking", "ChunkingExperimentConfig", "action chunking on driving: cost vs chunk size k",
        "BC of an action-chunking policy for chunk sizes k on the driving task, each policy executed three ways "
        "(whole chunks, ACT's temporal ensemble, first action only); cost and success per k, table and PNG plot.",
        "experiment-chunking", "driving"),
}


POLICY_KINDS = ("mlp", "diffusion", "chunking")  # --policy choices; non-MLP options carry the kind as prefix


def add_policy_args(p: argparse.ArgumentParser) -> None:
    """``--policy`` and the options of the non-MLP policy kinds, namespaced (``--diffusion-...``)."""
    from mimetic.policies import ChunkingConfig, DiffusionConfig

    p.add_argument("--policy", choices=POLICY_KINDS, default="mlp",
                   help="policy type: mlp (the 'policy network' options), diffusion (continuous actions; the "
                        "--diffusion-* options) or chunking (ACT-style action chunks, continuous actions; the "
                        "--chunking-* options) (default: mlp)")
    add_config_args(p, DiffusionConfig, title="diffusion policy (--policy diffusion)", prefix="diffusion")
    add_config_args(p, ChunkingConfig, title="action-chunking policy (--policy chunking)", prefix="chunking")


def _add_interactive_parsers(algos: argparse._SubParsersAction) -> None:
    from mimetic.algos.bc import BCConfig
    from mimetic.interactive.registry import METHODS
    from mimetic.policies.mlp import MLPConfig

    for m in METHODS.values():
        p = algos.add_parser(m.name, help=m.help, description=m.help)
        _add_common_task(p, required=True, default_from="the task's own")
        if m.gated:
            p.add_argument("--demos", default=None, help="optional Minari dataset to start the aggregate from")
        p.add_argument("--out", default=None, help=f"run directory (default: runs/{m.name}-<task>-<time>)")
        p.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard events")
        if m.gate is not None:
            add_config_args(p, m.gate, title=f"{m.title} gate")
        add_config_args(p, m.loop, title="interactive loop")
        add_config_args(p, BCConfig, title="behavioral cloning in each round")
        add_config_args(p, MLPConfig, title="policy network")
        add_policy_args(p)
        # A round refits warm on the aggregate: far fewer steps than BC from scratch.
        p.set_defaults(steps=500, hidden=(64, 64), ensemble=m.ensemble, num_envs=None)


def _version() -> str:
    from mimetic import __version__

    return f"mimetic {__version__}"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """parse_args, but an unknown option points at the subcommand's --help, not the top level's."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        prog = " ".join(["mimetic", args.command] + ([args.algo] if getattr(args, "algo", None) else []))
        parser.exit(2, f"error: unrecognized arguments: {' '.join(extra)} (see '{prog} --help')\n")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    from mimetic import commands

    try:
        _set_threads()
    except MimeticError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    handler = {"tasks": commands.tasks, "collect": commands.collect, "train": commands.train,
               "eval": commands.evaluate, "quickstart": commands.quickstart}.get(args.command)
    if args.command == "experiment":
        handler = commands.experiment
    from mimetic.interactive.registry import METHODS

    if args.command == "train" and args.algo in METHODS:
        from mimetic import commands_dagger

        handler = commands_dagger.train
    if args.command == "train" and args.algo in ("ppo", "gail", "airl"):
        from mimetic import commands_rl

        handler = commands_rl.train
    try:
        handler(args)
    except MimeticError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted (no partial output was kept)", file=sys.stderr)
        return 130
    return 0


def _set_threads() -> None:
    """One torch thread unless MIMETIC_THREADS says otherwise: our networks are small, and on a
    busy 2-core laptop extra threads made acting an order of magnitude slower, not faster."""
    import os

    import torch

    text = os.environ.get("MIMETIC_THREADS", "1")
    if not text.isdigit() or int(text) < 1:
        raise MimeticError(f"MIMETIC_THREADS must be a positive integer, got {text!r}")
    torch.set_num_threads(int(text))


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    print(_table(rows, header))


def print_json(obj: Any) -> None:
    """One line of strict JSON (NaN/inf become null, so jq and other strict parsers accept it)."""
    from mimetic.runs import json_line

    print(json_line(obj))


if __name__ == "__main__":
    sys.exit(main())
