"""The batched task interface: B environments stepped at once in numpy, and what tasks share.

Semantics (rollout.py relies on them):
- ``reset(seeds=..., mask=...)`` re-seeds and resets the envs where ``mask`` is True (all when
  ``mask`` is None) and returns the full observation array (B, *O); rows not in ``mask`` are the
  current observations. Env ``i`` reset with seed ``s`` always starts in the same state, whatever B is.
- ``step(actions)`` never auto-resets: a done env returns its final observation and must be reset
  by the caller before it is stepped again (stepping a done env is undefined).
- ``truncated`` is set by the task itself when an env reaches ``spec.max_steps`` steps.

Per-task knowledge that shared code needs (what counts as success, an observable risk, the
headline metric) lives on :class:`TaskSpec` as hooks the task module sets, never as a chain of
task names elsewhere.

:class:`NumpyTask` keeps a task's whole simulator state in one float64 array ``(B, S)`` whose last
column is the step counter, so ``get_state``/``set_state`` restart an env exactly and the future of
a state never depends on hidden RNG state (AggreVaTe's cost-to-go relies on this). Its reset
seeding follows Gymnasium: env ``i`` reset with seed ``s`` gets a fresh ``np.random.default_rng(s)``
(the generator ``gymnasium.utils.seeding.np_random(s)`` builds), so the numpy twins of Gymnasium
tasks start exactly where ``gymnasium.make(...).reset(seed=s)`` starts. A reset without seeds
continues that env's generator (OS entropy if it was never seeded). ``truncated`` follows
Gymnasium's ``TimeLimit``: it is True at ``max_steps`` even when the same step also terminates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import gymnasium as gym
import numpy as np

from mimetic.errors import ConfigError, DataError, TaskError
from mimetic.observations import ObsLayout, layout_of

if TYPE_CHECKING:  # types imports torch; the envs package stays torch-free at import
    from mimetic.types import Trajectory


def check_count(what: str, value: Any, *, low: int = 1) -> int:
    """``value`` as an int >= ``low``, else a one-line ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{what} must be an integer >= {low}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class TaskSpec:
    """What every caller needs to know about a task, including the task's own hooks.

    The hooks are set by the task's module; adapted Gymnasium tasks have none (None). They do not
    take part in equality or repr, so two specs of the same task compare equal.
    """

    name: str  # mimetic task name ("cartpole") or "gym:<id>" for an adapted Gymnasium env
    gym_id: str  # the registered Gymnasium id of the single-env version
    observation_space: gym.spaces.Space  # a Box, or a Dict of Boxes (images + state; see obs_layout)
    action_space: gym.spaces.Space  # Discrete or Box
    max_steps: int
    # did this episode succeed? (evaluation's success rate; None: the task defines no success)
    success: Callable[[Trajectory], bool] | None = field(default=None, compare=False, repr=False)
    # an observable risk of each state (B, *O) -> (B,), judged as a watching human would (HG-DAgger's
    # simulated human intervenes above risk_threshold); None: the task defines none
    risk: Callable[[np.ndarray], np.ndarray] | None = field(default=None, compare=False, repr=False)
    risk_threshold: float | None = None  # default intervention level for ``risk``, in its units
    headline: Literal["return", "cost"] = "return"  # the number a result on this task is judged by
    # the actions (B, A) that hold still at these observations (B, *O), for a task whose action is
    # a position on its rendered frame (PushT's agent target): teleop then follows the mouse, and
    # this is what it sends while no button is held; None: teleop drives with keys
    hold: Callable[[np.ndarray], np.ndarray] | None = field(default=None, compare=False, repr=False)
    # keys of a Dict observation that only the expert reads (a pixel task's true state): recorded
    # in datasets, left out of the policies built for the task
    hidden_keys: tuple[str, ...] = ()

    @property
    def discrete(self) -> bool:
        return isinstance(self.action_space, gym.spaces.Discrete)

    @property
    def obs_layout(self) -> ObsLayout | None:
        """The keys of a Dict observation space (images kept uint8), None for a flat Box."""
        return layout_of(self.observation_space)

    @property
    def obs_dim(self) -> int:
        """Width of a flat observation; a task observing a dict has none (one line saying so)."""
        if isinstance(self.observation_space, gym.spaces.Dict):
            raise DataError(f"this needs flat (Box) observations, but task {self.name!r} observes a dict "
                            f"({ObsLayout.from_space(self.observation_space).describe()})")
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
    costs: np.ndarray  # (B,) float64, the task's own per-step cost (0 where the task defines none)


