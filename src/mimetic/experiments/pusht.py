"""``mimetic benchmark pusht``: Diffusion Policy's PushT table, run here on the planner's demonstrations.

Protocol (every number an option):

1. **demonstrations**: ``demos`` episodes of the PushT planning expert (reset seeds ``demo_seed``
   on), the same set for every policy and training seed, as the paper's 200 human demonstrations
   are; or a dataset collected beforehand (``demos_from``, a ``mimetic collect --task pusht``
   folder). The keypoint observations are computed from the same episodes' states.
2. **training**: each policy (``policies``) on each observation kind (``obs``: ``state``, the
   (5,) state, or ``keypoints``, the paper's low-dimensional setting) and training seed, by BC for
   ``train_steps`` steps;
3. **checkpoints**: every ``checkpoint_every`` steps the policy is evaluated on
   ``eval_episodes`` episodes (reset seeds from 10 000, the same at every checkpoint); an
   episode's score is the best reward it reached (coverage / 0.95, clipped), the paper's metric;
4. **the paper's two numbers** per policy and observation kind: the best checkpoint's score and
   the mean over the last ``last`` checkpoints, each averaged over seeds.

Our demonstrations come from a planner, not from people: the paper's numbers beside ours are a
reference, not the same experiment. Outputs (written as a whole or not at all): ``pusht.json``,
``pusht.md``, ``pusht.png``; every finished (policy, obs, seed) cell is kept while it runs.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from mimetic import devices, seeding
from mimetic.algos import bc
from mimetic.data import Dataset, load_minari, save_minari
from mimetic.envs import make_expert, make_task
from mimetic.errors import ConfigError, DataError
from mimetic.experiments.cells import Cells, split_names
from mimetic.policies import (
    ChunkingConfig,
    ChunkingPolicy,
    DiffusionConfig,
    DiffusionPolicy,
    MLPConfig,
    MLPPolicy,
)
from mimetic.rollout import collect, rollout
from mimetic.runs import json_line, write_files_atomic

POLICIES = ("diffusion-unet", "diffusion-mlp", "act", "mse", "mixture")
NAMES = {"diffusion-unet": "diffusion, U-Net", "diffusion-mlp": "diffusion, MLP", "act": "ACT", "mse": "MSE-BC",
         "mixture": "mixture (MDN)"}
OBS = {"state": "pusht", "keypoints": "pusht-keypoints"}
FILES = ("pusht.json", "pusht.md", "pusht.png")
EVAL_SEED = seeding.EVAL_SEED
# Diffusion Policy (Chi et al. 2023), Table 1, PushT, state (keypoint) observations: (max, mean of last 10)
PAPER = {"DP-CNN (diffusion, U-Net)": (0.95, 0.91), "DP-Transformer": (0.95, 0.79), "IBC": (0.90, 0.84),
         "BET": (0.79, 0.70), "LSTM-GMM": (0.67, 0.61)}


@dataclass(frozen=True)
class PushTConfig:
    """Options of the PushT benchmark (diffusion, ACT, MSE-BC and a mixture head on planner demos)."""

    policies: tuple[str, ...] = POLICIES
    """Policies: diffusion-unet, diffusion-mlp, act, mse, mixture (space- or comma-separated)."""

    obs: tuple[str, ...] = ("state", "keypoints")
    """Observation kinds: state (agent and block pose, 5) and keypoints (agent and the T's corners, 18)."""

    seeds: int = 3
    """Training seeds 0 .. seeds - 1 (networks, minibatches, sampling); the demonstrations stay the same."""

    demos: int = 200
    """Planner demonstration episodes (the paper used 200 human ones)."""

    demo_seed: int = 0
    """Reset seed of the first demonstration episode."""

    demos_from: str = ""
    """A dataset to train on instead of collecting (a 'mimetic collect --task pusht' folder)."""

    train_steps: int = 20_000
    """BC gradient steps of every policy."""

    checkpoint_every: int = 2000
    """Steps between evaluated checkpoints."""

    last: int = 10
    """The paper's second number averages the last this many checkpoints."""

    eval_episodes: int = 50
    """Evaluation episodes per checkpoint (reset seeds from 10 000, the same each time)."""

    batch_size: int = 256
    """Minibatch size of every fit."""

    lr: float = 1e-3
    """Learning rate (AdamW, cosine schedule) of every policy."""

    ema: float = 0.999
    """Decay of the weights' moving average every policy is evaluated with (the paper evaluates
    an EMA of its weights); 0 evaluates the trained weights themselves."""

    hidden: tuple[int, ...] = (256, 256)
    """mse and mixture: hidden layer widths (tanh)."""

    obs_horizon: int = 2
    """diffusion: observations the policy conditions on (the paper's To = 2)."""

    pred_horizon: int = 16
    """diffusion: actions predicted per chunk (the paper's Tp = 16)."""

    action_horizon: int = 8
    """diffusion and act: actions executed per chunk (the paper's Ta = 8)."""

    inference_steps: int = 10
    """diffusion: DDIM sampling steps per chunk."""

    device: str = "auto"
    """Where to train and evaluate: auto (a CUDA GPU, else Apple MPS, else the CPU), cpu, cuda,
    cuda:N or mps."""

    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Training precision: fp32, bf16 (CPU or GPU) or fp16 (GPU only)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "policies", split_names(self.policies))
        object.__setattr__(self, "obs", split_names(self.obs))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        bad = [p for p in self.policies if p not in POLICIES]
        if not self.policies or bad or len(set(self.policies)) != len(self.policies):
            raise ConfigError(f"policies must be distinct names among {', '.join(POLICIES)}, got {self.policies}")
        bad = [o for o in self.obs if o not in OBS]
        if not self.obs or bad or len(set(self.obs)) != len(self.obs):
            raise ConfigError(f"obs must be distinct names among {', '.join(OBS)}, got {self.obs}")
        for name in ("seeds", "demos", "train_steps", "checkpoint_every", "last", "eval_episodes", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.checkpoint_every > self.train_steps:
            raise ConfigError(f"checkpoint_every ({self.checkpoint_every}) must be <= train_steps "
                              f"({self.train_steps})")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema must be in [0, 1) (0: no weight average), got {self.ema}")
        devices.check_name(self.device)
        devices.check_precision_name(self.precision)
        self.diffusion_config("unet")  # the policies' own checks, before any work
        self.act_config()

    def diffusion_config(self, denoiser: str) -> DiffusionConfig:
        return DiffusionConfig(denoiser=denoiser, obs_horizon=self.obs_horizon, pred_horizon=self.pred_horizon,
                               action_horizon=self.action_horizon, inference_steps=self.inference_steps)

    def act_config(self) -> ChunkingConfig:
        return ChunkingConfig(chunk_size=self.pred_horizon, cvae=True)

    def mlp_config(self, policy: str) -> MLPConfig:
        return MLPConfig(hidden=self.hidden, activation="tanh",
                         head="mixture" if policy == "mixture" else "deterministic")


@dataclass(frozen=True)
class Checkpoint:
    step: int
    score: float  # mean over episodes of the best reward reached
    success_rate: float


@dataclass(frozen=True)
class PushTCell:
    policy: str
    obs: str
    seed: int
    checkpoints: tuple[Checkpoint, ...]
    best: float  # the best checkpoint's score
    last_mean: float  # mean score of the last `last` checkpoints
    train_s: float
    eval_s: float


@dataclass(frozen=True)
class PushTRow:
    policy: str
    obs: str
    best_mean: float
    best_sd: float
    last_mean: float
    last_sd: float
    success_last: float  # the final checkpoint's success rate, mean over seeds
    train_s: float  # per fit


@dataclass(frozen=True)
class PushTResult:
    config: PushTConfig
    demo_episodes: int
    demo_steps: int
    demo_success: float
    cells: tuple[PushTCell, ...]
    rows: tuple[PushTRow, ...]
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- the run


def run_pusht(config: PushTConfig, *, out_dir: Path | None = None, progress: bool = False,
              cells: Cells | None = None) -> PushTResult:
    """Every (policy, obs, seed) fit with its checkpoints, then the table; with ``out_dir``,
    pusht.json, pusht.md and pusht.png, all or nothing."""
    devices.check_available(config.device, config.precision)  # before any folder is made
    if cells is None:
        cells = Cells.start(out_dir, header={"experiment": "pusht", "config": asdict(config)})
    start = time.perf_counter()
    demos = demonstrations(config, out_dir, progress=progress)
    data = {o: (demos if o == "state" else keypoint_dataset(demos)) for o in config.obs}
    jobs = [(p, o, s) for s in range(config.seeds) for o in config.obs for p in config.policies]
    results = []
    with tqdm(jobs, desc="pusht", unit="fit", disable=not progress) as bar:
        for policy, obs, seed in bar:
            bar.set_postfix(policy=policy, obs=obs, seed=seed, refresh=False)
            results.append(cells(f"{policy}-{obs}-seed{seed}",
                                 partial(run_cell, config, policy, obs, data[obs], seed), kind=PushTCell))
    rows = tuple(_row(config, [c for c in results if c.policy == p and c.obs == o], p, o)
                 for o in config.obs for p in config.policies)
    result = PushTResult(config=config, demo_episodes=demos.n_episodes, demo_steps=demos.n_steps,
                         demo_success=float(demos.metadata.get("success_rate", float("nan"))),
                         cells=tuple(results), rows=rows, wall_s=time.perf_counter() - start)
    if out_dir is not None:
        write_outputs(result, Path(out_dir))
    return result


def demonstrations(config: PushTConfig, out_dir: Path | None, *, progress: bool = False) -> Dataset:
    """The planner's episodes on ``pusht`` (state observations): read from ``demos_from``, from the
    run folder (a resumed run), or collected now (and kept in the run folder until it ends)."""
    if config.demos_from:
        ds = load_minari(config.demos_from)
        if ds.metadata.get("task") not in ("pusht", "gym:gym_pusht/PushT-v0") or ds.obs_shape != (5,):
            raise DataError(f"{config.demos_from} holds {ds.metadata.get('task')!r} data of shape {ds.obs_shape}; "
                            "the PushT benchmark trains on 'mimetic collect --task pusht' demonstrations")
        return ds
    cache = Path(out_dir) / "demos" if out_dir is not None else None
    if cache is not None and (cache / "data").is_dir():
        return load_minari(cache)
    task = make_task("pusht", num_envs=min(config.demos, 8))
    trajs = collect(task, make_expert("pusht"), episodes=config.demos, seed=config.demo_seed, progress=progress)
    ds = Dataset.from_trajectories(trajs, spec=task.spec, metadata={
        "expert": "pusht-planner", "seeds": [config.demo_seed, config.demo_seed + config.demos - 1],
        "success_rate": float(np.mean([task.spec.success(t) for t in trajs]))})
    if cache is not None:
        save_minari(ds, cache)
    return ds


def keypoint_dataset(demos: Dataset) -> Dataset:
    """The same episodes with keypoint observations (agent x, y and the T's 8 corners), computed
    from each state exactly as gym-pusht computes its keypoints."""
    from mimetic.envs.pusht import keypoint_observations

    spec = make_task("pusht-keypoints").spec
    out = Dataset.empty(spec, metadata={**demos.metadata, "task": "pusht-keypoints"})
    out.extend([_with_obs(t, keypoint_observations(t.obs)) for t in demos.episodes()])
    return out


def _with_obs(traj: Any, obs: np.ndarray) -> Any:
    import dataclasses

    return dataclasses.replace(traj, obs=obs.astype(np.float32))


def _policy(config: PushTConfig, policy: str, spec: Any, seed: int) -> Any:
    if policy.startswith("diffusion"):
        return DiffusionPolicy.for_spec(spec, config.diffusion_config(policy.split("-")[1]), seed=seed)
    if policy == "act":
        return ChunkingPolicy.for_spec(spec, config.act_config(), seed=seed)
    return MLPPolicy.for_spec(spec, config.mlp_config(policy), seed=seed)


def run_cell(config: PushTConfig, policy_name: str, obs: str, data: Dataset, seed: int) -> PushTCell:
    """One fit with an evaluation every ``checkpoint_every`` steps."""
    task = make_task(OBS[obs], num_envs=min(config.eval_episodes, 25))
    policy = _policy(config, policy_name, task.spec, seed)
    checkpoints: list[Checkpoint] = []
    eval_s = 0.0

    def evaluate_now(step: int, metrics: dict[str, float]) -> None:
        nonlocal eval_s
        if step % config.checkpoint_every:
            return
        t0 = time.perf_counter()
        policy.eval()
        trajs = rollout(task, policy, episodes=config.eval_episodes, seed=EVAL_SEED)
        policy.train()
        from mimetic.envs.pusht import score

        checkpoints.append(Checkpoint(step=step, score=float(np.mean([score(t) for t in trajs])),
                                      success_rate=float(np.mean([task.spec.success(t) for t in trajs]))))
        eval_s += time.perf_counter() - t0

    log_every = math.gcd(config.checkpoint_every, 100)  # every checkpoint falls on a logging step
    fit = bc.fit(policy, data, bc.BCConfig(steps=config.train_steps, batch_size=config.batch_size, lr=config.lr,
                                            seed=seed, log_every=log_every, ema=config.ema, device=config.device,
                                            precision=config.precision),
                 callback=evaluate_now)
    task.close()
    scores = np.array([c.score for c in checkpoints])
    return PushTCell(policy=policy_name, obs=obs, seed=seed, checkpoints=tuple(checkpoints),
                     best=float(scores.max()), last_mean=float(scores[-config.last:].mean()),
                     train_s=fit.wall_s - eval_s, eval_s=eval_s)


def _row(config: PushTConfig, cells: list[PushTCell], policy: str, obs: str) -> PushTRow:
    best = np.array([c.best for c in cells])
    last = np.array([c.last_mean for c in cells])
    return PushTRow(policy=policy, obs=obs, best_mean=float(best.mean()), best_sd=float(best.std()),
                    last_mean=float(last.mean()), last_sd=float(last.std()),
                    success_last=float(np.mean([c.checkpoints[-1].success_rate for c in cells])),
                    train_s=float(np.mean([c.train_s for c in cells])))


# ----------------------------------------------------------------------------- outputs


def markdown(result: PushTResult) -> str:
    c = result.config
    lines = [
        "# PushT benchmark", "",
        (f"{result.demo_episodes} planner demonstrations ({result.demo_steps} steps; demonstrations from a planner, "
         f"not from people); {c.seeds} training seeds; {c.train_steps} BC steps (batch {c.batch_size}, lr {c.lr:g}), "
         f"a checkpoint every {c.checkpoint_every} steps evaluated on {c.eval_episodes} episodes from reset seed "
         f"{EVAL_SEED}. Score: per episode the best reward (coverage / 0.95, clipped), averaged over episodes. "
         f"Max: the best checkpoint; last-{c.last}: the mean of the last {c.last} checkpoints; each mean ± sd "
         f"over seeds. Wall time {result.wall_s:.0f} s."), "",
        f"| policy | obs | max | last-{c.last} mean | success (final) | train s / fit |",
        "|---|---|---:|---:|---:|---:|"]
    for r in result.rows:
        lines.append(f"| {NAMES[r.policy]} | {r.obs} | {r.best_mean:.3f} ± {r.best_sd:.3f} | "
                     f"{r.last_mean:.3f} ± {r.last_sd:.3f} | {r.success_last:.2f} | {r.train_s:.0f} |")
    lines += ["", "Diffusion Policy's table (PushT, keypoint observations, 200 human demonstrations, 3 seeds; "
              "max / mean of the last 10 checkpoints):", "", "| method | max | last-10 mean |", "|---|---:|---:|"]
    lines += [f"| {name} | {a:.2f} | {b:.2f} |" for name, (a, b) in PAPER.items()]
    return "\n".join(lines) + "\n"


def plot_png(result: PushTResult) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = result.config
    fig, axes = plt.subplots(1, len(c.obs), figsize=(5.5 * len(c.obs), 4), squeeze=False)
    for ax, obs in zip(axes[0], c.obs):
        for policy in c.policies:
            cells = [x for x in result.cells if x.policy == policy and x.obs == obs]
            steps = [p.step for p in cells[0].checkpoints]
            scores = np.array([[p.score for p in x.checkpoints] for x in cells])  # (seeds, K)
            line = ax.plot(steps, scores.mean(axis=0), label=NAMES[policy])[0]
            ax.fill_between(steps, scores.min(axis=0), scores.max(axis=0), color=line.get_color(), alpha=0.15)
        dp_last = PAPER["DP-CNN (diffusion, U-Net)"][1]
        ax.axhline(dp_last, color="gray", ls="--", lw=1, label=f"paper's DP-CNN, last-10 mean ({dp_last:.2f})")
        ax.set(title=f"PushT, {obs} observations", xlabel="BC step", ylabel="score (best coverage / 0.95)",
               ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_outputs(result: PushTResult, out_dir: Path) -> None:
    """pusht.json, .md and .png, rendered first, then written all at once or not at all."""
    payload = {"pusht.json": (json_line(result.as_dict(), indent=2) + "\n").encode(),
               "pusht.md": markdown(result).encode(), "pusht.png": plot_png(result)}
    write_files_atomic(out_dir, payload, replace=True)  # the work folder, cells and demos and all
