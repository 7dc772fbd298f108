"""Batched numpy tasks and the task registry (``make_task``).

Every numpy task keeps its whole simulator state in one float64 array ``(B, S)`` whose last
column is the step counter, so ``get_state``/``set_state`` restart an env exactly and the
future of a state never depends on hidden RNG state (AggreVaTe's cost-to-go relies on this).

Reset seeding follows Gymnasium: env ``i`` reset with seed ``s`` gets a fresh
``np.random.default_rng(s)`` (the generator ``gymnasium.utils.seeding.np_random(s)`` builds), so
``cartpole`` and ``pendulum`` start exactly where ``gymnasium.make(...).reset(seed=s)`` starts.
A reset without seeds continues that env's generator (OS entropy if it was never seeded).

``cartpole`` and ``pendulum`` replicate CartPole-v1 and Pendulum-v1 operation for operation
(same float64/float32 arithmetic), so states and observations match Gymnasium's bit for bit;
pendulum rewards agree to ~1e-11 (Gymnasium squares the float32 torque with scalar ``powf``,
numpy arrays with an exact multiply).
``truncated`` follows Gymnasium's ``TimeLimit``: it is True at ``max_steps`` even when the
same step also terminates.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from mimetic.envs.base import BatchedTask, Step, TaskSpec
from mimetic.envs.gym_adapter import GymTask
from mimetic.errors import ConfigError, TaskError


def check_count(what: str, value: Any, *, low: int = 1) -> int:
    """``value`` as an int >= ``low``, else a one-line ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{what} must be an integer >= {low}, got {value!r}")
    return int(value)


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


# --------------------------------------------------------------------------- CartPole-v1


