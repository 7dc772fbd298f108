"""``multimodal``: reach a goal around an obstacle, left or right by a hidden coin.

The test bed for multimodal demonstrations (issue 5; Chi et al. 2023, Fig. 3; Shafiullah et al.
2022): the expert passes a round obstacle on the left or on the right, decided per episode by a
coin the learner cannot see, so the *average* expert action near the start points straight at
the obstacle. A regressor trained with MSE learns that average and crashes; a policy that models
the action distribution (mixture, diffusion, CVAE chunking) commits to one side and gets through.

Geometry (all in metres, one point agent, ``dt = 0.1`` s per step)::

    start  (0, y0), y0 ~ U(-0.05, 0.05)       on the centreline
    obstacle centre (0, 0.9), radius 0.6      its near edge 0.3 ahead of the start
    goal   (0, gy), gy ~ U(1.9, 2.1)          reached within 0.1

Action (2,) float32: velocity in [-1, 1]^2 m/s (clipped), so ``p <- p + 0.1 a``.
Observation (4,) float32: ``[x, y, gx, gy]`` (position and goal; never the coin).
An episode terminates on reaching the goal (success) or touching the obstacle (failure), and is
truncated after ``max_steps`` (default 60; the expert needs about 27).
Reward: progress towards the goal (previous minus new distance) plus 1 on reaching it.
Cost (``Step.costs``): 1 on the step that hits the obstacle, else 0.

The hidden coin. The expert must stay a plain batched function ``obs -> actions`` (DAgger and
the label budget query it on any subset of states, in any order), so the coin is a fixed
function of the observation that no learner can use: a pseudo-random bit of the float32 bit
pattern of ``gy`` (a 32-bit integer hash, :func:`coin_of`). It is constant within an episode,
about 50/50 across reset seeds, and it flips between goals one float32 step apart, so a smooth
policy cannot predict it from unseen goals (it can at most memorise training episodes). The task
stores the same bit in its state (``coins``), for analysis and plots.

Why the start is on the centreline and the obstacle close and wide: once the two modes have
moved apart, the position itself tells them apart, and an MSE regressor standing slightly off
the centreline is pushed further out by the nearer mode's data (a tie broken by position).
Starting every episode at x = 0 with the obstacle 3 steps ahead leaves MSE-BC no room to break
the tie: with start x spread over +-0.05 m instead, MSE-BC already got through ~25% of the
time; with a narrower, farther obstacle (radius 0.4 at 1 m) 20-40% (measured, 100 demos).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np

from mimetic.envs.base import NumpyTask, ScriptedExpert, SingleEnv, TaskSpec

if TYPE_CHECKING:  # types imports torch; the envs package stays torch-free at import
    from mimetic.types import Trajectory

DT = 0.1  # s per step
OBSTACLE = (0.0, 0.9)  # centre (m)
OBSTACLE_RADIUS = 0.6  # m
GOAL_RADIUS = 0.1  # m
START_Y = 0.05  # half-width of the uniform start y around 0 (x is always 0)
GOAL_Y, GOAL_Y_SPREAD = 2.0, 0.1  # goal (0, gy), gy ~ U(GOAL_Y - spread, GOAL_Y + spread)
EXPERT_MARGIN = 0.3  # m; the expert's side waypoint clears the obstacle by this much
MAX_STEPS = 60
LEFT, RIGHT = 1, 0  # coin values: 1 = pass the obstacle on the left (negative x)


def coin_of(goal_y: np.ndarray) -> np.ndarray:
    """(B,) goal y -> (B,) int64 coin in {0, 1}: a bit of a 32-bit hash of gy's float32 pattern.

    The finaliser of MurmurHash3 (Appleby 2008): every input bit flips each output bit with
    probability about 1/2, so neighbouring goals get independent coins.
    """
    h = np.asarray(goal_y, np.float32).view(np.uint32).astype(np.uint64)  # (B,)
    mask = np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & mask
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & mask
    h ^= h >> np.uint64(16)
    return (h & np.uint64(1)).astype(np.int64)


def reached_goal(obs: np.ndarray) -> np.ndarray:
    """(B, 4) observations -> (B,) bool: within GOAL_RADIUS of the goal."""
    obs = np.asarray(obs, np.float64)
    return np.hypot(obs[:, 0] - obs[:, 2], obs[:, 1] - obs[:, 3]) < GOAL_RADIUS


def episode_success(traj: Trajectory) -> bool:
    """Success of one ``multimodal`` episode: it ended at the goal (not on the obstacle, not timed out)."""
    return bool(traj.terminated and reached_goal(traj.obs[-1:])[0])


class MultimodalTask(NumpyTask):
    """Point agent, round obstacle, goal straight ahead; B envs at once (see module docstring)."""

    state_dim = 5  # x, y, gx, gy, coin

    def __init__(self, *, num_envs: int = 1, max_steps: int = MAX_STEPS) -> None:
        high = np.array([5.0, 5.0, 5.0, 5.0], np.float32)
        spec = TaskSpec(
            name="multimodal",
            gym_id="mimetic/Multimodal-v0",
            observation_space=gym.spaces.Box(-high, high, dtype=np.float32),
            action_space=gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
            max_steps=max_steps,
            success=episode_success,
        )
        super().__init__(spec=spec, num_envs=num_envs)

    @property
    def coins(self) -> np.ndarray:
        """(B,) int64 hidden coin of each env's episode: 1 = the expert passes left, 0 = right."""
        return self._state[:, 4].astype(np.int64)

    def _initial_state(self, rng: np.random.Generator) -> np.ndarray:
        y0 = rng.uniform(-START_Y, START_Y)
        # float32 first: the coin is a function of the goal exactly as the observation shows it
        gy = np.float32(rng.uniform(GOAL_Y - GOAL_Y_SPREAD, GOAL_Y + GOAL_Y_SPREAD))
        return np.array([0.0, y0, 0.0, float(gy), float(coin_of(np.array([gy]))[0])])  # (5,)

    def _advance(self, state: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        pos, goal = state[:, 0:2], state[:, 2:4]  # (B, 2) each
        vel = np.clip(actions.astype(np.float64), -1.0, 1.0)  # (B, 2)
        new = pos + DT * vel  # (B, 2)
        d_old = np.linalg.norm(goal - pos, axis=1)  # (B,)
        d_new = np.linalg.norm(goal - new, axis=1)  # (B,)
        hit = np.hypot(new[:, 0] - OBSTACLE[0], new[:, 1] - OBSTACLE[1]) < OBSTACLE_RADIUS  # (B,)
        reached = (d_new < GOAL_RADIUS) & ~hit
        rewards = (d_old - d_new) + reached.astype(np.float64)
        physical = np.concatenate([new, state[:, 2:5]], axis=1)  # (B, 5)
        return physical, rewards, hit | reached, hit.astype(np.float64)

    def _observe(self, state: np.ndarray) -> np.ndarray:
        return state[:, :4].astype(np.float32)  # (B, 4)

    def camera(self, size: int) -> np.ndarray:
        """(B, size, size, 3) uint8: the arena of :meth:`render` drawn at ``size`` for every env
        (``@pixels``); the agent is at least 1.5 pixels in radius so it never vanishes."""
        lo, hi = np.array([-1.2, -0.3]), np.array([1.2, 2.4])
        u = (np.arange(size) + 0.5) / size  # (size,)
        wx = (lo[0] + u * (hi[0] - lo[0]))[None, None, :]  # (1, 1, W) world x
        wy = (hi[1] - u * (hi[1] - lo[1]))[None, :, None]  # (1, H, 1) world y, row 0 at the top
        x, y, gx, gy = (self._state[:, k][:, None, None] for k in range(4))  # (B, 1, 1) each
        img = np.full((self.num_envs, size, size, 3), 255, np.uint8)
        obstacle = np.hypot(wx - OBSTACLE[0], wy - OBSTACLE[1]) < OBSTACLE_RADIUS  # (1, H, W)
        img[np.broadcast_to(obstacle, img.shape[:3])] = (128, 128, 128)
        img[np.hypot(wx - gx, wy - gy) < GOAL_RADIUS] = (40, 170, 60)
        radius = max(0.05, 1.5 * (hi[1] - lo[1]) / size)
        img[np.hypot(wx - x, wy - y) < radius] = (210, 40, 40)
        return img

    def render(self, index: int = 0) -> np.ndarray:
        """A 240 x 240 top view: grey obstacle, green goal, red agent (x right, y up)."""
        size, lo, hi = 240, np.array([-1.2, -0.3]), np.array([1.2, 2.4])
        ys, xs = np.mgrid[0:size, 0:size]  # pixel rows, columns
        wx = lo[0] + (xs + 0.5) / size * (hi[0] - lo[0])  # (H, W) world x
        wy = hi[1] - (ys + 0.5) / size * (hi[1] - lo[1])  # (H, W) world y, row 0 at the top
        frame = np.full((size, size, 3), 255, np.uint8)  # (H, W, 3)
        x, y, gx, gy = self._state[index, :4]
        frame[np.hypot(wx - OBSTACLE[0], wy - OBSTACLE[1]) < OBSTACLE_RADIUS] = (128, 128, 128)
        frame[np.hypot(wx - gx, wy - gy) < GOAL_RADIUS] = (40, 170, 60)
        frame[np.hypot(wx - x, wy - y) < 0.05] = (210, 40, 40)
        return frame


# --------------------------------------------------------------------------- expert


def expert_actions(obs: np.ndarray) -> np.ndarray:
    """(B, 4) -> (B, 2) float32 velocity: head for a waypoint beside the obstacle on the coin's
    side until level with its centre, then for the goal; full speed, slowing only at the goal."""
    obs = np.asarray(obs, np.float64)
    pos, goal = obs[:, 0:2], obs[:, 2:4]  # (B, 2) each
    side = np.where(coin_of(obs[:, 3]) == LEFT, -1.0, 1.0)  # (B,)
    waypoint = np.stack(
        [OBSTACLE[0] + side * (OBSTACLE_RADIUS + EXPERT_MARGIN), np.full(len(obs), OBSTACLE[1])], axis=1
    )  # (B, 2)
    # (B,) not yet level with the obstacle centre; the tolerance absorbs rounding on the waypoint
    before = pos[:, 1] < OBSTACLE[1] - 1e-3
    target = np.where(before[:, None], waypoint, goal)  # (B, 2)
    delta = target - pos  # (B, 2)
    dist = np.linalg.norm(delta, axis=1, keepdims=True)  # (B, 1)
    # full speed towards the target; land exactly on it when it is within one step
    speed = np.minimum(1.0, dist / DT)
    vel = np.where(dist > 1e-9, delta / np.maximum(dist, 1e-9) * speed, 0.0)  # (B, 2)
    return np.clip(vel, -1.0, 1.0).astype(np.float32)


EXPERT = ScriptedExpert("multimodal-coin", 4, expert_actions)


class MultimodalEnv(SingleEnv):
    """Single-env Gymnasium version of ``multimodal`` (registered as ``mimetic/Multimodal-v0``)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    gym_id = "mimetic/Multimodal-v0"

    def __init__(self, *, render_mode: str | None = None, max_steps: int = MAX_STEPS) -> None:
        super().__init__(MultimodalTask(num_envs=1, max_steps=max_steps), render_mode=render_mode)
