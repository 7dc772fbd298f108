"""Fault injection for the resumable commands (issue 10): stop a command at chosen moments, resume it
until it finishes, and compare the outcome with an uninterrupted run's (docs/checkpoints.md).

A command runs in a forked copy of the test process (``mode="fork"``: torch and mimetic are already
imported, so a run costs its work, not the CLI's start-up) or as a real ``python -m mimetic.cli``
(``mode="subprocess"``). Either way its stdout and stderr go to a file, never a pipe: a full pipe
would block the progress bar, and the command with it.

Ways to stop it:

- ``crash_at=N``: the N-th :func:`mimetic.atomic.crash_point` of the process exits at once with 137
  (the ``MIMETIC_FAULT_CRASH_AT`` hook): a deterministic moment inside a write (a temporary
  complete but not renamed, a directory swap between its two renames, ...); every write of a run
  passes crash points, so they cover checkpoints, best/, checkpoint/, the dataset and result.json;
- ``kill_after=SECONDS``: SIGKILL from outside after a (seeded-random) delay: anywhere;
- ``at_record=(N, action)`` (fork mode): right after the N-th metrics record (collect: the N-th
  batch of episodes) the command kills itself (``"kill"``), or Ctrl-Cs itself once (``"int"``) or
  twice (``"int2"``): a deterministic moment in the middle of training;
- ``interrupt_when=predicate``: SIGINT from outside once ``predicate()`` holds.

A run records the crash points it passed with what each was writing (:class:`Point`), so a test
can aim at one kind of moment or sample them all. A resumed run records where it continued from
(the metrics lines, or the episodes, its checkpoint covered), so a test can check that a kill lost
no more than the work since the last complete checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

WALL = re.compile(r"wall|per_s")  # keys whose values read a clock: wall times, throughputs
TEMP = re.compile(r"^\..+\.(\d+-[A-Za-z0-9_]{6,}\.[A-Za-z0-9]+|[A-Za-z0-9_]{6,}\.tmp|old-.+)$")
KILLED, INTERRUPTED = 137, 130
NEVER = 10**9  # a FAULT_CRASH_AT that counts crash points without ever crashing
TIMEOUT_S = 120.0  # generous (a run takes seconds): the machine is shared


@dataclass(frozen=True)
class Point:
    """One crash point a run passed: ``kind`` is ``file`` (a file's temporary written, not yet
    renamed), ``swap-before`` / ``swap-between`` / ``swap-after`` (a directory's new copy complete;
    the old one moved aside with nothing at the target; the new one in place, the old one not yet
    removed); ``target`` the path being written."""

    index: int
    kind: str
    target: str

    @property
    def name(self) -> str:
        return Path(self.target).name


@dataclass
class Outcome:
    rc: int  # exit code (137: killed, 130: interrupted)
    wall_s: float
    log: Path  # its stdout + stderr
    points: list[Point] = field(default_factory=list)  # fork mode, up to its end
    resumed_from: int | None = None  # fork mode, a resume: what its checkpoint covered
    records: int = 0  # fork mode: metrics records (collect: batches of episodes) written

    def text(self) -> str:
        return self.log.read_text(errors="replace")


# --------------------------------------------------------------------------------- the forked child


def _instrument(trace: Path, probe: Path, records: Path, at_record: tuple[int, str] | None) -> None:
    """In a forked child only: record the crash points passed, where a resume continues from and
    the records written, and arm ``at_record``. Test-side wrappers; the command's code is unchanged."""
    from mimetic import atomic
    from mimetic.cli import data
    from mimetic.runs import RunDir

    points = open(trace, "a")  # noqa: SIM115  (line-buffered below; the child may die at any moment)
    crash = atomic.crash_point

    def crash_point() -> None:
        caller = sys._getframe(1)
        if caller.f_code.co_name == "_swap_into_place":
            target = Path(caller.f_locals["target"])
            kind = ("swap-before" if "old" not in caller.f_locals else
                    "swap-after" if target.exists() else "swap-between")
        else:
            target, kind = Path(caller.f_locals["self"].path), "file"
        points.write(json.dumps([atomic.fault_points + 1, kind, str(target)]) + "\n")
        points.flush()
        crash()

    atomic.crash_point = crash_point

    reopen = RunDir._reopen

    def _reopen(self: RunDir) -> None:
        reopen(self)
        _write_number(probe, self._lines)

    load = data._load_progress

    def _load_progress(out: Path, ds: Any, budget: Any) -> int:
        tried = load(out, ds, budget)
        _write_number(probe, ds.n_episodes)
        return tried

    RunDir._reopen = _reopen  # type: ignore[method-assign]
    data._load_progress = _load_progress
    count, action = at_record or (0, "")
    seen = [0]

    def fire() -> None:
        seen[0] += 1
        _write_number(records, seen[0])
        if seen[0] != count:
            return
        if action == "kill":
            os._exit(KILLED)
        for _ in range(2 if action == "int2" else 1):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C now, in the middle of this step

    log = RunDir.log

    def _log(self: RunDir, *args: Any, **kw: Any) -> None:
        log(self, *args, **kw)
        fire()

    collect = data.collect_demos

    def collect_demos(*args: Any, **kw: Any) -> Any:
        out = collect(*args, **kw)
        fire()
        return out

    RunDir.log = _log  # type: ignore[method-assign]
    data.collect_demos = collect_demos


