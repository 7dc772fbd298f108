"""DAgger (Ross, Gordon & Bagnell 2011) and the gate-defined members of its family.

Algorithm 3.1 of the paper, top to bottom:

    D <- {} ; pi_hat_1 <- any policy
    for i = 1..N:
        pi_i = beta_i pi* + (1 - beta_i) pi_hat_i        # BetaGate: who acts, per step
        run pi_i, let the expert label every visited state   # rollout(..., labeler=budget, gate=...)
        D <- D u {(s, pi*(s))}                             # aggregate, never replace
        pi_hat_{i+1} <- train on D                        # bc.fit, warm or from scratch

HG-DAgger, ThriftyDAgger, EnsembleDAgger and LazyDAgger are the same loop with a different gate
(:mod:`mimetic.interactive.gates`; ``gate=`` builds each round's): the expert labels only the
states it was handed (``Trajectory.labeled``), and only those join D. Every label is counted by one
:class:`LabelBudget`; when it is spent the round in progress stops cleanly, the policy is trained
on what was gathered, and the result says so.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from mimetic import seeding, trainstate
from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.envs.base import BatchedTask
from mimetic.errors import ConfigError
from mimetic.interactive.budget import LabelBudget
from mimetic.interactive.gates.beta import BetaGate, beta_at
from mimetic.interactive.gates.common import GateFactory, RoundContext
from mimetic.interactive.loop import (
    CheckpointHook,
    InteractiveResult,
    Resumable,
    RoundOutcome,
    RoundRecord,
    State,
    check_common,
    run_rounds,
)
from mimetic.protocols import Expert, TrainablePolicy
from mimetic.rollout import Scorer, rollout

BC_DEFAULT = bc.BCConfig(steps=1000)  # the refit inside each round unless a caller passes one


@dataclass(frozen=True)
class DAggerConfig:
    """Options of the DAgger loop (the BC step inside each round has its own BCConfig)."""

    rounds: int = 10
    """Data-collection rounds (the first one, with beta = 1, is the expert's demonstrations)."""

    episodes_per_round: int = 2
    """Episodes rolled out (and labelled) per round."""

    beta_schedule: Literal["one-then-zero", "exponential", "constant", "linear"] = "one-then-zero"
    """Mixing of expert into the executed policy: 1 in round 0 then 0; beta0 * p^i; beta0; or 1 - i/rounds."""

    beta0: float = 1.0
    """Initial beta for the constant and exponential schedules."""

    beta_p: float = 0.5
    """Decay p of the exponential schedule."""

    warm_start: bool = True
    """Continue training from the previous round's weights (otherwise retrain from the initial weights)."""

    demo_labels: int | None = None
    """Cap on round 0's expert labels: its episodes (the expert's demonstrations under the default
    schedule, HG-DAgger and ThriftyDAgger) are cut short once the expert has labelled this many
    states (None: full episodes)."""

    label_budget: int | None = None
    """Stop cleanly once the expert has labelled this many states (None: no limit)."""

    eval_episodes: int = 20
    """Evaluation episodes after each round (not counted as labels or training time; 0: skip)."""

    seed: int = 0
    """Seed of rollouts, beta coin flips and BC minibatches."""

    def __post_init__(self) -> None:
        for name in ("rounds", "episodes_per_round"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.demo_labels is not None and self.demo_labels < 1:
            raise ConfigError(f"demo_labels must be >= 1 (or None), got {self.demo_labels}")
        check_common(label_budget=self.label_budget, eval_episodes=self.eval_episodes)
        if self.beta0 < 0 or self.beta0 > 1 or not 0 <= self.beta_p <= 1:
            raise ConfigError(f"beta0 and beta_p must be in [0, 1], got {self.beta0} and {self.beta_p}")


def fit(
    task: BatchedTask,
    expert: Expert,
    policy: TrainablePolicy,
    config: DAggerConfig = DAggerConfig(),
    *,
    bc_config: bc.BCConfig = BC_DEFAULT,
    gate: GateFactory | None = None,
    eval_task: BatchedTask | None = None,
    dataset: Dataset | None = None,
    callback: Callable[[RoundRecord], None] | None = None,
    progress: bool = False,
    resume: State | None = None,
    checkpoint: CheckpointHook | None = None,
) -> InteractiveResult:
    """Run the DAgger loop on ``task`` and train ``policy`` in place.

    ``gate`` builds each round's gate (default: DAgger's beta mixture per ``config``); ``dataset``
    seeds the aggregate with earlier data (e.g. demonstrations). ``eval_task`` (default ``task``)
    measures each round's policy against the expert and a random policy. ``checkpoint`` and
    ``resume`` save and continue the run between rounds (see :func:`run_rounds`).
    """
    budget = LabelBudget(expert, limit=config.label_budget)
    rng = np.random.default_rng(config.seed)
    data = Dataset.empty(task.spec) if dataset is None else dataset
    initial = copy.deepcopy(policy.state_dict()) if isinstance(policy, torch.nn.Module) else None

    def one_round(i: int) -> RoundOutcome:
        beta = None if gate is not None else beta_at(config.beta_schedule, i, beta0=config.beta0,
                                                     p=config.beta_p, rounds=config.rounds)
        round_gate = gate(RoundContext(i, rng, budget, data)) if gate is not None else BetaGate(beta, rng=rng)
        with budget.capped(config.demo_labels if i == 0 else None):
            trajs = [] if budget.remaining == 0 else rollout(
                task, policy, episodes=config.episodes_per_round, labeler=budget, gate=round_gate,
                seed=seeding.EPISODES(config.seed, i * config.episodes_per_round))  # fresh start states each round
        if trajs:
            data.extend(trajs, targets="labels")  # aggregate: D <- D u D_i
        if data.n_transitions > 0:
            if not config.warm_start and initial is not None:
                policy.load_state_dict(initial)  # type: ignore[attr-defined]
            bc.fit(policy, data, replace(bc_config, seed=seeding.FITS(config.seed, i)))
        elif budget.exhausted or budget.remaining == 0:
            raise ConfigError("the label budget ran out before the expert labelled any state")
        # else: nothing labelled yet (a live human who has not stepped in); the learner is unchanged
        return RoundOutcome(beta=beta, transitions=data.n_transitions, learner=policy)

    def snapshot() -> State:
        arrays, data_meta = data.state_arrays()
        tensors = {**trainstate.policy_tensors(policy, "policy"), **trainstate.array_tensors(arrays, "data"),
                   **trainstate.global_rng_tensors()}
        gate_state = gate.state() if gate is not None and hasattr(gate, "state") else None
        return tensors, {"rng": trainstate.numpy_rng_state(rng), "data": data_meta, "gate": gate_state}

    def restore(state: State) -> None:
        tensors, meta = state
        trainstate.load_policy(policy, tensors, "policy")
        trainstate.load_global_rng(tensors)
        data.load_state_arrays(trainstate.tensor_arrays(tensors, "data"), meta.get("data") or {})
        trainstate.load_numpy_rng(rng, meta.get("rng"))
        if gate is not None and hasattr(gate, "load_state") and meta.get("gate") is not None:
            gate.load_state(meta["gate"])

    scorer = Scorer.make(eval_task or task, expert, episodes=config.eval_episodes)
    return run_rounds(one_round, rounds=config.rounds, budget=budget, scorer=scorer, desc="rounds",
                      callback=callback, progress=progress, resumable=Resumable(snapshot, restore),
                      resume=resume, checkpoint=checkpoint)
