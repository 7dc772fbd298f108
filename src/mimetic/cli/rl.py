"""``mimetic train ppo | gail | airl`` from the command line.

A run directory holds config.json, metrics.jsonl (one line per PPO iteration, plus evaluations),
TensorBoard events, ``checkpoint/`` (the final policy, for ``mimetic eval``), ``best/`` (the
best-evaluated one), ``state/`` (everything
``--resume`` needs to continue) and result.json; AIRL adds ``reward/`` (the learned reward g(s),
usable by ``mimetic train ppo --reward``). Ctrl-C stops at the end of the current iteration and
saves a checkpoint and exits with code 130. The full training state is checkpointed every
``--checkpoint-every`` seconds, so a killed run resumes (``--resume RUN``) from its last one; on
the built-in tasks even the running episodes are saved, and the resumed run is bitwise the
uninterrupted one.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from mimetic.algos import adversarial, ppo
from mimetic.algos.adversarial import AdversarialConfig, learned_reward, load_reward
from mimetic.algos.ppo import PPO_NET, PPOConfig
from mimetic.cli.common import (
    add_clip_actions_arg,
    check_positive,
    dataset_task,
    jsonable,
    print_table,
    scalars,
    task_and_expert,
)
from mimetic.cli.options import add_config_args, config_from_args
from mimetic.cli.resume import Interrupted, StopFlag, add_checkpoint_args, resume_target, resumed_args, run_args
from mimetic.data import load_minari
from mimetic.errors import CheckpointError, ConfigError
from mimetic.policies import read_checkpoint_meta, save_policy
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
        add_clip_actions_arg(p)
        add_checkpoint_args(p, unit="iteration", resume_help=(
            "continue an unfinished (interrupted or killed) or finished run from its last checkpoint, in place "
            "(or copied to --out first), with its options; raise --total-steps to train further"))
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


def _inputs(args: argparse.Namespace) -> tuple[str, Any, Any, str | None]:
    """(task name, demonstrations or None, max_steps, data path) checked before any training."""

    if args.algo == "ppo":
        if args.task is None:
            raise ConfigError("train ppo needs --task (or --resume RUN)")
        return args.task, None, args.max_steps, None
    if args.data is None:
        raise ConfigError(f"train {args.algo} needs --data DATASET (or --resume RUN)")
    ds = load_minari(args.data)
    name = args.task or dataset_task(ds, None, args.data)
    max_steps = args.max_steps or ds.metadata.get("max_steps")
    return name, ds, max_steps, str(args.data)


def _reward_fn(args: argparse.Namespace, task_name: str) -> tuple[Any, str | None]:

    if args.algo != "ppo":  # for gail/airl, --reward is the discriminator's reward form
        return None, None
    path = args.reward
    if path is None:
        return None, None
    folder = Path(path) / "reward" if (Path(path) / "reward").is_dir() else Path(path)
    return learned_reward(load_reward(folder, expect_task=task_name)), str(folder)


# options a resumed run may take anew: a longer budget, and how (and against whom) it is evaluated
MAY_CHANGE = ("total_steps", "eval_every", "eval_episodes", "target_score", "expert")


def _configs(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    ppo_cfg = config_from_args(PPOConfig, args)
    adv_cfg = None if args.algo == "ppo" else dataclasses.replace(config_from_args(AdversarialConfig, args),
                                                                  method=args.algo)
    return ppo_cfg, adv_cfg, config_from_args(MLPConfig, args)


def train(args: argparse.Namespace) -> None:

    resume = args.resume is not None
    if resume:
        args, _ = resumed_args(args, command=f"train {args.algo}", may_change=MAY_CHANGE)
    ppo_cfg, adv_cfg, net = _configs(args)
    check_positive(num_envs=args.num_envs)
    if args.eval_every < 0 or args.eval_episodes < 0:
        raise ConfigError("--eval-every and --eval-episodes must be >= 0")
    name, demos, max_steps, data = _inputs(args)
    task, expert = task_and_expert(name, expert_arg=args.expert, num_envs=args.num_envs, max_steps=max_steps,
                                    need_expert=False)
    if demos is not None:
        demos.validate(task.spec, clip_actions=args.clip_actions)
    reward_fn, reward_path = _reward_fn(args, task.spec.name)
    if args.target_score is not None and (expert is None or args.eval_episodes == 0):
        raise ConfigError("--target-score needs an expert (built in or --expert) and --eval-episodes > 0")
    if resume:
        out = resume_target(args)
    else:
        out = Path(args.out) if args.out else default_run_dir(args.algo, task.spec.name)
        check_new_run_dir(out)
    learner: Any
    if adv_cfg is None:
        learner = ppo.PPO(task, ppo_cfg, net)
    else:
        learner = adversarial.AdversarialTrainer(task, demos, adv_cfg, ppo_cfg, net)
    eval_task, _ = task_and_expert(name, expert_arg=args.expert, num_envs=min(args.eval_episodes, 50) or 1,
                                    max_steps=max_steps, need_expert=False)
    scorer = Scorer.make(eval_task, expert, episodes=args.eval_episodes) if expert is not None else None
    config = {"command": f"train {args.algo}", "task": task.spec.name, "max_steps": task.spec.max_steps,
              "data": data, "reward": reward_path, "ppo": ppo_cfg, "discriminator": adv_cfg, "net": net,
              "num_envs": args.num_envs, "args": run_args(args)}
    with RunDir(out, config=jsonable(config), tensorboard=not args.no_tensorboard, resume=resume,
                checkpoint_every=args.checkpoint_every) as run, StopFlag("after this iteration") as flag:
        loop = _Loop(args, run, scorer, eval_task, flag, learner=learner, task_name=task.spec.name)
        if run.state is not None:
            learner.load_state(*run.state)
            loop.restore(run.state[1].get("loop"))
        if resume:
            loop.keep_best_on_disk()
        elif adv_cfg is not None:
            learner.warm_start(progress=True)
        if adv_cfg is None:
            res = ppo.train(task, ppo_cfg, net=net, reward_fn=reward_fn, callback=loop, ppo=learner, progress=True)
            policy, steps = res.policy, res.env_steps
            wall = loop.wall_offset + res.wall_s
        else:
            res = adversarial.fit(task, demos, adv_cfg, ppo_cfg, net=net, callback=loop, trainer=learner,
                                  progress=True)
            policy, steps, wall = res.policy, res.env_steps, res.wall_s
        if flag.stop:  # Ctrl-C: the state was saved at the end of the iteration; the policy so far too
            _save_outputs(run, learner, policy, adv_cfg, args.algo, task)
            raise Interrupted(f"{args.algo} stopped at {steps} env steps; run saved to {out} (continue with "
                              f"--resume {out})")
        final = loop.final_eval(policy, steps)
        loop.save(wall)
        _save_outputs(run, learner, policy, adv_cfg, args.algo, task)
        if flag.stop:  # Ctrl-C during the final evaluation: saved with it; a resume writes the result
            raise Interrupted(f"{args.algo} stopped after its final evaluation; run saved to {out} (continue with "
                              f"--resume {out})")
        result = {"env_steps": steps, "wall_s": wall, "interrupted": False, "final_eval": final,
                  "first_target": loop.first_target, "best": loop.best, "evaluations": loop.evals}
        run.finish(jsonable(result))
    _print_summary(args.algo, loop.evals, steps, wall, out, interrupted=False)


def _save_outputs(run: RunDir, learner: Any, policy: Any, adv_cfg: Any, algo: str, task: Any) -> None:
    """The policy (``checkpoint/``) and, for AIRL, the learned reward (``reward/``), each swapped in whole."""
    extra = {"task": task.spec.name, "algo": algo, "max_steps": task.spec.max_steps}
    run.replace_dir("checkpoint", lambda d: save_policy(policy, d, extra=extra))
    if adv_cfg is not None and adv_cfg.method == "airl":
        run.replace_dir("reward", lambda d: adversarial.save_reward(learner.disc, d, task=task.spec.name))


class _Loop:
    """The per-iteration callback: metrics lines, periodic evaluation, checkpoints, target and
    Ctrl-C stops. Its own record (evaluations so far, the best one) travels in the checkpoint."""

    def __init__(self, args: argparse.Namespace, run: RunDir, scorer: Any, eval_task: Any, flag: StopFlag, *,
                 learner: Any, task_name: str) -> None:
        self.args, self.run, self.scorer, self.eval_task, self.flag = args, run, scorer, eval_task, flag
        self.learner, self.task_name = learner, task_name
        self.wall_offset = 0.0  # a resumed PPO run's earlier training time (GAIL/AIRL keep their own)
        self.evals: list[dict[str, Any]] = []
        self.first_target: dict[str, Any] | None = None
        self.last_eval_iter = -1
        self.best: dict[str, Any] | None = None

    def restore(self, saved: dict[str, Any] | None) -> None:
        if not isinstance(saved, dict):
            return
        try:
            self.evals = list(saved["evals"])
            self.first_target, self.best = saved["first_target"], saved["best"]
            self.last_eval_iter = int(saved["last_eval_iter"])
            self.wall_offset = float(saved["wall_offset"])
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"corrupt training state in {self.run.final}/state: {err}") from None

    def keep_best_on_disk(self) -> None:
        """A kill between an evaluation that replaced ``best/`` and the next checkpoint leaves a best
        newer than the checkpoint's record: keep it (it was found; a gym task's resumed run may not
        find it again), so the best never decreases across a resume."""
        try:
            extra = read_checkpoint_meta(self.run.final / "best")["extra"]
            best = {"value": float(extra["value"]), "env_steps": int(extra["env_steps"]),
                    "iteration": int(extra["iteration"])}
        except (CheckpointError, KeyError, TypeError, ValueError):
            return  # none, or one written before best/ recorded its value
        if self.best is None or best["env_steps"] > self.best["env_steps"]:
            self.best = best

    def save(self, wall: float) -> None:
        """Checkpoint the learner and this loop's record into ``state/``."""
        tensors, meta = self.learner.state()
        offset = 0.0 if hasattr(self.learner, "ppo") else wall  # PPO's own clock restarts with each process
        loop = {"evals": self.evals, "first_target": self.first_target, "best": self.best,
                "last_eval_iter": self.last_eval_iter, "wall_offset": offset}
        self.run.save_state(tensors, {**meta, "wall_s": wall, "loop": jsonable(loop)})

    def __call__(self, rec: Any, policy: Any) -> bool:
        d = dataclasses.asdict(rec)
        extra = d.pop("extra")
        self.run.log(rec.env_steps, {**scalars(d), **scalars(extra)}, prefix="train/")
        stop = False
        if self.args.eval_episodes and self.args.eval_every and rec.iteration % self.args.eval_every == 0:
            self._evaluate(policy, rec.env_steps, self._wall(rec), rec.iteration)
            stop = self.first_target is not None and self.args.target_score is not None
        if self.flag.stop or self.run.due():
            self.save(self._wall(rec))
        return stop or self.flag.stop

    def _wall(self, rec: Any) -> float:
        # PPO's record counts this process only; the adversarial trainer carries its total
        return rec.wall_s + (self.wall_offset if not hasattr(self.learner, "ppo") else 0.0)

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
        extra = {"task": self.eval_task.spec.name, "algo": self.args.algo, **self.best}
        self.run.replace_dir("best", lambda d: save_policy(policy, d, extra=extra))

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
