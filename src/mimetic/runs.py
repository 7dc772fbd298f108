"""Run directories: config (JSON), metrics (JSONL + TensorBoard events), checkpoint.

A run is written into a hidden temporary sibling and renamed into place only when it finishes,
so a crash or Ctrl-C never leaves a half-written run directory behind (DESIGN.md, rule 7).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from mimetic.errors import ConfigError


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` via a temporary file in the same folder and os.replace."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, default=_json_default)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


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
        self.final = Path(path)
        if self.final.exists() and any(self.final.iterdir()):
            raise ConfigError(f"run directory {self.final} already exists and is not empty")
        self.config = config
        self.tensorboard = tensorboard
        self.path = self.final  # replaced by the temporary folder on __enter__
        self._metrics = None
        self._tb = None

    def __enter__(self) -> RunDir:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(dir=self.final.parent, prefix=f".{self.final.name}.", suffix=".tmp"))
        write_json_atomic(self.path / "config.json", self.config)
        self._metrics = open(self.path / "metrics.jsonl", "w")
        if self.tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

            self._tb = SummaryWriter(log_dir=str(self.path / "tb"))
        return self

    def log(self, step: int, metrics: dict[str, float], *, prefix: str = "") -> None:
        """Append one JSONL record and the scalar TensorBoard events for ``step``."""
        assert self._metrics is not None, "log() outside the run context"
        rec = {"step": int(step), **{f"{prefix}{k}": v for k, v in metrics.items()}}
        self._metrics.write(json.dumps(rec, default=_json_default) + "\n")
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
        if self._tb is not None:
            self._tb.close()
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        if self.final.exists():
            self.final.rmdir()  # checked empty in __init__
        os.replace(self.path, self.final)
        self.path = self.final
