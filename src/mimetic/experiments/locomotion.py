"""``mimetic benchmark locomotion``: BC, DAgger, GAIL and AIRL on the MuJoCo locomotion tasks from
the shipped experts' demonstrations, scored as the ``imitation`` library's benchmark table is.

Protocol (per task and training seed; every number is an option):

1. **reference**: the shipped expert and a uniform-random policy on the ``eval_episodes``
   evaluation starts (reset seeds from 10 000); a return ``r`` scores
   ``(r - random) / (expert - random)``: 0 random, 1 expert;
2. **demonstrations**: ``demos`` full expert episodes (deterministic expert, reset seeds from
   ``seeding.EPISODES(seed, seeding.DEMO_OFFSET)``), the same for every algorithm of that seed;
3. **BC**: an MLP (``hidden``, tanh, gaussian head fit by likelihood) trained ``bc_steps`` steps;
4. **DAgger**: the same BC fit, then ``dagger_rounds`` rounds in which the learner drives
   ``dagger_episodes`` episodes, the expert labels every state it visits, and the policy is
   refit (``dagger_fit_steps`` steps, warm) on demonstrations plus all labels;
5. **GAIL / AIRL**: ``adv_steps`` environment steps of PPO with the physics preset
   (:data:`mimetic.algos.experts.PHYSICS_PPO`, 8 envs) against a discriminator of demonstrated vs
   generated transitions, evaluated every ``eval_every`` steps (10 episodes, a learning curve);
6. **evaluation**: the final policy, deterministic, ``eval_episodes`` episodes.

Aggregates follow rliable (Agarwal et al. 2021): per algorithm, the mean and the interquartile
mean (IQM: the mean of the middle 50% of all task x seed scores) with 95% stratified bootstrap
intervals (seeds resampled with replacement within each task, ``bootstrap`` times; percentile
interval). The published v1.0 numbers of the ``imitation`` library are printed beside ours: they
come from different experts (seals tasks, its own PPO/SAC experts) and 10 seeds.

Outputs (written as a whole or not at all): ``locomotion.json``, ``locomotion.md``,
``locomotion.png``; every finished cell is kept while it runs (``--resume``).
"""

from __future__ import annotations

import dataclasses
import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from mimetic import seeding
from mimetic.algos import adversarial, bc
from mimetic.algos.experts import PHYSICS_ENVS, PHYSICS_PPO
from mimetic.algos.ppo import IterationRecord
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.envs.mujoco import TASKS as LOCOMOTION
from mimetic.errors import ConfigError
from mimetic.experiments.cells import Cells, split_names
from mimetic.interactive import dagger
from mimetic.policies import MLPConfig, MLPPolicy
from mimetic.rollout import Scorer, collect, reference_results
from mimetic.runs import json_line, write_files_atomic

ALGOS = ("bc", "dagger", "gail", "airl")
NAMES = {"bc": "BC", "dagger": "DAgger", "gail": "GAIL", "airl": "AIRL"}
FILES = ("locomotion.json", "locomotion.md", "locomotion.png")
EVAL_SEED = seeding.EVAL_SEED

# imitation v1.0 benchmark (its docs' results table): expert-normalised score, 10 seeds, seals tasks
PUBLISHED = {
    "halfcheetah": {"bc": 0.923, "dagger": 1.017, "gail": 0.963, "airl": 0.627},
    "hopper": {"bc": 1.003, "dagger": 1.011, "gail": 0.935, "airl": 0.921},
}
PUBLISHED_AGGREGATE = {"bc": (0.932, 0.941), "dagger": (0.995, 1.004), "gail": (0.939, 0.957),
                       "airl": (0.792, 0.918)}  # (mean, IQM) over its five seals MuJoCo tasks
PUBLISHED_STEPS = 10_000_000  # its GAIL/AIRL configs' environment steps


