"""Run directories: config (JSON), metrics (JSONL + TensorBoard events), checkpoints, result.

A run directory is made at its final path when training starts and is *resumable* from then on:

- ``config.json``: what the run is (written once, atomically); ``args`` holds every option, so
  ``--resume`` rebuilds the run exactly as it started;
- ``metrics.jsonl``: one line per record, flushed as written;
- ``state/``: the last checkpoint (networks, optimisers, RNG states, counters, and the number of
  metrics lines it covers), replaced atomically as a whole every ``checkpoint_every`` seconds, so
  a ``kill -9`` at any moment loses at most that much work; on resume the metrics file is cut back
  to the checkpoint's line count (no duplicated rows) and TensorBoard events past it are purged;
- ``result.json``: written last; a run without it is unfinished (interrupted or killed) and
  ``--resume RUN`` continues it. A new run refuses an unfinished one's folder and says so.

A run that fails before its first checkpoint (bad input found late, say) is removed with the
folders made for it, so bad input never leaves a partial directory behind (DESIGN.md, rule 7).
"""

from __future__ import annotations

import json
import math
import os  # noqa: F401  (tests fail the final rename through runs.os.replace)
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from mimetic import atomic
from mimetic.atomic import remove_dirs, share_mode  # noqa: F401  (share_mode: re-exported)
from mimetic.errors import CheckpointError, ConfigError


def strict_json(obj: Any) -> Any:
    """``obj`` with NaN/inf floats replaced by None (null), so every reader can parse the JSON
    (e.g. ``return_ci95`` of a single episode, ``normalized_score`` when expert == random)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def json_line(obj: Any, **kw: Any) -> str:
    """Strict JSON text of ``obj`` (arrays as lists, paths as strings, NaN/inf as null)."""
    return json.dumps(strict_json(_plain(obj)), allow_nan=False, **kw)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` via a temporary file in the same folder and os.replace."""
    text = json_line(obj, indent=2) + "\n"  # serialise first: a TypeError leaves no temp file
    atomic.write_file(path, text)


def _plain(obj: Any) -> Any:
    """Arrays, numpy scalars, paths, sets and tuples as plain JSON values, recursively."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "tolist"):
        return _plain(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


CONFIG = "config.json"
METRICS = "metrics.jsonl"
STATE = "state"
RESULT = "result.json"


def is_unfinished_run(path: str | Path) -> bool:
    """A run directory whose training started (config.json) but has no result.json yet."""
    path = Path(path)
    return (path / CONFIG).is_file() and not (path / RESULT).exists()


def check_new_run_dir(path: str | Path) -> Path:
    """``path`` as a Path if a run may be written there (absent, or an empty directory), else a
    ConfigError; commands call it before any work so a bad --out fails fast."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run directory {path} already exists as a file")
    if path.is_dir() and is_unfinished_run(path):
        raise ConfigError(f"run directory {path} holds an unfinished (interrupted or killed) run; continue it "
                          f"with --resume {path}, or choose another directory")
    if path.is_dir() and any(p for p in path.iterdir() if not atomic.is_temporary(p)):
        raise ConfigError(f"run directory {path} already exists and is not empty; choose another directory")
    return path


def make_parents(path: Path) -> list[Path]:
    """Create the missing parents of ``path``; returns them outermost first, for :func:`remove_dirs`."""
    try:
        return atomic.make_parents(path)
    except OSError as e:
        raise ConfigError(f"cannot create the folder {e.filename} for {path}: {e.strerror or e}") from None


def write_files_atomic(out_dir: str | Path, files: dict[str, bytes], *, replace: bool = False) -> None:
    """Write ``files`` (name -> bytes, rendered beforehand) into a hidden temporary sibling folder
    renamed to ``out_dir`` (absent or empty; with ``replace``, an existing folder, e.g. an
    experiment's work folder, is swapped out): a failure at any point leaves no partial output,
    nor the parent folders created for it."""
    out_dir = Path(out_dir) if replace else check_new_run_dir(out_dir)
    created = make_parents(out_dir)
    try:
        with atomic.AtomicDirectory(out_dir, replace=replace) as tmp:
            for name, data in files.items():
                (tmp / name).write_bytes(data)
    except BaseException:
        remove_dirs(created)
        raise


