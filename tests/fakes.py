"""Tiny hand-checkable stand-ins used by tests of the generic machinery."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from mimetic.envs.base import BatchedTask, Step, TaskSpec


class CounterTask(BatchedTask):
    """obs = [position, seed]; action 1 moves +1, 0 moves -1; terminates at |position| >= 3.

    Reward 1 per step; truncates at ``max_steps``. The start position is ``seed % 2``.
    """

    def __init__(self, *, num_envs: int = 2, max_steps: int = 5) -> None:
        self.num_envs = num_envs
        self.spec = TaskSpec(name="counter", gym_id="none", max_steps=max_steps,
                             observation_space=gym.spaces.Box(-10, 10, (2,), np.float32),
                             action_space=gym.spaces.Discrete(2))
        self.pos = np.zeros(num_envs)
        self.seed = np.zeros(num_envs)
        self.t = np.zeros(num_envs, np.int64)

    def _obs(self) -> np.ndarray:
        return np.stack([self.pos, self.seed], axis=1).astype(np.float32)  # (B, 2)

    def reset(self, *, seeds=None, mask=None):
        mask = np.ones(self.num_envs, bool) if mask is None else mask
        seeds = np.zeros(self.num_envs, np.int64) if seeds is None else np.asarray(seeds)
        self.seed[mask] = seeds[mask]
        self.pos[mask] = seeds[mask] % 2
        self.t[mask] = 0
        return self._obs()

    def step(self, actions):
        self.pos += np.where(np.asarray(actions) == 1, 1.0, -1.0)
        self.t += 1
        term = np.abs(self.pos) >= 3
        trunc = (self.t >= self.spec.max_steps) & ~term
        return Step(obs=self._obs(), rewards=np.ones(self.num_envs), terminated=term, truncated=trunc,
                    costs=np.abs(self.pos))


class ConstPolicy:
    def __init__(self, action: int) -> None:
        self.action = action
        self.resets = 0

    def act(self, obs):
        return np.full(len(obs), self.action, np.int64)

    def reset(self, mask):
        self.resets += int(np.sum(mask))


def right_expert(obs: np.ndarray) -> np.ndarray:
    return np.ones(len(obs), np.int64)


class CountingExpert:
    """A built-in expert that counts every state it is asked about (behind the LabelBudget's back),
    to check that the budget's counts are complete."""

    def __init__(self, name: str) -> None:
        from mimetic.envs import make_expert

        self.expert, self.rows = make_expert(name), 0

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        self.rows += len(obs)
        return self.expert(obs)


def weights(module) -> dict:
    """A detached copy of a torch module's state (parameters and buffers)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class FitSpy:
    """Stands in for ``bc.fit`` (monkeypatched): records each fitted policy's weights when its fit
    starts and when it ends, then runs the real fit. Tells whether a loop warm-starts or restarts."""

    def __init__(self, fit) -> None:
        self.fit = fit
        self.starts: list[dict] = []
        self.ends: list[dict] = []
        self.policies: list = []
        self.data: list = []

    def __call__(self, policy, data, config, **kwargs):
        self.starts.append(weights(policy))
        self.data.append(data)
        out = self.fit(policy, data, config, **kwargs)
        self.ends.append(weights(policy))
        self.policies.append(policy)
        return out
