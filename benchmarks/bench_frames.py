"""Camera frames as training data: memory, file size, and batch assembly against the training step.

Issue 13's targets: a 100k-frame 96x96x3 dataset fits in under 3 GB of RAM, can be read lazily
from a chunked, compressed HDF5 file, and batch assembly takes at most half the time of a
training step. What is measured, at 1 torch thread, on real PushT renders (gym-pusht's 96x96
``pixels`` observation; ``--frames`` of them from random-action episodes of 100 steps):

* bytes per frame in memory (uint8) and in HDF5 files written by ``write_frames`` (one frame
  per chunk; lzf, gzip level 1, uncompressed), and the write time;
* **batch assembly**: the frames of a minibatch of 64 observation windows with To = 2 (128
  frames, the rows from ``window_rows`` at random steps), gathered from memory and lazily from
  each file; median over ``--reps`` minibatches;
* **the training step** it feeds, in the same run: an image BC step on those 128 frames (encoder
  with random crop 84 -> features of both frames -> MLP head -> 2 actions; MSE, backward, AdamW),
  for the conv and the ResNet-18 encoder; median of ``--steps`` steps.

Run (from the repository root; needs mimetic[pusht]):

    .venv/bin/python benchmarks/bench_frames.py [--frames 3000] [--reps 30] [--steps 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mimetic.data.frames import HDF5Frames, MemoryFrames, window_rows, write_frames
from mimetic.nets import mlp
from mimetic.nets.vision import ImageEncoder, VisionConfig

BATCH, TO = 64, 2


def pusht_frames(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n rendered frames (n, 96, 96, 3) uint8 and each frame's episode start row."""
    import gym_pusht  # noqa: F401  (registers the env)
    import gymnasium as gym

    env = gym.make("gym_pusht/PushT-v0", obs_type="pixels")
    rng = np.random.default_rng(seed)
    frames, starts = [], []
    while len(frames) < n:
        start = len(frames)
        obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
        target = rng.uniform(100, 400, 2)
        for t in range(100):
            frames.append(obs)
            starts.append(start)
            if t % 10 == 0:
                target = rng.uniform(100, 400, 2)
            obs, *_ = env.step(target.astype(np.float32))
    env.close()
    return np.stack(frames[:n]).astype(np.uint8), np.array(starts[:n], np.int64)


def median_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def step_ms(encoder: str, frames: np.ndarray, steps: int) -> float:
    enc = ImageEncoder(VisionConfig(encoder=encoder, crop=84), shape=frames.shape[1:])
    head = mlp((TO * enc.config.features, 256, 256, 2), "relu")
    opt = torch.optim.AdamW([*enc.parameters(), *head.parameters()], lr=1e-4, foreach=True)
    x = torch.from_numpy(frames[: BATCH * TO])  # (B To, H, W, C)
    y = torch.rand(BATCH, 2)

    def step() -> None:
        feats = enc(x).reshape(BATCH, -1)  # (B, To D)
        loss = (head(feats) - y).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return median_ms(step, steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    t0 = time.time()
    frames, starts = pusht_frames(args.frames)
    print(f"rendered {len(frames)} frames in {time.time() - t0:.1f} s")
    per_frame = frames[0].nbytes
    print(f"\nin memory: {per_frame} bytes per frame; 100k frames = {100_000 * per_frame / 1e9:.2f} GB "
          f"({100_000 * per_frame / 2**30:.2f} GiB)\n")
    rng = np.random.default_rng(1)

    def rows() -> np.ndarray:
        sample = rng.integers(0, len(frames), BATCH)
        return window_rows(sample, starts[sample], TO).reshape(-1)  # (B To,)

    stores = {"memory": MemoryFrames(frames)}
    sizes = {"memory": float(per_frame)}
    with tempfile.TemporaryDirectory() as tmp:
        for comp in ("lzf", "gzip", "none"):
            t = time.perf_counter()
            path = write_frames(Path(tmp) / f"{comp}.h5", frames, compression=comp)
            write_s = time.perf_counter() - t
            sizes[f"HDF5 {comp}"] = path.stat().st_size / len(frames)
            print(f"HDF5 {comp}: {sizes[f'HDF5 {comp}']:.0f} bytes per frame, written in {write_s:.2f} s")
            stores[f"HDF5 {comp}"] = HDF5Frames(path)
        gather = {name: median_ms(lambda s=store: s.gather(rows()), args.reps) for name, store in stores.items()}
        for store in stores.values():
            if isinstance(store, HDF5Frames):
                store.close()
    step = {e: step_ms(e, frames, args.steps) for e in ("conv", "resnet18")}
    print(f"\n{time.time() - t0:.0f} s; load average at end: {os.getloadavg()}\n")
    print(f"| source | bytes / frame | assembly of {BATCH} windows x To {TO} ({BATCH * TO} frames), ms "
          "| / conv step | / ResNet-18 step |")
    print("|---|---:|---:|---:|---:|")
    for name, ms in gather.items():
        print(f"| {name} | {sizes[name]:.0f} | {ms:.2f} | {ms / step['conv']:.2f} | {ms / step['resnet18']:.3f} |")
    print(f"\ntraining step on those frames (crop 84, batch {BATCH}, To {TO}): conv {step['conv']:.0f} ms, "
          f"ResNet-18 {step['resnet18']:.0f} ms")


if __name__ == "__main__":
    main()