@dataclass(frozen=True)
class LocomotionConfig:
    """Options of the locomotion benchmark (BC, DAgger, GAIL, AIRL on MuJoCo tasks)."""

    tasks: tuple[str, ...] = ("halfcheetah", "hopper")
    """Tasks (each needs a shipped expert; see 'mimetic expert list'), space- or comma-separated."""

    algos: tuple[str, ...] = ALGOS
    """Algorithms: bc, dagger, gail, airl (space- or comma-separated)."""

    seeds: int = 3
    """Number of training seeds (first_seed .. first_seed + seeds - 1); each seeds the demonstrations,
    networks and rollouts."""

    first_seed: int = 0
    """The first training seed: split one table's seeds over several jobs or machines (the
    benchmarks/bench_locomotion.py report merges their locomotion.json files)."""

    demos: int = 10
    """Expert demonstration episodes (full 1000-step episodes for a healthy expert) per task and seed."""

    eval_episodes: int = 50
    """Evaluation episodes of the final policies, the expert and the random policy, from reset seed 10000."""

    bc_steps: int = 20_000
    """BC (and DAgger's initial fit): gradient steps on the demonstrations."""

    batch_size: int = 256
    """BC and DAgger: minibatch size."""

    hidden: tuple[int, ...] = (256, 256)
    """BC and DAgger: hidden layer widths of the policy MLP (tanh)."""

    dagger_rounds: int = 10
    """DAgger: rounds in which the learner drives and the expert labels every visited state."""

    dagger_episodes: int = 2
    """DAgger: episodes per round."""

    dagger_fit_steps: int = 2000
    """DAgger: gradient steps of the warm refit after each round."""

    adv_steps: int = 1_000_000
    """GAIL and AIRL: environment steps (a tenth of the imitation library's 10M)."""

    adv_bc_steps: int = 0
    """GAIL and AIRL: behavioral-cloning warm start, gradient steps on the demonstrations before
    adversarial training (0: none, as in the imitation library's table)."""

    adv_log_std: float = 0.0
    """GAIL and AIRL: initial log standard deviation of PPO's action noise (0: std 1, the physics
    preset; with a warm start a smaller noise, e.g. -1, keeps the BC policy on its feet)."""

    adv_disc_lr: float = adversarial.DEFAULT_ADVERSARIAL.disc_lr
    """GAIL and AIRL: discriminator Adam learning rate."""

    adv_disc_steps: int = adversarial.DEFAULT_ADVERSARIAL.disc_steps
    """GAIL and AIRL: discriminator updates per PPO iteration."""

    adv_grad_penalty: float = adversarial.DEFAULT_ADVERSARIAL.grad_penalty
    """GAIL and AIRL: weight of the discriminator's gradient penalty (0: off)."""

    gail_reward: Literal["positive", "logit", "negative"] = adversarial.DEFAULT_ADVERSARIAL.reward
    """GAIL: generator reward from the discriminator logit l: positive = -log(1 - D), logit = l,
    negative = log D."""

    airl_reward: Literal["shaped", "logit", "positive", "negative"] = "shaped"
    """AIRL: generator reward: shaped = the learned f(s, a, s') (the imitation library's choice;
    it scored 1.06 on halfcheetah where logit = f - log pi scored 0.43), or a form of the logit."""

    eval_every: int = 200_000
    """GAIL and AIRL: environment steps between learning-curve evaluations (10 episodes; 0: none)."""

    bootstrap: int = 2000
    """Bootstrap resamples of the 95 percent intervals of the mean and IQM."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", split_names(self.tasks))
        object.__setattr__(self, "algos", split_names(self.algos))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        bad = [t for t in self.tasks if t not in LOCOMOTION]
        if not self.tasks or bad or len(set(self.tasks)) != len(self.tasks):
            raise ConfigError(f"tasks must be distinct names among {', '.join(LOCOMOTION)}, got {self.tasks}")
        bad = [a for a in self.algos if a not in ALGOS]
        if not self.algos or bad or len(set(self.algos)) != len(self.algos):
            raise ConfigError(f"algos must be distinct names among {', '.join(ALGOS)}, got {self.algos}")
        for name in ("seeds", "demos", "eval_episodes", "bc_steps", "batch_size", "dagger_rounds",
                     "dagger_episodes", "dagger_fit_steps", "adv_steps", "bootstrap"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.adv_bc_steps < 0:
            raise ConfigError(f"adv_bc_steps must be >= 0 (0: no warm start), got {self.adv_bc_steps}")
        try:
            self.discriminator("airl")
            self.discriminator("gail")
        except ConfigError as e:
            raise ConfigError(f"adv_*: {e}") from None
        if self.first_seed < 0:
            raise ConfigError(f"first_seed must be >= 0, got {self.first_seed}")
        if self.eval_every < 0:
            raise ConfigError(f"eval_every must be >= 0 (0: no learning curve), got {self.eval_every}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden layer widths must be >= 1, got {self.hidden}")

    @property
    def net(self) -> MLPConfig:
        return MLPConfig(hidden=self.hidden, activation="tanh")

    def discriminator(self, method: str = "gail") -> adversarial.AdversarialConfig:
        """The GAIL or AIRL settings of a run: the adv_* options and that method's reward, the rest
        at their defaults."""
        return adversarial.AdversarialConfig(method=method, bc_steps=self.adv_bc_steps, disc_lr=self.adv_disc_lr,
                                             disc_steps=self.adv_disc_steps, grad_penalty=self.adv_grad_penalty,
                                             reward=self.airl_reward if method == "airl" else self.gail_reward)


@dataclass(frozen=True)
class Reference:
    """The expert and a uniform-random policy on a task's evaluation starts."""

    task: str
    expert_return: float
    expert_return_std: float
    random_return: float


