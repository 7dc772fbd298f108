"""Crash-safe experiments: every finished cell (one fit and its evaluation) is kept on disk.

An experiment is a grid of independent cells (method x seed x setting), each seeded on its own,
so a cell's result does not depend on which cells ran before it. While an experiment runs, its
output folder holds ``experiment.json`` (the command and its options) and ``cells/<key>.json``,
one file per finished cell, each written atomically; a killed or interrupted experiment continues
with ``mimetic experiment NAME --resume DIR``, recomputing only the cells it had not finished, and
its final files equal an uninterrupted run's (wall times aside). When all cells are in, the
experiment's own files (JSON, Markdown, PNG) replace the folder in one rename.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mimetic import atomic
from mimetic.errors import CheckpointError, ConfigError
from mimetic.runs import check_new_run_dir, make_parents, remove_dirs, write_json_atomic

T = TypeVar("T")
EXPERIMENT_FILE = "experiment.json"
CELLS = "cells"


class Cells:
    """The finished cells of one experiment run (no folder: nothing kept, every cell computed).

    ``stop`` is asked after every cell (Ctrl-C); when it says so, :meth:`__call__` raises
    ``on_stop()`` once the cell is safely on disk."""

    def __init__(self, out_dir: Path | None, *, stop: Callable[[], bool] | None = None,
                 on_stop: Callable[[int], BaseException] | None = None) -> None:
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.stop, self.on_stop = stop, on_stop
        self.done = 0

    @classmethod
    def start(cls, out_dir: Path | None, *, header: dict[str, Any], **kw: Any) -> Cells:
        """A new experiment's folder (absent or empty, checked first) with ``experiment.json``."""
        if out_dir is not None:
            if (Path(out_dir) / EXPERIMENT_FILE).is_file():
                raise ConfigError(f"{out_dir} holds an unfinished experiment; continue it with --resume {out_dir}, "
                                  "or choose another --out")
            out_dir = check_new_run_dir(out_dir)
            made = make_parents(out_dir)
            fresh = not out_dir.exists()
            try:
                out_dir.mkdir(exist_ok=True)
                write_json_atomic(out_dir / EXPERIMENT_FILE, header)
            except BaseException:
                if fresh:
                    shutil.rmtree(out_dir, ignore_errors=True)
                remove_dirs(made)
                raise
        return cls(out_dir, **kw)

    @classmethod
    def reopen(cls, out_dir: Path, **kw: Any) -> Cells:
        """An unfinished experiment's folder: its finished cells are reused."""
        if not (Path(out_dir) / EXPERIMENT_FILE).is_file():
            raise CheckpointError(f"{out_dir} is not an unfinished experiment (no {EXPERIMENT_FILE})")
        for p in (Path(out_dir) / CELLS).glob(".*"):
            if atomic.is_temporary(p):
                atomic.remove_path(p)
        return cls(Path(out_dir), **kw)

    def _path(self, key: str) -> Path:
        assert self.out_dir is not None
        return self.out_dir / CELLS / (re.sub(r"[^A-Za-z0-9_.=-]+", "_", key) + ".json")

    def __call__(self, key: str, compute: Callable[[], T], *, kind: Any) -> T:
        """The cell ``key``: read back if finished earlier, else ``compute()`` d and kept. ``kind``
        is its type (a dataclass, or ``list[SomeDataclass]``), to rebuild it from JSON."""
        if self.out_dir is None:
            return compute()
        path = self._path(key)
        if path.is_file():
            try:
                return from_json(kind, json.loads(path.read_text()))
            except (OSError, ValueError, TypeError, KeyError) as err:
                raise CheckpointError(f"cannot read the finished cell {path}: {err}") from None
        value = compute()
        path.parent.mkdir(exist_ok=True)
        # NaN stays NaN (Python's JSON extension): a cell must come back exactly as computed
        atomic.write_file(path, json.dumps(to_json(value)) + "\n", fsync=True)
        self.done += 1
        if self.stop is not None and self.stop() and self.on_stop is not None:
            raise self.on_stop(self.done)
        return value


def to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def from_json(kind: Any, data: Any) -> Any:
    """Rebuild a value of type ``kind`` (dataclasses, tuples, lists, dicts, optionals) from JSON."""
    origin = typing.get_origin(kind)
    if kind is Any or kind is None:
        return data
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return from_json(options[0], data) if len(options) == 1 else data
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(**{f.name: from_json(hints[f.name], data[f.name]) for f in dataclasses.fields(kind)
                       if f.init and f.name in data})
    if origin in (tuple, list):
        args = typing.get_args(kind)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json(args[0], v) for v in data)
        if origin is tuple:
            return tuple(from_json(a, v) for a, v in zip(args, data))
        return [from_json(args[0] if args else Any, v) for v in data]
    if origin is dict:
        _, value_kind = typing.get_args(kind) or (Any, Any)
        return {k: from_json(value_kind, v) for k, v in data.items()}
    if kind is float and isinstance(data, int):
        return float(data)
    return data


def split_names(values: Any) -> tuple[str, ...]:
    """('bc,dagger', 'gail') or 'bc dagger gail' -> ('bc', 'dagger', 'gail'): an experiment's
    list options take names separated by commas or spaces, in one string or several."""
    out: list[str] = []
    for v in (values,) if isinstance(values, str) else values:
        out += str(v).replace(",", " ").split()
    return tuple(out)
