"""Adversarial imitation: mimetic's GAIL against the ``imitation`` library's, with PPO and AIRL.

Issue target 4: GAIL reaches expert level (expert-normalized score >= 0.95) on cartpole and
pendulum from 20 demonstration episodes; on cartpole with >= 10x less wall time than the peer in
the same invocation; on pendulum it succeeds where the peer fails, with steps and time reported.

Part ``gail``, for each task and seed, side by side (the peer first on even seeds, last on odd):

* peer: ``run_peer.py gail --env CartPole-v1 --timesteps 200000 --demo-episodes 20 --seed S
  --threads 1`` (the README's cartpole command: imitation's GAIL tutorial hyperparameters, 8 envs,
  16384 env steps per round, evaluated after every round; the harness cannot stop at expert level,
  so every run uses its whole 200k budget). Pendulum, seed 0 only: ``--env Pendulum-v1 --timesteps
  1000000 --eval-every 5 --max-wall-s CAP`` (imitation's pendulum settings; the README's 1M-step run
  never reached expert level, so here it stops after the round that passes CAP s of training).
* mimetic: ``adversarial.fit(make_task(name, num_envs=16), demos, AdversarialConfig(),
  PPOConfig(total_steps, gamma, seed=S))`` with the settings in ``SETTINGS`` (library defaults
  otherwise); demos = 20 expert episodes from reset seeds 1000 + 100 S onwards. Evaluation after
  every ``EVAL_EVERY`` PPO iterations and after the last one, by a ``Scorer`` on 50 episodes (reset
  seeds 10000-10049, deterministic actions); ``IterationRecord.wall_s`` = training wall time
  (rollouts, discriminator, PPO updates; evaluation and demo collection excluded).

Both sides: expert level = normalized score (R - R_random) / (R_expert - R_random) >= 0.95 with the
expert and a uniform-random policy measured on the same evaluation episodes (the peer harness's
rule). Per run: env steps and training wall s at the first evaluation at expert level, the final
and best scores, and training s per 1k env steps over the whole run.

Part ``ppo`` (the RL baseline, "when does imitation beat RL"): ``ppo.train`` on the task's true
reward, the same PPO settings, evaluation and budget as GAIL, no demonstrations.
Part ``airl`` (for information): ``AdversarialConfig(method="airl")`` on pendulum.
Part ``select``: mimetic GAIL candidates on seeds 10-12 (stops at the first evaluation at expert
level), run before seeds 0-2 to fix ``SETTINGS``.

Run (from the repository root; torch at 1 thread on both sides; ``gail ppo airl`` take about
14 minutes on a loaded 2-core machine, most of it the peer's):

    python benchmarks/bench_gail.py [--parts gail ppo airl] [--seeds 0 1 2] [--json out.json]
    python benchmarks/bench_gail.py --parts select                 # seeds 10 11 12

The peer venv and harness default to /work/.venv-imitation/bin/python and
/work/shared/peers/imitation_lib/run_peer.py (override: --peer-python, --peer-script).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from _peer import (
    GYM_IDS,
    PEER_PYTHON,
    PEER_SCRIPT,
    machine_base,
    peer_record,
    peer_score,
)

from mimetic.algos import adversarial as adv
from mimetic.algos import ppo
from mimetic.data.dataset import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.rollout import Scorer, collect

PEER_TIMESTEPS = {"cartpole": 200_000, "pendulum": 1_000_000}  # the peer README's runs
PEER_EVAL_EVERY = {"cartpole": 1, "pendulum": 5}  # rounds, as in the README
PEER_PENDULUM_CAP_S = 150.0  # training wall cap of the peer's pendulum run
EVAL_EPISODES = 50
EVAL_SEED = 10_000
EVAL_EVERY = 2  # PPO iterations between mimetic evaluations (2048 env steps at 16 envs x 64)
DEMO_EPISODES = 20
EXPERT_LEVEL = 0.95
WALL_RATIO = 10.0  # cartpole target: >= 10x less wall time than the peer


@dataclass(frozen=True)
class Setting:
    """mimetic's run settings for one task (PPO defaults otherwise, shared by GAIL, AIRL and PPO)."""

    task: str
    total_steps: int
    gamma: float
    num_envs: int = 16

    def ppo_config(self, seed: int) -> ppo.PPOConfig:
        return ppo.PPOConfig(total_steps=self.total_steps, gamma=self.gamma, seed=seed)

    def label(self) -> str:
        return f"{self.num_envs} envs, gamma {self.gamma:g}, {self.total_steps // 1000}k steps"


