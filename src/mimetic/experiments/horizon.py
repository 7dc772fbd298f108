"""``mimetic experiment horizon``: compounding error of BC vs DAgger as the horizon T grows.

The theory (Ross & Bagnell 2010, Thm 2.1; Ross, Gordon & Bagnell 2011, Thm 3.2): a cloned policy
with error eps on the expert's own states can pay up to ``T^2 eps`` over T steps, because one
mistake leads to states the expert never showed; DAgger, trained on the learner's own states, pays
``T eps`` (plus the expert's own cost). On the ``driving`` task (see its module docstring for why
BC drifts there) this experiment measures, for each horizon T and training seed:

1. **budget**: ``labels`` expert labels at every T (``scale_labels``: ``labels * T / max(T)``),
   identical for BC and DAgger, spent to the last label (both count through one LabelBudget).
   A fixed budget keeps BC's training error eps about constant across T -- the expert's state
   distribution does not depend on T here -- which is the regime the bounds compare;
2. **BC**: the expert drives ``ceil(labels / T)`` episodes of length T; one BC fit;
3. **DAgger**: round 0 = the expert's demonstrations (beta = 1), then the learner drives (beta = 0)
   and the expert labels every visited state, ``dagger_rounds`` rounds of ``labels / rounds``
   labels each (more if learner episodes crash early), one warm-started BC refit per round;
4. **evaluation** at horizon T on held-out reset seeds: total cost per episode (``Step.costs``:
   |lateral error| + off-road + crash penalties), success rate, imitation error on the learner's
   own states; the expert on the same seeds;
5. the log-log slope of mean cost vs T (``np.polyfit`` on logs) for the expert, BC and DAgger.

``task`` picks another task with a scripted or shipped expert (``hopper``, ``halfcheetah``, ...).
A task judged by its return (``TaskSpec.headline == "return"``) has no cost of its own, so the
cost there is the **regret**: the expert's mean return at horizon T minus the learner's, on the
same evaluation starts (the quantity the bounds are about: J(expert) - J(learner) <= T^2 eps for
BC, T eps for DAgger). The expert's own regret is 0, so it has no slope (reported as nan).

Outputs (``out_dir``, written as a whole or not at all): ``horizon.json``, ``horizon.md``,
``horizon.png``.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mimetic import seeding
from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.errors import ConfigError
from mimetic.experiments.cells import Cells
from mimetic.interactive import dagger
from mimetic.interactive.budget import LabelBudget
from mimetic.policies import MLPConfig, MLPPolicy
from mimetic.protocols import Expert
from mimetic.rollout import collect, evaluate, summarize
from mimetic.runs import json_line, write_files_atomic
from mimetic.types import EvalResult

TASK = "driving"  # the default task
METHODS = ("expert", "bc", "dagger")
FILES = ("horizon.json", "horizon.md", "horizon.png")


@dataclass(frozen=True)
class HorizonConfig:
    """Options of the horizon experiment (BC vs DAgger cost as the horizon grows)."""

    task: str = TASK
    """Task with an expert (driving, or e.g. hopper / halfcheetah: cost = the regret to the expert's
    return there)."""

    horizons: tuple[int, ...] = (50, 100, 200, 400, 800, 1600)
    """Horizons T (steps per episode) to train and evaluate at; at least two distinct values."""

    seeds: tuple[int, ...] = (0, 1, 2)
    """Training seeds: each seeds the demonstrations, network initialisation, minibatches and DAgger."""

    labels: int = 8000
    """Expert labels per training run at each horizon, the same for BC and DAgger; must cover at
    least one episode per DAgger round at the longest horizon (labels >= dagger_rounds * max T)."""

    scale_labels: bool = False
    """Scale the budget with the horizon (labels * T / max T at horizon T, i.e. the same number of
    episodes at every T) instead of the same number of labels at every T."""

    dagger_rounds: int = 5
    """DAgger rounds the budget is planned for: round 0 is the expert's demonstrations, then the
    learner drives; each round gets labels / dagger_rounds labels (more rounds happen when learner
    episodes crash early, until the budget is spent)."""

    bc_steps: int = 5000
    """Gradient steps of the BC fit (default: the same total as DAgger's rounds)."""

    dagger_steps: int = 1000
    """Gradient steps of DAgger's refit after each round."""

    warm_start: bool = True
    """DAgger refits continue from the previous round's weights (otherwise from the initial ones)."""

    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the MLP policy (tanh) used by both BC and DAgger."""

    batch_size: int = 256
    """Minibatch size of every BC fit (BC and DAgger's refits)."""

    eval_episodes: int = 128
    """Evaluation episodes per policy and horizon, on held-out reset seeds (BC's cost at long
    horizons comes from rare crashes, so a few dozen episodes measure it poorly)."""

    eval_seed: int = seeding.EVAL_SEED
    """Reset seed of the first evaluation episode (episode k starts from eval_seed + k)."""

    def __post_init__(self) -> None:
        # A CLI or JSON may hand in lists; keep the frozen config hashable and the horizons sorted.
        object.__setattr__(self, "horizons", tuple(sorted(int(t) for t in self.horizons)))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if len(set(self.horizons)) < 2 or len(set(self.horizons)) != len(self.horizons) or self.horizons[0] < 2:
            raise ConfigError(f"horizons must be at least two distinct values >= 2 (a slope needs two), "
                              f"got {self.horizons}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ConfigError(f"seeds must be one or more distinct values >= 0, got {self.seeds}")
        for name in ("bc_steps", "dagger_steps", "batch_size", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.dagger_rounds < 2:
            raise ConfigError(f"dagger_rounds must be >= 2 (round 0 only repeats BC's demonstrations), "
                              f"got {self.dagger_rounds}")
        if self.labels < self.dagger_rounds * self.horizons[-1]:
            need = self.dagger_rounds * self.horizons[-1]
            raise ConfigError(f"labels must be >= dagger_rounds * max horizon = {need} (one episode per DAgger "
                              f"round), got {self.labels}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden layer widths must be >= 1, got {self.hidden}")
        if self.eval_seed < 0:
            raise ConfigError(f"eval_seed must be >= 0, got {self.eval_seed}")
        from mimetic.envs.registry import expert_name

        if expert_name(self.task) is None:
            raise ConfigError(f"task {self.task!r} has no built-in expert to label states "
                              "(see 'mimetic tasks' and 'mimetic expert list')")

    def labels_at(self, horizon: int) -> int:
        """The label budget of one training run (BC or DAgger) at ``horizon``."""
        return self.labels * horizon // self.horizons[-1] if self.scale_labels else self.labels


@dataclass(frozen=True)
class HorizonRow:
    """One trained (or expert) policy evaluated at one horizon."""

    horizon: int
    method: str  # "expert", "bc" or "dagger"
    seed: int | None  # None for the expert (deterministic; evaluated once per horizon)
    labels: int  # expert labels spent on training (0 for the expert itself)
    cost_mean: float  # total cost per evaluation episode (return tasks: the expert's mean return - this one's)
    cost_ci95: float  # half-width of the 95% interval of cost_mean over evaluation episodes
    cost_per_step: float  # cost_mean / horizon
    return_mean: float  # mean return per evaluation episode
    success_rate: float | None  # fraction of evaluation episodes that succeed (None: the task defines none)
    imitation_error: float | None  # |learner - expert| steering (rad) on the learner's own states
    rounds: int | None  # DAgger rounds run (None otherwise)
    train_s: float  # wall time of data collection and training


@dataclass(frozen=True)
class HorizonSummary:
    """One horizon, averaged over seeds (``*_sd``: standard deviation over seeds)."""

    horizon: int
    labels: int
    bc_labels: float
    dagger_labels: float
    expert_cost: float
    bc_cost: float
    bc_cost_sd: float
    dagger_cost: float
    dagger_cost_sd: float
    expert_cost_per_step: float
    bc_cost_per_step: float
    dagger_cost_per_step: float
    expert_return: float
    bc_return: float
    dagger_return: float
    expert_success: float  # nan where the task defines no success
    bc_success: float
    dagger_success: float
    bc_imitation_error: float
    dagger_imitation_error: float
    dagger_rounds: float


@dataclass(frozen=True)
class HorizonResult:
    config: HorizonConfig
    rows: tuple[HorizonRow, ...]
    table: tuple[HorizonSummary, ...]
    slopes: dict[str, float]  # method -> log-log slope of mean cost vs horizon
    wall_s: float
    metric: str = "cost"  # "cost" (the task's own) or "regret" (expert return - learner return)

    def as_dict(self) -> dict[str, Any]:
        return {"experiment": "horizon", "task": self.config.task, "metric": self.metric,
                "config": asdict(self.config),
                "slopes": dict(self.slopes), "table": [asdict(r) for r in self.table],
                "rows": [asdict(r) for r in self.rows], "wall_s": self.wall_s}


def run_horizon(config: HorizonConfig, *, out_dir: Path | None = None, progress: bool = False,
               cells: Cells | None = None) -> HorizonResult:
    """Train and evaluate BC and DAgger at every horizon and seed of ``config``; fit the slopes.

    With ``out_dir`` (absent or an empty folder, checked before any work), write horizon.json,
    horizon.md and horizon.png there, all or nothing.
    """
    if cells is None:  # a new folder (absent or empty, checked before any work); the CLI passes one to resume
        cells = Cells.start(out_dir, header={"experiment": "horizon", "config": asdict(config)})
    start = time.perf_counter()
    measure = metric(config)
    expert = make_expert(config.task)
    rows: list[HorizonRow] = []
    pairs = [(t, s) for t in config.horizons for s in config.seeds]
    with tqdm(pairs, desc="horizon", unit="run", disable=not progress) as bar:
        for horizon, seed in bar:
            bar.set_postfix(T=horizon, seed=seed, refresh=False)
            if seed == config.seeds[0]:
                rows.append(cells(f"expert-T{horizon}", partial(_expert_row, config, horizon, expert),
                                  kind=HorizonRow))
            rows.append(cells(f"bc-T{horizon}-seed{seed}", partial(_bc_row, config, horizon, seed, expert),
                              kind=HorizonRow))
            rows.append(cells(f"dagger-T{horizon}-seed{seed}", partial(_dagger_row, config, horizon, seed, expert),
                              kind=HorizonRow))
    if measure == "regret":
        rows = _regrets(rows)
    table = tuple(_summarize(config, rows, t) for t in config.horizons)
    result = HorizonResult(config=config, rows=tuple(rows), table=table, slopes=_slopes(table),
                           wall_s=time.perf_counter() - start, metric=measure)
    if out_dir is not None:
        write_outputs(result, Path(out_dir))
    return result


def metric(config: HorizonConfig) -> str:
    """"cost" where the task is judged by its own cost (driving), else "regret" (the expert's return
    minus the learner's)."""
    task = make_task(config.task)
    try:
        return "cost" if task.spec.headline == "cost" else "regret"
    finally:
        task.close()


def _regrets(rows: list[HorizonRow]) -> list[HorizonRow]:
    """Each row's cost := the expert's mean return at its horizon minus its own (same starts)."""
    expert = {r.horizon: r.return_mean for r in rows if r.method == "expert"}
    out = []
    for r in rows:
        gap = expert[r.horizon] - r.return_mean
        out.append(replace(r, cost_mean=gap, cost_per_step=gap / r.horizon))
    return out


# ----------------------------------------------------------------------------- one run each


def _policy(config: HorizonConfig, horizon: int, seed: int) -> MLPPolicy:
    spec = make_task(config.task, max_steps=horizon).spec
    return MLPPolicy.for_spec(spec, MLPConfig(hidden=config.hidden), seed=seed)


def _bc_config(config: HorizonConfig, *, steps: int, seed: int) -> bc.BCConfig:
    return bc.BCConfig(steps=steps, batch_size=config.batch_size, seed=seed)


def _bc_row(config: HorizonConfig, horizon: int, seed: int, expert: Expert) -> HorizonRow:
    start = time.perf_counter()
    budget = LabelBudget(expert, limit=config.labels_at(horizon))
    # One env: a batched rollout stops when the next step's labels don't all fit, so a budget that is
    # not a whole number of episodes would be left partly unspent; one env spends it to the last label.
    task = make_task(config.task, num_envs=1, max_steps=horizon)
    demos = collect(task, expert, episodes=math.ceil(config.labels_at(horizon) / horizon),
                    seed=seeding.EPISODES(seed), budget=budget)  # where DAgger's rounds start
    policy = _policy(config, horizon, seed)
    bc.fit(policy, Dataset.from_trajectories(demos, spec=task.spec),
           _bc_config(config, steps=config.bc_steps, seed=seed))
    train_s = time.perf_counter() - start
    res = _evaluate(config, horizon, policy, expert)
    return _row(horizon, "bc", seed, res, labels=budget.labels, rounds=None, train_s=train_s)


def _dagger_row(config: HorizonConfig, horizon: int, seed: int, expert: Expert) -> HorizonRow:
    start = time.perf_counter()
    labels = config.labels_at(horizon)
    dcfg = dagger.DAggerConfig(
        # rounds: a cap never reached (each round spends >= 1 label), so only the budget stops
        # DAgger and it spends exactly what BC got, even when learner episodes crash early
        rounds=labels,
        episodes_per_round=math.ceil(labels / (config.dagger_rounds * horizon)),
        beta_schedule="one-then-zero",  # round 0 = expert demonstrations, then the learner drives
        warm_start=config.warm_start,
        label_budget=labels,
        eval_episodes=0,
        seed=seed,
    )
    policy = _policy(config, horizon, seed)
    task = make_task(config.task, num_envs=1, max_steps=horizon)  # one env: spends the budget exactly
    out = dagger.fit(task, expert, policy, dcfg, bc_config=_bc_config(config, steps=config.dagger_steps, seed=seed))
    train_s = time.perf_counter() - start
    res = _evaluate(config, horizon, policy, expert)
    return _row(horizon, "dagger", seed, res, labels=out.labels, rounds=len(out.rounds), train_s=train_s)


def _expert_row(config: HorizonConfig, horizon: int, expert: Expert) -> HorizonRow:
    task = _eval_task(config, horizon)
    trajs = collect(task, expert, episodes=config.eval_episodes, seed=config.eval_seed)
    res = summarize(task.spec, trajs, seed=config.eval_seed)
    return _row(horizon, "expert", None, replace(res, imitation_error=None), labels=0, rounds=None, train_s=0.0)


def _eval_task(config: HorizonConfig, horizon: int) -> Any:
    return make_task(config.task, num_envs=min(config.eval_episodes, 64), max_steps=horizon)


def _evaluate(config: HorizonConfig, horizon: int, policy: MLPPolicy, expert: Expert) -> EvalResult:
    return evaluate(_eval_task(config, horizon), policy, episodes=config.eval_episodes, seed=config.eval_seed,
                    expert=expert, reference=False)


def _row(horizon: int, method: str, seed: int | None, res: EvalResult, *, labels: int, rounds: int | None,
         train_s: float) -> HorizonRow:
    # cost = -reward on driving, and regret = expert return - return: either way the return's interval width
    return HorizonRow(horizon=horizon, method=method, seed=seed, labels=labels, cost_mean=res.cost_mean,
                      cost_ci95=res.return_ci95, cost_per_step=res.cost_mean / horizon,
                      return_mean=res.return_mean, success_rate=res.success_rate,
                      imitation_error=res.imitation_error, rounds=rounds, train_s=train_s)


# ----------------------------------------------------------------------------- aggregation


def _summarize(config: HorizonConfig, rows: list[HorizonRow], horizon: int) -> HorizonSummary:
    def pick(method: str) -> list[HorizonRow]:
        return [r for r in rows if r.horizon == horizon and r.method == method]

    def mean(method: str, field: str) -> float:
        values = [getattr(r, field) for r in pick(method)]
        return float("nan") if None in values else float(np.mean(values))

    def sd(method: str) -> float:
        return float(np.std([r.cost_mean for r in pick(method)]))

    return HorizonSummary(
        horizon=horizon, labels=config.labels_at(horizon),
        bc_labels=mean("bc", "labels"), dagger_labels=mean("dagger", "labels"),
        expert_cost=mean("expert", "cost_mean"), bc_cost=mean("bc", "cost_mean"), bc_cost_sd=sd("bc"),
        dagger_cost=mean("dagger", "cost_mean"), dagger_cost_sd=sd("dagger"),
        expert_cost_per_step=mean("expert", "cost_per_step"), bc_cost_per_step=mean("bc", "cost_per_step"),
        dagger_cost_per_step=mean("dagger", "cost_per_step"),
        expert_return=mean("expert", "return_mean"), bc_return=mean("bc", "return_mean"),
        dagger_return=mean("dagger", "return_mean"),
        expert_success=mean("expert", "success_rate"), bc_success=mean("bc", "success_rate"),
        dagger_success=mean("dagger", "success_rate"),
        bc_imitation_error=mean("bc", "imitation_error"), dagger_imitation_error=mean("dagger", "imitation_error"),
        dagger_rounds=mean("dagger", "rounds"),
    )


def _slopes(table: tuple[HorizonSummary, ...]) -> dict[str, float]:
    """Least-squares slope of log(mean cost) on log(T): cost ~ T^slope (1: linear, 2: quadratic).

    Fitted over the horizons whose mean cost is positive (driving: all of them, every step costs
    |e| > 0; a regret is 0 for the expert and can be negative at short T, where a learner may edge
    past the expert): nan with fewer than two such horizons. :func:`slope_horizons` says which."""
    out = {}
    for method in METHODS:
        t = slope_horizons(table, method)
        cost = [getattr(r, f"{method}_cost") for r in table if r.horizon in t]
        out[method] = float(np.polyfit(np.log(t), np.log(cost), 1)[0]) if len(t) >= 2 else float("nan")
    return out


def slope_horizons(table: tuple[HorizonSummary, ...], method: str) -> list[int]:
    """The horizons a slope is fitted over: those where the method's mean cost is positive."""
    return [r.horizon for r in table if getattr(r, f"{method}_cost") > 0]


# ----------------------------------------------------------------------------- outputs


def markdown(result: HorizonResult) -> str:
    """The table and slopes as markdown (horizon.md)."""
    c, s = result.config, result.slopes
    budget = "labels * T / max T" if c.scale_labels else f"{c.labels} labels at every T"
    setup = (f"Budget: {budget}, the same for BC and DAgger. Seeds {list(c.seeds)}; {c.eval_episodes} "
             f"evaluation episodes per policy from reset seed {c.eval_seed}; MLP {list(c.hidden)}; BC "
             f"{c.bc_steps} steps; DAgger {c.dagger_rounds} planned rounds x {c.dagger_steps} steps, warm start "
             f"{c.warm_start}.")
    if result.metric == "cost":
        cost = ("Cost: total per episode (|lateral error| m per step, +1 per off-road step, crash penalty); "
                "mean over seeds ± standard deviation over seeds.")
    else:
        cost = (f"Cost: the regret, the expert's mean return at horizon T minus the learner's on the same "
                f"evaluation starts ({c.task} has no cost of its own; the expert's regret is 0 by definition); "
                "mean over seeds ± standard deviation over seeds. Returns are mean returns per episode.")

    def rate(x: float | None) -> str:
        return "n/a" if x is None or math.isnan(x) else f"{x:.2f}"  # JSON turns nan into null

    header = ("| T | labels (BC / DAgger) | expert cost | BC cost | DAgger cost | expert / step | BC / step "
              "| DAgger / step | expert return | BC return | DAgger return | BC success | DAgger success "
              "| BC imit. err | DAgger imit. err | DAgger rounds |")
    lines = [f"# BC vs DAgger: {result.metric} vs horizon ({c.task})", "", setup, "", cost, "", header,
             "|---:|" + "---:|" * 15]
    for r in result.table:
        lines.append(
            f"| {r.horizon} | {r.bc_labels:g} / {r.dagger_labels:g} | {r.expert_cost:.2f} | {r.bc_cost:.2f} ± "
            f"{r.bc_cost_sd:.2f} | {r.dagger_cost:.2f} ± {r.dagger_cost_sd:.2f} | {r.expert_cost_per_step:.4f} | "
            f"{r.bc_cost_per_step:.4f} | {r.dagger_cost_per_step:.4f} | {r.expert_return:.1f} | {r.bc_return:.1f} | "
            f"{r.dagger_return:.1f} | {rate(r.bc_success)} | {rate(r.dagger_success)} | "
            f"{r.bc_imitation_error:.4f} | {r.dagger_imitation_error:.4f} | {r.dagger_rounds:.1f} |")

    def over(method: str) -> str:
        t = slope_horizons(result.table, method)
        return "" if len(t) in (0, 1, len(result.table)) else f" (T = {t[0]}-{t[-1]})"

    slopes = (f"Log-log slopes of mean {result.metric} vs T: expert {s['expert']:.2f}{over('expert')}, "
              f"BC {s['bc']:.2f}{over('bc')}, DAgger {s['dagger']:.2f}{over('dagger')} (theory: BC up to 2, "
              "T^2 eps; DAgger 1, T eps; fitted over the horizons whose mean is positive, nan with fewer "
              "than two).")
    lines += ["", slopes, ""]
    return "\n".join(lines)


def plot_png(result: HorizonResult) -> bytes:
    """Cost vs T on log-log axes: per-seed points, mean lines, slope-1 and slope-2 guides."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    fig = Figure(figsize=(7, 5), dpi=120)
    ax = fig.add_subplot()
    t = np.array([r.horizon for r in result.table], float)
    colours = {"expert": "black", "bc": "tab:red", "dagger": "tab:blue"}
    names = {"expert": "expert", "bc": "BC", "dagger": "DAgger"}
    regret = result.metric == "regret"
    for m in METHODS:
        if regret and m == "expert":
            continue  # 0 by definition
        pts = [(r.horizon, r.cost_mean) for r in result.rows if r.method == m]
        ax.scatter(*zip(*pts), s=14, alpha=0.45, color=colours[m])
        mean = [getattr(r, f"{m}_cost") for r in result.table]
        ax.plot(t, mean, "-o", color=colours[m], label=f"{names[m]} (slope {result.slopes[m]:.2f})")
    # guides start at the expert's cost at the shortest T (regret: at 1 return unit, where symlog turns log)
    anchor = 1.0 if regret else result.table[0].expert_cost
    for k, style in ((1, ":"), (2, "--")):
        ax.plot(t, anchor * (t / t[0]) ** k, style, color="grey", label=f"slope {k} guide")
    ax.set_xscale("log")
    if regret:  # a regret can be 0 or negative (a learner above the expert): linear near 0, log beyond
        ax.set_yscale("symlog", linthresh=1.0)
        ax.axhline(0.0, color="black", lw=0.8)
    else:
        ax.set_yscale("log")
    ax.set_xticks(t, labels=[f"{x:g}" for x in t])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("horizon T (steps)")
    ax.set_ylabel("total cost per episode" if result.metric == "cost"
                  else "regret per episode (expert return - learner return)")
    s = result.slopes
    expert_slope = "" if regret else f"expert {s['expert']:.2f}, "
    ax.set_title(f"{result.config.task}: {result.metric} vs horizon, equal labels (slopes: {expert_slope}"
                 f"BC {s['bc']:.2f}, DAgger {s['dagger']:.2f})", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_outputs(result: HorizonResult, out_dir: Path) -> None:
    """horizon.json, horizon.md and horizon.png, rendered first, then written into a hidden temporary
    sibling folder renamed to ``out_dir``: a failure at any point leaves no partial output."""
    payload = {
        "horizon.json": (json_line(result.as_dict(), indent=2) + "\n").encode(),
        "horizon.md": markdown(result).encode(),
        "horizon.png": plot_png(result),
    }
    write_files_atomic(out_dir, payload, replace=True)  # the work folder, cells and all