def _own_tqdm_lock() -> None:
    """Give this child a tqdm write lock of its own. tqdm's default lock holds a multiprocessing
    RLock, a semaphore that a fork shares with the parent and every sibling: a child SIGKILLed
    while drawing a bar leaves it taken for good, and every later run (and pytest itself) then
    blocks at its first bar. That hung a CI run for 90 minutes."""
    import threading

    import tqdm.auto
    import tqdm.std

    for cls in {tqdm.std.tqdm, tqdm.auto.tqdm}:
        cls.set_lock(threading.RLock())


def _write_number(path: Path, n: int) -> None:
    """``path`` holds ``n`` or its previous value, never an empty file (the child may die mid-write)."""
    tmp = path.with_name(path.name + f".{os.getpid()}")
    tmp.write_text(str(n))
    os.replace(tmp, path)


def _child(argv: list[str], log: Path, crash_at: int, trace: Path, probe: Path, records: Path,
           at_record: tuple[int, str] | None) -> None:
    """The forked command: never returns into pytest."""
    rc = 99
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        # pytest's capture replaced sys.stdout/err with its own files: write to fds 1 and 2 instead
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _own_tqdm_lock()
        from mimetic import atomic
        from mimetic.cli.main import main

        atomic.FAULT_CRASH_AT, atomic.fault_points = crash_at, 0
        _instrument(trace, probe, records, at_record)
        rc = main(argv)
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 2
    except BaseException:
        traceback.print_exc()
        rc = 98
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(rc)


# ----------------------------------------------------------------------------------------- runner


def _read_points(trace: Path) -> list[Point]:
    if not trace.exists():
        return []
    return [Point(*json.loads(line)) for line in trace.read_text().splitlines() if line.endswith("]")]


