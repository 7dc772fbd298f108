"""``mimetic train bc``: behavioral cloning from a dataset, then an evaluation."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from mimetic.algos.bc import BCConfig, fit
from mimetic.cli.common import (
    add_policy_args,
    check_positive,
    dataset_task,
    jsonable,
    make_policy,
    print_eval,
    print_table,
    scalars,
    task_and_expert,
)
from mimetic.cli.options import add_config_args, config_from_args
from mimetic.data import load_minari
from mimetic.errors import ConfigError
from mimetic.policies import MLPConfig, save_policy
from mimetic.protocols import Expert
from mimetic.rollout import evaluate as run_eval
from mimetic.runs import RunDir, check_new_run_dir, default_run_dir


def add_parsers(algos: argparse._SubParsersAction) -> None:

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
    bc.set_defaults(handler=train)


def _train_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any, str, Any, Expert | None]:
    """Every check of ``train bc``'s input, before any training: configs, --out, the dataset
    against its task, and the expert (a bad --expert must not throw a finished run away)."""

    bc_cfg = config_from_args(BCConfig, args)
    mlp_cfg = config_from_args(MLPConfig, args)
    if mlp_cfg.head == "auto" and bc_cfg.loss == "nll":
        # --loss nll on a continuous task means a Gaussian likelihood head
        mlp_cfg = dataclasses.replace(mlp_cfg, head="gaussian")
    if args.eval_episodes < 0:
        raise ConfigError(f"--eval-episodes must be >= 0 (0 skips evaluation), got {args.eval_episodes}")
    check_positive(num_envs=args.num_envs, max_steps=args.max_steps)
    if args.out:
        check_new_run_dir(args.out)
    ds = load_minari(args.data)
    name = dataset_task(ds, args.task, args.data)
    max_steps = args.max_steps or ds.metadata.get("max_steps")
    task, expert = task_and_expert(name, expert_arg=args.expert, max_steps=max_steps,
                                    num_envs=min(args.num_envs, max(args.eval_episodes, 1)), need_expert=False)
    ds.validate(task.spec)
    if mlp_cfg.head == "gaussian" and task.spec.discrete:
        raise ConfigError("--head gaussian needs a continuous-action task; use categorical for discrete")
    return bc_cfg, mlp_cfg, ds, name, task, expert


def train(args: argparse.Namespace) -> None:

    bc_cfg, mlp_cfg, ds, name, task, expert = _train_inputs(args)
    policy = make_policy(args, task.spec, mlp_cfg, seed=bc_cfg.seed)
    out = Path(args.out) if args.out else default_run_dir("bc", name)
    config = {"command": "train bc", "data": str(args.data), "task": name, "max_steps": task.spec.max_steps,
              "bc": bc_cfg, "policy": {"kind": args.policy, **policy.checkpoint_config()},
              "dataset": {"episodes": ds.n_episodes,
                                                           "transitions": ds.n_transitions}}
    with RunDir(out, config=jsonable(config), tensorboard=not args.no_tensorboard) as run:
        result = fit(policy, ds, bc_cfg, progress=True, callback=lambda s, m: run.log(s, m, prefix="train/"))
        save_policy(policy, run.path / "checkpoint", extra={"task": name, "max_steps": task.spec.max_steps,
                                                            "algo": "bc"})
        rows = [["bc", result.steps, result.final_loss, result.samples_per_s, result.wall_s]]
        res = None
        if args.eval_episodes > 0:
            res = run_eval(task, policy, episodes=args.eval_episodes, expert=expert, progress=True)
            run.write_json("eval.json", res.as_dict())
            run.log(result.steps, scalars(res.as_dict()), prefix="eval/")
    print_table(rows, ["algo", "steps", "final loss", "samples/s", "train s"])
    if res is not None:
        print_eval([("bc", res)])
    print(f"run saved to {out}")
