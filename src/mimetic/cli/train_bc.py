"""``mimetic train bc``: behavioral cloning from a dataset, then an evaluation.

The fit checkpoints its full state (weights, AdamW moments, minibatch order, generators) into the
run's ``state/`` every ``--checkpoint-every`` seconds; ``--resume RUN`` continues bitwise as if it
had never stopped. Once training is done the state says so, and a resumed run only evaluates.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

from mimetic import devices
from mimetic.algos.bc import BCConfig, fit
from mimetic.cli.common import (
    add_clip_actions_arg,
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
from mimetic.cli.resume import Interrupted, StopFlag, add_checkpoint_args, resume_target, resumed_args, run_args
from mimetic.data import load_minari
from mimetic.errors import ConfigError
from mimetic.policies import MLPConfig, save_policy
from mimetic.protocols import Expert
from mimetic.rollout import evaluate as run_eval
from mimetic.runs import RunDir, check_new_run_dir, default_run_dir
from mimetic.trainstate import load_module, module_tensors
from mimetic.types import BCResult


def add_parsers(algos: argparse._SubParsersAction) -> None:

    bc = algos.add_parser("bc", help="behavioral cloning from a dataset")
    bc.add_argument("--data", default=None, help="Minari dataset directory (or its main_data.hdf5); required "
                                                 "unless --resume")
    bc.add_argument("--task", default=None, help="task to evaluate on (default: the dataset's task)")
    bc.add_argument("--max-steps", type=int, default=None, help="evaluation horizon (default: the dataset's)")
    bc.add_argument("--out", default=None, help="run directory (default: runs/bc-<task>-<time>)")
    bc.add_argument("--eval-episodes", type=int, default=50,
                    help="evaluation episodes after training (default: 50; 0 skips it)")
    bc.add_argument("--num-envs", type=int, default=16, help="environments for evaluation (default: 16)")
    bc.add_argument("--expert", default=None,
                    help="expert for the evaluation, as in 'collect --help' (default: the task's built-in one)")
    bc.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard events")
    add_checkpoint_args(bc, unit="logging window (--log-every steps)")
    add_clip_actions_arg(bc)
    add_config_args(bc, BCConfig, title="behavioral cloning")
    add_config_args(bc, MLPConfig, title="policy network")
    add_policy_args(bc)
    bc.set_defaults(handler=train)


def _train_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any, str, Any, Expert | None]:
    """Every check of ``train bc``'s input, before any training: configs, --out, the dataset
    against its task, and the expert (a bad --expert must not throw a finished run away)."""

    bc_cfg = config_from_args(BCConfig, args)
    devices.check_available(bc_cfg.device, bc_cfg.precision)
    mlp_cfg = config_from_args(MLPConfig, args)
    if mlp_cfg.head == "auto" and bc_cfg.loss == "nll":
        # --loss nll on a continuous task means a Gaussian likelihood head
        mlp_cfg = dataclasses.replace(mlp_cfg, head="gaussian")
    if args.eval_episodes < 0:
        raise ConfigError(f"--eval-episodes must be >= 0 (0 skips evaluation), got {args.eval_episodes}")
    check_positive(num_envs=args.num_envs, max_steps=args.max_steps)
    if args.out and args.resume is None:
        check_new_run_dir(args.out)
    if args.data is None:
        raise ConfigError("train bc needs --data DATASET (or --resume RUN)")
    ds = load_minari(args.data)
    name = dataset_task(ds, args.task, args.data)
    max_steps = args.max_steps or ds.metadata.get("max_steps")
    task, expert = task_and_expert(name, expert_arg=args.expert, max_steps=max_steps,
                                    num_envs=min(args.num_envs, max(args.eval_episodes, 1)), need_expert=False)
    ds.validate(task.spec, clip_actions=args.clip_actions)
    if mlp_cfg.head == "gaussian" and task.spec.discrete:
        raise ConfigError("--head gaussian needs a continuous-action task; use categorical for discrete")
    return bc_cfg, mlp_cfg, ds, name, task, expert


# options a resumed run may take anew: they change the evaluation, not the training
MAY_CHANGE = ("eval_episodes", "num_envs", "expert", "max_steps")


def train(args: argparse.Namespace) -> None:

    resume = args.resume is not None
    if resume:
        args, _ = resumed_args(args, command="train bc", may_change=MAY_CHANGE)
    bc_cfg, mlp_cfg, ds, name, task, expert = _train_inputs(args)
    policy = make_policy(args, task.spec, mlp_cfg, seed=bc_cfg.seed)
    out = resume_target(args) if resume else Path(args.out) if args.out else default_run_dir("bc", name)
    config = {"command": "train bc", "data": str(args.data), "task": name, "max_steps": task.spec.max_steps,
              "bc": bc_cfg, "policy": {"kind": args.policy, **policy.checkpoint_config()},
              "dataset": {"episodes": ds.n_episodes, "transitions": ds.n_transitions}, "args": run_args(args)}
    with RunDir(out, config=jsonable(config), tensorboard=not args.no_tensorboard, resume=resume,
                checkpoint_every=args.checkpoint_every) as run, StopFlag("after this logging window") as flag:
        result = _fit(run, flag, policy, ds, bc_cfg)
        save_policy(policy, run.path / "checkpoint", extra={"task": name, "max_steps": task.spec.max_steps,
                                                            "algo": "bc"})
        rows = [["bc", result.steps, result.final_loss, result.samples_per_s, result.wall_s]]
        res = None
        _stop_if_asked(flag, out)
        if args.eval_episodes > 0:
            res = run_eval(task, policy, episodes=args.eval_episodes, expert=expert, progress=True)
            run.write_json("eval.json", res.as_dict())
            run.log(result.steps, scalars(res.as_dict()), prefix="eval/")
        _stop_if_asked(flag, out)
        run.finish({"steps": result.steps, "final_loss": result.final_loss, "train_wall_s": result.wall_s,
                    "eval": None if res is None else res.as_dict()})
    print_table(rows, ["algo", "steps", "final loss", "samples/s", "train s"])
    if res is not None:
        print_eval([("bc", res)])
    print(f"run saved to {out}")


def _stop_if_asked(flag: StopFlag, out: Path) -> None:
    """Ctrl-C during the last logging window or the evaluation: the trained policy is saved, and
    the exit code still says interrupted (130); a resume evaluates and finishes the run."""
    if flag.stop:
        raise Interrupted(f"BC stopped after training, before its result; run saved to {out} (continue with "
                          f"--resume {out})")


def _fit(run: RunDir, flag: StopFlag, policy: Any, ds: Any, bc_cfg: BCConfig) -> Any:
    """BC with checkpoints; a run whose state says training finished only reloads the weights."""
    state = run.state
    wall0 = float(state[1].get("train_wall_s", 0.0)) if state is not None else 0.0
    if state is not None and state[1].get("stage") == "trained":
        load_module(policy, state[0], "policy", what="policy")
        policy.eval()
        m = state[1]
        return BCResult(steps=bc_cfg.steps, epochs=float(m["epochs"]), final_loss=float(m["final_loss"]),
                        samples_per_s=float(m["samples_per_s"]), wall_s=wall0, history=tuple(m["history"]))
    t0 = time.perf_counter()

    def hook(step: int, snapshot: Any) -> bool:
        if flag.stop or run.due():
            tensors, meta = snapshot()
            run.save_state(tensors, {**meta, "stage": "training", "train_wall_s": wall0 + time.perf_counter() - t0})
        return flag.stop

    result = fit(policy, ds, bc_cfg, progress=True, callback=lambda s, m: run.log(s, m, prefix="train/"),
                 resume=state, checkpoint=hook)
    wall = wall0 + result.wall_s
    if result.interrupted:
        raise Interrupted(f"BC stopped at step {result.steps} of {bc_cfg.steps}; run saved to {run.final} "
                          f"(continue with --resume {run.final})")
    run.save_state(module_tensors(policy, "policy"),
                   {"stage": "trained", "epochs": result.epochs, "final_loss": result.final_loss,
                    "samples_per_s": result.samples_per_s, "history": list(result.history), "train_wall_s": wall})
    return dataclasses.replace(result, wall_s=wall)
