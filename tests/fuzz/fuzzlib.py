"""The fuzzing harness: a time- and memory-bounded call, and corruption strategies.

The property every reader must keep, whatever the bytes on disk: it returns, or raises a
:class:`mimetic.errors.MimeticError` whose message is one line. Another exception type, a
multi-line message, a hang or an unbounded allocation is a crash.

Each call (:func:`isolated`) runs

- under ``RLIMIT_AS`` (the current address space plus ``headroom``), with mimetic's own memory
  cap set below that: a reader that checks sizes before allocating refuses an absurd declared
  shape in one line, one that does not shows up as a MemoryError / allocator RuntimeError crash
  instead of swapping the machine;
- under a time bound: an interval timer interrupts Python code that overruns it.

By default the call runs in this process (a fork per example would cost ~0.1 s, most of the
suite's time), with faulthandler as the backstop for a hang inside C: it ends the whole run with
every thread's traceback rather than letting CI hang. ``MIMETIC_FUZZ_FORK=1`` runs each call in
a forked child instead, killed after the time bound: slower, but a segfault or a hang in C is
then reported as one failing example (use it with ``MIMETIC_FUZZ=deep`` when hunting). Forking
after torch is imported is safe: tests run torch single-threaded (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import json
import math
import os
import pickle
import re
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from mimetic import limits
from mimetic.errors import MimeticError

CAP = 256 * 1024**2  # mimetic's memory cap during a call
HEADROOM = 768 * 1024**2  # address space a call may add to what the process holds when it starts
TIMEOUT = 20.0  # seconds one call may take; the readers take milliseconds on these tiny files


@dataclass(frozen=True)
class Outcome:
    """What a call in the child did: ``ok``, ``error`` (a MimeticError), ``crash``, ``hang`` or ``killed``."""

    kind: str
    error_type: str = ""
    message: str = ""
    detail: str = ""  # the traceback of a crash, or the child's wait status
    value: Any = None  # what the call returned, when it is picklable

    def check(self, what: str = "", *, keep: str | os.PathLike[str] | None = None) -> Outcome:
        """Assert the fuzzing property: success or one MimeticError line (returns self).

        With ``MIMETIC_FUZZ_SURVEY=FILE`` a violation is appended to FILE instead (one line: kind,
        exception type, the innermost mimetic frame, and where ``keep``, the damaged input, was
        copied to), so one run lists every distinct crash."""
        where = f" ({what})" if what else ""
        survey = os.environ.get("MIMETIC_FUZZ_SURVEY")
        if survey and not self.holds():
            kept = "-"
            if keep is not None:  # beside the survey file: FILE.kept/N/<the damaged input>
                os.makedirs(f"{survey}.kept", exist_ok=True)
                kept = tempfile.mkdtemp(dir=f"{survey}.kept")
                shutil.copytree(keep, os.path.join(kept, os.path.basename(keep)), symlinks=True)
            with open(survey, "a") as fh:
                fh.write(f"{self.kind}\t{self.error_type}\t{self.site()}\t{what}\t{kept}\t{self.message[:150]!r}\n")
            return self
        assert self.kind in ("ok", "error"), f"{self.kind}{where}: {self.error_type}: {self.message}\n{self.detail}"
        if self.kind == "error":
            assert self.message.strip(), f"empty {self.error_type} message{where}"
            assert "\n" not in self.message and "\r" not in self.message, (
                f"multi-line {self.error_type}{where}: {self.message!r}")
        return self

    def holds(self) -> bool:
        one_line = bool(self.message.strip()) and "\n" not in self.message and "\r" not in self.message
        return self.kind == "ok" or (self.kind == "error" and one_line)

    def site(self) -> str:
        """The innermost ``src/mimetic`` frame of a crash's traceback (file:line), or "-"."""
        frames = re.findall(r'File "([^"]*/mimetic/[^"]*)", line (\d+)', self.detail)
        return f"{frames[-1][0].split('/mimetic/')[-1]}:{frames[-1][1]}" if frames else "-"


def _address_space() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


