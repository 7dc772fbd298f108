"""Setup cost of ``bc.fit`` per DAgger round, before and after the incremental dataset caches.

A DAgger-style run aggregates a growing ``Dataset`` and refits every round. What is timed is
BC's setup, everything ``fit`` does before its first gradient step (``bc._batch_source``: the
training rows as tensors, the finiteness check, the normaliser statistics), after each round's
``extend``, for an MLP policy (transitions) and a diffusion policy (time windows):

* after: the dataset itself (its caches are updated by ``extend``; only new rows are computed);
* before: the same dataset behind a wrapper that recomputes everything from the whole dataset
  the way ``bc.fit`` and ``Dataset`` did before the caches (flatnonzero step index, fresh gathers,
  tensor copies, two-pass numpy statistics): the old O(dataset) setup.

Both are timed once per round (the round's first fit), in the same round, alternating which goes
first; the numbers (rows, stats, the minibatches) are checked equal every round. Each round adds
``--episodes`` pendulum episodes of 200 steps labelled by the expert (every step valid). The extend
time (which now also updates the caches) is reported too.

Run (from the repository root, about a minute):

    python benchmarks/bench_refit.py [--rounds 40] [--episodes 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch

from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.policies import DiffusionConfig, DiffusionPolicy, MLPConfig, MLPPolicy
from mimetic.rollout import collect


class FromScratch:
    """``ds`` without its caches: every call recomputes from the whole dataset, as before."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds

    def step_index(self) -> np.ndarray:
        return np.flatnonzero(self.ds.valid).astype(np.int64)

    def transitions(self) -> tuple[np.ndarray, np.ndarray]:
        steps = self.step_index()
        return self.ds.obs[self.ds.obs_rows(steps)], self.ds.acts[steps]

    def windows(self, idx: np.ndarray, *, obs_horizon: int, act_horizon: int) -> Any:
        return self.ds.windows(idx, obs_horizon=obs_horizon, act_horizon=act_horizon)

    def obs_stats(self) -> tuple[np.ndarray, np.ndarray]:
        obs = self.ds.obs
        mean = obs.mean(axis=0, dtype=np.float64)
        std = obs.std(axis=0, dtype=np.float64)
        std = np.where(std < 1e-6, 1.0, std)
        return mean.astype(np.float32), std.astype(np.float32)


def setup_ms(policy: Any, source: Any) -> tuple[float, Any]:
    """The setup time of the round's first fit (the one that extends the caches) and its first
    minibatch (to compare the variants)."""
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    batches, _ = bc._batch_source(policy, source, 256, gen)
    ms = (time.perf_counter() - t0) * 1e3
    return ms, next(batches)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--episodes", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(1)
    print(f"load at start: {os.getloadavg()}", flush=True)
    task = make_task("pendulum", num_envs=a.episodes)
    expert = make_expert("pendulum")
    policies = {"mlp": MLPPolicy.for_spec(task.spec, MLPConfig()),
                "diffusion": DiffusionPolicy.for_spec(task.spec, DiffusionConfig())}
    ds = Dataset.empty(task.spec)
    rows = []
    for r in range(1, a.rounds + 1):
        trajs = collect(task, expert, episodes=a.episodes, seed=1000 * r)
        t0 = time.perf_counter()
        ds.extend(trajs)
        extend_ms = (time.perf_counter() - t0) * 1e3
        row = {"round": r, "steps": ds.n_steps, "extend_ms": extend_ms}
        for name, policy in policies.items():
            sources = {"after": ds, "before": FromScratch(ds)}
            order = list(sources) if r % 2 else list(sources)[::-1]
            got = {k: setup_ms(policy, sources[k]) for k in order}
            b_after, b_before = got["after"][1], got["before"][1]
            assert torch.equal(b_after.obs, b_before.obs) and torch.equal(b_after.acts, b_before.acts)
            assert np.array_equal(ds.obs_stats()[1], FromScratch(ds).obs_stats()[1])
            row[f"{name}_after"], row[f"{name}_before"] = got["after"][0], got["before"][0]
        rows.append(row)
        print(f"round {r:3d} steps {row['steps']:7d} extend {extend_ms:6.2f} ms | mlp setup before "
              f"{row['mlp_before']:7.2f} after {row['mlp_after']:6.2f} ms | diffusion before "
              f"{row['diffusion_before']:7.2f} after {row['diffusion_after']:6.2f} ms", flush=True)
    print(f"load at end: {os.getloadavg()}\n")
    print("| round | steps | extend ms | MLP setup ms before | after | diffusion setup ms before | after |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        if row["round"] in (1, 2, 5, 10, 20, 30, 40) or row["round"] == a.rounds:
            print(f"| {row['round']} | {row['steps']:,} | {row['extend_ms']:.2f} | {row['mlp_before']:.2f} "
                  f"| {row['mlp_after']:.2f} | {row['diffusion_before']:.2f} | {row['diffusion_after']:.2f} |")
    total = {k: sum(r[k] for r in rows) for k in ("mlp_before", "mlp_after", "diffusion_before",
                                                  "diffusion_after", "extend_ms")}
    print(f"\nsum over {a.rounds} rounds (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in total.items()))
    print("median extend ms:", round(statistics.median(r["extend_ms"] for r in rows), 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
