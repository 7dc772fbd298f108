"""BC training throughput of mimetic against the `imitation` library (1.0.1), side by side.

What is measured, per case and seed, interleaved in one invocation:

* peer: ``run_peer.py bc --env <id> --episodes N --epochs E --seed S`` run in the peer's own venv
  (a subprocess; it prints one JSON line). Its ``samples_per_s`` is n_batches * 32 / train_s,
  with train_s timed around ``BC.train()`` only: FeedForward32Policy (32x32 tanh), Adam lr 1e-3,
  batch 32, the loader drops the ragged last batch.
* mimetic, peer-matched: the same task, the same expert, the same number of demo episodes
  (mimetic's own reset seeds 1000*S + k, so the states differ but the dataset size is identical),
  a 32x32 tanh MLP (categorical head for cartpole; for pendulum a gaussian head with a
  state-independent log-std, like SB3's), batch 32, Adam (AdamW with weight decay 0) at a constant
  lr 1e-3, no gradient clipping, and exactly the peer's number of gradient steps
  (epochs * (N // 32)). Samples/s = steps * 32 / wall time of the whole ``fit`` call (setup
  included, as the peer's train_s includes its loader setup).
* mimetic, batch 256 (``mimetic-b256``): the same 32x32 tanh network and heads as the matched run
  and the same number of epochs as the peer, but mimetic's own batch size, 256, so
  epochs * (N // 256) gradient steps (ragged batch dropped as above), Adam at ``--b256-lr`` with
  the ``--b256-schedule`` schedule (one setting for every case and seed), no clipping. The issue's
  "same" list is task, demos, network size and epochs; batch size and learning rate are free, and
  quality must be equal (expert level on at least as many seeds as the peer). Samples/s =
  steps * 256 / wall time of the whole ``fit`` call.
* mimetic, library defaults (``MLPConfig()``, ``BCConfig(seed=S)``), for information only: a
  different network, batch and step count, so its samples/s is not comparable to the peer's.

Both libraries are then evaluated on 50 episodes (deterministic actions); "expert level" means an
expert-normalized score >= 0.95 ((R - R_random) / (R_expert - R_random), with the expert and a
random policy measured on the same evaluation episodes), the peer harness's own threshold rule.
The order peer/mimetic alternates between seeds, so slow phases of the shared machine hit both.

Threads: both libraries always run at the same torch thread count (``--threads``, passed to the
peer as its own ``--threads``). The default is 1: on a shared 2-core machine two intra-op threads
oversubscribe the cores as soon as anything else runs, and both libraries then slow down by large,
erratic factors. ``--threads 1 2`` adds the pairing at 2 threads (torch's default here, the
setting of the peer's published results).

Run (from the repository root, about 6 minutes at 1 thread on a quiet 2-core machine):

    python benchmarks/bench_bc_speed.py [--seeds 0 1 2 3 4 5] [--cases cartpole pendulum pendulum-100]
                                        [--threads 1 [2]] [--who peer matched defaults b256]
                                        [--b256-lr 1e-2] [--b256-schedule cosine] [--json out.json]

``--optimizers [--repeats 3] [--opt-steps 400]`` is a separate comparison, no peer: end-to-end
``bc.fit`` (``torch.optim.AdamW``, foreach) against the flat-buffer AdamW loop it replaced
(benchmarks/_flat_adamw.py), on the same dataset and initial weights, interleaved (the order
alternates per repeat), at one torch thread, for several policy sizes; then both variants train
each task's default policy with default ``BCConfig`` on fixed seeds and report final loss and
evaluation return side by side (how far the floating point moved).

``--who b256 --seeds 10 11 12 --b256-lr ...`` is the learning-rate check behind the b256 default,
on seeds that the reported runs (0-5) do not use.

The peer venv and harness default to /work/.venv-imitation/bin/python and
/work/shared/peers/imitation_lib/run_peer.py (override: --peer-python, --peer-script).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from _peer import PEER_PYTHON, PEER_SCRIPT, peer_record

from mimetic.algos.bc import LR_SCHEDULES, BCConfig, fit
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.policies import DiffusionConfig, DiffusionPolicy, MLPConfig, MLPPolicy
from mimetic.rollout import collect, evaluate

BATCH = 32  # the peer's batch (imitation's BC default) and the matched run's
BIG_BATCH = 256  # mimetic's own batch size (BCConfig's default) in the b256 run
EVAL_EPISODES = 50
EVAL_SEED = 10_000
EXPERT_LEVEL = 0.95
# torch's own default: importing mimetic pins get_num_threads() to 1, the interop count is left alone
DEFAULT_THREADS = torch.get_num_interop_threads()
WHO = ("peer", "matched", "b256", "defaults")
# The batch-256 run's one learning-rate setting, picked by the check on seeds 10-12 (RESULTS.md):
# most expert-level seeds over the three cases, ties to the smallest lr.
B256_LR = 1e-2
B256_SCHEDULE = "cosine"


@dataclass(frozen=True)
class Case:
    """One peer configuration: task, demo episodes, epochs."""

    key: str
    task: str
    gym_id: str
    episodes: int
    epochs: int


CASES = {
    "cartpole": Case("cartpole", "cartpole", "CartPole-v1", episodes=10, epochs=20),
    "pendulum": Case("pendulum", "pendulum", "Pendulum-v1", episodes=20, epochs=20),
    "pendulum-100": Case("pendulum-100", "pendulum", "Pendulum-v1", episodes=20, epochs=100),
}


@dataclass(frozen=True)
class Run:
    """One timed training run of either library and the evaluation of its result."""

    case: str
    who: str  # "peer", "mimetic-matched", "mimetic-b256", "mimetic-defaults"
    seed: int
    threads: int
    samples: int
    train_s: float
    eval_return: float
    expert_level: bool

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.train_s


# --------------------------------------------------------------------------- peer


def run_peer(case: Case, seed: int, *, python: Path, script: Path, threads: int) -> Run:
    """One peer BC run in its own venv; its JSON line gives the timing and the evaluation."""
    cmd = [str(python), str(script), "bc", "--env", case.gym_id, "--episodes", str(case.episodes),
           "--epochs", str(case.epochs), "--seed", str(seed)]
    cmd += ["--threads", str(threads)]
    rec = peer_record(cmd)
    return Run(case=case.key, who="peer", seed=seed, threads=int(rec["torch_threads"]),
               samples=int(rec["n_batches"]) * BATCH, train_s=float(rec["train_s"]),
               eval_return=float(rec["eval_mean_return"]), expert_level=bool(rec["reached_threshold"]))


# --------------------------------------------------------------------------- mimetic


def demos(case: Case, seed: int) -> Dataset:
    """The same number of expert episodes as the peer, on mimetic's seeds 1000*seed + k."""
    task = make_task(case.task, num_envs=case.episodes)
    trajs = collect(task, make_expert(case.task), episodes=case.episodes, seed=1000 * seed)
    return Dataset.from_trajectories(trajs, spec=task.spec)