def _child(fn: Callable[[], Any], write_fd: int, headroom: int, cap: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    limits.set_memory_cap(cap)
    limit = _address_space() + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        value = fn()
        try:
            pickle.dumps(value)
        except Exception:  # noqa: BLE001  (the value is only a convenience for the caller)
            value = None
        out = Outcome("ok", value=value)
    except MimeticError as exc:
        out = Outcome("error", type(exc).__name__, str(exc))
    except BaseException as exc:  # noqa: BLE001  (everything else is what we are looking for)
        out = Outcome("crash", type(exc).__name__, str(exc), traceback.format_exc())
    os.write(write_fd, pickle.dumps(out))


def isolated(fn: Callable[[], Any], *, timeout: float = TIMEOUT, headroom: int = HEADROOM,
             cap: int = CAP) -> Outcome:
    """Run ``fn()`` under a time bound and an address-space limit: in this process (fast), or with
    ``MIMETIC_FUZZ_FORK=1`` in a forked child (slower; survives segfaults and hangs inside C)."""
    if os.environ.get("MIMETIC_FUZZ_FORK") == "1":
        return _forked(fn, timeout=timeout, headroom=headroom, cap=cap)
    return _in_process(fn, timeout=timeout, headroom=headroom, cap=cap)


class _Hang(BaseException):
    """Raised by the interval timer into a call that overran its time bound."""


def _on_timer(signum: int, frame: Any) -> None:
    raise _Hang


def _in_process(fn: Callable[[], Any], *, timeout: float, headroom: int, cap: int) -> Outcome:
    """``fn()`` with this process's address space capped (soft limit, restored afterwards), a
    timer that interrupts Python code after ``timeout`` and, for code stuck in C where no signal
    handler runs, faulthandler ending the whole run with every thread's traceback."""
    old_limit = resource.getrlimit(resource.RLIMIT_AS)
    old_cap = limits._override
    old_handler = signal.signal(signal.SIGALRM, _on_timer)
    limit = _address_space() + headroom
    if old_limit[1] != resource.RLIM_INFINITY:
        limit = min(limit, old_limit[1])
    faulthandler.dump_traceback_later(3 * timeout, exit=True)
    try:
        limits.set_memory_cap(cap)
        resource.setrlimit(resource.RLIMIT_AS, (limit, old_limit[1]))
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            value = fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            resource.setrlimit(resource.RLIMIT_AS, old_limit)
        return Outcome("ok", value=value)
    except _Hang:
        return Outcome("hang", message=f"no answer within {timeout:.0f} s", detail=traceback.format_exc())
    except MimeticError as exc:
        return Outcome("error", type(exc).__name__, str(exc))
    except Exception as exc:  # noqa: BLE001  (everything else is what we are looking for)
        return Outcome("crash", type(exc).__name__, str(exc), traceback.format_exc())
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, old_handler)
        limits._override = old_cap


