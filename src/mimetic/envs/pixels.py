"""Camera observations for the built-in tasks: ``<task>@pixels`` and ``<task>@pixels+state``.

A :class:`PixelTask` wraps a flat task and observes a dict (:mod:`mimetic.observations`):

- ``image``: uint8 (size, size, 3), the task's camera: its own ``camera(size)`` when it has one
  (driving: a top-down window on the road around the car; multimodal: the whole arena drawn at
  that size), else its ``render`` frame shrunk to size x size (cartpole, pendulum);
- ``state``: the flat observation the task would give without a camera.

In ``pixels`` mode ``state`` is a *hidden* key (``TaskSpec.hidden_keys``): it is recorded in
rollouts and datasets, and the scripted expert labels from it (the true state the task keeps, so
DAgger and HG-DAgger work from pixels), but policies built for the task never read it. In
``pixels+state`` the policy reads both. Success and risk hooks read ``state`` too.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from mimetic.envs.base import BatchedTask, ScriptedExpert, Step
from mimetic.errors import ConfigError, TaskError
from mimetic.observations import DictObs

if TYPE_CHECKING:
    from mimetic.types import Trajectory

OBS_MODES = ("pixels", "pixels+state")
DEFAULT_SIZE = 64
SEPARATOR = "@"


def split_name(name: str) -> tuple[str, str | None]:
    """``"driving@pixels"`` -> ("driving", "pixels"); a plain name -> (name, None)."""
    if SEPARATOR not in name:
        return name, None
    base, mode = name.rsplit(SEPARATOR, 1)
    if mode not in OBS_MODES:
        raise TaskError(f"unknown observation mode {mode!r} in task {name!r}; use {', '.join(OBS_MODES)}")
    return base, mode


def shrink(frame: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8, each output pixel the mean of its input box."""
    from PIL import Image  # Pillow comes with matplotlib, a dependency

    return np.asarray(Image.fromarray(np.ascontiguousarray(frame[..., :3])).resize((size, size), Image.BOX),
                      np.uint8)


class PixelTask(BatchedTask):
    """``base`` observed through a camera (see the module docstring)."""

    def __init__(self, base: BatchedTask, *, mode: str, size: int = DEFAULT_SIZE) -> None:
        if mode not in OBS_MODES:
            raise ConfigError(f"obs mode must be one of {', '.join(OBS_MODES)}, got {mode!r}")
        if not 16 <= size <= 256:
            raise ConfigError(f"camera size must be 16..256 pixels, got {size}")
        spec = base.spec
        if spec.obs_layout is not None:
            raise ConfigError(f"task {spec.name!r} already observes a dict; it has no flat state to add pixels to")
        self.base, self.mode, self.size = base, mode, size
        self.num_envs = base.num_envs
        flat = spec.observation_space
        space = gym.spaces.Dict([("image", gym.spaces.Box(0, 255, (size, size, 3), np.uint8)),
                                 ("state", gym.spaces.Box(-np.inf, np.inf, flat.shape, np.float32))])
        self.spec = dataclasses.replace(
            spec, name=f"{spec.name}{SEPARATOR}{mode}", observation_space=space,
            hidden_keys=("state",) if mode == "pixels" else (),
            success=None if spec.success is None else _on_state(spec.success),
            risk=None if spec.risk is None else _risk_on_state(spec.risk),
            hold=None)  # teleop drives pixel tasks with keys

    def frames(self) -> np.ndarray:
        """(B, size, size, 3) uint8: every env's camera now."""
        camera = getattr(self.base, "camera", None)
        if callable(camera):
            return np.asarray(camera(self.size), np.uint8)
        return np.stack([shrink(self.base.render(i), self.size) for i in range(self.num_envs)])

    def _observe(self, flat: np.ndarray) -> DictObs:
        return DictObs({"image": self.frames(), "state": np.asarray(flat, np.float32)})

    def reset(self, *, seeds: np.ndarray | None = None, mask: np.ndarray | None = None) -> DictObs:  # type: ignore[override]
        return self._observe(self.base.reset(seeds=seeds, mask=mask))

    def step(self, actions: np.ndarray) -> Step:
        step = self.base.step(actions)
        return dataclasses.replace(step, obs=self._observe(step.obs))

    def get_state(self) -> np.ndarray:
        return self.base.get_state()

    def set_state(self, state: np.ndarray) -> DictObs:  # type: ignore[override]
        return self._observe(self.base.set_state(state))

    def render(self, index: int = 0) -> np.ndarray:
        return self.base.render(index)

    def close(self) -> None:
        self.base.close()


def _on_state(success: Any) -> Any:
    def on_state(traj: Trajectory) -> bool:
        return bool(success(dataclasses.replace(traj, obs=traj.obs["state"])))

    return on_state


def _risk_on_state(risk: Any) -> Any:
    def on_state(obs: Any) -> np.ndarray:
        return risk(obs["state"] if isinstance(obs, DictObs) else obs)

    return on_state


@dataclasses.dataclass(frozen=True)
class StateExpert:
    """A scripted expert of the flat task, labelling a pixel task from its ``state`` key."""

    inner: ScriptedExpert

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def obs_dim(self) -> int:
        return self.inner.obs_dim

    def __call__(self, obs: Any) -> np.ndarray:
        if not isinstance(obs, DictObs) or "state" not in obs:
            raise TaskError(f"expert {self.name!r} of a pixel task labels dict observations with a 'state' key")
        return self.inner(obs["state"])
