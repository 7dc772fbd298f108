"""``mimetic experiment chunking``: BC cost on the driving task as the action chunk size k grows.

The hypothesis (Zhao et al. 2023, "Learning Fine-Grained Bimanual Manipulation with Low-Cost
Hardware", Sec. 3.3): predicting and executing chunks of k actions divides the number of the
policy's decisions per episode by k, shortening the effective horizon over which a cloned
policy's errors compound (Ross & Bagnell 2010), so cost should fall with k -- up to a point,
since a long open-loop chunk cannot react to the disturbances that arrive while it runs. For
each training seed and chunk size k on ``driving`` (see its module docstring for why BC drifts
there):

1. **demonstrations**: the expert drives ``demos`` episodes of ``horizon`` steps (reset seeds
   ``seeding.EPISODES(seed, i)``, far from the evaluation seeds), the same episodes at every k;
2. **training**: one :class:`~mimetic.policies.chunking.ChunkingPolicy` (``backbone``, chunk size
   k, L1 loss, no CVAE: the driving expert is unimodal) fit by BC for ``bc_steps`` steps on k-step
   action windows;
3. **evaluation**, the same weights executed three ways, ``eval_episodes`` episodes from reset
   seed ``eval_seed``: ``chunk`` (query, execute all k actions open loop, query again: k times
   fewer decisions), ``ensemble`` (ACT's temporal ensembling: query every step, average the
   overlapping predictions of the last k chunks with weights exp(-m i)) and ``first`` (query every
   step, execute the chunk's first action: closed loop, the other k-1 predictions only shaped
   training); k = 1 is plain BC (L1) every way. Total cost per episode (|lateral error| +
   off-road + crash penalties), success rate (no crash), imitation error on the learner's own
   states; the expert on the same seeds.

Outputs (``out_dir``, written as a whole or not at all): ``chunking.json``, ``chunking.md``,
``chunking.png``.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from mimetic import seeding
from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.errors import ConfigError
from mimetic.experiments.cells import Cells
from mimetic.policies import ChunkingConfig, ChunkingPolicy
from mimetic.protocols import Expert
from mimetic.rollout import collect, evaluate, summarize
from mimetic.runs import json_line, write_files_atomic
from mimetic.types import EvalResult

TASK = "driving"
EXECUTIONS = ("chunk", "ensemble", "first")
NAMES = {"chunk": "open-loop chunks", "ensemble": "temporal ensemble", "first": "first action only"}
FILES = ("chunking.json", "chunking.md", "chunking.png")


@dataclass(frozen=True)
class ChunkingExperimentConfig:
    """Options of the chunking experiment (BC cost vs action chunk size k, driving task)."""

    chunk_sizes: tuple[int, ...] = (1, 2, 4, 8, 16)
    """Chunk sizes k to train and evaluate (distinct, >= 1)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    """Training seeds: each seeds the demonstrations, network initialisation and minibatches."""

    horizon: int = 400
    """Steps per episode (demonstrations and evaluation)."""

    demos: int = 20
    """Expert demonstration episodes per seed, the same at every k."""

    backbone: Literal["mlp", "transformer"] = "mlp"
    """Chunking network: mlp (observations -> k * A outputs) or transformer (ACT's encoder-decoder)."""

    hidden: tuple[int, ...] = (64, 64)
    """MLP backbone: hidden layer widths (tanh, as the horizon experiment's BC policy)."""

    ensemble_decay: float = 0.01
    """Temporal ensembling: m in the weights exp(-m i), i = 0 for the oldest prediction."""

    bc_steps: int = 5000
    """Gradient steps of each BC fit."""

    batch_size: int = 256
    """Minibatch size of each BC fit."""

    lr: float = 1e-3
    """BC learning rate (cosine-decayed)."""

    eval_episodes: int = 64
    """Evaluation episodes per policy and execution mode, on held-out reset seeds."""

    eval_seed: int = seeding.EVAL_SEED
    """Reset seed of the first evaluation episode (episode j starts from eval_seed + j)."""

    def __post_init__(self) -> None:
        # A CLI or JSON may hand in lists; keep the frozen config hashable and the sizes sorted.
        object.__setattr__(self, "chunk_sizes", tuple(sorted(int(k) for k in self.chunk_sizes)))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        ks = self.chunk_sizes
        if not ks or len(set(ks)) != len(ks) or ks[0] < 1:
            raise ConfigError(f"chunk_sizes must be one or more distinct values >= 1, got {ks}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ConfigError(f"seeds must be one or more distinct values >= 0, got {self.seeds}")
        for name in ("horizon", "demos", "bc_steps", "batch_size", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if ks[-1] > self.horizon:
            raise ConfigError(f"chunk sizes must be <= horizon ({self.horizon}), got {ks[-1]}")
        if self.eval_seed < 0:
            raise ConfigError(f"eval_seed must be >= 0, got {self.eval_seed}")
        # the policy's own options (backbone, hidden, decay) are checked by ChunkingConfig
        self.policy_config(ks[0])

    def policy_config(self, chunk_size: int, execution: str = "chunk") -> ChunkingConfig:
        """The chunking policy trained at chunk size k, executed as ``execution`` (one of EXECUTIONS)."""
        return ChunkingConfig(chunk_size=chunk_size, backbone=self.backbone, hidden=self.hidden, activation="tanh",
                              ensemble_decay=self.ensemble_decay, temporal_ensemble=execution == "ensemble",
                              query_every=1 if execution == "first" else 0)


@dataclass(frozen=True)
class ChunkingRow:
    """One trained policy, executed one way, evaluated at the horizon."""

    chunk_size: int
    execution: str  # "chunk" (open loop, a query every k steps), "ensemble" or "first" (a query every step)
    seed: int
    cost_mean: float  # total cost per evaluation episode
    cost_ci95: float  # half-width of the 95% interval of cost_mean over evaluation episodes
    success_rate: float  # fraction of evaluation episodes that reach the horizon without crashing
    imitation_error: float | None  # |learner - expert| steering (rad) on the learner's own states
    final_loss: float  # BC's training loss over its last logging window
    train_s: float  # wall time of the BC fit


@dataclass(frozen=True)
class ChunkingSummary:
    """One chunk size and execution mode, averaged over seeds (``cost_sd``: over seeds)."""

    chunk_size: int
    execution: str
    cost: float
    cost_sd: float
    success: float
    imitation_error: float


@dataclass(frozen=True)
class ChunkingResult:
    config: ChunkingExperimentConfig
    rows: tuple[ChunkingRow, ...]
    table: tuple[ChunkingSummary, ...]
    expert_cost: float
    expert_success: float
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"experiment": "chunking", "task": TASK, "config": asdict(self.config),
                "expert": {"cost": self.expert_cost, "success": self.expert_success},
                "table": [asdict(r) for r in self.table], "rows": [asdict(r) for r in self.rows],
                "wall_s": self.wall_s}


def run_chunking(config: ChunkingExperimentConfig, *, out_dir: Path | None = None,
                 progress: bool = False, cells: Cells | None = None) -> ChunkingResult:
    """Train a chunking policy per chunk size and seed of ``config`` on the same demonstrations;
    evaluate each open loop, with temporal ensembling and on its first actions only.

    With ``out_dir`` (absent or an empty folder, checked before any work), write chunking.json,
    chunking.md and chunking.png there, all or nothing.
    """
    if cells is None:  # a new folder (absent or empty, checked before any work); the CLI passes one to resume
        cells = Cells.start(out_dir, header={"experiment": "chunking", "config": asdict(config)})
    start = time.perf_counter()
    expert = make_expert(TASK)
    expert_res = summarize(_eval_task(config).spec, collect(_eval_task(config), expert,
                           episodes=config.eval_episodes, seed=config.eval_seed), seed=config.eval_seed)
    rows: list[ChunkingRow] = []
    with tqdm(total=len(config.seeds) * len(config.chunk_sizes), desc="chunking", unit="fit",
              disable=not progress) as bar:
        for seed in config.seeds:
            demos: list[Dataset] = []  # the seed's demonstrations, recorded when a cell first needs them
            for k in config.chunk_sizes:
                bar.set_postfix(k=k, seed=seed, refresh=False)
                rows += cells(f"k{k}-seed{seed}", partial(_cell, config, k, seed, demos, expert),
                              kind=list[ChunkingRow])
                bar.update()
    table = tuple(_summarize(rows, k, e) for k in config.chunk_sizes for e in EXECUTIONS)
    assert expert_res.success_rate is not None, "driving defines success"
    result = ChunkingResult(config=config, rows=tuple(rows), table=table, expert_cost=expert_res.cost_mean,
                            expert_success=expert_res.success_rate, wall_s=time.perf_counter() - start)
    if out_dir is not None:
        write_outputs(result, Path(out_dir))
    return result


def _cell(config: ChunkingExperimentConfig, k: int, seed: int, demos: list[Dataset], expert: Expert
          ) -> list[ChunkingRow]:
    if not demos:  # the seed's dataset, made once for all its k (and not at all if resumed past them)
        demos.append(_demos(config, seed, expert))
    return _rows(config, k, seed, demos[0], expert)


# ----------------------------------------------------------------------------- one fit each


def _demos(config: ChunkingExperimentConfig, seed: int, expert: Expert) -> Dataset:
    task = make_task(TASK, num_envs=min(config.demos, 16), max_steps=config.horizon)
    trajs = collect(task, expert, episodes=config.demos, seed=seeding.EPISODES(seed))
    return Dataset.from_trajectories(trajs, spec=task.spec)


def _eval_task(config: ChunkingExperimentConfig) -> Any:
    return make_task(TASK, num_envs=min(config.eval_episodes, 64), max_steps=config.horizon)


def _rows(config: ChunkingExperimentConfig, k: int, seed: int, demos: Dataset, expert: Expert) -> list[ChunkingRow]:
    """Fit one policy at chunk size k; evaluate it executed each way of EXECUTIONS."""
    spec = _eval_task(config).spec
    policy = ChunkingPolicy.for_spec(spec, config.policy_config(k), seed=seed)
    fit = bc.fit(policy, demos, bc.BCConfig(steps=config.bc_steps, batch_size=config.batch_size, lr=config.lr,
                                            seed=seed))
    rows = []
    for execution in EXECUTIONS:
        # the same weights, executed another way: only the (frozen) config's execution options differ
        runner = ChunkingPolicy.for_spec(spec, config.policy_config(k, execution), seed=seed)
        runner.load_state_dict(policy.state_dict())
        runner.eval()
        res = evaluate(_eval_task(config), runner, episodes=config.eval_episodes, seed=config.eval_seed,
                       expert=expert, reference=False)
        rows.append(_row(k, execution, seed, res, final_loss=fit.final_loss, train_s=fit.wall_s))
    return rows


def _row(k: int, execution: str, seed: int, res: EvalResult, *, final_loss: float, train_s: float) -> ChunkingRow:
    assert res.success_rate is not None, "driving defines success"
    return ChunkingRow(chunk_size=k, execution=execution, seed=seed, cost_mean=res.cost_mean,
                       cost_ci95=res.return_ci95,  # cost = -reward on driving: same interval width
                       success_rate=res.success_rate, imitation_error=res.imitation_error,
                       final_loss=final_loss, train_s=train_s)


def _summarize(rows: list[ChunkingRow], k: int, execution: str) -> ChunkingSummary:
    pick = [r for r in rows if r.chunk_size == k and r.execution == execution]
    return ChunkingSummary(
        chunk_size=k, execution=execution,
        cost=float(np.mean([r.cost_mean for r in pick])), cost_sd=float(np.std([r.cost_mean for r in pick])),
        success=float(np.mean([r.success_rate for r in pick])),
        imitation_error=float(np.mean([r.imitation_error or 0.0 for r in pick])),
    )


# ----------------------------------------------------------------------------- outputs


def markdown(result: ChunkingResult) -> str:
    """The table as markdown (chunking.md)."""
    c = result.config
    net = f"MLP {list(c.hidden)} (tanh)" if c.backbone == "mlp" else "transformer (ACT defaults)"
    setup = (f"{c.demos} expert episodes of {c.horizon} steps per seed, the same at every k; chunking policy, "
             f"{net}, L1 loss, BC {c.bc_steps} steps (batch {c.batch_size}, lr {c.lr:g}). Seeds {list(c.seeds)}; "
             f"{c.eval_episodes} evaluation episodes per policy from reset seed {c.eval_seed}. Open-loop chunks: "
             f"a query every k steps; temporal ensemble: a query every step, m = {c.ensemble_decay:g}; first action "
             "only: a query every step, the rest of each chunk discarded.")
    cost = ("Cost: total per episode (|lateral error| m per step, +1 per off-road step, crash penalty); "
            f"mean over seeds ± standard deviation over seeds. Expert: {result.expert_cost:.2f} "
            f"(success {result.expert_success:.2f}).")
    header = ("| k | open-loop cost | ensemble cost | first-action cost | open-loop success | ensemble success "
              "| first-action success | open-loop imit. err | ensemble imit. err | first-action imit. err |")
    lines = ["# BC cost vs action chunk size k (driving)", "", setup, "", cost, "", header, "|---:" * 10 + "|"]
    by = {(r.chunk_size, r.execution): r for r in result.table}
    for k in c.chunk_sizes:
        rs = [by[(k, e)] for e in EXECUTIONS]
        cells = [f"{r.cost:.2f} ± {r.cost_sd:.2f}" for r in rs] + [f"{r.success:.2f}" for r in rs]
        cells += [f"{r.imitation_error:.4f}" for r in rs]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    best = min(result.table, key=lambda r: r.cost)
    lines += ["", f"Lowest mean cost: k = {best.chunk_size}, {NAMES[best.execution]} ({best.cost:.2f}).", ""]
    return "\n".join(lines)


def plot_png(result: ChunkingResult) -> bytes:
    """Cost vs k (log2 axis): per-seed points, mean lines per execution mode, the expert's cost."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    fig = Figure(figsize=(7, 5), dpi=120)
    ax = fig.add_subplot()
    ks = np.array(result.config.chunk_sizes, float)
    colours = {"chunk": "tab:red", "ensemble": "tab:blue", "first": "tab:green"}
    for e in EXECUTIONS:
        pts = [(r.chunk_size, r.cost_mean) for r in result.rows if r.execution == e]
        ax.scatter(*zip(*pts), s=14, alpha=0.45, color=colours[e])
        mean = [r.cost for r in result.table if r.execution == e]
        ax.plot(ks, mean, "-o", color=colours[e], label=NAMES[e])
    ax.axhline(result.expert_cost, color="black", linestyle="--", label="expert")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(ks, labels=[f"{k:g}" for k in ks])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("chunk size k (actions per prediction)")
    ax.set_ylabel("total cost per episode")
    ax.set_title(f"driving, T = {result.config.horizon}: BC cost vs chunk size", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_outputs(result: ChunkingResult, out_dir: Path) -> None:
    """chunking.json, chunking.md and chunking.png, rendered first, then written all or nothing
    (``runs.write_files_atomic``)."""
    payload = {
        "chunking.json": (json_line(result.as_dict(), indent=2) + "\n").encode(),
        "chunking.md": markdown(result).encode(),
        "chunking.png": plot_png(result),
    }
    write_files_atomic(out_dir, payload, replace=True)  # the work folder, cells and all

