"""The PushT planning expert: success rate, Diffusion Policy's score, steps, time per episode, and
the time to label a state it has not seen (DAgger), on one core.

    python benchmarks/pusht_expert.py --episodes 50 --json benchmarks/_out/pusht_expert.json

Episodes k = 0..N-1 start from reset seed SEED+k; each runs alone (one env) so the time per
episode is that of one core. Labelling latency: states visited by a random walker (the block
pushed about at random), each labelled by a fresh planner (nothing cached), median and 95th
percentile. Needs the extra: pip install -e '.[pusht]'.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label-states", type=int, default=100)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from mimetic.envs import make_task
    from mimetic.envs.pusht import score, success
    from mimetic.envs.pusht_planner import PushTPlanner
    from mimetic.rollout import collect

    load = [os.getloadavg()[0]]
    task = make_task("pusht", num_envs=1)
    rows = []
    for k in range(args.episodes):
        planner = PushTPlanner()
        t0 = time.perf_counter()
        traj = collect(task, planner, episodes=1, seed=args.seed + k)[0]
        rows.append({"seed": args.seed + k, "success": success(traj), "score": score(traj), "steps": len(traj),
                     "wall_s": time.perf_counter() - t0, "simulated": planner.simulated})
        r = rows[-1]
        print(f"seed {r['seed']:3d}: success {r['success']!s:5} score {r['score']:.3f} steps {r['steps']:3d} "
              f"{r['wall_s']:.1f} s", flush=True)

    # labelling unseen states: a random walker's states, each labelled by a fresh planner
    rng = np.random.default_rng(0)
    walker = make_task("pusht", num_envs=1)
    obs = walker.reset(seeds=np.array([10_000]))
    latencies = []
    for i in range(args.label_states):
        for _ in range(3):
            step = walker.step(rng.uniform(50, 460, (1, 2)).astype(np.float32))
            obs = step.obs
            if step.terminated[0] or step.truncated[0]:
                obs = walker.reset(seeds=np.array([10_001 + i]))
        planner = PushTPlanner()
        t0 = time.perf_counter()
        planner(obs)
        latencies.append(time.perf_counter() - t0)
    load.append(os.getloadavg()[0])
    lat = np.array(latencies) * 1000
    summary = {
        "episodes": len(rows), "success_rate": float(np.mean([r["success"] for r in rows])),
        "score_mean": float(np.mean([r["score"] for r in rows])),
        "score_min": float(np.min([r["score"] for r in rows])),
        "steps_mean": float(np.mean([r["steps"] for r in rows])),
        "wall_s_per_episode": float(np.mean([r["wall_s"] for r in rows])),
        "label_ms_median": float(np.median(lat)), "label_ms_p95": float(np.percentile(lat, 95)),
        "label_ms_max": float(lat.max()), "loadavg_start_end": load,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "episodes": rows}, indent=2))


if __name__ == "__main__":
    main()
