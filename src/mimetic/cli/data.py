"""``mimetic collect`` and ``mimetic teleop`` (``mimetic tasks`` is :mod:`mimetic.cli.tasks`, which
starts without torch).

``teleop`` records the episodes a person drives in a window (:mod:`mimetic.interactive.teleop`);
the dataset is written once the session ends, with the finished episodes.

``collect`` records episodes in batches of ``--num-envs`` (episode k always starts from reset seed
SEED+k, so the batching changes nothing). While it runs, ``--out`` holds ``collect.json`` (its
options) and ``progress/`` (the episodes so far, replaced atomically every ``--checkpoint-every``
seconds); a killed or interrupted collection continues with ``collect --resume OUT``. When all
episodes are in, the Minari dataset replaces the folder in one rename.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from mimetic import atomic, trainstate
from mimetic.cli.common import add_task_args, check_positive, check_seed, print_table, task_and_expert
from mimetic.cli.resume import Interrupted, StopFlag, add_checkpoint_args, resumed_args, run_args
from mimetic.data import Dataset, save_minari
from mimetic.data.io import MAIN_FILE, METADATA_FILE
from mimetic.errors import CheckpointError, ConfigError, DataError
from mimetic.interactive.budget import LabelBudget
from mimetic.protocols import Expert
from mimetic.rollout import collect as collect_demos
from mimetic.runs import json_line, make_parents, read_tensors_json, remove_dirs, write_json_atomic


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("collect", help="record expert demonstrations to a Minari (HDF5) dataset")
    add_task_args(p, required=False, default_from="the task's own")
    p.add_argument("--episodes", type=int, default=20, help="number of episodes (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="episode k starts from reset seed SEED+k (default: 0)")
    p.add_argument("--out", default=None, help="dataset directory to create (required unless --resume)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    p.add_argument("--successes-only", action="store_true",
                   help="keep only the episodes the task counts as successes, recording until --episodes of them "
                        f"(the failed ones are dropped, their seeds skipped; at most {MAX_ATTEMPTS}x --episodes "
                        "episodes are tried); needs a task that defines success")
    add_checkpoint_args(p, unit="batch of --num-envs episodes", resume_help=(
        "continue an unfinished (interrupted or killed) collection in its folder, with its options "
        "(--episodes may be raised)"))
    p.set_defaults(handler=collect)

    t = sub.add_parser("teleop", help=TELEOP_HELP, description=(
        f"{TELEOP_HELP[0].upper()}{TELEOP_HELP[1:]}. PushT follows the mouse while the left button is held "
        "(released, the agent stays put); other tasks take the arrow keys (driving: steer; multimodal: "
        "each arrow pushes along its axis; cartpole, lunarlander: the engines). Escape or closing the "
        "window ends the session and saves the finished episodes; the one under way is dropped. Needs "
        "a display."))
    t.add_argument("--task", required=True, help="task name, e.g. pusht, driving, multimodal")
    t.add_argument("--out", required=True, help="dataset directory to create")
    t.add_argument("--episodes", type=int, default=10, help="episodes to record at most (default: 10)")
    t.add_argument("--seed", type=int, default=0, help="episode k starts from reset seed SEED+k (default: 0)")
    t.add_argument("--max-steps", type=int, default=None, help="episode horizon (default: the task's own)")
    t.add_argument("--fps", type=float, default=10.0,
                   help="steps per second (default: 10, PushT's control rate; 0: as fast as the machine goes)")
    t.add_argument("--scale", type=float, default=1.0, help="window size as a multiple of the frame (default: 1)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    t.set_defaults(handler=teleop)


def _check_dataset_out(path: str, *, overwrite: bool) -> Path:
    """Refuse an --out that save_minari would refuse (or should: --overwrite of a folder that is
    not a dataset would delete it), before the demonstrations are recorded."""

    out = Path(path)
    if (out / COLLECT_FILE).is_file():
        raise ConfigError(f"{out} holds an unfinished collection; continue it with 'mimetic collect --resume {out}' "
                          "or choose another --out")
    if out.suffix in (".hdf5", ".h5"):
        raise ConfigError(f"--out is the dataset directory to create, not an HDF5 file: {out}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory")
    if _holds_files(out):
        if not overwrite:
            raise ConfigError(f"dataset directory {out} already exists and is not empty; pass --overwrite "
                              "to replace it")
        if not any((d / f).is_file() for d in (out / "data", out) for f in (MAIN_FILE, METADATA_FILE)):
            raise ConfigError(f"refusing to overwrite {out}: it is not a Minari dataset directory "
                              f"(no data/{MAIN_FILE} inside)")
    return out


def _holds_files(out: Path) -> bool:
    """A folder with something in it besides the temporaries of a killed writer (a collection
    killed while writing collect.json left only that: it starts over)."""
    return out.is_dir() and any(not atomic.is_temporary(p) for p in out.iterdir())


TELEOP_HELP = "drive a task yourself (mouse or arrow keys) and record the episodes as a dataset"
COLLECT_FILE = "collect.json"
PROGRESS = "progress"
MAX_ATTEMPTS = 10  # --successes-only gives up after this many times --episodes tries


def collect(args: argparse.Namespace) -> None:

    resume = args.resume is not None
    if resume:
        args = _resumed_collect(args)
    elif args.out is None or args.task is None:
        raise ConfigError("collect needs --task and --out DIR (or --resume DIR)")
    check_positive(episodes=args.episodes)
    check_seed(args.seed)
    out = Path(args.out) if resume else _check_dataset_out(args.out, overwrite=args.overwrite)
    task, expert = task_and_expert(args.task, expert_arg=args.expert, max_steps=args.max_steps,
                                    num_envs=min(args.num_envs, args.episodes), need_expert=True,
                                    clip_actions=args.clip_actions)
    if getattr(args, "successes_only", False) and task.spec.success is None:
        raise ConfigError(f"--successes-only needs a task that defines success; {task.spec.name} does not")
    ds = Dataset.empty(task.spec, metadata=_demo_metadata(task, expert, args))
    budget = LabelBudget(expert)
    tried = _load_progress(out, ds, budget) if resume else 0
    made, fresh = ([], False) if resume else _start_collection(out, args)
    try:
        tried = _record(args, out, task, expert, ds, budget, tried)
        ds.metadata["seeds"] = [args.seed, args.seed + tried - 1]
        if getattr(args, "successes_only", False):
            ds.metadata["episodes_tried"] = tried  # the seeds in between that failed were dropped
        try:
            ds.validate(task.spec)  # a user's expert may produce NaN far from the start states
        except DataError as e:
            raise DataError(f"the recorded demonstrations are unusable, nothing was saved: {e}") from None
        save_minari(ds, out, overwrite=True)  # the dataset replaces the work folder in one rename
    except Interrupted:
        raise
    except BaseException:
        if not resume and not (out / PROGRESS).is_dir():  # nothing worth resuming was recorded: no trace
            if fresh:
                shutil.rmtree(out, ignore_errors=True)
                remove_dirs(made)
            else:  # an --overwrite of a dataset that stays as it was
                (out / COLLECT_FILE).unlink(missing_ok=True)
        raise
    rets = ds.episode_returns()
    print_table([[task.spec.name, ds.n_episodes, ds.n_steps, float(rets.mean()), float(rets.std()), str(out)]],
                ["task", "episodes", "steps", "return mean", "return std", "saved to"])


def _resumed_collect(args: argparse.Namespace) -> argparse.Namespace:
    out = Path(args.resume)
    # killed while the dataset replaced the work folder, or progress/ was swapped: the old copies back
    atomic.clean_stale(out)
    atomic.recover_folder(out)
    if not (out / COLLECT_FILE).is_file():
        raise CheckpointError(f"{out} is not an unfinished collection (no {COLLECT_FILE}); a finished dataset needs "
                              "no --resume")
    args.out = str(out)
    merged, _ = resumed_args(args, command="collect", may_change=("episodes", "num_envs"), config_file=COLLECT_FILE)
    return merged


def _start_collection(out: Path, args: argparse.Namespace) -> tuple[list[Path], bool]:
    """Make the work folder and write collect.json; returns (parents made, whether the folder is
    new). A dataset that --overwrite replaces stays readable in it until the new one is complete."""
    made = make_parents(out)
    fresh = not _holds_files(out)
    out.mkdir(exist_ok=True)
    write_json_atomic(out / COLLECT_FILE, {"command": "collect", "args": run_args(args)})
    return made, fresh


def _load_progress(out: Path, ds: Dataset, budget: LabelBudget) -> int:
    """The saved episodes and label count; returns the number of episodes tried so far."""
    if not (out / PROGRESS).is_dir():
        return 0  # killed before its first batch was saved: start over
    tensors, meta = read_tensors_json(out / PROGRESS, "progress", missing="has no progress files",
                                      corrupt="corrupt collection progress")
    ds.load_state_arrays(trainstate.tensor_arrays(tensors, "data"), meta.get("data") or {})
    budget.labels = int(meta.get("labels", 0))
    return int(meta.get("tried", ds.n_episodes))


def _record(args: argparse.Namespace, out: Path, task: Any, expert: Expert, ds: Dataset,
            budget: LabelBudget, tried: int) -> int:
    """Episodes until --episodes are kept, a batch of num_envs at a time, with checkpoints; episode
    k of those tried starts from reset seed --seed + k. Returns the number tried."""
    only = getattr(args, "successes_only", False)
    last = time.monotonic()
    with tqdm(total=args.episodes, initial=ds.n_episodes, desc=f"collect {task.spec.name}", unit="ep") as bar, \
            StopFlag("after this batch of episodes") as flag:
        while ds.n_episodes < args.episodes:
            if only and tried >= MAX_ATTEMPTS * args.episodes:
                raise DataError(f"only {ds.n_episodes} of {tried} episodes succeeded, short of --episodes "
                                f"{args.episodes} after {MAX_ATTEMPTS}x as many tries; nothing was saved")
            n = min(task.num_envs, args.episodes - ds.n_episodes)
            trajs = collect_demos(task, expert, episodes=n, seed=args.seed + tried, budget=budget)
            tried += n
            kept = [t for t in trajs if task.spec.success(t)] if only else trajs
            if kept:
                ds.extend(kept)
            bar.update(len(kept))
            if only:
                bar.set_postfix(tried=tried)
            done = ds.n_episodes >= args.episodes
            # Ctrl-C, even in the last batch: the episodes are saved, 130, and a resume writes the dataset
            if flag.stop or (not done and time.monotonic() - last >= args.checkpoint_every):
                _save_progress(out, ds, budget, tried)
                last = time.monotonic()
            if flag.stop:
                raise Interrupted(f"collect stopped after {ds.n_episodes} of {args.episodes} episodes; they are "
                                  f"saved in {out} (continue with 'mimetic collect --resume {out}')")
    return tried


def _save_progress(out: Path, ds: Dataset, budget: LabelBudget, tried: int) -> None:
    from safetensors.torch import save as save_safetensors

    arrays, meta = ds.state_arrays()
    payload = save_safetensors(trainstate.array_tensors(arrays, "data"))
    with atomic.AtomicDirectory(out / PROGRESS, replace=True) as tmp:
        atomic.write_file(tmp / "progress.safetensors", payload, fsync=True)
        record = {"data": meta, "episodes": ds.n_episodes, "labels": budget.labels, "tried": tried}
        atomic.write_file(tmp / "progress.json", json_line(record) + "\n", fsync=True)


def _demo_metadata(task, expert: Expert, args: argparse.Namespace) -> dict:
    return {"task": task.spec.name, "max_steps": task.spec.max_steps,
            "expert": getattr(expert, "name", type(expert).__name__),
            "seeds": [args.seed, args.seed + args.episodes - 1], "source": "mimetic collect"}


def teleop(args: argparse.Namespace) -> None:
    from mimetic.envs import make_task
    from mimetic.interactive.teleop import Teleop, record, require_display

    check_positive(episodes=args.episodes)
    check_seed(args.seed)
    out = _check_dataset_out(args.out, overwrite=args.overwrite)
    require_display()
    task = make_task(args.task, num_envs=1, max_steps=args.max_steps)
    person = Teleop(task, fps=args.fps, scale=args.scale)
    with tqdm(total=args.episodes, desc=f"teleop {task.spec.name}", unit="ep") as bar:
        trajs = record(task, person, episodes=args.episodes, seed=args.seed, progress=lambda n: bar.update(1))
    if not trajs:
        raise DataError("no episode was finished, so nothing was saved")
    ds = Dataset.from_trajectories(trajs, spec=task.spec, metadata={
        "task": task.spec.name, "max_steps": task.spec.max_steps, "expert": "human (mimetic teleop)",
        "seeds": [args.seed, args.seed + len(trajs) - 1], "source": "mimetic teleop"})
    save_minari(ds, out, overwrite=True)
    rets = ds.episode_returns()
    print_table([[task.spec.name, ds.n_episodes, ds.n_steps, float(rets.mean()), str(out)]],
                ["task", "episodes", "steps", "return mean", "saved to"])
