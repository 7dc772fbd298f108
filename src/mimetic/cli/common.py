"""What the command modules share: the one-line-error parser, tables, the task/expert/policy
builders every command uses, and input checks. Everything here is public (the command modules
import it; nothing imports a command module). The light part (parser, tables, version) lives in
:mod:`mimetic.cli.base`, which the quick commands import alone."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# re-exported: the command modules import these from here
from mimetic.cli.base import Parser, cwd_on_path, print_table, table, version  # noqa: F401
from mimetic.cli.options import add_config_args, config_from_args
from mimetic.envs import as_expert, load_sb3_expert, make_expert, make_task
from mimetic.envs.experts import ClippedExpert, load_policy_expert
from mimetic.errors import ConfigError, TaskError
from mimetic.interactive.budget import LabelBudget
from mimetic.nets.vision import VisionConfig
from mimetic.policies import ChunkingConfig, ChunkingPolicy, DiffusionConfig, DiffusionPolicy, MLPPolicy, VisionPolicy
from mimetic.protocols import Expert
from mimetic.runs import json_line


def print_json(obj: Any) -> None:
    """One line of strict JSON (NaN/inf become null, so jq and other strict parsers accept it)."""

    print(json_line(obj))


def add_task_args(p: argparse.ArgumentParser, *, required: bool, default_from: str,
                  envs_default: str = "16") -> None:
    """--task, --max-steps, --num-envs (default 16 unless ``envs_default`` says what decides) and --expert."""
    task_help = "task name (see 'mimetic tasks') or gym:<Gymnasium id>"
    p.add_argument("--task", required=required,
                   help=task_help if required else f"{task_help} (default: {default_from})")
    p.add_argument("--obs", dest="obs_mode", choices=("state", "pixels", "pixels+state"), default=None,
                   help="what a built-in task shows: state (its flat observation), pixels (a 64x64 camera; "
                        "the expert still labels from the true state) or pixels+state; the same as naming "
                        "the task TASK@pixels (default: state, or the dataset's / checkpoint's)")
    p.add_argument("--max-steps", type=int, default=None, help=f"episode horizon (default: {default_from})")
    p.add_argument("--num-envs", type=int, default=16 if envs_default == "16" else None,
                   help=f"environments stepped together (default: {envs_default})")
    p.add_argument("--expert", default=None,
                   help="'module:function' (batched or single obs), an SB3 .zip (its VecNormalize .pkl beside "
                        "it is applied), or a mimetic policy folder (e.g. 'mimetic expert train' output); needed "
                        "for gym:<id> tasks (default: the task's built-in expert)")
    add_clip_actions_arg(p)


def add_clip_actions_arg(p: argparse.ArgumentParser) -> None:
    """``--clip-actions``: continuous actions outside the task's bounds (in a dataset, or from an
    expert) are clipped into them with a warning, instead of refused."""
    p.add_argument("--clip-actions", action="store_true",
                   help="clip continuous actions outside the task's bounds (from the dataset or the expert) "
                        "into them, with a warning (default: refuse them in one line)")


POLICY_KINDS = ("mlp", "diffusion", "chunking")  # --policy choices; non-MLP options carry the kind as prefix


def add_policy_args(p: argparse.ArgumentParser) -> None:
    """``--policy`` and the options of the non-MLP policy kinds, namespaced (``--diffusion-...``)."""

    p.add_argument("--policy", choices=POLICY_KINDS, default="mlp",
                   help="policy type: mlp (the 'policy network' options), diffusion (continuous actions; the "
                        "--diffusion-* options) or chunking (ACT-style action chunks, continuous actions; the "
                        "--chunking-* options) (default: mlp)")
    add_config_args(p, DiffusionConfig, title="diffusion policy (--policy diffusion)", prefix="diffusion")
    add_config_args(p, ChunkingConfig, title="action-chunking policy (--policy chunking)", prefix="chunking")
    add_config_args(p, VisionConfig, title="image encoder (camera observations)", prefix="vision")


def check_positive(**values: int | None) -> None:
    for name, v in values.items():
        if v is not None and v < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {v}")


def check_seed(seed: int) -> None:
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0 (episode k starts from reset seed SEED+k), got {seed}")


def import_expert(expert_arg: str) -> Callable[[np.ndarray], Any]:
    """The user's 'module:function', imported as ``python -m`` would (current directory first)."""
    module, _, attr = expert_arg.partition(":")
    if not module or not attr:
        raise ConfigError(f"--expert must be 'module:function', a .zip file or a policy folder, got {expert_arg!r}")
    cwd_on_path()
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot load expert {expert_arg!r}: {e}") from None
    return fn


def _is_file_expert(expert_arg: str) -> bool:
    """An SB3 zip (with or without its statistics) or a policy folder, not 'module:function'."""
    return expert_arg.endswith(".zip") or ".zip:" in expert_arg or Path(expert_arg).is_dir()


