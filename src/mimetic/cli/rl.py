"""``mimetic train ppo | gail | airl`` from the command line.

A run directory holds config.json, metrics.jsonl (one line per PPO iteration, plus evaluations),
TensorBoard events, ``checkpoint/`` (the final policy, for ``mimetic eval``), ``best/`` (the
best-evaluated one), ``state/`` (everything
``--resume`` needs to continue) and result.json; AIRL adds ``reward/`` (the learned reward g(s),
usable by ``mimetic train ppo --reward``). Ctrl-C stops at the end of the current iteration and
still writes a complete, resumable run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
from pathlib import Path
from typing import Any

from mimetic.algos import adversarial, ppo
from mimetic.algos.adversarial import AdversarialConfig, learned_reward, load_reward
from mimetic.algos.ppo import PPO_NET, PPOConfig
from mimetic.cli.common import (
    check_positive,
    dataset_task,
    jsonable,
    print_table,
    scalars,
    task_and_expert,
)
from mimetic.cli.options import add_config_args, config_from_args
from mimetic.data import load_minari
from mimetic.errors import CheckpointError, ConfigError
from mimetic.policies import save_policy
from mimetic.policies.mlp import MLPConfig
from mimetic.rollout import Scorer, evaluate
from mimetic.runs import RunDir, check_new_run_dir, default_run_dir

SKIP_NET = {"ensemble", "head", "gaussian_std", "mixture_components"}  # PPO's actor fixes these


def add_parsers(algos: argparse._SubParsersAction) -> None:
    """The ``train ppo|gail|airl`` subcommands (options generated from the config dataclasses)."""

    texts = {
        "ppo": "PPO on the task's reward (the RL baseline), or on a learned AIRL reward (--reward)",
        "gail": "GAIL: PPO against a discriminator of expert vs policy transitions (Ho & Ermon 2016)",
        "airl": "AIRL: adversarial imitation that also learns a transferable reward g(s) (Fu et al. 2018)",
    }
    for name, text in texts.items():
        p = algos.add_parser(name, help=text, description=text)
        if name == "ppo":
            p.add_argument("--task", default=None, help="task name or gym:<id> (required unless --resume)")
            p.add_argument("--reward", default=None,
                           help="an AIRL run directory (or its reward/ folder): train on its learned reward")
        else:
            p.add_argument("--data", default=None,
                           help="Minari dataset of expert demonstrations (required unless --resume)")
            p.add_argument("--task", default=None, help="task to train on (default: the dataset's task)")
        p.add_argument("--max-steps", type=int, default=None, help="episode horizon (default: the task's own)")
        p.add_argument("--num-envs", type=int, default=16, help="environments stepped together (default: 16)")
        p.add_argument("--expert", default=None,
                       help="expert for the expert-normalized score in evaluations, as in 'collect --help' "
                            "(default: the task's built-in one, if any)")
        p.add_argument("--out", default=None, help=f"run directory (default: runs/{name}-<task>-<time>)")
        p.add_argument("--resume", default=None,
                       help="continue a finished or interrupted run directory (same settings; raise "
                            "--total-steps to train further); writes a new run to --out")
        p.add_argument("--eval-every", type=int, default=10, help="evaluate every N iterations (default: 10; 0: "
                                                                   "only at the end)")
        p.add_argument("--eval-episodes", type=int, default=20,
                       help="episodes per evaluation (default: 20; 0 turns evaluation off)")
        p.add_argument("--target-score", type=float, default=None,
                       help="stop once an evaluation reaches this expert-normalized score (needs an expert)")
        p.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard events")
        add_config_args(p, PPOConfig, title="PPO")
        if name != "ppo":
            add_config_args(p, AdversarialConfig, title="discriminator", skip={"method"})
        add_config_args(p, MLPConfig, title="policy and value networks", skip=SKIP_NET,
                        defaults={"hidden": PPO_NET.hidden, "activation": PPO_NET.activation})
        p.set_defaults(handler=train)


def _saved_config(resume: str | None) -> dict[str, Any] | None:
    if resume is None:
        return None
    path = Path(resume)
    try:
        return json.loads((path / "config.json").read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is not a run directory of train ppo/gail/airl (no config.json)") from None
    except (OSError, ValueError) as err:
        raise CheckpointError(f"cannot read {path / 'config.json'}: {err}") from None


def _configs(args: argparse.Namespace, saved: dict[str, Any] | None) -> tuple[Any, Any, Any]:
    """PPO, discriminator and network configs: from the command line, or the resumed run's
    (only --total-steps may change on resume)."""

    if saved is None:
        ppo_cfg = config_from_args(PPOConfig, args)
        adv_cfg = None if args.algo == "ppo" else dataclasses.replace(config_from_args(AdversarialConfig, args),
                                                                      method=args.algo)
        return ppo_cfg, adv_cfg, config_from_args(MLPConfig, args)
    if saved.get("command") != f"train {args.algo}":
        raise CheckpointError(f"--resume {args.resume} is a {saved.get('command')!r} run, not 'train {args.algo}'")
    try:
        ppo_cfg = PPOConfig(**{**saved["ppo"], "total_steps": args.total_steps})
        adv_cfg = None if args.algo == "ppo" else AdversarialConfig(**saved["discriminator"])
        net = MLPConfig(**saved["net"])
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"cannot read the settings of {args.resume}/config.json: {err}") from None
    return ppo_cfg, adv_cfg, net


def _inputs(args: argparse.Namespace, saved: dict[str, Any] | None) -> tuple[str, Any, Any, str | None]:
    """(task name, demonstrations or None, max_steps, data path) checked before any training."""

    if args.algo == "ppo":
        name = args.task or (saved or {}).get("task")
        if name is None:
            raise ConfigError("train ppo needs --task (or --resume RUN)")
        return name, None, args.max_steps or (saved or {}).get("max_steps"), None
    data = args.data or (saved or {}).get("data")
    if data is None:
        raise ConfigError(f"train {args.algo} needs --data DATASET (or --resume RUN)")
    ds = load_minari(data)
    name = args.task or (saved or {}).get("task") or dataset_task(ds, None, data)
    max_steps = args.max_steps or (saved or {}).get("max_steps") or ds.metadata.get("max_steps")
    return name, ds, max_steps, str(data)


def _reward_fn(args: argparse.Namespace, saved: dict[str, Any] | None, task_name: str) -> tuple[Any, str | None]:

    if args.algo != "ppo":  # for gail/airl, --reward is the discriminator's reward form
        return None, None
    path = args.reward or (saved or {}).get("reward")
    if path is None:
        return None, None
    folder = Path(path) / "reward" if (Path(path) / "reward").is_dir() else Path(path)
    return learned_reward(load_reward(folder, expect_task=task_name)), str(folder)


class _StopFlag:
    """Ctrl-C during training asks for a clean stop after the current iteration (a second one aborts)."""

    def __init__(self) -> None:
        self.stop = False
        self._old: Any = None

    def __enter__(self) -> _StopFlag:  # noqa: PYI034
        self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True
        print("\nstopping after this iteration (Ctrl-C again to abort without saving)", flush=True)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._old)


def train(args: argparse.Namespace) -> None:

    saved = _saved_config(args.resume)
    ppo_cfg, adv_cfg, net = _configs(args, saved)
    check_positive(num_envs=args.num_envs)
    if args.eval_every < 0 or args.eval_episodes < 0:
        raise ConfigError("--eval-every and --eval-episodes must be >= 0")
    name, demos, max_steps, data = _inputs(args, saved)
    task, expert = task_and_expert(name, expert_arg=args.expert, num_envs=args.num_envs, max_steps=max_steps,
                                    need_expert=False)
    if demos is not None:
        demos.validate(task.spec)
    reward_fn, reward_path = _reward_fn(args, saved, task.spec.name)
    if args.target_score is not None and (expert is None or args.eval_episodes == 0):
        raise ConfigError("--target-score needs an expert (built in or --expert) and --eval-episodes > 0")
    out = Path(args.out) if args.out else default_run_dir(args.algo, task.spec.name)
    check_new_run_dir(out)
    state = ppo.load_state(Path(args.resume) / "state") if args.resume else None
    learner: Any
    if adv_cfg is None:
        learner = ppo.PPO(task, ppo_cfg, net)
    else:
        learner = adversarial.AdversarialTrainer(task, demos, adv_cfg, ppo_cfg, net)
    if state is not None:
        learner.load_state(*state)
    elif adv_cfg is not None:
        learner.warm_start(progress=True)
    eval_task, _ = task_and_expert(name, expert_arg=args.expert, num_envs=min(args.eval_episodes, 50) or 1,
                                    max_steps=max_steps, need_expert=False)
    scorer = Scorer.make(eval_task, expert, episodes=args.eval_episodes) if expert is not None else None
    config = {"command": f"train {args.algo}", "task": task.spec.name, "max_steps": task.spec.max_steps,
              "data": data, "reward": reward_path, "resumed_from": args.resume, "ppo": ppo_cfg,
              "discriminator": adv_cfg, "net": net, "num_envs": args.num_envs}
    with RunDir(out, config=jsonable(config), tensorboard=not args.no_tensorboard) as run, _StopFlag() as flag:
        offset = float(state[1].get("wall_s", 0.0)) if state and adv_cfg is None else 0.0
        loop = _Loop(args, run, scorer, eval_task, flag, wall_offset=offset)
        if adv_cfg is None:
            res = ppo.train(task, ppo_cfg, net=net, reward_fn=reward_fn, callback=loop, ppo=learner, progress=True)
            policy, steps = res.policy, res.env_steps
            wall = offset + res.wall_s
        else:
            res = adversarial.fit(task, demos, adv_cfg, ppo_cfg, net=net, callback=loop, trainer=learner,
                                  progress=True)
            policy, steps, wall = res.policy, res.env_steps, res.wall_s
        final = loop.final_eval(policy, steps)
        tensors, meta = learner.state()
        ppo.save_state(run.path / "state", tensors, {**meta, "wall_s": wall})
        save_policy(policy, run.path / "checkpoint", extra={"task": task.spec.name, "algo": args.algo,
                                                            "max_steps": task.spec.max_steps})
        if adv_cfg is not None and adv_cfg.method == "airl":
            adversarial.save_reward(learner.disc, run.path / "reward", task=task.spec.name)
        result = {"env_steps": steps, "wall_s": wall, "interrupted": flag.stop, "final_eval": final,
                  "first_target": loop.first_target, "best": loop.best, "evaluations": loop.evals}
        run.write_json("result.json", jsonable(result))
    _print_summary(args.algo, loop.evals, steps, wall, out, interrupted=flag.stop)


class _Loop:
    """The per-iteration callback: metrics lines, periodic evaluation, target and Ctrl-C stops."""

    def __init__(self, args: argparse.Namespace, run: Any, scorer: Any, eval_task: Any, flag: _StopFlag, *,
                 wall_offset: float = 0.0) -> None:
        self.args, self.run, self.scorer, self.eval_task, self.flag = args, run, scorer, eval_task, flag
        self.wall_offset = wall_offset  # a resumed PPO run's earlier training time
        self.evals: list[dict[str, Any]] = []
        self.first_target: dict[str, Any] | None = None
        self.last_eval_iter = -1
        self.best: dict[str, Any] | None = None

    def __call__(self, rec: Any, policy: Any) -> bool:
        d = dataclasses.asdict(rec)
        extra = d.pop("extra")
        self.run.log(rec.env_steps, {**scalars(d), **scalars(extra)}, prefix="train/")
        if self.args.eval_episodes and self.args.eval_every and rec.iteration % self.args.eval_every == 0:
            self._evaluate(policy, rec.env_steps, self.wall_offset + rec.wall_s, rec.iteration)
            if self.first_target is not None and self.args.target_score is not None:
                return True
        return self.flag.stop

    def _evaluate(self, policy: Any, steps: int, wall: float, iteration: int) -> dict[str, Any]:

        was_training = policy.training
        policy.eval()
        if self.scorer is not None:
            res = self.scorer(policy)
        else:
            res = evaluate(self.eval_task, policy, episodes=self.args.eval_episodes)
        policy.train(was_training)
        row = {"iteration": iteration, "env_steps": steps, "train_wall_s": wall, **res.as_dict()}
        self.evals.append(row)
        self.last_eval_iter = iteration
        self._keep_best(policy, res, row)
        self.run.log(steps, scalars(res.as_dict()), prefix="eval/")
        score = res.normalized_score
        if (self.args.target_score is not None and self.first_target is None and score is not None
                and score >= self.args.target_score):
            self.first_target = row
        return row

    def _keep_best(self, policy: Any, res: Any, row: dict[str, Any]) -> None:
        """Adversarial training can dip after reaching expert level: keep the best-evaluated policy
        too (``best/``; by expert-normalized score, else return)."""

        value = res.normalized_score if res.normalized_score is not None else res.return_mean
        if value is None or (self.best is not None and value <= self.best["value"]):
            return
        self.best = {"value": float(value), "env_steps": row["env_steps"], "iteration": row["iteration"]}
        save_policy(policy, self.run.path / "best", extra={"task": self.eval_task.spec.name, "algo": self.args.algo,
                                                           "env_steps": row["env_steps"]})

    def final_eval(self, policy: Any, steps: int) -> dict[str, Any] | None:
        if not self.args.eval_episodes:
            return None
        if self.evals and self.evals[-1]["env_steps"] == steps:
            return self.evals[-1]
        wall = self.evals[-1]["train_wall_s"] if self.evals else 0.0
        return self._evaluate(policy, steps, wall, -1)


def _print_summary(algo: str, evals: list[dict[str, Any]], steps: int, wall: float, out: Path, *,
                   interrupted: bool) -> None:
    if evals:
        rows = [[e["env_steps"], e["train_wall_s"], e["return_mean"], e.get("normalized_score"),
                 e.get("success_rate")] for e in evals[-8:]]
        print_table(rows, ["env steps", "train s", "return", "score", "success"])
    how = "interrupted" if interrupted else "done"
    print(f"{algo} {how}: {steps} env steps, {wall:.1f} s training; run saved to {out} "
          f"(continue with --resume {out})")
