"""``mimetic expert list | train | export``, ``--expert POLICY_FOLDER``, ``mimetic --import MODULE``
and third-party ``gym:pkg/Env`` ids: small budgets, one-line errors."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest
from cli_helpers import one_error as _one_error
from cli_helpers import run as _run

from mimetic.data import load_minari


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_import_option_registers_a_users_env(tmp_path, capsys, monkeypatch):
    (tmp_path / "my_envs_mod.py").write_text(textwrap.dedent("""
        import gymnasium as gym
        import numpy as np
        gym.register(id="MyPendulum-v0", entry_point="gymnasium.envs.classic_control.pendulum:PendulumEnv",
                     max_episode_steps=20)
        def expert(obs):
            return np.clip(-obs[:, 2:3], -1, 1)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        # --import before the command: its value must not be taken for the command's name
        assert _run(["--import", "my_envs_mod", "collect", "--task", "gym:MyPendulum-v0", "--episodes", 2,
                     "--num-envs", 2, "--expert", "my_envs_mod:expert", "--out", tmp_path / "d"]) == 0
        assert load_minari(tmp_path / "d").n_episodes == 2
    finally:
        sys.modules.pop("my_envs_mod", None)
    capsys.readouterr()
    assert _run(["--import", "no_such_module_xyz", "tasks"]) == 2
    assert "--import no_such_module_xyz: ModuleNotFoundError" in _one_error(capsys.readouterr().err)


def test_third_party_id_imports_its_package_or_says_which(capsys, tmp_path):
    assert _run(["collect", "--task", "gym:no_such_pkg_xyz/Env-v0", "--episodes", 1, "--out", tmp_path / "x"]) == 2
    line = _one_error(capsys.readouterr().err)
    assert "package 'no_such_pkg_xyz', which is not installed" in line and "pip install" in line
    assert not (tmp_path / "x").exists()


def test_third_party_id_is_imported_by_its_prefix(tmp_path, monkeypatch):
    pkg = tmp_path / "my_gym_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        'import gymnasium as gym\n'
        'gym.register(id="my_gym_pkg/Pend-v0", entry_point="gymnasium.envs.classic_control.pendulum:PendulumEnv",'
        ' max_episode_steps=10)\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    from mimetic.envs import make_task

    try:
        task = make_task("gym:my_gym_pkg/Pend-v0")
        assert task.spec.max_steps == 10 and "my_gym_pkg" in sys.modules
    finally:
        sys.modules.pop("my_gym_pkg", None)


pytest.importorskip("mujoco")


def test_expert_list_shows_the_shipped_experts(capsys):
    assert _run(["expert", "list"]) == 0
    out = capsys.readouterr().out
    from mimetic.envs import mujoco

    hopper = next(ln for ln in out.splitlines() if ln.startswith("hopper "))
    assert f"{mujoco.expert_info('hopper')['score']['return_mean']:.0f}" in hopper and " yes " in hopper


def test_expert_train_then_use_it_as_an_expert(tmp_path, capsys):
    """One PPO iteration (8 envs x 256 steps) with the physics preset, exported after 2 episodes;
    then the folder works as --expert, and an exported folder records how it was made."""
    out = tmp_path / "exp"
    assert _run(["expert", "train", "--task", "swimmer", "--total-steps", 2048, "--episodes", 2,
                 "--out", out]) == 0
    text = capsys.readouterr().out
    assert "--rollout-steps 256 --epochs 10 --minibatch 64 --lr 0.0003" in text
    info = json.loads((out / "expert" / "expert.json").read_text())
    assert info["task"] == "swimmer" and info["score"]["episodes"] == 2 and info["env_steps"] == 2048
    assert info["seed"] == 0 and "--init-log-std 0.0" in info["command"]
    assert "--gamma 0.9999" in info["command"]  # swimmer's own discount (EXPERT_GAMMA)
    assert _run(["collect", "--task", "swimmer", "--expert", out / "expert", "--episodes", 2, "--num-envs", 2,
                 "--max-steps", 20, "--out", tmp_path / "demos"]) == 0
    ds = load_minari(tmp_path / "demos")
    assert ds.n_episodes == 2 and np.isfinite(ds.acts).all()
    # an expert folder of another task is refused in one line, nothing written
    capsys.readouterr()
    assert _run(["collect", "--task", "hopper", "--expert", out / "expert", "--episodes", 1,
                 "--out", tmp_path / "bad"]) == 2
    assert "trained for task 'swimmer', not 'hopper'" in _one_error(capsys.readouterr().err)
    assert not (tmp_path / "bad").exists()
    assert _run(["expert", "export", out, "--task", "hopper", "--episodes", 1, "--out", tmp_path / "e2"]) == 2
    assert "trained for task 'swimmer', not 'hopper'" in _one_error(capsys.readouterr().err)
    assert not (tmp_path / "e2").exists()
