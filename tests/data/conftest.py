"""Small hand-made trajectories and task specs shared by the data tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from mimetic.envs.base import TaskSpec
from mimetic.types import Trajectory


def discrete_traj(t: int, *, start: float, seed: int | None = None, labels: bool = False) -> Trajectory:
    """Observations (T+1, 2) whose first feature counts ``start, start+1, ...``; actions alternate."""
    obs = np.stack([start + np.arange(t + 1), np.full(t + 1, 0.5)], axis=1).astype(np.float32)  # (T+1, 2)
    acts = np.arange(t) % 2  # (T,)
    return Trajectory(
        obs=obs, acts=acts, rewards=np.arange(t, dtype=np.float64), terminated=True, truncated=False,
        costs=np.full(t, 0.25), labels=(1 - acts) if labels else None,
        labeled=(np.arange(t) % 3 != 1) if labels else None, seed=seed,
    )


def continuous_traj(rng: np.random.Generator, t: int, *, truncated: bool = False) -> Trajectory:
    return Trajectory(
        obs=rng.normal(size=(t + 1, 3)).astype(np.float32),
        acts=rng.uniform(-2, 2, size=(t, 1)).astype(np.float32),
        rewards=rng.normal(size=t), terminated=not truncated, truncated=truncated,
    )


@pytest.fixture
def make_discrete():
    return discrete_traj


@pytest.fixture
def make_continuous():
    return continuous_traj


@pytest.fixture
def cartpole_spec() -> TaskSpec:
    return TaskSpec(name="cartpole", gym_id="CartPole-v1",
                    observation_space=gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),
                    action_space=gym.spaces.Discrete(2), max_steps=50)


@pytest.fixture
def pendulum_spec() -> TaskSpec:
    return TaskSpec(name="pendulum", gym_id="Pendulum-v1",
                    observation_space=gym.spaces.Box(-8.0, 8.0, (3,), np.float32),
                    action_space=gym.spaces.Box(-2.0, 2.0, (1,), np.float32), max_steps=200)
