"""Demonstrations in memory: flat arrays plus episode boundaries.

Layout (E episodes, N steps in all, episode ``e`` has ``T_e`` steps):

- ``obs`` (N + E, *O) float32: each episode's ``T_e + 1`` observations back to back, so the
  observation at step ``i`` of episode ``e`` is row ``i + e`` (one extra row per earlier episode).
  For a task with a ``Dict`` observation space it is a :class:`~mimetic.observations.DictObs` of
  one (N + E, *shape) array per key, laid out by ``obs_layout``: images stay uint8, every other
  key is float32; rows index all keys at once, so windows and transitions work unchanged.
- ``acts`` (N, *A): the training *targets*, int64 for discrete and float32 for continuous actions.
  For demonstrations they are the executed actions; for interactive data (DAgger and friends)
  they are the expert's labels, and ``valid`` is False where a step was never labelled.
- ``executed_acts`` (N, *A): what was actually executed (equal to ``acts`` for demonstrations).
- per step ``rewards`` (N,) float64, ``valid`` (N,) bool and, when recorded, ``costs`` (N,) and
  ``expert_acted`` (N,); per episode ``ep_starts``/``ep_lengths`` (E,) into the step arrays,
  ``terminated``/``truncated`` (E,) and ``episode_seeds`` (E,) (-1 where unknown).

Arrays live in capacity-doubling buffers, so :meth:`Dataset.extend` costs amortised O(new data)
and every accessor returns a read-only view of the filled part, never a copy. What training reads
again after every extension (the valid step index, observation statistics, the training rows of
:meth:`Dataset.training_arrays`) is kept up to date the same way, so an interactive loop that
refits after each round pays O(new data) setup per round, not O(dataset); the cached values are
bitwise those a dataset built in one go has (tests/data/test_dataset_incremental.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from mimetic.envs.base import TaskSpec
from mimetic.errors import ConfigError, DataError
from mimetic.observations import IMAGE_CENTRE, IMAGE_SCALE, DictObs, ObsLayout, layout_of
from mimetic.types import Trajectory

Obs = np.ndarray | DictObs

Targets = Literal["acts", "labels"]

# Features whose spread across the data is below this are only centred, not scaled, by
# obs_stats (the MLP policy applies the same rule): a feature that is constant in the demos (a
# fixed goal, a padded coordinate) would otherwise be multiplied by up to 1/min_std when it does
# vary at test time. Kept tiny because small spreads can be real signal: a good CartPole expert
# holds the pole angle to a std of about 5e-3, and that feature must still be scaled up.
MIN_OBS_STD = 1e-6
_MIN_CAPACITY = 16
_NO_SEED = -1


@dataclass
class _TrainingRows:
    """Training rows of one window shape, grown with the dataset (see Dataset.training_arrays)."""

    obs: np.ndarray  # (capacity, *O) or (capacity, To, *O) float32
    acts: np.ndarray  # (capacity, *A) or (capacity, Ta, *A)
    mask: np.ndarray | None  # (capacity, Ta) bool for windows
    n: int = 0  # rows filled: the first n valid steps
    finite: bool = True  # every float value in the filled rows is finite


@dataclass
class _ObsMoments:
    """Count, mean and sum of squared deviations of every stored observation, float64.

    Each episode's moments are computed from its own rows and merged into the running ones
    episode by episode (Chan, Golub & LeVeque 1979), so the result depends only on the sequence
    of episodes, not on how they were split across ``extend`` calls."""

    count: int
    mean: np.ndarray  # (F,) F = prod(O)
    m2: np.ndarray  # (F,)

    def add_episodes(self, obs: np.ndarray, rows: np.ndarray) -> None:
        """Merge episodes whose observations are ``obs`` (R, *O) back to back, ``rows`` (E,) each."""
        if len(rows) == 0:
            return
        x = obs.reshape(len(obs), -1).astype(np.float64)  # (R, F)
        starts = np.cumsum(rows) - rows  # (E,)
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf data: validate() and BC reject it
            means = np.add.reduceat(x, starts, axis=0) / rows[:, None]  # (E, F)
            dev = x - np.repeat(means, rows, axis=0)  # (R, F)
            m2s = np.add.reduceat(dev * dev, starts, axis=0)  # (E, F)
            self._merge(rows.tolist(), means, m2s)

    def _merge(self, rows: list[int], means: np.ndarray, m2s: np.ndarray) -> None:
        for c, mean, m2 in zip(rows, means, m2s):
            if self.count == 0:
                self.count, self.mean, self.m2 = c, mean, m2
                continue
            total = self.count + c
            delta = mean - self.mean  # (F,)
            self.mean = self.mean + delta * (c / total)
            self.m2 = self.m2 + m2 + delta * delta * (self.count * c / total)
            self.count = total


@dataclass(frozen=True)
class _Chunk:
    """New data to append, already flat and in the dataset's dtypes."""

    obs: Obs  # (N_new + E_new, *O) float32, or a DictObs in the dataset's layout
    acts: np.ndarray  # (N_new, *A) targets
    executed: np.ndarray  # (N_new, *A)
    rewards: np.ndarray  # (N_new,) float64
    valid: np.ndarray  # (N_new,) bool
    costs: np.ndarray | None  # (N_new,) float64
    expert_acted: np.ndarray | None  # (N_new,) bool
    lengths: np.ndarray  # (E_new,) int64
    terminated: np.ndarray  # (E_new,) bool
    truncated: np.ndarray  # (E_new,) bool
    seeds: np.ndarray  # (E_new,) int64, -1 where unknown
    has_labels: bool  # targets differ in meaning from the executed actions


