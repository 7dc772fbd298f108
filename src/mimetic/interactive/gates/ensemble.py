"""EnsembleDAgger (Menda, Driggs-Campbell & Kochenderfer 2019): the expert labels every state, as in
DAgger, but it also *acts* wherever the learner is unsafe: where the ensemble's variance exceeds
``tau`` or the learner's action is more than ``chi`` away from the expert's. Training episodes then
fail less often while the labels stay DAgger's. The gate needs the expert's action to decide; that
look is counted as ``watched``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mimetic.envs.base import BatchedTask
from mimetic.errors import ConfigError
from mimetic.interactive.budget import LabelBudget
from mimetic.interactive.gates.beta import BetaGate
from mimetic.interactive.gates.common import (
    GateFactory,
    RoundContext,
    action_distance,
    needs_ensemble,
    quantile_threshold,
)
from mimetic.protocols import Expert, Gate, TrainablePolicy


class EnsembleGate:
    """EnsembleDAgger's decision rule: the learner acts only where doubt <= tau and gap <= chi."""

    def __init__(self, budget: LabelBudget, *, discrete: bool, doubt_fn: Callable[[np.ndarray], np.ndarray],
                 tau: float, chi: float) -> None:
        self.budget, self.discrete, self.doubt_fn, self.tau, self.chi = budget, discrete, doubt_fn, tau, chi

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gap = action_distance(learner_acts, self.budget.watch(obs), discrete=self.discrete)  # (B,)
        take = (np.asarray(self.doubt_fn(obs)) > self.tau) | (gap > self.chi)
        return take, np.ones(len(obs), bool)  # every state is labelled, as in DAgger

    def reset(self, mask: np.ndarray) -> None:
        """Stateless: each step decides afresh."""


class EnsembleDAggerGates:
    """Gate factory for EnsembleDAgger. ``tau`` is a doubt threshold in the units of
    ``policy.disagreement``; None sets it each round to the (1 - ``doubt_rate``) quantile of the
    doubt over the aggregated states. ``chi`` is the largest tolerated action gap (discrete: any
    disagreement when < 1)."""

    def __init__(self, policy: TrainablePolicy, *, discrete: bool, chi: float, tau: float | None = None,
                 doubt_rate: float = 0.1) -> None:
        self.ensemble = needs_ensemble(policy, "EnsembleDAgger", "")
        if chi <= 0 or (tau is not None and tau < 0):
            raise ConfigError(f"EnsembleDAgger needs chi > 0 and tau >= 0, got {chi} and {tau}")
        if not 0.0 < doubt_rate < 1.0:
            raise ConfigError(f"doubt_rate must be in (0, 1), got {doubt_rate}")
        self.policy, self.discrete, self.chi, self.fixed_tau, self.doubt_rate = policy, discrete, chi, tau, doubt_rate
        self.taus: list[float] = []

    def __call__(self, ctx: RoundContext) -> Gate:
        if ctx.round == 0:
            return BetaGate(1.0, rng=ctx.rng)
        doubt = self.ensemble.disagreement
        tau = self.fixed_tau if self.fixed_tau is not None else quantile_threshold(doubt(ctx.data.transitions()[0]),
                                                                       rate=self.doubt_rate)
        self.taus.append(tau)
        return EnsembleGate(ctx.budget, discrete=self.discrete, doubt_fn=doubt, tau=tau, chi=self.chi)

    def state(self) -> dict[str, list[float]]:
        """The per-round thresholds recorded so far (for checkpoints; each round recomputes its own)."""
        return {"taus": list(self.taus)}

    def load_state(self, state: dict[str, list[float]]) -> None:
        self.taus = [float(x) for x in state.get("taus", [])]


@dataclass(frozen=True)
class EnsembleOptions:
    """EnsembleDAgger's options."""

    chi: float | None = None
    """Largest action gap at which the learner may act (None: 0.5 for discrete tasks, i.e. any
    disagreement; 0.2 otherwise)."""

    tau: float | None = None
    """Ensemble doubt threshold (None: set each round so --doubt-rate of the aggregated states exceed it)."""

    doubt_rate: float = 0.1
    """Fraction of aggregated states above the doubt threshold."""

    def num_envs(self) -> int | None:
        return None

    def build(self, task: BatchedTask, policy: TrainablePolicy, expert: Expert) -> tuple[GateFactory, Expert]:
        discrete = task.spec.discrete
        chi = self.chi if self.chi is not None else (0.5 if discrete else 0.2)
        return EnsembleDAggerGates(policy, discrete=discrete, chi=chi, tau=self.tau, doubt_rate=self.doubt_rate), expert
