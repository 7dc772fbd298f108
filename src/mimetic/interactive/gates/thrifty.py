"""ThriftyDAgger (Hoque et al. 2021): the learner drives until its ensemble is unsure (novelty) or
its estimated risk is high; then the expert drives, labelled, until the learner agrees again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from mimetic.data import Dataset
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
from mimetic.interactive.risk import failure_risk
from mimetic.protocols import Expert, Gate, TrainablePolicy


class ThriftyGate:
    """ThriftyDAgger's switch (Hoque et al. 2021, Algorithm 1) between a learner and the expert.

    The learner drives until its ensemble disagrees (``novelty_fn(obs)`` > ``novelty``) or its
    estimated risk (``risk_fn(obs)`` > ``risk``); then the expert drives (and is labelled) until the
    learner's own action is back within ``handback`` of the expert's (squared distance, as in the
    paper; default: ``novelty``), risk is below ``risk_release`` and the expert has driven at least
    ``min_steps`` steps. Thresholds come from :class:`ThriftyGates`.
    """

    def __init__(self, *, discrete: bool, novelty_fn: Callable[[np.ndarray], np.ndarray], novelty: float,
                 risk_fn: Callable[[np.ndarray], np.ndarray] | None = None, risk: float = np.inf,
                 risk_release: float | None = None, labeler: LabelBudget | None = None,
                 handback: float | None = None, min_steps: int = 1) -> None:
        if min_steps < 1:
            raise ConfigError(f"minimum intervention length must be >= 1 step, got {min_steps}")
        self.discrete, self.novelty_fn, self.novelty = discrete, novelty_fn, novelty
        self.risk_fn, self.risk = risk_fn, risk
        self.risk_release = risk if risk_release is None else risk_release
        self.handback = novelty if handback is None else handback
        self.labeler, self.min_steps = labeler, min_steps
        self.in_control = np.zeros(0, bool)  # (B,)
        self.driven = np.zeros(0, np.int64)  # (B,) steps the expert has driven in the current intervention

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.in_control) != len(obs):
            self.reset(np.ones(len(obs), bool))
        novel = self.novelty_fn(obs) > self.novelty
        risk = self.risk_fn(obs) if self.risk_fn is not None else np.zeros(len(obs))
        take = self.in_control | novel | (risk > self.risk)
        ready = self.in_control & (self.driven >= self.min_steps)
        if ready.any() and self.labeler is not None:
            # The expert is driving these envs: compare its action with the learner's to decide
            # whether to hand control back (counted as watched; a kept step is labelled as usual).
            rows = np.flatnonzero(ready)
            gap = action_distance(learner_acts[rows], self.labeler.watch(obs[rows]), discrete=self.discrete) ** 2
            back = (gap < self.handback) & (risk[rows] < self.risk_release) & ~novel[rows]
            take[rows[back]] = False
        self.driven = np.where(take, self.driven + 1, 0)
        self.in_control = take.copy()
        return take, take

    def reset(self, mask: np.ndarray) -> None:
        if len(self.in_control) != len(mask):
            self.in_control, self.driven = np.zeros(len(mask), bool), np.zeros(len(mask), np.int64)
        self.in_control[mask] = False
        self.driven[mask] = 0


class ThriftyGates:
    """Gate factory for ThriftyDAgger (Hoque et al. 2021): novelty = the learner ensemble's
    disagreement, with the threshold re-set each round to the (1 - switch_rate) quantile of the
    novelty over reference states, so roughly ``switch_rate`` of them would ask for help.

    ``calibrate`` picks the reference states: ``"data"``, every aggregated (labelled) state;
    ``"learner"``, the states the learner itself drove in earlier rounds (the paper's
    reference code re-sets the threshold from the robot's own states), falling back to the data
    until there are ``MIN_CALIBRATION`` of them. ``handback`` picks the squared action gap below
    which the expert hands control back: ``"novelty"``, the novelty threshold; ``"discrepancy"``,
    the policy's mean squared error on its own training labels (the paper's switch-back threshold).
    ``min_intervention`` makes the expert drive at least that many steps per take-over.
    ``risk_fn``/``risk`` add the risk condition where a task has a risk estimate.
    """

    MIN_CALIBRATION = 25  # the paper's code re-estimates its thresholds from > 25 states

    def __init__(self, policy: TrainablePolicy, *, discrete: bool, switch_rate: float = 0.1,
                 risk_fn: Callable[[np.ndarray], np.ndarray] | None = None, risk: float = np.inf,
                 learn_risk: bool = False, risk_rate: float | None = None,
                 calibrate: Literal["data", "learner"] = "data",
                 handback: Literal["novelty", "discrepancy"] = "novelty",
                 min_intervention: int = 1) -> None:
        self.ensemble = needs_ensemble(policy, "ThriftyDAgger", " for novelty")
        quantile_threshold(np.zeros(2), rate=switch_rate)  # validates the rate with one clear line
        if calibrate not in ("data", "learner") or handback not in ("novelty", "discrepancy"):
            raise ConfigError(f"calibrate must be data or learner and handback novelty or discrepancy, "
                              f"got {calibrate!r} and {handback!r}")
        if min_intervention < 1:
            raise ConfigError(f"min_intervention must be >= 1, got {min_intervention}")
        self.policy, self.discrete, self.switch_rate = policy, discrete, switch_rate
        self.risk_fn, self.risk = risk_fn, risk
        self.learn_risk = learn_risk
        self.risk_rate = switch_rate if risk_rate is None else risk_rate
        self.calibrate, self.handback, self.min_intervention = calibrate, handback, min_intervention
        self.thresholds: list[float] = []  # novelty threshold of each round
        self.handbacks: list[float] = []  # hand-back threshold (squared action gap) of each round
        self.risk_thresholds: list[float] = []  # learned-risk threshold of each round

    def __call__(self, ctx: RoundContext) -> Gate:
        if ctx.round == 0:
            return BetaGate(1.0, rng=ctx.rng)
        obs, labels = ctx.data.transitions()
        disagreement = self.ensemble.disagreement
        own = _learner_states(ctx.data) if self.calibrate == "learner" else obs[:0]
        reference = own if len(own) >= self.MIN_CALIBRATION else obs
        threshold = quantile_threshold(disagreement(reference), rate=self.switch_rate)
        self.thresholds.append(threshold)
        handback = threshold
        if self.handback == "discrepancy":
            gap = action_distance(self.policy.act(obs), labels, discrete=self.discrete) ** 2  # (N,)
            handback = float(gap.mean())
        self.handbacks.append(handback)
        risk_fn, risk = self.risk_fn, self.risk
        episodes = list(ctx.data.episodes()) if self.learn_risk else []
        if episodes and any(t.terminated for t in episodes):
            model = failure_risk(episodes, seed=ctx.round)
            risk_fn = model
            risk = max(quantile_threshold(model(obs), rate=self.risk_rate), 0.05)  # never on near-zero risk
            self.risk_thresholds.append(risk)
        return ThriftyGate(discrete=self.discrete, novelty_fn=disagreement, novelty=threshold, risk_fn=risk_fn,
                           risk=risk, labeler=ctx.budget, handback=handback, min_steps=self.min_intervention)

    def state(self) -> dict[str, list[float]]:
        """The per-round thresholds recorded so far (for checkpoints; each round recomputes its own)."""
        return {"thresholds": list(self.thresholds), "handbacks": list(self.handbacks),
                "risk_thresholds": list(self.risk_thresholds)}

    def load_state(self, state: dict[str, list[float]]) -> None:
        self.thresholds = [float(x) for x in state.get("thresholds", [])]
        self.handbacks = [float(x) for x in state.get("handbacks", [])]
        self.risk_thresholds = [float(x) for x in state.get("risk_thresholds", [])]


def _learner_states(data: Dataset) -> np.ndarray:
    """Observations (n, *O) at the steps the learner, not the expert, chose the action."""
    rows = [t.obs[:-1][~t.expert_acted] for t in data.episodes() if t.expert_acted is not None]
    return np.concatenate(rows) if rows else np.zeros((0, *data.obs_shape), np.float32)


@dataclass(frozen=True)
class ThriftyOptions:
    """ThriftyDAgger's options."""

    switch_rate: float = 0.1
    """Target fraction of familiar states that ask for help."""

    learn_risk: bool = False
    """Also hand over where a learned failure-risk estimate is high (tasks whose episodes end on
    failure: cartpole, driving)."""

    calibrate: Literal["data", "learner"] = "data"
    """States the switch threshold is calibrated on: every aggregated state, or the learner's own
    states from earlier rounds."""

    handback: Literal["novelty", "discrepancy"] = "novelty"
    """The expert hands back when the squared action gap is below the novelty threshold, or below
    the policy's mean training error (the paper's rule)."""

    min_intervention: int = 1
    """The expert drives at least this many steps per take-over."""

    def num_envs(self) -> int | None:
        return None

    def build(self, task: BatchedTask, policy: TrainablePolicy, expert: Expert) -> tuple[GateFactory, Expert]:
        return ThriftyGates(policy, discrete=task.spec.discrete, switch_rate=self.switch_rate,
                            learn_risk=self.learn_risk, calibrate=self.calibrate, handback=self.handback,
                            min_intervention=self.min_intervention), expert
