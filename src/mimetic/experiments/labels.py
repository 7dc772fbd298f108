"""``mimetic experiment labels``: expert-normalized score vs expert labels spent, one curve per method.

Labels are what an interactive method costs a human, so this experiment puts every method on one
axis: how good is the policy after the expert has answered x questions? For each method and
training seed, on one task (cartpole, pendulum or driving):

1. **BC**: the expert demonstrates ``max(bc_episodes)`` episodes (one env, cut at the label
   budget); BC is trained from scratch on the first n of them for every n in ``bc_episodes``
   (nested sets; labels = transitions); one point each;
2. **interactive methods** (DAgger, HG-DAgger with a simulated human, ThriftyDAgger, SMILe,
   forward training, AggreVaTe), each run once with the same ``label_budget`` and at most
   ``max_rounds`` rounds; every round's policy is evaluated and gives one point (cumulative labels,
   score). HG-DAgger, ThriftyDAgger and forward training need fewer labels than the budget;
3. **evaluation**: ``eval_episodes`` episodes on the fixed reset seeds 10 000, 10 001, ...
   (``rollout.Scorer``, the interactive fits' own evaluator), score = (return - random) / (expert
   - random) on the same seeds; not counted as labels or training time;
4. **summary**: per method and seed, the labels spent when a round's score first reached
   ``target`` (or null) and the best score; the mean curve over seeds of "the score of the latest
   policy trained with at most x labels" (each seed's step function, held after its run ends).

Outputs (``out_dir``, written as a whole or not at all): ``labels.json``, ``labels.md``,
``labels.png``.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from mimetic import seeding
from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.envs.base import BatchedTask, TaskSpec
from mimetic.errors import ConfigError
from mimetic.experiments.cells import Cells
from mimetic.interactive import aggrevate, dagger, forward, smile
from mimetic.interactive.budget import LabelBudget
from mimetic.interactive.gates.common import RoundContext
from mimetic.interactive.loop import InteractiveResult
from mimetic.interactive.registry import METHODS as INTERACTIVE_METHODS
from mimetic.policies import MLPConfig, MLPPolicy
from mimetic.protocols import Expert, Gate
from mimetic.rollout import Scorer, collect
from mimetic.runs import json_line, write_files_atomic

TASKS = ("cartpole", "pendulum", "driving")
DEFAULT_METHODS = ("bc", "dagger", "hg-dagger", "thrifty-dagger", "smile", "forward", "aggrevate")
METHODS = ("bc", *INTERACTIVE_METHODS)  # BC and every interactive method of the registry (at import)


def method_names() -> tuple[str, ...]:
    """BC and every method in the registry now (a method registered later is included)."""
    return ("bc", *INTERACTIVE_METHODS)


def title(method: str) -> str:
    return "BC" if method == "bc" else INTERACTIVE_METHODS[method].title
FILES = ("labels.json", "labels.md", "labels.png")
EVAL_SEED = seeding.EVAL_SEED  # rollout.Scorer's default, which the interactive fits use


@dataclass(frozen=True)
class LabelsConfig:
    """Options of the labels experiment (expert-normalized score vs expert labels, one curve per method)."""

    task: Literal["cartpole", "pendulum", "driving"] = "pendulum"
    """Task (its own horizon: cartpole 500, pendulum 200, driving 400 steps)."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    """Methods to compare: bc and any interactive method (dagger, hg-dagger, thrifty-dagger,
    ensemble-dagger, lazy-dagger, smile, forward, aggrevate)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    """Training seeds: each seeds the demonstrations, network initialisation, minibatches and rollouts."""

    label_budget: int = 6000
    """Expert labels each run may spend at most (BC's demonstrations are cut at it too); at least one
    episode of the task."""

    target: float = 0.95
    """Expert-normalized score counted as reaching the expert (labels to reach it are reported)."""

    bc_episodes: tuple[int, ...] = (1, 2, 4, 8, 16)
    """BC: numbers of expert demonstration episodes, one BC policy each (nested sets)."""

    bc_steps: int = 5000
    """BC: gradient steps of each fit from scratch (fewer leave BC optimisation-limited on pendulum)."""

    episodes_per_round: int = 2
    """DAgger, HG-DAgger, ThriftyDAgger, SMILe: episodes rolled out per round (round 0 of the DAgger
    family is the expert's demonstrations)."""

    max_rounds: int = 20
    """Most rounds (iterations) of DAgger, HG-DAgger, ThriftyDAgger, SMILe and AggreVaTe; DAgger and
    SMILe usually stop at the label budget first (forward training runs one round per segment)."""

    round_steps: int = 500
    """Gradient steps of the (warm-started) fit after each round of every interactive method."""

    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of every MLP policy (tanh)."""

    batch_size: int = 256
    """Minibatch size of every fit."""

    ensemble: int = 5
    """Ensemble size of the methods whose gate reads the members' disagreement (ThriftyDAgger's
    novelty, EnsembleDAgger's doubt); other methods use one network."""

    switch_rate: float = 0.1
    """ThriftyDAgger: target fraction of familiar states that ask for help."""

    deviation: float | None = None
    """HG-DAgger's simulated human takes over when the learner's action is this far from its own
    (None: 0.5 for discrete tasks, i.e. any disagreement, 0.2 otherwise)."""

    risk: float = 1.0
    """HG-DAgger: and when the task's risk exceeds this (cartpole: pole angle / failure angle,
    driving: metres off the centreline; pendulum has no risk measure)."""

    smile_alpha: float = 0.3
    """SMILe's mixing rate alpha."""

    forward_segment: int = 20
    """Forward training: steps each member acts for."""

    forward_episodes: int = 8
    """Forward training: episodes per segment (labels in all: horizon * forward_episodes, at most the budget)."""

    aggrevate_states: int = 8
    """AggreVaTe: explored states per iteration (each costs candidates * (aggrevate_horizon - 1) labels)."""

    aggrevate_candidates: int = 4
    """AggreVaTe: actions explored per state on continuous tasks, plus the expert's (discrete: every action)."""

    aggrevate_horizon: int = 20
    """AggreVaTe: steps of each cost-to-go rollout."""

    eval_episodes: int = 20
    """Evaluation episodes of every point, from reset seed 10000 (not counted as labels)."""

    def __post_init__(self) -> None:
        # A CLI or JSON may hand in lists; keep the frozen config hashable and the BC sizes sorted.
        for name in ("methods", "seeds", "bc_episodes", "hidden"):
            conv = str if name == "methods" else int
            object.__setattr__(self, name, tuple(conv(v) for v in getattr(self, name)))
        object.__setattr__(self, "bc_episodes", tuple(sorted(self.bc_episodes)))
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        unknown = [m for m in self.methods if m not in method_names()]
        if not self.methods or unknown or len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"methods must be distinct names among {', '.join(method_names())}, got {self.methods}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ConfigError(f"seeds must be one or more distinct values >= 0, got {self.seeds}")
        if not self.bc_episodes or len(set(self.bc_episodes)) != len(self.bc_episodes) or self.bc_episodes[0] < 1:
            raise ConfigError(f"bc_episodes must be one or more distinct values >= 1, got {self.bc_episodes}")
        for name in ("bc_steps", "episodes_per_round", "max_rounds", "round_steps", "batch_size", "ensemble",
                     "forward_segment", "forward_episodes", "aggrevate_states", "aggrevate_horizon",
                     "eval_episodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        self._check_method_options()

    def _check_method_options(self) -> None:
        horizon = make_task(self.task).spec.max_steps
        if self.label_budget < horizon:
            raise ConfigError(f"label_budget must be >= one {self.task} episode ({horizon} labels), "
                              f"got {self.label_budget}")
        if not 0 < self.target <= 1.5:
            raise ConfigError(f"target must be in (0, 1.5] (1 = the expert's score), got {self.target}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden layer widths must be >= 1, got {self.hidden}")
        needy = [m for m in self.methods if m in INTERACTIVE_METHODS and INTERACTIVE_METHODS[m].needs_ensemble]
        if needy and self.ensemble < 2:
            raise ConfigError(f"ensemble must be >= 2 for {', '.join(needy)} (novelty = disagreement), "
                              f"got {self.ensemble}")
        if not 0 < self.switch_rate < 1:
            raise ConfigError(f"switch_rate must be in (0, 1), got {self.switch_rate}")
        if (self.deviation is not None and self.deviation <= 0) or self.risk <= 0:
            raise ConfigError(f"deviation and risk must be > 0, got {self.deviation} and {self.risk}")
        if not 0 < self.smile_alpha <= 1:
            raise ConfigError(f"smile_alpha must be in (0, 1], got {self.smile_alpha}")
        if self.aggrevate_candidates < 2:
            raise ConfigError(f"aggrevate_candidates must be >= 2 (costs are compared), "
                              f"got {self.aggrevate_candidates}")


@dataclass(frozen=True)
class LabelsPoint:
    """One evaluated policy: what it cost in labels and how well it did."""

    round: int  # BC: index into bc_episodes; otherwise the round / iteration / segment
    labels: int  # cumulative expert labels spent to train it
    score: float  # expert-normalized return (0 = random, 1 = expert) on the evaluation seeds
    return_mean: float
    train_s: float  # cumulative collection + training time, evaluation excluded


@dataclass(frozen=True)
class LabelsRun:
    """One method and training seed."""

    method: str
    seed: int
    points: tuple[LabelsPoint, ...]
    labels_to_target: int | None  # labels at the first point with score >= target (None: never)
    best_score: float
    labels: int  # labels spent in all
    watched: int  # states where a gate compared the learner with the expert (LabelBudget.watched): not labels
    wall_s: float  # evaluation included


@dataclass(frozen=True)
class MethodSummary:
    """One method over seeds (``*_sd``: standard deviation over seeds)."""

    method: str
    labels_to_target: tuple[int | None, ...]  # per seed, in config.seeds order
    reached: int  # seeds that reached the target
    median_labels_to_target: float | None  # over the seeds that reached it
    best_score: float
    best_score_sd: float
    final_score: float
    final_score_sd: float
    labels: float  # labels spent in all, mean over seeds
    watched: float  # LabelBudget.watched (HG-DAgger, ThriftyDAgger; not labels), mean over seeds
    wall_s: float  # per run, mean over seeds


@dataclass(frozen=True)
class CurvePoint:
    """The mean curve: score of the latest policy trained with at most ``labels`` labels, over seeds."""

    labels: int
    score_mean: float
    score_sd: float


@dataclass(frozen=True)
class LabelsResult:
    config: LabelsConfig
    runs: tuple[LabelsRun, ...]
    summary: tuple[MethodSummary, ...]
    curves: dict[str, tuple[CurvePoint, ...]]  # method -> mean curve
    checkpoints: tuple[int, ...]  # label counts of the markdown table's columns
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"experiment": "labels", "task": self.config.task, "config": asdict(self.config),
                "summary": [asdict(s) for s in self.summary],
                "curves": {m: [asdict(p) for p in c] for m, c in self.curves.items()},
                "checkpoints": list(self.checkpoints), "runs": [asdict(r) for r in self.runs],
                "wall_s": self.wall_s}