class CartPoleTask(NumpyTask):
    """Gymnasium CartPole-v1 (Barto, Sutton & Anderson 1983), euler integrator, B envs at once."""

    state_dim = 4  # x, x_dot, theta, theta_dot
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_mass = masspole + masscart
    polemass_length = masspole * length
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def __init__(self, *, num_envs: int = 1, max_steps: int = 500) -> None:
        high = np.array([self.x_threshold * 2, np.inf, self.theta_threshold * 2, np.inf], np.float32)
        spec = TaskSpec(
            name="cartpole",
            gym_id="CartPole-v1",
            observation_space=gym.spaces.Box(-high, high, dtype=np.float32),
            action_space=gym.spaces.Discrete(2),
            max_steps=max_steps,
        )
        super().__init__(spec=spec, num_envs=num_envs)
        self._renderer: Any = None

    def _initial_state(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(low=-0.05, high=0.05, size=(4,))

    def _advance(self, state: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        x, x_dot, theta, theta_dot = state[:, 0], state[:, 1], state[:, 2], state[:, 3]
        # same operation order as CartPoleEnv.step, so results agree to the last bit
        force = np.where(actions == 1, self.force_mag, -self.force_mag)
        costheta, sintheta = np.cos(theta), np.sin(theta)
        temp = (force + self.polemass_length * np.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.square(costheta) / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        nxt = np.stack(
            [x + self.tau * x_dot, x_dot + self.tau * xacc, theta + self.tau * theta_dot,
             theta_dot + self.tau * thetaacc],
            axis=1,
        )  # (B, 4)
        terminated = (np.abs(nxt[:, 0]) > self.x_threshold) | (np.abs(nxt[:, 2]) > self.theta_threshold)
        # reward 1 on every step, the terminating one included (Gymnasium's default)
        return nxt, np.ones(self.num_envs), terminated, np.zeros(self.num_envs)

    def _observe(self, state: np.ndarray) -> np.ndarray:
        return state[:, :4].astype(np.float32)  # (B, 4)

    def render(self, index: int = 0) -> np.ndarray:
        from gymnasium.envs.classic_control.cartpole import CartPoleEnv

        if self._renderer is None:
            self._renderer = CartPoleEnv(render_mode="rgb_array")
        self._renderer.state = self._state[index, :4].copy()
        return np.asarray(self._renderer.render(), np.uint8)  # (400, 600, 3)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


# --------------------------------------------------------------------------- Pendulum-v1


def angle_normalize(x: np.ndarray) -> np.ndarray:
    """Wrap angles to [-pi, pi) exactly as Gymnasium's pendulum does."""
    return ((x + np.pi) % (2 * np.pi)) - np.pi


class PendulumTask(NumpyTask):
    """Gymnasium Pendulum-v1 (g = 10), B envs at once."""

    state_dim = 2  # theta, theta_dot
    max_speed, max_torque, dt, g, m, l = 8.0, 2.0, 0.05, 10.0, 1.0, 1.0

    def __init__(self, *, num_envs: int = 1, max_steps: int = 200) -> None:
        high = np.array([1.0, 1.0, self.max_speed], np.float32)
        spec = TaskSpec(
            name="pendulum",
            gym_id="Pendulum-v1",
            observation_space=gym.spaces.Box(-high, high, dtype=np.float32),
            action_space=gym.spaces.Box(-self.max_torque, self.max_torque, (1,), np.float32),
            max_steps=max_steps,
        )
        super().__init__(spec=spec, num_envs=num_envs)
        self._last_u = np.full(self.num_envs, np.nan)  # (B,) only for rendering the torque arrow
        self._renderer: Any = None

    def _initial_state(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(low=np.array([-np.pi, -1.0]), high=np.array([np.pi, 1.0]))

    def _advance(self, state: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        th, thdot = state[:, 0], state[:, 1]
        # Gymnasium clips a float32 action and keeps float32 for every term with u in it
        u = np.clip(actions[:, 0], -self.max_torque, self.max_torque)  # (B,) float32
        self._last_u = u.astype(np.float64)
        costs = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * (u**2)
        g, m, l, dt = self.g, self.m, self.l, self.dt
        newthdot = thdot + (3 * g / (2 * l) * np.sin(th) + 3.0 / (m * l**2) * u) * dt
        newthdot = np.clip(newthdot, -self.max_speed, self.max_speed)
        newth = th + newthdot * dt
        nxt = np.stack([newth, newthdot], axis=1)  # (B, 2)
        return nxt, -costs.astype(np.float64), np.zeros(self.num_envs, bool), np.zeros(self.num_envs)

    def _observe(self, state: np.ndarray) -> np.ndarray:
        th, thdot = state[:, 0], state[:, 1]
        return np.stack([np.cos(th), np.sin(th), thdot], axis=1).astype(np.float32)  # (B, 3)

    def render(self, index: int = 0) -> np.ndarray:
        from gymnasium.envs.classic_control.pendulum import PendulumEnv

        if self._renderer is None:
            self._renderer = PendulumEnv(render_mode="rgb_array")
        self._renderer.state = self._state[index, :2].copy()
        u = self._last_u[index]
        self._renderer.last_u = None if np.isnan(u) else float(u)
        return np.asarray(self._renderer.render(), np.uint8)  # (500, 500, 3)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class _Entry:
    build: Callable[[int, int | None], BatchedTask]  # (num_envs, max_steps or None) -> task
    description: str


def _build_driving(num_envs: int, max_steps: int | None) -> BatchedTask:
    # imported here: driving.py builds on NumpyTask from this module
    from mimetic.envs.driving import DrivingTask

    return DrivingTask(num_envs=num_envs, **({} if max_steps is None else {"max_steps": max_steps}))


def _build_multimodal(num_envs: int, max_steps: int | None) -> BatchedTask:
    # imported here: multimodal.py builds on NumpyTask from this module
    from mimetic.envs.multimodal import MultimodalTask

    return MultimodalTask(num_envs=num_envs, **({} if max_steps is None else {"max_steps": max_steps}))


def _build(cls: type[NumpyTask]) -> Callable[[int, int | None], BatchedTask]:
    def build(num_envs: int, max_steps: int | None) -> BatchedTask:
        return cls(num_envs=num_envs, **({} if max_steps is None else {"max_steps": max_steps}))

    return build


def _build_lander(*, continuous: bool) -> Callable[[int, int | None], BatchedTask]:
    name = "lunarlander-continuous" if continuous else "lunarlander"

    def build(num_envs: int, max_steps: int | None) -> BatchedTask:
        return GymTask("LunarLander-v3", num_envs=num_envs, max_steps=max_steps, name=name,
                       env_kwargs={"continuous": continuous})

    return build


_TASKS: dict[str, _Entry] = {
    "cartpole": _Entry(_build(CartPoleTask), "CartPole-v1 in batched numpy; push left/right to balance a pole"),
    "pendulum": _Entry(_build(PendulumTask), "Pendulum-v1 in batched numpy; swing up and balance with torque"),
    "lunarlander": _Entry(_build_lander(continuous=False), "LunarLander-v3 (Box2D, adapted); 4 discrete engines"),
    "lunarlander-continuous": _Entry(
        _build_lander(continuous=True), "LunarLander-v3 with continuous=True (Box2D, adapted); 2 throttles"
    ),
    "driving": _Entry(_build_driving, "long-horizon lane keeping on a curvy closed track (ALVINN-style)"),
    "multimodal": _Entry(
        _build_multimodal, "reach a goal around an obstacle; the expert passes left or right by a hidden coin"
    ),
}


def task_names() -> list[str]:
    """The built-in task names (any Gymnasium id also works, as ``gym:<id>`` or bare)."""
    return list(_TASKS)


def make_task(name: str, *, num_envs: int = 1, max_steps: int | None = None) -> BatchedTask:
    """B copies of task ``name``: a built-in name, ``gym:<id>``, or a registered Gymnasium id."""
    num_envs = check_count("num_envs", num_envs)
    if max_steps is not None:
        max_steps = check_count("max_steps", max_steps)
    if name in _TASKS:
        return _TASKS[name].build(num_envs, max_steps)
    gym_id = name.removeprefix("gym:")
    if gym_id in gym.registry:
        return GymTask(gym_id, num_envs=num_envs, max_steps=max_steps)
    raise TaskError(
        f"unknown task {name!r}; known: {', '.join(_TASKS)}, or gym:<id> for any registered Gymnasium env"
    )


def describe_tasks() -> list[dict[str, Any]]:
    """One row per built-in task, for ``mimetic tasks``."""
    from mimetic.envs.experts import expert_name

    rows = []
    for name, entry in _TASKS.items():
        task = entry.build(1, None)
        spec = task.spec
        task.close()
        rows.append({
            "name": name,
            "gym_id": spec.gym_id,
            "obs_dim": spec.obs_dim,
            "action": "discrete" if spec.discrete else "continuous",
            "act_dim": spec.act_dim,
            "max_steps": spec.max_steps,
            "expert": expert_name(name),
            "description": entry.description,
        })
    return rows
