"""``mimetic train dagger | hg-dagger | thrifty-dagger | aggrevate | smile | forward`` from the command line."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mimetic.cli import print_table
from mimetic.cliutil import config_from_args
from mimetic.commands import _check_positive, _jsonable, _task_and_expert, make_policy
from mimetic.errors import ConfigError


def _gate(args: argparse.Namespace, task: Any, policy: Any, expert: Any) -> tuple[Any, Any]:
    """The gate factory for the chosen algorithm, and the expert the budget should ask."""
    from mimetic.algos.dagger import HGDAggerGates, ThriftyGates

    spec = task.spec
    if args.algo not in ("hg-dagger", "thrifty-dagger", "ensemble-dagger", "lazy-dagger"):
        return None, expert
    if args.algo == "ensemble-dagger":
        from mimetic.algos.safe import EnsembleDAggerGates

        chi = args.chi if args.chi is not None else (0.5 if spec.discrete else 0.2)
        return EnsembleDAggerGates(policy, discrete=spec.discrete, chi=chi, tau=args.tau,
                                   doubt_rate=args.doubt_rate), expert
    if args.algo == "lazy-dagger":
        from mimetic.algos.safe import LazyDAggerGates

        return LazyDAggerGates(policy, discrete=spec.discrete, unsafe_rate=args.unsafe_rate, release=args.release,
                               min_intervention=args.min_intervention), expert
    if args.algo == "thrifty-dagger":
        return ThriftyGates(policy, discrete=spec.discrete, switch_rate=args.switch_rate,
                            learn_risk=args.learn_risk, calibrate=args.calibrate, handback=args.handback,
                            min_intervention=args.min_intervention), expert
    if args.human == "keyboard":
        from mimetic.human import KeyboardHuman

        human = KeyboardHuman(task)  # the person at the keyboard is the expert: their actions are the labels
        return HGDAggerGates(discrete=spec.discrete, deviation=1.0, human=human), human.expert
    deviation = args.deviation if args.deviation is not None else (0.5 if spec.discrete else 0.2)
    risk_fn = spec.risk
    # default: the task's own level (driving 1 m off the centreline, cartpole half the failure angle)
    risk = args.risk if args.risk is not None else (spec.risk_threshold if spec.risk_threshold is not None else 1.0)
    if deviation <= 0 or risk <= 0:
        raise ConfigError(f"--deviation and --risk must be > 0, got {deviation} and {risk}")
    doubt = policy.disagreement if getattr(policy.config, "ensemble", 1) > 1 else None
    return HGDAggerGates(discrete=spec.discrete, deviation=deviation, risk_fn=risk_fn, risk=risk,
                         doubt_fn=doubt), expert


def _load_demos(path: str | None, task: Any) -> Any:
    if path is None:
        return None
    from mimetic.data import load_minari

    ds = load_minari(path)
    ds.validate(task.spec)
    return ds


def _fit_function(algo: str) -> Callable[..., Any]:
    from mimetic.algos import aggrevate, dagger, smile

    return {"aggrevate": aggrevate.fit, "smile": smile.fit, "forward": smile.fit_forward}.get(algo, dagger.fit)


def _default_envs(algo: str, cfg: Any) -> int:
    """Envs stepped together: one per episode of a round, or AggreVaTe's parallel cost-to-go rollouts."""
    if algo == "aggrevate":
        return 32
    for name in ("episodes_per_round", "episodes_per_iteration", "episodes_per_segment"):
        if hasattr(cfg, name):
            return int(getattr(cfg, name))
    return 16


def train(args: argparse.Namespace) -> None:
    from mimetic.algos import bc
    from mimetic.cli import GATED, interactive_config
    from mimetic.policies import MLPConfig, save_policy
    from mimetic.runs import RunDir, default_run_dir

    cfg = config_from_args(interactive_config(args.algo), args)
    bc_cfg = config_from_args(bc.BCConfig, args)
    mlp_cfg = config_from_args(MLPConfig, args)
    num_envs = args.num_envs if args.num_envs is not None else _default_envs(args.algo, cfg)
    _check_positive(num_envs=num_envs)
    if args.algo == "hg-dagger" and args.human == "keyboard":
        num_envs = 1  # one window, one car
    task, expert = _task_and_expert(args.task, expert_arg=args.expert, num_envs=num_envs,
                                    max_steps=args.max_steps, need_expert=True)
    eval_task, _ = _task_and_expert(args.task, expert_arg=args.expert, num_envs=16, max_steps=args.max_steps,
                                    need_expert=False)
    policy = make_policy(args, task.spec, mlp_cfg, seed=cfg.seed)
    demos = _load_demos(getattr(args, "demos", None), task)
    gate, asked = _gate(args, task, policy, expert)
    out = Path(args.out) if args.out else default_run_dir(args.algo, task.spec.name)
    config = {"command": f"train {args.algo}", "task": task.spec.name, "max_steps": task.spec.max_steps,
              "loop": cfg, "bc": bc_cfg,
              "policy": {"kind": getattr(args, "policy", "mlp"), **policy.checkpoint_config()},
              "demos": getattr(args, "demos", None),
              "gate": {k: getattr(args, k) for k in ("deviation", "risk", "human", "switch_rate", "learn_risk",
                                                       "calibrate", "handback", "min_intervention", "chi", "tau", "doubt_rate",
                                                       "unsafe_rate", "release")
                       if hasattr(args, k)}}
    with RunDir(out, config=_jsonable(config), tensorboard=not args.no_tensorboard) as run:
        log = lambda r: run.log(r.round, _numbers(dataclasses.asdict(r)), prefix="round/")
        extra = {"gate": gate, "dataset": demos} if args.algo in GATED else {}
        res = _fit_function(args.algo)(task, asked, policy, cfg, bc_config=bc_cfg, eval_task=eval_task,
                                       progress=True, callback=log, **extra)
        tau = gate.tau() if hasattr(gate, "tau") else None
        result = {k: v for k, v in dataclasses.asdict(res).items() if k != "policy"}
        run.write_json("result.json", {**_jsonable(result), "doubt_tau": tau})
        final = getattr(res, "policy", None) or policy  # SMILe / forward: the mixture they built
        save_policy(final, run.path / "checkpoint", extra={"task": task.spec.name, "algo": args.algo,
                                                           "max_steps": task.spec.max_steps})
    _print_rounds(res)
    extra = f"; HG-DAgger doubt threshold tau = {tau:.4g}" if tau is not None else ""
    stop = " (label budget spent)" if res.budget_spent else ""
    watched = getattr(res, "watched", 0)
    looks = f", {watched} states watched (not labels)" if watched else ""
    print(f"{res.labels} expert labels, {res.expert_steps} expert-driven steps, {res.context_switches} "
          f"context switches{looks}, {res.wall_s:.1f} s training{stop}{extra}; run saved to {out}")


def _numbers(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _print_rounds(res: Any) -> None:
    watched = any(getattr(r, "watched", 0) for r in res.rounds)  # a column only where a simulated human looked
    rows = [[r.round, r.beta, r.labels, r.expert_steps, r.context_switches] + ([r.watched] if watched else [])
            + [r.return_mean, r.normalized_score, r.cost_mean, r.train_wall_s] for r in res.rounds]
    print_table(rows, ["round", "beta", "labels", "expert steps", "switches"] + (["watched"] if watched else [])
                + ["return", "expert-normalized", "cost/episode", "train s"])