def _grow(buf: Any, used: int, needed: int) -> Any:
    """Return ``buf`` or a copy with at least ``needed`` rows; capacity at least doubles."""
    if isinstance(buf, DictObs):
        return buf.map(lambda b: _grow(b, used, needed))
    if needed <= len(buf):
        return buf
    new = np.empty((max(needed, 2 * len(buf), _MIN_CAPACITY), *buf.shape[1:]), dtype=buf.dtype)
    new[:used] = buf[:used]
    return new


def _view(buf: Any, n: int) -> Any:
    if isinstance(buf, DictObs):
        return buf[:n].readonly()
    v = buf[:n]
    v.flags.writeable = False  # a view: writing through it would silently edit the dataset
    return v


class Dataset:
    """Episodes of (observation, target action) data with growth, statistics and time windows."""

    def __init__(
        self,
        *,
        obs_shape: tuple[int, ...] | None = None,
        act_shape: tuple[int, ...],
        discrete: bool,
        observation_space: gym.spaces.Space | None = None,
        action_space: gym.spaces.Space | None = None,
        metadata: dict[str, Any] | None = None,
        obs_layout: ObsLayout | None = None,
    ) -> None:
        """An empty dataset for observations of ``obs_shape`` (or, for dict observations, of
        ``obs_layout``; exactly one of the two) and actions of ``act_shape``."""
        if (obs_shape is None) == (obs_layout is None):
            raise ConfigError("a Dataset needs exactly one of obs_shape (flat) and obs_layout (dict observations)")
        self.obs_layout = obs_layout
        self._obs_shape = None if obs_shape is None else tuple(int(d) for d in obs_shape)
        self.act_shape = tuple(int(d) for d in act_shape)
        self.discrete = bool(discrete)
        self.act_dtype = np.dtype(np.int64 if discrete else np.float32)
        self.observation_space = observation_space
        self.action_space = action_space
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.origin: str | None = None  # the path it was loaded from, for error messages
        self._has_costs = self._has_expert_acted = self._has_labels = False
        self._n = self._n_obs = self._n_eps = 0
        self._obs: Obs = (np.empty((0, *self._obs_shape), np.float32) if obs_layout is None
                          else obs_layout.empty(0))
        self._acts = np.empty((0, *self.act_shape), self.act_dtype)
        self._executed = np.empty((0, *self.act_shape), self.act_dtype)
        self._rewards = np.empty(0, np.float64)
        self._valid = np.empty(0, bool)
        self._costs = np.empty(0, np.float64)
        self._expert_acted = np.empty(0, bool)
        self._step_ep = np.empty(0, np.int64)  # episode index of each step
        self._ep_starts = np.empty(0, np.int64)
        self._ep_lengths = np.empty(0, np.int64)
        self._terminated = np.empty(0, bool)
        self._truncated = np.empty(0, bool)
        self._seeds = np.empty(0, np.int64)
        # Kept up to date by _append (see the module docstring):
        self._valid_steps = np.empty(0, np.int64)  # (n_transitions,) step index of each valid step
        self._n_valid = 0
        # per float key of a dict layout (images are scaled, not z-scored: no moments kept)
        keys = [None] if obs_layout is None else list(obs_layout.state_keys)
        self._moments_by_key = {k: _ObsMoments(0, np.zeros(0), np.zeros(0)) for k in keys}
        self._training: dict[tuple[int, int] | None, _TrainingRows] = {}  # by window shape

    # ----------------------------------------------------------------- construction

    @classmethod
    def empty(cls, spec: TaskSpec, *, metadata: dict[str, Any] | None = None) -> Dataset:
        """An empty dataset shaped for ``spec``'s spaces (DAgger starting without demos)."""
        act_shape = () if spec.discrete else tuple(spec.action_space.shape or ())
        meta = {"task": spec.name, "gym_id": spec.gym_id, "max_steps": spec.max_steps, **(metadata or {})}
        layout = layout_of(spec.observation_space)
        return cls(obs_shape=None if layout else tuple(spec.observation_space.shape), obs_layout=layout,
                   act_shape=act_shape, discrete=spec.discrete, observation_space=spec.observation_space,
                   action_space=spec.action_space, metadata=meta)

    @classmethod
    def from_trajectories(
        cls,
        trajs: Sequence[Trajectory],
        *,
        targets: Targets = "acts",
        spec: TaskSpec | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Dataset:
        """A dataset of ``trajs``; ``targets="labels"`` trains on ``Trajectory.labels`` where
        ``Trajectory.labeled`` is True instead of on the executed actions."""
        if spec is not None:
            ds = cls.empty(spec, metadata=metadata)
        elif len(trajs) == 0:
            raise DataError("cannot build a dataset from 0 trajectories without a task spec; pass spec=")
        else:
            first = trajs[0]
            if isinstance(first.obs, DictObs):
                layout = ObsLayout.from_arrays(first.obs, where="trajectory 0's observations")
                ds = cls(obs_layout=layout, act_shape=first.acts.shape[1:], observation_space=layout.space(),
                         discrete=first.acts.dtype.kind in "iu", metadata=metadata)
            else:
                ds = cls(obs_shape=first.obs.shape[1:], act_shape=first.acts.shape[1:],
                         discrete=first.acts.dtype.kind in "iu", metadata=metadata)
        ds.extend(trajs, targets=targets)
        return ds

    def extend(self, data: Dataset | Sequence[Trajectory], *, targets: Targets = "acts") -> None:
        """Append another dataset's episodes or a list of trajectories (``targets`` as in
        :meth:`from_trajectories`; ignored for a dataset). Amortised O(new data)."""
        if isinstance(data, Dataset):
            chunk = self._chunk_from_dataset(data)
        else:
            chunk = self._chunk_from_trajectories(list(data), targets=targets)
        self._append(chunk)

    def _obs_kind(self) -> str:
        if self.obs_layout is not None:
            return f"dict observations ({self.obs_layout.describe()})"
        return f"observations of shape {self._obs_shape}"

    def _check_obs(self, obs: Obs, what: str) -> Obs:
        """``obs`` rows in the dataset's storage dtypes, or one line saying how they differ."""
        if self.obs_layout is not None:
            return self.obs_layout.check(obs, what=f"cannot extend: {what}'s observations")
        if isinstance(obs, DictObs):
            raise DataError(f"cannot extend: {what} has dict observations ({', '.join(obs.keys())}) "
                            f"but the dataset holds {self._obs_kind()}")
        if tuple(obs.shape[1:]) != self._obs_shape:
            raise DataError(f"cannot extend: {what} has observations of shape {tuple(obs.shape[1:])} "
                            f"but the dataset holds {self._obs_shape}")
        return obs

    def _check_shapes(self, act_shape: tuple[int, ...], what: str) -> None:
        if act_shape != self.act_shape:
            raise DataError(f"cannot extend: {what} has actions of shape {act_shape} "
                            f"but the dataset holds {self.act_shape}")

    def _chunk_from_dataset(self, other: Dataset) -> _Chunk:
        if other.obs_layout != self.obs_layout or other._obs_shape != self._obs_shape:
            raise DataError(f"cannot extend: the other dataset holds {other._obs_kind()} "
                            f"but this one holds {self._obs_kind()}")
        self._check_shapes(other.act_shape, "the other dataset")
        if other.discrete != self.discrete:
            kind = "discrete" if other.discrete else "continuous"
            raise DataError(f"cannot extend: the other dataset has {kind} actions and this one does not")
        if self.observation_space is None:
            self.observation_space, self.action_space = other.observation_space, other.action_space
        n = other._n
        return _Chunk(
            obs=other.obs, acts=other.acts, executed=other.executed_acts, rewards=other.rewards,
            valid=other.valid, costs=other._costs[:n] if other._has_costs else None,
            expert_acted=other._expert_acted[:n] if other._has_expert_acted else None,
            lengths=other.ep_lengths, terminated=other.terminated, truncated=other.truncated,
            seeds=other.episode_seeds, has_labels=other._has_labels,
        )

    def _chunk_from_trajectories(self, trajs: list[Trajectory], *, targets: Targets) -> _Chunk:
        if targets not in ("acts", "labels"):
            raise ConfigError(f"targets must be 'acts' or 'labels', got {targets!r}")
        obs_rows = []
        for i, t in enumerate(trajs):
            obs_rows.append(self._check_obs(t.obs, f"trajectory {i}"))
            self._check_shapes(tuple(t.acts.shape[1:]), f"trajectory {i}")
            if targets == "labels" and t.labels is None:
                raise DataError(f"trajectory {i} has no expert labels; collect it with a labeler "
                                "or use targets='acts'")
            for name in ("costs", "labels", "labeled", "expert_acted"):
                value = getattr(t, name)
                if value is not None and len(value) != len(t):
                    raise DataError(f"trajectory {i} has {len(value)} {name} for {len(t)} steps")

        def cat(arrays: list[np.ndarray], dtype: Any, row_shape: tuple[int, ...] = ()) -> np.ndarray:
            if not arrays:
                return np.empty((0, *row_shape), dtype)
            return np.concatenate([np.asarray(a, dtype=dtype) for a in arrays])

        executed = cat([t.acts for t in trajs], self.act_dtype, self.act_shape)  # (N_new, *A)
        lengths = np.array([len(t) for t in trajs], np.int64)  # (E_new,)
        if targets == "labels":
            labeled = cat([np.ones(len(t), bool) if t.labeled is None else t.labeled for t in trajs], bool)
            labels = cat([t.labels for t in trajs], self.act_dtype, self.act_shape)  # (N_new, *A)
            # Unlabelled rows keep the executed action so every stored target is finite and in range.
            acts = np.where(labeled.reshape(-1, *([1] * len(self.act_shape))), labels, executed)
        else:
            labeled, acts = np.ones(len(executed), bool), executed
        # Within one call, as across calls (see _append): missing costs count as 0, a missing
        # expert_acted as False, as soon as any trajectory recorded them.
        any_costs = any(t.costs is not None for t in trajs)
        any_expert = any(t.expert_acted is not None for t in trajs)
        costs = [np.zeros(len(t)) if t.costs is None else t.costs for t in trajs]
        expert_acted = [np.zeros(len(t), bool) if t.expert_acted is None else t.expert_acted for t in trajs]
        if self.obs_layout is not None:
            obs: Obs = DictObs.concat(obs_rows) if obs_rows else self.obs_layout.empty(0)
        else:
            obs = cat(obs_rows, np.float32, self._obs_shape)
        return _Chunk(
            obs=obs,
            acts=acts, executed=executed,
            rewards=cat([t.rewards for t in trajs], np.float64), valid=labeled,
            costs=cat(costs, np.float64) if any_costs else None,
            expert_acted=cat(expert_acted, bool) if any_expert else None,
            lengths=lengths,
            terminated=np.array([t.terminated for t in trajs], bool),
            truncated=np.array([t.truncated for t in trajs], bool),
            seeds=np.array([_NO_SEED if t.seed is None else t.seed for t in trajs], np.int64),
            has_labels=targets == "labels",
        )

    def _append(self, c: _Chunk) -> None:
        n, n_obs, e = self._n, self._n_obs, self._n_eps
        dn, de = len(c.acts), len(c.lengths)
        assert len(c.obs) == dn + de and int(c.lengths.sum()) == dn, "chunk must hold T+1 obs per episode"
        step_bufs = ("_acts", "_executed", "_rewards", "_valid", "_costs", "_expert_acted", "_step_ep")
        for name in step_bufs:
            setattr(self, name, _grow(getattr(self, name), n, n + dn))
        for name in ("_ep_starts", "_ep_lengths", "_terminated", "_truncated", "_seeds"):
            setattr(self, name, _grow(getattr(self, name), e, e + de))
        self._obs = _grow(self._obs, n_obs, n_obs + dn + de)
        self._obs[n_obs:n_obs + dn + de] = c.obs
        self._acts[n:n + dn] = c.acts
        self._executed[n:n + dn] = c.executed
        self._rewards[n:n + dn] = c.rewards
        self._valid[n:n + dn] = c.valid
        # Steps without recorded costs count as 0, like tasks that define no cost; steps without
        # an expert_acted record count as learner-driven. The has_* flags say whether any was recorded.
        self._costs[n:n + dn] = 0.0 if c.costs is None else c.costs
        self._expert_acted[n:n + dn] = False if c.expert_acted is None else c.expert_acted
        self._step_ep[n:n + dn] = np.repeat(np.arange(e, e + de, dtype=np.int64), c.lengths)
        self._ep_starts[e:e + de] = n + np.cumsum(c.lengths) - c.lengths
        self._ep_lengths[e:e + de] = c.lengths
        self._terminated[e:e + de] = c.terminated
        self._truncated[e:e + de] = c.truncated
        self._seeds[e:e + de] = c.seeds
        self._has_costs |= c.costs is not None
        self._has_expert_acted |= c.expert_acted is not None
        self._has_labels |= c.has_labels
        new_valid = n + np.flatnonzero(c.valid)  # (V_new,)
        self._valid_steps = _grow(self._valid_steps, self._n_valid, self._n_valid + len(new_valid))
        self._valid_steps[self._n_valid:self._n_valid + len(new_valid)] = new_valid
        self._n_valid += len(new_valid)
        for key, moments in self._moments_by_key.items():
            moments.add_episodes(c.obs if key is None else c.obs[key], c.lengths + 1)
        self._n, self._n_obs, self._n_eps = n + dn, n_obs + dn + de, e + de

    # ----------------------------------------------------------------- checkpoints

    STATE_ARRAYS = ("obs", "acts", "executed", "rewards", "valid", "costs", "expert_acted", "lengths",
                    "terminated", "truncated", "seeds")

    def state_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The stored data as flat arrays + JSON flags, for a training checkpoint (the DAgger
        family's aggregate); :meth:`from_state_arrays` rebuilds a dataset that trains bitwise the
        same (the statistics depend only on the sequence of episodes, see :class:`_ObsMoments`)."""
        n, n_obs, e = self._n, self._n_obs, self._n_eps
        obs = self._obs[:n_obs]
        obs_arrays = ({"obs": obs} if isinstance(obs, np.ndarray)
                      else {f"obs/{k}": v for k, v in obs.items()})  # one array per key
        arrays = {**obs_arrays, "acts": self._acts[:n], "executed": self._executed[:n],
                  "rewards": self._rewards[:n], "valid": self._valid[:n], "costs": self._costs[:n],
                  "expert_acted": self._expert_acted[:n], "lengths": self._ep_lengths[:e],
                  "terminated": self._terminated[:e], "truncated": self._truncated[:e], "seeds": self._seeds[:e]}
        meta = {"has_costs": self._has_costs, "has_expert_acted": self._has_expert_acted,
                "has_labels": self._has_labels}
        return {k: np.ascontiguousarray(v) for k, v in arrays.items()}, meta

    def load_state_arrays(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Replace this dataset's contents with what :meth:`state_arrays` returned (same shapes)."""
        try:
            a = {k: np.asarray(arrays[k]) for k in self.STATE_ARRAYS if k != "obs"}
            if self.obs_layout is None:
                obs: Obs = np.asarray(arrays["obs"]).astype(np.float32)
            else:
                obs = DictObs({f.name: np.asarray(arrays[f"obs/{f.name}"]).astype(f.dtype)
                               for f in self.obs_layout.fields})
            chunk = _Chunk(obs=obs, acts=a["acts"].astype(self.act_dtype),
                           executed=a["executed"].astype(self.act_dtype), rewards=a["rewards"].astype(np.float64),
                           valid=a["valid"].astype(bool),
                           costs=a["costs"].astype(np.float64) if meta["has_costs"] else None,
                           expert_acted=a["expert_acted"].astype(bool) if meta["has_expert_acted"] else None,
                           lengths=a["lengths"].astype(np.int64), terminated=a["terminated"].astype(bool),
                           truncated=a["truncated"].astype(bool), seeds=a["seeds"].astype(np.int64),
                           has_labels=bool(meta["has_labels"]))
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"the checkpoint's dataset is incomplete or corrupt ({err})") from None
        n, e = len(chunk.acts), len(chunk.lengths)
        obs_ok = (all(chunk.obs[f.name].shape[1:] == f.shape and len(chunk.obs[f.name]) == n + e
                      for f in self.obs_layout.fields) if self.obs_layout is not None
                  else chunk.obs.shape[1:] == self._obs_shape)
        if (not obs_ok or chunk.acts.shape[1:] != self.act_shape
                or len(chunk.obs) != n + e or int(chunk.lengths.sum()) != n
                or any(len(x) != n for x in (chunk.executed, chunk.rewards, chunk.valid))
                or any(len(x) != e for x in (chunk.terminated, chunk.truncated, chunk.seeds))):
            raise DataError("the checkpoint's dataset arrays do not fit together or this task's shapes")
        fresh = Dataset(obs_shape=self._obs_shape, obs_layout=self.obs_layout, act_shape=self.act_shape,
                        discrete=self.discrete, observation_space=self.observation_space,
                        action_space=self.action_space, metadata=self.metadata)
        if e:
            fresh._append(chunk)
        origin = self.origin
        self.__dict__.update(fresh.__dict__)
        self.origin = origin

    # ----------------------------------------------------------------- views and sizes

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """(*O) of a flat observation; a dict dataset has ``obs_layout`` instead, and asking for
        its flat shape is refused in one line (the caller needs flat observations)."""
        if self._obs_shape is None:
            raise DataError(f"this needs flat (Box) observations, but dataset {self._label()} has "
                            f"{self._obs_kind()}")
        return self._obs_shape

    @property
    def is_dict(self) -> bool:
        """True for dict (e.g. image + state) observations."""
        return self.obs_layout is not None

    @property
    def n_episodes(self) -> int:
        return self._n_eps

    @property
    def n_steps(self) -> int:
        """All steps, labelled or not."""
        return self._n

    @property
    def n_transitions(self) -> int:
        """Steps that are training targets (``valid``)."""
        return self._n_valid

    @property
    def capacity(self) -> int:
        """Steps the current buffers hold before the next (doubling) reallocation."""
        return len(self._acts)

    @property
    def obs(self) -> Obs:
        return _view(self._obs, self._n_obs)  # (N + E, *O), or a DictObs

    @property
    def acts(self) -> np.ndarray:
        return _view(self._acts, self._n)  # (N, *A) targets

    @property
    def executed_acts(self) -> np.ndarray:
        return _view(self._executed, self._n)  # (N, *A)

    @property
    def rewards(self) -> np.ndarray:
        return _view(self._rewards, self._n)  # (N,)

    @property
    def valid(self) -> np.ndarray:
        return _view(self._valid, self._n)  # (N,)

    @property
    def costs(self) -> np.ndarray | None:
        return _view(self._costs, self._n) if self._has_costs else None  # (N,)

    @property
    def expert_acted(self) -> np.ndarray | None:
        return _view(self._expert_acted, self._n) if self._has_expert_acted else None  # (N,)

    @property
    def has_labels(self) -> bool:
        """True when ``acts`` hold expert labels that may differ from ``executed_acts``."""
        return self._has_labels

    @property
    def step_episode(self) -> np.ndarray:
        return _view(self._step_ep, self._n)  # (N,) episode index of each step

    @property
    def ep_starts(self) -> np.ndarray:
        return _view(self._ep_starts, self._n_eps)  # (E,) first step of each episode

    @property
    def ep_lengths(self) -> np.ndarray:
        return _view(self._ep_lengths, self._n_eps)  # (E,)

    @property
    def ep_obs_starts(self) -> np.ndarray:
        """(E,) first observation row of each episode (one extra row per earlier episode)."""
        return self.ep_starts + np.arange(self._n_eps, dtype=np.int64)

    @property
    def terminated(self) -> np.ndarray:
        return _view(self._terminated, self._n_eps)  # (E,)

    @property
    def truncated(self) -> np.ndarray:
        return _view(self._truncated, self._n_eps)  # (E,)

    @property
    def episode_seeds(self) -> np.ndarray:
        return _view(self._seeds, self._n_eps)  # (E,), -1 where unknown

    def __repr__(self) -> str:
        kind = "discrete" if self.discrete else f"continuous{self.act_shape}"
        obs = self._obs_shape if self.obs_layout is None else "{" + self.obs_layout.describe() + "}"
        return (f"Dataset(episodes={self.n_episodes}, steps={self.n_steps}, transitions={self.n_transitions}, "
                f"obs={obs}, acts={kind})")

    # ----------------------------------------------------------------- training accessors

    def step_index(self) -> np.ndarray:
        """(n_transitions,) step index of each valid transition: sample from this, then window."""
        return _view(self._valid_steps, self._n_valid)

    def obs_rows(self, steps: np.ndarray) -> np.ndarray:
        """Observation rows seen when acting at ``steps`` (any shape of step indices)."""
        return steps + self._step_ep[steps]

    def transitions(self) -> tuple[Obs, np.ndarray]:
        """Valid steps only: (obs (n, *O) float32 at the time of the action, targets (n, *A));
        for a dict dataset the observations are a DictObs (a copy: images included)."""
        steps = self.step_index()
        return self._obs[self.obs_rows(steps)], self._acts[steps]

    def obs_stats(self, *, min_std: float = MIN_OBS_STD) -> tuple[np.ndarray, np.ndarray]:
        """(mean (*O), std (*O)) float32 over every stored observation; a feature whose std is
        below ``min_std`` gets std 1 (centred only, see MIN_OBS_STD)."""
        return self._stats(None, self.obs_shape, min_std)

    def obs_stats_by_key(self, *, min_std: float = MIN_OBS_STD) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """For a dict dataset, {key: (mean, std)} float32: as :meth:`obs_stats` for float keys;
        for images the fixed scaling to [-1, 1] (shape () each), not data statistics."""
        if self.obs_layout is None:
            raise DataError(f"obs_stats_by_key is for dict observations; dataset {self._label()} is flat "
                            "(use obs_stats)")
        out = {}
        for f in self.obs_layout.fields:
            if f.image:
                out[f.name] = (np.array(IMAGE_CENTRE, np.float32), np.array(IMAGE_SCALE, np.float32))
            else:
                out[f.name] = self._stats(f.name, f.shape, min_std)
        return out

    def _stats(self, key: str | None, shape: tuple[int, ...], min_std: float) -> tuple[np.ndarray, np.ndarray]:
        if self._n_obs == 0:
            raise DataError("cannot compute observation statistics of an empty dataset")
        m = self._moments_by_key[key]  # float64 accumulation for long datasets, kept up to date by _append
        mean = m.mean.reshape(shape)  # (*O,)
        std = np.sqrt(m.m2 / m.count).reshape(shape)  # (*O,)
        std = np.where(std < min_std, 1.0, std)
        return mean.astype(np.float32), std.astype(np.float32)

    def training_arrays(self, *, obs_horizon: int | None = None, act_horizon: int | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, bool]:
        """What BC trains on: ``(obs, targets, mask, finite)``, one row per valid step.

        Without horizons, the rows of :meth:`transitions` (obs (n, *O), targets (n, *A), mask
        None); with both, ``windows(step_index(), obs_horizon=, act_horizon=)`` (obs (n, To, *O),
        targets (n, Ta, *A), mask (n, Ta)). ``finite`` says whether every float value in them is
        finite. The rows are cached per window shape and only those of steps added since the last
        call are computed, so calls between extensions cost O(new data); the values are exactly
        a fresh computation's (each row depends only on its own episode). Read-only views.
        """
        if (obs_horizon is None) != (act_horizon is None):
            raise ConfigError("training_arrays needs both obs_horizon and act_horizon, or neither")
        if self.obs_layout is not None:
            # cached rows would copy every frame once per window shape; dict datasets assemble each
            # minibatch from step_index() and windows() instead
            raise DataError(f"training_arrays materialises flat observations; dataset {self._label()} has "
                            f"{self._obs_kind()}: gather minibatches with windows() instead")
        key = None if obs_horizon is None or act_horizon is None else (int(obs_horizon), int(act_horizon))
        rows = self._training.get(key)
        if rows is None:
            o, a, m = self._training_rows(key, np.empty(0, np.int64))
            rows = self._training[key] = _TrainingRows(obs=o, acts=a, mask=m)
        new = self.step_index()[rows.n:]  # (V_new,)
        if len(new):
            o, a, m = self._training_rows(key, new)
            rows.finite &= bool(np.isfinite(o).all()) and (a.dtype.kind != "f" or bool(np.isfinite(a).all()))
            end = rows.n + len(new)
            rows.obs, rows.acts = _grow(rows.obs, rows.n, end), _grow(rows.acts, rows.n, end)
            rows.obs[rows.n:end], rows.acts[rows.n:end] = o, a
            if m is not None:
                assert rows.mask is not None
                rows.mask = _grow(rows.mask, rows.n, end)
                rows.mask[rows.n:end] = m
            rows.n = end
        mask = None if rows.mask is None else _view(rows.mask, rows.n)
        return _view(rows.obs, rows.n), _view(rows.acts, rows.n), mask, rows.finite

    def _training_rows(self, key: tuple[int, int] | None, steps: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if key is None:
            return self._obs[self.obs_rows(steps)], self._acts[steps], None
        return self.windows(steps, obs_horizon=key[0], act_horizon=key[1])

    def episode_returns(self) -> np.ndarray:
        """(E,) undiscounted return of each episode."""
        csum = np.concatenate([[0.0], np.cumsum(self.rewards)])  # (N+1,) handles 0-step episodes
        return csum[self.ep_starts + self.ep_lengths] - csum[self.ep_starts]

    def episodes(self) -> Iterator[Trajectory]:
        """Each episode as a :class:`Trajectory` of read-only views; labels when ``has_labels``."""
        obs, executed, acts, valid = self.obs, self.executed_acts, self.acts, self.valid
        costs, expert_acted = self.costs, self.expert_acted
        for e in range(self._n_eps):
            s, t = int(self._ep_starts[e]), int(self._ep_lengths[e])
            steps, o = slice(s, s + t), s + e
            seed = int(self._seeds[e])
            yield Trajectory(
                obs=obs[o:o + t + 1], acts=executed[steps], rewards=self.rewards[steps],
                terminated=bool(self._terminated[e]), truncated=bool(self._truncated[e]),
                costs=None if costs is None else costs[steps],
                labels=acts[steps] if self._has_labels else None,
                labeled=valid[steps] if self._has_labels else None,
                expert_acted=None if expert_acted is None else expert_acted[steps],
                seed=None if seed == _NO_SEED else seed,
            )

    def windows(self, idx: np.ndarray, *, obs_horizon: int, act_horizon: int
                ) -> tuple[Obs, np.ndarray, np.ndarray]:
        """Time windows around steps ``idx`` (B,) (step indices, e.g. from :meth:`step_index`).

        Returns obs (B, To, *O) ending at each step (a DictObs of (B, To, *shape) per key for dict
        data), actions (B, Ta, *A) starting at it, and a mask (B, Ta) bool. Windows never cross an
        episode: observations before the episode start repeat its first one and actions past its
        end repeat its last one; the mask is False for those padded actions and for unlabelled
        (invalid) targets, so losses can ignore them.
        """
        obs_rows, act_steps, mask = self.window_index(idx, obs_horizon=obs_horizon, act_horizon=act_horizon)
        return self._obs[obs_rows], self._acts[act_steps], mask  # (B, To, *O), (B, Ta, *A), (B, Ta)

    def window_index(self, idx: np.ndarray, *, obs_horizon: int, act_horizon: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where :meth:`windows` reads from: observation rows (B, To) into ``obs``, action steps
        (B, Ta) into ``acts``, and the mask (B, Ta). A trainer that gathers frames a minibatch at
        a time keeps these (a few int64 per sample) instead of the windows themselves."""
        if obs_horizon < 1 or act_horizon < 1:
            raise ConfigError(f"obs_horizon and act_horizon must be >= 1, got {obs_horizon} and {act_horizon}")
        idx = np.asarray(idx, dtype=np.int64)  # (B,)
        if idx.ndim != 1 or (len(idx) and (idx.min() < 0 or idx.max() >= self._n)):
            raise IndexError(f"windows needs a 1-d array of step indices in [0, {self._n})")
        ep = self._step_ep[idx]  # (B,)
        start = self._ep_starts[ep][:, None]  # (B, 1)
        end = start + self._ep_lengths[ep][:, None]  # (B, 1) exclusive
        obs_steps = np.maximum(idx[:, None] + np.arange(1 - obs_horizon, 1), start)  # (B, To)
        raw = idx[:, None] + np.arange(act_horizon)  # (B, Ta)
        act_steps = np.minimum(raw, end - 1)  # (B, Ta)
        mask = (raw < end) & self._valid[act_steps]  # (B, Ta)
        return obs_steps + ep[:, None], act_steps, mask

    # ----------------------------------------------------------------- validation

    def _label(self) -> str:
        if self.origin:
            return self.origin
        name = self.metadata.get("dataset_id") or self.metadata.get("task")
        return repr(name) if name else "(in memory)"

    def validate(self, spec: TaskSpec | None = None, *, clip_actions: bool = False) -> None:
        """Raise :class:`DataError` (one line) on NaN/inf values, or shapes or action ranges
        (discrete, and continuous bounds) that disagree with ``spec`` (or, without a spec, with the
        dataset's own spaces). ``clip_actions`` clips continuous actions outside the bounds into
        them instead, with a warning that says how many."""
        self._clip_actions = clip_actions
        ep_of_obs = np.repeat(np.arange(self._n_eps), self.ep_lengths + 1)  # (N + E,)
        obs = self.obs
        if isinstance(obs, DictObs):
            for key, arr in obs.items():
                self._check_finite(arr, ep_of_obs, f"observations[{key!r}]")
        else:
            self._check_finite(obs, ep_of_obs, "observations")
        self._check_finite(self.acts, self.step_episode, "actions")
        self._check_finite(self.executed_acts, self.step_episode, "executed actions")
        self._check_finite(self.rewards, self.step_episode, "rewards")
        if spec is not None:
            self._check_spaces(spec.observation_space, spec.action_space, f"task {spec.name!r}")
        else:
            # continuous bounds are checked against a task (where --clip-actions can clip them)
            self._check_spaces(self.observation_space, self.action_space, "its recorded space", check_bounds=False)

    def _check_finite(self, arr: np.ndarray, ep_of_row: np.ndarray, what: str) -> None:
        if arr.dtype.kind != "f" or arr.size == 0:
            return
        bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)  # (rows,)
        if bad.any():
            count = int(np.count_nonzero(~np.isfinite(arr)))
            first = int(ep_of_row[np.argmax(bad)])
            raise DataError(f"dataset {self._label()} has {count} NaN/inf values in {what} "
                            f"(first in episode {first})")

    def _check_spaces(self, obs_space: gym.spaces.Space | None, act_space: gym.spaces.Space | None,
                      who: str, *, check_bounds: bool = True) -> None:
        label = self._label()
        if obs_space is not None:
            self._check_obs_space(obs_space, who)
        if act_space is None:
            return
        space_discrete = isinstance(act_space, gym.spaces.Discrete)
        if space_discrete != self.discrete:
            mine, theirs = ("discrete", "continuous") if self.discrete else ("continuous", "discrete")
            raise DataError(f"dataset {label} has {mine} actions but {who} has {theirs} actions")
        if not space_discrete:
            if tuple(act_space.shape or ()) != self.act_shape:
                raise DataError(f"dataset {label} actions have shape {self.act_shape} "
                                f"but {who} expects {tuple(act_space.shape or ())}")
            if check_bounds:
                self._check_bounds(act_space, who)
            return
        if self.act_shape != ():
            raise DataError(f"dataset {label} discrete actions have shape {self.act_shape} but {who} expects ()")
        lo, hi = int(act_space.start), int(act_space.start + act_space.n)
        for acts, ep, what in ((self.acts[self.valid], self.step_episode[self.valid], "actions"),
                               (self.executed_acts, self.step_episode, "executed actions")):
            bad = (acts < lo) | (acts >= hi)  # (rows,)
            if bad.any():
                first = int(np.argmax(bad))
                raise DataError(f"dataset {label} has {int(bad.sum())} {what} outside [{lo}, {hi}) of {who} "
                                f"(first: {int(acts[first])} in episode {int(ep[first])})")

    def _check_obs_space(self, space: gym.spaces.Space, who: str) -> None:
        label = self._label()
        theirs = layout_of(space)
        if theirs is None and self.obs_layout is None:
            if tuple(space.shape or ()) != self._obs_shape:
                raise DataError(f"dataset {label} observations have shape {self._obs_shape} "
                                f"but {who} expects {tuple(space.shape or ())}")
            return
        if theirs is None or self.obs_layout is None:
            want = f"flat observations of shape {tuple(space.shape or ())}" if theirs is None else (
                f"dict observations ({theirs.describe()})")
            raise DataError(f"dataset {label} has {self._obs_kind()} but {who} expects {want}")
        if set(theirs.keys) != set(self.obs_layout.keys):  # the order of keys carries no meaning
            missing = [k for k in theirs.keys if k not in self.obs_layout.keys]
            extra = [k for k in self.obs_layout.keys if k not in theirs.keys]
            detail = "; ".join(([f"missing {missing}"] if missing else []) + ([f"extra {extra}"] if extra else []))
            raise DataError(f"dataset {label} observation keys {list(self.obs_layout.keys)} differ from "
                            f"{who}'s {list(theirs.keys)} ({detail})")
        for want_f in theirs.fields:
            mine = self.obs_layout.field(want_f.name)
            if mine != want_f:
                raise DataError(f"dataset {label} observation key {mine.name!r} is {mine.describe()} "
                                f"but {who} expects {want_f.describe()}")

    def _check_bounds(self, space: gym.spaces.Space, who: str) -> None:
        """Continuous actions (targets and executed) inside ``space``'s bounds, up to float rounding;
        out-of-range ones refused, or clipped in place when validate() was asked to clip."""
        low = np.broadcast_to(np.asarray(space.low, np.float64), self.act_shape)
        high = np.broadcast_to(np.asarray(space.high, np.float64), self.act_shape)
        tol = 1e-5 * np.maximum(1.0, np.maximum(np.abs(np.where(np.isfinite(low), low, 0.0)),
                                               np.abs(np.where(np.isfinite(high), high, 0.0))))
        for name, buf, rows in (("actions", "_acts", self.valid), ("executed actions", "_executed", None)):
            acts = getattr(self, buf)[:self._n]
            out = (acts < low - tol) | (acts > high + tol)  # (N, *A)
            if rows is not None:
                out &= rows.reshape(-1, *([1] * len(self.act_shape)))
            if not out.any():
                continue
            step = int(np.argmax(out.reshape(len(acts), -1).any(axis=1)))
            value = acts[step].reshape(-1)[np.argmax(out[step].reshape(-1))]
            if not getattr(self, "_clip_actions", False):
                raise DataError(
                    f"dataset {self._label()} has {int(out.sum())} {name} outside the bounds of {who} "
                    f"[{_fmt(low)}, {_fmt(high)}] (first: {float(value):.4g} in episode {int(self._step_ep[step])}, "
                    f"step {step - int(self._ep_starts[self._step_ep[step]])}); pass --clip-actions "
                    "(clip_actions=True) to clip them into the bounds")
            warnings.warn(f"clipped {int(out.sum())} {name} of dataset {self._label()} into the bounds of {who}",
                          stacklevel=3)
            np.clip(acts, low, high, out=acts)
            self._training.clear()  # cached training rows hold the unclipped values


def _fmt(bound: np.ndarray) -> str:
    values = np.unique(bound)
    return f"{float(values[0]):.4g}" if len(values) == 1 else np.array2string(bound, precision=3)