def _forked(fn: Callable[[], Any], *, timeout: float, headroom: int, cap: int) -> Outcome:
    """``fn()`` in a forked child, killed after ``timeout`` seconds."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 0
        try:
            os.close(read_fd)
            import threading

            import tqdm.auto
            import tqdm.std

            for cls in {tqdm.std.tqdm, tqdm.auto.tqdm}:  # not the parent's semaphore: see faultkit._own_tqdm_lock
                cls.set_lock(threading.RLock())
            _child(fn, write_fd, headroom, cap)
        except BaseException:  # noqa: BLE001
            code = 3
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return Outcome("hang", message=f"no answer within {timeout:.0f} s")
            ready, _, _ = select.select([read_fd], [], [], left)
            if ready:
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        return Outcome("killed", message="the child died without an answer", detail=f"wait status {status}")
    return pickle.loads(b"".join(chunks))


def cli(argv: list[str], **kw: Any) -> Outcome:
    """``mimetic ARGV`` in an isolated child; the value is ``(exit code, stderr text)``."""

    def run() -> tuple[int, str]:
        from mimetic.cli.main import main

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exc:
                code = int(exc.code or 0)
        return code, err.getvalue()

    return isolated(run, **kw)


# --------------------------------------------------------------------------- strategies

# Numbers that break readers: huge, negative, zero, non-finite, past int64, fractional.
NASTY_NUMBERS = st.sampled_from([0, -1, 1, 2, -(2**31), 2**31, 2**63, 2**64 + 1, 10**12, 10**30, 10**400,
                                 -1e308, 1e308, 0.5, -0.0, math.nan, math.inf, -math.inf])

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), NASTY_NUMBERS,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "NaN", "episode_0", "hdf5", "Box", "Discrete", "mlp", "cartpole", "float32", "int64",
                     "x" * 300, "a\nb"]),
)

JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=8,
)


def paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into a JSON document (dict keys and list indices), the root () first."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:8]):
            out += paths(v, (*prefix, i))
    return out


def _get(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def mutate_json(data: st.DataObject, doc: Any, *, rounds: int = 3) -> Any:
    """``doc`` with 1..``rounds`` structural mutations: values replaced by other types or nasty
    numbers, keys deleted, extra keys added, lists emptied or lengthened, strings holding JSON
    (Minari's spaces) mutated inside."""
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(1, rounds), label="rounds")):
        path = data.draw(st.sampled_from(paths(doc)), label="path")
        op = data.draw(st.sampled_from(["replace", "delete", "extra", "grow", "inner-json"]), label="op")
        if path == ():
            if op == "replace":
                return data.draw(JSON_VALUES, label="root")
            op = "extra"
        parent = _get(doc, path[:-1]) if path else None
        target = _get(doc, path)
        if op == "replace":
            parent[path[-1]] = data.draw(JSON_VALUES, label="value")
        elif op == "delete" and parent is not None:
            del parent[path[-1]]
        elif op == "extra" and isinstance(target, dict):
            target[data.draw(st.text(max_size=8), label="key")] = data.draw(JSON_VALUES, label="value")
        elif op == "grow" and isinstance(target, list):
            n = data.draw(st.sampled_from([0, 1, len(target) + 1, 1000]), label="length")
            filler = target[0] if target else data.draw(JSON_SCALARS, label="filler")
            parent[path[-1]] = (target * (n // max(len(target), 1) + 1))[:n] if target else [filler] * n
        elif op == "inner-json" and isinstance(target, str) and target.startswith(("{", "[")):
            try:
                inner = json.loads(target)
            except ValueError:
                continue
            parent[path[-1]] = json.dumps(mutate_json(data, inner, rounds=1), allow_nan=True)
    return doc


def json_text(data: st.DataObject, doc: Any) -> bytes:
    """The bytes of a corrupt JSON file: a mutated document, or broken text."""
    kind = data.draw(st.sampled_from(["mutated", "mutated", "mutated", "bytes", "deep", "text"]), label="json")
    if kind == "mutated":
        return json.dumps(mutate_json(data, doc), allow_nan=True).encode()
    if kind == "deep":  # nesting deeper than the recursion limit
        n = data.draw(st.sampled_from([1000, 100_000]), label="depth")
        return b"[" * n + b"]" * n
    if kind == "text":
        return data.draw(st.sampled_from([b"", b"null", b"{", b'{"format": NaN}', b"\xff\xfe\x00", b"[1, 2]",
                                          b'"policy"', b"1e999", b'{"a": 1}{"b": 2}']), label="text")
    return corrupt_bytes(data, json.dumps(doc).encode())


def corrupt_bytes(data: st.DataObject, raw: bytes) -> bytes:
    """``raw`` truncated, bit-flipped, overwritten with random bytes, spliced, or replaced."""
    op = data.draw(st.sampled_from(["truncate", "flip", "overwrite", "splice", "random", "empty"]), label="bytes")
    n = len(raw)
    if op == "empty" or n == 0:
        return b""
    if op == "truncate":
        return raw[:data.draw(st.integers(0, n - 1), label="keep")]
    if op == "random":
        return data.draw(st.binary(max_size=256), label="random")
    out = bytearray(raw)
    if op == "flip":
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            i = data.draw(st.integers(0, n - 1), label="at")
            out[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        return bytes(out)
    at = data.draw(st.integers(0, n - 1), label="at")
    chunk = data.draw(st.binary(min_size=1, max_size=64), label="chunk")
    if op == "overwrite":
        out[at:at + len(chunk)] = chunk
        return bytes(out[:n])
    return bytes(out[:at] + chunk + out[at:])  # splice


def fuzz(examples: int, *, shrink: bool = True) -> Any:
    """The hypothesis settings of one property: ``examples`` examples in CI, 25x with
    MIMETIC_FUZZ=deep; ``shrink=False`` reports the first failing example as drawn (for a known
    failure kept as a strict xfail, where shrinking would only cost time)."""
    from hypothesis import Phase, settings

    deep = os.environ.get("MIMETIC_FUZZ") == "deep"
    phases = [p for p in Phase if shrink or p not in (Phase.shrink, Phase.explain)]
    return settings(settings.get_profile("mimetic-fuzz-deep" if deep else "mimetic-fuzz"),
                    max_examples=examples * (25 if deep else 1), phases=phases)


@contextlib.contextmanager
def damaged_copy(template: Path, damage: Callable[[Path], None]) -> Iterator[Path]:
    """A fresh copy of ``template`` (a directory), damaged in place; removed afterwards, also when
    hypothesis abandons the example halfway through a draw."""
    work = Path(tempfile.mkdtemp(prefix="mimetic-fuzz-"))
    try:
        shutil.copytree(template, work / template.name, symlinks=True)
        damage(work / template.name)
        yield work / template.name
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pick(templates: dict[str, Path], data: st.DataObject) -> Path:
    """One of the named template directories, drawn."""
    return templates[data.draw(st.sampled_from(sorted(templates)), label="template")]
