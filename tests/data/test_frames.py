"""Frame stores: uint8 in, the same uint8 out, from memory or lazily from a chunked HDF5 file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from mimetic.data.frames import HDF5Frames, MemoryFrames, check_frames, window_rows, write_frames
from mimetic.errors import DataError


def _frames(n: int = 30, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 12, 10, 3), dtype=np.uint8)


@pytest.mark.parametrize("compression", ["lzf", "gzip", "none"])
def test_hdf5_frames_give_back_exactly_the_asked_frames(tmp_path: Path, compression) -> None:
    frames = _frames()
    path = write_frames(tmp_path / "f.h5", frames, compression=compression)
    rows = np.array([5, 0, 29, 5, 5, 17])  # unsorted, repeated
    with HDF5Frames(path) as store:
        assert store.shape == (12, 10, 3) and len(store) == 30
        assert store.chunks == (1, 12, 10, 3)  # one frame per chunk: a minibatch reads only its frames
        assert store.compression == (None if compression == "none" else compression)
        out = store.gather(rows)
        assert out.dtype == np.uint8 and np.array_equal(out, frames[rows])
        assert np.array_equal(store.load().frames, frames)
    assert np.array_equal(MemoryFrames(frames).gather(rows), frames[rows])


def test_compression_shrinks_renderlike_frames(tmp_path: Path) -> None:
    frames = np.full((20, 48, 48, 3), 240, np.uint8)  # a plain background with a moving block
    for i in range(20):
        frames[i, 10 + i:20 + i, 5:25] = (200, 40, 40)
    raw = write_frames(tmp_path / "raw.h5", frames, compression="none").stat().st_size
    lzf = write_frames(tmp_path / "lzf.h5", frames).stat().st_size
    assert lzf < raw / 4


def test_float_or_misshapen_frames_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="uint8"):
        check_frames(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(DataError, match=r"\(N, H, W, C\)"):
        MemoryFrames(np.zeros((2, 3, 8, 8), np.uint8))  # channels first
    with pytest.raises(DataError, match="uint8"):
        write_frames(tmp_path / "f.h5", np.zeros((2, 8, 8, 3)))
    assert not (tmp_path / "f.h5").exists()
    with pytest.raises(DataError, match="rows must lie in 0..29"):
        MemoryFrames(_frames()).gather(np.array([30]))


def test_files_that_hold_no_frames_fail_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "junk.h5").write_bytes(b"junk")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("frames", data=np.zeros((2, 4), np.float32))
    for name, words in (("junk", "cannot read frames"), ("other", "no uint8 'frames'"),
                        ("missing", "cannot read frames")):
        with pytest.raises(DataError, match=words) as err:
            HDF5Frames(tmp_path / f"{name}.h5")
        assert "\n" not in str(err.value)


def test_window_rows_end_at_the_sample_and_repeat_the_episode_start() -> None:
    rows = np.array([10, 11, 14])
    starts = np.array([10, 10, 10])
    assert window_rows(rows, starts, 3).tolist() == [[10, 10, 10], [10, 10, 11], [12, 13, 14]]
