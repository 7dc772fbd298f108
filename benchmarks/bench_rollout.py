"""Rollout throughput: mimetic's batched rollout loop against a per-env Gymnasium loop, in one run.

For each task (cartpole, pendulum, driving) and each driver (the scripted expert; an
``MLPPolicy`` of the library's default architecture, 256x256 tanh; and one of the peer's size,
32x32 tanh like imitation's FeedForward32Policy; each policy trained by BC at the library's
default budget, 3000 steps, so that nearly all its episodes run to the horizon as in evaluation
of a good policy, and acting deterministically), the script measures environment steps per
second of:

* ``gym loop``: ``gymnasium.make(<id>)`` (CartPole-v1, Pendulum-v1, and for driving mimetic's own
  single-env ``mimetic/Driving-v0``, the only Gymnasium version of that task), stepped one env at a
  time, the same expert / policy called on each single observation (``driver(obs[None])[0]``);
* ``mimetic B=...``: ``collect(task, expert, ...)`` (expert driving, labels counted by the budget)
  or ``rollout(task, policy, ...)`` on ``make_task(name, num_envs=B)`` for B in {1, 16, 64, 256,
  1024}.

Each gym-loop and B=1 run covers at least ``--steps`` env steps, each B>1 run at least
``--batched-steps`` (whole waves of B episodes), so no timed run is shorter than about 0.1 s.
Env steps are the real episode steps (sum of episode lengths; idle envs at the tail of a batched
run do not count). Every configuration runs the same reset seeds 0, 1, ... (cartpole and pendulum
are bit-identical to Gymnasium's, so the expert's episodes are identical on both sides). Each
repeat measures every configuration once, in alternating order; the table gives medians over
repeats and the ratio to the gym loop as the median of per-repeat (adjacent-in-time) ratios.
Environment construction is not timed. Target: batched rollouts >= 20x the per-env gym loop.

Run (from the repository root, about 5 minutes on a quiet 2-core machine):

    python benchmarks/bench_rollout.py [--tasks cartpole pendulum driving] [--batches 1 16 64 256 1024]
                                       [--repeats 5] [--steps 20000] [--batched-steps 200000]
                                       [--threads 1] [--json out.json]

``--vs-plain`` measures instead the loop's own overhead: ``collect(task, expert)`` against
:func:`plain_loop`, the same work (the same ``task.step`` physics, expert calls, resets and
recorded arrays, checked equal before timing) written as plainly as numpy allows, side by side in
alternating order, for each task and B in ``--batches`` (episodes: ``--batched-steps`` worth of
whole waves). Target: rollout speed >= 0.6 of the plain loop's.

    python benchmarks/bench_rollout.py --vs-plain [--tasks ...] [--batches 64 1024] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from mimetic.algos.bc import BCConfig, fit
from mimetic.data import Dataset
from mimetic.envs import BatchedTask, make_expert, make_task
from mimetic.policies import MLPConfig, MLPPolicy
from mimetic.protocols import Policy
from mimetic.rollout import collect, rollout
from mimetic.types import Trajectory

GYM_IDS = {"cartpole": "CartPole-v1", "pendulum": "Pendulum-v1", "driving": "mimetic/Driving-v0"}
TARGET_RATIO = 20.0
# Policy drivers: the library default (MLPConfig(), 256x256 tanh) and the peer's network size.
POLICY_SIZES = {"policy 256x256": MLPConfig(), "policy 32x32": MLPConfig(hidden=(32, 32), activation="tanh")}

Act = Callable[[np.ndarray], np.ndarray]  # batched driver: obs (B, O) -> actions (B,) or (B, A)


@dataclass(frozen=True)
class Measurement:
    """One timed rollout: who drove, which loop, how many env steps in how long."""

    task: str
    driver: str  # "expert" or a key of POLICY_SIZES
    loop: str  # "gym" or "mimetic"
    num_envs: int
    repeat: int
    episodes: int
    env_steps: int
    seconds: float

    @property
    def steps_per_s(self) -> float:
        return self.env_steps / self.seconds


# --------------------------------------------------------------------------- the two loops


def gym_loop(gym_id: str, act: Act, *, episodes: int) -> tuple[int, float]:
    """Per-env Gymnasium loop: one env, the driver called on single observations."""
    env = gym.make(gym_id)
    steps = 0
    start = time.perf_counter()
    for k in range(episodes):
        obs, _ = env.reset(seed=k)
        done = False
        while not done:
            obs, _, terminated, truncated, _ = env.step(act(obs[None])[0])
            steps += 1
            done = terminated or truncated
    seconds = time.perf_counter() - start
    env.close()
    return steps, seconds


def mimetic_loop(task_name: str, num_envs: int, *, driver: str, policy: Policy | None,
                 episodes: int) -> tuple[int, float]:
    """mimetic's batched loop: ``collect`` with the expert, or ``rollout`` with the policy."""
    task = make_task(task_name, num_envs=num_envs)
    start = time.perf_counter()
    if driver == "expert":
        trajs = collect(task, make_expert(task_name), episodes=episodes, seed=0)
    else:
        assert policy is not None
        trajs = rollout(task, policy, episodes=episodes, seed=0)
    seconds = time.perf_counter() - start
    task.close()
    return sum(len(t) for t in trajs), seconds


