"""What every gate family shares: the round context a factory sees, and two measures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mimetic.data import Dataset
from mimetic.envs.base import BatchedTask
from mimetic.errors import ConfigError
from mimetic.interactive.budget import LabelBudget
from mimetic.protocols import EnsemblePolicy, Expert, Gate, TrainablePolicy


@dataclass(frozen=True)
class RoundContext:
    """What a gate factory may use to build a round's gate."""

    round: int
    rng: np.random.Generator
    budget: LabelBudget
    data: Dataset  # everything aggregated so far


GateFactory = Callable[[RoundContext], Gate]


class GateOptions(Protocol):
    """A gate family's options (a frozen dataclass whose fields are its command-line options)."""

    def build(self, task: BatchedTask, policy: TrainablePolicy, expert: Expert) -> tuple[GateFactory, Expert]:
        """The gate factory, and the expert the label budget should ask (a live human is its own)."""
        ...

    def num_envs(self) -> int | None:
        """Envs the gate can watch at once (None: any number)."""
        ...


def action_distance(a: np.ndarray, b: np.ndarray, *, discrete: bool) -> np.ndarray:
    """Per-row disagreement (B,): 1/0 for discrete actions, Euclidean distance for continuous."""
    if discrete:
        return (np.asarray(a) != np.asarray(b)).astype(np.float64)
    return np.linalg.norm((np.asarray(a, np.float64) - b).reshape(len(a), -1), axis=1)


def quantile_threshold(values: np.ndarray, *, rate: float) -> float:
    """The threshold that ``rate`` of ``values`` exceed (ThriftyDAgger's target switch rate)."""
    if not 0.0 < rate < 1.0:
        raise ConfigError(f"target switch rate must be in (0, 1), got {rate}")
    return float(np.quantile(np.asarray(values, np.float64), 1.0 - rate))


def needs_ensemble(policy: TrainablePolicy, who: str, what: str) -> EnsemblePolicy:
    """``policy`` as an :class:`EnsemblePolicy` of 2 or more members, else one ConfigError line."""
    if not isinstance(policy, EnsemblePolicy) or policy.ensemble_size < 2:
        raise ConfigError(f"{who} needs an ensemble policy{what} (e.g. MLPConfig(ensemble=5))")
    return policy
