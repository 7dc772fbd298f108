"""``mimetic experiment demos``: how many expert demonstrations BC and GAIL need.

The hypothesis (Ho & Ermon 2016, "Generative Adversarial Imitation Learning", Fig. 1): GAIL
reaches the expert with fewer demonstrations than behavioral cloning, because it also learns from
its own interaction with the environment (it matches the expert's state-action occupancy on the
states it visits), while BC sees nothing but the demonstrated states. For each training seed, on
one task (pendulum or driving):

1. **demonstrations**: the expert drives ``max(episodes)`` episodes (reset seeds
   ``seeding.EPISODES(seed, seeding.DEMO_OFFSET + k)``, away from PPO's own and from evaluation's); every method
   gets the first n of them for every n in ``episodes`` (nested sets);
2. **BC**: an MLP fit from scratch, ``bc_steps`` gradient steps, on the n episodes;
3. **GAIL** (``algos.adversarial``, PPO generator): ``gail_steps`` environment steps in
   ``num_envs`` parallel envs on the same n episodes; the policy is evaluated every ``eval_every``
   steps (its learning curve, and the env steps at which it first reached the expert level) and
   at the end. ``gail-bc`` (optional) is GAIL warm-started with ``bc_steps`` BC steps;
4. **evaluation**: ``eval_episodes`` episodes from reset seed 10 000 (``rollout.Scorer``): return,
   expert-normalized score (0 random, 1 expert, same starts), cost, success rate. The headline is
   the final policy's score on pendulum and its cost per episode on driving (where a crash-heavy
   random policy makes every non-crashing policy score about 1).

"Expert level": score >= ``target`` on pendulum; cost <= ``cost_target`` x the expert's on driving.

Outputs (``out_dir``, written as a whole or not at all): ``demos.json``, ``demos.md``, ``demos.png``.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from mimetic import seeding
from mimetic.algos import adversarial, bc
from mimetic.algos.ppo import IterationRecord, PPOConfig
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.errors import ConfigError
from mimetic.experiments.cells import Cells
from mimetic.policies import MLPConfig, MLPPolicy
from mimetic.protocols import Policy
from mimetic.rollout import EvalResult, Scorer, collect, reference_results
from mimetic.runs import json_line, write_files_atomic
from mimetic.types import Trajectory

TASKS = ("pendulum", "driving")
# the metric each task is judged by (its TaskSpec.headline); a return is judged as the expert-normalized score
HEADLINE = {name: "cost" if make_task(name).spec.headline == "cost" else "score" for name in TASKS}
METHODS = ("bc", "gail", "gail-bc")
NAMES = {"bc": "BC", "gail": "GAIL", "gail-bc": "GAIL + BC warm start"}
FILES = ("demos.json", "demos.md", "demos.png")
EVAL_SEED = seeding.EVAL_SEED  # rollout.Scorer's default


@dataclass(frozen=True)
class DemosConfig:
    """Options of the demonstrations experiment (BC vs GAIL score vs number of expert episodes)."""

    task: Literal["pendulum", "driving"] = "pendulum"
    """Task; judged by expert-normalized score (pendulum) or cost per episode (driving)."""

    methods: tuple[str, ...] = METHODS
    """Methods to compare: bc, gail, gail-bc (GAIL warm-started with bc_steps of BC)."""

    episodes: tuple[int, ...] = (1, 2, 4, 8, 16)
    """Numbers of expert demonstration episodes, one policy per method each (nested sets)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    """Training seeds: each seeds the demonstrations, network initialisation, minibatches and rollouts."""

    max_steps: int | None = None
    """Episode length of demonstrations, training and evaluation (None: the task's own, pendulum 200,
    driving 400)."""

    gail_steps: int = 200_000
    """GAIL: environment steps of each run (with the defaults GAIL first reached expert level at 80-160k
    on pendulum and 60-100k on driving, with 1 to 16 episodes)."""

    num_envs: int = 16
    """GAIL: parallel environments of PPO (an iteration collects 64 steps in each)."""

    gamma: float = 0.95
    """GAIL: PPO's discount factor."""

    reward: Literal["positive", "logit", "negative"] = "logit"
    """GAIL: generator reward from the discriminator logit l (positive = -log(1 - D), logit = l,
    negative = log D)."""

    eval_every: int = 20_000
    """GAIL: evaluate the policy every this many env steps (learning curve, steps to expert level);
    0: only at the end."""

    bc_steps: int = 5000
    """BC: gradient steps of each fit from scratch (and of gail-bc's warm start)."""

    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths (tanh) of every policy: BC's MLP and GAIL's actor and critic."""

    batch_size: int = 256
    """BC: minibatch size."""

    eval_episodes: int = 32
    """Evaluation episodes of every policy, from reset seed 10000."""

    target: float = 0.95
    """Pendulum: expert-normalized score counted as expert level."""

    cost_target: float = 1.5
    """Driving: cost per episode counted as expert level, as a multiple of the expert's cost."""

    def __post_init__(self) -> None:
        # A CLI or JSON may hand in lists; keep the frozen config hashable and the sizes sorted.
        for name in ("methods", "episodes", "seeds", "hidden"):
            conv = str if name == "methods" else int
            object.__setattr__(self, name, tuple(conv(v) for v in getattr(self, name)))
        object.__setattr__(self, "episodes", tuple(sorted(self.episodes)))
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        unknown = [m for m in self.methods if m not in METHODS]
        if not self.methods or unknown or len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"methods must be distinct names among {', '.join(METHODS)}, got {self.methods}")
        if not self.episodes or len(set(self.episodes)) != len(self.episodes) or self.episodes[0] < 1:
            raise ConfigError(f"episodes must be one or more distinct values >= 1, got {self.episodes}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ConfigError(f"seeds must be one or more distinct values >= 0, got {self.seeds}")
        for name in ("gail_steps", "num_envs", "bc_steps", "batch_size", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1 (or unset), got {self.max_steps}")
        if self.eval_every < 0:
            raise ConfigError(f"eval_every must be >= 0 (0: only at the end), got {self.eval_every}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden layer widths must be >= 1, got {self.hidden}")
        if not 0 < self.target <= 1.5 or self.cost_target < 1:
            raise ConfigError(f"need 0 < target <= 1.5 and cost_target >= 1, got {self.target}, {self.cost_target}")
        self.ppo_config(seed=0)  # PPO's own checks (gamma), before any work

    def ppo_config(self, *, seed: int) -> PPOConfig:
        return PPOConfig(total_steps=self.gail_steps, gamma=self.gamma, seed=seed)

    @property
    def net(self) -> MLPConfig:
        return MLPConfig(hidden=self.hidden, activation="tanh")


@dataclass(frozen=True)
class Reference:
    """The expert and a uniform-random policy on the evaluation starts."""

    expert_return: float
    expert_cost: float
    expert_success: float | None
    random_return: float
    random_cost: float


@dataclass(frozen=True)
class CurvePoint:
    """GAIL's policy evaluated during training."""

    env_steps: int
    score: float
    cost: float
    success_rate: float | None


@dataclass(frozen=True)
class DemosCell:
    """One method, number of demonstration episodes and seed: the final policy's evaluation."""

    method: str
    episodes: int
    seed: int
    transitions: int  # demonstrated (state, action) pairs
    score: float  # expert-normalized return (0 random, 1 expert)
    return_mean: float
    cost_mean: float
    success_rate: float | None
    reached: bool  # the final policy is at expert level (see the module docstring)
    env_steps: int  # environment interaction of training (BC: 0)
    steps_to_target: int | None  # GAIL: env steps at the first evaluation at expert level
    train_s: float  # fit only (GAIL: collection, discriminator, PPO; evaluations excluded)
    wall_s: float  # evaluations included
    curve: tuple[CurvePoint, ...]  # GAIL's evaluations (the last one is the final policy's)


@dataclass(frozen=True)
class DemosSummary:
    """One method and number of episodes over seeds (``*_sd``: standard deviation over seeds)."""

    method: str
    episodes: int
    transitions: float
    score: float
    score_sd: float
    return_mean: float
    cost: float
    cost_sd: float
    success_rate: float | None
    reached: int  # seeds whose final policy is at expert level
    steps_to_target: float | None  # median over the seeds that got there during training
    train_s: float
    wall_s: float


@dataclass(frozen=True)
class DemosResult:
    config: DemosConfig
    reference: Reference
    cells: tuple[DemosCell, ...]
    summary: tuple[DemosSummary, ...]
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"experiment": "demos", "task": self.config.task, "headline": HEADLINE[self.config.task],
                "config": asdict(self.config), "reference": asdict(self.reference),
                "summary": [asdict(s) for s in self.summary], "cells": [asdict(c) for c in self.cells],
                "wall_s": self.wall_s}


def run_demos(config: DemosConfig, *, out_dir: Path | None = None, progress: bool = False,
               cells: Cells | None = None) -> DemosResult:
    """Train every method on every number of demonstration episodes and seed; evaluate; summarise.

    With ``out_dir`` (absent or an empty folder, checked before any work), write demos.json,
    demos.md and demos.png there, all or nothing.
    """
    if cells is None:  # a new folder (absent or empty, checked before any work); the CLI passes one to resume
        cells = Cells.start(out_dir, header={"experiment": "demos", "config": asdict(config)})
    start = time.perf_counter()
    scorer, reference = make_scorer(config)
    results: list[DemosCell] = []
    jobs = [(s, n, m) for s in config.seeds for n in config.episodes for m in config.methods]
    demos: dict[int, list[Trajectory]] = {}
    with tqdm(jobs, desc="demos", unit="fit", disable=not progress) as bar:
        for seed, n, method in bar:
            bar.set_postfix(seed=seed, episodes=n, method=method, refresh=False)
            def fit(seed: int = seed, n: int = n, method: str = method) -> DemosCell:
                if seed not in demos:
                    demos[seed] = demonstrations(config, seed)
                return run_cell(config, method, demos[seed][:n], seed, scorer, reference)

            results.append(cells(f"{method}-n{n}-seed{seed}", fit, kind=DemosCell))
    summary = tuple(_summarize([c for c in results if c.method == m and c.episodes == n])
                    for m in config.methods for n in config.episodes)
    result = DemosResult(config=config, reference=reference, cells=tuple(results), summary=summary,
                         wall_s=time.perf_counter() - start)
    if out_dir is not None:
        write_outputs(result, Path(out_dir))
    return result


# ----------------------------------------------------------------------------- one fit each


def make_scorer(config: DemosConfig) -> tuple[Scorer, Reference]:
    """The evaluator (expert and random references measured once) and those references."""
    task = make_task(config.task, num_envs=min(config.eval_episodes, 32), max_steps=config.max_steps)
    exp, rnd = reference_results(task, make_expert(config.task), episodes=config.eval_episodes, seed=EVAL_SEED)
    reference = Reference(expert_return=exp.return_mean, expert_cost=exp.cost_mean, expert_success=exp.success_rate,
                          random_return=rnd.return_mean, random_cost=rnd.cost_mean)
    return Scorer(task, config.eval_episodes, exp.return_mean, rnd.return_mean, EVAL_SEED), reference


def demonstrations(config: DemosConfig, seed: int) -> list[Trajectory]:
    """``max(episodes)`` expert episodes; every method trains on a prefix of them."""
    n = config.episodes[-1]
    task = make_task(config.task, num_envs=min(n, 16), max_steps=config.max_steps)
    return collect(task, make_expert(config.task), episodes=n, seed=seeding.EPISODES(seed, seeding.DEMO_OFFSET))


def at_expert_level(config: DemosConfig, res: EvalResult, reference: Reference) -> bool:
    if HEADLINE[config.task] == "cost":
        return res.cost_mean <= config.cost_target * reference.expert_cost
    return res.normalized_score is not None and res.normalized_score >= config.target


def run_cell(config: DemosConfig, method: str, demos: list[Trajectory], seed: int, scorer: Scorer,
             reference: Reference) -> DemosCell:
    """Train ``method`` on ``demos`` with training seed ``seed`` and evaluate the final policy."""
    start = time.perf_counter()
    spec = scorer.task.spec
    dataset = Dataset.from_trajectories(demos, spec=spec)
    if method == "bc":
        policy: Policy = MLPPolicy.for_spec(spec, config.net, seed=seed)
        fit = bc.fit(policy, dataset, bc.BCConfig(steps=config.bc_steps, batch_size=config.batch_size, seed=seed))
        curve: tuple[CurvePoint, ...] = ()
        env_steps, train_s = 0, fit.wall_s
    else:
        policy, curve, env_steps, train_s = _gail(config, method, dataset, seed, scorer)
    res = scorer(policy)
    final = CurvePoint(env_steps=env_steps, score=_nan(res.normalized_score), cost=res.cost_mean,
                       success_rate=res.success_rate)
    if method != "bc" and (not curve or curve[-1].env_steps != env_steps):
        curve = (*curve, final)
    hits = [p.env_steps for p in curve if _reached(config, p, reference)]
    return DemosCell(method=method, episodes=len(demos), seed=seed, transitions=sum(len(t) for t in demos),
                     score=final.score, return_mean=res.return_mean, cost_mean=res.cost_mean,
                     success_rate=res.success_rate, reached=at_expert_level(config, res, reference),
                     env_steps=env_steps, steps_to_target=hits[0] if hits else None, train_s=train_s,
                     wall_s=time.perf_counter() - start, curve=curve)


def _gail(config: DemosConfig, method: str, dataset: Dataset, seed: int,
          scorer: Scorer) -> tuple[Policy, tuple[CurvePoint, ...], int, float]:
    """GAIL (or GAIL after a BC warm start), evaluated every ``eval_every`` env steps."""
    curve: list[CurvePoint] = []
    next_eval = config.eval_every

    def evaluate(rec: IterationRecord, policy: MLPPolicy) -> bool:
        nonlocal next_eval
        if config.eval_every and rec.env_steps >= next_eval:
            next_eval += config.eval_every
            res = scorer(policy)  # deterministic (mean) actions; not part of GAIL's timed wall_s
            curve.append(CurvePoint(env_steps=rec.env_steps, score=_nan(res.normalized_score),
                                    cost=res.cost_mean, success_rate=res.success_rate))
        return False

    adv = adversarial.AdversarialConfig(reward=config.reward, bc_steps=config.bc_steps if method == "gail-bc" else 0)
    task = make_task(config.task, num_envs=config.num_envs, max_steps=config.max_steps)
    out = adversarial.fit(task, dataset, adv, config.ppo_config(seed=seed), net=config.net, callback=evaluate)
    # The final iteration's evaluation (if any) is of the policy the fit returns: reuse it.
    return out.policy, tuple(curve), out.env_steps, out.wall_s


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def _reached(config: DemosConfig, p: CurvePoint, reference: Reference) -> bool:
    if HEADLINE[config.task] == "cost":
        return p.cost <= config.cost_target * reference.expert_cost
    return p.score >= config.target


# ----------------------------------------------------------------------------- aggregation


def _summarize(cells: list[DemosCell]) -> DemosSummary:
    score = np.array([c.score for c in cells])
    cost = np.array([c.cost_mean for c in cells])
    success = [c.success_rate for c in cells if c.success_rate is not None]
    hits = [c.steps_to_target for c in cells if c.steps_to_target is not None]
    return DemosSummary(
        method=cells[0].method, episodes=cells[0].episodes,
        transitions=float(np.mean([c.transitions for c in cells])),
        score=float(np.mean(score)), score_sd=float(np.std(score)),
        return_mean=float(np.mean([c.return_mean for c in cells])),
        cost=float(np.mean(cost)), cost_sd=float(np.std(cost)),
        success_rate=float(np.mean(success)) if success else None,
        reached=sum(c.reached for c in cells), steps_to_target=float(np.median(hits)) if hits else None,
        train_s=float(np.mean([c.train_s for c in cells])), wall_s=float(np.mean([c.wall_s for c in cells])))


def summary_of(result: DemosResult, method: str, episodes: int) -> DemosSummary:
    return next(s for s in result.summary if s.method == method and s.episodes == episodes)


# ----------------------------------------------------------------------------- outputs


def _headline(result: DemosResult, s: DemosSummary) -> str:
    if HEADLINE[result.config.task] == "cost":
        return f"{s.cost:.2f} ± {s.cost_sd:.2f}"
    return f"{s.score:.3f} ± {s.score_sd:.3f}"


def markdown(result: DemosResult) -> str:
    """The setup, the headline table (method columns) and the per-cell detail table (demos.md)."""
    c, ref = result.config, result.reference
    what = "cost per episode (lower is better)" if HEADLINE[c.task] == "cost" else "expert-normalized score"
    level = (f"cost <= {c.cost_target:g} x the expert's" if HEADLINE[c.task] == "cost"
             else f"score >= {c.target:g}")
    setup = (f"Task {c.task}; seeds {list(c.seeds)}; {c.eval_episodes} evaluation episodes from reset seed "
             f"{EVAL_SEED}; MLP {list(c.hidden)} tanh; BC {c.bc_steps} steps; GAIL {c.gail_steps} env steps "
             f"({c.num_envs} envs, gamma {c.gamma:g}, {c.reward} reward). Expert: return {ref.expert_return:.1f}, "
             f"cost {ref.expert_cost:.2f}; random: return {ref.random_return:.1f}, cost {ref.random_cost:.2f}. "
             f"Expert level: {level}. Wall time {result.wall_s:.0f} s.")
    lines = [f"# Demonstrations needed: {', '.join(NAMES[m] for m in c.methods)} ({c.task})", "", setup, "",
             f"Final policies, {what}, mean ± standard deviation over seeds (seeds at expert level):", "",
             "| demos | transitions | " + " | ".join(NAMES[m] for m in c.methods) + " |",
             "|---:|---:|" + "---:|" * len(c.methods)]
    for n in c.episodes:
        row = [summary_of(result, m, n) for m in c.methods]
        lines.append(f"| {n} | {row[0].transitions:.0f} | "
                     + " | ".join(f"{_headline(result, s)} ({s.reached}/{len(c.seeds)})" for s in row) + " |")
    lines += ["", ("Every method and number of demonstrations (means over seeds; steps to expert level: median "
              "over the seeds whose evaluations reached it during training):"), "",
              ("| method | demos | score | return | cost | success | at expert level | env steps | "
              "steps to expert level | train s |"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in result.summary:
        steps = "-" if s.steps_to_target is None else f"{s.steps_to_target:.0f}"
        success = "-" if s.success_rate is None else f"{s.success_rate:.2f}"
        env_steps = np.mean([x.env_steps for x in result.cells if x.method == s.method and x.episodes == s.episodes])
        cost = f"{s.cost:.2f} ± {s.cost_sd:.2f}" if HEADLINE[c.task] == "cost" else "-"  # pendulum has no cost
        lines.append(f"| {NAMES[s.method]} | {s.episodes} | {s.score:.3f} ± {s.score_sd:.3f} | {s.return_mean:.1f} "
                     f"| {cost} | {success} | {s.reached}/{len(c.seeds)} | {env_steps:.0f} "
                     f"| {steps} | {s.train_s:.1f} |")
    lines.append("")
    return "\n".join(lines)


COLOURS = {"bc": "black", "gail": "tab:blue", "gail-bc": "tab:orange"}


def plot_png(result: DemosResult) -> bytes:
    """Left: the headline vs demonstration episodes (log2 x; per-seed points, mean lines, expert
    level). Right: GAIL's learning curves, mean over seeds, one line per number of episodes."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    c, ref = result.config, result.reference
    cost = HEADLINE[c.task] == "cost"
    fig = Figure(figsize=(11, 4.5), dpi=120)
    ax, ax2 = fig.subplots(1, 2)
    offsets = dict(zip(c.methods, np.linspace(-0.08, 0.08, len(c.methods))))
    for m in c.methods:
        cells = [x for x in result.cells if x.method == m]
        ax.plot([x.episodes * 2 ** offsets[m] for x in cells], [x.cost_mean if cost else x.score for x in cells],
                ".", color=COLOURS[m], alpha=0.4, ms=6)
        means = [summary_of(result, m, n) for n in c.episodes]
        ax.plot(c.episodes, [s.cost if cost else s.score for s in means], "-o", color=COLOURS[m], lw=2, ms=4,
                label=NAMES[m])
    if cost:
        ax.axhline(ref.expert_cost, color="grey", ls="-", lw=1, label="expert")
        ax.axhline(c.cost_target * ref.expert_cost, color="grey", ls="--", lw=1, label=f"{c.cost_target:g} x expert")
        ax.set_yscale("log")
        ax.set_ylabel("cost per episode (log scale; lower is better)")
    else:
        ax.axhline(1.0, color="grey", ls="-", lw=1, label="expert")
        ax.axhline(c.target, color="grey", ls="--", lw=1, label=f"score {c.target:g}")
        low = min([x.score for x in result.cells if np.isfinite(x.score)], default=0.0)
        ax.set_ylim(max(low - 0.05, -1.0), 1.1)  # far-below-random scores are clipped
        ax.set_ylabel("expert-normalized score (0 random, 1 expert)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(c.episodes, labels=[str(n) for n in c.episodes])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("expert demonstration episodes (log scale)")
    ax.set_title(f"{c.task}: final policies (mean over {len(c.seeds)} seeds; dots: each seed)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    _plot_curves(ax2, result, cost)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _plot_curves(ax: Any, result: DemosResult, cost: bool) -> None:
    c = result.config
    gails = [m for m in c.methods if m != "bc"]
    colours = dict(zip(c.episodes, [f"C{i}" for i in range(len(c.episodes))]))
    for m in gails:
        for n in c.episodes:
            runs = [x.curve for x in result.cells if x.method == m and x.episodes == n]
            length = min(len(r) for r in runs)
            if length == 0:
                continue
            ys = np.array([[p.cost if cost else p.score for p in r[:length]] for r in runs])
            ax.plot([p.env_steps for p in runs[0][:length]], ys.mean(axis=0), "-" if m == "gail" else ":",
                    color=colours[n], lw=1.5, label=f"{NAMES[m]}, {n} demos")
    if cost:
        ax.axhline(result.reference.expert_cost, color="grey", lw=1)
        ax.set_yscale("log")
    else:
        ax.axhline(1.0, color="grey", lw=1)
        low = min([p.score for x in result.cells for p in x.curve if np.isfinite(p.score)], default=0.0)
        ax.set_ylim(max(low - 0.05, -1.0), 1.1)
    ax.set_xlabel("GAIL environment steps")
    ax.set_ylabel("cost per episode" if cost else "expert-normalized score")
    ax.set_title("GAIL during training (mean over seeds)", fontsize=9)
    ax.grid(True, alpha=0.3)
    if gails:
        ax.legend(fontsize=7)


def write_outputs(result: DemosResult, out_dir: Path) -> None:
    """demos.json, demos.md and demos.png, rendered first, then written all at once or not at all."""
    payload = {
        "demos.json": (json_line(result.as_dict(), indent=2) + "\n").encode(),
        "demos.md": markdown(result).encode(),
        "demos.png": plot_png(result),
    }
    write_files_atomic(out_dir, payload, replace=True)  # the work folder, cells and all

