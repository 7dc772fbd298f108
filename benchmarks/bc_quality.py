"""BC quality from 10 expert episodes, and BC's drift on the driving task as the horizon grows.

Part 1: for each task, seeds 0-4: collect 10 expert episodes (reset seeds 1000*seed + k), train BC
with the library defaults (BCConfig(seed=seed), MLPConfig()), evaluate 50 episodes on held-out reset
seeds (10000..10049) with the expert and a random policy measured on the same seeds. The score is
expert-normalized: (R - R_random) / (R_expert - R_random); the target is >= 0.95.

Part 2 (driving): BC and the expert trained/evaluated at the default horizon, then both evaluated at
horizons T in {50, 100, 200, 400, 800, 1600}: total cost per episode (|lateral error| per step plus
off-road and crash penalties), its log-log slope, and the learner's imitation error on its own states.

Run: python benchmarks/bc_quality.py [--tasks cartpole pendulum ...] [--seeds 0 1 2 3 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

import numpy as np
import torch

from mimetic.algos.bc import BCConfig, fit
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.policies import MLPConfig, MLPPolicy
from mimetic.rollout import (
    collect,
    evaluate,
    reference_results,
    summarize,
    with_reference,
)

TASKS = ["cartpole", "pendulum", "lunarlander", "lunarlander-continuous"]
HORIZONS = [50, 100, 200, 400, 800, 1600]


def train_bc(task_name: str, *, seed: int, episodes: int = 10, max_steps: int | None = None,
             mlp: MLPConfig | None = None):
    task = make_task(task_name, num_envs=min(episodes, 16), max_steps=max_steps)
    expert = make_expert(task_name)
    trajs = collect(task, expert, episodes=episodes, seed=1000 * seed)
    ds = Dataset.from_trajectories(trajs, spec=task.spec)
    policy = MLPPolicy.for_spec(task.spec, mlp or MLPConfig(), seed=seed)
    t0 = time.perf_counter()
    res = fit(policy, ds, BCConfig(seed=seed))
    return policy, ds, res, time.perf_counter() - t0


def quality(task_name: str, seeds: list[int], eval_episodes: int = 50, mlp: MLPConfig | None = None) -> dict:
    task = make_task(task_name, num_envs=16)
    expert = make_expert(task_name)
    exp, rnd = reference_results(task, expert, episodes=eval_episodes, seed=10_000)
    rows = []
    for seed in seeds:
        policy, ds, fit_res, wall = train_bc(task_name, seed=seed, mlp=mlp)
        r = evaluate(task, policy, episodes=eval_episodes, seed=10_000, expert=expert, reference=False)
        r = with_reference(r, expert_return=exp.return_mean, random_return=rnd.return_mean)
        rows.append({"seed": seed, "transitions": ds.n_transitions, "return": r.return_mean,
                     "score": r.normalized_score, "success": r.success_rate, "imitation_error": r.imitation_error,
                     "train_s": wall})
        print(f"  {task_name} seed {seed}: return {r.return_mean:8.1f}  score {r.normalized_score:.3f}  "
              f"success {r.success_rate}  train {wall:.1f}s", flush=True)
    scores = [r["score"] for r in rows]
    return {"task": task_name, "policy": asdict(mlp or MLPConfig()), "expert_return": exp.return_mean,
            "random_return": rnd.return_mean,
            "expert_success": exp.success_rate, "score_mean": float(np.mean(scores)),
            "score_min": float(np.min(scores)), "return_mean": float(np.mean([r["return"] for r in rows])),
            "runs": rows}


def driving_horizon(seeds: list[int], eval_episodes: int = 32) -> dict:
    expert = make_expert("driving")
    out = []
    for seed in seeds:
        policy, *_ = train_bc("driving", seed=seed)
        for horizon in HORIZONS:
            task = make_task("driving", num_envs=16, max_steps=horizon)
            bc = evaluate(task, policy, episodes=eval_episodes, seed=10_000, expert=expert, reference=False)
            ex = summarize(task.spec, collect(task, expert, episodes=eval_episodes, seed=10_000), seed=10_000)
            out.append({"seed": seed, "horizon": horizon, "bc_cost": bc.cost_mean, "expert_cost": ex.cost_mean,
                        "bc_success": bc.success_rate, "bc_imitation_error": bc.imitation_error})
    table = []
    for horizon in HORIZONS:
        rs = [r for r in out if r["horizon"] == horizon]
        table.append({"horizon": horizon, "bc_cost": float(np.mean([r["bc_cost"] for r in rs])),
                      "expert_cost": float(np.mean([r["expert_cost"] for r in rs])),
                      "bc_success": float(np.mean([r["bc_success"] for r in rs])),
                      "bc_imitation_error": float(np.mean([r["bc_imitation_error"] for r in rs]))})
    logt = np.log([r["horizon"] for r in table])
    slope_bc = float(np.polyfit(logt, np.log([r["bc_cost"] for r in table]), 1)[0])
    slope_ex = float(np.polyfit(logt, np.log([r["expert_cost"] for r in table]), 1)[0])
    return {"table": table, "slope_bc": slope_bc, "slope_expert": slope_ex, "runs": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=TASKS + ["driving"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--json", default=None)
    ap.add_argument("--ensemble-tasks", nargs="*", default=["lunarlander"],
                    help="tasks also run with a 5-member ensemble policy (MLPConfig(ensemble=5))")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # small networks; avoids oversubscribing a shared 2-core machine
    results = {"threads": torch.get_num_threads(), "quality": [], "driving": None}
    for name in args.tasks:
        if name == "driving":
            results["driving"] = driving_horizon(args.seeds)
            for r in results["driving"]["table"]:
                print(f"  driving T={r['horizon']:5d}: BC cost {r['bc_cost']:9.1f}  expert {r['expert_cost']:7.1f}"
                      f"  BC success {r['bc_success']:.2f}", flush=True)
            print(f"  slopes: BC {results['driving']['slope_bc']:.2f}  expert {results['driving']['slope_expert']:.2f}")
        else:
            variants = [MLPConfig()] + ([MLPConfig(ensemble=5)] if name in args.ensemble_tasks else [])
            for mlp in variants:
                q = quality(name, args.seeds, mlp=mlp)
                results["quality"].append(q)
                print(f"{name} (ensemble={mlp.ensemble}): score mean {q['score_mean']:.3f} "
                      f"min {q['score_min']:.3f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
