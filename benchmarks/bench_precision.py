"""BC training speed in fp32 against bf16 autocast (``BCConfig.precision``) on the CPU.

What is measured, at 1 torch thread: gradient steps per second of ``bc.fit`` (``BCResult.
samples_per_s / batch``, the loop only) for five policies on random data shaped like PushT's
keypoint setting (observation 18, action 2): the MLP BC policy (256x256, and 1024x1024), the
diffusion policy with its MLP denoiser (256x256x256) and with the U-Net ((64, 128) channels),
and ACT (transformer, CVAE). Each (policy, precision) pair is timed ``--rounds`` times, the
pairs interleaved, fp32 and bf16 back to back, so the machine's slow phases hit both; the table
gives the median steps/s and the ratio bf16 / fp32 per round (median, min-max). The final loss
of each run is shown too: bf16 must not break training.

Run (from the repository root):

    .venv/bin/python benchmarks/bench_precision.py [--rounds 3] [--steps 60] [--batch 256]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from mimetic.algos.bc import BCConfig, fit
from mimetic.data import Dataset
from mimetic.envs.base import TaskSpec
from mimetic.policies import (
    ChunkingConfig,
    ChunkingPolicy,
    DiffusionConfig,
    DiffusionPolicy,
    MLPConfig,
    MLPPolicy,
)
from mimetic.types import Trajectory

OBS, ACT = 18, 2


def dataset(episodes: int = 20, length: int = 120, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    import gymnasium as gym

    spec = TaskSpec(name="bench", gym_id="bench", observation_space=gym.spaces.Box(-1, 1, (OBS,), np.float32),
                    action_space=gym.spaces.Box(-1, 1, (ACT,), np.float32), max_steps=length)
    trajs = []
    for _ in range(episodes):
        obs = rng.normal(size=(length + 1, OBS)).astype(np.float32)
        acts = np.tanh(obs[:-1, :ACT]).astype(np.float32)
        trajs.append(Trajectory(obs=obs, acts=acts, rewards=np.zeros(length, np.float32), terminated=False,
                                truncated=True))
    return Dataset.from_trajectories(trajs, spec=spec), spec


def policies(spec) -> dict[str, object]:
    return {
        "MLP BC 256x256": lambda: MLPPolicy.for_spec(spec, MLPConfig(hidden=(256, 256))),
        "MLP BC 1024x1024": lambda: MLPPolicy.for_spec(spec, MLPConfig(hidden=(1024, 1024))),
        "diffusion, MLP denoiser": lambda: DiffusionPolicy.for_spec(spec, DiffusionConfig(obs_horizon=2,
                                                                                         pred_horizon=16)),
        "diffusion, U-Net": lambda: DiffusionPolicy.for_spec(spec, DiffusionConfig(denoiser="unet", obs_horizon=2,
                                                                                  pred_horizon=16)),
        "ACT (CVAE)": lambda: ChunkingPolicy.for_spec(spec, ChunkingConfig(chunk_size=16, cvae=True)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60, help="timed BC steps per run (U-Net and ACT: a third)")
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data, spec = dataset()
    makers = policies(spec)
    speed: dict[tuple[str, str], list[float]] = {}
    ratio: dict[str, list[float]] = {}
    loss: dict[tuple[str, str], float] = {}
    start = time.time()
    print(f"load average at start: {os.getloadavg()}")
    for r in range(args.rounds):
        names = list(makers) if r % 2 == 0 else list(reversed(makers))
        for name in names:
            steps = args.steps if "BC" in name or "MLP denoiser" in name else max(args.steps // 3, 10)
            pair = {}
            for precision in (("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")):
                policy = makers[name]()
                res = fit(policy, data, BCConfig(steps=steps, batch_size=args.batch, log_every=steps,
                                                 device="cpu", precision=precision))
                pair[precision] = res.samples_per_s / args.batch
                speed.setdefault((name, precision), []).append(pair[precision])
                loss[(name, precision)] = res.final_loss
            ratio.setdefault(name, []).append(pair["bf16"] / pair["fp32"])
            print(f"round {r} {name}: fp32 {pair['fp32']:.1f} steps/s, bf16 {pair['bf16']:.1f}", flush=True)
    print(f"\n{time.time() - start:.0f} s; load average at end: {os.getloadavg()}\n")
    print(f"| policy (batch {args.batch}) | fp32 steps/s | bf16 steps/s | bf16 / fp32 (min-max) "
          "| final loss fp32 / bf16 |")
    print("|---|---:|---:|---:|---:|")
    for name in makers:
        med = {p: statistics.median(speed[(name, p)]) for p in ("fp32", "bf16")}
        rs = ratio[name]
        print(f"| {name} | {med['fp32']:.1f} | {med['bf16']:.1f} | {statistics.median(rs):.2f}x "
              f"({min(rs):.2f}-{max(rs):.2f}) | {loss[(name, 'fp32')]:.3g} / {loss[(name, 'bf16')]:.3g} |")


if __name__ == "__main__":
    main()