def run_labels(config: LabelsConfig, *, out_dir: Path | None = None, progress: bool = False,
               cells: Cells | None = None) -> LabelsResult:
    """Run every method of ``config`` on every seed; summarise labels vs expert-normalized score.

    With ``out_dir`` (absent or an empty folder, checked before any work), write labels.json,
    labels.md and labels.png there, all or nothing.
    """
    if cells is None:  # a new folder (absent or empty, checked before any work); the CLI passes one to resume
        cells = Cells.start(out_dir, header={"experiment": "labels", "config": asdict(config)})
    start = time.perf_counter()
    expert = make_expert(config.task)
    runs: list[LabelsRun] = []
    pairs = [(m, s) for m in config.methods for s in config.seeds]
    with tqdm(pairs, desc="labels", unit="run", disable=not progress) as bar:
        for method, seed in bar:
            bar.set_postfix(method=method, seed=seed, refresh=False)
            runs.append(cells(f"{method}-seed{seed}", partial(run_method, config, method, seed, expert),
                              kind=LabelsRun))
    summary = tuple(_summarize([r for r in runs if r.method == m]) for m in config.methods)
    curves = {m: mean_curve([r for r in runs if r.method == m]) for m in config.methods}
    result = LabelsResult(config=config, runs=tuple(runs), summary=summary, curves=curves,
                          checkpoints=_checkpoints(config), wall_s=time.perf_counter() - start)
    if out_dir is not None:
        write_outputs(result, Path(out_dir))
    return result


