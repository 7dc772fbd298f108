"""The only episode loop in mimetic, and evaluation built on it.

``rollout`` steps a :class:`BatchedTask` with a batched policy until a requested number of
episodes has finished. Episode ``k`` always starts from reset seed ``seed + k``, whichever env
runs it, so results do not depend on how many envs run in parallel (for deterministic policies).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mimetic.envs.base import BatchedTask, TaskSpec
from mimetic.errors import CheckpointError, ConfigError, MimeticError, TaskError
from mimetic.interactive.budget import LabelBudget
from mimetic.observations import DictObs
from mimetic.protocols import Expert, Gate, Policy
from mimetic.types import EvalResult, Trajectory


class RandomPolicy:
    """Uniform random actions from the task's action space (the 0 of the normalized score)."""

    def __init__(self, spec: TaskSpec, *, seed: int = 0) -> None:
        self.spec = spec
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        n = len(obs)
        space = self.spec.action_space
        if self.spec.discrete:
            return self.rng.integers(0, space.n, size=n, dtype=np.int64)  # (B,)
        low, high = np.broadcast_to(space.low, space.shape), np.broadcast_to(space.high, space.shape)
        return self.rng.uniform(low, high, size=(n, *space.shape)).astype(np.float32)  # (B, A)

    def reset(self, mask: np.ndarray) -> None:
        pass


@dataclass(frozen=True)
class _Ring:
    """The last T+1 batched steps, time-major: row ``g % (T+1)`` holds global step ``g`` of every env.

    Each step writes one contiguous row per array (no per-env indexing: that was a third of the
    loop's time); an episode is cut out when it ends, with one gather-and-transpose per group of
    episodes that end together. T+1 rows hold the longest episode: T steps and its final
    observation (row ``g + 1`` when the episode ends at step ``g``).
    """

    obs: np.ndarray | DictObs  # (R, B, *O) observation each step was taken at; after a last step, the final one
    acts: np.ndarray  # (R, B, *A) executed actions
    rewards: np.ndarray  # (R, B)
    costs: np.ndarray  # (R, B)
    labels: np.ndarray | None  # (R, B, *A) expert labels where labeled, else 0 (None: no labeler)
    labeled: np.ndarray | None  # (R, B) bool
    expert_acted: np.ndarray | None  # (R, B) bool
    states: np.ndarray | None  # (R, B, S) task.get_state() where each obs row was observed (None: not asked)

    @classmethod
    def make(cls, spec: TaskSpec, n: int, *, labeled: bool, state: np.ndarray | None) -> _Ring:
        """``state``: a (B, S) sample of the task's state when states are recorded, else None."""
        r = spec.max_steps + 1
        a_shape, a_type = _action_row(spec)
        return cls(
            obs=_obs_ring(spec, r, n),
            acts=np.zeros((r, n, *a_shape), a_type),
            rewards=np.zeros((r, n), np.float64),
            costs=np.zeros((r, n), np.float64),
            labels=np.zeros((r, n, *a_shape), a_type) if labeled else None,
            labeled=np.zeros((r, n), bool) if labeled else None,
            expert_acted=np.zeros((r, n), bool) if labeled else None,
            states=None if state is None else np.zeros((r, *state.shape), state.dtype),
        )

    def episodes(self, envs: np.ndarray, start: int, length: int, *, terminated: np.ndarray,
                 truncated: np.ndarray, seeds: np.ndarray | None) -> list[Trajectory]:
        """The episodes of ``envs`` (k,), all started at global step ``start`` and ``length`` steps
        long; each trajectory's arrays are its own contiguous slices of one block per field."""
        if isinstance(self.obs, DictObs):  # images stay uint8: one window per key
            obs: np.ndarray | DictObs = self.obs.map(lambda a: _window(a, envs, start, length + 1))
        else:
            obs = _window(self.obs, envs, start, length + 1)  # (k, L+1, *O)
        steps = {name: _window(arr, envs, start, length) if arr is not None else None
                 for name, arr in (("acts", self.acts), ("rewards", self.rewards), ("costs", self.costs),
                                   ("labels", self.labels), ("labeled", self.labeled),
                                   ("expert_acted", self.expert_acted))}  # each (k, L, ...)
        return [
            Trajectory(obs=obs[i], **{name: None if arr is None else arr[i] for name, arr in steps.items()},
                       terminated=bool(terminated[i]), truncated=bool(truncated[i]),
                       seed=None if seeds is None else int(seeds[i]))
            for i in range(len(envs))
        ]


