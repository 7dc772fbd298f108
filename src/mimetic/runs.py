"""Run directories: config (JSON), metrics (JSONL + TensorBoard events), checkpoint.

A run is written into a hidden temporary sibling and renamed into place only when it finishes,
so a crash or Ctrl-C never leaves a half-written run directory behind (DESIGN.md, rule 7).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from mimetic.errors import CheckpointError, ConfigError


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once at import, before any writer thread runs
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def share_mode(path: str | Path, *, directory: bool = False) -> None:
    """Give a file made by mkstemp/mkdtemp (always private, 0600/0700) the permissions a plain
    ``open``/``mkdir`` would have: run outputs and videos are meant to be read by others."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_UMASK)


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
    path = Path(path)
    text = json_line(obj, indent=2) + "\n"  # serialise first: a TypeError leaves no temp file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        share_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    created: list[Path] = []
    for p in reversed(path.parents):
        if p.exists():
            continue
        try:
            p.mkdir()
        except OSError as e:
            remove_dirs(created)
            raise ConfigError(f"cannot create the folder {p} for {path}: {e.strerror or e}") from None
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


def write_files_atomic(out_dir: str | Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (name -> bytes, rendered beforehand) into a hidden temporary sibling folder
    renamed to ``out_dir`` (absent or empty): a failure at any point leaves no partial output,
    nor the parent folders created for it."""
    out_dir = check_new_run_dir(out_dir)
    created = make_parents(out_dir)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        share_mode(tmp, directory=True)
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if out_dir.exists():
            out_dir.rmdir()  # checked empty above; os.replace cannot replace a directory otherwise
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
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

    def __enter__(self) -> RunDir:
        self._parents = make_parents(self.final)
        try:
            self.path = Path(tempfile.mkdtemp(dir=self.final.parent, prefix=f".{self.final.name}.", suffix=".tmp"))
            share_mode(self.path, directory=True)
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
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            remove_dirs(self._parents)
            return
        if self.final.exists():
            self.final.rmdir()  # checked empty in __init__
        os.replace(self.path, self.final)
        self.path = self.final
