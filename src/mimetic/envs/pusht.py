"""``pusht`` and ``pusht-keypoints``: Diffusion Policy's PushT (the ``gym-pusht`` package) behind
the batched interface, its planning expert and its hooks.

A round agent (radius 15) pushes a T-shaped block into a fixed goal pose on a 512 x 512 table. An
action is the agent's target position; a PD controller drives the agent there over 10 physics
steps (10 Hz control). The reward is clip(coverage / 0.95, 0, 1), coverage being the fraction of
the goal area the block covers; an episode succeeds, and ends, when coverage exceeds 0.95;
otherwise it is truncated at 300 steps. Diffusion Policy's score of an episode is the best reward
it reaches (:func:`score`).

Observations: ``pusht`` gives the state (5,): agent x, y, block x, y, angle (gym-pusht's
``state``). ``pusht-keypoints`` gives (18,): agent x, y, then the T's 8 keypoints x0, y0, ... x7,
y7 (gym-pusht's ``environment_state_agent_pos``, flattened; Diffusion Policy's low-dimensional
setting). Pixels come with camera observations.

The simulator is pymunk (``pip install 'mimetic[pusht]'``); a task built without it fails in one
line naming that command. ``get_state``/``set_state`` save and restore each env's agent position
and velocity, the block's pose and velocities and the step counter. pymunk keeps its contact
impulses between steps (the contact solver's warm start), which cannot be set, so a restored env
continues as the original would only approximately: within 0.11 px over 30 steps of random
pushing, measured on 20 envs.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from mimetic.envs.base import ScriptedExpert
from mimetic.envs.gym_adapter import GymTask
from mimetic.envs.pusht_planner import GYM_ID, INSTALL, PushTPlanner, make_env, require_pusht

__all__ = ["GYM_ID", "INSTALL", "make_env", "require_pusht"]
from mimetic.errors import TaskError

if TYPE_CHECKING:  # types imports torch; the envs package stays torch-free at import
    from mimetic.types import Trajectory

MAX_STEPS = 300  # gym-pusht's TimeLimit, as in Diffusion Policy
SUCCESS_COVERAGE = 0.95
OBS_TYPES = {"pusht": ("state", 5), "pusht-keypoints": ("environment_state_agent_pos", 18)}
STATE_DIM = 10  # agent x, y, vx, vy; block x, y, angle, vx, vy, angular velocity (then the step count)


def score(traj: Trajectory) -> float:
    """Diffusion Policy's score of an episode: the best reward (coverage / 0.95, clipped) reached."""
    return float(np.max(traj.rewards)) if len(traj.rewards) else 0.0


# The keypoint observation's 8 points in the block's frame, in gym-pusht's order (its bar's
# corners, then its stem's; tests/envs/test_pusht.py checks them against the simulator)
LOCAL_KEYPOINTS = np.array([[-60, 0], [60, 0], [60, 30], [-60, 30], [-15, 30], [15, 30], [15, 120], [-15, 120]],
                           np.float64)


def keypoint_observations(state_obs: np.ndarray) -> np.ndarray:
    """``pusht`` state observations (N, 5) as ``pusht-keypoints`` ones (N, 18): the agent's x, y,
    then the T's corners at the block's pose, as gym-pusht computes them."""
    s = np.asarray(state_obs, np.float64)
    c, si = np.cos(s[:, 4]), np.sin(s[:, 4])
    x = LOCAL_KEYPOINTS[None, :, 0] * c[:, None] - LOCAL_KEYPOINTS[None, :, 1] * si[:, None] + s[:, 2:3]  # (N, 8)
    y = LOCAL_KEYPOINTS[None, :, 0] * si[:, None] + LOCAL_KEYPOINTS[None, :, 1] * c[:, None] + s[:, 3:4]
    return np.concatenate([s[:, :2], np.stack([x, y], axis=2).reshape(len(s), 16)], axis=1)


