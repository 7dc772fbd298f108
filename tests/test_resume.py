"""``--resume``: which options were typed, which may change, and what a resumed run takes from its own."""

import argparse
import json
import os
import subprocess
import sys
import time

import pytest

from mimetic import atomic
from mimetic.cli.resume import given_dests, resumed_args, run_args
from mimetic.errors import CheckpointError, ConfigError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--total-steps", type=int, default=100)
    p.add_argument("--hidden", type=int, nargs="*", default=[64, 64])
    p.add_argument("--resume", default=None)
    p.add_argument("--out", default=None)
    return p


def test_given_dests_sees_exact_prefixed_and_equals_forms():
    p = _parser()
    assert given_dests(p, ["--lr", "0.1", "--total-steps=5"]) == {"lr", "total_steps"}
    assert given_dests(p, ["--hid", "3", "4"]) == {"hidden"}  # a unique prefix, as argparse accepts
    assert given_dests(p, ["--resume", "r"]) == {"resume"}
    assert given_dests(p, ["--", "--lr"]) == set()


def _run_dir(tmp_path, **saved):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"command": "train x", "args": {
        "lr": 1e-3, "total_steps": 100, "hidden": [32], **saved}}))
    return run


def _args(argv, run):
    args = _parser().parse_args(["--resume", str(run), *argv])
    args.given = sorted(given_dests(_parser(), argv))
    return args


def test_a_changed_option_is_refused_in_one_line_naming_it_and_what_may_change(tmp_path):
    run = _run_dir(tmp_path)
    with pytest.raises(ConfigError) as info:
        resumed_args(_args(["--lr", "0.1"], run), command="train x", may_change=("total_steps",))
    msg = str(info.value)
    assert "\n" not in msg and "--lr 0.1 (the run has 0.001)" in msg and "--total-steps" in msg


def test_untyped_options_come_from_the_run_and_allowed_ones_apply(tmp_path):
    run = _run_dir(tmp_path)
    merged, saved = resumed_args(_args(["--total-steps", "500", "--lr", "0.001"], run), command="train x",
                                 may_change=("total_steps",))
    assert merged.total_steps == 500  # may change
    assert merged.lr == 1e-3  # typed, but the same as the run's: fine
    assert merged.hidden == [32]  # not typed: the run's, not the parser's default [64, 64]
    assert saved["command"] == "train x"


def test_resume_of_another_command_or_an_old_run_is_refused(tmp_path):
    run = _run_dir(tmp_path)
    with pytest.raises(CheckpointError, match="is a 'train x' run, not 'train y'"):
        resumed_args(_args([], run), command="train y")
    (run / "config.json").write_text(json.dumps({"command": "train x"}))
    with pytest.raises(CheckpointError, match="older mimetic"):
        resumed_args(_args([], run), command="train x")


def test_run_args_keeps_options_only():
    args = argparse.Namespace(lr=0.1, hidden=(3,), handler=print, given=["lr"], resume=None, out="o", command="c")
    assert run_args(args) == {"lr": 0.1, "hidden": [3]}


def test_stale_temporaries_of_dead_writers_are_cleaned_live_ones_kept(tmp_path):
    target = tmp_path / "data"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".data.{dead.pid}-abcdef12.tmp"
    stale.mkdir()
    (stale / "half.hdf5").write_bytes(b"x")
    live = tmp_path / f".data.{os.getpid()}-abcdef34.tmp"  # this process: still writing
    live.mkdir()
    other = tmp_path / f".other.{dead.pid}-abcdef56.tmp"  # another target's: not ours to judge
    other.mkdir()
    legacy_old = tmp_path / ".data.k3j2h1g0.tmp"  # an older version's (no pid), long abandoned
    legacy_old.mkdir()
    old = time.time() - 2 * atomic.LEGACY_AGE_S
    os.utime(legacy_old, (old, old))
    legacy_new = tmp_path / ".data.z9y8x7w6.tmp"  # ... or maybe still being written
    legacy_new.mkdir()
    with atomic.AtomicDirectory(target) as tmp:
        (tmp / "x").write_text("ok")
    assert (target / "x").read_text() == "ok"
    assert not stale.exists() and not legacy_old.exists()
    assert live.exists() and other.exists() and legacy_new.exists()