# ----------------------------------------------------------------------------- one run each


def run_method(config: LabelsConfig, method: str, seed: int, expert: Expert) -> LabelsRun:
    """Train ``method`` with training seed ``seed``; one point per BC set or interactive round."""
    start = time.perf_counter()
    if method == "bc":
        points, watched = _bc_points(config, seed, expert), 0
    else:
        points, watched = _interactive_points(config, method, seed, expert)
    reached = [p.labels for p in points if p.score >= config.target]
    return LabelsRun(method=method, seed=seed, points=points, labels_to_target=reached[0] if reached else None,
                     best_score=max(p.score for p in points), labels=points[-1].labels, watched=watched,
                     wall_s=time.perf_counter() - start)


def _policy(config: LabelsConfig, spec: TaskSpec, seed: int, *, ensemble: int = 1) -> MLPPolicy:
    return MLPPolicy.for_spec(spec, MLPConfig(hidden=config.hidden, ensemble=ensemble), seed=seed)


def _eval_task(config: LabelsConfig) -> BatchedTask:
    return make_task(config.task, num_envs=min(config.eval_episodes, 32))


def _bc_points(config: LabelsConfig, seed: int, expert: Expert) -> tuple[LabelsPoint, ...]:
    start = time.perf_counter()
    task = make_task(config.task, num_envs=1)  # one env: the budget cuts the demonstrations exactly
    # The reset seeds where DAgger's round 0 starts (the same stream), far from evaluation's.
    demos = collect(task, expert, episodes=config.bc_episodes[-1], seed=seeding.EPISODES(seed),
                    budget=LabelBudget(expert, limit=config.label_budget))
    collect_s = time.perf_counter() - start
    scorer = Scorer.make(_eval_task(config), expert, episodes=config.eval_episodes, seed=EVAL_SEED)
    assert scorer is not None, "eval_episodes >= 1"
    total = sum(len(t) for t in demos)
    points: list[LabelsPoint] = []
    sizes = sorted({min(n, len(demos)) for n in config.bc_episodes})  # cut at the budget: no repeats
    for i, n in enumerate(sizes):
        fit_start = time.perf_counter()
        policy = _policy(config, task.spec, seed)
        bc.fit(policy, Dataset.from_trajectories(demos[:n], spec=task.spec),
               bc.BCConfig(steps=config.bc_steps, batch_size=config.batch_size, seed=seed))
        labels = sum(len(t) for t in demos[:n])
        train_s = time.perf_counter() - fit_start + collect_s * labels / total
        res = scorer(policy)
        points.append(LabelsPoint(round=i, labels=labels, score=_score(res.normalized_score),
                                  return_mean=res.return_mean, train_s=train_s))
    return tuple(points)


