"""Deterministic scripted experts that label any batch of observations, and expert adapters.

Built-in experts (``make_expert(task_name)``):

- ``cartpole-lqr``: bang-bang sign of a continuous-time LQR state feedback of the cart-pole
  linearised at the upright (Q = diag(1, 1, 10, 1), R = 1); the same controller as the peer
  benchmark harness, so results are comparable. Scores 500 every episode.
- ``pendulum-energy-lqr``: energy-pumping swing-up (dE/dt = theta_dot * u) far from the top, a
  discrete-time LQR on Gymnasium's own Euler discretisation near it (Astrom & Furuta 2000).
- ``lunarlander[-continuous]-heuristic``: Gymnasium's ``lunar_lander.heuristic``, vectorised.
- ``driving-stanley``: Stanley-style steering (Thrun et al. 2006) from the observation alone.
- ``multimodal-coin``: around the obstacle on the side of the episode's hidden coin, then to the
  goal (see :mod:`mimetic.envs.multimodal`).

Adapters: ``as_expert(fn)`` for any user callable, ``load_sb3_expert(path, spec)`` for a
Stable-Baselines3 policy (optional dependency).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg

from mimetic.envs import driving, multimodal
from mimetic.envs.base import TaskSpec
from mimetic.envs.tasks import CartPoleTask, PendulumTask
from mimetic.errors import CheckpointError, TaskError

if TYPE_CHECKING:  # protocols imports torch; the envs package stays torch-free at import
    from mimetic.protocols import Expert


@dataclass(frozen=True)
class ScriptedExpert:
    """A named batched expert for observations of width ``obs_dim``."""

    name: str
    obs_dim: int
    fn: Callable[[np.ndarray], np.ndarray]  # (B, O) float -> (B,) int64 or (B, A) float32

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise TaskError(f"expert {self.name!r} labels batches of shape (B, {self.obs_dim}), got {obs.shape}")
        return self.fn(obs.astype(np.float64))


# --------------------------------------------------------------------------- CartPole


@cache
def cartpole_gain() -> np.ndarray:
    """k (4,) with action = int(obs @ k > 0): push right when the LQR force -K s is positive."""
    c = CartPoleTask
    m, mp, l, g = c.total_mass, c.masspole, c.length, c.gravity
    den = l * (4.0 / 3.0 - mp / m)
    # linearise CartPoleEnv.step at the upright: theta_acc = (g theta - F/m) / den,
    # x_acc = F/m - (mp l / m) theta_acc
    a = np.zeros((4, 4))
    a[0, 1] = a[2, 3] = 1.0
    a[3, 2] = g / den
    a[1, 2] = -mp * l / m * g / den
    b = np.zeros((4, 1))
    b[3, 0] = -1.0 / (m * den)
    b[1, 0] = 1.0 / m + mp * l / (m * m * den)
    q, r = np.diag([1.0, 1.0, 10.0, 1.0]), np.array([[1.0]])
    p = scipy.linalg.solve_continuous_are(a, b, q, r)
    return -np.linalg.solve(r, b.T @ p)[0]  # (4,) about (1.0, 2.3, 32.2, 8.2)


def cartpole_actions(obs: np.ndarray) -> np.ndarray:
    """(B, 4) -> (B,) int64."""
    return (obs @ cartpole_gain() > 0.0).astype(np.int64)


# --------------------------------------------------------------------------- Pendulum

_PUMP_GAIN = 5.0
_BALANCE_COS = math.cos(0.6)  # balance within 0.6 rad of the top, pump energy elsewhere


@cache
def pendulum_gain() -> tuple[float, float]:
    """Discrete LQR gain (k_theta, k_theta_dot) for PendulumTask's Euler step at the upright."""
    c = PendulumTask
    alpha, beta, dt = 3.0 * c.g / (2.0 * c.l), 3.0 / (c.m * c.l**2), c.dt
    # thd' = thd + (alpha th + beta u) dt ; th' = th + thd' dt   (Gymnasium's update order)
    a = np.array([[1.0 + alpha * dt * dt, dt], [alpha * dt, 1.0]])
    b = np.array([[beta * dt * dt], [beta * dt]])
    q, r = np.diag([1.0, 0.1]), np.array([[0.001]])  # the task's own cost weights
    p = scipy.linalg.solve_discrete_are(a, b, q, r)
    k = np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)[0]
    return float(k[0]), float(k[1])


def pendulum_actions(obs: np.ndarray) -> np.ndarray:
    """(B, 3) [cos th, sin th, th_dot] -> (B, 1) float32 torque."""
    c = PendulumTask
    cos_th, sin_th, thd = obs[:, 0], obs[:, 1], obs[:, 2]
    k_th, k_thd = pendulum_gain()
    u_balance = -(k_th * np.arctan2(sin_th, cos_th) + k_thd * thd)
    e_top = c.m * c.g * c.l / 2.0  # potential energy at the upright
    energy = 0.5 * (c.m * c.l**2 / 3.0) * thd**2 + e_top * cos_th
    direction = np.where(thd == 0.0, 1.0, np.sign(thd))  # a resting pendulum still gets a kick
    u_pump = _PUMP_GAIN * (e_top - energy) * direction
    u = np.where(cos_th > _BALANCE_COS, u_balance, u_pump)
    return np.clip(u, -c.max_torque, c.max_torque).astype(np.float32)[:, None]  # (B, 1)


