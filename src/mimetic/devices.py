"""Where torch runs (``--device``) and in which precision it trains (``--precision``).

Devices: ``auto`` (a CUDA GPU if torch sees one, else Apple's MPS, else the CPU), ``cpu``,
``cuda`` (or ``cuda:N``) and ``mps``. A device this torch build or machine lacks is refused with
one line before any work starts.

Precisions (training only; weights, the optimiser and the loss's reduction stay float32, the
forward pass runs under ``torch.autocast``): ``fp32``, ``bf16`` (CPU and GPUs that support it)
and ``fp16`` (GPUs only, with a gradient scaler against underflow; CPUs have no fast fp16 path).

Randomness stays on the CPU: policies draw noise from their own CPU generator and move it to the
device, so a seed gives the same noise, and so the same fit up to rounding, on every device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from mimetic.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_name(device: str) -> None:
    """Refuse a device name that is none of ``DEVICES`` (``cuda:N`` allowed), without probing hardware."""
    base, _, index = device.partition(":")
    if base not in DEVICES or (index and not (base == "cuda" and index.isdigit())):
        raise ConfigError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {device!r}")


def check_precision_name(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def resolve(device: str) -> torch.device:
    """The torch device ``device`` names here; ``auto`` picks cuda, then mps, then cpu."""
    check_name(device)
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA" if torch.version.cuda is None else "torch sees no CUDA GPU"
            raise ConfigError(f"device {device!r} is not available here ({why}); use --device cpu or auto")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r} is not available: torch sees {torch.cuda.device_count()} "
                              "CUDA GPU(s), numbered from 0")
    if device == "mps" and not _mps_available():
        raise ConfigError("device 'mps' is not available here (it needs Apple silicon and a torch with MPS); "
                          "use --device cpu or auto")
    return torch.device(device)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def check_precision(device: torch.device, precision: str) -> None:
    """Refuse a precision ``device`` cannot train in, with what to use instead."""
    check_precision_name(precision)
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError("precision fp16 needs a GPU (the CPU has no fast float16 kernels); use bf16 or fp32")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"this GPU ({torch.cuda.get_device_name(device)}) does not support bf16; use fp16 or fp32")


def check_available(device: str, precision: str) -> torch.device:
    """``device`` resolved and ``precision`` checked on it: what a command calls before any work."""
    resolved = resolve(device)
    check_precision(resolved, precision)
    return resolved


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """The forward pass in ``precision`` on ``device`` (nothing changes for fp32)."""
    if precision == "fp32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=_DTYPES[precision]):
        yield


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler | None:
    """fp16's loss scaler (float16 gradients underflow without one); None for fp32 and bf16."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of ``module``'s first parameter or buffer (the CPU when it has none)."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def randn(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None, *, like: torch.Tensor
          ) -> torch.Tensor:
    """Standard normal float32 noise of ``shape`` from a CPU ``generator`` (None: torch's global
    one), on ``like``'s device: the same draws whatever the device."""
    return torch.randn(shape, generator=generator).to(like.device)
