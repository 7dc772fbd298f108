"""What each CLI command does, on top of the Python API (kept apart from argument parsing)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import tempfile
from pathlib import Path

import numpy as np

from mimetic.cli import print_json, print_table
from mimetic.cliutil import config_from_args
from mimetic.errors import CheckpointError, ConfigError, TaskError
from mimetic.protocols import Expert


def _check_positive(**values: int | None) -> None:
    for name, v in values.items():
        if v is not None and v < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {v}")


def resolve_expert(task_name: str, expert_arg: str | None, spec=None) -> Expert:
    """The built-in expert, or a user's: 'module:function' or a Stable-Baselines3 .zip."""
    from mimetic.envs import as_expert, load_sb3_expert, make_expert

    if expert_arg is None:
        return make_expert(task_name)
    if expert_arg.endswith(".zip"):
        return load_sb3_expert(expert_arg, spec)
    module, _, attr = expert_arg.partition(":")
    if not attr:
        raise ConfigError(f"--expert must be 'module:function' or a .zip file, got {expert_arg!r}")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot load expert {expert_arg!r}: {e}") from None
    return as_expert(fn)


def _make_task(name: str, *, num_envs: int, max_steps: int | None):
    from mimetic.envs import make_task

    _check_positive(num_envs=num_envs, max_steps=max_steps)
    return make_task(name, num_envs=num_envs, max_steps=max_steps)


def tasks(args: argparse.Namespace) -> None:
    from mimetic.envs import describe_tasks

    rows = [[d["name"], d["gym_id"], d["obs_dim"], d["action"], d["max_steps"], d["description"]]
            for d in describe_tasks()]
    print_table(rows, ["task", "gymnasium id", "obs", "action", "horizon", "description"])


def collect(args: argparse.Namespace) -> None:
    from mimetic.data import Dataset, save_minari
    from mimetic.oracle import LabelBudget
    from mimetic.rollout import collect as collect_demos

    _check_positive(episodes=args.episodes)
    task = _make_task(args.task, num_envs=min(args.num_envs, args.episodes), max_steps=args.max_steps)
    expert = resolve_expert(args.task, args.expert, task.spec)
    budget = LabelBudget(expert)
    trajs = collect_demos(task, expert, episodes=args.episodes, seed=args.seed, budget=budget, progress=True)
    ds = Dataset.from_trajectories(trajs, spec=task.spec, metadata=_demo_metadata(task, expert, args))
    save_minari(ds, args.out, overwrite=args.overwrite)
    rets = np.array([t.ret for t in trajs])
    print_table([[task.spec.name, len(trajs), sum(len(t) for t in trajs), float(rets.mean()),
                  float(rets.std()), args.out]],
                ["task", "episodes", "steps", "return mean", "return std", "saved to"])


def _demo_metadata(task, expert: Expert, args: argparse.Namespace) -> dict:
    return {"task": task.spec.name, "max_steps": task.spec.max_steps,
            "expert": getattr(expert, "name", type(expert).__name__),
            "seeds": [args.seed, args.seed + args.episodes - 1], "source": "mimetic collect"}


def _dataset_task(ds, task_arg: str | None, data_path: str) -> str:
    name = task_arg or ds.metadata.get("task")
    if not name:
        raise ConfigError(f"dataset {data_path} does not name its task; pass --task")
    return name


def train(args: argparse.Namespace) -> None:
    from mimetic.algos.bc import BCConfig, fit
    from mimetic.data import load_minari
    from mimetic.policies import MLPConfig, MLPPolicy, save_policy
    from mimetic.rollout import evaluate as run_eval
    from mimetic.runs import RunDir, default_run_dir

    bc_cfg = config_from_args(BCConfig, args)
    mlp_cfg = config_from_args(MLPConfig, args)
    if mlp_cfg.head == "auto" and bc_cfg.loss == "nll":
        # --loss nll on a continuous task means a Gaussian likelihood head
        mlp_cfg = dataclasses.replace(mlp_cfg, head="gaussian")
    ds = load_minari(args.data)
    name = _dataset_task(ds, args.task, args.data)
    max_steps = args.max_steps or ds.metadata.get("max_steps")
    task = _make_task(name, num_envs=args.num_envs, max_steps=max_steps)
    ds.validate(task.spec)
    if mlp_cfg.head == "gaussian" and task.spec.discrete:
        raise ConfigError("--head gaussian needs a continuous-action task; use categorical for discrete")
    policy = MLPPolicy.for_spec(task.spec, mlp_cfg, seed=bc_cfg.seed)
    out = Path(args.out) if args.out else default_run_dir("bc", name)
    config = {"command": "train bc", "data": str(args.data), "task": name, "max_steps": task.spec.max_steps,
              "bc": bc_cfg, "policy": mlp_cfg, "dataset": {"episodes": ds.n_episodes,
                                                           "transitions": ds.n_transitions}}
    with RunDir(out, config=_jsonable(config), tensorboard=not args.no_tensorboard) as run:
        result = fit(policy, ds, bc_cfg, progress=True, callback=lambda s, m: run.log(s, m, prefix="train/"))
        save_policy(policy, run.path / "checkpoint", extra={"task": name, "max_steps": task.spec.max_steps,
                                                            "algo": "bc"})
        rows = [["bc", result.steps, result.final_loss, result.samples_per_s, result.wall_s]]
        res = None
        if args.eval_episodes > 0:
            expert = resolve_expert(name, args.expert, task.spec)
            res = run_eval(task, policy, episodes=args.eval_episodes, expert=expert, progress=True)
            run.write_json("eval.json", res.as_dict())
            run.log(result.steps, _scalars(res.as_dict()), prefix="eval/")
    print_table(rows, ["algo", "steps", "final loss", "samples/s", "train s"])
    if res is not None:
        _print_eval([("bc", res)])
    print(f"run saved to {out}")


