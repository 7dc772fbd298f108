"""Policy checkpoints: ``policy.safetensors`` (weights and buffers) + ``policy.json`` (how to rebuild).

Loading never unpickles: the JSON names a registered policy ``kind`` whose class rebuilds an
untrained policy from the saved config and spec, then safetensors fills in the tensors. Each
file is written atomically (temp file + ``os.replace``); the JSON is written last, so a
directory whose JSON exists always has matching weights unless two writers race.

A checkpointable policy class is an ``nn.Module`` with ``checkpoint_config()``,
``checkpoint_spec()`` (a dict with at least ``task``) and a ``from_checkpoint(config, spec)``
classmethod, registered once with :func:`register_policy`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from mimetic import devices
from mimetic.atomic import write_file
from mimetic.errors import CheckpointError, ConfigError, MimeticError
from mimetic.protocols import TrainablePolicy

WEIGHTS_FILE = "policy.safetensors"
META_FILE = "policy.json"
FORMAT = "mimetic-policy"
FORMAT_VERSION = 1


class CheckpointablePolicy(TrainablePolicy, Protocol):
    """What :func:`save_policy` / :func:`load_policy` need besides ``nn.Module``'s state_dict."""

    def checkpoint_config(self) -> dict[str, Any]: ...

    def checkpoint_spec(self) -> dict[str, Any]: ...

    @classmethod
    def from_checkpoint(cls, config: Mapping[str, Any], spec: Mapping[str, Any]) -> CheckpointablePolicy: ...


_REGISTRY: dict[str, type] = {}


def register_policy(kind: str, cls: type) -> None:
    """Make ``cls`` loadable under ``kind``, the name written into ``policy.json``."""
    if _REGISTRY.get(kind, cls) is not cls:
        raise ConfigError(f"policy kind {kind!r} is already registered to {_REGISTRY[kind].__name__}")
    _REGISTRY[kind] = cls


def registered_kinds() -> tuple[str, ...]:
    """Policy kinds :func:`load_policy` can rebuild."""
    return tuple(sorted(_REGISTRY))


def policy_class(kind: str) -> type | None:
    """The class registered for ``kind`` (None when unknown)."""
    return _REGISTRY.get(kind)


def kind_of(policy: object) -> str:
    for kind, cls in _REGISTRY.items():
        if type(policy) is cls:
            return kind
    raise CheckpointError(
        f"cannot save a {type(policy).__name__}: register it with register_policy(kind, cls) first"
    )


def save_policy(
    policy: CheckpointablePolicy, directory: str | os.PathLike[str], *, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``policy.safetensors`` and ``policy.json`` into ``directory`` (created if missing).

    ``extra`` (JSON-able: training metadata, dataset name, ...) is stored under ``"extra"`` and
    comes back from :func:`read_checkpoint_meta`. Returns the directory.
    """
    kind = kind_of(policy)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": kind,
        "config": policy.checkpoint_config(),
        "spec": policy.checkpoint_spec(),
        "extra": extra or {},
    }
    try:
        meta_bytes = json.dumps(meta, indent=2, allow_nan=False).encode()
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"checkpoint metadata is not plain JSON ({err}); pass only str/number/list/dict in extra"
        ) from None
    state = {k: v.detach().to("cpu").contiguous() for k, v in policy.state_dict().items()}  # type: ignore[attr-defined]
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        write_file(path / WEIGHTS_FILE, save_safetensors(state), fsync=True)
        write_file(path / META_FILE, meta_bytes + b"\n", fsync=True)
    except OSError as err:
        raise CheckpointError(f"cannot write checkpoint to {path}: {err.strerror or err}") from None
    return path


def read_checkpoint_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``policy.json`` of a checkpoint (kind, config, spec, extra), validated."""
    path = Path(directory)
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint directory at {path}")
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"{path} has no {META_FILE}; is it a mimetic policy checkpoint directory?")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"corrupt {meta_path}: {err}") from None
    except RecursionError:  # json's decoder recurses once per nesting level
        raise CheckpointError(f"corrupt {meta_path}: nested too deeply") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path} is not a mimetic policy checkpoint (format field missing)")
    if not isinstance(meta.get("version"), int) or meta["version"] > FORMAT_VERSION:
        raise CheckpointError(f"{meta_path} has format version {meta.get('version')!r}; upgrade mimetic to read it")
    for key, kind in (("kind", str), ("config", dict), ("spec", dict)):
        if not isinstance(meta.get(key), kind):
            raise CheckpointError(f"corrupt {meta_path}: field {key!r} missing or not a {kind.__name__}")
    if not isinstance(meta.get("extra", {}), dict):
        raise CheckpointError(f"corrupt {meta_path}: field 'extra' is not a dict")
    if not isinstance(meta["spec"].get("task"), (str, type(None))):
        raise CheckpointError(f"corrupt {meta_path}: spec.task is {repr(meta['spec']['task'])[:40]}, not a task name")
    return meta


