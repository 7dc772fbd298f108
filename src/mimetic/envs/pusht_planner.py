"""The PushT planning expert: try pushes in a second simulator, walk around the T, push.

No human demonstrations can be downloaded here, so the PushT expert plans. At every decision
(each control step, 10 Hz) it:

1. simulates candidate pushes from the block's current pose in its own copy of the simulator
   (the block and agent bodies of a private ``gym_pusht`` env, set directly): a contact point on
   the T's outline (every ``spacing`` px, away from the corners), the push along the edge's
   inward normal, at a few speeds (the PD target leads the agent by ``speeds`` px each step:
   every contact at the middle speed, then the others at the ``refine`` contacts that did best),
   each run for ``horizon`` control steps with the task's own PD controller and physics; a push
   scores the smallest pose error it reaches on the way (the planner re-decides every step, so it
   can stop anywhere);
2. adds the cost of walking to the push's start: the shortest path around the T, inflated by the
   agent's radius plus a margin (a visibility graph over its offset corners), times ``walk_cost``;
3. takes the best push after a random preference for each contact point of up to ``tie`` px
   plus ``tie_share`` of the current error (a wide choice far from the goal, a narrow one near
   it), drawn with the planner's seed and the block's pose: pushes that close are
   chosen among at random, so demonstrations go round the block either way (multimodal, like a
   human's); a push the agent is already in contact with gets the largest preference (the
   draws change whenever the block moves, and a push under way must not be dropped for them);
4. acts: if the agent stands at the push's start (or is already touching there), it pushes
   (its target leads it along the push direction); otherwise it walks towards the path's next
   corner, at most ``walk_speed`` px a step.

The pose error is the mean distance of the T's 8 outline vertices from their goal positions
(px). The simulated pushes depend only on the block's pose, so they are cached while the agent
walks; the decision is a function of the observation (no memory), so the planner labels any state
(DAgger) the same way it acts. There is no escape move: a state from which no single push helps
keeps the agent trying the best of them (benchmarks/pusht_expert.py measures how often that ends
an episode short of success).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from mimetic.errors import TaskError

INSTALL = "pip install 'mimetic[pusht]'"
GYM_ID = "gym_pusht/PushT-v0"


def require_pusht(task: str = "pusht") -> None:
    """A one-line TaskError naming the install command when gym-pusht is missing."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame greets on import otherwise
    try:
        import gym_pusht  # noqa: F401 - registers gym_pusht/PushT-v0
    except ImportError as exc:
        missing = exc.name or "gym_pusht"
        raise TaskError(f"task {task!r} needs gym-pusht ({missing} is not installed): {INSTALL}") from None


def make_env(obs_type: str = "state") -> Any:
    """One bare gym-pusht env (no time limit wrapper is needed for planning)."""
    require_pusht()
    import gymnasium as gym

    return gym.make(GYM_ID, obs_type=obs_type, render_mode="rgb_array")



# The T in its body frame (gym-pusht's add_tee, scale 30): a 120 x 30 bar and a 30 x 90 stem.
RECTS = np.array([[-60.0, 0.0, 60.0, 30.0], [-15.0, 30.0, 15.0, 120.0]])  # (2, 4) x0, y0, x1, y1
OUTLINE = np.array([[-60, 0], [60, 0], [60, 30], [15, 30], [15, 120], [-15, 120], [-15, 30], [-60, 30]],
                   np.float64)  # (8, 2) counter-clockwise
GOAL = np.array([256.0, 256.0, np.pi / 4])  # the goal pose (x, y, angle) of every episode
AGENT_RADIUS = 15.0
ARENA = (5.0 + AGENT_RADIUS, 506.0 - AGENT_RADIUS)  # where the agent's centre can be (walls at 5, 506)
K_P, K_V, DT, SUBSTEPS = 100.0, 20.0, 0.01, 10  # the task's PD gains, physics step, steps per action


def rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def to_world(pose: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Body-frame points (N, 2) of a block at ``pose`` (x, y, angle) in world coordinates."""
    return local @ rotation(pose[2]).T + pose[:2]


def to_local(pose: np.ndarray, world: np.ndarray) -> np.ndarray:
    return (world - pose[:2]) @ rotation(pose[2])


def pose_error(pose: np.ndarray, goal: np.ndarray = GOAL) -> float:
    """Mean distance (px) of the T's outline vertices from where they are at ``goal``."""
    return float(np.linalg.norm(to_world(pose, OUTLINE) - to_world(goal, OUTLINE), axis=1).mean())


def distance_to_t(local: np.ndarray) -> np.ndarray:
    """Distance (N,) of body-frame points (N, 2) from the T (0 inside)."""
    x, y = local[:, 0:1], local[:, 1:2]  # (N, 1)
    dx = np.maximum(np.maximum(RECTS[:, 0] - x, 0.0), x - RECTS[:, 2])  # (N, 2)
    dy = np.maximum(np.maximum(RECTS[:, 1] - y, 0.0), y - RECTS[:, 3])
    return np.hypot(dx, dy).min(axis=1)


def pose_from_keypoints(keypoints: np.ndarray, local: np.ndarray) -> np.ndarray:
    """(x, y, angle) of the rigid motion that best maps ``local`` (8, 2) onto ``keypoints`` (8, 2)
    (least squares, Kabsch in 2-D): the block pose behind PushT's keypoint observation."""
    lc, kc = local.mean(axis=0), keypoints.mean(axis=0)
    a, b = local - lc, keypoints - kc
    angle = np.arctan2((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum(), (a * b).sum())
    t = kc - lc @ rotation(angle).T
    return np.array([t[0], t[1], angle % (2 * np.pi)])


# ----------------------------------------------------------------------------- candidate pushes


def _contacts(spacing: float, corner: float) -> tuple[np.ndarray, np.ndarray]:
    """Body-frame contact points (C, 2) along the outline and the inward normals (C, 2) there."""
    points, normals = [], []
    for i in range(len(OUTLINE)):
        a, b = OUTLINE[i], OUTLINE[(i + 1) % len(OUTLINE)]
        edge = b - a
        length = float(np.linalg.norm(edge))
        tangent = edge / length
        inward = np.array([-tangent[1], tangent[0]])  # left of a counter-clockwise edge
        n = max(int((length - 2 * corner) // spacing) + 1, 1)
        for s in np.linspace(corner, length - corner, n) if length > 2 * corner else [length / 2]:
            points.append(a + tangent * s)
            normals.append(inward)
    return np.array(points), np.array(normals)


@dataclass(frozen=True)
class Pushes:
    """The candidate pushes from one block pose, simulated. World frame; P candidates."""

    start: np.ndarray  # (P, 2) where the agent's centre starts the push (just off the surface)
    direction: np.ndarray  # (P, 2) unit push direction
    speed: np.ndarray  # (P,) px the PD target leads the agent by, each step
    error: np.ndarray  # (P,) the smallest pose error reached on the way
    contact: np.ndarray  # (P,) index of the contact point (pushes of one contact share it)


class PushTPlanner:
    """The planning expert; ``__call__`` maps PushT observations (B, 5) state or (B, 18) keypoints
    to actions (B, 2): the agent's PD target in [0, 512]^2."""

    def __init__(self, *, seed: int = 0, obs: str = "state", spacing: float = 15.0, corner: float = 5.0,
                 speeds: tuple[float, ...] = (5.0, 15.0, 40.0), horizon: int = 6, walk_speed: float = 40.0,
                 walk_cost: float = 0.01, tie: float = 0.5, tie_share: float = 0.1, margin: float = 4.0,
                 refine: int | None = 8, cache: int = 256) -> None:
        self.seed, self.obs = seed, obs
        self.speeds, self.horizon, self.refine = tuple(float(x) for x in speeds), horizon, refine
        self.walk_speed, self.walk_cost, self.tie, self.tie_share = walk_speed, walk_cost, tie, tie_share
        self.contact_points, self.normals = _contacts(spacing, corner)  # (C, 2) each
        delta = AGENT_RADIUS + margin
        n_out = _outward(OUTLINE)  # (8, 2) of edge i -> i+1
        self.nodes_local = OUTLINE + delta * (n_out + np.roll(n_out, 1, axis=0))  # (8, 2) offset corners
        self.clear = delta - 1.0
        self._env = make_env("state")
        self._env.reset(seed=0)
        self._sim = self._env.unwrapped
        # the env counts contact points after every physics step (for its info dict), through a Python
        # callback that builds each contact set; the planner reads none of it, so skip the counting
        self._sim.collision_handeler.post_solve = _ignore_contacts
        self._local_keypoints: np.ndarray | None = None
        self._cache: OrderedDict[tuple, Pushes] = OrderedDict()
        self._cache_size = cache
        self.simulated = 0  # candidate pushes simulated (cache misses x candidates)

    # ------------------------------------------------------------------ observation -> state

    def state_of(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(agent xy (2,), block pose (3,)) of one observation row."""
        if self.obs == "state":
            return obs[:2].astype(np.float64), obs[2:5].astype(np.float64)
        return obs[:2].astype(np.float64), pose_from_keypoints(obs[2:18].reshape(8, 2), self.local_keypoints)

    @property
    def local_keypoints(self) -> np.ndarray:
        """The keypoint observation's 8 points in the body frame, read off the simulator at pose 0."""
        if self._local_keypoints is None:
            sim = self._sim
            sim.block.angle = 0.0
            sim.block.position = (0.0, 0.0)
            self._local_keypoints = np.asarray(sim.get_keypoints(sim._block_shapes), np.float64)
        return self._local_keypoints

    # ------------------------------------------------------------------ acting

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float64)
        width = 5 if self.obs == "state" else 18
        if obs.ndim != 2 or obs.shape[1] != width:
            raise TaskError(f"the PushT planner labels batches of shape (B, {width}), got {obs.shape}")
        xy = obs[:, :4] if self.obs == "state" else obs
        bad = ~np.all(np.isfinite(obs), axis=1) | np.any((xy < 0.0) | (xy > 512.0), axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise TaskError(f"PushT state {i} is off the 512 x 512 table (or not finite), so the planner cannot "
                            f"label it: {np.round(obs[i], 2).tolist()}")
        out = np.empty((len(obs), 2), np.float32)
        for i, row in enumerate(obs):
            out[i] = self.act_one(*self.state_of(row))
        return out

    def act_one(self, agent: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """The PD target (2,) for one state."""
        pushes = self.pushes(pose)
        if len(pushes.error) == 0:  # nowhere to push from (the block pinned in a corner): stay
            return agent.copy()
        walk, first = self.walks(agent, pose, pushes.start)  # (P,), (P, 2)
        at_start = np.linalg.norm(pushes.start - agent, axis=1) < 4.0
        touching = self._touching(agent, pose, pushes)
        score = pushes.error + self.walk_cost * walk
        tie = self.tie + self.tie_share * pose_error(pose)
        # keep a push under way (hysteresis): the preferences are drawn again once the block moves
        score = np.where(touching, score - tie, score)
        choice = self._choose(score, pose, pushes.contact, tie)
        if at_start[choice] or touching[choice]:
            # push: the target leads the agent by the push's step, along the push direction
            target = agent + pushes.direction[choice] * pushes.speed[choice]
        else:  # walk: towards the path's next corner, at most walk_speed px a step
            step = first[choice] - agent
            dist = float(np.linalg.norm(step))
            target = agent + (step if dist <= self.walk_speed else step * (self.walk_speed / dist))
        return np.clip(target, 0.0, 512.0)

    def _choose(self, score: np.ndarray, pose: np.ndarray, contact: np.ndarray, tie: float) -> int:
        """The best push after each contact point's random preference of up to ``tie`` px, drawn
        with the seed and the block's pose: near-equal pushes are chosen among at random (the
        demonstrations go round the block either way), and the choice stays put while the block
        does (a draw per step among the near ones would flip the agent back and forth)."""
        key = f"{self.seed}:{np.round(pose, 1).tolist()}".encode()
        rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little"))
        preference = rng.uniform(0.0, tie, len(self.contact_points))  # (C,)
        return int(np.argmin(score - preference[contact]))

    def _touching(self, agent: np.ndarray, pose: np.ndarray, pushes: Pushes) -> np.ndarray:
        """(P,) the agent is in contact with the T at this push's contact point."""
        local = to_local(pose, agent[None])[0]
        if distance_to_t(local[None])[0] > AGENT_RADIUS + 2.0:
            return np.zeros(len(pushes.error), bool)
        contact_world = to_world(pose, self.contact_points[pushes.contact])  # (P, 2)
        return np.linalg.norm(contact_world - agent, axis=1) < AGENT_RADIUS + 8.0

    # ------------------------------------------------------------------ simulated pushes

    def pushes(self, pose: np.ndarray) -> Pushes:
        key = tuple(np.round(pose, 3).tolist())
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        result = self._simulate(pose)
        self._cache[key] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    def _simulate(self, pose: np.ndarray) -> Pushes:
        starts_local = self.contact_points - self.normals * (AGENT_RADIUS + 1.0)  # (C, 2) just off the surface
        starts = to_world(pose, starts_local)
        dirs = self.normals @ rotation(pose[2]).T  # (C, 2) world push directions
        inside = np.all((starts >= ARENA[0]) & (starts <= ARENA[1]), axis=1)
        free = distance_to_t(starts_local) >= AGENT_RADIUS + 0.5  # not pressed into the other bar
        start, direction, speed, error, contact = [], [], [], [], []

        def add(c: int, v: float) -> None:
            error.append(self._run_push(pose, starts[c], dirs[c] * v))
            start.append(starts[c])
            direction.append(dirs[c])
            speed.append(v)
            contact.append(c)

        usable = np.flatnonzero(inside & free)
        if self.refine is None or len(self.speeds) == 1:
            for c in usable:
                for v in self.speeds:
                    add(c, v)
        else:  # every contact at the middle speed, then the other speeds at the refine best contacts
            middle = self.speeds[len(self.speeds) // 2]
            for c in usable:
                add(c, middle)
            for c in usable[np.argsort(error)[: self.refine]]:
                for v in self.speeds:
                    if v != middle:
                        add(c, v)
        self.simulated += len(error)
        return Pushes(start=np.array(start).reshape(-1, 2), direction=np.array(direction).reshape(-1, 2),
                      speed=np.array(speed), error=np.array(error), contact=np.array(contact, np.int64))

    def _run_push(self, pose: np.ndarray, start: np.ndarray, lead: np.ndarray) -> float:
        """Smallest pose error over ``horizon`` control steps of the agent, from rest at ``start``,
        each step's PD target leading it by ``lead`` (2,) (as the planner pushes), in the private
        simulator with the task's own controller and physics."""
        sim = self._sim
        block, agent, space = sim.block, sim.agent, sim.space
        # the angle first: pymunk turns a body about its centre of gravity, which moves the position
        block.angle = float(pose[2])
        block.position = (float(pose[0]), float(pose[1]))
        block.velocity, block.angular_velocity = (0.0, 0.0), 0.0
        agent.position, agent.velocity = (float(start[0]), float(start[1])), (0.0, 0.0)
        best = np.inf
        for _ in range(self.horizon):
            tx, ty = agent.position[0] + lead[0], agent.position[1] + lead[1]
            for _ in range(SUBSTEPS):
                (px, py), (vx, vy) = agent.position, agent.velocity
                agent.velocity = (vx + (K_P * (tx - px) - K_V * vx) * DT, vy + (K_P * (ty - py) - K_V * vy) * DT)
                space.step(DT)
            p = block.position
            best = min(best, pose_error(np.array([p.x, p.y, block.angle])))
        return best

    # ------------------------------------------------------------------ walking

    def walks(self, agent: np.ndarray, pose: np.ndarray, goals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Path length (G,) from ``agent`` to each goal (G, 2) around the inflated T, and the first
        point (G, 2) to head for on each path."""
        nodes = to_world(pose, self.nodes_local)  # (8, 2)
        ok = np.all((nodes >= ARENA[0]) & (nodes <= ARENA[1]), axis=1)
        nodes = nodes[ok]
        n = len(nodes)
        # node-to-node and agent-to-node visibility, then shortest distances from the agent (Dijkstra)
        d_nodes = self._visible_lengths(pose, nodes, nodes)  # (n, n), inf where blocked
        from_agent = self._visible_lengths(pose, agent[None], nodes)[0]  # (n,)
        dist, via = from_agent.copy(), np.arange(n)  # via: the first node on the path to each node
        done = np.zeros(n, bool)
        for _ in range(n):
            open_ = np.where(done, np.inf, dist)
            k = int(np.argmin(open_)) if n else 0
            if n == 0 or not np.isfinite(open_[k]):
                break
            done[k] = True
            better = dist[k] + d_nodes[k] < dist
            dist = np.where(better, dist[k] + d_nodes[k], dist)
            via = np.where(better, via[k], via)
        direct = self._visible_lengths(pose, agent[None], goals)[0]  # (G,)
        to_goal = self._visible_lengths(pose, nodes, goals)  # (n, G)
        through = dist[:, None] + to_goal  # (n, G)
        walk = direct.copy()
        first = goals.copy()
        if n:
            best = np.argmin(through, axis=0)  # (G,)
            use = through[best, np.arange(len(goals))] < direct
            walk = np.where(use, through[best, np.arange(len(goals))], direct)
            first = np.where(use[:, None], nodes[via[best]], goals)
        # no path at all (boxed in): head straight for it and let the physics sort it out
        unreachable = ~np.isfinite(walk)
        walk = np.where(unreachable, 4.0 * np.linalg.norm(goals - agent, axis=1), walk)
        first = np.where(unreachable[:, None], goals, first)
        return walk, first

    def _visible_lengths(self, pose: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Lengths (A, B) of the segments a_i -> b_j, inf where one passes closer to the T than
        ``clear`` (relaxed to its end points' own clearance, so paths may start or end near it)."""
        la, lb = to_local(pose, a), to_local(pose, b)  # (A, 2), (B, 2)
        da, db = distance_to_t(la), distance_to_t(lb)
        t = np.linspace(0.0, 1.0, 16)[None, None, :, None]  # (1, 1, S, 1)
        pts = la[:, None, None] + (lb[None, :, None] - la[:, None, None]) * t  # (A, B, S, 2)
        d = distance_to_t(pts.reshape(-1, 2)).reshape(pts.shape[:3])  # (A, B, S)
        need = np.minimum(self.clear, np.minimum(da[:, None], db[None, :])) - 0.5  # (A, B)
        blocked = (d < need[..., None]).any(axis=2)
        length = np.linalg.norm(lb[None] - la[:, None], axis=2)
        return np.where(blocked, np.inf, length)


def _ignore_contacts(arbiter: Any, space: Any, data: Any) -> None:
    return None


def _outward(poly: np.ndarray) -> np.ndarray:
    """Outward unit normals (N, 2) of the edges i -> i+1 of a counter-clockwise polygon."""
    edge = np.roll(poly, -1, axis=0) - poly
    edge /= np.linalg.norm(edge, axis=1, keepdims=True)
    return np.stack([edge[:, 1], -edge[:, 0]], axis=1)