@dataclass(frozen=True)
class ScriptedExpert:
    """A named batched expert for observations of width ``obs_dim`` (each task module defines its own)."""

    name: str
    obs_dim: int
    fn: Callable[[np.ndarray], np.ndarray]  # (B, O) float -> (B,) int64 or (B, A) float32

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise TaskError(f"expert {self.name!r} labels batches of shape (B, {self.obs_dim}), got {obs.shape}")
        return self.fn(obs.astype(np.float64))


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

    def close(self) -> None:  # noqa: B027 - optional, a no-op for numpy tasks
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


class NumpyTask(BatchedTask):
    """A task whose physics is a pure numpy function of a float64 state array.

    Subclasses define ``_initial_state`` (one env, from its Generator), ``_advance`` (all envs
    one step) and ``_observe``; this class owns seeding, masks, the step counter and truncation.
    """

    state_dim: int  # physical state columns; the step counter is appended after them

    def __init__(self, *, spec: TaskSpec, num_envs: int) -> None:
        self.spec = spec
        self.num_envs = check_count("num_envs", num_envs)
        check_count("max_steps", spec.max_steps)
        self._state = np.zeros((self.num_envs, self.state_dim + 1))  # (B, S+1)
        self._rngs: list[np.random.Generator | None] = [None] * self.num_envs

    @abstractmethod
    def _initial_state(self, rng: np.random.Generator) -> np.ndarray:
        """Physical start state of one env (state_dim,)."""

    @abstractmethod
    def _advance(self, state: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """(B, S+1) state, checked actions -> (next physical state (B, state_dim), rewards,
        terminated, costs); ``state[:, -1]`` is the number of steps taken before this one."""

    @abstractmethod
    def _observe(self, state: np.ndarray) -> np.ndarray:
        """(B, S+1) state -> (B, O) float32 observations."""

    def reset(self, *, seeds: np.ndarray | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        mask = self._check_mask(mask)
        if seeds is not None:
            seeds = np.asarray(seeds)
            if seeds.shape != (self.num_envs,) or seeds.dtype.kind not in "iu" or np.any(seeds < 0):
                raise TaskError(f"seeds must be {self.num_envs} non-negative ints, got {seeds!r}")
        for i in np.flatnonzero(mask):
            if seeds is not None:
                self._rngs[i] = np.random.default_rng(int(seeds[i]))
            elif self._rngs[i] is None:
                self._rngs[i] = np.random.default_rng()  # Gymnasium's unseeded behaviour
            self._state[i, :-1] = self._initial_state(self._rngs[i])
            self._state[i, -1] = 0.0
        return self._observe(self._state)

    def step(self, actions: np.ndarray) -> Step:
        actions = self._check_actions(actions)
        physical, rewards, terminated, costs = self._advance(self._state, actions)
        steps = self._state[:, -1] + 1.0
        self._state = np.concatenate([physical, steps[:, None]], axis=1)  # (B, S+1)
        return Step(
            obs=self._observe(self._state),
            rewards=np.asarray(rewards, np.float64),
            terminated=np.asarray(terminated, bool),
            truncated=steps >= self.spec.max_steps,
            costs=np.asarray(costs, np.float64),
        )

    def get_state(self) -> np.ndarray:
        return self._state.copy()  # (B, S+1)

    def set_state(self, state: np.ndarray) -> np.ndarray:
        state = np.asarray(state, np.float64)
        if state.shape != self._state.shape or not np.all(np.isfinite(state)):
            raise TaskError(
                f"{self.spec.name} state must be finite with shape {self._state.shape}, got {state.shape}"
            )
        self._state = state.copy()
        return self._observe(self._state)

    def _check_mask(self, mask: np.ndarray | None) -> np.ndarray:
        if mask is None:
            return np.ones(self.num_envs, bool)
        mask = np.asarray(mask)
        if mask.shape != (self.num_envs,) or mask.dtype != bool:
            raise TaskError(f"mask must be a bool array of shape ({self.num_envs},), got {mask.shape}")
        return mask

    def _check_actions(self, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions)
        b, space = self.num_envs, self.spec.action_space
        if self.spec.discrete:
            ok = actions.shape == (b,) and actions.dtype.kind in "iu"
            if not ok or np.any((actions < 0) | (actions >= space.n)):
                raise TaskError(
                    f"{self.spec.name} needs int actions in [0, {space.n}) of shape ({b},), "
                    f"got {actions.dtype} {actions.shape}"
                )
            return actions.astype(np.int64, copy=False)
        if actions.shape != (b, *space.shape):
            raise TaskError(f"{self.spec.name} needs actions of shape {(b, *space.shape)}, got {actions.shape}")
        return actions.astype(np.float32, copy=False)
