"""The locomotion table side by side: mimetic (``mimetic benchmark locomotion`` outputs) and the
``imitation`` library (benchmarks/peer_locomotion.py, run with the peer's python) imitating the
SAME shipped mimetic experts, beside imitation's published v1.0 numbers.

    # peer runs (each appended to --peer-json as it finishes; finished ones are skipped on rerun)
    python benchmarks/bench_locomotion.py --peer-json benchmarks/_out/loco_peer.json \\
        --run-peer bc,dagger --tasks hopper,halfcheetah --seeds 3
    # the table, from mimetic's locomotion.json files and the peer records
    python benchmarks/bench_locomotion.py --peer-json benchmarks/_out/loco_peer.json \\
        --mimetic runs/loco/locomotion.json --report

The peer's python and script: MIMETIC_PEER_PYTHON (default ../.venv-imitation/bin/python beside
the repository) and MIMETIC_PEER_LOCOMOTION (default benchmarks/peer_locomotion.py). Torch runs at
one thread on both sides. Both sides evaluate 50 deterministic episodes and normalise against the
expert and a random policy on their own evaluation starts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peer import PEER_PYTHON, machine_base  # noqa: E402

from mimetic.envs.mujoco import TASKS, WEIGHTS  # noqa: E402
from mimetic.experiments.locomotion import NAMES, PUBLISHED  # noqa: E402

PEER_SCRIPT = Path(os.environ.get("MIMETIC_PEER_LOCOMOTION", Path(__file__).with_name("peer_locomotion.py")))
# the peer's settings per algorithm (its library defaults for BC/DAgger, its tuned seals configs for
# GAIL/AIRL, at mimetic's budget of 1M steps); GAIL on HalfCheetah needs >= 9 demonstration episodes
PEER_ARGS = {
    "bc": ["--demo-episodes", "10", "--epochs", "20"],
    "dagger": ["--rounds", "10", "--eval-every", "10"],
    "gail": ["--demo-episodes", "10", "--timesteps", "1000000"],
    "airl": ["--demo-episodes", "10", "--timesteps", "1000000"],
}


def _load(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.is_file() else []


def run_peer(algo: str, task: str, seed: int, out: Path) -> dict[str, Any]:
    cmd = [str(PEER_PYTHON), str(PEER_SCRIPT), algo, "--env", TASKS[task].gym_id, "--expert-dir",
           str(WEIGHTS / task), "--seed", str(seed), "--threads", "1", *PEER_ARGS[algo]]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"error: peer run failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    rec.update(task=task, algo=algo, seed=seed, process_s=time.perf_counter() - t0, command=" ".join(cmd[1:]),
               machine=machine_base())
    records = _load(out) + [rec]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=1) + "\n")
    tmp.replace(out)  # one record more, or none
    return rec


def _cells(paths: list[Path]) -> list[dict[str, Any]]:
    cells: dict[tuple, dict] = {}
    for p in paths:
        for c in json.loads(p.read_text())["cells"]:
            cells[c["task"], c["algo"], c["seed"]] = c
    return list(cells.values())


def _stat(values: list[float]) -> str:
    if not values:
        return "-"
    v = np.array(values)
    return f"{v.mean():.3f} ± {v.std():.3f} (n={len(v)})"


def report(mimetic: list[dict[str, Any]], peer: list[dict[str, Any]]) -> str:
    lines = ["| task | algorithm | mimetic score | peer score | published v1.0 | mimetic train s / run | "
             "peer train s / run | mimetic env steps | peer env steps |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    keys = sorted({(c["task"], c["algo"]) for c in mimetic} | {(r["task"], r["algo"]) for r in peer},
                  key=lambda k: (k[0], list(NAMES).index(k[1])))
    for task, algo in keys:
        m = [c for c in mimetic if c["task"] == task and c["algo"] == algo]
        p = [r for r in peer if r["task"] == task and r["algo"] == algo]
        pub = PUBLISHED.get(task, {}).get(algo)
        lines.append(
            f"| {task} | {NAMES[algo]} | {_stat([c['score'] for c in m])} | "
            f"{_stat([r['normalized_score'] for r in p])} | {'-' if pub is None else f'{pub:.3f}'} | "
            f"{np.mean([c['train_s'] for c in m]) if m else float('nan'):.0f} | "
            f"{np.mean([r['train_wall_s'] for r in p]) if p else float('nan'):.0f} | "
            f"{np.mean([c['env_steps'] for c in m]) if m else float('nan'):.0f} | "
            f"{np.mean([r['env_steps'] for r in p]) if p else float('nan'):.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer-json", type=Path, required=True, help="peer records (a JSON list), appended to")
    ap.add_argument("--run-peer", default="", help="peer algorithms to run now, e.g. bc,dagger")
    ap.add_argument("--tasks", default="hopper,halfcheetah")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--mimetic", type=Path, nargs="*", default=[], help="locomotion.json files of mimetic runs")
    ap.add_argument("--report", action="store_true", help="print the side-by-side table")
    a = ap.parse_args()
    tasks = [t for t in a.tasks.split(",") if t]
    for algo in [x for x in a.run_peer.split(",") if x]:
        for task in tasks:
            for seed in range(a.seeds):
                if any(r["task"] == task and r["algo"] == algo and r["seed"] == seed for r in _load(a.peer_json)):
                    continue
                rec = run_peer(algo, task, seed, a.peer_json)
                print(f"peer {algo} {task} seed {seed}: score {rec['normalized_score']:.3f}, "
                      f"train {rec['train_wall_s']:.0f} s", flush=True)
    if a.report:
        print(report(_cells(a.mimetic), _load(a.peer_json)))


if __name__ == "__main__":
    main()