@dataclass(frozen=True)
class CurvePoint:
    env_steps: int
    score: float


@dataclass(frozen=True)
class LocomotionCell:
    """One task, algorithm and seed: the final policy's evaluation and what training cost."""

    task: str
    algo: str
    seed: int
    score: float  # expert-normalised (0 random, 1 expert)
    return_mean: float
    return_std: float
    length_mean: float
    demo_transitions: int
    expert_labels: int  # every expert label: demonstrations plus DAgger's
    env_steps: int  # environment steps of training (BC: 0; DAgger: its rollouts)
    train_s: float  # training only (evaluations excluded)
    wall_s: float  # the whole cell, evaluations included
    curve: tuple[CurvePoint, ...]  # GAIL/AIRL learning curve (10-episode evaluations)


@dataclass(frozen=True)
class Aggregate:
    """One algorithm over every task and seed (and per task)."""

    algo: str
    per_task: dict[str, float]  # mean score over seeds
    per_task_sd: dict[str, float]
    mean: float
    mean_ci: tuple[float, float]
    iqm: float
    iqm_ci: tuple[float, float]
    env_steps: float  # mean per run
    train_s: float  # mean per run


@dataclass(frozen=True)
class LocomotionResult:
    config: LocomotionConfig
    references: tuple[Reference, ...]
    cells: tuple[LocomotionCell, ...]
    aggregates: tuple[Aggregate, ...]
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"experiment": "locomotion", "config": asdict(self.config),
                "references": [asdict(r) for r in self.references],
                "aggregates": [asdict(a) for a in self.aggregates], "cells": [asdict(c) for c in self.cells],
                "published": {"per_task": PUBLISHED, "aggregate_mean_iqm": PUBLISHED_AGGREGATE,
                              "adv_env_steps": PUBLISHED_STEPS}, "wall_s": self.wall_s}