def _interactive_points(config: LabelsConfig, method: str, seed: int,
                        expert: Expert) -> tuple[tuple[LabelsPoint, ...], int]:
    """One point per round of the method's fit, and the states its gate watched."""
    fit = INTERACTIVE.get(method) or partial(_dagger_family, method=method)  # any gated method
    result, watched = fit(config, seed, expert)
    points = tuple(LabelsPoint(round=r.round, labels=r.labels, score=_score(r.normalized_score),
                               return_mean=float(r.return_mean if r.return_mean is not None else math.nan),
                               train_s=r.train_wall_s) for r in result.rounds)
    return points, watched


def _score(score: float | None) -> float:
    return float(score) if score is not None else math.nan


def _round_bc(config: LabelsConfig, seed: int) -> bc.BCConfig:
    return bc.BCConfig(steps=config.round_steps, batch_size=config.batch_size, seed=seed)


def _dagger_family(config: LabelsConfig, seed: int, expert: Expert, *, method: str) -> tuple[InteractiveResult, int]:
    """Any method of DAgger's round loop, its gate built from the registry with this experiment's
    options where it has a field of the same name (deviation, risk, switch_rate, ...)."""
    entry = INTERACTIVE_METHODS[method]
    task = make_task(config.task, num_envs=config.episodes_per_round)
    policy = _policy(config, task.spec, seed, ensemble=config.ensemble if entry.needs_ensemble else 1)
    gate = None
    if entry.gate is not None:
        shared = {f.name: getattr(config, f.name) for f in fields(entry.gate) if hasattr(config, f.name)}
        gate, _ = entry.gate(**shared).build(task, policy, expert)
    loop = dagger.DAggerConfig(rounds=config.max_rounds, episodes_per_round=config.episodes_per_round,
                               beta_schedule="one-then-zero", label_budget=config.label_budget,
                               eval_episodes=config.eval_episodes, seed=seed)
    budgets: list[LabelBudget] = []  # the fit's budget, seen by the gate: it counts what the gate watched

    def gates(ctx: RoundContext) -> Gate:
        assert gate is not None
        budgets.append(ctx.budget)
        return gate(ctx)

    result = dagger.fit(task, expert, policy, loop, bc_config=_round_bc(config, seed),
                        gate=gates if gate is not None else None, eval_task=_eval_task(config))
    return result, budgets[-1].watched if budgets else 0  # plain DAgger's BetaGate watches nothing


