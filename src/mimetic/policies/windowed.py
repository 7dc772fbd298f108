"""What the time-windowed, continuous-action policies (diffusion, chunking) share: normaliser and
action-bound buffers, observation checks, ``for_spec`` and the checkpoint hooks.

A subclass sets ``config_class`` and ``name`` and calls :meth:`WindowedPolicy._setup` first in its
``__init__``; the config must have ``obs_horizon``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from mimetic import devices
from mimetic.envs.base import TaskSpec
from mimetic.errors import ConfigError, TaskError
from mimetic.policies.mlp import (
    register_action_bounds,
    register_obs_normalizer,
    store_normalizer,
)


class WindowedPolicy(nn.Module):
    """Base of :class:`DiffusionPolicy` and :class:`ChunkingPolicy` (see the module docstring)."""

    config_class: ClassVar[type]
    name: ClassVar[str]  # "diffusion policy", for error messages

    def _setup(self, config: Any, *, obs_dim: int, act_dim: int, pred_horizon: int, act_low: np.ndarray | None,
               act_high: np.ndarray | None, task: str | None) -> None:
        if obs_dim < 1 or act_dim < 1:
            raise ConfigError(f"obs_dim and act_dim must be >= 1, got {obs_dim} and {act_dim}")
        self.config, self.obs_dim, self.act_dim, self.task = config, obs_dim, act_dim, task
        self.obs_horizon, self.pred_horizon = config.obs_horizon, pred_horizon
        self.window = config.obs_horizon - 1 + pred_horizon  # steps a training window spans
        register_obs_normalizer(self, obs_dim)
        register_action_bounds(self, act_low, act_high, act_dim)

    @classmethod
    def for_spec(cls, spec: TaskSpec, config: Any = None, *, seed: int = 0) -> Any:
        """A policy shaped for ``spec`` (continuous actions; bounds taken from its Box)."""
        if spec.discrete:
            raise ConfigError(f"the {cls.name} needs continuous actions; {spec.name} has discrete ones")
        return cls(config or cls.config_class(), obs_dim=spec.obs_dim, act_dim=spec.act_dim,  # type: ignore[call-arg]
                   act_low=spec.action_space.low, act_high=spec.action_space.high,  # type: ignore[attr-defined]
                   task=spec.name, seed=seed)

    @property
    def device(self) -> torch.device:
        """Where the weights are (``bc.fit`` moves them to its ``device``)."""
        return devices.module_device(self)

    def set_normalizer(self, obs_mean: np.ndarray, obs_std: np.ndarray) -> None:
        """Store dataset observation statistics; features with ~zero spread are only centred."""
        store_normalizer(self, obs_mean, obs_std)

    def _norm_obs(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, To, *O) raw observations -> (B, To, O) normalised."""
        return (obs.reshape(obs.shape[0], self.obs_horizon, -1) - self.obs_mean) / self.obs_std

    def _new_history(self, b: int) -> None:
        """Empty observation histories for B envs; each restarts from its next observation."""
        self._hist = np.zeros((b, self.obs_horizon, self.obs_dim), np.float32)  # (B, To, O)
        self._fresh = np.ones(b, bool)  # (B,) history must restart from the next observation

    def _push_history(self, obs: np.ndarray) -> None:
        """Append this step's observations (B, O) to every env's history (B, To, O); an episode's
        first observation fills its whole history, as ``Dataset.windows`` pads training windows."""
        self._hist[self._fresh] = obs[self._fresh, None]
        self._hist[~self._fresh] = np.concatenate([self._hist[~self._fresh, 1:], obs[~self._fresh, None]], axis=1)
        self._fresh[:] = False

    def _check_obs(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.ndim < 2 or math.prod(obs.shape[1:]) != self.obs_dim:
            raise TaskError(
                f"policy expects a batch of observations with {self.obs_dim} values each, got shape "
                f"{obs.shape}; was it trained on another task?"
            )
        return obs.reshape(len(obs), self.obs_dim).astype(np.float32)

    # -- checkpointing (see mimetic.policies.checkpoint) --------------------------------------

    def checkpoint_config(self) -> dict[str, Any]:
        """The architecture and execution options, as JSON-able values."""
        return asdict(self.config)

    def checkpoint_spec(self) -> dict[str, Any]:
        """What the policy was built for: task name, dims, action bounds (None = unbounded)."""
        return {
            "task": self.task,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "act_low": [float(v) if math.isfinite(v) else None for v in self.act_low.tolist()],
            "act_high": [float(v) if math.isfinite(v) else None for v in self.act_high.tolist()],
        }

    @classmethod
    def from_checkpoint(cls, config: Mapping[str, Any], spec: Mapping[str, Any]) -> Any:
        """Rebuild an untrained policy of the saved shape; weights are loaded afterwards."""
        low = np.array([-np.inf if v is None else v for v in spec["act_low"]], dtype=np.float64)
        high = np.array([np.inf if v is None else v for v in spec["act_high"]], dtype=np.float64)
        return cls(cls.config_class(**config), obs_dim=int(spec["obs_dim"]),  # type: ignore[call-arg]
                   act_dim=int(spec["act_dim"]), act_low=low, act_high=high, task=spec.get("task"))
