"""Structured observations: a dict of arrays, as Gymnasium's ``Dict`` space, e.g. camera + state.

A flat ``Box`` observation stays one float32 ndarray (the fast path, unchanged). A ``Dict``
observation is a :class:`DictObs`: one array per key, all sharing their leading axes (rows,
batch, time), so ``obs[rows]``, ``obs[a:b]`` and ``obs[(B, To) index]`` index every key at once
and code that only moves rows around works on both kinds.

What a key holds is fixed by an :class:`ObsLayout`, read off the task's ``Dict`` space:

- an *image*: a uint8 ``(H, W, C)`` array, channels last, C = 1, 3 or 4. Images stay uint8 in
  memory and on disk (a 96x96x3 frame is 27 KB as bytes, 4x that as floats) and become floats only
  inside an encoder, a minibatch at a time; they are scaled to [-1, 1], never z-scored.
- anything else (proprioception, keypoints, goals): float32 of any shape, z-scored like a Box.

The layout is also the one place a dict observation is checked (:meth:`ObsLayout.check`): a
missing or extra key, a wrong shape or a float image is refused in one line naming the key.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from mimetic.errors import DataError

IMAGE_CHANNELS = (1, 3, 4)
# Images are mapped to [-1, 1] by (x - IMAGE_CENTRE) / IMAGE_SCALE (fixed, not data statistics:
# a pixel's spread in the demos says nothing about what the encoder should treat as large).
IMAGE_CENTRE = 127.5
IMAGE_SCALE = 127.5


class DictObs:
    """Observations as a dict of arrays sharing leading axes.

    Indexing with a key returns that key's array; any other index (an int, a slice, an integer
    array of any shape, a mask) indexes every array and returns a DictObs. ``len`` is the length
    of the first axis, as for an ndarray (use :meth:`keys` for the keys).
    """

    __slots__ = ("arrays",)

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        if not arrays:
            raise DataError("a dict observation needs at least one key")
        self.arrays: dict[str, np.ndarray] = {str(k): np.asarray(v) for k, v in arrays.items()}

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, str):
            return self.arrays[index]
        return DictObs({k: v[index] for k, v in self.arrays.items()})

    def __setitem__(self, index: Any, value: DictObs) -> None:
        for k, v in self.arrays.items():
            v[index] = value.arrays[k]

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def __iter__(self) -> Iterator[str]:
        raise TypeError("iterate over DictObs.keys() or .items(); len() and indexing act on rows")

    def __contains__(self, key: object) -> bool:
        return key in self.arrays

    def keys(self) -> KeysView[str]:
        return self.arrays.keys()

    def values(self) -> ValuesView[np.ndarray]:
        return self.arrays.values()

    def items(self) -> ItemsView[str, np.ndarray]:
        return self.arrays.items()

    @property
    def nbytes(self) -> int:
        return int(sum(v.nbytes for v in self.arrays.values()))

    def map(self, fn: Any) -> DictObs:
        """A DictObs of ``fn(array)`` for every key."""
        return DictObs({k: fn(v) for k, v in self.arrays.items()})

    def readonly(self) -> DictObs:
        """Read-only views of every array (as the dataset's accessors return)."""
        out = self.map(lambda v: v.view())
        for v in out.arrays.values():
            v.flags.writeable = False
        return out

    @staticmethod
    def concat(parts: Sequence[DictObs]) -> DictObs:
        """Rows of ``parts`` back to back (all with the same keys)."""
        keys = list(parts[0].keys())
        return DictObs({k: np.concatenate([p.arrays[k] for p in parts]) for k in keys})

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {v.dtype}{tuple(v.shape)}" for k, v in self.arrays.items())
        return f"DictObs({inner})"


@dataclass(frozen=True)
class ObsField:
    """One key of a dict observation: its per-row shape and storage dtype."""

    name: str
    shape: tuple[int, ...]
    image: bool  # uint8 (H, W, C) camera frame; otherwise float32 values

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.image else np.float32)

    def describe(self) -> str:
        return f"{self.name}: {'uint8 image' if self.image else 'float32'} {self.shape}"