class Runner:
    """Runs commands (argv as for ``mimetic``) with faults; each run's log is kept under ``logs/``."""

    def __init__(self, root: Path) -> None:
        self.logs = root / "logs"
        self.logs.mkdir(exist_ok=True)
        self.n = 0

    def run(self, argv: Sequence[Any], *, mode: str = "fork", crash_at: int = 0, kill_after: float | None = None,
            at_record: tuple[int, str] | None = None, interrupt_when: Callable[[], bool] | None = None,
            timeout: float = TIMEOUT_S) -> Outcome:
        argv = [str(a) for a in argv]
        self.n += 1
        log = self.logs / f"{self.n:03d}-{'-'.join(argv[:2])}.log"
        trace, probe, records = log.with_suffix(".points"), log.with_suffix(".probe"), log.with_suffix(".records")
        log.write_text(f"$ mimetic {' '.join(argv)}  [crash_at={crash_at} kill_after={kill_after} "
                       f"at_record={at_record}]\n")
        t0 = time.monotonic()
        proc = None
        if mode == "fork":
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(argv, log, crash_at or NEVER, trace, probe, records, at_record)
        else:
            assert at_record is None, "at_record needs the forked child"
            env = {**os.environ, "MIMETIC_FAULT_CRASH_AT": str(crash_at)}
            with open(log, "a") as f:
                proc = subprocess.Popen([sys.executable, "-m", "mimetic.cli", *argv], stdout=f,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            pid = proc.pid
        rc = _wait(pid, proc, t0, kill_after, interrupt_when, timeout, log)
        return Outcome(rc=rc, wall_s=time.monotonic() - t0, log=log, points=_read_points(trace),
                       resumed_from=_number(probe), records=_number(records) or 0)


def _number(path: Path) -> int | None:
    return int(path.read_text()) if path.exists() else None


def _exit_code(status: int) -> int:
    rc = os.waitstatus_to_exitcode(status)
    return rc if rc >= 0 else 128 - rc  # killed by signal N -> 128 + N, as a shell reports it


def _wait(pid: int, proc: subprocess.Popen | None, t0: float, kill_after: float | None,
          interrupt_when: Callable[[], bool] | None, timeout: float, log: Path) -> int:
    while True:
        if proc is not None:
            if proc.poll() is not None:
                return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        else:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return _exit_code(status)
        elapsed = time.monotonic() - t0
        if kill_after is not None and elapsed >= kill_after:
            os.kill(pid, signal.SIGKILL)
            kill_after = None
        if interrupt_when is not None and interrupt_when():
            os.kill(pid, signal.SIGINT)
            interrupt_when = None
        if elapsed > timeout:
            os.kill(pid, signal.SIGKILL)
            proc.wait() if proc is not None else os.waitpid(pid, 0)
            pytest.fail(f"timed out after {timeout:.0f} s: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.002)


# ------------------------------------------------------------------------------------------ checks


def drop_wall(obj: Any) -> Any:
    """``obj`` without the values that read a clock (wall times, throughputs)."""
    if isinstance(obj, dict):
        return {k: drop_wall(v) for k, v in obj.items() if not WALL.search(k)}
    if isinstance(obj, list):
        return [drop_wall(v) for v in obj]
    return obj


def first_difference(got: Any, want: Any, where: str = "") -> str | None:
    """Where two JSON values first differ (``a.b[2]: got x, want y``), or None."""
    if isinstance(got, dict) and isinstance(want, dict):
        for k in sorted(set(got) | set(want)):
            if k not in got or k not in want:
                return f"{where}.{k}: only in {'the reference' if k in want else 'this run'}"
            d = first_difference(got[k], want[k], f"{where}.{k}")
            if d is not None:
                return d
        return None
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return next((d for i, (a, b) in enumerate(zip(got, want)) if (d := first_difference(a, b, f"{where}[{i}]"))),
                    None)
    return None if got == want else f"{where}: got {str(got)[:200]}, want {str(want)[:200]}"


def metrics_rows(run: Path) -> list[dict[str, Any]]:
    """metrics.jsonl, every line parsed (a partial line fails here), clock readings dropped."""
    text = (run / "metrics.jsonl").read_text()
    assert text == "" or text.endswith("\n"), "metrics.jsonl ends in a partial line"
    return [drop_wall(json.loads(line)) for line in text.splitlines()]


def leftovers(folder: Path) -> list[Path]:
    """Temporaries (``.*.tmp``, ``.*.old-*``, pid-named) anywhere under ``folder`` or in its parent."""
    found = [p for p in folder.rglob("*") if TEMP.match(p.name)]
    found += [p for p in folder.parent.iterdir() if TEMP.match(p.name)]
    return sorted(found)


def json_files(folder: Path) -> dict[str, Any]:
    """Every JSON file under ``folder``, parsed (a partial file fails here), by relative path."""
    return {str(p.relative_to(folder)): json.loads(p.read_text()) for p in sorted(folder.rglob("*.json"))}


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def _newest(paths: Iterable[Path], meta: str, key: str) -> int:
    best = 0
    for d in paths:
        try:
            best = max(best, int(json.loads((d / meta).read_text())[key]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return best


def saved_progress(out: Path, *, collect: bool = False) -> int:
    """What the newest complete checkpoint on disk covers: a run's metrics lines (``state/``), or a
    collection's episodes (``progress/``); a directory swap killed between its two renames leaves
    its old copy aside (``.state.old-*``), complete, and it counts. 0: no checkpoint yet."""
    if not collect:
        return _newest([out / "state", *out.glob(".state.old-*")], "state.json", "metrics_lines")
    folders = [out, *out.parent.glob(f".{out.name}.old-*")]  # the dataset replacing the work folder
    return _newest([d for f in folders for d in [f / "progress", *f.glob(".progress.old-*")]], "progress.json",
                   "episodes")


# ------------------------------------------------------------------------------------------ scenario


@dataclass(frozen=True)
class Command:
    """A command under test: its argv without ``--out``, and how it resumes and reports."""

    argv: tuple[str, ...]
    collect: bool = False  # ``collect``: a work folder becoming a dataset, not a run directory

    def fresh(self, out: Path) -> list[str]:
        return [*self.argv, "--out", str(out)]

    def resume(self, out: Path) -> list[str]:
        head = ["collect"] if self.collect else list(self.argv[:2])
        return [*head, "--resume", str(out)]

    def finished(self, out: Path) -> bool:
        if self.collect:
            return (out / "data" / "main_data.hdf5").is_file() and not (out / "collect.json").exists()
        return (out / "result.json").is_file()

    def started(self, out: Path) -> bool:
        """Whether there is anything to ``--resume`` (else the command is simply run again)."""
        config = "collect.json" if self.collect else "config.json"
        return (out / config).is_file() or any((d / config).is_file() for d in out.parent.glob(f".{out.name}.old-*"))


def kill_and_resume(runner: Runner, cmd: Command, out: Path, faults: Sequence[dict[str, Any]], *,
                    mode: str = "fork") -> list[Outcome]:
    """Run ``cmd`` into ``out`` with ``faults[0]`` (keyword arguments of :meth:`Runner.run`), resume
    it with each next fault, then resume it without one until it finishes. After every kill, the
    resume must continue from the newest complete checkpoint (nothing more lost) and finish with 0."""
    outcomes: list[Outcome] = []
    for fault in [*faults, {}]:
        if outcomes and cmd.finished(out):
            outcomes += _after_the_end(runner, cmd, out)
            break
        if not outcomes:
            argv = cmd.fresh(out)
        elif cmd.started(out):
            argv = cmd.resume(out)
        else:
            argv = cmd.fresh(out)  # killed before the run was set up: nothing to resume, run it again
        expected = saved_progress(out, collect=cmd.collect) if outcomes else 0
        o = runner.run(argv, mode=mode, **fault)
        outcomes.append(o)
        allowed = (0, KILLED) if fault else (0,)
        assert o.rc in allowed, f"exit {o.rc} (expected {allowed}): {o.text()[-3000:]}"
        assert "Traceback" not in o.text(), o.text()[-3000:]
        if o.resumed_from is not None:
            assert o.resumed_from == expected, (
                f"the resume continued from {o.resumed_from}, but a checkpoint covering {expected} was on disk "
                f"({o.log})")
    assert cmd.finished(out), outcomes[-1].text()[-3000:]
    return outcomes


def _after_the_end(runner: Runner, cmd: Command, out: Path) -> list[Outcome]:
    """The kill came after the end. Only a collection killed between the dataset's rename and the
    removal of the old work folder leaves something: that folder, aside; ``collect --resume`` (or
    any later write to the path) removes it and says the dataset needs no resume."""
    left = leftovers(out)
    if not left:
        return []
    assert cmd.collect and all(p.parent == out.parent and p.name.startswith(f".{out.name}.old-") for p in left), left
    o = runner.run(cmd.resume(out))
    assert o.rc == 2 and "a finished dataset needs no --resume" in o.text(), o.text()[-2000:]
    assert leftovers(out) == []
    return [o]


def assert_same_run(ref: Path, out: Path, *, files: Iterable[str], collect: bool = False) -> None:
    """``out`` (killed and resumed) ends as the uninterrupted ``ref``: the named files byte for byte,
    the metrics rows (no duplicate, none missing) and every JSON file equal but for clock
    readings; every JSON file parses, and no temporary is left in the folder or beside it."""
    for name in files:
        assert (ref / name).is_file(), f"the reference has no {name}"
        assert (out / name).is_file(), f"{out} has no {name}"
        assert (out / name).read_bytes() == (ref / name).read_bytes(), f"{name} differs from the uninterrupted run's"
    assert leftovers(out) == [], leftovers(out)
    got, want = json_files(out), json_files(ref)
    assert sorted(got) == sorted(want)
    for name in want:
        diff = first_difference(drop_wall(got[name]), drop_wall(want[name]))
        assert diff is None, f"{name} differs from the uninterrupted run's at {diff}"
    if not collect:
        assert metrics_rows(out) == metrics_rows(ref)


# ------------------------------------------------------------------------------ the commands under test

FAST = ("--checkpoint-every", "0", "--no-tensorboard")  # a checkpoint at every boundary
NET = ("--hidden", "16")
RL = ("--total-steps", "384", "--rollout-steps", "32", "--num-envs", "4", "--eval-every", "2",
      "--eval-episodes", "2", "--epochs", "2", *NET, *FAST)
DISC = ("--disc-hidden", "16", "--disc-steps", "2", "--disc-warmup", "5", "--disc-batch", "64")
ROUNDS = ("--steps", "30", "--eval-episodes", "2", *NET, *FAST)
POLICY = "checkpoint/policy.safetensors"

# name -> (argv without --out, {demos} placeholders; the files that must match byte for byte)
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bc": (("train", "bc", "--data", "{pendulum}", "--steps", "100", "--log-every", "20", "--eval-episodes", "2",
            "--hidden", "32", "32", *FAST), (POLICY,)),
    "dagger": (("train", "dagger", "--task", "cartpole", "--rounds", "2", "--episodes-per-round", "2", *ROUNDS),
               (POLICY,)),
    "hg-dagger": (("train", "hg-dagger", "--task", "pendulum", "--rounds", "2", "--episodes-per-round", "2",
                   "--ensemble", "2", *ROUNDS), (POLICY,)),
    "thrifty-dagger": (("train", "thrifty-dagger", "--task", "pendulum", "--rounds", "2", "--episodes-per-round",
                        "2", "--ensemble", "2", "--switch-rate", "0.2", *ROUNDS), (POLICY,)),
    "smile": (("train", "smile", "--task", "cartpole", "--iterations", "2", "--episodes-per-iteration", "1",
               *ROUNDS), (POLICY,)),
    "forward": (("train", "forward", "--task", "cartpole", "--segment-length", "50", "--episodes-per-segment", "1",
                 "--max-steps", "100", *ROUNDS), (POLICY,)),
    "aggrevate": (("train", "aggrevate", "--task", "cartpole", "--iterations", "2", "--episodes-per-iteration",
                   "2", "--ctg-horizon", "10", "--num-envs", "4", *ROUNDS), (POLICY,)),
    "ppo": (("train", "ppo", "--task", "cartpole", *RL), (POLICY, "best/policy.safetensors")),
    "gail": (("train", "gail", "--data", "{cartpole}", *RL, *DISC), (POLICY, "best/policy.safetensors")),
    "airl": (("train", "airl", "--data", "{pendulum}", *RL, *DISC),
             (POLICY, "best/policy.safetensors", "reward/reward.safetensors")),
    "collect": (("collect", "--task", "cartpole", "--episodes", "12", "--num-envs", "3", "--checkpoint-every", "0"),
                ("data/main_data.hdf5",)),
}


@dataclass
class Reference:
    """A command under test and its uninterrupted run."""

    cmd: Command
    files: tuple[str, ...]
    run: Path
    points: list[Point]
    records: int  # metrics records (collect: batches of episodes) of the whole run
    wall_s: float

    def check(self, out: Path) -> None:
        """``out`` ended as this run did (the dataset's arrays too, for collect)."""
        assert_same_run(self.run, out, files=self.files, collect=self.cmd.collect)
        if self.cmd.collect:
            assert_same_dataset(self.run, out)


def assert_same_dataset(ref: Path, out: Path) -> None:
    from mimetic.data import load_minari

    a, b = load_minari(ref).state_arrays(), load_minari(out).state_arrays()
    assert a[1] == b[1]
    assert sorted(a[0]) == sorted(b[0])
    for name, arr in a[0].items():
        assert arr.dtype == b[0][name].dtype and (arr == b[0][name]).all(), f"dataset array {name} differs"
