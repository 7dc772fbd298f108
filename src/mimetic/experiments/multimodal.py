"""``mimetic experiment multimodal``: MSE-BC vs policies that model the action distribution.

The hypothesis (Bishop 1994; Chi et al. 2023, Fig. 3; Shafiullah et al. 2022): when the expert is
multimodal -- on the ``multimodal`` task it passes the obstacle left or right by a coin the learner
cannot see -- a regressor trained with squared error learns the *average* expert action, which
points straight into the obstacle, while a policy that models the action distribution (a mixture
density head, a diffusion policy) commits to one side and gets through. For each training seed:

1. **demonstrations**: the expert drives ``demos`` episodes (reset seeds
   ``seeding.EPISODES(seed, seeding.DEMO_OFFSET + k)``, away from evaluation's); every method trains on the same set;
2. **methods**, each trained from scratch by ``bc.fit`` (``bc_steps`` steps):
   ``mse`` (MLP, deterministic head: plain BC), ``mixture`` (MLP, mixture-of-gaussians head; acts
   with the mean of the most likely component), ``diffusion`` (DDPM-trained, DDIM-sampled action
   chunks, MLP denoiser) and ``act`` (ACT action chunking with a CVAE kept from collapsing by free
   bits, one prior draw z per episode when acting);
3. **evaluation**: ``eval_episodes`` episodes from reset seed 10 000: success (ended at the goal),
   crashes (ended on the obstacle), time-outs, and which side the successful episodes passed on;
4. **the action distribution at the start**: ``samples`` actions drawn at a canonical first
   observation (x = y = 0, goal (0, 2)): the mixture head sampled, diffusion chunks from fresh
   noise (their first action), ACT's chunk at the z it acts with (and, with a CVAE, decoded from
   prior draws z ~ N(0, I), the draws an episode starts with); MSE has a single output.

Outputs (``out_dir``, written as a whole or not at all): ``multimodal.json``, ``multimodal.md``,
``multimodal.png`` (paths of the first seed's evaluation episodes over the obstacle and goal, and
the sampled start actions over the action plane, one panel per method).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from mimetic import seeding
from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.envs.base import TaskSpec
from mimetic.envs.multimodal import (
    GOAL_RADIUS,
    GOAL_Y,
    OBSTACLE,
    OBSTACLE_RADIUS,
    episode_success,
)
from mimetic.errors import ConfigError
from mimetic.experiments.cells import Cells
from mimetic.policies import (
    ChunkingConfig,
    ChunkingPolicy,
    DiffusionConfig,
    DiffusionPolicy,
    MLPConfig,
    MLPPolicy,
)
from mimetic.rollout import collect, rollout, summarize
from mimetic.runs import json_line, write_files_atomic
from mimetic.types import Trajectory

METHODS = ("mse", "mixture", "diffusion", "act")
NAMES = {"mse": "MSE-BC", "mixture": "mixture (MDN)", "diffusion": "diffusion", "act": "ACT"}
FILES = ("multimodal.json", "multimodal.md", "multimodal.png")
EVAL_SEED = seeding.EVAL_SEED
START_OBS = np.array([[0.0, 0.0, 0.0, GOAL_Y]], np.float32)  # (1, 4) canonical first observation
TARGETS = {"mse": ("<=", 0.1), "diffusion": (">=", 0.9)}  # issue 5: MSE-BC near 0, diffusion >= 0.9


@dataclass(frozen=True)
class MultimodalConfig:
    """Options of the multimodal experiment (success of MSE-BC vs mixture vs diffusion vs ACT)."""

    methods: tuple[str, ...] = METHODS
    """Methods to compare: mse (MLP, MSE loss), mixture (MLP, mixture-of-gaussians head),
    diffusion (diffusion policy, MLP denoiser), act (ACT action chunking)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    """Training seeds: each seeds the demonstrations, network initialisation, minibatches and sampling."""

    demos: int = 100
    """Expert demonstration episodes per seed (about 27 steps each)."""

    bc_steps: int = 3000
    """Gradient steps of every fit (batch batch_size, AdamW, cosine learning rate)."""

    batch_size: int = 256
    """Minibatch size of every fit."""

    eval_episodes: int = 100
    """Evaluation episodes of every policy, from reset seed 10000."""

    samples: int = 500
    """Actions sampled at the start observation per method, for the action-distribution plot."""

    lr: float = 1e-3
    """Learning rate of the MLP policies (mse, mixture)."""

    hidden: tuple[int, ...] = (256, 256)
    """MLP policies (mse, mixture): hidden layer widths (tanh)."""

    mixture_components: int = 5
    """mixture: gaussian components K."""

    diffusion_lr: float = 3e-3
    """diffusion: learning rate (the rate its measured 0.95 success in docs/policies.md used)."""

    diffusion_hidden: tuple[int, ...] = (256, 256, 256)
    """diffusion: hidden layer widths of the MLP denoiser."""

    diffusion_inference_steps: int = 10
    """diffusion: DDIM sampling steps per action chunk."""

    act_lr: float = 1e-3
    """act: learning rate."""

    act_backbone: Literal["transformer", "mlp"] = "transformer"
    """act: network, transformer (ACT) or mlp."""

    act_cvae: bool = True
    """act: train as a conditional VAE (ACT's latent z), with act_free_bits and act_latent_sample."""

    act_free_bits: float = 0.1
    """act: KL penalty only above this many nats per latent dimension (0 = ACT's plain KL, which
    collapsed the latent on this task)."""

    act_latent_sample: Literal["zero", "episode"] = "episode"
    """act: z = 0 when acting (ACT's choice) or one prior draw per episode (passes both sides)."""

    act_chunk_size: int = 10
    """act: actions k per predicted chunk (temporal ensembling over the overlaps)."""

    act_d_model: int = 32
    """act: transformer token width (ChunkingConfig's default 64 with 2 layers reached the same
    success at 4x the training time)."""

    act_layers: int = 1
    """act: transformer encoder and decoder layers."""

    act_feedforward: int = 128
    """act: transformer feed-forward width."""

    act_hidden: tuple[int, ...] = (256, 256)
    """act: hidden layer widths of the mlp backbone (and its CVAE encoder)."""

    def __post_init__(self) -> None:
        # A CLI or JSON may hand in lists; keep the frozen config hashable.
        object.__setattr__(self, "methods", tuple(str(m) for m in self.methods))
        for name in ("seeds", "hidden", "diffusion_hidden", "act_hidden"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        unknown = [m for m in self.methods if m not in METHODS]
        if not self.methods or unknown or len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"methods must be distinct names among {', '.join(METHODS)}, got {self.methods}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ConfigError(f"seeds must be one or more distinct values >= 0, got {self.seeds}")
        for name in ("demos", "bc_steps", "batch_size", "eval_episodes", "samples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "diffusion_lr", "act_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        # The policies' own checks, before any work.
        self.mlp_config("mixture")
        self.diffusion_config()
        self.act_config()

    def mlp_config(self, method: str) -> MLPConfig:
        head = "mixture" if method == "mixture" else "deterministic"
        return MLPConfig(hidden=self.hidden, activation="tanh", head=head,
                         mixture_components=self.mixture_components)

    def diffusion_config(self) -> DiffusionConfig:
        return DiffusionConfig(hidden=self.diffusion_hidden, inference_steps=self.diffusion_inference_steps)

    def act_config(self) -> ChunkingConfig:
        return ChunkingConfig(backbone=self.act_backbone, cvae=self.act_cvae, chunk_size=self.act_chunk_size,
                              d_model=self.act_d_model, layers=self.act_layers,
                              feedforward=self.act_feedforward, hidden=self.act_hidden,
                              free_bits=self.act_free_bits if self.act_cvae else 0.0,
                              latent_sample=self.act_latent_sample if self.act_cvae else "zero")


@dataclass(frozen=True)
class Episode:
    """One evaluation episode of the first seed, for the plot: its (x, y) path and how it ended."""

    outcome: Literal["goal", "obstacle", "timeout"]
    path: tuple[tuple[float, float], ...]  # (T+1) positions, rounded to mm


@dataclass(frozen=True)
class StartActions:
    """Actions at the canonical start observation (task units), first seed only."""

    acted: tuple[float, float]  # what the policy executes there (mse/mixture: deterministic act)
    samples: tuple[tuple[float, float], ...]  # draws from the policy's action distribution
    prior_samples: tuple[tuple[float, float], ...]  # act with a CVAE: decoded from z ~ N(0, I)


@dataclass(frozen=True)
class MultimodalCell:
    """One method and training seed."""

    method: str
    seed: int
    transitions: int  # demonstrated (state, action) pairs
    success_rate: float
    crash_rate: float  # ended on the obstacle
    timeout_rate: float  # neither goal nor obstacle within the step limit
    left_share: float | None  # of the successful episodes, those passing left (None: no success)
    return_mean: float
    length_mean: float
    train_s: float
    eval_s: float
    episodes: tuple[Episode, ...]  # first seed only (the plot); empty otherwise
    start: StartActions | None  # first seed only


@dataclass(frozen=True)
class MultimodalSummary:
    """One method over seeds (``*_sd``: standard deviation over seeds)."""

    method: str
    success_rate: float
    success_sd: float
    crash_rate: float
    timeout_rate: float
    left_share: float | None  # mean over the seeds with successes
    train_s: float


@dataclass(frozen=True)
class MultimodalResult:
    config: MultimodalConfig
    expert_success: float  # the expert on the evaluation starts
    cells: tuple[MultimodalCell, ...]
    summary: tuple[MultimodalSummary, ...]
    demo_start_actions: tuple[tuple[float, float], ...]  # the expert's first actions in the first seed's demos
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"experiment": "multimodal", "task": "multimodal", "config": asdict(self.config),
                "expert_success": self.expert_success, "targets": targets_met(self),
                "summary": [asdict(s) for s in self.summary], "cells": [asdict(c) for c in self.cells],
                "demo_start_actions": [list(a) for a in self.demo_start_actions], "wall_s": self.wall_s}


def run_multimodal(config: MultimodalConfig, *, out_dir: Path | None = None,
                   progress: bool = False, cells: Cells | None = None) -> MultimodalResult:
    """Train every method on every seed's demonstrations; evaluate; sample start actions; summarise.

    With ``out_dir`` (absent or an empty folder, checked before any work), write multimodal.json,
    multimodal.md and multimodal.png there, all or nothing.
    """
    if cells is None:  # a new folder (absent or empty, checked before any work); the CLI passes one to resume
        cells = Cells.start(out_dir, header={"experiment": "multimodal", "config": asdict(config)})
    start = time.perf_counter()
    task = make_task("multimodal", num_envs=min(config.eval_episodes, 32))
    expert_trajs = collect(task, make_expert("multimodal"), episodes=config.eval_episodes, seed=EVAL_SEED)
    expert_success = float(np.mean([episode_success(t) for t in expert_trajs]))
    results: list[MultimodalCell] = []
    first_actions: tuple[tuple[float, float], ...] = ()
    jobs = [(s, m) for s in config.seeds for m in config.methods]
    demos: dict[int, list[Trajectory]] = {}
    with tqdm(jobs, desc="multimodal", unit="fit", disable=not progress) as bar:
        for seed, method in bar:
            bar.set_postfix(seed=seed, method=method, refresh=False)
            if seed not in demos:
                demos = {seed: demonstrations(config, seed)}  # one seed's set at a time
                if not first_actions:
                    first_actions = tuple(_pair(t.acts[0]) for t in demos[seed])
            results.append(cells(f"{method}-seed{seed}", partial(run_cell, config, method, demos[seed], seed,
                                                                  first=seed == config.seeds[0]),
                                 kind=MultimodalCell))
    summary = tuple(_summarize([c for c in results if c.method == m]) for m in config.methods)
    result = MultimodalResult(config=config, expert_success=expert_success, cells=tuple(results), summary=summary,
                              demo_start_actions=first_actions, wall_s=time.perf_counter() - start)
    if out_dir is not None:
        write_outputs(result, Path(out_dir))
    return result


# ----------------------------------------------------------------------------- one fit each


def demonstrations(config: MultimodalConfig, seed: int) -> list[Trajectory]:
    """``demos`` expert episodes; every method of this seed trains on them."""
    task = make_task("multimodal", num_envs=min(config.demos, 16))
    return collect(task, make_expert("multimodal"), episodes=config.demos,
                   seed=seeding.EPISODES(seed, seeding.DEMO_OFFSET))


Builder = Callable[[MultimodalConfig, TaskSpec, int], tuple[Any, float]]


def _mlp(method: str) -> Builder:
    return lambda c, spec, seed: (MLPPolicy.for_spec(spec, c.mlp_config(method), seed=seed), c.lr)


# name -> (config, spec, seed) -> (untrained policy, learning rate); a new method is one entry here
BUILDERS: dict[str, Builder] = {
    "mse": _mlp("mse"),
    "mixture": _mlp("mixture"),
    "diffusion": lambda c, spec, seed: (DiffusionPolicy.for_spec(spec, c.diffusion_config(), seed=seed),
                                        c.diffusion_lr),
    "act": lambda c, spec, seed: (ChunkingPolicy.for_spec(spec, c.act_config(), seed=seed), c.act_lr),
}


def run_cell(config: MultimodalConfig, method: str, demos: list[Trajectory], seed: int, *,
             first: bool) -> MultimodalCell:
    """Train ``method`` on ``demos`` with training seed ``seed``, evaluate it, and (``first``) keep
    its evaluation paths and start-action samples for the plot."""
    task = make_task("multimodal", num_envs=min(config.eval_episodes, 32))
    policy, lr = BUILDERS[method](config, task.spec, seed)
    dataset = Dataset.from_trajectories(demos, spec=task.spec)
    fit = bc.fit(policy, dataset, bc.BCConfig(steps=config.bc_steps, batch_size=config.batch_size, lr=lr, seed=seed))
    t0 = time.perf_counter()
    trajs = rollout(task, policy, episodes=config.eval_episodes, seed=EVAL_SEED)
    eval_s = time.perf_counter() - t0
    res = summarize(task.spec, trajs, seed=EVAL_SEED)
    outcomes = [_outcome(t) for t in trajs]
    wins = [t for t, o in zip(trajs, outcomes) if o == "goal"]
    episodes = tuple(Episode(outcome=o, path=tuple(_pair(p, 3) for p in t.obs[:, :2]))
                     for t, o in zip(trajs, outcomes)) if first else ()
    return MultimodalCell(
        method=method, seed=seed, transitions=sum(len(t) for t in demos),
        success_rate=float(np.mean([o == "goal" for o in outcomes])),
        crash_rate=float(np.mean([o == "obstacle" for o in outcomes])),
        timeout_rate=float(np.mean([o == "timeout" for o in outcomes])),
        left_share=float(np.mean([_passed_left(t) for t in wins])) if wins else None,
        return_mean=res.return_mean, length_mean=res.length_mean, train_s=fit.wall_s, eval_s=eval_s,
        episodes=episodes, start=start_actions(method, policy, config.samples, seed) if first else None)


def _outcome(traj: Trajectory) -> Literal["goal", "obstacle", "timeout"]:
    if episode_success(traj):
        return "goal"
    return "obstacle" if traj.terminated else "timeout"


def _passed_left(traj: Trajectory) -> bool:
    """The side of the obstacle an episode went round: the sign of x where it was farthest out."""
    x = traj.obs[:, 0]
    return bool(x[np.argmax(np.abs(x))] < 0)


def _pair(values: np.ndarray, digits: int = 4) -> tuple[float, float]:
    return (round(float(values[0]), digits), round(float(values[1]), digits))


def start_actions(method: str, policy: Any, n: int, seed: int) -> StartActions:
    """The executed action and ``n`` draws from the policy's action distribution at START_OBS."""
    gen = torch.Generator().manual_seed(seeding.SAMPLE_DRAWS(seed))
    obs = np.repeat(START_OBS, n, axis=0)  # (n, 4)
    prior: np.ndarray = np.zeros((0, 2), np.float32)
    if isinstance(policy, MLPPolicy):
        acted = policy.act(START_OBS)[0]
        samples = policy.act(obs, deterministic=False, generator=gen)  # mse: its one output, n times
    elif isinstance(policy, DiffusionPolicy):
        policy.reset(np.ones(1, bool))
        acted = policy.act(START_OBS)[0]  # the first action of the chunk it executes
        window = torch.from_numpy(obs[:, None]).expand(n, policy.obs_horizon, obs.shape[1])  # (n, To, 4)
        samples = policy.sample(window.to(policy.device), generator=gen)[:, 0].cpu().numpy()  # (n, 2): first actions
    else:
        assert isinstance(policy, ChunkingPolicy), f"no start-action sampler for {method}"
        policy.reset(np.ones(1, bool))
        acted = policy.act(START_OBS)[0]
        samples = acted[None]
        if policy.posterior is not None:
            prior = _act_prior_draws(policy, obs, gen)
    return StartActions(acted=_pair(acted), samples=tuple(_pair(a) for a in samples),
                        prior_samples=tuple(_pair(a) for a in prior))


def _act_prior_draws(policy: ChunkingPolicy, obs: np.ndarray, gen: torch.Generator) -> np.ndarray:
    """A CVAE's decoder at z ~ N(0, I): the modes its latent learned (with latent_sample "episode"
    each episode acts with one such draw). (n, O) -> (n, A) first actions of the chunks."""
    n, to = len(obs), policy.obs_horizon
    x = torch.from_numpy(obs)[:, None].expand(n, to, obs.shape[1])  # (n, To, O)
    z = torch.randn((n, policy.config.latent_dim), generator=gen)  # (n, Z)
    return policy.predict(x.to(policy.device), z)[:, 0].cpu().numpy()


# ----------------------------------------------------------------------------- aggregation


def _summarize(cells: list[MultimodalCell]) -> MultimodalSummary:
    success = np.array([c.success_rate for c in cells])
    left = [c.left_share for c in cells if c.left_share is not None]
    return MultimodalSummary(
        method=cells[0].method, success_rate=float(success.mean()), success_sd=float(success.std()),
        crash_rate=float(np.mean([c.crash_rate for c in cells])),
        timeout_rate=float(np.mean([c.timeout_rate for c in cells])),
        left_share=float(np.mean(left)) if left else None,
        train_s=float(np.mean([c.train_s for c in cells])))


def summary_of(result: MultimodalResult, method: str) -> MultimodalSummary:
    return next(s for s in result.summary if s.method == method)


def targets_met(result: MultimodalResult) -> dict[str, bool]:
    """Issue 5's targets for the methods that ran: mean success of mse <= 0.1, of diffusion >= 0.9."""
    out = {}
    for method, (op, bound) in TARGETS.items():
        if method in result.config.methods:
            s = summary_of(result, method).success_rate
            out[method] = s <= bound if op == "<=" else s >= bound
    return out


# ----------------------------------------------------------------------------- outputs


def markdown(result: MultimodalResult) -> str:
    """The setup, the success table (per seed and mean) and the targets (multimodal.md)."""
    c = result.config
    net = (f"d_model {c.act_d_model}, {c.act_layers} layer(s)" if c.act_backbone == "transformer"
           else f"{list(c.act_hidden)}")
    cvae = f" + CVAE (free bits {c.act_free_bits:g}, z: {c.act_latent_sample})" if c.act_cvae else ""
    act = (f"; ACT {c.act_backbone} ({net}){cvae}, chunk {c.act_chunk_size}, "
           f"lr {c.act_lr:g}" if "act" in c.methods else "")
    setup = (f"Task multimodal; seeds {list(c.seeds)}; {c.demos} expert demonstrations per seed; "
             f"{c.eval_episodes} evaluation episodes from reset seed {EVAL_SEED} (expert success "
             f"{result.expert_success:.2f}); every fit {c.bc_steps} BC steps, batch {c.batch_size}; MLP "
             f"{list(c.hidden)} tanh, lr {c.lr:g}; mixture K = {c.mixture_components}; diffusion MLP denoiser "
             f"{list(c.diffusion_hidden)}, {c.diffusion_inference_steps} DDIM steps, lr {c.diffusion_lr:g}{act}. "
             f"Wall time {result.wall_s:.0f} s.")
    seeds = " | ".join(f"seed {s}" for s in c.seeds)
    lines = [f"# Multimodal expert: {', '.join(NAMES[m] for m in c.methods)}", "", setup, "",
             ("Success rate (ended at the goal); crashes ended on the obstacle; 'passes left': share of "
              "the successful episodes that went round on the left (the expert: about half)."), "",
             f"| method | {seeds} | mean ± sd | crashes | time-outs | passes left | train s |",
             "|---|" + "---:|" * (len(c.seeds) + 5)]
    for m in c.methods:
        s = summary_of(result, m)
        per_seed = " | ".join(f"{x.success_rate:.2f}" for x in result.cells if x.method == m)
        left = "-" if s.left_share is None else f"{s.left_share:.2f}"
        lines.append(f"| {NAMES[m]} | {per_seed} | {s.success_rate:.2f} ± {s.success_sd:.2f} | {s.crash_rate:.2f} "
                     f"| {s.timeout_rate:.2f} | {left} | {s.train_s:.1f} |")
    met = targets_met(result)
    if met:
        words = {"mse": "MSE-BC success <= 0.1", "diffusion": "diffusion success >= 0.9"}
        lines += ["", "Targets (issue 5): " + "; ".join(f"{words[m]}: {'met' if ok else 'NOT met'}"
                                                      for m, ok in met.items()) + "."]
    lines.append("")
    return "\n".join(lines)


OUTCOME_COLOURS = {"goal": "tab:green", "obstacle": "tab:red", "timeout": "tab:orange"}


def plot_png(result: MultimodalResult) -> bytes:
    """Top row: the first seed's evaluation paths per method over the obstacle and goal (green:
    reached the goal, red: hit the obstacle, orange: timed out). Bottom row: actions at the start
    observation (grey: the expert's first actions in the demonstrations; blue: the policy's
    samples; open star: the action it executes; purple: a CVAE's decoder at z ~ N(0, I))."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state
    from matplotlib.patches import Circle

    c = result.config
    cols = len(c.methods)
    fig = Figure(figsize=(3.2 * cols, 7.4), dpi=110)
    axes = fig.subplots(2, cols, squeeze=False)
    for j, m in enumerate(c.methods):
        cell = next(x for x in result.cells if x.method == m and x.seed == c.seeds[0])
        ax = axes[0, j]
        ax.add_patch(Circle(OBSTACLE, OBSTACLE_RADIUS, color="0.75", zorder=0))
        ax.add_patch(Circle((0.0, GOAL_Y), GOAL_RADIUS, color="tab:green", alpha=0.3, zorder=0))
        for ep in cell.episodes:
            xy = np.array(ep.path)
            ax.plot(xy[:, 0], xy[:, 1], "-", color=OUTCOME_COLOURS[ep.outcome], lw=0.7, alpha=0.5)
            ax.plot(xy[-1, 0], xy[-1, 1], ".", color=OUTCOME_COLOURS[ep.outcome], ms=3)
        s = summary_of(result, m)
        ax.set_title(f"{NAMES[m]}: success {cell.success_rate:.2f} (seed {cell.seed})\n"
                     f"mean over {len(c.seeds)} seed(s) {s.success_rate:.2f}", fontsize=9)
        ax.set_xlim(-1.3, 1.3)
        ax.set_ylim(-0.2, 2.3)
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.grid(True, alpha=0.3)
        _plot_start_actions(axes[1, j], result, cell)
    axes[0, 0].set_ylabel("y (m)")
    axes[1, 0].set_ylabel("action y (velocity)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _plot_start_actions(ax: Any, result: MultimodalResult, cell: MultimodalCell) -> None:
    demo = np.array(result.demo_start_actions).reshape(-1, 2)
    ax.scatter(demo[:, 0], demo[:, 1], s=14, color="0.6", label="expert (demos)", zorder=1)
    start = cell.start
    assert start is not None  # the first seed's cells carry their start actions
    if start.prior_samples:
        prior = np.array(start.prior_samples)
        ax.scatter(prior[:, 0], prior[:, 1], s=5, color="tab:purple", alpha=0.3, label="z ~ N(0, I)", zorder=2)
    samples = np.array(start.samples)
    label = "samples" if cell.method in ("mixture", "diffusion") else "output"
    ax.scatter(samples[:, 0], samples[:, 1], s=5, color="tab:blue", alpha=0.3, label=label, zorder=3)
    ax.plot(*start.acted, "*", mfc="none", mec="black", ms=14, label="executed", zorder=4)
    # a distribution: how the draws split between the two sides (the expert: about half each)
    if samples.std(axis=0).max() > 1e-6:
        ax.text(0.97, 0.03, f"samples x < 0: {np.mean(samples[:, 0] < 0):.0%}", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=7)
    ax.set_xlim(-1.1, 1.1)
    ax.set_ylim(-1.1, 1.1)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.8", lw=0.5)
    ax.axvline(0, color="0.8", lw=0.5)
    ax.set_xlabel("action x (velocity)")
    ax.set_title(f"{NAMES[cell.method]}: actions at the start", fontsize=9)
    ax.legend(fontsize=6, loc="lower left")


def write_outputs(result: MultimodalResult, out_dir: Path) -> None:
    """multimodal.json, .md and .png, rendered first, then written all at once or not at all."""
    payload = {
        "multimodal.json": (json_line(result.as_dict(), indent=2) + "\n").encode(),
        "multimodal.md": markdown(result).encode(),
        "multimodal.png": plot_png(result),
    }
    write_files_atomic(out_dir, payload, replace=True)  # the work folder, cells and all