def _smile(config: LabelsConfig, seed: int, expert: Expert) -> tuple[InteractiveResult, int]:
    task = make_task(config.task, num_envs=config.episodes_per_round)
    loop = smile.SMILeConfig(iterations=config.max_rounds, episodes_per_iteration=config.episodes_per_round,
                             alpha=config.smile_alpha, label_budget=config.label_budget,
                             eval_episodes=config.eval_episodes, seed=seed)
    return smile.fit(task, expert, _policy(config, task.spec, seed), loop, bc_config=_round_bc(config, seed),
                     eval_task=_eval_task(config)), 0


def _forward(config: LabelsConfig, seed: int, expert: Expert) -> tuple[InteractiveResult, int]:
    task = make_task(config.task, num_envs=config.forward_episodes)
    loop = forward.ForwardConfig(segment_length=config.forward_segment, episodes_per_segment=config.forward_episodes,
                               label_budget=config.label_budget, eval_episodes=config.eval_episodes, seed=seed)
    return forward.fit(task, expert, _policy(config, task.spec, seed), loop,
                             bc_config=_round_bc(config, seed), eval_task=_eval_task(config)), 0


def _aggrevate(config: LabelsConfig, seed: int, expert: Expert) -> tuple[InteractiveResult, int]:
    task = make_task(config.task, num_envs=32)  # parallel cost-to-go rollouts
    loop = aggrevate.AggreVaTeConfig(
        iterations=config.max_rounds, episodes_per_iteration=config.aggrevate_states,
        candidates=config.aggrevate_candidates, expert_candidate=True, ctg_horizon=config.aggrevate_horizon,
        label_budget=config.label_budget, eval_episodes=config.eval_episodes, seed=seed)
    return aggrevate.fit(task, expert, _policy(config, task.spec, seed), loop, bc_config=_round_bc(config, seed),
                         eval_task=_eval_task(config)), 0


# the reductions' fits: (result, states its gate watched without a label); every method of DAgger's
# round loop goes through _dagger_family, so a new gate in the registry needs nothing here
INTERACTIVE: dict[str, Callable[[LabelsConfig, int, Expert], tuple[InteractiveResult, int]]] = {
    "smile": _smile,
    "forward": _forward,
    "aggrevate": _aggrevate,
}


# ----------------------------------------------------------------------------- aggregation


def score_at(run: LabelsRun, labels: float) -> float | None:
    """The score of the latest policy of ``run`` trained with at most ``labels`` labels (None: none yet)."""
    before = [p.score for p in run.points if p.labels <= labels]
    return before[-1] if before else None


def mean_curve(runs: list[LabelsRun]) -> tuple[CurvePoint, ...]:
    """Mean and standard deviation over seeds of :func:`score_at`, at every label count any seed
    reached, from the first count at which every seed has a policy."""
    start = max(r.points[0].labels for r in runs)
    grid = sorted({p.labels for r in runs for p in r.points if p.labels >= start})
    out = []
    for x in grid:
        scores = np.array([score_at(r, x) for r in runs], float)
        out.append(CurvePoint(labels=x, score_mean=float(np.mean(scores)), score_sd=float(np.std(scores))))
    return tuple(out)


def curve_at(curve: tuple[CurvePoint, ...], labels: float) -> float | None:
    before = [p.score_mean for p in curve if p.labels <= labels]
    return before[-1] if before else None


def _checkpoints(config: LabelsConfig) -> tuple[int, ...]:
    """The table's label counts: BC's set sizes in labels (full episodes), then the budget."""
    horizon = make_task(config.task).spec.max_steps
    return tuple(sorted({min(n * horizon, config.label_budget) for n in config.bc_episodes} | {config.label_budget}))


def _summarize(runs: list[LabelsRun]) -> MethodSummary:
    hits = [r.labels_to_target for r in runs]
    reached = [h for h in hits if h is not None]
    best = [r.best_score for r in runs]
    final = [r.points[-1].score for r in runs]
    return MethodSummary(
        method=runs[0].method, labels_to_target=tuple(hits), reached=len(reached),
        median_labels_to_target=float(np.median(reached)) if reached else None,
        best_score=float(np.mean(best)), best_score_sd=float(np.std(best)),
        final_score=float(np.mean(final)), final_score_sd=float(np.std(final)),
        labels=float(np.mean([r.labels for r in runs])), watched=float(np.mean([r.watched for r in runs])),
        wall_s=float(np.mean([r.wall_s for r in runs])))


# ----------------------------------------------------------------------------- outputs