def _obs_ring(spec: TaskSpec, r: int, n: int) -> np.ndarray | DictObs:
    """(R, B, *O) float32 for a flat task; for a dict one, (R, B, *shape) per key in its dtype."""
    layout = spec.obs_layout
    if layout is None:
        return np.zeros((r, n, *spec.observation_space.shape), np.float32)
    return DictObs({f.name: np.zeros((r, n, *f.shape), f.dtype) for f in layout.fields})


def _action_row(spec: TaskSpec) -> tuple[tuple[int, ...], type]:
    """Shape and dtype of one env's action: () int64 for discrete tasks, (A,) float32 otherwise."""
    return ((), np.int64) if spec.discrete else (spec.action_space.shape, np.float32)


_TILE_ROWS = 32  # steps per transposed tile: 2-4x faster than one whole-window transpose at B=1024


def _window(ring: np.ndarray, envs: np.ndarray, start: int, n: int) -> np.ndarray:
    """Rows ``start .. start + n - 1`` (mod R) of ``ring`` (R, B, *X) for ``envs`` (k,), as a
    contiguous (k, n, *X) array."""
    r, b, inner = ring.shape[0], ring.shape[1], ring.shape[2:]
    flat = ring
    if inner:  # one opaque element per (*X) row: the transpose then moves whole rows, about 2x faster
        width = ring.itemsize * math.prod(inner)
        flat = ring.reshape(r, b, -1).view(np.dtype((np.void, width))).reshape(r, b)
    k = len(envs)
    every = k == b  # envs are distinct, so all of them: no gather needed
    out = np.empty((k, n), flat.dtype)
    first = start % r
    done = 0
    while done < n:  # up to the ring's end, then from its start; in tiles that stay in cache
        lo = (first + done) % r
        hi = min(r, lo + n - done, lo + _TILE_ROWS)
        piece = flat[lo:hi] if every else flat[lo:hi, envs]  # (hi - lo, k)
        out[:, done:done + hi - lo] = piece.T
        done += hi - lo
    return out.view(ring.dtype).reshape(k, n, *inner)


_NO_LIMIT = np.iinfo(np.int64).max  # the step limit of an episode without stop_at (and of idle envs)