def plain_loop(task: BatchedTask, expert: Act, *, episodes: int, seed: int = 0) -> list[Trajectory]:
    """What ``collect(task, expert, episodes=..., seed=...)`` computes, written plainly: the same
    schedule (episode k on the env that frees up next, reset seed seed + k), every step logged
    time-major in Python lists, the episodes cut out of the stacked logs at the end. The expert
    labels every env, idle ones included (collect labels only the active ones; the timed runs use
    whole waves, so no env is idle)."""
    n = task.num_envs
    obs = task.reset(seeds=seed + np.arange(n))  # (B, *O)
    episode = np.arange(n)  # episode each env runs
    begun = np.zeros(n, np.int64)  # step at which it began
    next_ep, t = n, 0
    log_obs, log_acts, log_rewards, log_costs = [], [], [], []
    # episode -> (env, first step, end step, final observation, terminated, truncated)
    ends: dict[int, tuple[int, int, int, np.ndarray, bool, bool]] = {}
    while len(ends) < episodes:
        acts = expert(obs)
        step = task.step(acts)
        log_obs.append(obs)
        log_acts.append(acts)
        log_rewards.append(step.rewards)
        log_costs.append(step.costs)
        t += 1
        obs = step.obs
        done = step.terminated | step.truncated
        if done.any():
            for j in np.flatnonzero(done):
                if episode[j] < episodes:
                    ends[int(episode[j])] = (j, int(begun[j]), t, step.obs[j], bool(step.terminated[j]),
                                             bool(step.truncated[j]) and not step.terminated[j])
            idx = np.flatnonzero(done)
            episode[idx] = next_ep + np.arange(len(idx))
            next_ep += len(idx)
            begun[idx] = t
            obs = task.reset(seeds=seed + episode, mask=done)
    all_obs, all_acts = np.stack(log_obs), np.stack(log_acts)  # (S, B, *O), (S, B, *A)
    all_rewards, all_costs = np.stack(log_rewards), np.stack(log_costs)  # (S, B) each
    out = []
    for k in range(episodes):
        j, first, end, final, terminated, truncated = ends[k]
        acts = all_acts[first:end, j]
        out.append(Trajectory(obs=np.concatenate([all_obs[first:end, j], final[None]]), acts=acts,
                              rewards=all_rewards[first:end, j], costs=all_costs[first:end, j],
                              labels=acts.copy(), labeled=np.ones(end - first, bool),
                              expert_acted=np.ones(end - first, bool), terminated=terminated,
                              truncated=truncated, seed=seed + k))
    return out


def same_trajectories(a: list[Trajectory], b: list[Trajectory]) -> bool:
    fields = ("obs", "acts", "rewards", "costs", "labels", "labeled", "expert_acted")
    return len(a) == len(b) and all(
        (x.terminated, x.truncated, x.seed) == (y.terminated, y.truncated, y.seed)
        and all(np.array_equal(getattr(x, f), getattr(y, f)) for f in fields) for x, y in zip(a, b))


@dataclass(frozen=True)
class PlainPair:
    """``collect`` and :func:`plain_loop` timed back to back on the same task and episodes."""

    task: str
    num_envs: int
    repeat: int
    episodes: int
    env_steps: int
    rollout_s: float
    plain_s: float

    @property
    def ratio(self) -> float:
        """Rollout speed as a fraction of the plain loop's (1.0: no overhead)."""
        return self.plain_s / self.rollout_s


