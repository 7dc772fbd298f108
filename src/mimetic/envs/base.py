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
from typing import Any

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


class SingleEnv(gym.Env):
    """A one-env Gymnasium view of a batched task, for ``gym.make`` users.

    Each reset draws the episode's reset seed from the env's own seeded generator, so a Gymnasium
    seed always gives the same episode. The task truncates itself at its ``max_steps`` (no
    TimeLimit wrapper needed). Subclasses set ``gym_id``/``metadata`` and may add ``info`` entries.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}
    gym_id = "mimetic"

    def __init__(self, task: BatchedTask, *, render_mode: str | None = None) -> None:
        if render_mode not in (None, "rgb_array"):
            raise TaskError(f"{self.gym_id} renders only 'rgb_array', got {render_mode!r}")
        self.task = task
        self.observation_space = task.spec.observation_space
        self.action_space = task.spec.action_space
        self.render_mode = render_mode

    def _info(self, step: Step | None) -> dict[str, float]:
        """Extra ``info`` after a reset (``step`` None) or a step; none by default."""
        return {}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        # one draw from the env's seeded generator picks the episode, so seed -> same episode
        episode_seed = int(self.np_random.integers(0, 2**63 - 1))
        obs = self.task.reset(seeds=np.array([episode_seed]))
        return obs[0], self._info(None)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.task.spec.discrete:
            acts = np.asarray([int(action)], np.int64)
        else:
            acts = np.asarray(action, np.float32).reshape(1, -1)
        step = self.task.step(acts)
        return (step.obs[0], float(step.rewards[0]), bool(step.terminated[0]), bool(step.truncated[0]),
                self._info(step))

    def render(self) -> np.ndarray | None:
        return self.task.render(0) if self.render_mode == "rgb_array" else None
