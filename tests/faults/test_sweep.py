"""The random-moment sweep: each command killed at several seeded moments (and Ctrl-C'd at seeded
records), resumed until it finishes, and compared with its uninterrupted run.

Seeds 0..SAMPLES-1 each pick one crash point of the uninterrupted run's writes (a checkpoint, best/,
checkpoint/, reward/, the dataset, result.json: see faultkit.Point); two more seeds kill after a
random delay (anywhere, mostly mid-training), and one kills three times in a row. A failure names the
command, the seed and the moment (the killed run's log begins with its fault). MIMETIC_FAULT_SAMPLES
raises the number of crash points per command (e.g. to 100, for a longer sweep by hand).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from faultkit import COMMANDS, INTERRUPTED, Reference, Runner, kill_and_resume, saved_progress

SAMPLES = int(os.environ.get("MIMETIC_FAULT_SAMPLES", "3"))
DELAYS = 2

pytestmark = pytest.mark.slow


def _rng(name: str, seed: int) -> random.Random:
    return random.Random(f"{name}/{seed}")  # fixed per command and seed, whatever runs before


@pytest.mark.parametrize("seed", range(SAMPLES))
@pytest.mark.parametrize("name", list(COMMANDS))
def test_killed_at_a_crash_point(runner: Runner, tmp_path: Path, references: Callable[[str], Reference],
                                 name: str, seed: int) -> None:
    ref = references(name)
    point = _rng(name, seed).choice(ref.points)
    out = tmp_path / "killed" / "run"
    out.parent.mkdir()
    kill_and_resume(runner, ref.cmd, out, [{"crash_at": point.index}])
    ref.check(out)


@pytest.mark.parametrize("seed", range(DELAYS))
@pytest.mark.parametrize("name", list(COMMANDS))
def test_killed_after_a_random_delay(runner: Runner, tmp_path: Path, references: Callable[[str], Reference],
                                     name: str, seed: int) -> None:
    ref = references(name)
    delay = _rng(name, 100 + seed).uniform(0.0, ref.wall_s)
    out = tmp_path / "killed" / "run"
    out.parent.mkdir()
    kill_and_resume(runner, ref.cmd, out, [{"kill_after": delay}])
    ref.check(out)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_killed_three_times(runner: Runner, tmp_path: Path, references: Callable[[str], Reference],
                            name: str) -> None:
    """A crash point, a random delay, and a crash point again, each in the run resumed from the last."""
    ref = references(name)
    rng = _rng(name, 200)
    n = len(ref.points)
    faults = [{"crash_at": rng.randint(1, n)}, {"kill_after": rng.uniform(0.0, ref.wall_s)},
              {"crash_at": rng.randint(1, max(1, n // 2))}]
    out = tmp_path / "killed" / "run"
    out.parent.mkdir()
    kill_and_resume(runner, ref.cmd, out, faults)
    ref.check(out)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_ctrl_c_at_a_random_record(runner: Runner, tmp_path: Path, references: Callable[[str], Reference],
                                   name: str) -> None:
    """A clean stop at a seeded record, then an abort at another, and the run resumes bitwise."""
    ref = references(name)
    rng = _rng(name, 300)
    out = tmp_path / "run"
    o = runner.run(ref.cmd.fresh(out), at_record=(rng.randint(1, ref.records), "int"))
    assert o.rc == INTERRUPTED, o.text()[-3000:]
    kept = saved_progress(out, collect=ref.cmd.collect)
    o = runner.run(ref.cmd.resume(out), at_record=(rng.randint(1, ref.records), "int2"))
    assert o.rc in (INTERRUPTED, 0) and "Traceback" not in o.text(), o.text()[-3000:]  # 0: no record that late
    assert o.resumed_from == kept
    if not ref.cmd.finished(out):
        assert runner.run(ref.cmd.resume(out)).rc == 0
    ref.check(out)


@pytest.mark.parametrize("name", ["bc", "dagger", "ppo", "collect"])
def test_without_intermediate_checkpoints_a_kill_starts_over_and_ends_the_same(
        runner: Runner, tmp_path: Path, references: Callable[[str], Reference], name: str) -> None:
    """--checkpoint-every 60 (the default): a short run writes its state only at the end (collect:
    never), so a kill in the middle resumes from the start; checkpoints never change the result."""
    ref = references(name)
    argv = list(ref.cmd.argv)
    argv[argv.index("--checkpoint-every") + 1] = "60"
    out = tmp_path / "run"
    o = runner.run([*argv, "--out", out], at_record=(max(1, ref.records // 2), "kill"))
    assert o.rc == 137
    assert saved_progress(out, collect=ref.cmd.collect) == 0
    # --checkpoint-every may change on resume; 0 makes config.json the reference's again
    o = runner.run([*ref.cmd.resume(out), "--checkpoint-every", "0"])
    assert o.rc == 0 and o.resumed_from == 0, o.text()[-3000:]
    ref.check(out)


def test_a_copy_to_a_new_folder_killed_midway_leaves_the_original_as_it_was(
        runner: Runner, tmp_path: Path, references: Callable[[str], Reference]) -> None:
    """``--resume RUN --out NEW`` copies RUN first, atomically: killed during the copy, NEW does not
    exist and RUN is untouched; run again, it continues in NEW to the uninterrupted result."""
    ref = references("ppo")
    run = tmp_path / "a" / "run"
    run.parent.mkdir()
    assert runner.run(ref.cmd.fresh(run), at_record=(3, "int")).rc == INTERRUPTED
    before = {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}
    new = tmp_path / "b" / "run"
    new.parent.mkdir()
    argv = [*ref.cmd.resume(run), "--out", new]
    o = runner.run(argv, crash_at=1)  # the copy's swap into place: its first write
    assert o.rc == 137 and o.points[0].target == str(new), o.points[:1]
    assert not new.exists() and {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()} == before
    o = runner.run(argv)
    assert o.rc == 0, o.text()[-3000:]
    ref.check(new)
    assert {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()} == before
