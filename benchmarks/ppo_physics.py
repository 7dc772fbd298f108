"""PPO with the physics preset on MuJoCo tasks: learning curves of several seeds from their run
directories (``mimetic expert train`` / ``mimetic train ppo`` outputs), as a PNG and a table.

    # the runs (one per seed; 2 at a time on 2 cores)
    mimetic expert train --task hopper --seed 1 --out runs/ppo-hopper-s1
    # the curves and the table
    python benchmarks/ppo_physics.py --runs runs/ppo-hopper-s* --label hopper --png benchmarks/_out/ppo_hopper.png

Each run's evaluations (10 deterministic episodes every 50 iterations) come from its
metrics.jsonl; wall time and steps from result.json (a run stopped early has none: its last
logged iteration is used).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def curve(run: Path) -> tuple[list[int], list[float], dict]:
    steps, returns, last = [], [], {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        d = json.loads(line)
        if "eval/return_mean" in d:
            steps.append(int(d["step"]))
            returns.append(float(d["eval/return_mean"]))
        elif "train/env_steps" in d:
            last = d
    result = json.loads((run / "result.json").read_text()) if (run / "result.json").is_file() else {}
    config = json.loads((run / "config.json").read_text())
    info = {"run": run.name, "task": config["task"], "seed": config["args"].get("seed"),
            "env_steps": result.get("env_steps", last.get("train/env_steps")),
            "wall_s": result.get("wall_s", last.get("train/wall_s")), "finished": bool(result)}
    return steps, returns, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, nargs="+", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--target", type=float, default=3000.0, help="return whose first crossing is reported")
    ap.add_argument("--png", type=Path, default=None)
    ap.add_argument("--max-steps", type=int, default=None,
                    help="only evaluations up to this many env steps (compare a longer run at equal steps)")
    a = ap.parse_args()
    rows, curves = [], []
    for run in a.runs:
        steps, rets, info = curve(run)
        if a.max_steps is not None and steps[-1] > a.max_steps:
            keep = [i for i, x in enumerate(steps) if x <= a.max_steps]
            steps, rets = [steps[i] for i in keep], [rets[i] for i in keep]
            info["note"] = f" (a {info['env_steps']}-step run cut at {a.max_steps}; train s of the whole run)"
        curves.append((info, steps, rets))
        first = next((s for s, r in zip(steps, rets) if r >= a.target), None)
        rows.append(f"| {info['task']} | {info['seed']} | {max(rets):.0f} | {rets[-1]:.0f} | "
                    f"{'-' if first is None else f'{first / 1e3:.0f}k'} | {info['env_steps']} | "
                    f"{info['wall_s']:.0f}{'' if info['finished'] else ' (stopped early)'}{info.get('note', '')} |")
    print(f"| task | seed | best eval return | last eval return | first >= {a.target:.0f} | env steps | "
          "train s |\n|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    best = np.array([max(r) for _, _, r in curves])
    print(f"\nbest eval return over seeds: mean {best.mean():.0f}, min {best.min():.0f}, max {best.max():.0f}")
    if a.png:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4), dpi=120)
        ax = fig.subplots()
        for info, steps, rets in curves:
            ax.plot(np.array(steps) / 1e6, rets, "-o", ms=3, label=f"seed {info['seed']}")
        ax.axhline(a.target, color="grey", ls="--", lw=1, label=f"{a.target:.0f}")
        ax.set_xlabel("environment steps (M)")
        ax.set_ylabel("deterministic return (10 episodes)")
        ax.set_title(f"mimetic PPO, physics preset: {a.label}", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        a.png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(a.png)


if __name__ == "__main__":
    main()
