"""Diffusion (and ACT chunking) policies on a CPU: sampling latency at batch 1 and training speed.

Issue 5's target: "diffusion inference latency per chunk at batch 1 on CPU <= 10 ms for the
default state-based model with few-step sampling". What is measured, at 1 torch thread, on the
``multimodal`` task (obs 4, actions 2; the state-based setting the target names):

* **per chunk**: ``DiffusionPolicy.sample(obs)`` at batch 1, one (1, To, O) observation window
  -> one (1, Tp, A) action chunk, timed call by call (``perf_counter_ns``) after ``--warmup``
  calls; median and 90th percentile over ``--calls`` calls. Variants: the default
  ``DiffusionConfig()`` (MLP denoiser 256x3, To 2, Tp 8, Ta 4) at ``inference_steps`` 1, 2, 5,
  10 (10 is the default), and the U-Net denoiser (channels (64, 128), kernel 5) at 10 steps (and
  at 2, for information). Weights do not change the cost; the policies are untrained.
* **per act call**: ``policy.act(obs)`` at batch 1 as an episode runs it: a new chunk every
  Ta = 4 calls, the queue in between, so the mean per call is the amortised cost; p90 and max
  show the calls that sample.
* **ACT** (``ChunkingPolicy``, when the module exists): ``predict`` (one chunk of k = 10 at z = 0)
  and ``act`` (temporal ensembling queries every call), default transformer config, with and
  without the CVAE (which only adds a training-time encoder).
* **training**: gradient steps per second of ``bc.fit`` at batch 256 (``BCResult.samples_per_s``
  / 256: the loop only, window building excluded) on 100 expert demonstrations, for both
  denoisers, ACT, and the default MLP BC policy (256x256, deterministic head) as a reference, in
  the same run.
* **quality vs sampling steps** (``--quality``, default on): one default diffusion policy trained
  for 3000 steps at lr 3e-3 (docs/policies.md's setting), its weights then sampled with 1, 2, 5
  and 10 DDIM steps: success over 100 evaluation episodes, so the latency verdict comes with what
  the faster sampler costs in success.

Every timing is repeated ``--rounds`` times, the variants interleaved in alternating order so
that slow phases of the shared machine hit all of them; tables give the median over rounds and
the min-max of the round values.

Run (from the repository root; 242 s at 1 thread on the shared 2-core machine, load 2-4):

    .venv/bin/python benchmarks/bench_diffusion.py [--rounds 3] [--calls 400] [--train-steps 200]
                                                   [--no-quality] [--json benchmarks/_out/diffusion.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mimetic.algos.bc import BCConfig, fit
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.envs.multimodal import episode_success
from mimetic.policies import DiffusionConfig, DiffusionPolicy, MLPConfig, MLPPolicy
from mimetic.rollout import collect, rollout

try:  # the ACT module is written alongside; the benchmark runs without it
    from mimetic.policies import ChunkingConfig, ChunkingPolicy
except ImportError:  # pragma: no cover
    ChunkingConfig = ChunkingPolicy = None  # type: ignore[assignment,misc]

TASK = "multimodal"
BATCH = 256
TARGET_MS = 10.0
STEPS = (1, 2, 5, 10)


def _spec():
    return make_task(TASK).spec


def diffusion_variants() -> dict[str, DiffusionConfig]:
    base = DiffusionConfig()
    out = {f"mlp, {k} steps": replace(base, inference_steps=k) for k in STEPS}
    out["unet, 10 steps"] = replace(base, denoiser="unet", inference_steps=10)
    out["unet, 2 steps"] = replace(base, denoiser="unet", inference_steps=2)
    return out


def act_variants() -> dict[str, Any]:
    if ChunkingConfig is None:
        return {}
    return {"act transformer": ChunkingConfig(), "act transformer + cvae": ChunkingConfig(cvae=True)}


def _build(config: Any) -> Any:
    if isinstance(config, DiffusionConfig):
        return DiffusionPolicy.for_spec(_spec(), config, seed=0)
    if isinstance(config, MLPConfig):
        return MLPPolicy.for_spec(_spec(), config, seed=0)
    return ChunkingPolicy.for_spec(_spec(), config, seed=0)


def _times_ms(fn: Callable[[], Any], *, calls: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        fn()
    out = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter_ns()
        fn()
        out[i] = (time.perf_counter_ns() - t0) / 1e6
    return out


def chunk_latency(policy: Any, *, calls: int, warmup: int) -> np.ndarray:
    """One chunk per call at batch 1: ``sample`` (diffusion) or ``predict`` (ACT)."""
    window = torch.zeros((1, policy.obs_horizon, 4))
    window[..., 3] = 2.0  # the goal; the start position (0, 0)
    fn = policy.sample if isinstance(policy, DiffusionPolicy) else policy.predict
    return _times_ms(lambda: fn(window), calls=calls, warmup=warmup)


def act_latency(policy: Any, *, calls: int, warmup: int) -> np.ndarray:
    """``act`` at batch 1 on one fixed observation, as an episode calls it (queue included)."""
    obs = np.array([[0.0, 0.0, 0.0, 2.0]], np.float32)
    policy.reset(np.ones(1, bool))
    return _times_ms(lambda: policy.act(obs), calls=calls, warmup=warmup)


def train_steps_per_s(config: Any, data: Dataset, *, steps: int) -> float:
    policy = _build(config)
    res = fit(policy, data, BCConfig(steps=steps, batch_size=BATCH, seed=0, log_every=steps))
    return res.samples_per_s / BATCH


def quality(data: Dataset, *, episodes: int) -> dict[str, Any]:
    """Train the default diffusion policy once; success when its weights sample with k DDIM steps."""
    trained = DiffusionPolicy.for_spec(_spec(), DiffusionConfig(), seed=0)
    res = fit(trained, data, BCConfig(steps=3000, lr=3e-3, seed=0))
    out: dict[str, Any] = {"train_s": res.wall_s, "success": {}}
    for k in STEPS:
        policy = DiffusionPolicy.for_spec(_spec(), DiffusionConfig(inference_steps=k), seed=0)
        policy.load_state_dict(trained.state_dict())
        trajs = rollout(make_task(TASK, num_envs=32), policy, episodes=episodes, seed=10_000)
        out["success"][k] = float(np.mean([episode_success(t) for t in trajs]))
    return out


def _stats(rounds: list[np.ndarray]) -> dict[str, Any]:
    """Median, p90, mean and max per round; the table takes the median over rounds."""
    per = [{"median": float(np.median(r)), "p90": float(np.percentile(r, 90)), "mean": float(np.mean(r)),
            "max": float(np.max(r))} for r in rounds]
    return {key: [p[key] for p in per] for key in per[0]}


def _fmt(values: list[float], digits: int = 2) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    task = make_task(TASK, num_envs=16)
    data = Dataset.from_trajectories(collect(task, make_expert(TASK), episodes=100, seed=0), spec=task.spec)
    variants: dict[str, Any] = {**diffusion_variants(), **act_variants()}
    policies = {name: _build(cfg) for name, cfg in variants.items()}
    chunk: dict[str, list[np.ndarray]] = {n: [] for n in variants}
    act: dict[str, list[np.ndarray]] = {n: [] for n in variants}
    trainable = {"bc mlp 256x256 (reference)": MLPConfig(head="deterministic"),
                 "diffusion mlp": DiffusionConfig(), "diffusion unet": DiffusionConfig(denoiser="unet"),
                 **{k: v for k, v in act_variants().items()}}
    train: dict[str, list[float]] = {n: [] for n in trainable}
    for r in range(args.rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            print(f"round {r}: latency {name}", file=sys.stderr, flush=True)
            calls = args.calls if "unet" not in name else max(args.calls // 2, 20)
            chunk[name].append(chunk_latency(policies[name], calls=calls, warmup=args.warmup))
            act[name].append(act_latency(policies[name], calls=4 * calls, warmup=args.warmup))
        torder = list(trainable) if r % 2 == 0 else list(reversed(trainable))
        for name in torder:
            print(f"round {r}: training {name}", file=sys.stderr, flush=True)
            steps = args.train_steps * (5 if name.startswith("bc") else 1)
            train[name].append(train_steps_per_s(trainable[name], data, steps=steps))
    out: dict[str, Any] = {
        "chunk_ms": {n: _stats(v) for n, v in chunk.items()},
        "act_ms": {n: _stats(v) for n, v in act.items()},
        "train_steps_per_s": train,
        "transitions": len(data.transitions()[1]),
    }
    if args.quality:
        print("quality: training the default diffusion policy (3000 steps)", file=sys.stderr, flush=True)
        out["quality"] = quality(data, episodes=args.episodes)
    return out


def report(res: dict[str, Any], args: argparse.Namespace) -> str:
    q = res.get("quality", {}).get("success", {})
    lines = ["Per chunk, batch 1 (ms; median over rounds of each round's median / p90, min-max over rounds):", "",
             "| policy | median ms | p90 ms | meets 10 ms | success (trained default, 100 episodes) |",
             "|---|---:|---:|---|---:|"]
    for name, s in res["chunk_ms"].items():
        steps = int(name.split(", ")[1].split()[0]) if name.startswith("mlp") else None
        succ = f"{q[steps]:.2f}" if steps in q else "-"
        ok = "yes" if statistics.median(s["p90"]) <= TARGET_MS else "no"
        lines.append(f"| {name} | {_fmt(s['median'])} | {_fmt(s['p90'])} | {ok} | {succ} |")
    lines += ["", "Per `act` call, batch 1 (ms; mean = amortised over the queue):", "",
              "| policy | mean ms | median ms | p90 ms | max ms |", "|---|---:|---:|---:|---:|"]
    for name, s in res["act_ms"].items():
        lines.append(f"| {name} | {_fmt(s['mean'])} | {_fmt(s['median'], 3)} | {_fmt(s['p90'])} | {_fmt(s['max'])} |")
    lines += ["", f"Training, batch {BATCH} ({res['transitions']} transitions; steps/s of the loop):", "",
              "| policy | steps/s | samples/s |", "|---|---:|---:|"]
    for name, v in res["train_steps_per_s"].items():
        lines.append(f"| {name} | {_fmt(v, 1)} | {_fmt([x * BATCH for x in v], 0)} |")
    if "quality" in res:
        lines += ["", f"Quality check: default diffusion policy trained in {res['quality']['train_s']:.0f} s."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="interleaved repeats of every timing (default: 3)")
    p.add_argument("--calls", type=int, default=400, help="timed chunk calls per variant and round (default: 400)")
    p.add_argument("--warmup", type=int, default=30, help="untimed calls first (default: 30)")
    p.add_argument("--train-steps", type=int, default=200,
                   help="gradient steps per training timing (BC reference: 5x) (default: 200)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    p.add_argument("--quality", action=argparse.BooleanOptionalAction, default=True,
                   help="train one default diffusion policy and evaluate it at 1, 2, 5, 10 DDIM steps")
    p.add_argument("--episodes", type=int, default=100, help="evaluation episodes of the quality check")
    p.add_argument("--json", default=None, help="write the raw results here")
    args = p.parse_args(argv)
    start = time.time()
    load0 = os.getloadavg()
    res = run(args)
    res["meta"] = {"start": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(start)),
                   "wall_s": time.time() - start, "load_start": load0, "load_end": os.getloadavg(),
                   "threads": args.threads, "python": platform.python_version(), "torch": torch.__version__,
                   "args": vars(args)}
    print(report(res, args))
    m = res["meta"]
    print(f"\n{m['start']}, {m['wall_s']:.0f} s; load average {m['load_start'][0]:.2f} at the start, "
          f"{m['load_end'][0]:.2f} at the end; {args.threads} torch thread(s)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