# Fixed from `--parts select` on seeds 10-12 before seeds 0-2 were run (RESULTS.md gives the grid).
SETTINGS = {
    "cartpole": Setting("cartpole", total_steps=200_000, gamma=0.99),
    "pendulum": Setting("pendulum", total_steps=300_000, gamma=0.95),
}
# Candidates of `--parts select` (the lead's quick-check settings first).
SELECT = [SETTINGS["cartpole"], replace(SETTINGS["cartpole"], gamma=0.95),
          SETTINGS["pendulum"], replace(SETTINGS["pendulum"], gamma=0.99), replace(SETTINGS["pendulum"], gamma=0.9)]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Checkpoint:
    iteration: int  # PPO iterations (mimetic) or GAIL rounds (peer) done; 0 = untrained
    env_steps: int
    wall_s: float  # cumulative training wall time, evaluation excluded
    return_mean: float
    score: float  # expert-normalized


@dataclass(frozen=True)
class Run:
    lib: str  # "peer" or "mimetic"
    algo: str  # "gail", "airl", "ppo"
    task: str
    seed: int
    checkpoints: tuple[Checkpoint, ...]
    extra: dict[str, Any]

    def first(self) -> Checkpoint | None:
        return next((c for c in self.checkpoints if c.score >= EXPERT_LEVEL), None)

    def best(self) -> Checkpoint:
        return max(self.checkpoints, key=lambda c: c.score)

    def after_reach(self) -> tuple[float, float] | None:
        """Share of the evaluations after the first reach that stay at expert level, and their minimum."""
        f = self.first()
        if f is None:
            return None
        rest = [c.score for c in self.checkpoints if c.env_steps > f.env_steps]
        return (sum(x >= EXPERT_LEVEL for x in rest) / len(rest), min(rest)) if rest else None

    def s_per_1k(self) -> float:
        last = self.checkpoints[-1]
        return 1000.0 * last.wall_s / max(last.env_steps, 1)


# --------------------------------------------------------------------------- peer


def run_peer(task: str, seed: int, *, python: Path, script: Path) -> Run:
    """One peer GAIL run in its own venv at 1 torch thread; its JSON line has every checkpoint."""
    cmd = [str(python), str(script), "gail", "--env", GYM_IDS[task], "--timesteps", str(PEER_TIMESTEPS[task]),
           "--demo-episodes", str(DEMO_EPISODES), "--seed", str(seed), "--threads", "1"]
    if PEER_EVAL_EVERY[task] != 1:
        cmd += ["--eval-every", str(PEER_EVAL_EVERY[task])]
    if task == "pendulum":
        cmd += ["--max-wall-s", f"{PEER_PENDULUM_CAP_S:g}"]
    t0 = time.perf_counter()
    rec = peer_record(cmd)
    rows = tuple(Checkpoint(iteration=int(r["round"]) + 1, env_steps=int(r["env_steps"]), wall_s=float(r["wall_s"]),
                            return_mean=float(r["eval_mean_return"]),
                            score=peer_score(float(r["eval_mean_return"]), rec))
                 for r in rec["checkpoints"])
    extra = {"argv": " ".join(cmd[2:]), "expert_return": float(rec["expert_return"]),
             "random_return": float(rec["random_return"]),
             "threshold_return": rec["threshold_return"], "first_reach": rec["first_reach"],
             "stopped_early": rec["stopped_early"], "demo_transitions": rec["demo_transitions"],
             "process_wall_s": round(time.perf_counter() - t0, 2), "torch_threads": rec["torch_threads"],
             "config": rec["config"], "versions": rec["versions"]}
    return Run("peer", "gail", task, seed, rows, extra)


# --------------------------------------------------------------------------- mimetic

_SCORERS: dict[str, Scorer] = {}


def scorer(task: str) -> Scorer:
    if task not in _SCORERS:
        s = Scorer.make(make_task(task, num_envs=EVAL_EPISODES), make_expert(task), episodes=EVAL_EPISODES,
                        seed=EVAL_SEED)
        assert s is not None
        _SCORERS[task] = s
    return _SCORERS[task]