def measure_vs_plain(task_name: str, num_envs: int, *, batched_steps: int, repeats: int) -> list[PlainPair]:
    task, expert = make_task(task_name, num_envs=num_envs), make_expert(task_name)
    episodes = episodes_for(task_name, num_envs, batched_steps)
    trajs = collect(task, expert, episodes=episodes, seed=0)
    if not same_trajectories(trajs, plain_loop(task, expert, episodes=episodes, seed=0)):
        raise SystemExit(f"plain_loop and collect disagree on {task_name} B={num_envs}: not the same work")
    steps = sum(len(t) for t in trajs)
    out = []
    for r in range(repeats):
        secs: dict[str, float] = {}
        for which in ("rollout", "plain") if r % 2 == 0 else ("plain", "rollout"):
            start = time.perf_counter()
            if which == "rollout":
                collect(task, expert, episodes=episodes, seed=0)
            else:
                plain_loop(task, expert, episodes=episodes, seed=0)
            secs[which] = time.perf_counter() - start
        out.append(PlainPair(task_name, num_envs, r, episodes, steps, secs["rollout"], secs["plain"]))
    task.close()
    return out


def plain_rows(ps: list[PlainPair]) -> list[str]:
    lines = [("| task | envs | env steps per run | rollout env-steps/s | plain loop env-steps/s "
              "| rollout / plain (median of per-repeat, min-max) | >= 0.6 |"), "|---|---|---|---|---|---|---|"]
    for task, b in dict.fromkeys((p.task, p.num_envs) for p in ps):
        rs = [p for p in ps if (p.task, p.num_envs) == (task, b)]
        ratios = [p.ratio for p in rs]
        med = statistics.median(ratios)
        rollout_sps = statistics.median(p.env_steps / p.rollout_s for p in rs)
        plain_sps = statistics.median(p.env_steps / p.plain_s for p in rs)
        lines.append(f"| {task} | {b} | {rs[0].env_steps:,} | {rollout_sps:,.0f} | {plain_sps:,.0f} | {med:.2f} "
                     f"({min(ratios):.2f}-{max(ratios):.2f}) | {'yes' if med >= 0.6 else 'no'} |")
    return lines


# --------------------------------------------------------------------------- setup


def trained_policy(task_name: str, config: MLPConfig, *, steps: int) -> MLPPolicy:
    """An MLP of ``config``'s size cloned from 10 expert episodes, so it acts like the expert
    (episode lengths comparable to evaluation); its weights do not change its speed per step. On
    driving, 500 steps left the policies drifting off the road after 80-210 steps on average
    (compounding error), which leaves most of a batch idle while its longest episode finishes."""
    task = make_task(task_name, num_envs=10)
    trajs = collect(task, make_expert(task_name), episodes=10, seed=1000)
    policy = MLPPolicy.for_spec(task.spec, config, seed=0)
    fit(policy, Dataset.from_trajectories(trajs, spec=task.spec), BCConfig(steps=steps, seed=0))
    return policy


def episodes_for(task_name: str, num_envs: int, target_steps: int) -> int:
    """At least ``target_steps`` env steps at full-length episodes, a multiple of ``num_envs``."""
    horizon = make_task(task_name).spec.max_steps
    waves = max(1, math.ceil(target_steps / (num_envs * horizon)))
    return waves * num_envs


# --------------------------------------------------------------------------- schedule


def measure_round(task_name: str, driver: str, act: Act, policy: Policy | None, *, batches: list[int],
                  target_steps: int, batched_steps: int, repeat: int) -> list[Measurement]:
    """Every configuration of one (task, driver) once; the order flips on odd repeats."""
    jobs: list[tuple[str, int]] = [("gym", 1)] + [("mimetic", b) for b in batches]
    if repeat % 2:
        jobs.reverse()
    out = []
    for loop, b in jobs:
        episodes = episodes_for(task_name, b, target_steps if b == 1 else batched_steps)
        if loop == "gym":
            steps, secs = gym_loop(GYM_IDS[task_name], act, episodes=episodes)
        else:
            steps, secs = mimetic_loop(task_name, b, driver=driver, policy=policy, episodes=episodes)
        out.append(Measurement(task_name, driver, loop, b, repeat, episodes, steps, secs))
    return out


