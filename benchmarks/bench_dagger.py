"""DAgger family: mimetic's DAgger against the ``imitation`` library's, and ThriftyDAgger against DAgger.

Part ``dagger`` (issue target 1). For cartpole and pendulum and each seed, side by side in one
invocation (the peer first on even seeds, last on odd ones):

* peer: ``run_peer.py dagger --env CartPole-v1|Pendulum-v1 --rounds R --seed S --threads 1``,
  imitation's SimpleDAggerTrainer with its defaults (1 env, >= 3 episodes and >= 500 steps per
  round, LinearBetaSchedule(15), 4 BC epochs per round, 32x32 MLP, batch 32). Its JSON line gives,
  per round, the expert labels, the cumulative wall time (rollouts + training, evaluation
  excluded) and the 50-episode evaluation return.
* mimetic: ``dagger.fit`` with the configuration in ``DAGGER_SETUPS`` (fixed before the reported
  seeds were run, from ``--parts select`` on seeds 10-12), per-round evaluation on 50 held-out
  reset seeds 10000-10049 (``eval_task = make_task(name, num_envs=16)``, ``eval_episodes=50``),
  ``RoundRecord.train_wall_s`` = cumulative rollout + training time, evaluation excluded.

Both sides: "expert level" = expert-normalized score >= 0.95, (R - R_random) / (R_expert -
R_random) with the expert and a uniform-random policy measured on the same evaluation episodes
(the peer harness's rule). Per seed: the first round at expert level, the labels and wall time
then, and the ratios peer / mimetic. Target: on every seed mimetic reaches expert level with no
more labels than the peer and >= 5x less wall time.

Part ``thrifty`` (issue target 2). On pendulum and driving, for each seed, DAgger and
ThriftyDAgger with the same network (an ensemble of 5, which ThriftyDAgger's novelty needs; DAgger
gets the same ensemble), the same BC refit and the same R rounds and episodes per round
(``THRIFTY_SETUPS``). Both start with the same round-0 expert demonstrations (beta = 1), so the
tables also give the labels beyond round 0. ThriftyDAgger: ``ThriftyGates(**THRIFTY_GATES[task])``,
novelty only, picked per task by ``--parts select-thrifty`` on seeds 10-12 from ``SELECT_THRIFTY``
(switch rates 0.1, 0.03, 0.01; the paper's switch-back threshold; calibration on the learner's own
states).

Target score: expert-normalized score >= 0.95 on pendulum. On driving the normalized score is
nearly blind (a random policy crashes at a cost of about 1900 per episode, so 0.95 allows a cost
of about 100, 28x the expert's), so there the target is a cost per episode of at most 1.5x the
expert's on the same evaluation episodes. The primary comparison is the labels each method has
used when it first reaches the target; the labels and scores after all R rounds are reported too.
Target: >= 50% fewer labels than DAgger, on every seed.

HG-DAgger on driving, for information: a simulated human takes over when the learner's steering
strays more than 0.2 rad from its own or the car is more than 1 m off the centreline (the
``mimetic train hg-dagger`` defaults); labels, context switches and its doubt threshold tau. The
simulated human watches every state to decide (``LabelBudget.watched``); those are not labels.

Part ``select``: the candidate grid behind the fixed configurations, on seeds 10-12 by default
(rule: fewest seeds missing the target, then fewest labels at first reach summed over seeds,
then least wall time). Part ``select-thrifty``: only its ThriftyDAgger grid (with DAgger on the
same setting for reference).

Run (from the repository root; ``dagger`` + ``thrifty`` take about 3.5 minutes on a 2-core
machine, torch at 1 thread on both sides):

    python benchmarks/bench_dagger.py [--parts dagger thrifty] [--seeds 0 1 2] [--json out.json]
    python benchmarks/bench_dagger.py --parts select            # seeds 10 11 12
    python benchmarks/bench_dagger.py --parts select-thrifty    # seeds 10 11 12, ThriftyDAgger grid only

The peer venv and harness default to /work/.venv-imitation/bin/python and
/work/shared/peers/imitation_lib/run_peer.py (override: --peer-python, --peer-script).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Callable
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

from mimetic.algos import bc
from mimetic.envs import make_expert, make_task
from mimetic.interactive import dagger
from mimetic.interactive.gates.human import HGDAggerGates
from mimetic.interactive.gates.thrifty import ThriftyGates
from mimetic.policies import MLPConfig, MLPPolicy
from mimetic.rollout import reference_results

PEER_ROUNDS = {"cartpole": 10, "pendulum": 15}  # the peer README's runs
EVAL_EPISODES = 50
EVAL_SEED = 10_000  # dagger.fit evaluates on reset seeds 10000..10049
EVAL_ENVS = 16
EXPERT_LEVEL = 0.95  # expert-normalized score, the peer harness's rule
DRIVING_COST_FACTOR = 1.5  # driving's target: cost per episode <= 1.5x the expert's
LABEL_SAVING = 0.5  # target 2: >= 50% fewer labels
WALL_RATIO = 5.0  # target 1: >= 5x less wall time


@dataclass(frozen=True)
class Setup:
    """One mimetic configuration of the DAgger loop, its BC refit and its network."""

    task: str
    rounds: int
    episodes_per_round: int
    bc_steps: int
    lr: float
    hidden: tuple[int, ...]
    ensemble: int = 1
    demo_labels: int | None = None  # cap on round 0's expert demonstration (DAggerConfig.demo_labels)

    def label(self) -> str:
        ens = f", ensemble {self.ensemble}" if self.ensemble > 1 else ""
        demo = f", round 0 cut at {self.demo_labels} labels" if self.demo_labels else ""
        return (f"{self.rounds} rounds x {self.episodes_per_round} ep{demo}, BC {self.bc_steps} steps lr {self.lr:g} "
                f"(batch 256, cosine), MLP {'x'.join(map(str, self.hidden))} tanh{ens}")


# Fixed from `--parts select` on seeds 10-12 before seeds 0-2 were run (RESULTS.md gives the grid).
DAGGER_SETUPS = {
    "cartpole": Setup("cartpole", rounds=5, episodes_per_round=1, bc_steps=100, lr=1e-2, hidden=(32, 32)),
    "pendulum": Setup("pendulum", rounds=10, episodes_per_round=2, bc_steps=300, lr=1e-2, hidden=(64, 64)),
}
THRIFTY_SETUPS = {
    "pendulum": replace(DAGGER_SETUPS["pendulum"], ensemble=5),
    "driving": Setup("driving", rounds=8, episodes_per_round=1, bc_steps=300, lr=1e-2, hidden=(64, 64), ensemble=5),
}
# ThriftyGates options per task, picked by `--parts select-thrifty` on seeds 10-12 (RESULTS.md gives the grid).
THRIFTY_GATES: dict[str, dict[str, Any]] = {"pendulum": {"switch_rate": 0.03, "handback": "discrepancy"},
                                             "driving": {"switch_rate": 0.01}}
HG_DEVIATION, HG_RISK_M = 0.2, 1.0  # `mimetic train hg-dagger` defaults for a continuous task

# Candidates of `--parts select` (the lead's quick-check settings are the first of each list).
SELECT_DAGGER = {
    "cartpole": [Setup("cartpole", 5, 1, 200, 1e-3, (32, 32)), Setup("cartpole", 5, 1, 100, 1e-2, (32, 32)),
                 Setup("cartpole", 5, 1, 200, 1e-2, (32, 32)), Setup("cartpole", 5, 1, 100, 3e-3, (32, 32)),
                 Setup("cartpole", 5, 1, 50, 1e-2, (32, 32))],
    "pendulum": [Setup("pendulum", 8, 4, 500, 1e-3, (64, 64)), Setup("pendulum", 8, 4, 500, 3e-3, (64, 64)),
                 Setup("pendulum", 8, 4, 300, 1e-2, (64, 64)), Setup("pendulum", 6, 4, 200, 1e-2, (64, 64)),
                 Setup("pendulum", 12, 2, 500, 3e-3, (64, 64)), Setup("pendulum", 12, 2, 500, 1e-2, (64, 64)),
                 Setup("pendulum", 10, 2, 300, 1e-2, (64, 64)), Setup("pendulum", 10, 2, 300, 3e-3, (64, 64)),
                 Setup("pendulum", 10, 2, 200, 1e-2, (64, 64)), Setup("pendulum", 12, 2, 300, 3e-3, (32, 32))],
}
# ThriftyGates candidates (both tasks): the library defaults first, then lower switch rates (the
# paper's code defaults to 0.01), its switch-back threshold, and its calibration on the learner's states.
SELECT_THRIFTY: list[dict[str, Any]] = [
    {"switch_rate": 0.1}, {"switch_rate": 0.03}, {"switch_rate": 0.01},
    {"switch_rate": 0.03, "handback": "discrepancy"}, {"switch_rate": 0.01, "handback": "discrepancy"},
    {"switch_rate": 0.03, "calibrate": "learner", "handback": "discrepancy"},
    {"switch_rate": 0.01, "calibrate": "learner", "handback": "discrepancy"},
]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Round:
    """One round of either library, in common units."""

    round: int
    labels: int  # cumulative expert labels
    wall_s: float  # cumulative rollout + training time, evaluation excluded
    return_mean: float
    score: float  # expert-normalized
    cost: float | None  # cost per episode (mimetic tasks with a cost; None for the peer)
    switches: int | None  # cumulative context switches (mimetic)


@dataclass(frozen=True)
class Run:
    lib: str  # "peer" or "mimetic"
    algo: str  # "dagger", "thrifty", "hg-dagger"
    task: str
    seed: int
    rounds: tuple[Round, ...]
    extra: dict[str, Any]


def first_at(run: Run, ok: Callable[[Round], bool]) -> Round | None:
    return next((r for r in run.rounds if ok(r)), None)


# --------------------------------------------------------------------------- peer


def run_peer(task: str, seed: int, *, rounds: int, python: Path, script: Path) -> Run:
    """One peer DAgger run in its own venv at 1 torch thread; its JSON line has every round."""
    cmd = [str(python), str(script), "dagger", "--env", GYM_IDS[task], "--rounds", str(rounds),
           "--seed", str(seed), "--threads", "1"]
    rec = peer_record(cmd)
    rows = tuple(Round(round=int(r["round"]), labels=int(r["expert_queries"]), wall_s=float(r["wall_s"]),
                       return_mean=float(r["eval_mean_return"]), score=peer_score(float(r["eval_mean_return"]), rec),
                       cost=None, switches=None)
                 for r in rec["rounds"])
    extra = {"threshold_return": rec["threshold_return"], "expert_return": float(rec["expert_return"]),
             "random_return": float(rec["random_return"]),
             "process_wall_s": rec["process_wall_s"], "torch_threads": rec["torch_threads"],
             "first_reach": rec["first_reach"], "config": rec["config"]}
    return Run("peer", "dagger", task, seed, rows, extra)


# --------------------------------------------------------------------------- mimetic


def make_gate(algo: str, policy: MLPPolicy, *, task: str, discrete: bool, **thrifty: Any) -> Any:
    if algo == "dagger":
        return None
    if algo == "thrifty":
        return ThriftyGates(policy, discrete=discrete, **(thrifty or THRIFTY_GATES[task]))
    # the CLI's observable risk (driving: metres off the centreline)
    return HGDAggerGates(discrete=discrete, deviation=HG_DEVIATION, risk_fn=make_task("driving").spec.risk,
                         risk=HG_RISK_M, doubt_fn=policy.disagreement)


def run_mimetic(setup: Setup, seed: int, *, algo: str = "dagger", **gate_options: Any) -> Run:
    """``dagger.fit`` at 1 torch thread; per-round labels, training wall time and evaluation."""
    task = make_task(setup.task, num_envs=setup.episodes_per_round)
    eval_task = make_task(setup.task, num_envs=EVAL_ENVS)
    policy = MLPPolicy.for_spec(task.spec, MLPConfig(hidden=setup.hidden, ensemble=setup.ensemble), seed=seed)
    gate = make_gate(algo, policy, task=setup.task, discrete=task.spec.discrete, **gate_options)
    cfg = dagger.DAggerConfig(rounds=setup.rounds, episodes_per_round=setup.episodes_per_round,
                              demo_labels=setup.demo_labels, eval_episodes=EVAL_EPISODES, seed=seed)
    t0 = time.perf_counter()
    res = dagger.fit(task, make_expert(setup.task), policy, cfg,
                     bc_config=bc.BCConfig(steps=setup.bc_steps, lr=setup.lr), gate=gate, eval_task=eval_task)
    rows = tuple(Round(round=r.round, labels=r.labels, wall_s=r.train_wall_s, return_mean=float(r.return_mean),
                       score=float(r.normalized_score), cost=r.cost_mean, switches=r.context_switches)
                 for r in res.rounds)
    extra: dict[str, Any] = {"setup": asdict(setup), "gate_options": gate_options or THRIFTY_GATES.get(setup.task),
                             "expert_steps": res.expert_steps, "watched": res.watched,
                             "process_wall_s": round(time.perf_counter() - t0, 2)}
    if algo == "thrifty":
        extra.update(novelty_thresholds=gate.thresholds, handback_thresholds=gate.handbacks,
                     risk_thresholds=gate.risk_thresholds)
    if algo == "hg-dagger":
        extra.update(tau=gate.tau(), interventions=len(gate.human.doubts) if gate.human else 0)
    return Run("mimetic", algo, setup.task, seed, rows, extra)


def expert_cost(task: str) -> float:
    """The expert's cost per episode on the evaluation episodes (the driving target's reference)."""
    exp, _ = reference_results(make_task(task, num_envs=EVAL_ENVS), make_expert(task), episodes=EVAL_EPISODES,
                               seed=EVAL_SEED)
    return float(exp.cost_mean)


def target_rule(task: str, ref_cost: float | None) -> Callable[[Round], bool]:
    if task == "driving":
        assert ref_cost is not None
        return lambda r: r.cost is not None and r.cost <= DRIVING_COST_FACTOR * ref_cost
    return lambda r: r.score >= EXPERT_LEVEL


def show(run: Run) -> None:
    rows = " | ".join(f"r{r.round} L{r.labels} {r.wall_s:.2f}s n{r.score:.3f}"
                      + (f" c{r.cost:.1f}" if run.task == "driving" else "")
                      + (f" sw{r.switches}" if run.algo != "dagger" else "") for r in run.rounds)
    print(f"  {run.task:8s} seed {run.seed} {run.lib:7s} {run.algo:9s} {rows}", flush=True)


# --------------------------------------------------------------------------- parts


def part_dagger(seeds: list[int], peer: dict[str, Any], peer_rounds: dict[str, int]) -> list[Run]:
    runs: list[Run] = []
    for task in ("cartpole", "pendulum"):
        for seed in seeds:
            jobs = [lambda t=task, s=seed: run_peer(t, s, rounds=peer_rounds[t], **peer),
                    lambda t=task, s=seed: run_mimetic(DAGGER_SETUPS[t], s)]
            for job in jobs if seed % 2 == 0 else jobs[::-1]:
                runs.append(job())
                show(runs[-1])
    return runs


def part_thrifty(seeds: list[int]) -> list[Run]:
    runs: list[Run] = []
    for task in ("pendulum", "driving"):
        for seed in seeds:
            algos = ["dagger", "thrifty"] + (["hg-dagger"] if task == "driving" else [])
            for algo in algos if seed % 2 == 0 else algos[::-1]:
                runs.append(run_mimetic(THRIFTY_SETUPS[task], seed, algo=algo))
                show(runs[-1])
    return runs


def part_select(seeds: list[int], *, dagger_grid: bool = True) -> tuple[list[Run], list[str]]:
    """The candidate grid; one line per candidate with its first-reach labels and wall per seed.
    ThriftyDAgger's candidates come after DAgger on the same setting, for reference."""
    runs: list[Run] = []
    lines = [("| task | candidate | first round at target, labels, wall s (per seed) | seeds missing | "
              "labels summed | wall s summed |"), "|---|---|---|---|---|---|"]
    grid: list[tuple[str, Setup, str, dict[str, Any]]] = [
        (task, s, "dagger", {}) for task, cands in SELECT_DAGGER.items() for s in cands if dagger_grid]
    grid += [(task, THRIFTY_SETUPS[task], algo, opts) for task in THRIFTY_SETUPS
             for algo, opts in [("dagger", {})] + [("thrifty", o) for o in SELECT_THRIFTY]]
    ref = {"driving": expert_cost("driving")}
    for task, setup, algo, opts in grid:
        ok = target_rule(task, ref.get(task))
        got = []
        for seed in seeds:
            runs.append(run_mimetic(setup, seed, algo=algo, **opts))
            show(runs[-1])
            got.append(first_at(runs[-1], ok))
        reached = [g for g in got if g is not None]
        cells = ", ".join(f"r{g.round} {g.labels} {g.wall_s:.2f}" if g else "never" for g in got)
        name = setup.label() + (f"; thrifty {', '.join(f'{k} {v}' for k, v in opts.items())}"
                                if algo == "thrifty" else "; DAgger")
        lines.append(f"| {task} | {name} | {cells} | {len(got) - len(reached)} | "
                     f"{sum(g.labels for g in reached)} | {sum(g.wall_s for g in reached):.2f} |")
    return runs, lines


