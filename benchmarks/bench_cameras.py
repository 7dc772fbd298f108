"""Camera observations inside BC: minibatch assembly against the training step, and acting latency.

Issue 13's remaining CPU figures, measured on the real code path (``Dataset`` with dict
observations -> ``bc`` minibatches -> ``VisionPolicy``), at 1 torch thread:

* **batch assembly**: one minibatch of 64 observation windows (To = 2, so 128 frames of 96x96x3
  uint8 plus the state key) drawn by BC's own minibatch source from a dict dataset of
  ``--frames`` frames in memory; median over ``--reps`` minibatches;
* **the training step** in the same run: ``bc.fit`` of a vision diffusion policy (crop 84, MLP
  denoiser, To 2, Tp 16) for ``--steps`` steps at batch 64, wall time per step (assembly
  included); for the conv and the ResNet-18 encoder;
* **acting latency per chunk** at batch 1: ``policy.act`` on one observation right after a reset
  (the queue is empty, so every call encodes the frames and samples a new chunk of 16 actions by
  10 DDIM steps); median of ``--calls`` calls; both encoders, both denoisers.

The frames are random bytes: timing does not depend on what they show.

Run (from the repository root):

    .venv/bin/python benchmarks/bench_cameras.py [--frames 20000] [--reps 50] [--steps 4] [--calls 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import gymnasium as gym
import numpy as np
import torch

from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.envs.base import TaskSpec
from mimetic.nets.vision import VisionConfig
from mimetic.observations import DictObs
from mimetic.policies import DiffusionConfig, DiffusionPolicy, VisionPolicy
from mimetic.types import Trajectory

SIDE, BATCH, EPISODE = 96, 64, 100
SPEC = TaskSpec(name="bench-cameras", gym_id="BenchCameras-v0", max_steps=EPISODE,
                observation_space=gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (SIDE, SIDE, 3), np.uint8),
                                                   "state": gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)}),
                action_space=gym.spaces.Box(-1.0, 1.0, (2,), np.float32))


def dataset(frames: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    trajs = []
    for e in range(max(1, frames // (EPISODE + 1))):
        obs = DictObs({"image": rng.integers(0, 256, (EPISODE + 1, SIDE, SIDE, 3), dtype=np.uint8),
                       "state": rng.normal(size=(EPISODE + 1, 2)).astype(np.float32)})
        trajs.append(Trajectory(obs=obs, acts=rng.uniform(-1, 1, (EPISODE, 2)).astype(np.float32),
                                rewards=np.zeros(EPISODE), terminated=False, truncated=True, seed=e))
    return Dataset.from_trajectories(trajs, spec=SPEC)


def policy(encoder: str, denoiser: str = "mlp") -> VisionPolicy:
    head = DiffusionConfig(denoiser=denoiser, obs_horizon=2, pred_horizon=16, action_horizon=8)
    return VisionPolicy.for_spec(SPEC, DiffusionPolicy, head, vision=VisionConfig(encoder=encoder, crop=84), seed=0)


def assembly_ms(ds: Dataset, reps: int) -> float:
    batches, _ = bc._batch_source(policy("conv"), ds, BATCH, torch.Generator().manual_seed(0))
    next(batches)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        next(batches)
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def step_ms(ds: Dataset, encoder: str, steps: int) -> float:
    pol = policy(encoder)
    bc.fit(pol, ds, bc.BCConfig(steps=1, batch_size=BATCH))  # warm-up
    t = time.perf_counter()
    bc.fit(pol, ds, bc.BCConfig(steps=steps, batch_size=BATCH, log_every=steps))
    return 1e3 * (time.perf_counter() - t) / steps


def chunk_ms(ds: Dataset, encoder: str, denoiser: str, calls: int) -> float:
    pol = policy(encoder, denoiser).eval()
    obs = ds.obs[np.array([5])]
    times = []
    for i in range(calls + 2):
        pol.reset(np.ones(1, bool))
        t = time.perf_counter()
        pol.act(obs)
        if i >= 2:  # two warm-up calls
            times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=20_000, help="frames in the dataset (in memory)")
    ap.add_argument("--reps", type=int, default=50, help="minibatches timed")
    ap.add_argument("--steps", type=int, default=4, help="timed training steps per encoder (conv: 4x as many)")
    ap.add_argument("--calls", type=int, default=20, help="act() calls timed per policy")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    t0 = time.time()
    ds = dataset(args.frames)
    print(f"{ds} ({ds.obs['image'].nbytes / 1e9:.2f} GB of frames)")
    asm = assembly_ms(ds, args.reps)
    steps = {"conv": step_ms(ds, "conv", 4 * args.steps), "resnet18": step_ms(ds, "resnet18", args.steps)}
    lat = {(e, d): chunk_ms(ds, e, d, args.calls) for e in ("conv", "resnet18") for d in ("mlp", "unet")}
    print(f"\n{time.time() - t0:.0f} s; load average at end: {os.getloadavg()}\n")
    print(f"| encoder (96 px, crop 84) | bc.fit step, batch {BATCH} x To 2, ms | samples/s | "
          f"assembly ({asm:.2f} ms) / step |")
    print("|---|---:|---:|---:|")
    for enc, ms in steps.items():
        print(f"| {enc} | {ms:.0f} | {1e3 * BATCH / ms:.0f} | {asm / ms:.3f} |")
    print("\n| encoder | denoiser | ms per chunk of 16 actions at batch 1 (10 DDIM steps) |")
    print("|---|---|---:|")
    for (enc, den), ms in lat.items():
        print(f"| {enc} | {den} | {ms:.1f} |")


if __name__ == "__main__":
    main()
