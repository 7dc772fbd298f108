"""Camera frames for training: uint8 (N, H, W, C) kept as bytes, in memory or read lazily from a
chunked, compressed HDF5 file, gathered a minibatch (or a minibatch of time windows) at a time.

Why this exists: a frame is 27 KB at 96x96x3 as uint8 and 4x that as float32, so a 100k-frame
dataset is 2.8 GB as bytes and 11 GB as floats; frames therefore stay uint8 everywhere and become
floats only inside the encoder, a minibatch at a time. Larger datasets need not fit at all: an
HDF5 file written by :func:`write_frames` stores one frame per chunk (compressed: lzf by default,
fast to decode), so a minibatch reads exactly its frames and nothing else.

Both stores answer ``gather(rows) -> (B, H, W, C)`` and ``windows(rows, offsets)`` for the time
windows chunking and diffusion policies train on; the rows are global frame indices (the caller
maps episodes and steps to rows).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Protocol

import h5py
import numpy as np

from mimetic.atomic import AtomicPath
from mimetic.errors import DataError

COMPRESSIONS = ("lzf", "gzip", "none")
DATASET = "frames"


class Frames(Protocol):
    """What a training loop reads frames from."""

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one frame."""
        ...

    def __len__(self) -> int: ...

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """uint8 (B, H, W, C): the frames at ``rows`` (B,), in that order (repeats allowed)."""
        ...


def check_frames(frames: np.ndarray, what: str = "frames") -> np.ndarray:
    """uint8 (N, H, W, C) or one line saying what is wrong (floats would be 4x the memory)."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise DataError(f"{what} must be uint8 (0-255) images, got {frames.dtype}; keep camera frames as bytes")
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3, 4) or min(frames.shape[1:3]) < 1:
        raise DataError(f"{what} must have shape (N, H, W, C) with C = 1, 3 or 4, got {frames.shape}")
    return frames


def _check_rows(rows: np.ndarray, n: int) -> np.ndarray:
    rows = np.asarray(rows, np.int64).reshape(-1)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise DataError(f"frame rows must lie in 0..{n - 1}, got {rows.min()}..{rows.max()}")
    return rows


class MemoryFrames:
    """Frames held in memory as one uint8 array (N, H, W, C)."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = check_frames(frames)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.frames.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.frames)

    def gather(self, rows: np.ndarray) -> np.ndarray:
        return self.frames[_check_rows(rows, len(self))]  # (B, H, W, C) a copy


class HDF5Frames:
    """Frames read lazily from an HDF5 file made by :func:`write_frames` (one frame per chunk):
    only the asked frames are read and decoded, each once per call however often it repeats."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except (OSError, ValueError) as err:
            raise DataError(f"cannot read frames from {self.path}: {str(err).splitlines()[0][:120]}") from None
        node = self._file.get(DATASET)
        if not isinstance(node, h5py.Dataset) or node.dtype != np.uint8 or node.ndim != 4:
            self._file.close()
            raise DataError(f"{self.path} holds no uint8 '{DATASET}' dataset of shape (N, H, W, C); "
                            "write one with mimetic.data.frames.write_frames")
        self._data = node

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self._data.shape[1:])  # type: ignore[return-value]

    @property
    def chunks(self) -> tuple[int, ...] | None:
        return self._data.chunks

    @property
    def compression(self) -> str | None:
        return self._data.compression

    def __len__(self) -> int:
        return int(self._data.shape[0])

    def gather(self, rows: np.ndarray) -> np.ndarray:
        rows = _check_rows(rows, len(self))
        unique, inverse = np.unique(rows, return_inverse=True)  # h5py reads increasing rows
        out = np.empty((len(unique), *self.shape), np.uint8)  # (U, H, W, C)
        for i, r in enumerate(unique):  # one chunk each: a selection list would be slower in h5py
            self._data.read_direct(out, np.s_[r:r + 1], np.s_[i:i + 1])
        return out[inverse]  # (B, H, W, C)

    def load(self) -> MemoryFrames:
        """Every frame in memory (when they fit: N x H x W x C bytes)."""
        return MemoryFrames(self._data[()])

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> HDF5Frames:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_frames(path: str | os.PathLike[str], frames: np.ndarray, *,
                 compression: Literal["lzf", "gzip", "none"] = "lzf") -> Path:
    """Write uint8 frames (N, H, W, C) to ``path`` as one HDF5 dataset, one frame per chunk,
    atomically (a crash leaves no partial file)."""
    frames = check_frames(frames)
    if compression not in COMPRESSIONS:
        raise DataError(f"compression must be one of {', '.join(COMPRESSIONS)}, got {compression!r}")
    target = Path(path)
    opts: dict = {} if compression == "none" else {"compression": compression}
    if compression == "gzip":
        opts["compression_opts"] = 1  # fastest level: frames are decoded every minibatch
    with AtomicPath(target) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset(DATASET, data=frames, chunks=(1, *frames.shape[1:]), shuffle=compression != "none",
                         **opts)
    return target


def window_rows(rows: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
    """Frame rows of observation windows: for each sampled row (B,), the ``horizon`` rows ending
    at it, clamped at its episode's first row ``starts`` (B,), as ``Dataset.windows`` pads the
    first observation. -> (B, horizon)."""
    rows, starts = np.asarray(rows, np.int64), np.asarray(starts, np.int64)
    back = np.arange(horizon - 1, -1, -1)  # (To,) To-1 .. 0 steps back
    return np.maximum(rows[:, None] - back[None], starts[:, None])  # (B, To)
