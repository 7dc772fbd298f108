"""The batched task interface: B environments stepped at once in numpy.

Semantics (rollout.py relies on them):
- ``reset(seeds=..., mask=...)`` re-seeds and resets the envs where ``mask`` is True (all when
  ``mask`` is None) and returns the full observation array (B, *O); rows not in ``mask`` are the
  current observations. Env ``i`` reset with seed ``s`` always starts in the same state, whatever B is.
- ``step(actions)`` never auto-resets: a done env returns its final observation and must be reset
  by the caller before it is stepped again (stepping a done env is undefined).
- ``truncated`` is set by the task itself when an env reaches ``spec.max_steps`` steps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from mimetic.errors import TaskError


@dataclass(frozen=True)
class TaskSpec:
    """What every caller needs to know about a task."""

    name: str  # mimetic task name ("cartpole") or "gym:<id>" for an adapted Gymnasium env
    gym_id: str  # the registered Gymnasium id of the single-env version
    observation_space: gym.spaces.Box
    action_space: gym.spaces.Space  # Discrete or Box
    max_steps: int

    @property
    def discrete(self) -> bool:
        return isinstance(self.action_space, gym.spaces.Discrete)

    @property
    def obs_dim(self) -> int:
        return int(np.prod(self.observation_space.shape))

    @property
    def act_dim(self) -> int:
        """Number of discrete actions, or the length of a continuous action vector."""
        if self.discrete:
            return int(self.action_space.n)
        return int(np.prod(self.action_space.shape))


@dataclass(frozen=True)
class Step:
    """Result of one batched step (no auto-reset)."""

    obs: np.ndarray  # (B, *O) float32, the observation after the step
    rewards: np.ndarray  # (B,) float64
    terminated: np.ndarray  # (B,) bool
    truncated: np.ndarray  # (B,) bool
    costs: np.ndarray  # (B,) float64, task cost of the step (driving: |lateral error|; else 0)


class BatchedTask(ABC):
    """B copies of one environment, stepped together."""

    spec: TaskSpec
    num_envs: int

    @abstractmethod
    def reset(self, *, seeds: np.ndarray | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        """Reset envs in ``mask`` (all if None) using ``seeds`` (B,) int; return obs (B, *O)."""

    @abstractmethod
    def step(self, actions: np.ndarray) -> Step:
        """Advance every env one step with ``actions`` (B,) int64 or (B, A) float32."""

    def get_state(self) -> np.ndarray:
        """Full simulator state (B, S) float64, enough to restart every env exactly."""
        raise TaskError(f"task {self.spec.name!r} does not support get_state/set_state")

    def set_state(self, state: np.ndarray) -> np.ndarray:
        """Restore a state from :meth:`get_state`; returns the matching observations (B, *O)."""
        raise TaskError(f"task {self.spec.name!r} does not support get_state/set_state")

    def render(self, index: int = 0) -> np.ndarray:
        """An RGB frame (H, W, 3) uint8 of env ``index``."""
        raise TaskError(f"task {self.spec.name!r} cannot render frames")

    def close(self) -> None:
        """Release resources (adapted Gymnasium envs)."""