def resolve_expert(task_name: str, expert_arg: str | None, spec=None) -> Expert:
    """The built-in expert, or a user's: 'module:function', a Stable-Baselines3 .zip, or a mimetic
    policy folder (``mimetic expert train``'s ``RUN/expert``, any ``save_policy`` folder)."""

    if expert_arg is None:
        return make_expert(task_name)
    if expert_arg.endswith(".zip"):
        return load_sb3_expert(expert_arg, spec)
    if ".zip:" in expert_arg and expert_arg.endswith(".pkl"):  # MODEL.zip:VECNORMALIZE.pkl
        model, _, stats = expert_arg.rpartition(".zip:")
        return load_sb3_expert(model + ".zip", spec, normalize=stats)
    if Path(expert_arg).is_dir():
        if spec is None:
            spec = make_task(task_name).spec
        return load_policy_expert(expert_arg, spec)
    discrete = None if spec is None else spec.discrete  # the task decides int vs float actions
    return as_expert(import_expert(expert_arg), name=expert_arg, discrete=discrete)


def check_expert(expert: Expert, task, label: str) -> None:
    """Label one batch of start states now, so a user's expert that returns the wrong kind of
    action fails with one line before any episode runs (a counted check, not data)."""

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


def task_and_expert(name: str, *, expert_arg: str | None, num_envs: int, max_steps: int | None,
                     need_expert: bool, clip_actions: bool = False) -> tuple[Any, Expert | None]:
    """The task and its expert; without ``need_expert`` a task that has none gets None (evaluation
    then reports no imitation error or expert-normalized score). ``clip_actions`` clips the
    expert's continuous actions into the task's bounds (otherwise they are refused)."""
    task, expert = _task_and_expert(name, expert_arg=expert_arg, num_envs=num_envs, max_steps=max_steps,
                                    need_expert=need_expert)
    if clip_actions and expert is not None and not task.spec.discrete:
        expert = ClippedExpert(expert, task.spec.action_space)
    return task, expert


def _task_and_expert(name: str, *, expert_arg: str | None, num_envs: int, max_steps: int | None,
                     need_expert: bool) -> tuple[Any, Expert | None]:
    if expert_arg is not None and not _is_file_expert(expert_arg):
        import_expert(expert_arg)  # first: the module may register the Gymnasium env it is for
    task = make_cli_task(name, num_envs=num_envs, max_steps=max_steps)
    if expert_arg is None:
        try:
            return task, resolve_expert(name, None)
        except TaskError:
            if need_expert:
                raise TaskError(f"no built-in expert for {name!r}; pass --expert module:function "
                                "(or a Stable-Baselines3 .zip)") from None
            return task, None
    expert = resolve_expert(name, expert_arg, task.spec)
    check_expert(expert, task, expert_arg)
    return task, expert


def make_cli_task(name: str, *, num_envs: int, max_steps: int | None):

    check_positive(num_envs=num_envs, max_steps=max_steps)
    try:
        return make_task(name, num_envs=num_envs, max_steps=max_steps)
    except TaskError as e:
        if name.startswith("gym:") and str(e).startswith("unknown task"):
            raise TaskError(f"unknown task {name!r}: no Gymnasium env has that id; if a module of yours registers "
                            "it, pass --expert module:function from that module so it is imported first") from None
        raise


def make_policy(args: argparse.Namespace, spec: Any, mlp_cfg: Any, *, seed: int) -> Any:
    """The policy ``--policy`` asks for, shaped for ``spec``; for a task that observes a dict
    (cameras), that policy behind the ``--vision-*`` image encoder."""

    kind = getattr(args, "policy", "mlp")
    if kind == "diffusion":
        cls, cfg = DiffusionPolicy, config_from_args(DiffusionConfig, args, prefix="diffusion")
    elif kind == "chunking":
        cls, cfg = ChunkingPolicy, config_from_args(ChunkingConfig, args, prefix="chunking")
    else:
        cls, cfg = MLPPolicy, mlp_cfg
    if spec.obs_layout is not None:
        vision = config_from_args(VisionConfig, args, prefix="vision")
        return VisionPolicy.for_spec(spec, cls, cfg, vision=vision, seed=seed)
    return cls.for_spec(spec, cfg, seed=seed)


def scalars(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def jsonable(obj):
    if dataclasses.is_dataclass(obj):
        return {k: jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    return obj


def print_eval(results) -> None:
    rows = []
    for label, r in results:
        ret = f"{r.return_mean:.1f}" + (f" ± {r.return_ci95:.1f}" if math.isfinite(r.return_ci95) else "")
        rows.append([label, ret, r.success_rate, r.normalized_score,
                     r.imitation_error, r.cost_mean, r.episodes])
    print_table(rows, ["policy", "return (95% CI)", "success", "expert-normalized", "imitation error",
                       "cost/episode", "episodes"])


def dataset_task(ds, task_arg: str | None, data_path: str) -> str:
    """--task, else the task the dataset names, else its Gymnasium env (datasets made by minari)."""
    name = task_arg or ds.metadata.get("task")
    if not name and isinstance(ds.metadata.get("gym_id"), str):
        name = f"gym:{ds.metadata['gym_id']}"
    if not name:
        raise ConfigError(f"dataset {data_path} does not name its task; pass --task")
    return name
