"""kill -9 each long-running command, resume it, and get the uninterrupted run's result bitwise.

One scenario per command family (the fast part of the suite; test_sweep.py samples many moments):
the run is killed twice, first in the middle of a checkpoint write (between the two renames that
swap ``state/`` or ``progress/``: the moment where no copy is at its path), then, once resumed,
right after a metrics record (or episode batch) that no checkpoint covers yet; it is resumed
until it finishes. Its final policy (and best/, reward/) must be the uninterrupted run's byte for
byte, its metrics rows and JSON files the same but for clock readings, and no temporary may remain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import Command, Runner, assert_same_run, kill_and_resume, leftovers, read_json, saved_progress

from mimetic.data import load_minari

FAST = ("--checkpoint-every", "0", "--no-tensorboard")  # a checkpoint at every boundary
NET = ("--hidden", "16")
RL = ("--total-steps", "384", "--rollout-steps", "32", "--num-envs", "4", "--eval-every", "2",
      "--eval-episodes", "2", *NET, *FAST)
ROUNDS = ("--steps", "30", "--eval-episodes", "2", *NET, *FAST)

# name -> (argv without --out, files that must match byte for byte)
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bc": (("train", "bc", "--data", "{pendulum}", "--steps", "100", "--log-every", "20", "--eval-episodes", "2",
            "--hidden", "32", "32", *FAST), ("checkpoint/policy.safetensors",)),
    "dagger": (("train", "dagger", "--task", "cartpole", "--rounds", "3", "--episodes-per-round", "2", *ROUNDS),
               ("checkpoint/policy.safetensors",)),
    "hg-dagger": (("train", "hg-dagger", "--task", "pendulum", "--rounds", "3", "--episodes-per-round", "2",
                   "--ensemble", "2", *ROUNDS), ("checkpoint/policy.safetensors",)),
    "thrifty-dagger": (("train", "thrifty-dagger", "--task", "pendulum", "--rounds", "3", "--episodes-per-round",
                        "2", "--ensemble", "2", "--switch-rate", "0.2", *ROUNDS), ("checkpoint/policy.safetensors",)),
    "smile": (("train", "smile", "--task", "cartpole", "--iterations", "3", "--episodes-per-iteration", "1",
               *ROUNDS), ("checkpoint/policy.safetensors",)),
    "forward": (("train", "forward", "--task", "cartpole", "--segment-length", "50", "--episodes-per-segment", "1",
                 "--max-steps", "150", *ROUNDS), ("checkpoint/policy.safetensors",)),
    "aggrevate": (("train", "aggrevate", "--task", "cartpole", "--iterations", "3", "--episodes-per-iteration",
                   "2", "--ctg-horizon", "10", "--num-envs", "4", *ROUNDS), ("checkpoint/policy.safetensors",)),
    "ppo": (("train", "ppo", "--task", "cartpole", *RL), ("checkpoint/policy.safetensors", "best/policy.safetensors")),
    "gail": (("train", "gail", "--data", "{cartpole}", *RL),
             ("checkpoint/policy.safetensors", "best/policy.safetensors")),
    "airl": (("train", "airl", "--data", "{pendulum}", *RL),
             ("checkpoint/policy.safetensors", "best/policy.safetensors", "reward/reward.safetensors")),
    "collect": (("collect", "--task", "cartpole", "--episodes", "12", "--num-envs", "3", "--checkpoint-every", "0"),
                ("data/main_data.hdf5",)),
}


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory, _warm: None) -> dict[str, str]:
    root = tmp_path_factory.mktemp("demos")
    runner = Runner(root)
    out = {}
    for task, episodes in (("cartpole", 3), ("pendulum", 2)):
        o = runner.run(["collect", "--task", task, "--episodes", episodes, "--out", root / task])
        assert o.rc == 0, o.text()
        out[task] = str(root / task)
    return out


def command(name: str, demos: dict[str, str]) -> tuple[Command, tuple[str, ...]]:
    argv, files = COMMANDS[name]
    return Command(tuple(a.format(**demos) for a in argv), collect=name == "collect"), files


def reference(runner: Runner, cmd: Command, root: Path) -> tuple[Path, Any]:
    """The uninterrupted run (folder named like the killed one: a dataset's id is its folder's name)."""
    ref = root / "ref" / "run"
    ref.parent.mkdir()
    o = runner.run(cmd.fresh(ref))
    assert o.rc == 0, o.text()[-3000:]
    return ref, o.points


def assert_same_dataset(ref: Path, out: Path) -> None:
    a, b = load_minari(ref), load_minari(out)
    assert a.n_episodes == b.n_episodes
    for name, arr in a.state_arrays()[0].items():
        assert (arr == b.state_arrays()[0][name]).all(), f"dataset array {name} differs"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_killed_twice_resumes_to_the_uninterrupted_result(runner: Runner, tmp_path: Path, demos: dict[str, str],
                                                          name: str) -> None:
    cmd, files = command(name, demos)
    ref, points = reference(runner, cmd, tmp_path)
    folder = "progress" if cmd.collect else "state"
    swaps = [p.index for p in points if p.kind == "swap-between" and p.name == folder]
    assert swaps, f"{name}: no checkpoint replaced another to aim at"
    out = tmp_path / "killed" / "run"
    out.parent.mkdir()
    # the second checkpoint's swap: the first one's copy is aside, nothing at state/ (progress/)
    outcomes = kill_and_resume(runner, cmd, out, [{"crash_at": swaps[0]}, {"at_record": (1, "kill")}])
    assert [o.rc for o in outcomes] == [137, 137, 0]
    assert outcomes[1].resumed_from > 0  # the first kill lost no checkpoint
    assert outcomes[2].resumed_from == outcomes[1].resumed_from  # the record after it was covered by none
    assert_same_run(ref, out, files=files, collect=cmd.collect)
    if cmd.collect:
        assert_same_dataset(ref, out)


def test_a_kill_between_the_renames_of_a_swap_loses_no_checkpoint(runner: Runner, tmp_path: Path,
                                                                 demos: dict[str, str]) -> None:
    """The moment the old state/ is aside and the new one not yet in place: the resume puts the old
    one back and continues from it (it used to start over from scratch)."""
    cmd, _ = command("dagger", demos)
    ref, points = reference(runner, cmd, tmp_path)
    second = [p.index for p in points if p.kind == "swap-between" and p.name == "state"][0]
    out = tmp_path / "killed" / "run"
    out.parent.mkdir()
    assert runner.run(cmd.fresh(out), crash_at=second).rc == 137
    assert not (out / "state").exists() and saved_progress(out) == 1  # round 0's state, set aside
    o = runner.run(cmd.resume(out))
    assert o.rc == 0 and o.resumed_from == 1, o.text()[-2000:]
    assert leftovers(out) == []
    assert read_json(out / "result.json")["labels"] == read_json(ref / "result.json")["labels"]
