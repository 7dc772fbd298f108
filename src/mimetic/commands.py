"""What each CLI command does, on top of the Python API (kept apart from argument parsing).

Every check of user input that can be made before work starts is made before it starts (bad
values, an occupied --out, a --video suffix, a user expert that returns the wrong kind of
action), so a mistake costs seconds, not a whole collection or training run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from mimetic.cli import print_json, print_table
from mimetic.cliutil import config_from_args
from mimetic.errors import CheckpointError, ConfigError, DataError, TaskError
from mimetic.protocols import Expert


def _check_positive(**values: int | None) -> None:
    for name, v in values.items():
        if v is not None and v < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {v}")


def _check_seed(seed: int) -> None:
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0 (episode k starts from reset seed SEED+k), got {seed}")


def _import_expert(expert_arg: str) -> Callable[[np.ndarray], Any]:
    """The user's 'module:function', imported as ``python -m`` would (current directory first)."""
    module, _, attr = expert_arg.partition(":")
    if not module or not attr:
        raise ConfigError(f"--expert must be 'module:function' or a .zip file, got {expert_arg!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # the console script, unlike python -m, does not add it
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot load expert {expert_arg!r}: {e}") from None
    return fn


def resolve_expert(task_name: str, expert_arg: str | None, spec=None) -> Expert:
    """The built-in expert, or a user's: 'module:function' or a Stable-Baselines3 .zip."""
    from mimetic.envs import as_expert, load_sb3_expert, make_expert

    if expert_arg is None:
        return make_expert(task_name)
    if expert_arg.endswith(".zip"):
        return load_sb3_expert(expert_arg, spec)
    discrete = None if spec is None else spec.discrete  # the task decides int vs float actions
    return as_expert(_import_expert(expert_arg), name=expert_arg, discrete=discrete)


def _check_expert(expert: Expert, task, label: str) -> None:
    """Label one batch of start states now, so a user's expert that returns the wrong kind of
    action fails with one line before any episode runs (a counted check, not data)."""
    from mimetic.oracle import LabelBudget

    spec = task.spec
    obs = task.reset(seeds=np.arange(task.num_envs))  # (B, *O); rollout resets again
    n = len(obs)
    try:
        acts = np.asarray(LabelBudget(expert).label(obs))
    except (ValueError, TypeError) as e:  # raised converting the expert's output to actions
        raise TaskError(f"expert {label!r} returned unusable actions for {spec.name} observations of "
                        f"shape {obs.shape}: {e}") from None
    want = (n,) if spec.discrete else (n, *spec.action_space.shape)
    if acts.shape != want:
        kind = "one action index" if spec.discrete else f"an action of shape {spec.action_space.shape}"
        raise TaskError(f"expert {label!r} returned actions of shape {acts.shape} for {n} observations; "
                        f"{spec.name} needs {kind} per observation, {want} in all")
    if spec.discrete and np.any((acts < 0) | (acts >= spec.action_space.n)):
        raise TaskError(f"expert {label!r} returned actions outside [0, {spec.action_space.n}) "
                        f"for {spec.name}: {acts.tolist()[:8]}")
    if not spec.discrete and not np.all(np.isfinite(acts)):
        raise TaskError(f"expert {label!r} returned NaN/inf actions for {spec.name}")


def _task_and_expert(name: str, *, expert_arg: str | None, num_envs: int, max_steps: int | None,
                     need_expert: bool) -> tuple[Any, Expert | None]:
    """The task and its expert; without ``need_expert`` a task that has none gets None (evaluation
    then reports no imitation error or expert-normalized score)."""
    if expert_arg is not None and not expert_arg.endswith(".zip"):
        _import_expert(expert_arg)  # first: the module may register the Gymnasium env it is for
    task = _make_task(name, num_envs=num_envs, max_steps=max_steps)
    if expert_arg is None:
        try:
            return task, resolve_expert(name, None)
        except TaskError:
            if need_expert:
                raise TaskError(f"no built-in expert for {name!r}; pass --expert module:function "
                                "(or a Stable-Baselines3 .zip)") from None
            return task, None
    expert = resolve_expert(name, expert_arg, task.spec)
    _check_expert(expert, task, expert_arg)
    return task, expert


def _make_task(name: str, *, num_envs: int, max_steps: int | None):
    from mimetic.envs import make_task

    _check_positive(num_envs=num_envs, max_steps=max_steps)
    try:
        return make_task(name, num_envs=num_envs, max_steps=max_steps)
    except TaskError as e:
        if name.startswith("gym:") and str(e).startswith("unknown task"):
            raise TaskError(f"unknown task {name!r}: no Gymnasium env has that id; if a module of yours registers "
                            "it, pass --expert module:function from that module so it is imported first") from None
        raise


def tasks(args: argparse.Namespace) -> None:
    from mimetic.envs import describe_tasks

    rows = [[d["name"], d["gym_id"], d["obs_dim"], d["action"], d["max_steps"], d["description"]]
            for d in describe_tasks()]
    print_table(rows, ["task", "gymnasium id", "obs", "action", "horizon", "description"])


def _check_dataset_out(path: str, *, overwrite: bool) -> Path:
    """Refuse an --out that save_minari would refuse (or should: --overwrite of a folder that is
    not a dataset would delete it), before the demonstrations are recorded."""
    from mimetic.data.io import MAIN_FILE, METADATA_FILE

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
    from mimetic.data import Dataset, save_minari
    from mimetic.oracle import LabelBudget
    from mimetic.rollout import collect as collect_demos

    _check_positive(episodes=args.episodes)
    _check_seed(args.seed)
    out = _check_dataset_out(args.out, overwrite=args.overwrite)
    task, expert = _task_and_expert(args.task, expert_arg=args.expert, max_steps=args.max_steps,
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


def _dataset_task(ds, task_arg: str | None, data_path: str) -> str:
    """--task, else the task the dataset names, else its Gymnasium env (datasets made by minari)."""
    name = task_arg or ds.metadata.get("task")
    if not name and isinstance(ds.metadata.get("gym_id"), str):
        name = f"gym:{ds.metadata['gym_id']}"
    if not name:
        raise ConfigError(f"dataset {data_path} does not name its task; pass --task")
    return name


def _train_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any, str, Any, Expert | None]:
    """Every check of ``train bc``'s input, before any training: configs, --out, the dataset
    against its task, and the expert (a bad --expert must not throw a finished run away)."""
    from mimetic.algos.bc import BCConfig
    from mimetic.data import load_minari
    from mimetic.policies import MLPConfig
    from mimetic.runs import check_new_run_dir

    bc_cfg = config_from_args(BCConfig, args)
    mlp_cfg = config_from_args(MLPConfig, args)
    if mlp_cfg.head == "auto" and bc_cfg.loss == "nll":
        # --loss nll on a continuous task means a Gaussian likelihood head
        mlp_cfg = dataclasses.replace(mlp_cfg, head="gaussian")
    if args.eval_episodes < 0:
        raise ConfigError(f"--eval-episodes must be >= 0 (0 skips evaluation), got {args.eval_episodes}")
    _check_positive(num_envs=args.num_envs, max_steps=args.max_steps)
    if args.out:
        check_new_run_dir(args.out)
    ds = load_minari(args.data)
    name = _dataset_task(ds, args.task, args.data)
    max_steps = args.max_steps or ds.metadata.get("max_steps")
    task, expert = _task_and_expert(name, expert_arg=args.expert, max_steps=max_steps,
                                    num_envs=min(args.num_envs, max(args.eval_episodes, 1)), need_expert=False)
    ds.validate(task.spec)
    if mlp_cfg.head == "gaussian" and task.spec.discrete:
        raise ConfigError("--head gaussian needs a continuous-action task; use categorical for discrete")
    return bc_cfg, mlp_cfg, ds, name, task, expert


def train(args: argparse.Namespace) -> None:
    from mimetic.algos.bc import fit
    from mimetic.policies import save_policy
    from mimetic.rollout import evaluate as run_eval
    from mimetic.runs import RunDir, default_run_dir

    bc_cfg, mlp_cfg, ds, name, task, expert = _train_inputs(args)
    policy = make_policy(args, task.spec, mlp_cfg, seed=bc_cfg.seed)
    out = Path(args.out) if args.out else default_run_dir("bc", name)
    config = {"command": "train bc", "data": str(args.data), "task": name, "max_steps": task.spec.max_steps,
              "bc": bc_cfg, "policy": {"kind": args.policy, **policy.checkpoint_config()},
              "dataset": {"episodes": ds.n_episodes,
                                                           "transitions": ds.n_transitions}}
    with RunDir(out, config=_jsonable(config), tensorboard=not args.no_tensorboard) as run:
        result = fit(policy, ds, bc_cfg, progress=True, callback=lambda s, m: run.log(s, m, prefix="train/"))
        save_policy(policy, run.path / "checkpoint", extra={"task": name, "max_steps": task.spec.max_steps,
                                                            "algo": "bc"})
        rows = [["bc", result.steps, result.final_loss, result.samples_per_s, result.wall_s]]
        res = None
        if args.eval_episodes > 0:
            res = run_eval(task, policy, episodes=args.eval_episodes, expert=expert, progress=True)
            run.write_json("eval.json", res.as_dict())
            run.log(result.steps, _scalars(res.as_dict()), prefix="eval/")
    print_table(rows, ["algo", "steps", "final loss", "samples/s", "train s"])
    if res is not None:
        _print_eval([("bc", res)])
    print(f"run saved to {out}")


def make_policy(args: argparse.Namespace, spec: Any, mlp_cfg: Any, *, seed: int) -> Any:
    """The policy ``--policy`` asks for, shaped for ``spec``."""
    from mimetic.policies import (
        ChunkingConfig,
        ChunkingPolicy,
        DiffusionConfig,
        DiffusionPolicy,
        MLPPolicy,
    )

    kind = getattr(args, "policy", "mlp")
    if kind == "diffusion":
        return DiffusionPolicy.for_spec(spec, config_from_args(DiffusionConfig, args, prefix="diffusion"), seed=seed)
    if kind == "chunking":
        return ChunkingPolicy.for_spec(spec, config_from_args(ChunkingConfig, args, prefix="chunking"), seed=seed)
    return MLPPolicy.for_spec(spec, mlp_cfg, seed=seed)


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
        ret = f"{r.return_mean:.1f}" + (f" ± {r.return_ci95:.1f}" if math.isfinite(r.return_ci95) else "")
        rows.append([label, ret, r.success_rate, r.normalized_score,
                     r.imitation_error, r.cost_mean, r.episodes])
    print_table(rows, ["policy", "return (95% CI)", "success", "expert-normalized", "imitation error",
                       "cost/episode", "episodes"])


def _checkpoint_dir(path: str) -> Path:
    """A run directory, its checkpoint/ folder, or a file inside that folder."""
    from mimetic.policies.checkpoint import META_FILE, WEIGHTS_FILE

    p = Path(path)
    if p.is_file() and p.name in (META_FILE, WEIGHTS_FILE):
        return p.parent
    if (p / "checkpoint" / META_FILE).exists():
        return p / "checkpoint"
    if not p.exists():
        raise CheckpointError(f"no checkpoint at {p}: the path does not exist")
    return p


def evaluate(args: argparse.Namespace) -> None:
    from mimetic.policies import load_policy, read_checkpoint_meta
    from mimetic.rollout import evaluate as run_eval

    _check_positive(episodes=args.episodes)
    _check_seed(args.seed)
    video = VideoFile(args.video) if args.video else None
    ckpt = _checkpoint_dir(args.policy)
    meta = read_checkpoint_meta(ckpt)
    info = {**meta.get("extra", {}), "task": meta.get("spec", {}).get("task")}
    name = args.task or info.get("task")
    if not name:
        raise ConfigError(f"checkpoint {ckpt} does not name its task; pass --task")
    policy = load_policy(ckpt, expect_task=name)
    task, expert = _task_and_expert(name, expert_arg=args.expert, num_envs=min(args.num_envs, args.episodes),
                                    max_steps=args.max_steps or info.get("max_steps"), need_expert=False)
    if video is None:
        res = run_eval(task, policy, episodes=args.episodes, seed=args.seed, expert=expert, progress=True)
    else:
        _check_renders(task)
        with video.open(fps=video_fps(task)):
            res = run_eval(task, policy, episodes=args.episodes, seed=args.seed, expert=expert, progress=True,
                           on_frame=video.add)
    if args.json:
        print_json(res.as_dict())
    else:
        _print_eval([(str(ckpt), res)])
        if video is not None:
            print(f"video of episode 0 written to {args.video} ({video.frames} frames)")


def _check_renders(task) -> None:
    """Fail before the evaluation, not during it, when --video asks a task that cannot draw."""
    task.reset(seeds=np.zeros(task.num_envs, np.int64))
    try:
        frame = np.asarray(task.render(0))
    except TaskError as e:
        raise ConfigError(f"cannot write --video: {e}") from None
    if frame.ndim != 3 or frame.shape[-1] not in (3, 4):
        raise ConfigError(f"cannot write --video: {task.spec.name} renders arrays of shape {frame.shape}, "
                          "not RGB images")


def video_fps(task) -> int:
    """Real-time playback: the frame rate the task's Gymnasium env declares (30 if none)."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    envs = getattr(task, "envs", None)  # an adapted Gymnasium task: ask its env
    if envs:
        fps = envs[0].metadata.get("render_fps")
    else:
        try:
            creator = load_env_creator(gym.spec(task.spec.gym_id).entry_point)
            fps = getattr(creator, "metadata", {}).get("render_fps")
        except (gym.error.Error, ImportError, AttributeError, TypeError):
            fps = None
    return int(fps) if isinstance(fps, (int, float)) and fps > 0 else 30


class VideoFile:
    """An mp4/gif written frame by frame into a hidden temporary file beside ``path`` and renamed
    into place when the block succeeds; on failure nothing (not even new folders) remains."""

    SUFFIXES = (".mp4", ".gif")

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in self.SUFFIXES:
            raise ConfigError(f"--video must end in .mp4 or .gif, got {path!r}")
        if self.path.is_dir():
            raise ConfigError(f"--video {path} is a directory; name the video file")
        self.frames = 0
        self._writer: Any = None
        self._tmp: Path | None = None
        self._parents: list[Path] = []
        self._fps = 30

    def open(self, *, fps: int) -> VideoFile:
        self._fps = fps
        return self

    def __enter__(self) -> VideoFile:
        import imageio.v2 as imageio

        from mimetic.atomic import AtomicPath
        from mimetic.runs import make_parents, remove_dirs

        self._parents = make_parents(self.path)
        self._file = AtomicPath(self.path, suffix=self.path.suffix)
        try:
            tmp = self._file.__enter__()
        except OSError as e:
            remove_dirs(self._parents)
            raise ConfigError(f"cannot write --video {self.path}: {e.strerror or e}") from None
        self._tmp = tmp
        mp4 = self.path.suffix.lower() == ".mp4"
        kw = {"fps": self._fps, "macro_block_size": 1} if mp4 else {"duration": 1000 / self._fps, "loop": 0}
        try:
            self._writer = imageio.get_writer(tmp, **kw)
        except BaseException as e:
            self._file.__exit__(type(e), e, e.__traceback__)  # removes the temporary
            remove_dirs(self._parents)
            raise
        return self

    def add(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 frame (rollout's ``on_frame``)."""
        self._writer.append_data(frame)
        self.frames += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        from mimetic.runs import remove_dirs

        assert self._tmp is not None, "VideoFile used outside its with-block"
        self._tmp = None
        try:
            if exc_type is not None:
                with contextlib.suppress(Exception):  # the error that stopped the evaluation matters
                    self._writer.close()
            else:
                self._writer.close()  # encodes the tail (and, for a gif, everything)
                if self.frames == 0:
                    raise ConfigError("no frames to write (the task rendered nothing)")
        except BaseException as e:
            self._file.__exit__(type(e), e, e.__traceback__)  # removes the temporary
            remove_dirs(self._parents)
            raise
        try:
            self._file.__exit__(exc_type, exc, tb)  # renamed into place, or removed after a failure
        except BaseException:
            remove_dirs(self._parents)
            raise
        if exc_type is not None:
            remove_dirs(self._parents)


def quickstart(args: argparse.Namespace) -> None:
    from mimetic.quickstart import run_quickstart

    _check_positive(episodes=args.episodes, eval_episodes=args.eval_episodes)
    _check_seed(args.seed)
    summary = run_quickstart(task=args.task, episodes=args.episodes, seed=args.seed, out=args.out,
                             eval_episodes=args.eval_episodes)
    rows = [[label, d["return_mean"], d["success_rate"], d["normalized_score"], d["imitation_error"]]
            for label, d in summary["table"]]
    print_table(rows, ["policy", "return", "success", "expert-normalized", "imitation error"])
    print(f"{summary['transitions']} demo transitions from {args.episodes} episodes; "
          f"BC trained {summary['train_s']:.1f} s; run saved to {summary['out']}")


def experiment(args: argparse.Namespace) -> None:
    """Run ``mimetic experiment <name>`` from its entry in :data:`mimetic.cli.EXPERIMENTS`."""
    from mimetic.cli import EXPERIMENTS
    from mimetic.runs import default_run_dir

    exp = EXPERIMENTS[args.experiment]
    module = importlib.import_module(f"mimetic.experiments.{exp.module}")
    config = config_from_args(getattr(module, exp.config), args)
    task = exp.run_task if exp.run_task is not None else config.task
    out = Path(args.out) if args.out else default_run_dir(exp.run_kind, task)
    result = getattr(module, f"run_{exp.module}")(config, out_dir=out, progress=True)
    print(module.markdown(result))
    print(f"written to {out}: {', '.join(module.FILES)} ({result.wall_s:.0f} s)")
