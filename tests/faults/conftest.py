"""Fixtures of the fault-injection suite; the helpers are in faultkit.py (its docstring says how
commands are stopped and what is compared)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from faultkit import COMMANDS, Command, Reference, Runner


@pytest.fixture(scope="session")
def _warm() -> None:
    """Import once, in the parent, what the commands import lazily (torch's optimiser machinery alone
    takes seconds), so that every forked run starts warm."""
    import gymnasium.envs.classic_control  # noqa: F401
    import h5py  # noqa: F401
    import safetensors.torch  # noqa: F401
    import torch
    import tqdm.auto  # noqa: F401

    import mimetic.cli.main  # noqa: F401

    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])


@pytest.fixture
def runner(tmp_path: Path, _warm: None) -> Runner:
    return Runner(tmp_path)


@pytest.fixture(scope="session")
def references(tmp_path_factory: pytest.TempPathFactory, _warm: None) -> Callable[[str], Reference]:
    """``references(name)``: the command ``name`` of COMMANDS and its uninterrupted run, made once
    per session (every killed run is compared with it)."""
    root = tmp_path_factory.mktemp("references")
    runner = Runner(root)
    demos: dict[str, str] = {}
    made: dict[str, Reference] = {}

    def get(name: str) -> Reference:
        if not demos:
            for task, episodes in (("cartpole", 3), ("pendulum", 2)):
                o = runner.run(["collect", "--task", task, "--episodes", episodes, "--out", root / task])
                assert o.rc == 0, o.text()
                demos[task] = str(root / task)
        if name not in made:
            argv, files = COMMANDS[name]
            cmd = Command(tuple(a.format(**demos) for a in argv), collect=name == "collect")
            run = root / name / "run"  # named like every killed run: a dataset's id is its folder's name
            run.parent.mkdir()
            o = runner.run(cmd.fresh(run))
            assert o.rc == 0, o.text()[-3000:]
            made[name] = Reference(cmd, files, run, o.points, o.records, o.wall_s)
        return made[name]

    return get