# --------------------------------------------------------------------------- LunarLander


def _lander_todo(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gymnasium's heuristic PD targets: (angle_todo, hover_todo), each (B,)."""
    x, y, vx, vy, angle, vangle = (obs[:, i] for i in range(6))
    angle_targ = np.clip(x * 0.5 + vx * 1.0, -0.4, 0.4)  # point towards the centre, < 22 degrees
    hover_targ = 0.55 * np.abs(x)  # fly higher the farther from the pad
    angle_todo = (angle_targ - angle) * 0.5 - vangle * 1.0
    hover_todo = (hover_targ - y) * 0.5 - vy * 0.5
    contact = (obs[:, 6] != 0) | (obs[:, 7] != 0)
    # after touchdown only damp the fall
    return np.where(contact, 0.0, angle_todo), np.where(contact, -vy * 0.5, hover_todo)


def lander_actions(obs: np.ndarray) -> np.ndarray:
    """(B, 8) -> (B,) int64: 0 noop, 1 left engine, 2 main engine, 3 right engine."""
    angle_todo, hover_todo = _lander_todo(obs)
    acts = np.zeros(len(obs), np.int64)  # (B,)
    acts[angle_todo > 0.05] = 1
    acts[angle_todo < -0.05] = 3
    acts[(hover_todo > np.abs(angle_todo)) & (hover_todo > 0.05)] = 2  # main engine takes precedence
    return acts


def lander_continuous_actions(obs: np.ndarray) -> np.ndarray:
    """(B, 8) -> (B, 2) float32: main and lateral throttle in [-1, 1]."""
    angle_todo, hover_todo = _lander_todo(obs)
    acts = np.stack([hover_todo * 20 - 1, -angle_todo * 20], axis=1)  # (B, 2)
    return np.clip(acts, -1, 1).astype(np.float32)


# --------------------------------------------------------------------------- Driving

STANLEY_K_PSI = 1.5  # 1/rad; with K_E these put the linearised lateral poles near -3 rad/s
STANLEY_K_E = 2.25  # 1/s


def driving_actions(obs: np.ndarray) -> np.ndarray:
    """(B, 6) -> (B, 1) float32 steering: curvature feed-forward plus heading and lateral feedback."""
    e = obs[:, 0] * driving.E_SCALE
    psi = obs[:, 1] * driving.PSI_SCALE
    kappa = obs[:, 2] / driving.KAPPA_SCALE
    steer = (np.arctan(driving.WHEELBASE * kappa) - STANLEY_K_PSI * psi
             - np.arctan(STANLEY_K_E * e / driving.SPEED))
    return np.clip(steer, -driving.MAX_STEER, driving.MAX_STEER).astype(np.float32)[:, None]  # (B, 1)


# --------------------------------------------------------------------------- registry

_EXPERTS: dict[str, ScriptedExpert] = {
    "cartpole": ScriptedExpert("cartpole-lqr", 4, cartpole_actions),
    "pendulum": ScriptedExpert("pendulum-energy-lqr", 3, pendulum_actions),
    "lunarlander": ScriptedExpert("lunarlander-heuristic", 8, lander_actions),
    "lunarlander-continuous": ScriptedExpert("lunarlander-continuous-heuristic", 8, lander_continuous_actions),
    "driving": ScriptedExpert("driving-stanley", 6, driving_actions),
    "multimodal": ScriptedExpert("multimodal-coin", 4, multimodal.expert_actions),
}
# Gymnasium ids whose observations and actions are exactly those of a built-in task
_ALIASES = {"CartPole-v1": "cartpole", "Pendulum-v1": "pendulum", "LunarLander-v3": "lunarlander",
            "mimetic/Driving-v0": "driving", "mimetic/Multimodal-v0": "multimodal"}


def _resolve(name: str) -> str | None:
    bare = name.removeprefix("gym:")
    return name if name in _EXPERTS else _ALIASES.get(bare)


def expert_name(task: str) -> str | None:
    """Name of the built-in expert of ``task``, or None."""
    key = _resolve(task)
    return None if key is None else _EXPERTS[key].name


def make_expert(name: str) -> ScriptedExpert:
    """The built-in scripted expert of task ``name`` (also its Gymnasium id, e.g. ``gym:CartPole-v1``)."""
    key = _resolve(name)
    if key is None:
        raise TaskError(
            f"no built-in expert for {name!r}; experts exist for {', '.join(_EXPERTS)} "
            "-- wrap your own with as_expert(fn) or load_sb3_expert(path, spec)"
        )
    return _EXPERTS[key]


# --------------------------------------------------------------------------- adapters


class CallableExpert:
    """A user callable as an :class:`Expert` (see :func:`as_expert`)."""

    def __init__(self, fn: Callable[[np.ndarray], object], *, name: str, batched: bool | None,
                 discrete: bool | None) -> None:
        self.fn = fn
        self.name = name
        self.batched = batched
        self.discrete = discrete

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.ndim < 2:
            raise TaskError(f"expert {self.name!r} labels batches (B, *O); got shape {obs.shape}")
        n = len(obs)
        if self.batched is None:
            out = self._probe(obs)
            if out is not None:
                return self._tidy(out, n)
        if self.batched:
            return self._tidy(np.asarray(self.fn(obs)), n)
        return self._tidy(np.stack([np.asarray(self.fn(row)) for row in obs]), n)

    def _probe(self, obs: np.ndarray) -> np.ndarray | None:
        """Try the whole batch once; a result with one row per observation means 'batched'."""
        try:
            out = np.asarray(self.fn(obs))
        except Exception:  # a single-observation function may fail on a batch in any way
            out = None
        fits = out is not None and out.ndim >= 1 and out.shape[0] == len(obs)
        if len(obs) > 1:  # a batch of one cannot tell the two kinds apart: decide later
            self.batched = bool(fits)
        return out if fits else None

    def _tidy(self, out: np.ndarray, n: int) -> np.ndarray:
        discrete = out.dtype.kind in "iub" if self.discrete is None else self.discrete
        try:
            if discrete:
                return out.astype(np.int64).reshape(n)  # (B,)
            return out.astype(np.float32).reshape(n, -1)  # (B, A)
        except (ValueError, TypeError) as exc:
            kind = "one integer" if discrete else "an action vector"
            raise TaskError(f"expert {self.name!r} must return {kind} per observation for {n} "
                            f"observations; got {out.dtype} array of shape {out.shape} ({exc})") from None


def as_expert(
    fn: Callable[[np.ndarray], object],
    *,
    name: str = "custom",
    batched: bool | None = None,
    discrete: bool | None = None,
) -> Expert:
    """Adapt a callable to the batched Expert protocol.

    ``fn`` may be batched (``(B, *O) -> (B, *A)``) or take one observation (``(*O,) -> action``).
    With ``batched=None`` the first call with B >= 2 decides: ``fn`` gets the whole batch, and if
    it returns one row per observation it is batched; if it raises or returns another shape it is
    called row by row from then on. Outputs become int64 (B,) when ``discrete`` (default: when
    ``fn`` returns integers), else float32 (B, A).
    """
    if isinstance(fn, (ScriptedExpert, CallableExpert)):
        return fn
    if not callable(fn):
        raise TaskError(f"as_expert needs a callable obs -> actions, got {type(fn).__name__}")
    return CallableExpert(fn, name=name, batched=batched, discrete=discrete)


_SB3_ALGOS = ("PPO", "A2C", "DQN", "SAC", "TD3", "DDPG")


def load_sb3_expert(path: str | Path, spec: TaskSpec, *, algo: str | None = None) -> Expert:
    """A Stable-Baselines3 policy saved as a .zip, acting deterministically, as an Expert.

    ``algo`` (e.g. "PPO") names the SB3 class; by default each of PPO, A2C, DQN, SAC, TD3, DDPG is
    tried. Needs the optional ``stable-baselines3`` package (``pip install mimetic[sb3]``). SB3 files
    contain pickled objects, so load only files you trust (mimetic's own checkpoints never unpickle).
    """
    try:
        import stable_baselines3 as sb3
    except ImportError as exc:
        raise TaskError(f"install stable-baselines3 to load {path} (pip install stable-baselines3)") from exc
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no Stable-Baselines3 policy file at {path}")
    for algo_name in (algo,) if algo else _SB3_ALGOS:
        cls = getattr(sb3, algo_name, None)
        try:
            model = cls.load(path, device="cpu")
            break
        except Exception:  # wrong algorithm class for this zip: try the next one
            continue
    else:
        raise CheckpointError(f"{path} is not a loadable SB3 {algo or '/'.join(_SB3_ALGOS)} model")
    if tuple(model.observation_space.shape) != tuple(spec.observation_space.shape):
        raise TaskError(f"SB3 policy expects observations {model.observation_space.shape}, "
                        f"task {spec.name} gives {spec.observation_space.shape}")

    def predict(obs: np.ndarray) -> np.ndarray:
        return model.predict(obs, deterministic=True)[0]

    return CallableExpert(predict, name=f"sb3-{algo_name.lower()}:{path.stem}", batched=True,
                          discrete=spec.discrete)


def risk_function(task_name: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """A simple, observable risk for built-in tasks (what a watching human would judge by), used by
    HG-DAgger's simulated human; None for tasks without one."""
    if task_name == "driving":
        return lambda obs: np.abs(obs[:, 0]) * driving.E_SCALE  # metres from the centreline
    if task_name == "cartpole":  # pole angle as a fraction of the failure angle
        return lambda obs: np.abs(obs[:, 2]) / CartPoleTask.theta_threshold
    return None