def matched_policy_config(case: Case) -> MLPConfig:
    """imitation's FeedForward32Policy: 32x32 tanh; SB3's gaussian has a state-independent log-std."""
    if case.task == "pendulum":
        return MLPConfig(hidden=(32, 32), activation="tanh", head="gaussian", gaussian_std="param")
    return MLPConfig(hidden=(32, 32), activation="tanh")


def matched_bc_config(case: Case, n_transitions: int, seed: int) -> BCConfig:
    """imitation's BC defaults: Adam lr 1e-3 (constant), no clipping, batch 32, same batch count."""
    steps = case.epochs * (n_transitions // BATCH)  # the peer's loader drops the ragged batch
    return BCConfig(steps=steps, batch_size=BATCH, lr=1e-3, lr_schedule="constant", grad_clip=0.0,
                    weight_decay=0.0, seed=seed, log_every=max(steps, 1))


def evaluate_policy(case: Case, policy: MLPPolicy) -> tuple[float, bool]:
    """Mean return over 50 evaluation episodes and whether it is at expert level."""
    task = make_task(case.task, num_envs=EVAL_EPISODES)
    res = evaluate(task, policy, episodes=EVAL_EPISODES, seed=EVAL_SEED, expert=make_expert(case.task))
    score = res.normalized_score if res.normalized_score is not None else float("nan")
    return res.return_mean, bool(score >= EXPERT_LEVEL)


def b256_bc_config(case: Case, n_transitions: int, seed: int, *, lr: float, schedule: str) -> BCConfig:
    """The peer's epochs at batch 256: epochs * (N // 256) steps, one lr setting for every case."""
    steps = case.epochs * (n_transitions // BIG_BATCH)
    return BCConfig(steps=steps, batch_size=BIG_BATCH, lr=lr, lr_schedule=schedule, grad_clip=0.0,
                    weight_decay=0.0, seed=seed, log_every=max(steps, 1))


def train_and_eval(case: Case, who: str, seed: int, threads: int, *, b256: tuple[float, str]) -> Run:
    """Train mimetic BC (matched, b256 or library defaults) at ``threads`` threads, time it, evaluate."""
    ds = demos(case, seed)
    if who == "mimetic-defaults":
        mlp, bc = MLPConfig(), BCConfig(seed=seed)
    elif who == "mimetic-b256":
        lr, schedule = b256
        mlp, bc = matched_policy_config(case), b256_bc_config(case, ds.n_transitions, seed, lr=lr, schedule=schedule)
    else:
        mlp, bc = matched_policy_config(case), matched_bc_config(case, ds.n_transitions, seed)
    policy = MLPPolicy.for_spec(make_task(case.task).spec, mlp, seed=seed)
    torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        res = fit(policy, ds, bc)
        train_s = time.perf_counter() - t0
    finally:
        torch.set_num_threads(DEFAULT_THREADS)
    ret, ok = evaluate_policy(case, policy)
    samples = res.steps * min(bc.batch_size, ds.n_transitions)
    return Run(case=case.key, who=who, seed=seed, threads=threads, samples=samples, train_s=train_s,
               eval_return=ret, expert_level=ok)


# --------------------------------------------------------------------------- schedule


def runs_for(case: Case, seed: int, threads: int, *, who: list[str], with_defaults: bool,
             b256: tuple[float, str], peer: dict[str, Any]) -> list[Run]:
    """One seed of one case at ``threads`` torch threads for both libraries: the peer first on
    even seeds and last on odd ones, so a slow phase of the shared machine is not always one-sided."""
    names = ["matched", "b256"] + (["defaults"] if with_defaults else [])
    ours = [lambda name=name: train_and_eval(case, f"mimetic-{name}", seed, threads, b256=b256)
            for name in names if name in who]
    theirs = [lambda: run_peer(case, seed, threads=threads, **peer)] if "peer" in who else []
    out = []
    for job in theirs + ours if seed % 2 == 0 else ours + theirs:
        run = job()
        print(f"  {run.case:13s} seed {seed} {run.who:17s} {run.threads}t  {run.samples_per_s:9.0f} samples/s"
              f"  train {run.train_s:6.2f}s  return {run.eval_return:8.1f}  expert-level {run.expert_level}",
              flush=True)
        out.append(run)
    return out


# --------------------------------------------------------------------------- report


def _fmt_returns(runs: list[Run]) -> str:
    return ", ".join(f"{r.eval_return:.0f}" for r in runs)


def summary_rows(runs: list[Run], cases: list[Case]) -> list[str]:
    """Markdown rows: per case and variant, median samples/s, paired ratio to the peer, returns."""
    lines = [("| case | run | threads | samples/s (median) | min-max | ratio vs peer (median of per-seed, min-max) "
              "| eval return per seed | at expert level |"),
             "|---|---|---|---|---|---|---|---|"]
    for case in cases:
        peer = {(r.seed, r.threads): r for r in runs if r.case == case.key and r.who == "peer"}
        groups: dict[tuple[str, int], list[Run]] = {}
        for r in runs:
            if r.case == case.key:
                groups.setdefault((r.who, r.threads), []).append(r)
        for (who, threads), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "peer", kv[0])):
            sps = [r.samples_per_s for r in rs]
            ratios = [r.samples_per_s / peer[r.seed, r.threads].samples_per_s for r in rs
                      if (r.seed, r.threads) in peer]
            ratio = "-" if who == "peer" or not ratios else f"{statistics.median(ratios):.1f}x"
            if ratios and who != "peer":
                ratio += f" ({min(ratios):.1f}-{max(ratios):.1f})"
            if who == "mimetic-defaults":
                ratio += " (not comparable)"
            ok = sum(r.expert_level for r in rs)
            lines.append(f"| {case.key} ({case.episodes} eps, {case.epochs} ep) | {who} | {threads} "
                         f"| {statistics.median(sps):,.0f} | {min(sps):,.0f}-{max(sps):,.0f} | {ratio} "
                         f"| {_fmt_returns(rs)} | {ok}/{len(rs)} |")
    return lines


