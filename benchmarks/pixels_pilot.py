"""Pilot of ``mimetic experiment pixels``: the same fits at batch 256, one seed (2026-12-04).

For each (task, method): expert demonstrations (reset seeds 1000+), one fit from the state and
one from the 64x64 camera (``<task>@pixels``: the image only, conv encoder, 64 features), then
50 evaluation episodes from reset seed 10000. Prints one JSON line per fit. From the repository root:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pixels_pilot.py   # about 20 minutes on one core
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.nets.vision import VisionConfig
from mimetic.policies import DiffusionConfig, DiffusionPolicy, MLPConfig, MLPPolicy, VisionPolicy
from mimetic.rollout import collect, rollout

VISION = VisionConfig(encoder="conv", features=64, keypoints=32)
RUNS = (("multimodal", "diffusion", 100, 3000), ("multimodal", "mse", 100, 3000), ("driving", "mse", 20, 2000))


def run(task_name: str, obs: str, method: str, demos: int, steps: int, eval_eps: int = 50, seed: int = 0) -> None:
    name = task_name if obs == "state" else f"{task_name}@{obs}"
    task = make_task(name, num_envs=16)
    ds = Dataset.from_trajectories(collect(task, make_expert(name), episodes=demos, seed=1000 + seed), spec=task.spec)
    if method == "mse":
        cls, cfg, lr = MLPPolicy, MLPConfig(hidden=(256, 256), activation="tanh", head="deterministic"), 1e-3
    else:
        cls, cfg, lr = DiffusionPolicy, DiffusionConfig(hidden=(256, 256, 256), inference_steps=10), 3e-3
    if obs == "state":
        pol = cls.for_spec(task.spec, cfg, seed=seed)
    else:
        pol = VisionPolicy.for_spec(task.spec, cls, cfg, vision=VISION, seed=seed)
    t = time.time()
    res = bc.fit(pol, ds, bc.BCConfig(steps=steps, batch_size=256, lr=lr, seed=seed))
    fit_s = time.time() - t
    ev = rollout(make_task(name, num_envs=16), pol, episodes=eval_eps, seed=10000)
    success = float(np.mean([task.spec.success(x) for x in ev]))
    print(json.dumps(dict(task=task_name, obs=obs, method=method, demos=demos, steps=steps, success=success,
                          fit_s=round(fit_s, 1), loss=res.final_loss, demo_steps=ds.n_steps)), flush=True)


def main() -> None:
    torch.set_num_threads(1)
    for task_name, method, demos, steps in RUNS:
        for obs in ("state", "pixels"):
            run(task_name, obs, method, demos, steps)


if __name__ == "__main__":
    main()