def run_locomotion(config: LocomotionConfig, *, out_dir: Path | None = None, progress: bool = False,
                   cells: Cells | None = None) -> LocomotionResult:
    """Every task x algorithm x seed, then the aggregates; with ``out_dir``, the three files."""
    for task in config.tasks:
        make_expert(task)  # a missing extra or expert fails here, in one line, before any work
    if cells is None:
        cells = Cells.start(out_dir, header={"experiment": "locomotion", "config": asdict(config)})
    start = time.perf_counter()
    refs = {t: cells(f"reference-{t}", lambda t=t: reference(config, t), kind=Reference) for t in config.tasks}
    results: list[LocomotionCell] = []
    seeds = range(config.first_seed, config.first_seed + config.seeds)
    jobs = [(t, s, a) for t in config.tasks for s in seeds for a in config.algos]
    demos: dict[tuple[str, int], Dataset] = {}
    with tqdm(jobs, desc="locomotion", unit="run", disable=not progress) as bar:
        for task, seed, algo in bar:
            bar.set_postfix(task=task, seed=seed, algo=algo, refresh=False)

            def run(task: str = task, seed: int = seed, algo: str = algo) -> LocomotionCell:
                if (task, seed) not in demos:
                    demos[task, seed] = demonstrations(config, task, seed)
                return run_cell(config, task, algo, seed, demos[task, seed], refs[task], progress=progress)

            results.append(cells(f"{task}-{algo}-seed{seed}", run, kind=LocomotionCell))
    aggregates = tuple(aggregate(config, [c for c in results if c.algo == a]) for a in config.algos)
    result = LocomotionResult(config=config, references=tuple(refs.values()), cells=tuple(results),
                              aggregates=aggregates, wall_s=time.perf_counter() - start)
    if out_dir is not None:
        write_outputs(result, Path(out_dir))
    return result


# ----------------------------------------------------------------------------- one run each


def reference(config: LocomotionConfig, task_name: str) -> Reference:
    task = make_task(task_name, num_envs=min(config.eval_episodes, 10))
    exp, rnd = reference_results(task, make_expert(task_name), episodes=config.eval_episodes, seed=EVAL_SEED)
    task.close()
    return Reference(task=task_name, expert_return=exp.return_mean, expert_return_std=exp.return_std,
                     random_return=rnd.return_mean)


def demonstrations(config: LocomotionConfig, task_name: str, seed: int) -> Dataset:
    task = make_task(task_name, num_envs=min(config.demos, 10))
    trajs = collect(task, make_expert(task_name), episodes=config.demos,
                    seed=seeding.EPISODES(seed, seeding.DEMO_OFFSET))
    task.close()
    return Dataset.from_trajectories(trajs, spec=task.spec)


def _scorer(config: LocomotionConfig, ref: Reference, episodes: int) -> Scorer:
    task = make_task(ref.task, num_envs=min(episodes, 10))
    return Scorer(task, episodes, ref.expert_return, ref.random_return, EVAL_SEED)


def run_cell(config: LocomotionConfig, task_name: str, algo: str, seed: int, demos: Dataset, ref: Reference,
             *, progress: bool = False) -> LocomotionCell:
    """Train ``algo`` on ``demos`` with seed ``seed``; evaluate the final policy."""
    start = time.perf_counter()
    curve: tuple[CurvePoint, ...] = ()
    labels, env_steps = demos.n_transitions, 0
    scorer = _scorer(config, ref, config.eval_episodes)
    if algo in ("bc", "dagger"):
        policy = MLPPolicy.for_spec(scorer.task.spec, config.net, seed=seed)
        fit = bc.fit(policy, demos, bc.BCConfig(steps=config.bc_steps, batch_size=config.batch_size, seed=seed))
        train_s = fit.wall_s
        if algo == "dagger":
            extra, env_steps, dagger_s = _dagger(config, task_name, policy, demos, seed, progress=progress)
            labels += extra
            train_s += dagger_s
    else:
        policy, curve, env_steps, train_s = _adversarial(config, task_name, algo, demos, seed, ref,
                                                         progress=progress)
    res = scorer(policy)
    scorer.task.close()
    return LocomotionCell(task=task_name, algo=algo, seed=seed, score=float(res.normalized_score),
                          return_mean=res.return_mean, return_std=res.return_std, length_mean=res.length_mean,
                          demo_transitions=demos.n_transitions, expert_labels=labels, env_steps=env_steps,
                          train_s=train_s, wall_s=time.perf_counter() - start, curve=curve)


