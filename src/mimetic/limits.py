"""Resource limits checked *before* allocation: one line instead of an OOM kill.

Sizes that come from a config, an option or a file (network widths, ensemble counts, window
lengths, dataset shapes) are turned into a byte estimate and compared with one cap:

- ``MIMETIC_MAX_MEMORY`` (e.g. ``8G``, ``512M``, ``2.5G``, or plain bytes) when set, else
- half of this machine's physical memory (8 GiB where that cannot be read).

The CLI's ``--max-memory SIZE`` sets the same cap for one command (:func:`set_memory_cap`). The
estimate is deliberately simple (parameters x bytes, times a factor for gradients and optimiser
moments where training follows): it exists to refuse sizes that are wrong by orders of magnitude
(a width of 10^9 typed for 10^3), not to budget memory to the last megabyte.
"""

from __future__ import annotations

import os
import re

from mimetic.errors import ConfigError

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_FALLBACK = 8 * 1024**3
_override: int | None = None

# Training keeps, per parameter, the weight, its gradient and AdamW's two moments (fp32 each).
TRAINING_FACTOR = 4


class ResourceError(ConfigError):
    """A size that would need more memory than the cap allows."""


def parse_size(text: str) -> int:
    """``"8G"`` -> bytes (K, M, G, T are powers of 1024; a bare number is bytes)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if m is None or float(m.group(1)) <= 0:
        raise ConfigError(f"memory size must be a positive number with an optional unit K/M/G/T, got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 2 * _FALLBACK


def memory_cap() -> int:
    """The cap in bytes: :func:`set_memory_cap`'s value, else ``MIMETIC_MAX_MEMORY``, else half the RAM."""
    if _override is not None:
        return _override
    text = os.environ.get("MIMETIC_MAX_MEMORY")
    if text:
        try:
            return parse_size(text)
        except ConfigError:
            raise ConfigError(f"MIMETIC_MAX_MEMORY must be a size such as 8G or 512M, got {text!r}") from None
    return _physical_memory() // 2


def cap_override() -> int | None:
    """The value :func:`set_memory_cap` set, or None."""
    return _override


def set_memory_cap(n_bytes: int | None) -> None:
    """Set (or with None, clear) the cap for this process, above the environment variable."""
    global _override
    _override = None if n_bytes is None else int(n_bytes)


def human(n_bytes: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n_bytes) < 1024 or unit == "TiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def check_bytes(what: str, n_bytes: float, *, cap: int | None = None) -> None:
    """Refuse ``what`` in one line if it needs more than the cap (``cap`` or :func:`memory_cap`)."""
    limit = memory_cap() if cap is None else cap
    if n_bytes > limit:
        raise ResourceError(f"{what} would need about {human(n_bytes)}, over the memory cap of {human(limit)}; "
                            "check the sizes, or raise the cap with --max-memory SIZE (or MIMETIC_MAX_MEMORY)")
