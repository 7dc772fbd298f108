"""``mimetic train <method>`` for every interactive method of :mod:`mimetic.interactive.registry`:
the subcommands, their options (loop, gate, BC and policy configs) and the dispatch are generated
from the registry, so a new method needs no change here.

After each round the whole run (policies, the aggregated dataset, the label counts, generators, the
gate's thresholds, the records) is checkpointed into ``state/`` when ``--checkpoint-every`` seconds
have passed (and after the last round); ``--resume RUN`` continues with the next round, bitwise as
if the run had never stopped. Ctrl-C finishes the current round, saves, and exits with code 130.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from mimetic import devices
from mimetic.algos import bc
from mimetic.algos.bc import BCConfig
from mimetic.cli.common import (
    add_policy_args,
    add_task_args,
    check_positive,
    jsonable,
    make_policy,
    print_table,
    scalars,
    task_and_expert,
)
from mimetic.cli.options import add_config_args, config_from_args
from mimetic.cli.resume import Interrupted, StopFlag, add_checkpoint_args, resume_target, resumed_args, run_args
from mimetic.data import load_minari
from mimetic.errors import ConfigError
from mimetic.interactive.registry import METHODS, episodes_per_round
from mimetic.policies import MLPConfig, save_policy
from mimetic.runs import RunDir, check_new_run_dir, default_run_dir


def add_parsers(algos: argparse._SubParsersAction) -> None:

    for m in METHODS.values():
        p = algos.add_parser(m.name, help=m.help, description=m.help)
        envs = (f"{m.num_envs}, the parallel cost-to-go rollouts" if m.num_envs else "one per episode of a round")
        add_task_args(p, required=False, default_from="the task's own", envs_default=envs)
        if m.gated:
            p.add_argument("--demos", default=None, help="optional Minari dataset to start the aggregate from")
        p.add_argument("--out", default=None, help=f"run directory (default: runs/{m.name}-<task>-<time>)")
        p.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard events")
        add_checkpoint_args(p, unit="round")
        if m.gate is not None:
            add_config_args(p, m.gate, title=f"{m.title} gate")
        add_config_args(p, m.loop, title="interactive loop")
        # A round refits warm on the aggregate: far fewer steps than BC from scratch.
        add_config_args(p, BCConfig, title="behavioral cloning in each round", defaults={"steps": 500})
        add_config_args(p, MLPConfig, title="policy network", defaults={"hidden": (64, 64), "ensemble": m.ensemble})
        add_policy_args(p)
        p.set_defaults(handler=train)


def _load_demos(path: str | None, task: Any, *, clip_actions: bool) -> Any:
    if path is None:
        return None

    ds = load_minari(path)
    ds.validate(task.spec, clip_actions=clip_actions)
    return ds


# options a resumed run may take anew: more rounds or labels, and how each round is evaluated
MAY_CHANGE = ("rounds", "iterations", "label_budget", "eval_episodes")


def train(args: argparse.Namespace) -> None:

    resume = args.resume is not None
    if resume:
        args, _ = resumed_args(args, command=f"train {args.algo}", may_change=MAY_CHANGE)
    if args.task is None:
        raise ConfigError(f"train {args.algo} needs --task (or --resume RUN)")
    method = METHODS[args.algo]
    cfg = config_from_args(method.loop, args)
    bc_cfg = config_from_args(bc.BCConfig, args)
    devices.check_available(bc_cfg.device, bc_cfg.precision)
    mlp_cfg = config_from_args(MLPConfig, args)
    options = config_from_args(method.gate, args) if method.gate is not None else None
    # one env per episode of a round (AggreVaTe: its parallel cost-to-go rollouts) unless told
    num_envs = args.num_envs if args.num_envs is not None else (method.num_envs or episodes_per_round(cfg))
    check_positive(num_envs=num_envs)
    if options is not None and options.num_envs() is not None:
        num_envs = options.num_envs()  # e.g. one window, one car for a live human
    if not resume and args.out:
        check_new_run_dir(args.out)
    task, expert = task_and_expert(args.task, expert_arg=args.expert, num_envs=num_envs,
                                    max_steps=args.max_steps, need_expert=True, clip_actions=args.clip_actions)
    eval_task, _ = task_and_expert(args.task, expert_arg=args.expert, num_envs=16, max_steps=args.max_steps,
                                    need_expert=False)
    policy = make_policy(args, task.spec, mlp_cfg, seed=cfg.seed)
    demos = _load_demos(getattr(args, "demos", None), task, clip_actions=args.clip_actions)
    gate, asked = options.build(task, policy, expert) if options is not None else (None, expert)
    if resume:
        out = resume_target(args)
    else:
        out = Path(args.out) if args.out else default_run_dir(args.algo, task.spec.name)
    config = {"command": f"train {args.algo}", "task": task.spec.name, "max_steps": task.spec.max_steps,
              "loop": cfg, "bc": bc_cfg,
              "policy": {"kind": getattr(args, "policy", "mlp"), **policy.checkpoint_config()},
              "demos": getattr(args, "demos", None),
              "gate": dataclasses.asdict(options) if options is not None else {}, "args": run_args(args)}
    with RunDir(out, config=jsonable(config), tensorboard=not args.no_tensorboard, resume=resume,
                checkpoint_every=args.checkpoint_every) as run, StopFlag("after this round") as flag:
        def log(r: Any) -> None:
            run.log(r.round, scalars(dataclasses.asdict(r)), prefix="round/")

        def hook(i: int, snapshot: Any, last: bool) -> bool:
            if last or flag.stop or run.due():
                run.save_state(*snapshot())
            return flag.stop

        extra = {"gate": gate, "dataset": demos} if method.gated else {}
        res = method.fit(task, asked, policy, cfg, bc_config=bc_cfg, eval_task=eval_task, progress=True,
                         callback=log, resume=run.state, checkpoint=hook, **extra)
        final = getattr(res, "policy", None) or policy  # SMILe / forward: the mixture they built
        extra_meta = {"task": task.spec.name, "algo": args.algo, "max_steps": task.spec.max_steps}
        run.replace_dir("checkpoint", lambda d: save_policy(final, d, extra=extra_meta))
        if res.interrupted or flag.stop:  # Ctrl-C, even in the last round: 130, and a resume finishes the run
            raise Interrupted(f"{args.algo} stopped after round {len(res.rounds) - 1}; run saved to {out} "
                              f"(continue with --resume {out})")
        tau = gate.tau() if hasattr(gate, "tau") else None
        result = {k: v for k, v in dataclasses.asdict(res).items() if k != "policy"}
        run.finish({**jsonable(result), "doubt_tau": tau})
    _print_rounds(res)
    extra = f"; HG-DAgger doubt threshold tau = {tau:.4g}" if tau is not None else ""
    stop = " (label budget spent)" if res.budget_spent else ""
    watched = getattr(res, "watched", 0)
    looks = f", {watched} states watched (not labels)" if watched else ""
    print(f"{res.labels} expert labels, {res.expert_steps} expert-driven steps, {res.context_switches} "
          f"context switches{looks}, {res.wall_s:.1f} s training{stop}{extra}; run saved to {out}")


def _print_rounds(res: Any) -> None:
    watched = any(getattr(r, "watched", 0) for r in res.rounds)  # a column only where a simulated human looked
    rows = [[r.round, r.beta, r.labels, r.expert_steps, r.context_switches] + ([r.watched] if watched else [])
            + [r.return_mean, r.normalized_score, r.cost_mean, r.train_wall_s] for r in res.rounds]
    print_table(rows, ["round", "beta", "labels", "expert steps", "switches"] + (["watched"] if watched else [])
                + ["return", "expert-normalized", "cost/episode", "train s"])
