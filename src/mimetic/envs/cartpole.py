"""``cartpole``: Gymnasium's CartPole-v1 (Barto, Sutton & Anderson 1983) in batched numpy, its LQR
expert and its hooks.

The task replicates CartPoleEnv.step operation for operation (same float64 arithmetic), so states
and observations match Gymnasium's bit for bit. The expert ``cartpole-lqr`` is the bang-bang sign
of a continuous-time LQR state feedback of the cart-pole linearised at the upright
(Q = diag(1, 1, 10, 1), R = 1); the same controller as the peer benchmark harness, so results are
comparable. It scores 500 every episode.
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

GRAVITY, MASSCART, MASSPOLE, LENGTH, FORCE_MAG, TAU = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
THETA_THRESHOLD = 12 * 2 * math.pi / 360  # rad; beyond it the pole has fallen
X_THRESHOLD = 2.4  # m


def success(traj: Trajectory) -> bool:
    """Balanced until the horizon: the episode was not terminated."""
    return not traj.terminated


def risk(obs: np.ndarray) -> np.ndarray:
    """(B, 4) -> (B,) pole angle as a fraction of the failure angle (1.0 = falling)."""
    return np.abs(obs[:, 2]) / THETA_THRESHOLD


class CartPoleTask(NumpyTask):
    """Gymnasium CartPole-v1, euler integrator, B envs at once."""

    state_dim = 4  # x, x_dot, theta, theta_dot
    gravity, masscart, masspole, length, force_mag, tau = GRAVITY, MASSCART, MASSPOLE, LENGTH, FORCE_MAG, TAU
    total_mass = masspole + masscart
    polemass_length = masspole * length
    theta_threshold = THETA_THRESHOLD
    x_threshold = X_THRESHOLD

    def __init__(self, *, num_envs: int = 1, max_steps: int = 500) -> None:
        high = np.array([self.x_threshold * 2, np.inf, self.theta_threshold * 2, np.inf], np.float32)
        spec = TaskSpec(
            name="cartpole",
            gym_id="CartPole-v1",
            observation_space=gym.spaces.Box(-high, high, dtype=np.float32),
            action_space=gym.spaces.Discrete(2),
            max_steps=max_steps,
            success=success,
            risk=risk,
            risk_threshold=0.5,  # half the failure angle
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


# --------------------------------------------------------------------------- expert


@cache
def cartpole_gain() -> np.ndarray:
    """k (4,) with action = int(obs @ k > 0): push right when the LQR force -K s is positive."""
    import scipy.linalg  # here, not at the top: 0.2 s of startup that only the expert needs

    c = CartPoleTask
    m, mp, l, g = c.total_mass, c.masspole, c.length, c.gravity
    den = l * (4.0 / 3.0 - mp / m)
    # linearise CartPoleEnv.step at the upright: theta_acc = (g theta - F/m) / den,
    # x_acc = F/m - (mp l / m) theta_acc
    a = np.zeros((4, 4))
    a[0, 1] = a[2, 3] = 1.0
    a[3, 2] = g / den
    a[1, 2] = -mp * l / m * g / den
    b = np.zeros((4, 1))
    b[3, 0] = -1.0 / (m * den)
    b[1, 0] = 1.0 / m + mp * l / (m * m * den)
    q, r = np.diag([1.0, 1.0, 10.0, 1.0]), np.array([[1.0]])
    p = scipy.linalg.solve_continuous_are(a, b, q, r)
    return -np.linalg.solve(r, b.T @ p)[0]  # (4,) about (1.0, 2.3, 32.2, 8.2)


def expert_actions(obs: np.ndarray) -> np.ndarray:
    """(B, 4) -> (B,) int64."""
    return (obs @ cartpole_gain() > 0.0).astype(np.int64)


EXPERT = ScriptedExpert("cartpole-lqr", 4, expert_actions)