class _Schedule:
    """Which episode each env runs and since when: hands out episodes in order (episode ``k`` on
    the env that frees up next), starts them, and cuts the finished ones out of the ring."""

    def __init__(self, task: BatchedTask, ring: _Ring, agents: tuple[Policy | Gate, ...], *, episodes: int,
                 seed: int, start_states: np.ndarray | None, stop_at: np.ndarray | None, bar: tqdm) -> None:
        n = task.num_envs
        self.task, self.ring, self.agents, self.bar = task, ring, agents, bar
        self.episodes, self.seed, self.start_states, self.stop_at = episodes, seed, start_states, stop_at
        self.ep_of_env = np.arange(n)  # episode each env runs; >= episodes means an idle filler env
        self.start = np.zeros(n, np.int64)  # global step at which each env's episode began
        self.oldest = 0  # start.min(): no episode may outgrow the ring
        self.next_ep = n
        self.limit = None if stop_at is None else np.full(n, _NO_LIMIT)  # (B,) steps each episode may take
        self.out: dict[int, Trajectory] = {}
        self.states: dict[int, np.ndarray] = {}  # episode -> (T+1, S), when the ring records states

    def begin(self, mask: np.ndarray | None) -> np.ndarray:
        """Start the episodes of the envs in ``mask`` (None: all): reset seed ``seed + k``, or the
        state ``start_states[k]`` (idle envs wait in ``start_states[0]``); reset the policy and
        gate there. Returns every env's observation (B, *O)."""
        ep, task = self.ep_of_env, self.task
        running = ep < self.episodes
        if self.limit is not None:
            assert self.stop_at is not None
            limit = np.where(running, self.stop_at[np.where(running, ep, 0)], _NO_LIMIT)
            self.limit = limit if mask is None else np.where(mask, limit, self.limit)
        if self.start_states is None:
            obs = task.reset(seeds=self.seed + ep, mask=mask)
        elif mask is None:
            obs = task.set_state(self.start_states[np.where(running, ep, 0)])  # (B, S) in
        else:
            state = task.get_state()  # (B, S): the others go on from where they are
            state[mask] = self.start_states[np.where(running, ep, 0)[mask]]
            obs = task.set_state(state)
        for agent in self.agents:
            agent.reset(np.ones(len(ep), bool) if mask is None else mask)
        return obs

    def hand_out(self, mask: np.ndarray, g: int) -> np.ndarray:
        """Give the envs in ``mask`` the next unstarted episodes, in order, from global step ``g``."""
        idx = np.flatnonzero(mask)
        self.ep_of_env[idx] = self.next_ep + np.arange(len(idx))
        self.next_ep += len(idx)
        self.start[idx] = g
        self.oldest = int(self.start.min())
        return self.begin(mask)

    def finish(self, envs: np.ndarray, *, end: int, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """Keep the episodes of ``envs`` (k,), whose final observation is global step ``end``;
        episodes that began together end alike: one cut per group."""
        for begun in np.unique(self.start[envs]):
            same = self.start[envs] == begun
            group, length = envs[same], end - int(begun)
            seeds = None if self.start_states is not None else self.seed + self.ep_of_env[group]
            trajs = self.ring.episodes(group, int(begun), length, terminated=terminated[same],
                                       truncated=truncated[same], seeds=seeds)
            ids = self.ep_of_env[group].tolist()
            self.out.update(zip(ids, trajs))
            if self.ring.states is not None:
                self.states.update(zip(ids, _window(self.ring.states, group, int(begun), length + 1)))
            self.bar.update(len(group))


def _who_acts(policy: Policy | None, gate: Gate | None, labeler: LabelBudget | None, obs: np.ndarray,
              active: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Learner actions (or None) and the (B,) masks "expert acts" and "query the expert"."""
    learner = policy.act(obs) if policy is not None else None
    n = len(obs)
    if policy is None:
        take = np.ones(n, bool)
        query = take
    elif gate is not None:
        take, query = gate(obs, learner)
        query = query | take  # an expert that acts is an expert that was asked
    else:
        take = np.zeros(n, bool)
        query = np.full(n, labeler is not None)
    return learner, take & active, query & active


@dataclass(frozen=True)
class Episodes:
    """What :func:`rollout_episodes` returns: the episodes and what a caller may need besides them."""

    trajectories: list[Trajectory]
    """In episode order; fewer than asked only when the label budget stopped the rollout."""

    index: np.ndarray
    """(N,) int64: the episode number (0 .. episodes - 1) of each trajectory."""

    states: list[np.ndarray] | None
    """With ``record_states``: each trajectory's simulator states (T+1, S), row t the
    ``task.get_state()`` in which ``obs[t]`` was observed; None otherwise."""

    budget_stopped: bool
    """The label budget could not cover a step: the rollout stopped and its running episodes were
    returned cut short (``truncated``)."""


def rollout(
    task: BatchedTask,
    policy: Policy | None,
    *,
    episodes: int,
    seed: int = 0,
    labeler: LabelBudget | None = None,
    gate: Gate | None = None,
    start_states: np.ndarray | None = None,
    stop_at: np.ndarray | None = None,
    on_frame: Callable[[np.ndarray], None] | None = None,
    progress: bool = False,
) -> list[Trajectory]:
    """Run ``episodes`` episodes on ``task``; returns them in episode order.

    Who acts: the learner ``policy``; the expert (``policy=None``); or, per step and env, whoever
    ``gate`` picks (DAgger's mixture, HG-DAgger's human, ThriftyDAgger's novelty/risk switch).
    Who is labelled: with ``labeler`` and no gate, every visited state; with a gate, the states it
    queries. Every label goes through ``labeler`` (counted; idle envs are never queried) and lands in
    ``Trajectory.labels`` (0 where not labelled) with the ``labeled`` and ``expert_acted`` masks.
    When the label budget cannot cover a step, the rollout stops cleanly: running episodes are
    returned cut short (``truncated``), so the returned list can be shorter than ``episodes``.

    Where episodes start and stop: episode ``k`` starts from reset seed ``seed + k``, or, with
    ``start_states`` (episodes, S), from the simulator state ``start_states[k]`` (``task.set_state``;
    its trajectories then carry no seed). With ``stop_at`` (episodes,) ints >= 0, episode ``k`` is
    truncated once it has taken ``stop_at[k]`` steps (0: it ends at its first observation), unless
    the task ends it first or at that same step (the task's flags then stand). Episode ``k`` runs
    on the env that frees up next, so the first ``num_envs`` episodes run on envs 0, 1, ... in order.
    ``on_frame`` receives env 0's frames during its first episode.
    """
    return rollout_episodes(task, policy, episodes=episodes, seed=seed, labeler=labeler, gate=gate,
                            start_states=start_states, stop_at=stop_at, on_frame=on_frame,
                            progress=progress).trajectories


def rollout_episodes(
    task: BatchedTask,
    policy: Policy | None,
    *,
    episodes: int,
    seed: int = 0,
    labeler: LabelBudget | None = None,
    gate: Gate | None = None,
    start_states: np.ndarray | None = None,
    stop_at: np.ndarray | None = None,
    record_states: bool = False,
    on_frame: Callable[[np.ndarray], None] | None = None,
    progress: bool = False,
) -> Episodes:
    """:func:`rollout`, returning an :class:`Episodes` record: with ``record_states``, also the
    simulator state at every observation (AggreVaTe restarts from them); and whether the label
    budget stopped it."""
    if labeler is not None and labeler.action_space is None:
        labeler.action_space = task.spec.action_space  # the expert's answers are checked against it
    n, spec = task.num_envs, task.spec
    start_states, stop_at = _check_rollout(task, policy, episodes=episodes, labeler=labeler, gate=gate,
                                           start_states=start_states, stop_at=stop_at)
    ring = _Ring.make(spec, n, labeled=labeler is not None, state=task.get_state() if record_states else None)
    rows = len(ring.obs)
    a_shape, a_type = _action_row(spec)
    no_labels = np.zeros((n, *a_shape), a_type)  # (B, *A) the label row of a step nobody labels
    bar = tqdm(total=episodes, desc=f"rollout {spec.name}", unit="ep", disable=not progress, leave=False)
    sched = _Schedule(task, ring, tuple(a for a in (policy, gate) if a is not None), episodes=episodes,
                      seed=seed, start_states=start_states, stop_at=stop_at, bar=bar)
    ep_of_env, start, out = sched.ep_of_env, sched.start, sched.out  # updated in place
    prev_take = np.zeros(n, bool)  # who acted at the previous step (for context switches)
    obs = sched.begin(None)  # (B, *O)
    stopped = False
    g = 0  # global step
    while len(out) < episodes:
        if g - sched.oldest >= spec.max_steps:
            raise TaskError(f"task {spec.name!r} ran an episode past its max_steps={spec.max_steps} "
                            "without truncating it")
        r = g % rows
        ring.obs[r] = obs
        if ring.states is not None:
            ring.states[r] = task.get_state()
        if sched.limit is not None:
            obs, prev_take = _stop_due(sched, obs, prev_take, g=g, on_frame=on_frame)
            if len(out) >= episodes:
                break
        active = ep_of_env < episodes
        learner, take, query = _who_acts(policy, gate, labeler, obs, active)
        labels = no_labels
        if query.any():
            assert labeler is not None
            if not labeler.can_cover(int(query.sum())):
                running = np.flatnonzero(active & (start < g))  # an episode begun at g has no step to keep
                k = len(running)
                sched.finish(running, end=g, terminated=np.zeros(k, bool), truncated=np.ones(k, bool))
                stopped = True
                break
            labels = no_labels.copy()  # (B, *A) fresh: the task may keep the actions it is given
            if query.all():
                labels[...] = labeler.label(obs)
            else:
                labels[query] = labeler.label(obs[query])
            labeler.count_control(expert_steps=int(take.sum()), switches=int((take & ~prev_take).sum()))
        if labeler is not None:
            assert ring.labels is not None and ring.labeled is not None and ring.expert_acted is not None
            ring.labels[r] = labels
            ring.labeled[r] = query
            ring.expert_acted[r] = take
        acts = labels if learner is None else np.where(take.reshape(-1, *[1] * len(a_shape)), labels, learner)
        prev_take = take
        if on_frame is not None and ep_of_env[0] == 0:
            on_frame(task.render(0))
        step = task.step(acts)
        ring.acts[r] = acts
        ring.rewards[r] = step.rewards
        ring.costs[r] = step.costs
        done = step.terminated | step.truncated
        obs = step.obs
        if done.any():
            ring.obs[(g + 1) % rows] = step.obs  # the final observations of the episodes that ended
            if ring.states is not None:
                ring.states[(g + 1) % rows] = task.get_state()
            ended = np.flatnonzero(done & active)
            sched.finish(ended, end=g + 1, terminated=step.terminated[ended],
                         truncated=step.truncated[ended] & ~step.terminated[ended])
            if on_frame is not None and done[0] and ep_of_env[0] == 0:
                on_frame(task.render(0))  # the final frame of the recorded episode
            obs = sched.hand_out(done, g + 1)
            prev_take = prev_take & ~done
        g += 1
    bar.close()
    index = np.array(sorted(out), np.int64)
    return Episodes(trajectories=[out[k] for k in index.tolist()], index=index,
                    states=[sched.states[k] for k in index.tolist()] if record_states else None,
                    budget_stopped=stopped)


def _stop_due(sched: _Schedule, obs: np.ndarray, prev_take: np.ndarray, *, g: int,
              on_frame: Callable[[np.ndarray], None] | None) -> tuple[np.ndarray, np.ndarray]:
    """Before global step ``g``: truncate the episodes that have taken their ``stop_at`` steps (their
    final observation is this step's, already in the ring) and start the next ones in their envs,
    again while a next one has ``stop_at`` 0. Returns the observations and ``prev_take`` after."""
    assert sched.limit is not None
    ring, task = sched.ring, sched.task
    due = g - sched.start >= sched.limit  # (B,)
    while due.any():
        if on_frame is not None and due[0] and sched.ep_of_env[0] == 0:
            on_frame(task.render(0))  # the final frame of the recorded episode
        envs = np.flatnonzero(due)
        sched.finish(envs, end=g, terminated=np.zeros(len(envs), bool), truncated=np.ones(len(envs), bool))
        obs = sched.hand_out(due, g)
        prev_take = prev_take & ~due
        r = g % len(ring.obs)
        ring.obs[r] = obs
        if ring.states is not None:
            ring.states[r] = task.get_state()
        due = g - sched.start >= sched.limit
    return obs, prev_take


def _check_rollout(task: BatchedTask, policy: Policy | None, *, episodes: int, labeler: LabelBudget | None,
                   gate: Gate | None, start_states: np.ndarray | None,
                   stop_at: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """One-line ConfigErrors for bad options; ``start_states`` and ``stop_at`` as arrays."""
    if episodes < 1:
        raise ConfigError(f"episodes must be >= 1, got {episodes}")
    if labeler is None and (policy is None or gate is not None):
        raise ConfigError("rollout needs a labeler (LabelBudget) when the expert drives or a gate decides")
    if start_states is not None:
        start_states = np.asarray(start_states)
        state_shape = task.get_state().shape[1:]
        if start_states.shape != (episodes, *state_shape):
            raise ConfigError(f"start_states must have shape {(episodes, *state_shape)} (one task state per "
                              f"episode), got {start_states.shape}")
    if stop_at is not None:
        stop_at = np.asarray(stop_at)
        if stop_at.shape != (episodes,) or stop_at.dtype.kind not in "iu" or np.any(stop_at < 0):
            raise ConfigError(f"stop_at must be {episodes} non-negative ints (steps per episode), "
                              f"got {stop_at.dtype} {stop_at.shape}")
        stop_at = stop_at.astype(np.int64)
    return start_states, stop_at


def collect(task: BatchedTask, expert: Expert, *, episodes: int, seed: int = 0,
            budget: LabelBudget | None = None, progress: bool = False) -> list[Trajectory]:
    """Expert demonstrations: the expert drives; its actions are counted labels."""
    budget = budget or LabelBudget(expert)
    return rollout(task, None, episodes=episodes, seed=seed, labeler=budget, progress=progress)


# ----------------------------------------------------------------------------- evaluation


def _imitation_error(spec: TaskSpec, trajs: list[Trajectory]) -> float:
    acts = np.concatenate([t.acts for t in trajs])
    labels = np.concatenate([t.labels for t in trajs if t.labels is not None])
    if spec.discrete:
        return float(np.mean(acts != labels))
    diff = (acts - labels).reshape(len(acts), -1)
    return float(np.mean(np.linalg.norm(diff, axis=1)))


def summarize(spec: TaskSpec, trajs: list[Trajectory], *, seed: int, labels: int = 0) -> EvalResult:
    rets = np.array([t.ret for t in trajs])
    # the task's own success hook; adapted Gymnasium tasks define none
    succ = [None if spec.success is None else bool(spec.success(t)) for t in trajs]
    has_labels = all(t.labels is not None for t in trajs)
    return EvalResult(
        task=spec.name,
        episodes=len(trajs),
        seed=seed,
        return_mean=float(rets.mean()),
        return_std=float(rets.std()),
        return_ci95=float(1.96 * rets.std(ddof=1) / math.sqrt(len(rets))) if len(rets) > 1 else float("nan"),
        return_min=float(rets.min()),
        length_mean=float(np.mean([len(t) for t in trajs])),
        cost_mean=float(np.mean([t.costs.sum() if t.costs is not None else 0.0 for t in trajs])),
        success_rate=None if None in succ else float(np.mean(succ)),
        imitation_error=_imitation_error(spec, trajs) if has_labels else None,
        expert_labels=labels,
    )


def evaluate(
    task: BatchedTask,
    policy: Policy,
    *,
    episodes: int = 50,
    seed: int = 10_000,
    expert: Expert | None = None,
    reference: bool = True,
    on_frame: Callable[[np.ndarray], None] | None = None,
    progress: bool = False,
) -> EvalResult:
    """Evaluate ``policy``; with ``expert``, also measure imitation error on the learner's states
    and (``reference=True``) the expert's and a random policy's returns on the same seeds."""
    budget = LabelBudget(expert) if expert is not None else None
    trajs = rollout(task, policy, episodes=episodes, seed=seed, labeler=budget, on_frame=on_frame,
                    progress=progress)
    res = summarize(task.spec, trajs, seed=seed, labels=budget.labels if budget else 0)
    if expert is None or not reference:
        return res
    exp, rnd = reference_results(task, expert, episodes=episodes, seed=seed)
    return with_reference(res, expert_return=exp.return_mean, random_return=rnd.return_mean)


def reference_results(task: BatchedTask, expert: Expert, *, episodes: int, seed: int) -> tuple[EvalResult, EvalResult]:
    """The expert's and a uniform-random policy's results on the same reset seeds."""
    exp = collect(task, expert, episodes=episodes, seed=seed)
    rnd = rollout(task, RandomPolicy(task.spec, seed=seed), episodes=episodes, seed=seed)
    return summarize(task.spec, exp, seed=seed), summarize(task.spec, rnd, seed=seed)


def with_reference(res: EvalResult, *, expert_return: float, random_return: float) -> EvalResult:
    """Attach reference returns and the expert-normalized score (0 = random, 1 = expert)."""
    denom = expert_return - random_return
    score = (res.return_mean - random_return) / denom if abs(denom) > 1e-9 else float("nan")
    return EvalResult(**{**res.as_dict(), "expert_return": expert_return, "random_return": random_return,
                         "normalized_score": float(score)})


@dataclass(frozen=True)
class Scorer:
    """Evaluates a policy on fixed reset seeds against the expert's and a random policy's returns
    on the same seeds (measured once)."""

    task: BatchedTask
    episodes: int
    expert_return: float
    random_return: float
    seed: int = 10_000

    @classmethod
    def make(cls, task: BatchedTask, expert: Expert, *, episodes: int, seed: int = 10_000) -> Scorer | None:
        """None when ``episodes`` is 0 (evaluation off)."""
        if episodes == 0:
            return None
        exp, rnd = reference_results(task, expert, episodes=episodes, seed=seed)
        return cls(task, episodes, exp.return_mean, rnd.return_mean, seed)

    def __call__(self, policy: Policy) -> EvalResult:
        res = evaluate(self.task, policy, episodes=self.episodes, seed=self.seed, reference=False)
        return with_reference(res, expert_return=self.expert_return, random_return=self.random_return)


# ----------------------------------------------------------------------------- endless stepping (RL)


@dataclass(frozen=True)
class Transition:
    """One batched step of a :class:`StepStream`, before the finished envs were reset."""

    obs: np.ndarray  # (B, *O) where the actions were taken
    next_obs: np.ndarray  # (B, *O) the true next observation (a finished episode's final one)
    rewards: np.ndarray  # (B,) task rewards
    terminated: np.ndarray  # (B,) bool
    truncated: np.ndarray  # (B,) bool, only where not terminated


class StepStream:
    """Steps a task forever for on-policy RL (PPO, GAIL, AIRL): finished envs restart at once.

    Episode ``k`` (counted over the whole stream) starts from reset seed ``seed + k``, as in
    :func:`rollout`, so a run is reproducible whatever the order envs finish in. ``finished``
    collects (return, length) of every completed episode; the caller drains it.
    """

    def __init__(self, task: BatchedTask, *, seed: int = 0) -> None:
        self.task = task
        n = task.num_envs
        self.seed = seed
        self._next_ep = n
        self.obs = task.reset(seeds=seed + np.arange(n))  # (B, *O)
        self._ret = np.zeros(n)
        self._len = np.zeros(n, np.int64)
        self.finished: list[tuple[float, int]] = []
        self.episodes_started = n

    def step(self, actions: np.ndarray) -> Transition:
        """Act in every env; envs whose episode ended are reset (``self.obs`` holds their new start)."""
        obs = self.obs
        step = self.task.step(actions)
        self._ret += step.rewards
        self._len += 1
        done = step.terminated | step.truncated
        out = Transition(obs=obs, next_obs=step.obs, rewards=step.rewards, terminated=step.terminated,
                         truncated=step.truncated & ~step.terminated)
        self.obs = step.obs
        if done.any():
            idx = np.flatnonzero(done)
            self.finished.extend(zip(self._ret[idx].tolist(), self._len[idx].tolist()))
            self._ret[idx] = 0.0
            self._len[idx] = 0
            seeds = np.zeros(self.task.num_envs, np.int64)
            seeds[idx] = self.seed + self._next_ep + np.arange(len(idx))
            self._next_ep += len(idx)
            self.episodes_started += len(idx)
            self.obs = self.task.reset(seeds=seeds, mask=done).copy()
        return out

    def state(self) -> dict[str, Any] | None:
        """The running episodes as JSON (the envs' physical states, observations, partial returns),
        so a resumed stream continues them bitwise; None for a task without ``get_state`` (a
        Gymnasium env: a resumed stream starts fresh episodes instead)."""
        get_state = getattr(self.task, "get_state", None)
        if get_state is None:
            return None
        try:
            env = np.asarray(get_state())
        except MimeticError:
            return None
        return {"env": env.tolist(), "obs": np.asarray(self.obs).tolist(), "ret": self._ret.tolist(),
                "len": self._len.tolist(), "next_ep": self._next_ep, "episodes_started": self.episodes_started}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue the episodes :meth:`state` saved (same task and number of envs)."""
        try:
            obs = np.asarray(state["obs"], np.asarray(self.obs).dtype)
            self.task.set_state(np.asarray(state["env"], np.float64))  # type: ignore[attr-defined]
            ret, length = np.asarray(state["ret"], np.float64), np.asarray(state["len"], np.int64)
            next_ep, started = int(state["next_ep"]), int(state["episodes_started"])
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"corrupt saved episode stream: {err}") from None
        if obs.shape != np.asarray(self.obs).shape or ret.shape != self._ret.shape or length.shape != self._len.shape:
            raise CheckpointError(f"the saved episode stream has {len(ret)} envs, this run {len(self._ret)}")
        self.obs, self._ret, self._len, self._next_ep, self.episodes_started = obs, ret, length, next_ep, started