def _scalars(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _jsonable(obj):
    if dataclasses.is_dataclass(obj):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    return obj


def _print_eval(results) -> None:
    rows = []
    for label, r in results:
        rows.append([label, f"{r.return_mean:.1f} ± {r.return_ci95:.1f}", r.success_rate, r.normalized_score,
                     r.imitation_error, r.cost_mean, r.episodes])
    print_table(rows, ["policy", "return (95% CI)", "success", "expert-normalized", "imitation error",
                       "cost/episode", "episodes"])


def _checkpoint_dir(path: str) -> Path:
    p = Path(path)
    if (p / "checkpoint" / "policy.json").exists():
        return p / "checkpoint"
    if not p.exists():
        raise CheckpointError(f"no checkpoint at {p}")
    return p


def evaluate(args: argparse.Namespace) -> None:
    from mimetic.policies import load_policy, read_checkpoint_meta
    from mimetic.rollout import evaluate as run_eval

    _check_positive(episodes=args.episodes)
    ckpt = _checkpoint_dir(args.policy)
    meta = read_checkpoint_meta(ckpt)
    info = {**meta.get("extra", {}), "task": meta.get("spec", {}).get("task")}
    name = args.task or info.get("task")
    if not name:
        raise ConfigError(f"checkpoint {ckpt} does not name its task; pass --task")
    policy = load_policy(ckpt, expect_task=name)
    task = _make_task(name, num_envs=min(args.num_envs, args.episodes),
                      max_steps=args.max_steps or info.get("max_steps"))
    try:
        expert = resolve_expert(name, args.expert, task.spec)
    except TaskError:
        expert = None  # a gym:<id> task without an expert: no imitation error / normalized score
    frames: list[np.ndarray] = []
    res = run_eval(task, policy, episodes=args.episodes, seed=args.seed, expert=expert, progress=True,
                   on_frame=frames.append if args.video else None)
    if args.video:
        write_video(args.video, frames, fps=30)
    if args.json:
        print_json(res.as_dict())
    else:
        _print_eval([(str(ckpt), res)])
        if args.video:
            print(f"video of episode 0 written to {args.video} ({len(frames)} frames)")


def write_video(path: str, frames: list[np.ndarray], *, fps: int) -> None:
    """Encode frames to mp4/gif atomically (temporary file in the same folder, then rename)."""
    import imageio.v2 as imageio

    out = Path(path)
    if out.suffix.lower() not in (".mp4", ".gif"):
        raise ConfigError(f"--video must end in .mp4 or .gif, got {path!r}")
    if not frames:
        raise ConfigError("no frames to write (the task cannot render)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=out.suffix)
    os.close(fd)
    try:
        kw = {"fps": fps, "macro_block_size": 1} if out.suffix.lower() == ".mp4" else {"duration": 1000 / fps}
        imageio.mimwrite(tmp, frames, **kw)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def quickstart(args: argparse.Namespace) -> None:
    from mimetic.quickstart import run_quickstart

    _check_positive(episodes=args.episodes, eval_episodes=args.eval_episodes)
    summary = run_quickstart(task=args.task, episodes=args.episodes, seed=args.seed, out=args.out,
                             eval_episodes=args.eval_episodes)
    rows = [[label, d["return_mean"], d["success_rate"], d["normalized_score"], d["imitation_error"]]
            for label, d in summary["table"]]
    print_table(rows, ["policy", "return", "success", "expert-normalized", "imitation error"])
    print(f"{summary['transitions']} demo transitions from {args.episodes} episodes; "
          f"BC trained {summary['train_s']:.1f} s; run saved to {summary['out']}")
