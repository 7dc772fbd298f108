"""The one atomic writer: a file or a directory appears complete at its final path, or not at all.

Everything is first written to a hidden temporary sibling (same folder, so the final rename never
crosses a file system) and renamed into place only when the block succeeds (DESIGN.md, rule 7);
on any failure the temporary is removed. Temporaries get the permissions a plain ``open`` /
``mkdir`` would give (``mkstemp``/``mkdtemp`` make them private), since checkpoints, runs and
datasets are meant to be read by others.

- :class:`AtomicPath`: one file; the block gets the temporary's path (for writers that want a
  file name, such as a video encoder); :func:`write_file` is the bytes/text shorthand.
- :class:`AtomicDirectory`: one directory, optionally replacing an existing one without a moment
  where neither the old nor the new copy is at the target.
- :func:`make_parents` / :func:`remove_dirs`: create the missing parent folders of an output and
  remove them again if the write fails, so a failure leaves no trace.
- :func:`clean_stale`: a writer killed outright (``kill -9``, OOM, power cut) cannot remove its
  temporary; each temporary's name carries its writer's process id
  (``.<name>.<pid>-<random>.tmp``), and the next write to the same target removes those whose
  process is gone. A swap killed between its two renames leaves no copy at the target, only the
  old one aside: the next write (or :func:`recover_folder`, which a resumed run calls first) puts
  it back, so a checkpoint is never lost.
- :func:`crash_point`: a test hook (``tests/faults``): with ``MIMETIC_FAULT_CRASH_AT=N`` in the
  environment, the N-th crash point the process passes ends it at once, as ``kill -9`` would, so a
  test can stop a command in the middle of a checkpoint write; unset, a crash point costs one test.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType

# .<name>.<pid>-<random>.<suffix> (a new copy being written), .<name>.old-<pid>-<random> (the copy a
# directory swap is replacing), and the forms of older versions, without the process id
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)-[A-Za-z0-9_]{6,}\.[A-Za-z0-9]+|[A-Za-z0-9_]{6,}\.tmp"
                   r"|(?P<old>old-)(?:(?P<oldpid>\d+)-)?[A-Za-z0-9_]{6,})$")
LEGACY_AGE_S = 3600.0  # a temporary without a process id (older versions) counts as stale after this


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once at import, before any writer thread runs
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()

# Test hook only (see crash_point); 0 (unset) turns it off.
FAULT_CRASH_AT = int(os.environ.get("MIMETIC_FAULT_CRASH_AT") or 0)
fault_points = 0  # crash points passed so far (counted only while the hook is on)


def crash_point() -> None:
    """Fault injection for tests: the ``FAULT_CRASH_AT``-th call in this process exits with 137,
    leaving files exactly as a ``kill -9`` there would (no cleanup, no flush)."""
    global fault_points
    if FAULT_CRASH_AT:
        fault_points += 1
        if fault_points == FAULT_CRASH_AT:
            os._exit(137)


def share_mode(path: str | Path, *, directory: bool = False) -> None:
    """Give a file made by mkstemp/mkdtemp (always private, 0600/0700) the permissions a plain
    ``open``/``mkdir`` would have."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_UMASK)


def make_parents(path: Path) -> list[Path]:
    """Create the missing parents of ``path``; returns them outermost first, for :func:`remove_dirs`.

    On failure the folders made so far are removed and the ``OSError`` is raised as is (its
    ``filename`` names the folder that could not be made)."""
    created: list[Path] = []
    for p in reversed(path.parents):
        if p.exists():
            continue
        try:
            p.mkdir()
        except OSError:
            remove_dirs(created)
            raise
        created.append(p)
    return created


def remove_dirs(created: list[Path]) -> None:
    """Remove directories made by :func:`make_parents` (innermost first) where still empty."""
    for p in reversed(created):
        try:
            p.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            break  # something else was put inside meanwhile: leave it and its parents


def _prefix(name: str) -> str:
    return f".{name}.{os.getpid()}-"


