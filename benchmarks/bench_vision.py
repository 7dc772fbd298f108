"""Image encoders on the CPU: training samples/s of an image BC step, fp32 against bf16.

What is measured, at 1 torch thread: one BC training step from camera frames, as an image policy
will take it: uint8 frames (B, 96, 96, 3) -> ``ImageEncoder`` (random crop to 84, Diffusion
Policy's setting) -> an MLP head (256, 256) -> 2 actions, MSE to random targets, backward, AdamW
step. Both encoders (``resnet18``: ResNet-18 with GroupNorm and a spatial-softmax head;
``conv``: three convolutions), fp32 and bf16 autocast (the forward pass; ``mimetic.devices``),
batch 64. Each (encoder, precision) pair is timed ``--rounds`` times, interleaved in alternating
order, after one warm-up step; the table gives the median samples/s and the per-round ratio
bf16 / fp32 (median, min-max). Also the forward pass alone at batch 1 (what acting costs per
frame), median over ``--calls`` calls.

Run (from the repository root):

    .venv/bin/python benchmarks/bench_vision.py [--rounds 3] [--steps 5] [--batch 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from mimetic import devices
from mimetic.nets import mlp
from mimetic.nets.vision import ImageEncoder, VisionConfig

SIDE, CROP, ACT = 96, 84, 2


def model(encoder: str) -> torch.nn.Module:
    enc = ImageEncoder(VisionConfig(encoder=encoder, crop=CROP), shape=(SIDE, SIDE, 3))
    return torch.nn.Sequential(enc, mlp((enc.config.features, 256, 256, ACT), "relu"))


def steps_per_s(net: torch.nn.Module, precision: str, *, steps: int, batch: int) -> float:
    cpu = torch.device("cpu")
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, foreach=True)
    frames = torch.randint(0, 256, (batch, SIDE, SIDE, 3), dtype=torch.uint8)
    target = torch.rand(batch, ACT) * 2 - 1
    net.train()

    def step() -> None:
        with devices.autocast(cpu, precision):
            loss = (net(frames).float() - target).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - t0)


def latency_ms(net: torch.nn.Module, *, calls: int) -> float:
    net.eval()
    frame = torch.randint(0, 256, (1, SIDE, SIDE, 3), dtype=torch.uint8)
    times = []
    with torch.inference_mode():
        for _ in range(calls + 3):
            t0 = time.perf_counter_ns()
            net(frame)
            times.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(times[3:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per run (conv: 4x as many)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--calls", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    print(f"load average at start: {os.getloadavg()}")
    speed: dict[tuple[str, str], list[float]] = {}
    ratio: dict[str, list[float]] = {}
    for r in range(args.rounds):
        for encoder in (("resnet18", "conv") if r % 2 == 0 else ("conv", "resnet18")):
            steps = args.steps * (4 if encoder == "conv" else 1)
            pair = {}
            for precision in (("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")):
                pair[precision] = steps_per_s(model(encoder), precision, steps=steps, batch=args.batch)
                speed.setdefault((encoder, precision), []).append(pair[precision])
            ratio.setdefault(encoder, []).append(pair["bf16"] / pair["fp32"])
            print(f"round {r} {encoder}: fp32 {pair['fp32']:.1f} samples/s, bf16 {pair['bf16']:.1f}", flush=True)
    lat = {e: latency_ms(model(e), calls=args.calls) for e in ("resnet18", "conv")}
    print(f"\n{time.time() - start:.0f} s; load average at end: {os.getloadavg()}\n")
    print(f"| encoder ({SIDE} px, crop {CROP}, batch {args.batch}) | fp32 samples/s | bf16 samples/s "
          "| bf16 / fp32 (min-max) | forward at batch 1, ms |")
    print("|---|---:|---:|---:|---:|")
    for e in ("resnet18", "conv"):
        med = {p: statistics.median(speed[(e, p)]) for p in ("fp32", "bf16")}
        rs = ratio[e]
        print(f"| {e} | {med['fp32']:.0f} | {med['bf16']:.0f} | {statistics.median(rs):.2f}x "
              f"({min(rs):.2f}-{max(rs):.2f}) | {lat[e]:.1f} |")


if __name__ == "__main__":
    main()