def _dagger(config: LocomotionConfig, task_name: str, policy: MLPPolicy, demos: Dataset, seed: int,
            *, progress: bool) -> tuple[int, int, float]:
    """DAgger rounds after the BC fit: the learner always drives (beta = 0), the expert labels."""
    task = make_task(task_name, num_envs=config.dagger_episodes)
    data = Dataset.empty(task.spec)
    data.extend(demos)
    cfg = dagger.DAggerConfig(rounds=config.dagger_rounds, episodes_per_round=config.dagger_episodes,
                              beta_schedule="constant", beta0=0.0, eval_episodes=0, seed=seed)
    fit_cfg = bc.BCConfig(steps=config.dagger_fit_steps, batch_size=config.batch_size, seed=seed)
    out = dagger.fit(task, make_expert(task_name), policy, cfg, bc_config=fit_cfg, dataset=data, progress=progress)
    task.close()
    # the learner drives every step and the expert labels each state it visits once: labels = env steps
    return out.labels, out.labels, out.wall_s


def _adversarial(config: LocomotionConfig, task_name: str, algo: str, demos: Dataset, seed: int,
                 ref: Reference, *, progress: bool = False) -> tuple[Any, tuple[CurvePoint, ...], int, float]:
    curve: list[CurvePoint] = []
    scorer = _scorer(config, ref, 10) if config.eval_every else None
    next_eval = config.eval_every

    def evaluate(rec: IterationRecord, policy: MLPPolicy) -> bool:
        nonlocal next_eval
        if scorer is not None and rec.env_steps >= next_eval:
            next_eval += config.eval_every
            curve.append(CurvePoint(env_steps=rec.env_steps, score=float(scorer(policy).normalized_score)))
        return False

    task = make_task(task_name, num_envs=PHYSICS_ENVS)
    ppo_cfg = dataclasses.replace(PHYSICS_PPO, total_steps=config.adv_steps, seed=seed,
                                  init_log_std=config.adv_log_std)
    adv_cfg = config.discriminator(algo)
    out = adversarial.fit(task, demos, adv_cfg, ppo_cfg, callback=evaluate,
                          progress=progress)
    task.close()
    if scorer is not None:
        scorer.task.close()
    return out.policy, tuple(curve), out.env_steps, out.wall_s