def is_temporary(path: Path) -> bool:
    """Whether ``path``'s name is one of this module's temporaries (or an older version's)."""
    return _TEMP.match(path.name) is not None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_path(path: Path) -> None:
    """Remove a file or a folder tree; gone already is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_stale(target: str | Path) -> list[Path]:
    """Remove the temporaries of earlier writers of ``target`` that died without cleaning up
    (their process is gone; one of an older version without a process id once an hour old).
    If ``target`` itself is missing because such a writer died in the middle of swapping a
    directory, its old copy is first put back. Returns what was removed."""
    target = Path(target)
    removed: list[Path] = []
    try:
        siblings = sorted(target.parent.glob(f".{target.name}.*"))
    except OSError:
        return removed
    stale: list[Path] = []
    olds: list[Path] = []
    legacy: set[Path] = set()  # old copies without a process id: removed only once an hour old
    for p in siblings:
        m = _TEMP.match(p.name)
        if m is None or m.group("name") != target.name:
            continue
        pid = m.group("pid") or m.group("oldpid")
        dead = pid is not None and int(pid) != os.getpid() and not _alive(int(pid))
        if m.group("old") and (dead or pid is None):
            olds.append(p)  # a copy a dead writer set aside: the last good one if the target is gone
            if pid is None:
                legacy.add(p)
        elif dead or (pid is None and _older_than(p, LEGACY_AGE_S)):
            stale.append(p)
    if olds and not os.path.lexists(target):
        newest = max(olds, key=_mtime)
        try:
            os.rename(newest, target)
        except OSError:
            return removed  # left as they are: nothing is deleted while the target is missing
        olds.remove(newest)
    stale += [p for p in olds if p not in legacy or _older_than(p, LEGACY_AGE_S)]
    for p in stale:
        remove_path(p)
        removed.append(p)
    return removed


def recover_folder(folder: str | Path) -> list[Path]:
    """:func:`clean_stale` for every target in ``folder`` that has temporaries (a resumed run's
    folder, before it is read): dead writers' leftovers go, swapped-out copies come back."""
    try:
        names = {m.group("name") for p in Path(folder).iterdir() if (m := _TEMP.match(p.name)) is not None}
    except OSError:
        return []
    return [p for name in sorted(names) for p in clean_stale(Path(folder) / name)]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


class AtomicPath:
    """``with AtomicPath(path) as tmp:`` write the file ``tmp``; it becomes ``path`` on success.

    ``suffix`` is the temporary's ending (a writer that picks its format from the name needs the
    real one, e.g. ``.mp4``). The parent folder must exist (see :func:`make_parents`)."""

    def __init__(self, path: str | Path, *, suffix: str = ".tmp") -> None:
        self.path = Path(path)
        self.suffix = suffix
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        clean_stale(self.path)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=_prefix(self.path.name), suffix=self.suffix)
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self.tmp is not None, "AtomicPath exited without entering"
        tmp, self.tmp = self.tmp, None
        if exc_type is not None:
            tmp.unlink(missing_ok=True)
            return
        crash_point()  # the temporary is complete, not yet renamed
        try:
            share_mode(tmp)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def write_file(path: str | Path, data: bytes | str, *, fsync: bool = False) -> None:
    """Write ``data`` (str as UTF-8) to ``path`` atomically; ``fsync`` flushes it to disk before
    the rename, so a crash right after cannot leave an empty file under the final name."""
    payload = data.encode() if isinstance(data, str) else data
    with AtomicPath(path) as tmp, open(tmp, "wb") as f:
        f.write(payload)
        if fsync:
            f.flush()
            os.fsync(f.fileno())


class AtomicDirectory:
    """``with AtomicDirectory(target) as tmp:`` fill the folder ``tmp``; it becomes ``target`` on success.

    ``target`` may be absent or an empty directory; with ``replace=True`` an existing non-empty
    one is swapped out (kept until the new copy is in place, then deleted), otherwise one that
    appeared meanwhile raises ``FileExistsError``. The parent folder must exist."""

    def __init__(self, target: str | Path, *, replace: bool = False) -> None:
        self.target = Path(target)
        self.replace = replace
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        clean_stale(self.target)
        tmp = Path(tempfile.mkdtemp(dir=self.target.parent, prefix=_prefix(self.target.name), suffix=".tmp"))
        try:
            share_mode(tmp, directory=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.tmp = tmp
        return tmp

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self.tmp is not None, "AtomicDirectory exited without entering"
        tmp, self.tmp = self.tmp, None
        if exc_type is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        try:
            self._swap_into_place(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _swap_into_place(self, tmp: Path) -> None:
        target = self.target
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()  # os.replace cannot replace a directory, even an empty one
        crash_point()  # the new copy is complete, not yet renamed
        if not target.exists():
            os.replace(tmp, target)
            return
        if not self.replace:
            raise FileExistsError(f"{target} appeared while writing")
        # Keep the old copy until the new one is in place, so a failed rename loses nothing.
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent))
        old.rmdir()
        os.rename(target, old)
        crash_point()  # neither copy is at the target: the next writer puts the old one back
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(old, target)
            raise
        crash_point()  # the old copy is left over: the next writer removes it
        shutil.rmtree(old, ignore_errors=True)
