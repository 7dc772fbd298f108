"""HG-DAgger (Kelly et al. 2019): a human supervisor watches the learner drive and takes over when
it goes wrong; only the steps the human drives are labelled. Here the human is simulated
(:class:`SimulatedHuman`: it judges by the expert's action and the task's risk hook) or live at
the keyboard (:mod:`.keyboard`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from mimetic.envs.base import BatchedTask
from mimetic.errors import ConfigError
from mimetic.interactive.budget import LabelBudget
from mimetic.interactive.gates.beta import BetaGate
from mimetic.interactive.gates.common import GateFactory, RoundContext, action_distance
from mimetic.interactive.gates.keyboard import KeyboardHuman
from mimetic.protocols import EnsemblePolicy, Expert, Gate, TrainablePolicy


class SimulatedHuman:
    """HG-DAgger's human supervisor (Kelly et al. 2019), simulated so it runs in tests.

    The learner drives. The human watches (``LabelBudget.watch``: counted, not labels) and takes
    over when the learner's action strays more than ``deviation`` from its own or ``risk_fn(obs)``
    exceeds ``risk``; it hands control back once both have been below ``release`` times their
    thresholds for ``calm_steps`` steps in a row. Only the steps it drives are queried, so only
    those enter the dataset. At each take-over it records the learner's ensemble ``doubt``
    (``policy.disagreement``), from which HG-DAgger derives its deployment threshold tau.
    """

    def __init__(self, budget: LabelBudget, *, discrete: bool, deviation: float,
                 risk_fn: Callable[[np.ndarray], np.ndarray] | None = None, risk: float = np.inf,
                 release: float = 0.5, calm_steps: int = 5, doubt_fn: Callable[[np.ndarray], np.ndarray] | None = None
                 ) -> None:
        if deviation <= 0 or risk <= 0 or not 0 < release <= 1 or calm_steps < 1:
            raise ConfigError("simulated human needs deviation > 0, risk > 0, 0 < release <= 1, calm_steps >= 1")
        self.budget, self.discrete = budget, discrete
        self.deviation, self.risk_fn, self.risk = deviation, risk_fn, risk
        self.release, self.calm_steps, self.doubt_fn = release, calm_steps, doubt_fn
        self.in_control = np.zeros(0, bool)  # (B,)
        self.calm = np.zeros(0, np.int64)  # (B,) consecutive calm steps while in control
        self.doubts: list[float] = []  # learner doubt at each intervention

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dev = action_distance(learner_acts, self.budget.watch(obs), discrete=self.discrete) / self.deviation
        risk = self.risk_fn(obs) / self.risk if self.risk_fn is not None else np.zeros(len(obs))
        unsafe = (dev > 1.0) | (risk > 1.0)
        start = unsafe & ~self.in_control
        if start.any() and self.doubt_fn is not None:
            self.doubts.extend(np.asarray(self.doubt_fn(obs[start]), np.float64).tolist())
        self.in_control |= unsafe
        calm = (dev < self.release) & (risk < self.release)
        self.calm = np.where(self.in_control & calm, self.calm + 1, 0)
        self.in_control &= self.calm < self.calm_steps  # hand back after a calm stretch
        take = self.in_control.copy()
        return take, take

    def reset(self, mask: np.ndarray) -> None:
        if len(self.in_control) != len(mask):
            self.in_control, self.calm = np.zeros(len(mask), bool), np.zeros(len(mask), np.int64)
        self.in_control[mask] = False
        self.calm[mask] = 0

    def tau(self) -> float | None:
        """HG-DAgger's doubt threshold: mean doubt over the last 25% of interventions."""
        return doubt_threshold(self.doubts)


def doubt_threshold(doubts: list[float]) -> float | None:
    """Mean of the last 25% of ``doubts`` (None: no intervention yet)."""
    if not doubts:
        return None
    return float(np.mean(doubts[-max(1, len(doubts) // 4):]))


class HGDAggerGates:
    """Gate factory for HG-DAgger (Kelly et al. 2019) with a :class:`SimulatedHuman` (or, for a
    task that renders, a live human at the keyboard: ``human=KeyboardHuman(...)``)."""

    def __init__(self, *, discrete: bool, deviation: float, risk_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                 risk: float = np.inf, doubt_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                 human: Gate | None = None) -> None:
        self.options = {"discrete": discrete, "deviation": deviation, "risk_fn": risk_fn, "risk": risk,
                        "doubt_fn": doubt_fn}
        self.human = human
        self._doubts: list[float] = []  # a resumed run's doubts, for the simulated human it will make

    def __call__(self, ctx: RoundContext) -> Gate:
        if self.human is not None and not isinstance(self.human, SimulatedHuman):
            return self.human  # a live human decides from the first round on
        if ctx.round == 0:
            return BetaGate(1.0, rng=ctx.rng)
        if self.human is None:
            self.human = SimulatedHuman(ctx.budget, **self.options)
            self.human.doubts = list(self._doubts)
        return self.human

    def state(self) -> dict[str, list[float]]:
        """What carries over between rounds (for checkpoints): the doubts recorded at take-overs."""
        return {"doubts": list(self.human.doubts) if isinstance(self.human, SimulatedHuman) else list(self._doubts)}

    def load_state(self, state: dict[str, list[float]]) -> None:
        self._doubts = [float(x) for x in state.get("doubts", [])]
        if isinstance(self.human, SimulatedHuman):
            self.human.doubts = list(self._doubts)

    def tau(self) -> float | None:
        if self.human is None:  # resumed after its last round: no human was made, the doubts came back
            return doubt_threshold(self._doubts)
        return self.human.tau() if isinstance(self.human, SimulatedHuman) else None


@dataclass(frozen=True)
class HGDAggerOptions:
    """HG-DAgger's options: who intervenes, and when a simulated human takes over."""

    deviation: float | None = None
    """The simulated human takes over when the learner's action is this far from its own (None: 0.5
    for discrete tasks, i.e. any disagreement; 0.2 otherwise)."""

    risk: float | None = None
    """... and when the task's risk exceeds this (None: the task's own threshold; driving: |lateral
    error| of 1.0 m; cartpole: half the failure angle)."""

    human: Literal["simulated", "keyboard"] = "simulated"
    """Who intervenes: a simulated human, or you at the keyboard in a window (driving: hold an arrow
    key to take over and steer)."""

    def num_envs(self) -> int | None:
        return 1 if self.human == "keyboard" else None  # one window, one car

    def build(self, task: BatchedTask, policy: TrainablePolicy, expert: Expert) -> tuple[GateFactory, Expert]:
        spec = task.spec
        if self.human == "keyboard":
            human = KeyboardHuman(task)  # the person at the keyboard is the expert: their actions are the labels
            return HGDAggerGates(discrete=spec.discrete, deviation=1.0, human=human), human.expert
        deviation = self.deviation if self.deviation is not None else (0.5 if spec.discrete else 0.2)
        risk = self.risk if self.risk is not None else (spec.risk_threshold if spec.risk_threshold is not None else 1.0)
        if deviation <= 0 or risk <= 0:
            raise ConfigError(f"--deviation and --risk must be > 0, got {deviation} and {risk}")
        doubt = policy.disagreement if isinstance(policy, EnsemblePolicy) and policy.ensemble_size > 1 else None
        return HGDAggerGates(discrete=spec.discrete, deviation=deviation, risk_fn=spec.risk, risk=risk,
                             doubt_fn=doubt), expert
