"""``mimetic experiment pixels``: BC and diffusion from a camera against the same from the state.

The question: how much does a policy lose when it must see the task through a 64x64 camera
instead of reading the task's state? Vision-based imitation (Chi et al. 2023; Zhao et al. 2023)
trains an image encoder end to end with the policy; here the encoder is the small conv net (or
ResNet-18) of :mod:`mimetic.nets.vision` and the head an MLP (MSE-BC) or a diffusion policy. For
each task, training seed and method:

1. **demonstrations**: the expert drives ``demos`` episodes of ``<task>@pixels``; the recorded
   dict observations hold both the frames and the true state, so the state policies train on
   exactly the same episodes (the ``state`` key), at equal demonstrations;
2. **training**: the same head and BC budget (steps, batch, learning rate) from ``state`` (the
   flat observation) and from ``pixels`` (the ``image`` key only, through the encoder);
3. **evaluation**: ``eval_episodes`` episodes from reset seed 10 000: success rate (driving: no
   crash to the horizon; multimodal: reached the goal), and the task's cost per episode.

The gap is success from state minus success from pixels, per task and method (issue 13's target:
within 10 points). Outputs (``out_dir``, written as a whole or not at all): ``pixels.json``,
``pixels.md``, ``pixels.png``.
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
from mimetic.nets.vision import VisionConfig
from mimetic.policies import DiffusionConfig, DiffusionPolicy, MLPConfig, MLPPolicy, VisionPolicy
from mimetic.rollout import collect, evaluate
from mimetic.runs import json_line, write_files_atomic
from mimetic.types import Trajectory

TASKS = ("driving", "multimodal")
METHODS = ("bc", "diffusion")
OBS = ("state", "pixels")
NAMES = {"bc": "MSE-BC", "diffusion": "diffusion"}
FILES = ("pixels.json", "pixels.md", "pixels.png")
TARGET_GAP = 0.10  # issue 13: pixels within 10 points of success of state


@dataclass(frozen=True)
class PixelsConfig:
    """Options of the pixels experiment (success from a 64x64 camera vs from the state)."""

    tasks: tuple[str, ...] = TASKS
    """Tasks: driving (lane keeping over a long horizon) and multimodal (an obstacle passed on a
    hidden random side: MSE-BC fails from either observation, diffusion should not)."""

    methods: tuple[str, ...] = METHODS
    """Methods: bc (MLP, MSE loss) and diffusion (diffusion policy, MLP denoiser)."""

    seeds: tuple[int, ...] = (0, 1)
    """Training seeds: each seeds the demonstrations, network initialisation and minibatches."""

    driving_demos: int = 20
    """Expert episodes on driving (400 steps each)."""

    multimodal_demos: int = 100
    """Expert episodes on multimodal (about 27 steps each)."""

    bc_steps: int = 3000
    """Gradient steps of every fit, from state and from pixels alike."""

    batch_size: int = 64
    """Minibatch size of every fit (64, as Diffusion Policy's image setting)."""

    lr: float = 1e-3
    """Learning rate of the MSE-BC fits."""

    diffusion_lr: float = 3e-3
    """Learning rate of the diffusion fits."""

    hidden: tuple[int, ...] = (256, 256)
    """MSE-BC: hidden layer widths of the MLP head (tanh)."""

    diffusion_hidden: tuple[int, ...] = (256, 256, 256)
    """diffusion: hidden layer widths of the MLP denoiser."""

    encoder: Literal["conv", "resnet18"] = "conv"
    """Image encoder of the pixel policies: conv (CPU-sized) or resnet18 (Diffusion Policy's)."""

    features: int = 64
    """Image features per frame."""

    eval_episodes: int = 50
    """Evaluation episodes of every policy, from reset seed 10000."""

    def __post_init__(self) -> None:
        for name in ("tasks", "methods"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
        for name in ("seeds", "hidden", "diffusion_hidden"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        for name, known in (("tasks", TASKS), ("methods", METHODS)):
            values = getattr(self, name)
            if not values or any(v not in known for v in values) or len(set(values)) != len(values):
                raise ConfigError(f"{name} must be distinct names among {', '.join(known)}, got {values}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ConfigError(f"seeds must be one or more distinct values >= 0, got {self.seeds}")
        for name in ("driving_demos", "multimodal_demos", "bc_steps", "batch_size", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "diffusion_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        self.vision()  # the encoder's own checks, before any work

    def vision(self) -> VisionConfig:
        return VisionConfig(encoder=self.encoder, features=self.features)

    def demos(self, task: str) -> int:
        return self.driving_demos if task == "driving" else self.multimodal_demos


@dataclass(frozen=True)
class PixelsRow:
    """One fit and its evaluation."""

    task: str
    method: str
    obs: str  # "state" or "pixels"
    seed: int
    success: float
    cost_mean: float
    return_mean: float
    final_loss: float
    train_s: float
    demo_steps: int


@dataclass(frozen=True)
class PixelsSummary:
    """One task and method, both observations, averaged over seeds."""

    task: str
    method: str
    state_success: float
    pixels_success: float
    gap: float  # state - pixels success, in [-1, 1]
    state_cost: float
    pixels_cost: float
    pixels_train_s: float
    state_train_s: float


@dataclass(frozen=True)
class PixelsResult:
    config: PixelsConfig
    rows: tuple[PixelsRow, ...]
    table: tuple[PixelsSummary, ...]
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"experiment": "pixels", "config": asdict(self.config), "target_gap": TARGET_GAP,
                "table": [asdict(r) for r in self.table], "rows": [asdict(r) for r in self.rows],
                "within_target": {f"{r.task}/{r.method}": bool(r.gap <= TARGET_GAP) for r in self.table},
                "wall_s": self.wall_s}


def run_pixels(config: PixelsConfig, *, out_dir: Path | None = None, progress: bool = False,
               cells: Cells | None = None) -> PixelsResult:
    """Fit every task x method x observation x seed of ``config`` and evaluate it.

    With ``out_dir`` (absent or an empty folder, checked before any work), write pixels.json,
    pixels.md and pixels.png there, all or nothing."""
    if cells is None:
        cells = Cells.start(out_dir, header={"experiment": "pixels", "config": asdict(config)})
    start = time.perf_counter()
    rows: list[PixelsRow] = []
    total = len(config.tasks) * len(config.seeds) * len(config.methods) * len(OBS)
    with tqdm(total=total, desc="pixels", unit="fit", disable=not progress) as bar:
        for task in config.tasks:
            for seed in config.seeds:
                demos: list[list[Trajectory]] = []  # recorded when a cell of this task and seed first needs them
                for method in config.methods:
                    for obs in OBS:
                        bar.set_postfix(task=task, method=method, obs=obs, seed=seed, refresh=False)
                        rows.append(cells(f"{task}-{method}-{obs}-seed{seed}",
                                          partial(_cell, config, task, method, obs, seed, demos), kind=PixelsRow))
                        bar.update()
    table = tuple(_summarize(rows, t, m) for t in config.tasks for m in config.methods)
    result = PixelsResult(config=config, rows=tuple(rows), table=table, wall_s=time.perf_counter() - start)
    if out_dir is not None:
        write_outputs(result, Path(out_dir))
    return result


def _cell(config: PixelsConfig, task: str, method: str, obs: str, seed: int,
          demos: list[list[Trajectory]]) -> PixelsRow:
    pixel_task = f"{task}@pixels"
    if not demos:
        n = config.demos(task)
        demos.append(collect(make_task(pixel_task, num_envs=min(n, 16)), make_expert(pixel_task), episodes=n,
                             seed=seeding.EPISODES(seed)))
    name = pixel_task if obs == "pixels" else task
    spec = make_task(name).spec
    trajs = demos[0] if obs == "pixels" else [_state_only(t) for t in demos[0]]
    data = Dataset.from_trajectories(trajs, spec=spec)
    if method == "bc":
        head: Any = (MLPPolicy, MLPConfig(hidden=config.hidden, activation="tanh", head="deterministic"))
        lr = config.lr
    else:
        head, lr = (DiffusionPolicy, DiffusionConfig(hidden=config.diffusion_hidden)), config.diffusion_lr
    if obs == "pixels":
        policy = VisionPolicy.for_spec(spec, head[0], head[1], vision=config.vision(), seed=seed)
    else:
        policy = head[0].for_spec(spec, head[1], seed=seed)
    fit = bc.fit(policy, data, bc.BCConfig(steps=config.bc_steps, batch_size=config.batch_size, lr=lr, seed=seed))
    res = evaluate(make_task(name, num_envs=min(config.eval_episodes, 16)), policy, episodes=config.eval_episodes,
                   seed=seeding.EVAL_SEED, reference=False)
    assert res.success_rate is not None, f"{task} defines success"
    return PixelsRow(task=task, method=method, obs=obs, seed=seed, success=res.success_rate, cost_mean=res.cost_mean,
                     return_mean=res.return_mean, final_loss=fit.final_loss, train_s=fit.wall_s,
                     demo_steps=data.n_steps)


def _state_only(t: Trajectory) -> Trajectory:
    """The same episode seen through the flat observation (the pixel task records it as ``state``)."""
    return Trajectory(obs=np.asarray(t.obs["state"]), acts=t.acts, rewards=t.rewards, terminated=t.terminated,
                      truncated=t.truncated, costs=t.costs, seed=t.seed)


def _summarize(rows: list[PixelsRow], task: str, method: str) -> PixelsSummary:
    def pick(obs: str) -> list[PixelsRow]:
        return [r for r in rows if r.task == task and r.method == method and r.obs == obs]

    s, p = pick("state"), pick("pixels")
    mean = lambda rs, f: float(np.mean([getattr(r, f) for r in rs]))  # noqa: E731
    return PixelsSummary(task=task, method=method, state_success=mean(s, "success"),
                         pixels_success=mean(p, "success"), gap=mean(s, "success") - mean(p, "success"),
                         state_cost=mean(s, "cost_mean"), pixels_cost=mean(p, "cost_mean"),
                         state_train_s=mean(s, "train_s"), pixels_train_s=mean(p, "train_s"))


# ----------------------------------------------------------------------------- outputs


def markdown(result: PixelsResult) -> str:
    """The table as markdown (pixels.md)."""
    c = result.config
    setup = (f"Demonstrations per seed: {c.driving_demos} episodes on driving, {c.multimodal_demos} on multimodal, "
             "recorded once on the pixel task and used by both observations. Every fit: BC "
             f"{c.bc_steps} steps, batch {c.batch_size}; MSE-BC an MLP {list(c.hidden)} (tanh, lr {c.lr:g}); "
             f"diffusion an MLP denoiser {list(c.diffusion_hidden)} (lr {c.diffusion_lr:g}). Pixels: the 64x64 "
             f"camera only (the state hidden), through a {c.encoder} encoder ({c.features} features), trained end to "
             f"end. Seeds {list(c.seeds)}; {c.eval_episodes} evaluation episodes per fit from reset seed "
             f"{seeding.EVAL_SEED}.")
    lines = ["# Camera vs state: BC and diffusion from pixels", "", setup, "",
             "| task | method | success from state | success from pixels | gap (points) | within 10? "
             "| cost from state | cost from pixels | train s (state / pixels) |",
             "|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in result.table:
        ok = "yes" if r.gap <= TARGET_GAP else "no"
        lines.append(f"| {r.task} | {NAMES[r.method]} | {r.state_success:.2f} | {r.pixels_success:.2f} | "
                     f"{100 * r.gap:+.0f} | {ok} | {r.state_cost:.2f} | {r.pixels_cost:.2f} | "
                     f"{r.state_train_s:.0f} / {r.pixels_train_s:.0f} |")
    lines += ["", "Gap: success from state minus success from pixels, mean over seeds (positive: pixels do worse).",
              ""]
    return "\n".join(lines)


def plot_png(result: PixelsResult) -> bytes:
    """Success from state and from pixels, one group of bars per task and method; seeds as dots."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=120)
    ax = fig.add_subplot()
    groups = [(r.task, r.method) for r in result.table]
    x = np.arange(len(groups))
    for j, (obs, colour) in enumerate((("state", "tab:blue"), ("pixels", "tab:orange"))):
        means = [getattr(r, f"{obs}_success") for r in result.table]
        ax.bar(x + (j - 0.5) * 0.38, means, width=0.36, color=colour, label=f"from {obs}")
        for i, (task, method) in enumerate(groups):
            pts = [r.success for r in result.rows if r.task == task and r.method == method and r.obs == obs]
            ax.scatter(np.full(len(pts), x[i] + (j - 0.5) * 0.38), pts, color="black", s=10, zorder=3)
    ax.set_xticks(x, labels=[f"{t}\n{NAMES[m]}" for t, m in groups])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate")
    ax.set_title("the same demonstrations, seen through a 64x64 camera or as the state", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_outputs(result: PixelsResult, out_dir: Path) -> None:
    """pixels.json, pixels.md and pixels.png, rendered first, then written all or nothing."""
    payload = {
        "pixels.json": (json_line(result.as_dict(), indent=2) + "\n").encode(),
        "pixels.md": markdown(result).encode(),
        "pixels.png": plot_png(result),
    }
    write_files_atomic(out_dir, payload, replace=True)
