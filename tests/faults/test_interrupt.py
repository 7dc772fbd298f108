"""Ctrl-C on every long-running command: the first stops at the next boundary with a checkpoint and
exit code 130, the second aborts at once (130) keeping the last checkpoint; either way the run
resumes to the uninterrupted result, bitwise."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from faultkit import COMMANDS, INTERRUPTED, Reference, Runner, leftovers, metrics_rows, saved_progress

ABORTED = "error: interrupted (a resumable run keeps its last checkpoint"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_ctrl_c_stops_cleanly_then_aborts_and_the_run_resumes_bitwise(
        runner: Runner, tmp_path: Path, references: Callable[[str], Reference], name: str) -> None:
    ref = references(name)
    out = tmp_path / "run"
    # Ctrl-C in the middle of the first step (round, iteration, logging window, batch of episodes)
    first = runner.run(ref.cmd.fresh(out), at_record=(1, "int"))
    assert first.rc == INTERRUPTED, first.text()[-3000:]
    text = first.text()
    assert "stopping after this" in text and "interrupted: " in text and f"--resume {out}" in text
    assert not ref.cmd.finished(out) and leftovers(out) == []
    kept = saved_progress(out, collect=ref.cmd.collect)
    assert kept >= 1  # the step it stopped in was finished and saved, not dropped
    if not ref.cmd.collect:
        assert len(metrics_rows(out)) == kept  # every record written is in the checkpoint
    # resumed, then Ctrl-C twice right after its first new record: an abort, before that step's checkpoint
    second = runner.run(ref.cmd.resume(out), at_record=(1, "int2"))
    assert second.rc == INTERRUPTED and ABORTED in second.text(), second.text()[-3000:]
    assert "Traceback" not in second.text()
    assert second.resumed_from == kept and saved_progress(out, collect=ref.cmd.collect) == kept
    last = runner.run(ref.cmd.resume(out))
    assert last.rc == 0 and last.resumed_from == kept, last.text()[-3000:]
    ref.check(out)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_ctrl_c_in_the_last_step_still_exits_130(runner: Runner, tmp_path: Path,
                                                 references: Callable[[str], Reference], name: str) -> None:
    """A script that runs commands in a loop must see the Ctrl-C even when the work was nearly done:
    the run is saved unfinished, and a resume completes it (evaluation, dataset, result)."""
    ref = references(name)
    out = tmp_path / "run"
    o = runner.run(ref.cmd.fresh(out), at_record=(ref.records, "int"))
    assert o.rc == INTERRUPTED and "interrupted: " in o.text(), o.text()[-3000:]
    assert not ref.cmd.finished(out) and leftovers(out) == []
    o = runner.run(ref.cmd.resume(out))
    assert o.rc == 0, o.text()[-3000:]
    ref.check(out)


def test_a_real_ctrl_c_from_outside(runner: Runner, tmp_path: Path, references: Callable[[str], Reference]) -> None:
    """SIGINT sent to a ``python -m mimetic.cli`` process at whatever moment it lands (the other tests
    make the command Ctrl-C itself at a chosen record, in a forked copy of this process)."""
    ref = references("bc")
    out = tmp_path / "run"
    metrics = out / "metrics.jsonl"

    def started() -> bool:
        return metrics.exists() and metrics.stat().st_size > 0

    o = runner.run(ref.cmd.fresh(out), mode="subprocess", interrupt_when=started)
    assert o.rc in (INTERRUPTED, 0), o.text()[-3000:]  # 0: it finished before the signal landed
    if o.rc == INTERRUPTED:
        assert "interrupted: " in o.text() and not ref.cmd.finished(out)
        o = runner.run(ref.cmd.resume(out))
        assert o.rc == 0, o.text()[-3000:]
    ref.check(out)


def test_the_crash_hook_works_through_the_environment(runner: Runner, tmp_path: Path,
                                                      references: Callable[[str], Reference]) -> None:
    """MIMETIC_FAULT_CRASH_AT=N in a real ``python -m mimetic.cli``: the N-th crash point exits with
    137, leaving the files as a kill -9 there would."""
    ref = references("dagger")
    swap = next(p for p in ref.points if p.kind == "swap-between" and p.name == "state")
    out = tmp_path / "run"
    o = runner.run(ref.cmd.fresh(out), mode="subprocess", crash_at=swap.index)
    assert o.rc == 128 + signal.SIGKILL, o.text()[-3000:]
    assert not (out / "state").exists() and len(list(out.glob(".state.old-*"))) == 1
    o = runner.run(ref.cmd.resume(out))
    assert o.rc == 0 and o.resumed_from == 1, o.text()[-3000:]
    ref.check(out)


def test_a_run_killed_while_drawing_a_bar_blocks_nothing_after_it(runner: Runner, monkeypatch) -> None:
    """tqdm's default lock is a multiprocessing semaphore that a fork shares: a run SIGKILLed while
    it held it once left it taken for good, and every later run, then pytest itself, hung at its
    first progress bar (a CI run lost its 90 minutes so). Each forked run has a lock of its own."""
    import io
    import sys

    from tqdm.auto import tqdm
    from tqdm.std import TqdmDefaultWriteLock

    import mimetic.cli.main  # noqa: F401

    tqdm(total=1, file=io.StringIO()).close()  # the parent's semaphore exists before the fork

    def killed_mid_bar(argv: object) -> int:
        tqdm.get_lock().acquire()
        os.kill(os.getpid(), signal.SIGKILL)
        return 0

    monkeypatch.setattr(sys.modules["mimetic.cli.main"], "main", killed_mid_bar)
    assert runner.run(["tasks"], timeout=60).rc == 128 + signal.SIGKILL
    semaphore = TqdmDefaultWriteLock.mp_lock
    assert semaphore.acquire(timeout=5), "the killed run left tqdm's shared lock taken"
    semaphore.release()
