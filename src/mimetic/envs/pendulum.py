"""``pendulum``: Gymnasium's Pendulum-v1 (g = 10) in batched numpy, its energy/LQR expert and hooks.

The task replicates PendulumEnv.step operation for operation (same float64/float32 arithmetic), so
states and observations match Gymnasium's bit for bit; rewards agree to ~1e-11 (Gymnasium squares
the float32 torque with scalar ``powf``, numpy arrays with an exact multiply).

The expert ``pendulum-energy-lqr`` pumps energy (dE/dt = theta_dot * u) far from the top and
balances with a discrete-time LQR on Gymnasium's own Euler discretisation near it
(Astrom & Furuta 2000); return about -150.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from mimetic.envs.base import NumpyTask, ScriptedExpert, TaskSpec

if TYPE_CHECKING:  # types imports torch; the envs package stays torch-free at import
    from mimetic.types import Trajectory


def angle_normalize(x: np.ndarray) -> np.ndarray:
    """Wrap angles to [-pi, pi) exactly as Gymnasium's pendulum does."""
    return ((x + np.pi) % (2 * np.pi)) - np.pi


def success(traj: Trajectory) -> bool:
    """Upright at the end: the final observation has cos(theta) > 0.9."""
    return bool(traj.obs[-1][0] > 0.9)


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
            success=success,
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


# --------------------------------------------------------------------------- expert

_PUMP_GAIN = 5.0
_BALANCE_COS = math.cos(0.6)  # balance within 0.6 rad of the top, pump energy elsewhere


@cache
def pendulum_gain() -> tuple[float, float]:
    """Discrete LQR gain (k_theta, k_theta_dot) for PendulumTask's Euler step at the upright."""
    import scipy.linalg  # here, not at the top: 0.2 s of startup that only the expert needs

    c = PendulumTask
    alpha, beta, dt = 3.0 * c.g / (2.0 * c.l), 3.0 / (c.m * c.l**2), c.dt
    # thd' = thd + (alpha th + beta u) dt ; th' = th + thd' dt   (Gymnasium's update order)
    a = np.array([[1.0 + alpha * dt * dt, dt], [alpha * dt, 1.0]])
    b = np.array([[beta * dt * dt], [beta * dt]])
    q, r = np.diag([1.0, 0.1]), np.array([[0.001]])  # the task's own cost weights
    p = scipy.linalg.solve_discrete_are(a, b, q, r)
    k = np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)[0]
    return float(k[0]), float(k[1])


def expert_actions(obs: np.ndarray) -> np.ndarray:
    """(B, 3) [cos th, sin th, th_dot] -> (B, 1) float32 torque."""
    c = PendulumTask
    cos_th, sin_th, thd = obs[:, 0], obs[:, 1], obs[:, 2]
    k_th, k_thd = pendulum_gain()
    u_balance = -(k_th * np.arctan2(sin_th, cos_th) + k_thd * thd)
    e_top = c.m * c.g * c.l / 2.0  # potential energy at the upright
    energy = 0.5 * (c.m * c.l**2 / 3.0) * thd**2 + e_top * cos_th
    direction = np.where(thd == 0.0, 1.0, np.sign(thd))  # a resting pendulum still gets a kick
    u_pump = _PUMP_GAIN * (e_top - energy) * direction
    u = np.where(cos_th > _BALANCE_COS, u_balance, u_pump)
    return np.clip(u, -c.max_torque, c.max_torque).astype(np.float32)[:, None]  # (B, 1)


EXPERT = ScriptedExpert("pendulum-energy-lqr", 3, expert_actions)
