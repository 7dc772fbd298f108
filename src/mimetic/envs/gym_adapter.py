"""``GymTask``: any Gymnasium env as a :class:`BatchedTask` (B envs stepped in a Python loop).

Used for LunarLander (Box2D has no numpy twin) and for ``make_task("gym:<id>")``. It keeps the
batched semantics of base.py: no auto-reset, env ``i`` reset with seed ``s`` starts where
``env.reset(seed=s)`` does, and ``truncated`` is set at ``spec.max_steps``. Box observations and
Dict-of-Box ones (camera images + state: a :class:`~mimetic.observations.DictObs`, images kept
uint8) with Discrete or Box actions are supported (``wrap`` may flatten a Dict, as PushT's keypoint
task does); get_state/set_state are not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from mimetic.envs.base import BatchedTask, Step, TaskSpec
from mimetic.errors import ConfigError, DataError, TaskError
from mimetic.observations import DictObs, ObsLayout


def _make_env(gym_id: str, max_steps: int | None, env_kwargs: dict[str, Any],
              wrap: Callable[[gym.Env], gym.Env] | None = None) -> gym.Env:
    try:
        spec = gym.spec(gym_id)
    except gym.error.Error as exc:
        raise TaskError(f"cannot make Gymnasium env {gym_id!r}: {exc}") from exc
    # rgb_array so render() works (envs draw nothing until asked), where the env can render at all
    modes = (spec.kwargs.get("render_modes") or _metadata_modes(spec)) if spec else []
    render = {"render_mode": "rgb_array"} if "rgb_array" in modes else {}
    try:
        env = gym.make(gym_id, max_episode_steps=max_steps, **render, **env_kwargs)
    except (gym.error.Error, TypeError) as exc:
        raise TaskError(f"cannot make Gymnasium env {gym_id!r}: {exc}") from exc
    return env if wrap is None else wrap(env)


def _metadata_modes(spec: Any) -> list[str]:
    """Render modes an env class declares in its metadata (without constructing it)."""
    try:
        entry = spec.entry_point
        cls = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
        return list(getattr(cls, "metadata", {}).get("render_modes", []))
    except Exception:  # an entry point that fails to import fails properly in gym.make below
        return []


def _spec_for(name: str, gym_id: str, env: gym.Env, max_steps: int | None) -> TaskSpec:
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, (gym.spaces.Box, gym.spaces.Dict)):
        raise TaskError(f"{gym_id} has a {type(obs_space).__name__} observation space; only Box and Dict-of-Box "
                        "are supported")
    if not isinstance(act_space, (gym.spaces.Discrete, gym.spaces.Box)):
        raise TaskError(f"{gym_id} has a {type(act_space).__name__} action space; use Discrete or Box")
    if isinstance(act_space, gym.spaces.Discrete) and act_space.start != 0:
        raise TaskError(f"{gym_id} numbers its actions from {act_space.start}; only 0-based Discrete is supported")
    horizon = max_steps if max_steps is not None else (env.spec.max_episode_steps if env.spec else None)
    if horizon is None:
        raise ConfigError(f"{gym_id} has no time limit; pass max_steps=... to make_task")
    if isinstance(obs_space, gym.spaces.Dict):
        try:  # images (uint8 H, W, C) stay bytes, every other key becomes float32
            obs_space = ObsLayout.from_space(obs_space, where=f"{gym_id}'s observation space").space()
        except DataError as exc:
            raise TaskError(str(exc)) from None
    else:
        obs_space = gym.spaces.Box(obs_space.low.astype(np.float32), obs_space.high.astype(np.float32),
                                   dtype=np.float32)
    if isinstance(act_space, gym.spaces.Box):
        act_space = gym.spaces.Box(act_space.low.astype(np.float32), act_space.high.astype(np.float32),
                                   dtype=np.float32)
    return TaskSpec(name=name, gym_id=gym_id, observation_space=obs_space, action_space=act_space,
                    max_steps=int(horizon))


class GymTask(BatchedTask):
    """B Gymnasium envs behind the batched interface; costs are always 0."""

    def __init__(
        self,
        gym_id: str,
        *,
        num_envs: int = 1,
        max_steps: int | None = None,
        name: str | None = None,
        env_kwargs: dict[str, Any] | None = None,
        wrap: Callable[[gym.Env], gym.Env] | None = None,
    ) -> None:
        if num_envs < 1:
            raise ConfigError(f"num_envs must be >= 1, got {num_envs}")
        kwargs = dict(env_kwargs or {})
        first = _make_env(gym_id, max_steps, kwargs, wrap)
        try:
            self.spec = _spec_for(name or f"gym:{gym_id}", gym_id, first, max_steps)
        except Exception:
            first.close()
            raise
        # every env gets the same TimeLimit as spec.max_steps so Gymnasium and we agree
        self.envs = [first] + [_make_env(gym_id, self.spec.max_steps, kwargs, wrap)
                                   for _ in range(num_envs - 1)]
        self.num_envs = num_envs
        layout = self.spec.obs_layout
        self._obs: np.ndarray | DictObs = (  # (B, *O), or (B, *shape) per key
            np.zeros((num_envs, *self.spec.observation_space.shape), np.float32) if layout is None
            else layout.empty(num_envs))
        self._t = np.zeros(num_envs, np.int64)  # (B,) steps since reset

    def reset(self, *, seeds: np.ndarray | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        if mask.shape != (self.num_envs,):
            raise TaskError(f"mask must have shape ({self.num_envs},), got {mask.shape}")
        if seeds is not None and np.shape(seeds) != (self.num_envs,):
            raise TaskError(f"seeds must have shape ({self.num_envs},), got {np.shape(seeds)}")
        for i in np.flatnonzero(mask):
            # seed=None continues the env's own generator, as in Gymnasium
            obs, _ = self.envs[i].reset(seed=None if seeds is None else int(seeds[i]))
            self._put(i, obs)
            self._t[i] = 0
        return self._copy()

    def _put(self, i: int, obs: Any) -> None:
        if isinstance(self._obs, DictObs):
            for key, row in self._obs.items():
                row[i] = obs[key]
        else:
            self._obs[i] = obs

    def _copy(self) -> np.ndarray | DictObs:
        return self._obs.map(np.copy) if isinstance(self._obs, DictObs) else self._obs.copy()

    def step(self, actions: np.ndarray) -> Step:
        actions = np.asarray(actions)
        discrete = self.spec.discrete
        want = (self.num_envs,) if discrete else (self.num_envs, *self.spec.action_space.shape)
        if actions.shape != want:
            raise TaskError(f"{self.spec.name} needs actions of shape {want}, got {actions.shape}")
        rewards = np.zeros(self.num_envs)  # (B,)
        terminated = np.zeros(self.num_envs, bool)
        truncated = np.zeros(self.num_envs, bool)
        for i, env in enumerate(self.envs):
            act = int(actions[i]) if discrete else actions[i].astype(np.float32)
            obs, rew, term, trunc, _ = env.step(act)
            self._put(i, obs)
            rewards[i], terminated[i], truncated[i] = rew, term, trunc
        self._t += 1
        truncated |= self._t >= self.spec.max_steps
        return Step(obs=self._copy(), rewards=rewards, terminated=terminated, truncated=truncated,
                    costs=np.zeros(self.num_envs))

    def render(self, index: int = 0) -> np.ndarray:
        env = self.envs[index]
        if env.render_mode != "rgb_array":
            raise TaskError(f"{self.spec.gym_id} cannot render rgb_array frames")
        frame = env.render()
        if frame is None:
            raise TaskError(f"{self.spec.gym_id} cannot render rgb_array frames")
        return np.asarray(frame, np.uint8)

    def close(self) -> None:
        for env in self.envs:
            env.close()