# --------------------------------------------------------------------------- report


def _fmt(r: Round | None, *, wall: bool = True) -> str:
    if r is None:
        return "never"
    return f"r{r.round} / {r.labels}" + (f" / {r.wall_s:.2f}" if wall else "")


def dagger_table(runs: list[Run]) -> list[str]:
    ok = target_rule("cartpole", None)
    lines = [("| task | seed | peer: first round / labels / wall s | mimetic: first round / labels / wall s "
              "| label ratio peer/mimetic | wall ratio peer/mimetic | peer final score (labels) "
              "| mimetic final score (labels) | met |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for task in ("cartpole", "pendulum"):
        by = {(r.lib, r.seed): r for r in runs if r.task == task and r.algo == "dagger"}
        for seed in sorted({s for _, s in by}):
            p, m = by.get(("peer", seed)), by.get(("mimetic", seed))
            if p is None or m is None:
                continue
            fp, fm = first_at(p, ok), first_at(m, ok)
            lr = f"{fp.labels / fm.labels:.1f}x" if fp and fm else "-"
            wr = f"{fp.wall_s / fm.wall_s:.1f}x" if fp and fm else "-"
            met = bool(fm and (fp is None or (fm.labels <= fp.labels and fp.wall_s / fm.wall_s >= WALL_RATIO)))
            lines.append(f"| {task} | {seed} | {_fmt(fp)} | {_fmt(fm)} | {lr} | {wr} | "
                         f"{p.rounds[-1].score:.3f} ({p.rounds[-1].labels}) | "
                         f"{m.rounds[-1].score:.3f} ({m.rounds[-1].labels}) | {'yes' if met else 'NO'} |")
    return lines


def thrifty_table(runs: list[Run], ref_cost: dict[str, float]) -> list[str]:
    lines = [("| task | seed | DAgger: first round / labels (beyond r0) | Thrifty: first round / labels (beyond r0) "
              "| fewer labels at first reach (beyond r0) | DAgger after R: labels, score, cost | "
              "Thrifty after R: labels, score, cost, switches | fewer labels after R | met: first reach / after R |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for task in ("pendulum", "driving"):
        ok = target_rule(task, ref_cost.get(task))
        by = {(r.algo, r.seed): r for r in runs if r.task == task}
        for seed in sorted({s for a, s in by if a == "dagger"}):
            d, t = by.get(("dagger", seed)), by.get(("thrifty", seed))
            if d is None or t is None:
                continue
            fd, ft = first_at(d, ok), first_at(t, ok)
            r0d, r0t = d.rounds[0].labels, t.rounds[0].labels

            def cell(f: Round | None, r0: int) -> str:
                return "never" if f is None else f"r{f.round} / {f.labels} ({f.labels - r0})"

            if fd and ft:
                beyond = (1 - (ft.labels - r0t) / (fd.labels - r0d)) if fd.labels > r0d else float("-inf")
                saving = f"{1 - ft.labels / fd.labels:+.0%} ({beyond:+.0%})"
            else:
                saving = "-"
            met = bool(ft and fd and ft.labels <= (1 - LABEL_SAVING) * fd.labels)
            ld, lt = d.rounds[-1], t.rounds[-1]
            met_r = ok(ld) and ok(lt) and lt.labels <= (1 - LABEL_SAVING) * ld.labels
            cost = (lambda r: f", {r.cost:.1f}") if task == "driving" else (lambda r: "")
            verdict = f"{'yes' if met else 'NO'} / {'yes' if met_r else 'NO'}"
            lines.append(f"| {task} | {seed} | {cell(fd, r0d)} | {cell(ft, r0t)} | {saving} | "
                         f"{ld.labels}, {ld.score:.3f}{cost(ld)} | {lt.labels}, {lt.score:.3f}{cost(lt)}, "
                         f"{lt.switches} | {1 - lt.labels / ld.labels:+.0%} | {verdict} |")
    return lines


def hg_table(runs: list[Run], ref_cost: dict[str, float]) -> list[str]:
    ok = target_rule("driving", ref_cost.get("driving"))
    lines = [("| seed | first round at target / labels | labels after R | expert-driven steps | context switches "
              "| states watched | final cost | tau (doubt threshold) |"), "|---|---|---|---|---|---|---|---|"]
    for run in (r for r in runs if r.algo == "hg-dagger"):
        last = run.rounds[-1]
        tau = run.extra.get("tau")
        lines.append(f"| {run.seed} | {_fmt(first_at(run, ok), wall=False)} | {last.labels} | "
                     f"{run.extra['expert_steps']} | {last.switches} | {run.extra.get('watched', '-')} | "
                     f"{last.cost:.1f} | "
                     f"{'-' if tau is None else f'{tau:.3g}'} |")
    return lines


def machine() -> dict[str, Any]:
    return {**machine_base(), "dagger_setups": {k: s.label() for k, s in DAGGER_SETUPS.items()},
            "thrifty_setups": {k: s.label() for k, s in THRIFTY_SETUPS.items()},
            "thrifty_gates": THRIFTY_GATES,
            "hg_gate": {"deviation": HG_DEVIATION, "risk_m": HG_RISK_M}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", nargs="+", choices=("dagger", "thrifty", "select", "select-thrifty"),
                   default=["dagger", "thrifty"])
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (select: 10 11 12)")
    p.add_argument("--peer-rounds", type=int, nargs=2, metavar=("CARTPOLE", "PENDULUM"),
                   default=[PEER_ROUNDS["cartpole"], PEER_ROUNDS["pendulum"]])
    p.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    p.add_argument("--peer-script", type=Path, default=PEER_SCRIPT)
    p.add_argument("--json", type=Path, default=None, help="also write every run as JSON here")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    info = machine()
    print(f"machine: {info}", flush=True)
    t0 = time.perf_counter()
    runs: list[Run] = []
    report: list[str] = []
    ref_cost = {"driving": expert_cost("driving")}
    if "select" in a.parts or "select-thrifty" in a.parts:
        sel_runs, lines = part_select(a.seeds or [10, 11, 12], dagger_grid="select" in a.parts)
        runs += sel_runs
        report += ["", "select (first round at target, labels, wall s):", *lines]
    seeds = a.seeds or [0, 1, 2]
    if "dagger" in a.parts:
        peer = {"python": a.peer_python, "script": a.peer_script}
        runs += (r := part_dagger(seeds, peer, dict(zip(("cartpole", "pendulum"), a.peer_rounds))))
        report += ["", "DAgger vs peer (first round at expert level / labels / wall s):", *dagger_table(r)]
    if "thrifty" in a.parts:
        runs += (r := part_thrifty(seeds))
        report += ["", f"ThriftyDAgger vs DAgger (driving expert cost {ref_cost['driving']:.2f}):",
                   *thrifty_table(r, ref_cost), "", "HG-DAgger on driving:", *hg_table(r, ref_cost)]
    info.update(loadavg_end=os.getloadavg(), total_s=round(time.perf_counter() - t0, 1),
                utc_end=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                driving_expert_cost=ref_cost["driving"])
    print(f"\nmachine: {info}")
    print("\n".join(report))
    if a.json:
        a.json.write_text(json.dumps({"machine": info, "runs": [asdict(r) for r in runs]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