@dataclass(frozen=True, eq=False)
class ObsLayout:
    """The keys of a dict observation, in order, and what each holds."""

    fields: tuple[ObsField, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if not names:
            raise DataError("a dict observation space needs at least one key")
        if len(set(names)) != len(names):
            raise DataError(f"dict observation keys must be unique, got {names}")
        for f in self.fields:
            if "/" in f.name or not f.name:
                raise DataError(f"dict observation key {f.name!r} is not a plain name (no '/', not empty)")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def image_keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.image)

    @property
    def state_keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if not f.image)

    def field(self, key: str) -> ObsField:
        for f in self.fields:
            if f.name == key:
                return f
        raise KeyError(key)

    def describe(self) -> str:
        return ", ".join(f.describe() for f in self.fields)

    # ------------------------------------------------------------------ building

    @classmethod
    def from_space(cls, space: gym.spaces.Space, *, where: str = "the observation space") -> ObsLayout:
        """The layout of a Gymnasium ``Dict`` of ``Box`` spaces (nested dicts are refused)."""
        if not isinstance(space, gym.spaces.Dict):
            raise DataError(f"{where} is a {type(space).__name__} space, not a Dict")
        fields = []
        for name, sub in space.spaces.items():
            if not isinstance(sub, gym.spaces.Box):
                raise DataError(f"{where} key {name!r} is a {type(sub).__name__} space; only Box "
                                "subspaces are supported (flatten nested Dict/Tuple spaces)")
            fields.append(_field(str(name), tuple(int(d) for d in sub.shape), np.dtype(sub.dtype), where))
        return cls(tuple(fields))

    @classmethod
    def from_arrays(cls, obs: DictObs, *, where: str = "the observations") -> ObsLayout:
        """The layout of observation rows ``obs`` (each array (N, *shape)), read off their dtypes."""
        return cls(tuple(_field(k, tuple(v.shape[1:]), v.dtype, where) for k, v in obs.items()))

    def space(self) -> gym.spaces.Dict:
        """The Gymnasium space: images Box(0, 255, uint8), other keys unbounded float32 Boxes."""
        subs: dict[str, gym.spaces.Space] = {}
        for f in self.fields:
            if f.image:
                subs[f.name] = gym.spaces.Box(0, 255, f.shape, np.uint8)
            else:
                subs[f.name] = gym.spaces.Box(-np.inf, np.inf, f.shape, np.float32)
        # a plain dict would be re-sorted by key; keep the layout's order
        return gym.spaces.Dict(list(subs.items()))

    def empty(self, n: int) -> DictObs:
        """Uninitialised storage for ``n`` rows."""
        return DictObs({f.name: np.empty((n, *f.shape), f.dtype) for f in self.fields})

    # ------------------------------------------------------------------ checking

    def check(self, obs: Any, *, what: str = "observations", lead: int = 1) -> DictObs:
        """``obs`` as a DictObs in this layout's dtypes, or one DataError line naming the problem.

        ``obs`` is a DictObs or a mapping of arrays with ``lead`` leading axes (rows, or a batch);
        float keys are cast to float32, images must already be uint8 (a float image is refused:
        it is either a scaling mistake or 4x the memory).
        """
        if isinstance(obs, np.ndarray) or not hasattr(obs, "keys"):
            raise DataError(f"{what} are {type(obs).__name__} values, but the task observes a dict "
                            f"({self.describe()})")
        given = [str(k) for k in obs.keys()]
        missing = [k for k in self.keys if k not in given]
        extra = [k for k in given if k not in self.keys]
        if missing or extra:
            parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + (
                [f"unexpected {', '.join(map(repr, extra))}"] if extra else [])
            raise DataError(f"{what} have keys {given} but the task observes {list(self.keys)} "
                            f"({'; '.join(parts)})")
        out: dict[str, np.ndarray] = {}
        leading: tuple[int, ...] | None = None
        for f in self.fields:
            arr = np.asarray(obs[f.name])
            if arr.ndim != lead + len(f.shape) or tuple(arr.shape[lead:]) != f.shape:
                raise DataError(f"{what} key {f.name!r} has shape {tuple(arr.shape)}; expected "
                                f"{'(N, ' if lead else '('}{', '.join(map(str, f.shape))}) ")
            if leading is None:
                leading = tuple(arr.shape[:lead])
            elif tuple(arr.shape[:lead]) != leading:
                raise DataError(f"{what} key {f.name!r} has {arr.shape[:lead]} rows where the others have {leading}")
            out[f.name] = _cast(arr, f, what)
        return DictObs(out)

    def __eq__(self, other: object) -> bool:
        # the order of keys carries no meaning (Gymnasium sorts a Dict space's keys)
        return isinstance(other, ObsLayout) and self._by_name() == other._by_name()

    def __hash__(self) -> int:
        return hash(self._by_name())

    def _by_name(self) -> tuple[ObsField, ...]:
        return tuple(sorted(self.fields, key=lambda f: f.name))


def _field(name: str, shape: tuple[int, ...], dtype: np.dtype, where: str) -> ObsField:
    if dtype.kind not in "biuf":
        raise DataError(f"{where} key {name!r} holds {dtype} values; only numbers are supported")
    if dtype != np.uint8 or len(shape) < 2:
        return ObsField(name, shape, image=False)
    if len(shape) != 3 or shape[-1] not in IMAGE_CHANNELS:
        raise DataError(f"{where} key {name!r} is a uint8 image of shape {shape}; images must be channels-last "
                        f"(H, W, C) with C = 1, 3 or 4")
    return ObsField(name, shape, image=True)


def _cast(arr: np.ndarray, f: ObsField, what: str) -> np.ndarray:
    if f.image:
        if arr.dtype != np.uint8:
            raise DataError(f"{what} key {f.name!r} is a {arr.dtype} image; images must be uint8 (0-255)")
        return arr
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{what} key {f.name!r} holds {arr.dtype} values; expected numbers")
    return arr.astype(np.float32, copy=False)


def layout_of(space: gym.spaces.Space | None) -> ObsLayout | None:
    """The layout of a Dict observation space, None for a flat (Box) one."""
    return ObsLayout.from_space(space) if isinstance(space, gym.spaces.Dict) else None