def markdown(result: LabelsResult) -> str:
    """The summary and the score-vs-labels table as markdown (labels.md)."""
    c = result.config
    setup = (f"Task {c.task}; label budget {c.label_budget}; seeds {list(c.seeds)}; {c.eval_episodes} evaluation "
             f"episodes per point from reset seed {EVAL_SEED}; MLP {list(c.hidden)} (ThriftyDAgger: ensemble of "
             f"{c.ensemble}); BC {c.bc_steps} steps per fit; interactive: {c.episodes_per_round} episodes per round, "
             f"at most {c.max_rounds} rounds, {c.round_steps} warm-started steps per round.")
    lines = [f"# Expert-normalized score vs expert labels ({c.task})", "", setup, "",
             (f"| method | seeds reaching {c.target:g} | labels to {c.target:g} (per seed) | median | best score "
              f"| final score | labels spent | watched | s per run |"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in result.summary:
        hits = ", ".join("-" if h is None else str(h) for h in s.labels_to_target)
        median = "-" if s.median_labels_to_target is None else f"{s.median_labels_to_target:g}"
        lines.append(f"| {title(s.method)} | {s.reached}/{len(s.labels_to_target)} | {hits} | {median} | "
                     f"{s.best_score:.3f} ± {s.best_score_sd:.3f} | {s.final_score:.3f} ± {s.final_score_sd:.3f} "
                     f"| {s.labels:.0f} | {s.watched:.0f} | {s.wall_s:.1f} |")
    lines += ["", ("Scores: mean ± standard deviation over seeds. Watched: states where a simulated gate "
                   "compared the learner's action with the expert's to decide who drives (not labels, never data)."),
              "", ("Mean score (over seeds) of the latest policy trained with at most this many labels "
                   "(a run that ended earlier keeps its last score; - : no policy yet):"), "",
              "| method | " + " | ".join(str(x) for x in result.checkpoints) + " |",
              "|---|" + "---:|" * len(result.checkpoints)]
    for m, curve in result.curves.items():
        cells = [curve_at(curve, x) for x in result.checkpoints]
        lines.append(f"| {title(m)} | " + " | ".join("-" if v is None else f"{v:.2f}" for v in cells) + " |")
    lines.append("")
    return "\n".join(lines)


def plot_png(result: LabelsResult) -> bytes:
    """Score vs labels (log x): per-seed thin lines, mean step curve per method, the target line."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    fig = Figure(figsize=(9, 5), dpi=120)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.08, right=0.78)  # the legend sits right of the axes, off the curves
    colours = dict(zip(DEFAULT_METHODS, ("black", "tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown",
                                         "tab:red")), **{"ensemble-dagger": "tab:pink", "lazy-dagger": "tab:olive"})
    # a method registered later gets matplotlib's next colour (None)
    for m, curve in result.curves.items():
        for run in (r for r in result.runs if r.method == m):
            ax.plot([p.labels for p in run.points], [p.score for p in run.points], "-", lw=0.7, alpha=0.35,
                    color=colours.get(m), marker=".", ms=3)
        ax.step([p.labels for p in curve], [p.score_mean for p in curve], where="post", lw=2, color=colours.get(m),
                label=title(m))
    ax.axhline(result.config.target, color="grey", ls="--", lw=1, label=f"score {result.config.target:g}")
    ax.set_xscale("log")
    ax.set_xticks(result.checkpoints, labels=[f"{x:g}" for x in result.checkpoints])
    ax.set_xticks([], minor=True)
    low = min([p.score for r in result.runs for p in r.points if np.isfinite(p.score)], default=0.0)
    ax.set_ylim(max(low - 0.05, -1.0), 1.1)  # far-below-random scores are clipped: the race is near 1
    ax.set_xlabel("expert labels (log scale)")
    ax.set_ylabel("expert-normalized score (0 random, 1 expert)")
    c = result.config
    ax.set_title(f"{c.task}: score vs expert labels (mean over {len(c.seeds)} seeds; thin: each seed)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_outputs(result: LabelsResult, out_dir: Path) -> None:
    """labels.json, labels.md and labels.png, rendered first, then written into a hidden temporary
    sibling folder renamed to ``out_dir``: a failure at any point leaves no partial output."""
    payload = {
        "labels.json": (json_line(result.as_dict(), indent=2) + "\n").encode(),
        "labels.md": markdown(result).encode(),
        "labels.png": plot_png(result),
    }
    write_files_atomic(out_dir, payload, replace=True)  # the work folder, cells and all