def load_policy(directory: str | os.PathLike[str], *, expect_task: str | None = None,
                device: str = "cpu") -> CheckpointablePolicy:
    """Rebuild a saved policy (no pickle) on ``device`` (see :mod:`mimetic.devices`; a checkpoint
    saved on any device loads on any other); ``expect_task`` rejects checkpoints of other tasks."""
    target = devices.resolve(device)  # an unavailable device fails before any file is read
    path = Path(directory)
    meta = read_checkpoint_meta(path)
    task = meta["spec"].get("task")
    if expect_task is not None and task != expect_task:
        if task is None:
            raise CheckpointError(f"checkpoint {path} records no task, so it cannot be checked against {expect_task!r}")
        raise CheckpointError(f"checkpoint {path} is for task {task!r}, not {expect_task!r}")
    cls = _REGISTRY.get(meta["kind"])
    if cls is None:
        known = ", ".join(registered_kinds()) or "none"
        raise CheckpointError(f"{path / META_FILE} has unknown policy kind {meta['kind']!r} (known: {known})")
    try:
        policy = cls.from_checkpoint(meta["config"], meta["spec"])  # type: ignore[attr-defined]
    except KeyError as err:
        raise CheckpointError(f"cannot rebuild the policy from {path / META_FILE}: field {err} missing") from None
    except (MimeticError, TypeError, ValueError, OverflowError, MemoryError, RuntimeError) as err:
        # Overflow: a number past float/int64; Memory/Runtime: sizes numpy or torch could not allocate
        raise CheckpointError(f"cannot rebuild the policy from {path / META_FILE}: {_brief(err)}") from None
    _load_weights(policy, path / WEIGHTS_FILE)
    policy.to(target)  # type: ignore[attr-defined]
    policy.eval()
    return policy


def _load_weights(policy: torch.nn.Module, weights_path: Path) -> None:
    """Fill ``policy`` from safetensors, checking names and shapes first for a one-line error."""
    try:
        state = load_safetensors(weights_path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"{weights_path.parent} has no {WEIGHTS_FILE}; the checkpoint is incomplete") from None
    except (OSError, SafetensorError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"corrupt {weights_path}: {err}") from None
    expected = policy.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{weights_path} does not match its policy.json: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{weights_path}: {name!r} has shape {tuple(state[name].shape)}, "
                f"policy.json implies {tuple(tensor.shape)}"
            )
    params = {name for name, _ in policy.named_parameters()}
    for name, tensor in state.items():  # NaN weights would only show up later, as NaN actions
        if not tensor.is_floating_point():
            continue
        # weights must be finite; buffers may hold infinite action bounds, but never NaN
        bad = int((~torch.isfinite(tensor)).sum()) if name in params else int(torch.isnan(tensor).sum())
        if bad:
            raise CheckpointError(f"{weights_path} has {bad} NaN/inf values in {name!r}; the checkpoint is unusable")
    policy.load_state_dict(state)


def _brief(err: BaseException) -> str:
    """An exception's message on one line of at most 300 characters (it may quote JSON keys)."""
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else text[:297] + "..."