def run_mimetic(algo: str, setting: Setting, seed: int, *, stop_at_reach: bool = False) -> Run:
    """GAIL / AIRL (``adversarial.fit``) or PPO on the true reward (``ppo.train``) at 1 torch thread."""
    name = setting.task
    score = scorer(name)
    rows: list[Checkpoint] = []
    eval_s = [0.0]
    n_iter = -(-setting.total_steps // (setting.num_envs * ppo.PPOConfig().rollout_steps))

    def callback(rec: ppo.IterationRecord, policy: Any) -> bool:
        if rec.iteration % EVAL_EVERY and rec.iteration < n_iter:
            return False
        t = time.perf_counter()
        res = score(policy)
        eval_s[0] += time.perf_counter() - t
        rows.append(Checkpoint(rec.iteration, rec.env_steps, rec.wall_s, float(res.return_mean),
                               float(res.normalized_score)))
        return stop_at_reach and rows[-1].score >= EXPERT_LEVEL

    task = make_task(name, num_envs=setting.num_envs)
    cfg = setting.ppo_config(seed)
    extra: dict[str, Any] = {"setting": asdict(setting), "ppo_config": asdict(cfg), "eval_every": EVAL_EVERY,
                             "expert_return": score.expert_return, "random_return": score.random_return}
    t0 = time.perf_counter()
    if algo == "ppo":
        ppo.train(task, cfg, callback=callback)
    else:
        t_demo = time.perf_counter()
        demo_seed = 1000 + 100 * seed
        demos = Dataset.from_trajectories(collect(make_task(name, num_envs=DEMO_EPISODES), make_expert(name),
                                                  episodes=DEMO_EPISODES, seed=demo_seed))
        acfg = adv.AdversarialConfig(method=algo)  # type: ignore[arg-type]
        extra.update(demo_seed=demo_seed, demo_transitions=demos.n_transitions, adversarial_config=asdict(acfg),
                     demo_collect_s=round(time.perf_counter() - t_demo, 3))
        adv.fit(task, demos, acfg, cfg, callback=callback)
    extra.update(process_wall_s=round(time.perf_counter() - t0, 2), eval_s=round(eval_s[0], 2))
    return Run("mimetic", algo, name, seed, tuple(rows), extra)


def show(run: Run) -> None:
    f, last, best = run.first(), run.checkpoints[-1], run.best()
    reach = f"first {f.env_steps} steps {f.wall_s:.2f}s" if f else "never"
    print(f"  {run.task:8s} seed {run.seed:2d} {run.lib:7s} {run.algo:4s} {reach:30s} final {last.score:.3f} "
          f"best {best.score:.3f} ({last.env_steps} steps, {last.wall_s:.1f}s, {run.s_per_1k():.3f} s/1k) "
          f"[{run.extra['process_wall_s']:.0f}s process]", flush=True)


# --------------------------------------------------------------------------- parts


def part_gail(seeds: list[int], peer_pendulum_seeds: list[int], peer: dict[str, Path]) -> list[Run]:
    runs: list[Run] = []
    for task in ("cartpole", "pendulum"):
        for seed in seeds:
            jobs = [lambda t=task, s=seed: run_mimetic("gail", SETTINGS[t], s)]
            if task == "cartpole" or seed in peer_pendulum_seeds:
                jobs.append(lambda t=task, s=seed: run_peer(t, s, **peer))
            for job in jobs[::-1] if seed % 2 == 0 else jobs:
                runs.append(job())
                show(runs[-1])
    return runs


def part_mimetic(algo: str, tasks: tuple[str, ...], seeds: list[int]) -> list[Run]:
    runs = []
    for task in tasks:
        for seed in seeds:
            runs.append(run_mimetic(algo, SETTINGS[task], seed))
            show(runs[-1])
    return runs


def part_select(seeds: list[int]) -> tuple[list[Run], list[str]]:
    runs: list[Run] = []
    lines = [("| task | candidate | first eval at expert level: env steps, wall s (per seed) | seeds missing "
             "| steps summed | wall s summed |"), "|---|---|---|---|---|---|"]
    for setting in SELECT:
        got = []
        for seed in seeds:
            runs.append(run_mimetic("gail", setting, seed, stop_at_reach=True))
            show(runs[-1])
            got.append(runs[-1].first())
        reached = [g for g in got if g is not None]
        cells = ", ".join(f"{g.env_steps} {g.wall_s:.2f}" if g else "never" for g in got)
        lines.append(f"| {setting.task} | {setting.label()} | {cells} | {len(got) - len(reached)} | "
                     f"{sum(g.env_steps for g in reached)} | {sum(g.wall_s for g in reached):.2f} |")
    return runs, lines


# --------------------------------------------------------------------------- report


def _reach(c: Checkpoint | None) -> str:
    return "never" if c is None else f"{c.env_steps / 1000:.1f}k / {c.wall_s:.2f}"


def run_rows(runs: list[Run]) -> list[str]:
    lines = [("| task | algo | lib | seed | first at expert level: env steps / wall s | final score | best score "
             "| after first reach: evals >= 0.95, min | total steps / wall s | s per 1k steps |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        last, after = r.checkpoints[-1], r.after_reach()
        lines.append(f"| {r.task} | {r.algo} | {r.lib} | {r.seed} | {_reach(r.first())} | {last.score:.3f} | "
                     f"{r.best().score:.3f} | {'-' if after is None else f'{after[0]:.0%}, {after[1]:.3f}'} | "
                     f"{last.env_steps / 1000:.0f}k / {last.wall_s:.1f} | "
                     f"{r.s_per_1k():.3f} |")
    return lines


def verdict(runs: list[Run]) -> list[str]:
    """Cartpole: per seed, peer wall / mimetic wall at first reach (a peer that never reaches counts
    with its whole run, a lower bound). Pendulum: mimetic reaches on every seed, the peer never."""
    lines = [("| task | seed | mimetic first reach (steps / s) | peer first reach (steps / s) "
              "| wall ratio peer/mimetic | steps ratio | met |"), "|---|---|---|---|---|---|---|"]
    gail = [r for r in runs if r.algo == "gail"]
    for task in ("cartpole", "pendulum"):
        by = {(r.lib, r.seed): r for r in gail if r.task == task}
        for seed in sorted({s for lib, s in by if lib == "mimetic"}):
            m, p = by[("mimetic", seed)], by.get(("peer", seed))
            fm, fp = m.first(), p.first() if p else None
            ratio = steps = "-"
            if fm and p:
                ref = fp or p.checkpoints[-1]
                bound = "" if fp else ">"
                ratio = f"{bound}{ref.wall_s / fm.wall_s:.1f}x"
                steps = f"{bound}{ref.env_steps / fm.env_steps:.1f}x"
            if task == "cartpole":
                ok = bool(fm and p and (fp or p.checkpoints[-1]).wall_s >= WALL_RATIO * fm.wall_s)
            else:
                ok = fm is not None and (p is None or fp is None)
            lines.append(f"| {task} | {seed} | {_reach(fm)} | {_reach(fp) if p else 'not run'} | {ratio} | "
                         f"{steps} | {'yes' if ok else 'NO'} |")
    return lines


def processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,pcpu,etime,args", "--sort=-pcpu"], capture_output=True, text=True,
                         check=False).stdout.splitlines()
    return [line[:160] for line in out[:8]]


def machine() -> dict[str, Any]:
    return {**machine_base(), "settings": {k: s.label() for k, s in SETTINGS.items()}, "eval_every": EVAL_EVERY,
            "peer_pendulum_cap_s": PEER_PENDULUM_CAP_S, "processes_start": processes()}


def load_runs(path: Path) -> list[Run]:
    data = json.loads(path.read_text())
    return [Run(r["lib"], r["algo"], r["task"], r["seed"], tuple(Checkpoint(**c) for c in r["checkpoints"]),
                r["extra"]) for r in data["runs"]]


def tables(runs: list[Run]) -> list[str]:
    """The report's tables for whatever parts ``runs`` holds (select runs stay in the select table)."""
    out: list[str] = []
    gail = [r for r in runs if r.algo == "gail"]
    if any(r.lib == "peer" for r in gail):
        out += ["", "GAIL, mimetic against the peer:", *verdict(gail), "", *run_rows(gail)]
    if ppo_runs := [r for r in runs if r.algo == "ppo"]:
        out += ["", "PPO on the true reward (no demonstrations):", *run_rows(ppo_runs)]
    if airl := [r for r in runs if r.algo == "airl"]:
        out += ["", "AIRL:", *run_rows(airl)]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", nargs="+", choices=("gail", "ppo", "airl", "select"), default=["gail", "ppo", "airl"])
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (select: 10 11 12)")
    p.add_argument("--peer-pendulum-seeds", type=int, nargs="*", default=[0])
    p.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    p.add_argument("--peer-script", type=Path, default=PEER_SCRIPT)
    p.add_argument("--json", type=Path, default=None, help="also write every run as JSON here")
    p.add_argument("--report", type=Path, default=None, help="only print the tables of a saved --json file")
    a = p.parse_args(argv)
    if a.report:
        print("\n".join(tables(load_runs(a.report))))
        return 0
    torch.set_num_threads(1)
    info = machine()
    print(f"machine: {info}", flush=True)
    t0 = time.perf_counter()
    runs: list[Run] = []
    report: list[str] = []
    if "select" in a.parts:
        sel, lines = part_select(a.seeds or [10, 11, 12])
        runs += sel
        report += ["", "select (GAIL, stopped at the first evaluation at expert level):", *lines]
    seeds = a.seeds or [0, 1, 2]
    if "gail" in a.parts:
        peer = {"python": a.peer_python, "script": a.peer_script}
        main_runs = part_gail(seeds, a.peer_pendulum_seeds, peer)
    else:
        main_runs = []
    if "ppo" in a.parts:
        main_runs += part_mimetic("ppo", ("cartpole", "pendulum"), seeds)
    if "airl" in a.parts:
        main_runs += part_mimetic("airl", ("pendulum",), seeds)
    runs += main_runs
    report += tables(main_runs)
    info.update(loadavg_end=os.getloadavg(), total_s=round(time.perf_counter() - t0, 1),
                utc_end=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                processes_end=processes())
    print(f"\nmachine: {info}")
    print("\n".join(report))
    if a.json:
        a.json.write_text(json.dumps({"machine": info, "runs": [asdict(r) for r in runs]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