def run_task(task_name: str, *, batches: list[int], repeats: int, target_steps: int, batched_steps: int,
             bc_steps: int) -> list[Measurement]:
    expert = make_expert(task_name)
    drivers: list[tuple[str, Act, Policy | None]] = [("expert", expert, None)]
    for name, config in POLICY_SIZES.items():
        policy = trained_policy(task_name, config, steps=bc_steps)
        drivers.append((name, policy.act, policy))
    out: list[Measurement] = []
    for driver, act, pol in drivers:
        for r in range(repeats):
            out += measure_round(task_name, driver, act, pol, batches=batches, target_steps=target_steps,
                                 batched_steps=batched_steps, repeat=r)
        print(f"  {task_name} {driver}: done", flush=True)
    return out


# --------------------------------------------------------------------------- report


def summary_rows(ms: list[Measurement]) -> list[str]:
    """Markdown: per (task, driver, loop, B) median steps/s and the paired ratio to the gym loop."""
    lines = [("| task | driver | loop | envs | env steps per run | mean ep. length | env-steps/s (median) "
              "| min-max | vs gym loop (median of per-repeat) | >= 20x |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((m.task, m.driver, m.loop, m.num_envs) for m in ms))
    for task, driver, loop, b in keys:
        rs = [m for m in ms if (m.task, m.driver, m.loop, m.num_envs) == (task, driver, loop, b)]
        gym_by_repeat = {m.repeat: m for m in ms if (m.task, m.driver, m.loop) == (task, driver, "gym")}
        sps = [m.steps_per_s for m in rs]
        ratio, met = "1.0x (baseline)", "-"
        if loop == "mimetic":
            r = statistics.median(m.steps_per_s / gym_by_repeat[m.repeat].steps_per_s for m in rs)
            ratio, met = f"{r:.1f}x", "yes" if r >= TARGET_RATIO else "no"
        name = "gym loop" if loop == "gym" else "mimetic"
        per_episode = rs[0].env_steps / rs[0].episodes
        lines.append(f"| {task} | {driver} | {name} | {b} | {rs[0].env_steps:,} | {per_episode:.0f} "
                     f"| {statistics.median(sps):,.0f} | {min(sps):,.0f}-{max(sps):,.0f} | {ratio} | {met} |")
    return lines


def machine(threads: int) -> dict[str, Any]:
    return {"nproc": os.cpu_count(), "torch": torch.__version__, "torch_threads": threads,
            "gymnasium": gym.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "policies": {k: str(v) for k, v in POLICY_SIZES.items()}, "loadavg_start": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="+", choices=list(GYM_IDS), default=list(GYM_IDS))
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256, 1024])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=20_000, help="env steps (at least) per gym-loop and B=1 run")
    p.add_argument("--batched-steps", type=int, default=200_000, help="env steps (at least) per B>1 run")
    p.add_argument("--bc-steps", type=int, default=3000, help="BC steps for the policies that drive")
    p.add_argument("--threads", type=int, default=1, help="torch threads (policy forward passes)")
    p.add_argument("--json", type=Path, default=None, help="also write every measurement as JSON here")
    p.add_argument("--vs-plain", action="store_true", help="collect vs the plain numpy loop (see above)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    info = machine(a.threads)
    print(f"machine: {info}", flush=True)
    start = time.perf_counter()
    if a.vs_plain:
        import mimetic.rollout

        info["rollout_module"] = mimetic.rollout.__file__  # which implementation was measured
        ps = [p for name in a.tasks for b in a.batches
              for p in measure_vs_plain(name, b, batched_steps=a.batched_steps, repeats=a.repeats)]
        info.update(loadavg_end=os.getloadavg(), total_s=round(time.perf_counter() - start, 1))
        print(f"\nmachine: {info}\n")
        print("\n".join(plain_rows(ps)))
        if a.json:
            a.json.write_text(json.dumps({"machine": info, "pairs": [{**asdict(p), "ratio": p.ratio} for p in ps]},
                                         indent=1) + "\n")
        return 0
    ms: list[Measurement] = []
    for task_name in a.tasks:
        ms += run_task(task_name, batches=a.batches, repeats=a.repeats, target_steps=a.steps,
                       batched_steps=a.batched_steps, bc_steps=a.bc_steps)
    info.update(loadavg_end=os.getloadavg(), total_s=round(time.perf_counter() - start, 1))
    print(f"\nmachine: {info}\n")
    print("\n".join(summary_rows(ms)))
    if a.json:
        a.json.write_text(json.dumps({"machine": info, "runs": [{**asdict(m), "steps_per_s": m.steps_per_s}
                                                                 for m in ms]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
