"""kill -9 each long-running command, resume it, and get the uninterrupted run's result bitwise.

One scenario per command family (the fast part of the suite; test_sweep.py samples many moments):
the run is killed twice, first in the middle of a checkpoint write (between the two renames that
swap ``state/`` or ``progress/``: the moment where no copy is at its path), then, once resumed,
right after a metrics record (or episode batch) that no checkpoint covers yet; it is resumed
until it finishes. Its final policy (and best/, reward/) must be the uninterrupted run's byte for
byte, its metrics rows and JSON files the same but for clock readings, and no temporary may remain.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from faultkit import COMMANDS, Reference, Runner, kill_and_resume, leftovers, read_json, saved_progress


@pytest.mark.parametrize("name", list(COMMANDS))
def test_killed_twice_resumes_to_the_uninterrupted_result(runner: Runner, tmp_path: Path,
                                                          references: Callable[[str], Reference], name: str) -> None:
    ref = references(name)
    folder = "progress" if ref.cmd.collect else "state"
    swaps = [p.index for p in ref.points if p.kind == "swap-between" and p.name == folder]
    assert swaps, f"{name}: no checkpoint replaced another to aim at"
    out = tmp_path / "killed" / "run"
    out.parent.mkdir()
    # the second checkpoint's swap: the first one's copy is aside, nothing at state/ (progress/)
    outcomes = kill_and_resume(runner, ref.cmd, out, [{"crash_at": swaps[0]}, {"at_record": (1, "kill")}])
    assert [o.rc for o in outcomes] == [137, 137, 0]
    assert outcomes[1].resumed_from > 0  # the first kill lost no checkpoint
    assert outcomes[2].resumed_from == outcomes[1].resumed_from  # the record after it was covered by none
    ref.check(out)


def test_a_kill_between_the_renames_of_a_swap_loses_no_checkpoint(runner: Runner, tmp_path: Path,
                                                                 references: Callable[[str], Reference]) -> None:
    """The moment the old state/ is aside and the new one not yet in place: the resume puts the old
    one back and continues from it (it used to start over from scratch)."""
    ref = references("dagger")
    second = [p.index for p in ref.points if p.kind == "swap-between" and p.name == "state"][0]
    out = tmp_path / "run"
    assert runner.run(ref.cmd.fresh(out), crash_at=second).rc == 137
    assert not (out / "state").exists() and saved_progress(out) == 1  # round 0's state, set aside
    o = runner.run(ref.cmd.resume(out))
    assert o.rc == 0 and o.resumed_from == 1, o.text()[-2000:]
    assert leftovers(out) == []
    assert read_json(out / "result.json")["labels"] == read_json(ref.run / "result.json")["labels"]
