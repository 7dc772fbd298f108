"""Run directories: config (JSON), metrics (JSONL + TensorBoard events), checkpoint.

A run is written into a hidden temporary sibling and renamed into place only when it finishes,
so a crash or Ctrl-C never leaves a half-written run directory behind (DESIGN.md, rule 7).
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


def check_new_run_dir(path: str | Path) -> Path:
    """``path`` as a Path if a run may be written there (absent, or an empty directory), else a
    ConfigError; commands call it before any work so a bad --out fails fast."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run directory {path} already exists as a file")
    if path.is_dir() and any(path.iterdir()):
        raise ConfigError(f"run directory {path} already exists and is not empty; choose another directory")
    return path


def make_parents(path: Path) -> list[Path]:
    """Create the missing parents of ``path``; returns them outermost first, for :func:`remove_dirs`."""
    try:
        return atomic.make_parents(path)
    except OSError as e:
        raise ConfigError(f"cannot create the folder {e.filename} for {path}: {e.strerror or e}") from None


def write_files_atomic(out_dir: str | Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (name -> bytes, rendered beforehand) into a hidden temporary sibling folder
    renamed to ``out_dir`` (absent or empty): a failure at any point leaves no partial output,
    nor the parent folders created for it."""
    out_dir = check_new_run_dir(out_dir)
    created = make_parents(out_dir)
    try:
        with atomic.AtomicDirectory(out_dir) as tmp:
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
    """Context manager for one run's output folder (written atomically as a whole)."""

    def __init__(self, path: str | Path, *, config: dict, tensorboard: bool = True) -> None:
        self.final = check_new_run_dir(path)
        self.config = config
        self.tensorboard = tensorboard
        self.path = self.final  # replaced by the temporary folder on __enter__
        self._metrics = None
        self._tb = None
        self._parents: list[Path] = []
        self._dir = atomic.AtomicDirectory(self.final)

    def __enter__(self) -> RunDir:  # noqa: PYI034
        self._parents = make_parents(self.final)
        try:
            self.path = self._dir.__enter__()
        except OSError as e:
            remove_dirs(self._parents)
            raise ConfigError(f"cannot create run directory {self.final}: {e.strerror or e}") from None
        try:
            write_json_atomic(self.path / "config.json", self.config)
            self._metrics = open(self.path / "metrics.jsonl", "w")
            if self.tensorboard:
                from torch.utils.tensorboard import (
                    SummaryWriter,  # slow import: only when used
                )

                self._tb = SummaryWriter(log_dir=str(self.path / "tb"))
        except BaseException as e:
            self.__exit__(type(e), e, e.__traceback__)
            raise
        return self

    def log(self, step: int, metrics: dict[str, float], *, prefix: str = "") -> None:
        """Append one JSONL record and the scalar TensorBoard events for ``step``."""
        assert self._metrics is not None, "log() outside the run context"
        rec = {"step": int(step), **{f"{prefix}{k}": v for k, v in metrics.items()}}
        self._metrics.write(json_line(rec) + "\n")
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self._tb.add_scalar(f"{prefix}{k}", v, step)

    def write_json(self, name: str, obj: Any) -> None:
        write_json_atomic(self.path / name, obj)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        try:
            self._dir.__exit__(exc_type, exc, tb)  # on success: renamed into place (checked empty in __init__)
        except BaseException:
            remove_dirs(self._parents)
            raise
        if exc_type is not None:
            remove_dirs(self._parents)
            return
        self.path = self.final