# ----------------------------------------------------------------------------- aggregation


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% (rliable's, = scipy trim_mean(x, 0.25))."""
    from scipy.stats import trim_mean

    return float(trim_mean(np.asarray(scores, np.float64).ravel(), 0.25))


def stratified_bootstrap(by_task: list[np.ndarray], stat: Any, *, reps: int, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of ``stat`` over all runs, resampling each task's seeds with
    replacement (tasks stay fixed: rliable's stratified bootstrap)."""
    rng = np.random.default_rng(seed)
    values = np.empty(reps)
    for i in range(reps):
        values[i] = stat(np.concatenate([s[rng.integers(0, len(s), len(s))] for s in by_task]))
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def aggregate(config: LocomotionConfig, cells: list[LocomotionCell]) -> Aggregate:
    by_task = [np.array([c.score for c in cells if c.task == t]) for t in config.tasks]
    flat = np.concatenate(by_task)
    return Aggregate(
        algo=cells[0].algo,
        per_task={t: float(s.mean()) for t, s in zip(config.tasks, by_task)},
        per_task_sd={t: float(s.std()) for t, s in zip(config.tasks, by_task)},
        mean=float(flat.mean()), mean_ci=stratified_bootstrap(by_task, np.mean, reps=config.bootstrap),
        iqm=iqm(flat), iqm_ci=stratified_bootstrap(by_task, iqm, reps=config.bootstrap),
        env_steps=float(np.mean([c.env_steps for c in cells])), train_s=float(np.mean([c.train_s for c in cells])))


# ----------------------------------------------------------------------------- outputs


def _disc_text(c: LocomotionConfig) -> str:
    """The discriminator settings that differ from the defaults, for the table's protocol line."""
    d = adversarial.DEFAULT_ADVERSARIAL
    parts = [f"{label} {new:g}" for label, new, old in (("discriminator lr", c.adv_disc_lr, d.disc_lr),
                                                        ("discriminator steps", c.adv_disc_steps, d.disc_steps),
                                                        ("gradient penalty", c.adv_grad_penalty, d.grad_penalty))
             if new != old]
    if c.gail_reward != d.reward and "gail" in c.algos:
        parts.append(f"GAIL {c.gail_reward} reward")
    if "airl" in c.algos:
        shaped = c.airl_reward == "shaped"
        parts.append("AIRL reward f(s, a, s') (shaped)" if shaped else f"AIRL {c.airl_reward} reward")
    return "".join(", " + p for p in parts)


def markdown(result: LocomotionResult) -> str:
    c = result.config
    refs = "; ".join(f"{r.task}: expert {r.expert_return:.0f} ± {r.expert_return_std:.0f}, random "
                     f"{r.random_return:.0f}" for r in result.references)
    lines = [f"# Locomotion benchmark: {', '.join(NAMES[a] for a in c.algos)}", "",
             (f"Tasks {', '.join(c.tasks)}; seeds {c.first_seed}-{c.first_seed + c.seeds - 1}; {c.demos} expert "
              "demonstration episodes per "
              f"task and seed; {c.eval_episodes} deterministic evaluation episodes from reset seed {EVAL_SEED}. "
              f"BC: MLP {list(c.hidden)} tanh, {c.bc_steps} steps. DAgger: that BC, then {c.dagger_rounds} rounds of "
              f"{c.dagger_episodes} learner episodes labelled by the expert, {c.dagger_fit_steps} refit steps each. "
              f"GAIL/AIRL: {c.adv_steps} env steps, PPO physics preset with {PHYSICS_ENVS} envs"
              + (f", warm-started by {c.adv_bc_steps} BC steps" if c.adv_bc_steps else "")
              + (f", initial action log-std {c.adv_log_std:g}" if c.adv_log_std != 0 else "") + _disc_text(c)
              + ". References "
              f"(same starts): {refs}. Wall time {result.wall_s:.0f} s."), "",
             "Expert-normalised score (0 random, 1 expert): per task mean ± sd over seeds; mean and IQM over all "
             "runs with 95% stratified-bootstrap intervals; the imitation library's published v1.0 numbers "
             f"(different experts, seals tasks, 10 seeds, {PUBLISHED_STEPS // 1_000_000}M steps for GAIL/AIRL) "
             "in brackets.", "",
             "| algorithm | " + " | ".join(c.tasks) + " | mean [95% CI] | IQM [95% CI] | env steps / run | "
             "train s / run |", "|---|" + "---:|" * (len(c.tasks) + 4)]
    for a in result.aggregates:
        pub = PUBLISHED_AGGREGATE.get(a.algo)
        tasks = [f"{a.per_task[t]:.3f} ± {a.per_task_sd[t]:.3f}"
                 + (f" [{PUBLISHED[t][a.algo]:.3f}]" if t in PUBLISHED else "") for t in c.tasks]
        lines.append(f"| {NAMES[a.algo]} | " + " | ".join(tasks)
                     + f" | {a.mean:.3f} [{a.mean_ci[0]:.3f}, {a.mean_ci[1]:.3f}]"
                     + (f" [{pub[0]:.3f}]" if pub else "")
                     + f" | {a.iqm:.3f} [{a.iqm_ci[0]:.3f}, {a.iqm_ci[1]:.3f}]" + (f" [{pub[1]:.3f}]" if pub else "")
                     + f" | {a.env_steps:.0f} | {a.train_s:.0f} |")
    lines += ["", "Every run:", "", "| task | algorithm | seed | score | return | expert labels | env steps | "
              "train s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for x in result.cells:
        lines.append(f"| {x.task} | {NAMES[x.algo]} | {x.seed} | {x.score:.3f} | {x.return_mean:.1f} ± "
                     f"{x.return_std:.1f} | {x.expert_labels} | {x.env_steps} | {x.train_s:.0f} |")
    lines.append("")
    return "\n".join(lines)


COLOURS = {"bc": "black", "dagger": "tab:green", "gail": "tab:blue", "airl": "tab:orange"}


def plot_png(result: LocomotionResult) -> bytes:
    """Left: per task and algorithm, each seed's score (dots), the mean (bar) and the published
    number (x). Right: the mean and IQM with their 95% intervals, per algorithm."""
    from matplotlib.figure import Figure

    c = result.config
    fig = Figure(figsize=(11, 4.5), dpi=120)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [max(len(c.tasks), 1) * 1.2, 1.2]})
    width = 0.8 / len(c.algos)
    for j, a in enumerate(c.algos):
        agg = next(x for x in result.aggregates if x.algo == a)
        xs = np.arange(len(c.tasks)) + (j - (len(c.algos) - 1) / 2) * width
        ax.bar(xs, [agg.per_task[t] for t in c.tasks], width * 0.9, color=COLOURS[a], alpha=0.35, label=NAMES[a])
        for x, t in zip(xs, c.tasks):
            pts = [cell.score for cell in result.cells if cell.algo == a and cell.task == t]
            ax.plot([x] * len(pts), pts, ".", color=COLOURS[a], ms=6)
            if t in PUBLISHED:
                ax.plot([x], [PUBLISHED[t][a]], "x", color="red", ms=7)
    ax.plot([], [], "x", color="red", label="imitation v1.0 (published)")
    ax.axhline(1.0, color="grey", lw=1)
    ax.set_xticks(np.arange(len(c.tasks)), labels=list(c.tasks))
    ax.set_ylabel("expert-normalised score (0 random, 1 expert)")
    ax.set_title(f"per task: bars = mean, dots = seeds ({c.seeds})", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    for j, a in enumerate(c.algos):
        agg = next(x for x in result.aggregates if x.algo == a)
        for k, (v, ci, marker) in enumerate(((agg.mean, agg.mean_ci, "o"), (agg.iqm, agg.iqm_ci, "s"))):
            y = j + (k - 0.5) * 0.3
            ax2.errorbar([v], [y], xerr=[[v - ci[0]], [ci[1] - v]], fmt=marker, color=COLOURS[a], capsize=3)
            if a in PUBLISHED_AGGREGATE:
                ax2.plot([PUBLISHED_AGGREGATE[a][k]], [y], "x", color="red", ms=7)
    low = min([x.score for x in result.cells] + [v[0] for v in PUBLISHED_AGGREGATE.values()])
    ax2.set_xlim(max(low - 0.05, -0.5), 1.1)
    ax2.set_yticks(range(len(c.algos)), labels=[NAMES[a] for a in c.algos])
    ax2.axvline(1.0, color="grey", lw=1)
    ax2.set_xlabel("score: mean (o) and IQM (s), 95% CI; x: imitation v1.0")
    ax2.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_outputs(result: LocomotionResult, out_dir: Path) -> None:
    payload = {
        "locomotion.json": (json_line(result.as_dict(), indent=2) + "\n").encode(),
        "locomotion.md": markdown(result).encode(),
        "locomotion.png": plot_png(result),
    }
    write_files_atomic(out_dir, payload, replace=True)
