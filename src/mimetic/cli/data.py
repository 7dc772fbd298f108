"""``mimetic tasks`` and ``mimetic collect``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mimetic.cli.common import add_task_args, check_positive, check_seed, print_table, task_and_expert
from mimetic.data import Dataset, save_minari
from mimetic.data.io import MAIN_FILE, METADATA_FILE
from mimetic.envs import describe_tasks
from mimetic.errors import ConfigError, DataError
from mimetic.interactive.budget import LabelBudget
from mimetic.protocols import Expert
from mimetic.rollout import collect as collect_demos


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="list the built-in tasks and their experts")
    p.set_defaults(handler=tasks)
    p = sub.add_parser("collect", help="record expert demonstrations to a Minari (HDF5) dataset")
    add_task_args(p, required=True, default_from="the task's own")
    p.add_argument("--episodes", type=int, default=20, help="number of episodes (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="episode k starts from reset seed SEED+k (default: 0)")
    p.add_argument("--out", required=True, help="dataset directory to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    p.set_defaults(handler=collect)


def tasks(args: argparse.Namespace) -> None:

    rows = [[d["name"], d["gym_id"], d["obs_dim"], d["action"], d["max_steps"], d["description"]]
            for d in describe_tasks()]
    print_table(rows, ["task", "gymnasium id", "obs", "action", "horizon", "description"])


def _check_dataset_out(path: str, *, overwrite: bool) -> Path:
    """Refuse an --out that save_minari would refuse (or should: --overwrite of a folder that is
    not a dataset would delete it), before the demonstrations are recorded."""

    out = Path(path)
    if out.suffix in (".hdf5", ".h5"):
        raise ConfigError(f"--out is the dataset directory to create, not an HDF5 file: {out}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"dataset directory {out} already exists and is not empty; pass --overwrite "
                              "to replace it")
        if not any((d / f).is_file() for d in (out / "data", out) for f in (MAIN_FILE, METADATA_FILE)):
            raise ConfigError(f"refusing to overwrite {out}: it is not a Minari dataset directory "
                              f"(no data/{MAIN_FILE} inside)")
    return out


def collect(args: argparse.Namespace) -> None:

    check_positive(episodes=args.episodes)
    check_seed(args.seed)
    out = _check_dataset_out(args.out, overwrite=args.overwrite)
    task, expert = task_and_expert(args.task, expert_arg=args.expert, max_steps=args.max_steps,
                                    num_envs=min(args.num_envs, args.episodes), need_expert=True)
    budget = LabelBudget(expert)
    trajs = collect_demos(task, expert, episodes=args.episodes, seed=args.seed, budget=budget, progress=True)
    ds = Dataset.from_trajectories(trajs, spec=task.spec, metadata=_demo_metadata(task, expert, args))
    try:
        ds.validate(task.spec)  # a user's expert may produce NaN far from the start states
    except DataError as e:
        raise DataError(f"the recorded demonstrations are unusable, nothing was saved: {e}") from None
    save_minari(ds, out, overwrite=args.overwrite)
    rets = np.array([t.ret for t in trajs])
    print_table([[task.spec.name, len(trajs), sum(len(t) for t in trajs), float(rets.mean()),
                  float(rets.std()), args.out]],
                ["task", "episodes", "steps", "return mean", "return std", "saved to"])


def _demo_metadata(task, expert: Expert, args: argparse.Namespace) -> dict:
    return {"task": task.spec.name, "max_steps": task.spec.max_steps,
            "expert": getattr(expert, "name", type(expert).__name__),
            "seeds": [args.seed, args.seed + args.episodes - 1], "source": "mimetic collect"}