def write_tensors_json(directory: str | Path, name: str, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
    """``<name>.safetensors`` (tensors) + ``<name>.json`` (meta) in a new folder, written atomically:
    the form of training states and exported rewards (no pickle)."""
    from safetensors.torch import save as save_safetensors

    data = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    write_files_atomic(directory, {f"{name}.safetensors": save_safetensors(data),
                                   f"{name}.json": (json_line(meta) + "\n").encode()})


def read_tensors_json(directory: str | Path, name: str, *, missing: str, corrupt: str) -> tuple[dict[str, Any], Any]:
    """What :func:`write_tensors_json` wrote: (tensors, parsed JSON). A missing pair raises
    CheckpointError ``"<directory> <missing>"``, an unreadable one ``"<corrupt> in <directory>: why"``."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    path = Path(directory)
    try:
        meta = json.loads((path / f"{name}.json").read_text())
        tensors = load_safetensors((path / f"{name}.safetensors").read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"{path} {missing}") from None
    except (OSError, ValueError, SafetensorError) as err:
        raise CheckpointError(f"{corrupt} in {path}: {err}") from None
    except RecursionError:  # json's decoder recurses once per nesting level
        raise CheckpointError(f"{corrupt} in {path}: {name}.json is nested too deeply") from None
    return tensors, meta


def default_run_dir(kind: str, task: str, root: str | Path = "runs") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{kind}-{task.replace(':', '_').replace('/', '_')}-{stamp}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


class RunDir:
    """Context manager for one run's folder: a new run (``resume=False``) or an unfinished or
    finished one continued in place (``resume=True``; :attr:`state` is its last checkpoint)."""

    def __init__(self, path: str | Path, *, config: dict, tensorboard: bool = True, resume: bool = False,
                 checkpoint_every: float = 60.0) -> None:
        self.final = Path(path)
        if not resume:
            check_new_run_dir(self.final)
        elif not (self.final / CONFIG).is_file():
            raise CheckpointError(f"{self.final} is not a run directory (no {CONFIG})")
        self.config = config
        self.tensorboard = tensorboard
        self.resume = resume
        self.checkpoint_every = float(checkpoint_every)
        self.path = self.final
        self.state: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.saved = False  # a checkpoint exists: the folder is worth keeping if the run fails
        self._lines = 0
        self._last_save = time.monotonic()
        self._metrics: Any = None
        self._tb: Any = None
        self._parents: list[Path] = []

    def __enter__(self) -> RunDir:  # noqa: PYI034
        try:
            if self.resume:
                self._reopen()
            else:
                self._create()
            if self.tensorboard:
                from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

                purge = int(self.state[1].get("metrics_step", 0)) + 1 if self.state is not None else None
                self._tb = SummaryWriter(log_dir=str(self.path / "tb"), purge_step=purge)
        except BaseException as e:
            self.__exit__(type(e), e, e.__traceback__)
            raise
        return self

    def _create(self) -> None:
        self._parents = make_parents(self.final)
        try:
            self.final.mkdir(exist_ok=True)
        except OSError as e:
            remove_dirs(self._parents)
            raise ConfigError(f"cannot create run directory {self.final}: {e.strerror or e}") from None
        atomic.clean_stale(self.final)
        write_json_atomic(self.final / CONFIG, self.config)
        self._metrics = open(self.final / METRICS, "w")

    def _reopen(self) -> None:
        """Continue in place: drop leftovers of a killed writer, read the last checkpoint, and cut
        the metrics back to the lines it covers (a finished run becomes unfinished again)."""
        self.saved = True  # never delete a run we continue
        atomic.recover_folder(self.final)  # a swap (state/, best/, ...) killed midway: its old copy back
        for p in self.final.iterdir():
            if atomic.is_temporary(p):
                atomic.remove_path(p)
        if (self.final / STATE).is_dir():
            self.state = read_tensors_json(self.final / STATE, "state", corrupt="corrupt training state",
                                           missing="has no training state")
            if not isinstance(self.state[1], dict):
                raise CheckpointError(f"corrupt training state in {self.final / STATE}: state.json is not an object")
        (self.final / RESULT).unlink(missing_ok=True)
        keep = int(self.state[1].get("metrics_lines", 0)) if self.state is not None else 0
        # the step of the last record kept: a checkpoint saved before any new record must say it again
        self._step = int(self.state[1].get("metrics_step", 0)) if self.state is not None else 0
        self._lines = _truncate_lines(self.final / METRICS, keep)
        self._metrics = open(self.final / METRICS, "a")
        write_json_atomic(self.final / CONFIG, self.config)

    def log(self, step: int, metrics: dict[str, float], *, prefix: str = "") -> None:
        """Append one JSONL record and the scalar TensorBoard events for ``step``."""
        assert self._metrics is not None, "log() outside the run context"
        rec = {"step": int(step), **{f"{prefix}{k}": v for k, v in metrics.items()}}
        self._metrics.write(json_line(rec) + "\n")
        self._metrics.flush()
        self._lines += 1
        self._step = int(step)
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self._tb.add_scalar(f"{prefix}{k}", v, step)

    _step = 0

    def due(self) -> bool:
        """Whether ``checkpoint_every`` seconds have passed since the last checkpoint (0: always)."""
        return time.monotonic() - self._last_save >= self.checkpoint_every

    def save_state(self, tensors: dict[str, Any], meta: dict[str, Any], *,
                   write_more: Any = None) -> None:
        """Replace ``state/`` atomically with ``tensors`` + ``meta`` (and whatever
        ``write_more(folder)`` adds, e.g. a dataset); the metrics written so far are flushed to
        disk first, and the checkpoint records how many lines they are."""
        from safetensors.torch import save as save_safetensors

        if self._metrics is not None:
            self._metrics.flush()
            os.fsync(self._metrics.fileno())
        if self._tb is not None:
            self._tb.flush()
        meta = {**meta, "metrics_lines": self._lines, "metrics_step": self._step}
        data = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
        payload = save_safetensors(data)
        text = json_line(meta) + "\n"
        with atomic.AtomicDirectory(self.final / STATE, replace=True) as tmp:
            atomic.write_file(tmp / "state.safetensors", payload, fsync=True)
            if write_more is not None:
                write_more(tmp)
            atomic.write_file(tmp / "state.json", text, fsync=True)
        self.saved = True
        self._last_save = time.monotonic()

    def replace_dir(self, name: str, writer: Any) -> None:
        """Fill the subfolder ``name`` with ``writer(folder)`` and swap it in atomically (``best/``)."""
        with atomic.AtomicDirectory(self.final / name, replace=True) as tmp:
            writer(tmp)

    def write_json(self, name: str, obj: Any) -> None:
        write_json_atomic(self.path / name, obj)

    def finish(self, result: Any) -> None:
        """Write ``result.json``: from now on the run is finished."""
        self.write_json(RESULT, result)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if exc_type is not None and not self.saved and (self.final / CONFIG).exists():
            # nothing worth resuming was written: leave no trace of the run
            import shutil

            shutil.rmtree(self.final, ignore_errors=True)
            remove_dirs(self._parents)


def _truncate_lines(path: Path, keep: int) -> int:
    """Cut ``path`` after its first ``keep`` complete lines (a killed writer may have left more,
    or half of one); returns the lines kept."""
    if not path.exists():
        path.touch()
        return 0
    with open(path, "rb+") as f:
        data = f.read()
        end, count = 0, 0
        while count < keep:
            nl = data.find(b"\n", end)
            if nl < 0:
                break
            end, count = nl + 1, count + 1
        f.truncate(end)
    return count
