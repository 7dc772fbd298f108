"""``mimetic expert list | train | export``: the shipped MuJoCo experts, and making new ones.

``expert train --task hopper`` is ``train ppo`` with the physics preset (:data:`PHYSICS_PPO`, 8
envs, :data:`EXPERT_STEPS` environment steps) followed by ``expert export`` of the run's best
evaluated policy: 50 deterministic episodes are measured and the policy is written with an
``expert.json`` to ``RUN/expert/``, usable anywhere as ``--expert RUN/expert``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mimetic.cli.base import print_table
from mimetic.errors import ConfigError

HELP = "the shipped MuJoCo experts; train and export new ones"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("expert", help=HELP, description=HELP)
    cmds = p.add_subparsers(dest="expert_command", required=True)

    ls = cmds.add_parser("list", help="the experts shipped for the MuJoCo tasks, with how each was made and scores",
                         description="The experts shipped for the MuJoCo tasks: how each was trained and its "
                                     "deterministic return (mean and std over the episodes measured).")
    ls.set_defaults(handler=list_experts)

    text = ("Train a PPO expert with the physics preset (8 envs, 2048 transitions per iteration, lr 3e-4 "
            "annealed, 10 epochs of 64-transition minibatches, action std starting at 1, observation and "
            "reward normalisation, gamma 0.99 except swimmer's 0.9999), then measure the best evaluated "
            "policy over --episodes deterministic episodes and write it, with expert.json, to OUT/expert/ "
            "(use it as --expert OUT/expert). "
            "An interrupted run continues with 'mimetic train ppo --resume OUT', then 'mimetic expert export OUT'.")
    tr = cmds.add_parser("train", help="train a PPO expert for a task with the physics preset and export it",
                         description=text)
    tr.add_argument("--task", required=True, help="task name, e.g. hopper, halfcheetah (or gym:<id>)")
    tr.add_argument("--seed", type=int, default=0, help="PPO seed (default: 0, the shipped experts' seed)")
    tr.add_argument("--total-steps", type=int, default=None,
                    help="environment steps (default: per task, the shipped expert's: hopper 1M, halfcheetah "
                         "and walker2d 2M, swimmer 1M, ant 3M; other tasks 1M)")
    tr.add_argument("--out", default=None, help="run directory (default: runs/expert-<task>-<time>)")
    tr.add_argument("--episodes", type=int, default=50, help="episodes measured at export (default: 50)")
    tr.add_argument("--eval-every", type=int, default=50,
                    help="evaluate (10 episodes) every N iterations to pick the best policy (default: 50)")
    tr.set_defaults(handler=train_expert)

    ex = cmds.add_parser("export", help="measure a trained policy and write it as an expert folder",
                         description="Measure a trained policy (a run directory: its best/ policy, else its "
                                     "checkpoint/; or a policy folder) over --episodes deterministic episodes "
                                     "and write it with expert.json to --out (default: RUN/expert).")
    ex.add_argument("run", help="a train ppo run directory or a policy folder")
    ex.add_argument("--task", default=None, help="the task (default: the one the run trained on)")
    ex.add_argument("--out", default=None, help="expert folder to write (default: RUN/expert)")
    ex.add_argument("--episodes", type=int, default=50, help="episodes to measure (default: 50)")
    ex.set_defaults(handler=export)


def list_experts(args: argparse.Namespace) -> None:
    from mimetic.envs import mujoco

    rows = []
    for task in mujoco.TASKS:
        info = mujoco.expert_info(task)
        score = info.get("score", {})
        rows.append([task, "yes" if mujoco.shipped(task) else "no",
                     f"{score['return_mean']:.0f} +- {score['return_std']:.0f}" if score else "-",
                     score.get("episodes", "-"), info.get("env_steps", "-"), info.get("seed", "-"),
                     f"{info['wall_s'] / 60:.0f} min" if "wall_s" in info else "-"])
    print_table(rows, ["task", "shipped", "return (det.)", "episodes", "env steps", "seed", "trained in"])
    print("reproduce one with: mimetic expert train --task TASK")


def train_expert(args: argparse.Namespace) -> None:
    from mimetic.algos.experts import EXPERT_GAMMA, EXPERT_STEPS, PHYSICS_ENVS, PHYSICS_PPO
    from mimetic.cli.main import _parse
    from mimetic.runs import check_new_run_dir, default_run_dir

    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    steps = args.total_steps or EXPERT_STEPS.get(args.task, 1_000_000)
    out = Path(args.out) if args.out else default_run_dir("expert", args.task)
    check_new_run_dir(out)
    p = PHYSICS_PPO
    argv = ["train", "ppo", "--task", args.task, "--num-envs", str(PHYSICS_ENVS), "--rollout-steps",
            str(p.rollout_steps), "--epochs", str(p.epochs), "--minibatch", str(p.minibatch), "--lr", str(p.lr),
            "--init-log-std", str(p.init_log_std), "--total-steps", str(steps), "--seed", str(args.seed),
            "--gamma", str(EXPERT_GAMMA.get(args.task, p.gamma)),
            "--eval-every", str(args.eval_every), "--eval-episodes", "10", "--out", str(out), "--no-tensorboard"]
    print("running: mimetic " + " ".join(argv))
    ppo_args = _parse(argv)
    ppo_args.handler(ppo_args)
    _export(out, task=None, out=out / "expert", episodes=args.episodes)


def export(args: argparse.Namespace) -> None:
    run = Path(args.run)
    _export(run, task=args.task, out=Path(args.out) if args.out else run / "expert", episodes=args.episodes)


def _export(run: Path, *, task: str | None, out: Path, episodes: int) -> None:
    from mimetic.algos.experts import export_expert
    from mimetic.policies import load_policy, read_checkpoint_meta

    if episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {episodes}")
    folder = _policy_folder(run)
    policy = load_policy(folder)
    made = _how_made(run)
    task = task or made.get("task") or read_checkpoint_meta(folder)["spec"].get("task")
    if task is None:
        raise ConfigError(f"{folder} records no task; pass --task")
    made["from"] = f"{folder.name}/ of the run" if folder != run else "a policy folder"
    info = export_expert(policy, out, task=task, episodes=episodes, made=made)
    s = info["score"]
    print_table([[task, f"{s['return_mean']:.1f}", f"{s['return_std']:.1f}", f"{s['return_min']:.1f}", episodes,
                  str(out)]], ["task", "return", "std", "min", "episodes", "expert folder"])
    print(f"use it with --expert {out}")


def _policy_folder(run: Path) -> Path:
    for name in ("best", "checkpoint"):
        if (run / name / "policy.json").is_file():
            return run / name
    if (run / "policy.json").is_file():
        return run
    raise ConfigError(f"{run} holds no policy (no best/, checkpoint/ or policy.json)")


def _how_made(run: Path) -> dict[str, Any]:
    """Command, seed, steps and wall time of a run directory (empty for a bare policy folder)."""
    made: dict[str, Any] = {}
    try:
        config = json.loads((run / "config.json").read_text())
        a = config["args"]
        made.update(task=config["task"], seed=a.get("seed"), command="mimetic train ppo " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in a.items()
            if k in ("task", "num_envs", "rollout_steps", "epochs", "minibatch", "lr", "init_log_std",
                     "total_steps", "seed", "gamma")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return made
    try:
        result = json.loads((run / "result.json").read_text())
        made.update(env_steps=result.get("env_steps"), wall_s=result.get("wall_s"))
        best = result.get("best") or {}
        if isinstance(best, dict) and "env_steps" in best:
            made["best_at_env_steps"] = best["env_steps"]
    except (OSError, ValueError, AttributeError):
        pass
    return made
