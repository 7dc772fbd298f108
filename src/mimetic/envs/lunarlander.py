"""``lunarlander`` and ``lunarlander-continuous``: Gymnasium's LunarLander-v3 (Box2D) behind the
batched interface, its vectorised heuristic experts and its hooks.

Box2D has no numpy twin, so the task is a :class:`GymTask` (B envs stepped in a Python loop). The
experts are Gymnasium's ``lunar_lander.heuristic`` controller, vectorised; they return about 250
(discrete) and 280 (continuous).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from mimetic.envs.base import ScriptedExpert
from mimetic.envs.gym_adapter import GymTask

if TYPE_CHECKING:  # types imports torch; the envs package stays torch-free at import
    from mimetic.types import Trajectory

SOLVED_RETURN = 200.0  # Gymnasium's "solved" threshold


def success(traj: Trajectory) -> bool:
    """The episode's return reached Gymnasium's "solved" threshold."""
    return traj.ret >= SOLVED_RETURN


class LunarLanderTask(GymTask):
    """B LunarLander-v3 envs, discrete engines or (``continuous``) two throttles."""

    def __init__(self, *, num_envs: int = 1, max_steps: int | None = None, continuous: bool = False) -> None:
        super().__init__("LunarLander-v3", num_envs=num_envs, max_steps=max_steps,
                         name="lunarlander-continuous" if continuous else "lunarlander",
                         env_kwargs={"continuous": continuous})
        self.spec = dataclasses.replace(self.spec, success=success)


# --------------------------------------------------------------------------- experts


def _todo(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gymnasium's heuristic PD targets: (angle_todo, hover_todo), each (B,)."""
    x, y, vx, vy, angle, vangle = (obs[:, i] for i in range(6))
    angle_targ = np.clip(x * 0.5 + vx * 1.0, -0.4, 0.4)  # point towards the centre, < 22 degrees
    hover_targ = 0.55 * np.abs(x)  # fly higher the farther from the pad
    angle_todo = (angle_targ - angle) * 0.5 - vangle * 1.0
    hover_todo = (hover_targ - y) * 0.5 - vy * 0.5
    contact = (obs[:, 6] != 0) | (obs[:, 7] != 0)
    # after touchdown only damp the fall
    return np.where(contact, 0.0, angle_todo), np.where(contact, -vy * 0.5, hover_todo)


def expert_actions(obs: np.ndarray) -> np.ndarray:
    """(B, 8) -> (B,) int64: 0 noop, 1 left engine, 2 main engine, 3 right engine."""
    angle_todo, hover_todo = _todo(obs)
    acts = np.zeros(len(obs), np.int64)  # (B,)
    acts[angle_todo > 0.05] = 1
    acts[angle_todo < -0.05] = 3
    acts[(hover_todo > np.abs(angle_todo)) & (hover_todo > 0.05)] = 2  # main engine takes precedence
    return acts


def continuous_expert_actions(obs: np.ndarray) -> np.ndarray:
    """(B, 8) -> (B, 2) float32: main and lateral throttle in [-1, 1]."""
    angle_todo, hover_todo = _todo(obs)
    acts = np.stack([hover_todo * 20 - 1, -angle_todo * 20], axis=1)  # (B, 2)
    return np.clip(acts, -1, 1).astype(np.float32)


EXPERT = ScriptedExpert("lunarlander-heuristic", 8, expert_actions)
CONTINUOUS_EXPERT = ScriptedExpert("lunarlander-continuous-heuristic", 8, continuous_expert_actions)