def hold(obs: np.ndarray) -> np.ndarray:
    """The agent's own position (B, 2) as its target: the agent stays where it is (both
    observations start with the agent's x, y)."""
    return np.asarray(obs, np.float32)[:, :2].copy()


def success(traj: Trajectory) -> bool:
    """Coverage exceeded 0.95 (the task then terminates the episode)."""
    return bool(traj.terminated)


class PushTTask(GymTask):
    """B PushT envs with state (``pusht``) or keypoint (``pusht-keypoints``) observations."""

    def __init__(self, name: str = "pusht", *, num_envs: int = 1, max_steps: int | None = None) -> None:
        if name not in OBS_TYPES:
            raise TaskError(f"unknown PushT task {name!r}; known: {', '.join(OBS_TYPES)}")
        require_pusht(name)
        obs_type = OBS_TYPES[name][0]
        wrap = None
        self._flat = obs_type != "state"
        if self._flat:
            from gymnasium.wrappers import FlattenObservation

            wrap = FlattenObservation  # Dict(agent_pos, environment_state) -> (18,) in that (sorted) order
        super().__init__(GYM_ID, num_envs=num_envs, max_steps=max_steps, name=name,
                         env_kwargs={"obs_type": obs_type}, wrap=wrap)
        self.spec = dataclasses.replace(self.spec, success=success, hold=hold)
        self._started = np.zeros(num_envs, bool)

    def reset(self, *, seeds: np.ndarray | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        obs = super().reset(seeds=seeds, mask=mask)
        self._started |= np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        return obs

    def get_state(self) -> np.ndarray:
        """(B, 11) float64: agent position and velocity, block pose and velocities, step counter."""
        rows = []
        for i, env in enumerate(self.envs):
            if not self._started[i]:
                raise TaskError(f"{self.spec.name} env {i} was never reset; it has no state yet")
            sim = env.unwrapped
            a, b = sim.agent, sim.block
            rows.append([*a.position, *a.velocity, *b.position, b.angle, *b.velocity, b.angular_velocity,
                         float(self._t[i])])
        return np.array(rows, np.float64)

    def set_state(self, state: np.ndarray) -> np.ndarray:
        state = np.asarray(state, np.float64)
        if state.shape != (self.num_envs, STATE_DIM + 1) or not np.all(np.isfinite(state)):
            raise TaskError(f"{self.spec.name} states must be finite with shape ({self.num_envs}, "
                            f"{STATE_DIM + 1}), got {state.shape}")
        for i, env in enumerate(self.envs):
            if not self._started[i]:
                env.reset(seed=0)  # builds the simulator (and satisfies Gymnasium's reset-before-step)
                self._started[i] = True
            s = state[i]
            sim = env.unwrapped
            sim.agent.position, sim.agent.velocity = (s[0], s[1]), (s[2], s[3])
            sim.block.angle = s[6]  # first: pymunk turns a body about its centre of gravity, moving its position
            sim.block.position = (s[4], s[5])
            sim.block.velocity, sim.block.angular_velocity = (s[7], s[8]), s[9]
            t = int(s[10])
            self._t[i] = t
            env.set_wrapper_attr("_elapsed_steps", t)  # the TimeLimit's count agrees with ours
            raw = sim.get_obs()
            self._obs[i] = env.observation(raw) if self._flat else raw  # the outer wrapper flattens
        return self._obs.copy()


# --------------------------------------------------------------------------- the expert


class _LazyPlanner:
    """The planning expert, built on first use (so importing mimetic needs no gym-pusht)."""

    def __init__(self, obs: str) -> None:
        self.obs = obs
        self._planner: Any = None

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self._planner is None:
            self._planner = PushTPlanner(obs=self.obs)
        return self._planner(obs)


EXPERT = ScriptedExpert("pusht-planner", 5, _LazyPlanner("state"))
KEYPOINTS_EXPERT = ScriptedExpert("pusht-keypoints-planner", 18, _LazyPlanner("keypoints"))
