"""``driving``: long-horizon lane keeping on a curvy closed track (the ALVINN example).

The test bed for compounding error (Ross & Bagnell 2010; Ross, Gordon & Bagnell 2011): a
cloned steering policy that drifts a little per step leaves the lane after T steps unless it
learned to recover, so cost grows with the horizon T (50 to 5000 steps).

Dynamics: a kinematic bicycle (rear-axle reference) at constant speed ``v`` in Frenet
coordinates along the track centreline, explicit Euler with ``dt = 0.1`` s::

    s'   = v cos(psi) / (1 - kappa(s) e)            arc length along the track (m)
    e'   = v sin(psi)                               lateral error, left positive (m)
    psi' = v tan(delta) / L - kappa(s) s'           heading error, left positive (rad)

``delta`` is the action: steering angle in [-0.5, 0.5] rad, shape (1,), clipped. Each step adds
small Gaussian disturbances to e and psi (defaults 4 mm and 2 mrad per step), and episodes start
close to the centreline (|e| <= 5 cm, |psi| <= 10 mrad). Both are deliberately small: a precise
expert on a calm road then demonstrates only a narrow band of states around the centreline and
never a recovery from a large error -- the situation in which ALVINN-style cloning drifts, each
small steering error taking the learner further from anything it was shown. (With 5x larger
disturbances the demonstrations cover recoveries and BC tracks as well as the expert at every
horizon; see benchmarks/RESULTS.md.) The noise is a hash of
(episode key, step) -- counter-based, not a stateful generator -- so the (B, 5) state
``[s, e, psi, key, t]`` alone fixes the future and get_state/set_state replay exactly.

Track: curvature ``kappa(s) = 2 pi / S + sum_i a_i sin(2 pi n_i s / S + phi_i)``; its integer
frequencies make the heading turn exactly once per lap, and frequencies sharing a factor m >= 2
give the track m-fold symmetry, so the drawn centreline closes too.

Observation (6,) float32, all O(1): ``[e / 2 m, psi / 0.5 rad, 20 m * kappa(s + d) for d in
(0, 5, 10, 20) m]`` (the curvature preview is what a camera would show of the road ahead).

Cost (``Step.costs``, reward = -cost): ``|e|`` per step, plus 1 on each off-road step
(``|e| > 2`` m, half the lane width). ``|e| > 4`` m is a crash: the episode terminates and the
crash step also pays ``5 * (max_steps - t)``, i.e. as if the car had stayed off-road at the crash
distance for the rest of the horizon, so crashing early never lowers an episode's total cost.
Results on this task are judged by cost (``TaskSpec.headline``).

Expert ``driving-stanley``: Stanley-style steering (Thrun et al. 2006) from the observation alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from mimetic.envs.base import (
    NumpyTask,
    ScriptedExpert,
    SingleEnv,
    Step,
    TaskSpec,
    check_count,
)
from mimetic.errors import ConfigError

if TYPE_CHECKING:  # types imports torch; the envs package stays torch-free at import
    from mimetic.types import Trajectory

DT = 0.1  # s per step
SPEED = 10.0  # m/s
WHEELBASE = 2.5  # m
MAX_STEER = 0.5  # rad
LANE_HALF_WIDTH = 2.0  # m; beyond it the car is off-road
CRASH_DISTANCE = 4.0  # m; beyond it the episode ends
OFFROAD_COST = 1.0
LOOKAHEAD = (0.0, 5.0, 10.0, 20.0)  # m ahead at which the observation previews curvature
E_SCALE, PSI_SCALE, KAPPA_SCALE = 2.0, 0.5, 20.0  # observation = raw / scale (kappa: * scale)
CAMERA_VIEW = 24.0  # m: the side of the square an ``@pixels`` camera sees (18 m ahead, 6 m behind)


def success(traj: Trajectory) -> bool:
    """Stayed on the road until the horizon: the episode did not end in a crash."""
    return not traj.terminated


def risk(obs: np.ndarray) -> np.ndarray:
    """(B, 6) -> (B,) metres from the centreline (what a watching human judges by)."""
    return np.abs(obs[:, 0]) * E_SCALE


@dataclass(frozen=True)
class Track:
    """A closed track given by its curvature as a function of arc length."""

    length: float = 800.0  # m
    waves: tuple[tuple[int, float, float], ...] = ((3, 0.025, 0.0), (6, 0.02, 0.5), (9, 0.01, 2.0))
    # (integer frequency n, amplitude a in 1/m, phase phi) of each curvature sinusoid

    def __post_init__(self) -> None:
        limit = math.tan(MAX_STEER) / WHEELBASE
        if self.max_kappa >= 0.8 * limit:
            raise ConfigError(f"track curvature up to {self.max_kappa:.3f} 1/m is too sharp; keep it below "
                              f"{0.8 * limit:.3f} (steering limit)")

    @property
    def max_kappa(self) -> float:
        return 2 * math.pi / self.length + sum(abs(a) for _, a, _ in self.waves)

    def kappa(self, s: np.ndarray) -> np.ndarray:
        """Curvature (1/m) at arc length ``s`` (any shape, any real s: it is periodic)."""
        out = np.full(np.shape(s), 2 * math.pi / self.length)
        for n, a, phi in self.waves:
            out = out + a * np.sin(2 * math.pi * n * np.asarray(s) / self.length + phi)
        return out

    def heading(self, s: np.ndarray) -> np.ndarray:
        """Centreline heading (rad) at ``s``: the integral of kappa from 0, heading(0) = 0."""
        out = 2 * math.pi * np.asarray(s, np.float64) / self.length
        for n, a, phi in self.waves:
            w = 2 * math.pi * n / self.length
            out = out + a / w * (math.cos(phi) - np.cos(w * np.asarray(s) + phi))
        return out

    def centreline(self, *, ds: float = 0.5) -> np.ndarray:
        """Points (N, 2) of the centreline from s = 0 in steps of ds, by trapezoidal integration."""
        s = np.arange(0.0, self.length + ds / 2, ds)  # (N,)
        th = self.heading(s)
        steps = 0.5 * ds * np.stack([np.cos(th[1:]) + np.cos(th[:-1]), np.sin(th[1:]) + np.sin(th[:-1])], 1)
        return np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])  # (N, 2)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele et al. 2014): a good 64-bit hash, vectorised (wraps mod 2^64)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def counter_normals(key: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Two standard normals per row (B, 2), a pure function of (key, step) (Box-Muller)."""
    base = _splitmix64(key.astype(np.uint64))
    c = step.astype(np.uint64) * np.uint64(2)
    u = [((_splitmix64(base ^ (c + np.uint64(j))) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
         for j in (0, 1)]  # two (B,) uniforms in (0, 1)
    r = np.sqrt(-2.0 * np.log(u[0]))
    return np.stack([r * np.cos(2 * np.pi * u[1]), r * np.sin(2 * np.pi * u[1])], axis=1)  # (B, 2)


class DrivingTask(NumpyTask):
    """B cars keeping lane on one track; see the module docstring for dynamics, obs and cost."""

    state_dim = 4  # s, e, psi, noise key; the step counter t is appended

    def __init__(
        self,
        *,
        num_envs: int = 1,
        max_steps: int = 400,
        track: Track | None = None,
        lateral_noise: float = 0.004,
        heading_noise: float = 0.002,
        start_lateral: float = 0.05,
        start_heading: float = 0.01,
    ) -> None:
        check_count("max_steps", max_steps)
        if min(lateral_noise, heading_noise, start_lateral, start_heading) < 0:
            raise ConfigError(f"noise scales and start spreads must be >= 0, got {lateral_noise}, "
                              f"{heading_noise}, {start_lateral}, {start_heading}")
        self.start_spread = (start_lateral, start_heading)  # m, rad: half-widths of the uniform start
        self.track = Track() if track is None else track
        self.noise = np.array([lateral_noise, heading_noise])  # (2,) std per step: m, rad
        k_hi = np.float32(self.track.max_kappa * KAPPA_SCALE * 1.01)
        high = np.array([(CRASH_DISTANCE + 2.0) / E_SCALE, 7.0 / PSI_SCALE] + [k_hi] * len(LOOKAHEAD),
                        np.float32)  # e and psi bounds hold because e is clipped and psi wrapped
        spec = TaskSpec(
            name="driving",
            gym_id="mimetic/Driving-v0",
            observation_space=gym.spaces.Box(-high, high, dtype=np.float32),
            action_space=gym.spaces.Box(-MAX_STEER, MAX_STEER, (1,), np.float32),
            max_steps=max_steps,
            success=success,
            risk=risk,
            risk_threshold=1.0,  # m off the centreline, half the lane's half-width
            headline="cost",
        )
        super().__init__(spec=spec, num_envs=num_envs)
        self._obs_high = high
        self._background: np.ndarray | None = None  # (H, W, 3) track image, drawn on first render
        self._to_pixels: Any = None
        self._tree: Any = None  # centreline KD-tree for camera(), built on first use

    def _initial_state(self, rng: np.random.Generator) -> np.ndarray:
        s = rng.uniform(0.0, self.track.length)
        e = rng.uniform(-self.start_spread[0], self.start_spread[0])
        psi = rng.uniform(-self.start_spread[1], self.start_spread[1])
        key = float(rng.integers(0, 2**53))  # exact in float64, so it survives get_state
        return np.array([s, e, psi, key])

    def _advance(self, state: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        s, e, psi, key, t = state.T
        delta = np.clip(actions[:, 0].astype(np.float64), -MAX_STEER, MAX_STEER)
        kappa = self.track.kappa(s)
        s_dot = SPEED * np.cos(psi) / (1.0 - kappa * e)
        noise = counter_normals(key, t) * self.noise  # (B, 2)
        e_new = e + DT * SPEED * np.sin(psi) + noise[:, 0]
        psi_new = psi + DT * (SPEED * np.tan(delta) / WHEELBASE - kappa * s_dot) + noise[:, 1]
        psi_new = (psi_new + np.pi) % (2 * np.pi) - np.pi
        s_new = (s + DT * s_dot) % self.track.length
        dist = np.abs(e_new)
        crashed = dist > CRASH_DISTANCE
        remaining = self.spec.max_steps - (t + 1.0)
        costs = dist + OFFROAD_COST * (dist > LANE_HALF_WIDTH)
        costs = costs + crashed * (CRASH_DISTANCE + OFFROAD_COST) * np.maximum(remaining, 0.0)
        return np.stack([s_new, e_new, psi_new, key], axis=1), -costs, crashed, costs

    def _observe(self, state: np.ndarray) -> np.ndarray:
        s, e, psi = state[:, 0], state[:, 1], state[:, 2]
        ahead = self.track.kappa(s[:, None] + np.asarray(LOOKAHEAD)) * KAPPA_SCALE  # (B, K)
        obs = np.concatenate([(e / E_SCALE)[:, None], (psi / PSI_SCALE)[:, None], ahead], axis=1)
        return np.clip(obs, -self._obs_high, self._obs_high).astype(np.float32)  # (B, 2 + K)

    def lateral_error(self) -> np.ndarray:
        """Current lateral errors (B,) in metres."""
        return self._state[:, 1].copy()

    def camera(self, size: int) -> np.ndarray:
        """(B, size, size, 3) uint8: each car's own top-down view of the road ahead (``@pixels``).

        The view turns with the car: it points up, seen from above at the centre of the bottom
        quarter, over CAMERA_VIEW metres square (the road ahead three times as far as behind);
        road grey, centre line white, shoulder tan, grass green, car red. Each pixel is coloured
        by its distance to the centreline, so the picture is exact at any size."""
        if self._tree is None:
            from scipy.spatial import cKDTree

            self._tree = cKDTree(self.track.centreline(ds=0.25))
        s, e, psi = self._state[:, 0], self._state[:, 1], self._state[:, 2]
        th = self.track.heading(s)
        pts = self._tree.data
        idx = np.rint(s / 0.25).astype(np.int64) % (len(pts) - 1)
        normal = np.stack([-np.sin(th), np.cos(th)], axis=1)  # (B, 2) left of the road
        car = pts[idx] + e[:, None] * normal  # (B, 2) metres
        h = th + psi
        fwd = np.stack([np.cos(h), np.sin(h)], axis=1)  # (B, 2)
        right = np.stack([np.sin(h), -np.cos(h)], axis=1)  # (B, 2)
        u = (np.arange(size) + 0.5) / size  # (size,)
        ahead = CAMERA_VIEW * (0.75 - u)  # (size,) rows: metres ahead, top row farthest
        across = CAMERA_VIEW * (u - 0.5)  # (size,) cols: metres to the right
        world = (car[:, None, None] + ahead[None, :, None, None] * fwd[:, None, None]
                 + across[None, None, :, None] * right[:, None, None])  # (B, size, size, 2)
        dist, _ = self._tree.query(world.reshape(-1, 2))
        dist = dist.reshape(len(car), size, size)  # (B, size, size) metres to the centreline
        img = np.empty((len(car), size, size, 3), np.uint8)
        img[:] = (70, 140, 60)
        img[dist <= CRASH_DISTANCE] = (190, 170, 120)
        img[dist <= LANE_HALF_WIDTH] = (90, 90, 90)
        img[dist <= max(0.15, 0.5 * CAMERA_VIEW / size)] = (235, 235, 235)
        body = (np.abs(ahead)[:, None] <= 2.0) & (np.abs(across)[None, :] <= 0.9)  # (size, size) a 4 x 1.8 m car
        img[:, body] = (220, 30, 30)
        return img

    def render(self, index: int = 0) -> np.ndarray:
        """Top-down view (256, 256, 3) uint8: road grey, shoulder tan, car red with a yellow heading tick."""
        if self._background is None:
            self._background, self._to_pixels = _draw_track(self.track, size=256)
        frame = self._background.copy()
        s, e, psi = self._state[index, :3]
        th = float(self.track.heading(s))
        idx = int(round(s / 0.5)) % (len(self._to_pixels.points) - 1)
        normal = np.array([-math.sin(th), math.cos(th)])
        car = self._to_pixels(self._to_pixels.points[idx] + e * normal)
        ahead = np.array([math.cos(th + psi), math.sin(th + psi)]) * np.array([1.0, -1.0])  # image y is down
        for k in np.linspace(0.0, 9.0, 19):  # heading tick from the car's centre
            _paint_disc(frame, car + k * ahead, 1.2, (255, 215, 0))
        _paint_disc(frame, car, 4.0, (220, 30, 30))
        return frame


@dataclass(frozen=True)
class _Pixels:
    """World metres -> image (col, row) for one track drawing."""

    points: np.ndarray  # (N, 2) centreline in metres, every 0.5 m
    origin: np.ndarray  # (2,)
    scale: float  # pixels per metre
    size: int

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        p = (np.asarray(xy) - self.origin) * self.scale
        return np.stack([p[..., 0], self.size - 1 - p[..., 1]], axis=-1)  # flip y: rows grow downwards


def _draw_track(track: Track, *, size: int) -> tuple[np.ndarray, _Pixels]:
    """Grass, shoulder (up to the crash distance), road (lane) and centre line, drawn once."""
    from scipy.spatial import cKDTree

    pts = track.centreline(ds=0.5)  # (N, 2)
    margin = CRASH_DISTANCE + 4.0
    lo, hi = pts.min(0) - margin, pts.max(0) + margin
    scale = (size - 1) / float(np.max(hi - lo))
    origin = lo - ((size - 1) / scale - (hi - lo)) / 2  # centre the track in the square
    to_px = _Pixels(points=pts, origin=origin, scale=scale, size=size)
    rows, cols = np.mgrid[0:size, 0:size]  # (H, W) each
    world = np.stack([cols, size - 1 - rows], axis=-1) / scale + origin  # (H, W, 2) metres
    dist, _ = cKDTree(pts).query(world.reshape(-1, 2))
    dist = dist.reshape(size, size)  # (H, W) metres to the centreline
    img = np.empty((size, size, 3), np.uint8)
    img[:] = (70, 140, 60)
    img[dist <= CRASH_DISTANCE] = (190, 170, 120)
    img[dist <= LANE_HALF_WIDTH] = (90, 90, 90)
    img[dist <= 0.5 / scale] = (235, 235, 235)  # a one-pixel centre line
    return img, to_px


def _paint_disc(img: np.ndarray, centre: np.ndarray, radius: float, colour: tuple[int, int, int]) -> None:
    """Fill pixels within ``radius`` of ``centre`` (col, row), clipped to the image."""
    c, r = float(centre[0]), float(centre[1])
    r0, r1 = max(int(r - radius), 0), min(int(r + radius) + 1, img.shape[0])
    c0, c1 = max(int(c - radius), 0), min(int(c + radius) + 1, img.shape[1])
    if r0 >= r1 or c0 >= c1:
        return
    rr, cc = np.mgrid[r0:r1, c0:c1]
    img[r0:r1, c0:c1][(rr - r) ** 2 + (cc - c) ** 2 <= radius**2] = colour


# --------------------------------------------------------------------------- expert

STANLEY_K_PSI = 1.5  # 1/rad; with K_E these put the linearised lateral poles near -3 rad/s
STANLEY_K_E = 2.25  # 1/s


def expert_actions(obs: np.ndarray) -> np.ndarray:
    """(B, 6) -> (B, 1) float32 steering: curvature feed-forward plus heading and lateral feedback."""
    e = obs[:, 0] * E_SCALE
    psi = obs[:, 1] * PSI_SCALE
    kappa = obs[:, 2] / KAPPA_SCALE
    steer = np.arctan(WHEELBASE * kappa) - STANLEY_K_PSI * psi - np.arctan(STANLEY_K_E * e / SPEED)
    return np.clip(steer, -MAX_STEER, MAX_STEER).astype(np.float32)[:, None]  # (B, 1)


EXPERT = ScriptedExpert("driving-stanley", 6, expert_actions)


class DrivingEnv(SingleEnv):
    """Single-env Gymnasium version of ``driving`` (registered as ``mimetic/Driving-v0``).

    It truncates itself at ``max_steps`` (no TimeLimit wrapper), and reports the step's cost and
    lateral error in ``info``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": int(round(1 / DT))}
    gym_id = "mimetic/Driving-v0"

    def __init__(self, *, render_mode: str | None = None, max_steps: int = 400) -> None:
        super().__init__(DrivingTask(num_envs=1, max_steps=max_steps), render_mode=render_mode)

    def _info(self, step: Step | None) -> dict[str, float]:
        info = {"lateral_error": float(self.task.lateral_error()[0])}  # type: ignore[attr-defined]
        return info if step is None else {"cost": float(step.costs[0]), **info}