def machine(b256: tuple[float, str]) -> dict[str, Any]:
    return {"nproc": os.cpu_count(), "torch": torch.__version__, "torch_default_threads": DEFAULT_THREADS,
            "python": platform.python_version(), "loadavg_start": os.getloadavg(),
            "mimetic_defaults": f"{MLPConfig()} {BCConfig()}",
            "b256": {"batch_size": BIG_BATCH, "lr": b256[0], "lr_schedule": b256[1]}}


# --------------------------------------------------------------------------- optimiser check

# (name, task, policy factory, batch): the peer-matched 32x32 net at batch 32 and 256, the library's
# default MLP, the 5-member ensemble and a diffusion policy.
OPT_CASES: tuple[tuple[str, str, Any, int], ...] = (
    ("mlp-32x32 b32", "pendulum", lambda: MLPConfig(hidden=(32, 32)), 32),
    ("mlp-32x32 b256", "pendulum", lambda: MLPConfig(hidden=(32, 32)), 256),
    ("mlp-default", "pendulum", lambda: MLPConfig(), 256),
    ("mlp-default", "cartpole", lambda: MLPConfig(), 256),
    ("ensemble5", "cartpole", lambda: MLPConfig(ensemble=5), 256),
    ("diffusion", "pendulum", lambda: DiffusionConfig(), 256),
)


