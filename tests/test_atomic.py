"""atomic: files and directories appear complete at their final path, or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mimetic import atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_file_replaces_whole_files_with_plain_permissions(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    atomic.write_file(target, "old")
    atomic.write_file(target, b"new", fsync=True)
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o666 & ~atomic._UMASK  # not mkstemp's private 0600
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_a_failed_file_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic.AtomicPath(target, suffix=".mp4") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".x.bin.") and tmp.suffix == ".mp4"
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_atomic_directory_creates_or_fills_an_empty_target(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for name in ("new", "empty"):
        with atomic.AtomicDirectory(tmp_path / name) as tmp:
            assert not (tmp_path / name).joinpath("a").exists()  # nothing visible while writing
            (tmp / "a").write_text(name)
        assert (tmp_path / name / "a").read_text() == name
        assert _mode(tmp_path / name) == 0o777 & ~atomic._UMASK  # not mkdtemp's private 0700
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "new"]


def test_atomic_directory_swaps_a_full_target_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "d"
    target.mkdir()
    (target / "old").write_text("1")
    with pytest.raises(FileExistsError, match="appeared while writing"), atomic.AtomicDirectory(target) as tmp:
        (tmp / "new").write_text("2")
    assert [p.name for p in target.iterdir()] == ["old"] and [p.name for p in tmp_path.iterdir()] == ["d"]
    with atomic.AtomicDirectory(target, replace=True) as tmp:
        (tmp / "new").write_text("2")
    assert [p.name for p in target.iterdir()] == ["new"] and [p.name for p in tmp_path.iterdir()] == ["d"]


def test_a_failed_swap_puts_the_old_directory_back(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "d"
    target.mkdir()
    (target / "old").write_text("1")
    real_rename = os.rename

    def rename(src, dst):
        if Path(src).name.endswith(".tmp") and Path(dst) == target:  # the new copy's rename
            raise OSError(28, "No space left on device")
        return real_rename(src, dst)

    monkeypatch.setattr(atomic.os, "rename", rename)
    with pytest.raises(OSError, match="No space"), atomic.AtomicDirectory(target, replace=True) as tmp:
        (tmp / "new").write_text("2")
    assert [p.name for p in target.iterdir()] == ["old"] and [p.name for p in tmp_path.iterdir()] == ["d"]


def test_make_parents_undoes_itself_on_failure(tmp_path: Path, monkeypatch) -> None:
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args, **kwargs) -> None:
        if self.name == "c":
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(PermissionError) as err:
        atomic.make_parents(tmp_path / "a" / "b" / "c" / "out")
    assert err.value.filename == str(tmp_path / "a" / "b" / "c")
    assert list(tmp_path.iterdir()) == []  # a and b were made, then removed
    (tmp_path / "file").write_text("")
    made = atomic.make_parents(tmp_path / "x" / "y" / "out")
    assert made == [tmp_path / "x", tmp_path / "x" / "y"]
    atomic.remove_dirs(made)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
