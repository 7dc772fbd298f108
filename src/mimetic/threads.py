"""How many threads torch runs on under mimetic: one, unless the user says otherwise.

mimetic's networks are small; on a busy 2-core machine torch's default (one thread per core)
made a BC fit 30x slower (115.8 s against 3.8 s at one thread, with one core busy elsewhere).
So the library, like the CLI, runs torch on one thread by default:

- ``MIMETIC_THREADS=N`` sets N threads;
- otherwise ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` (which torch itself reads) keep torch's
  own setting, and so does a thread count the user chose with ``torch.set_num_threads`` before
  importing mimetic;
- otherwise one thread.

``import mimetic`` never imports torch for this: if torch is already imported the default is
applied at once, else right after torch's first import (by mimetic or by the user's code), so
that a later ``torch.set_num_threads`` of the user's always wins. :func:`set_threads` changes
the count explicitly, now or when torch arrives; the CLI uses it (``MIMETIC_THREADS`` or one
thread, whatever the environment says otherwise).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mimetic.errors import ConfigError

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

ENV = "MIMETIC_THREADS"
DEFAULT = 1
TORCH_ENVS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # torch sizes its pool from these itself

_pending: int | None = None  # what to apply when torch is imported (None: the library default)


def threads_from_env() -> int | None:
    """``MIMETIC_THREADS`` as a positive integer, None when it is unset; ConfigError otherwise."""
    text = os.environ.get(ENV)
    if text is None:
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(f"{ENV} must be a positive integer, got {text!r}")
    return int(text)


def default_threads() -> tuple[int | None, bool]:
    """The library's choice and whether MIMETIC_THREADS made it: (N, True) from MIMETIC_THREADS,
    else (None, False) (torch decides) where OMP_NUM_THREADS or MKL_NUM_THREADS is set, else
    (:data:`DEFAULT`, False). A bad MIMETIC_THREADS is ignored with a warning here: it may be
    read while torch is being imported, where an exception would leave torch half-loaded (the
    CLI refuses it with one error line instead)."""
    try:
        n = threads_from_env()
    except ConfigError as e:
        warnings.warn(f"{e}; ignoring it", RuntimeWarning, stacklevel=2)
        n = None
    if n is not None:
        return n, True
    return (None if any(os.environ.get(k) for k in TORCH_ENVS) else DEFAULT), False


def set_threads(n: int) -> None:
    """Run torch on ``n`` threads: at once if torch is imported, else as soon as it is (this
    does not import torch)."""
    global _pending
    if n < 1:
        raise ConfigError(f"the number of torch threads must be >= 1, got {n}")
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(n)
    else:
        _pending = n
        _watch_torch()


def _untouched(torch: Any) -> bool:
    """Whether torch still has its own default intra-op thread count. Without OMP_NUM_THREADS /
    MKL_NUM_THREADS both of torch's pools default to the machine's cores, and
    ``torch.set_num_threads`` changes only the intra-op one, so a user's choice shows as a
    difference (reading the inter-op count does not start that pool)."""
    return torch.get_num_threads() == torch.get_num_interop_threads()


def _on_torch(torch: ModuleType) -> None:
    """Right after torch's first import: nobody can have changed its threads yet."""
    n = _pending if _pending is not None else default_threads()[0]
    if n is not None:
        torch.set_num_threads(n)


def apply_default() -> None:
    """What ``import mimetic`` does: the library default, now if torch is imported (unless the
    user already chose a thread count), else when torch first is."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "set_num_threads"):
        _watch_torch()
        return
    n, explicit = default_threads()
    if n is not None and (explicit or _untouched(torch)):
        torch.set_num_threads(n)


class _TorchWatcher:
    """A ``sys.meta_path`` finder that finds nothing itself (importlib.abc.MetaPathFinder's
    protocol; importlib.abc costs 20 ms of startup): asked for ``torch``, it lets the finders
    after it find torch, and has the loader that comes back call :func:`_on_torch` once torch has
    loaded. A mere ``find_spec("torch")`` probe (no import) leaves it watching."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> ModuleSpec | None:
        if name != "torch":
            return None
        spec = None
        for finder in sys.meta_path:
            find = None if isinstance(finder, _TorchWatcher) else getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                break
        run = getattr(spec.loader, "exec_module", None) if spec is not None else None
        if run is None:
            return spec  # not found, or a legacy loader: torch then keeps its own threads
        loader = spec.loader

        def exec_module(module: ModuleType) -> None:
            del loader.exec_module  # the loader's own method again (the instance attribute goes)
            run(module)
            _unwatch()  # torch is in: a failed import keeps watching for the next try
            _on_torch(module)

        loader.exec_module = exec_module  # type: ignore[union-attr]  # this loader instance only
        return spec


def _watch_torch() -> None:
    if not any(isinstance(f, _TorchWatcher) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchWatcher())


def _unwatch() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _TorchWatcher)]