def _opt_policy(task: str, make_config: Any, seed: int) -> Any:
    config = make_config()
    cls = DiffusionPolicy if isinstance(config, DiffusionConfig) else MLPPolicy
    return cls.for_spec(make_task(task).spec, config, seed=seed)


def _opt_demos(task: str, episodes: int = 20) -> Dataset:
    env = make_task(task, num_envs=episodes)
    return Dataset.from_trajectories(collect(env, make_expert(task), episodes=episodes, seed=0), spec=env.spec)


def optimiser_check(*, repeats: int, steps: int, quality_seeds: list[int]) -> list[str]:
    """Markdown lines: end-to-end fit time per variant and case, then the quality comparison."""
    from _flat_adamw import flat_fit

    torch.set_num_threads(1)
    variants = {"torch.optim.AdamW": fit, "flat AdamW": flat_fit}
    data = {task: _opt_demos(task) for task in ("pendulum", "cartpole")}
    for run in variants.values():  # warm-up: first-call import and allocator costs hit neither variant
        run(_opt_policy("pendulum", MLPConfig, 0), data["pendulum"], BCConfig(steps=20, seed=0))
    header = ("| policy | task | batch | params | torch.optim.AdamW fit s (median) | flat fit s (median) "
              "| flat speed-up (median of per-repeat, min-max) |")
    lines = [header, "|---|---|---|---|---|---|---|"]
    for name, task, make_config, batch in OPT_CASES:
        cfg = BCConfig(steps=steps, batch_size=batch, seed=0)
        times: dict[str, list[float]] = {v: [] for v in variants}
        for r in range(repeats):
            order = list(variants) if r % 2 == 0 else list(variants)[::-1]
            for v in order:
                policy = _opt_policy(task, make_config, 0)
                t0 = time.perf_counter()
                variants[v](policy, data[task], cfg)
                times[v].append(time.perf_counter() - t0)
        n_params = sum(p.numel() for p in _opt_policy(task, make_config, 0).parameters())
        ratios = [t / f for t, f in zip(times["torch.optim.AdamW"], times["flat AdamW"])]
        torch_s = statistics.median(times["torch.optim.AdamW"])
        lines.append(f"| {name} | {task} | {batch} | {n_params:,} | {torch_s:.3f} "
                     f"| {statistics.median(times['flat AdamW']):.3f} | {statistics.median(ratios):.2f}x "
                     f"({min(ratios):.2f}-{max(ratios):.2f}) |")
        print(lines[-1], flush=True)
    lines += ["", "| task | policy seed | variant | final BC loss | eval return (50 eps) |", "|---|---|---|---|---|"]
    for task in ("cartpole", "pendulum"):
        for seed in quality_seeds:
            for v, run in variants.items():
                policy = MLPPolicy.for_spec(make_task(task).spec, MLPConfig(), seed=seed)
                res = run(policy, data[task], BCConfig(seed=seed))
                env = make_task(task, num_envs=EVAL_EPISODES)
                ret = evaluate(env, policy, episodes=EVAL_EPISODES, seed=EVAL_SEED).return_mean
                lines.append(f"| {task} | {seed} | {v} | {res.final_loss!r} | {ret!r} |")
                print(lines[-1], flush=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    if argv is None and "--optimizers" in sys.argv:
        q = argparse.ArgumentParser(description="BC optimiser check")
        q.add_argument("--optimizers", action="store_true")
        q.add_argument("--repeats", type=int, default=3)
        q.add_argument("--opt-steps", type=int, default=400)
        q.add_argument("--quality-seeds", type=int, nargs="+", default=[0, 1])
        o = q.parse_args()
        print(f"load at start: {os.getloadavg()}", flush=True)
        optimiser_check(repeats=o.repeats, steps=o.opt_steps, quality_seeds=o.quality_seeds)
        print(f"load at end: {os.getloadavg()}")
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    p.add_argument("--peer-script", type=Path, default=PEER_SCRIPT)
    p.add_argument("--threads", type=int, nargs="+", default=[1],
                   help="torch threads, the same for both libraries (the peer's --threads); 1 is the fair "
                        "setting on a shared 2-core machine, 2 is torch's default there")
    p.add_argument("--who", nargs="+", choices=WHO, default=list(WHO),
                   help="which runs to make (b256 alone, on other seeds, is the learning-rate check)")
    p.add_argument("--b256-lr", type=float, default=B256_LR, help="peak Adam lr of the batch-256 run")
    p.add_argument("--b256-schedule", choices=LR_SCHEDULES, default=B256_SCHEDULE,
                   help="lr schedule of the batch-256 run")
    p.add_argument("--json", type=Path, default=None, help="also write every run as JSON here")
    a = p.parse_args(argv)
    b256 = (a.b256_lr, a.b256_schedule)
    info = machine(b256)
    print(f"machine: {info}", flush=True)
    cases = [CASES[k] for k in a.cases]
    peer = {"python": a.peer_python, "script": a.peer_script}
    t0 = time.perf_counter()
    runs: list[Run] = []
    for seed in a.seeds:
        for threads in a.threads:
            seen_tasks: set[str] = set()
            for case in cases:
                runs += runs_for(case, seed, threads, who=a.who, with_defaults=case.task not in seen_tasks,
                                 b256=b256, peer=peer)
                seen_tasks.add(case.task)
    info.update(loadavg_end=os.getloadavg(), total_s=round(time.perf_counter() - t0, 1))
    print(f"\nmachine: {info}\n")
    print("\n".join(summary_rows(runs, cases)))
    if a.json:
        a.json.write_text(json.dumps({"machine": info, "runs": [{**asdict(r), "samples_per_s": r.samples_per_s}
                                                                 for r in runs]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
