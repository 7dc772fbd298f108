"""The MuJoCo locomotion tasks (the ``mujoco`` extra, which CI installs): their static facts, exact
state save/restore, the one-line errors, and the shipped experts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mimetic.envs import make_expert, make_task, mujoco
from mimetic.envs.experts import load_policy_expert
from mimetic.envs.registry import describe_tasks, expert_name, same_task
from mimetic.errors import TaskError

pytest.importorskip("mujoco")


@pytest.mark.parametrize("name", list(mujoco.TASKS))
def test_static_facts_are_the_envs_own(name):
    """``mimetic tasks`` lists these without importing MuJoCo; the facts must be the real ones."""
    task = make_task(name)
    facts = mujoco.TASKS[name]
    assert task.spec.gym_id == facts.gym_id
    assert task.spec.observation_space.shape == (facts.obs_dim,)
    assert task.spec.action_space.shape == (facts.act_dim,)
    assert task.spec.max_steps == mujoco.MAX_STEPS
    task.close()


@pytest.mark.parametrize("name", ["hopper", "ant"])  # ant: contact forces in obs and reward
def test_restored_state_replays_bitwise(name):
    a, b = make_task(name, num_envs=2), make_task(name, num_envs=2)
    a.reset(seeds=np.array([3, 4]))
    rng = np.random.default_rng(0)
    act = lambda: rng.uniform(-1, 1, (2, mujoco.TASKS[name].act_dim)).astype(np.float32)  # noqa: E731
    for _ in range(20):
        a.step(act())
    state = a.get_state()
    np.testing.assert_array_equal(b.set_state(state), a.reset(mask=np.zeros(2, bool)))
    np.testing.assert_array_equal(state[:, -1], [20, 20])  # the step counter travels too
    for _ in range(30):
        u = act()
        sa, sb = a.step(u), b.step(u)
        np.testing.assert_array_equal(sa.obs, sb.obs)
        np.testing.assert_array_equal(sa.rewards, sb.rewards)
        np.testing.assert_array_equal(sa.terminated, sb.terminated)
    with pytest.raises(TaskError, match="states have shape"):
        b.set_state(state[:, :-1])


def test_restored_step_counter_truncates_on_time():
    task = make_task("swimmer", num_envs=1)  # swimmer never terminates early
    task.reset(seeds=np.array([0]))
    state = task.get_state()
    state[0, -1] = mujoco.MAX_STEPS - 1
    task.set_state(state)
    assert task.step(np.zeros((1, 2), np.float32)).truncated[0]


def test_tasks_listing_needs_no_mujoco():
    code = ("import sys; from mimetic.envs import describe_tasks; rows = describe_tasks(); "
            "assert 'mujoco' not in sys.modules, 'mujoco imported'; print(len(rows))")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in describe_tasks()}
    assert rows["hopper"]["obs_dim"] == 11 and rows["ant"]["act_dim"] == 8
    assert rows["hopper"]["expert"] == "hopper-ppo"


def test_missing_extra_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco", None)  # import mujoco now fails as if not installed
    with pytest.raises(TaskError, match=r"needs MuJoCo, which is not installed: pip install 'mimetic\[mujoco\]'"):
        make_task("hopper")
    with pytest.raises(TaskError, match="not installed"):
        make_expert("hopper")


def test_aliases_and_same_task():
    assert same_task("hopper", "gym:Hopper-v5") and same_task("Hopper-v5", "hopper")
    assert not same_task("hopper", "walker2d")
    assert expert_name("gym:Hopper-v5") == "hopper-ppo"


def test_shipped_hopper_expert_hops_and_random_falls():
    info = mujoco.expert_info("hopper")
    assert info["score"]["episodes"] == 50 and info["score"]["return_mean"] >= 3000
    task = make_task("hopper", num_envs=2, max_steps=300)
    expert = make_expert("hopper")
    obs = task.reset(seeds=np.array([0, 1]))
    ret_e = np.zeros(2)
    alive = np.ones(2, bool)
    for _ in range(300):
        s = task.step(expert(obs))
        ret_e += s.rewards * alive
        alive &= ~(s.terminated | s.truncated)
        obs = s.obs
    assert not (s.terminated & alive).any()
    # a random hopper falls within ~20-50 steps, collecting about 1 per step
    task.reset(seeds=np.array([0, 1]))
    rng = np.random.default_rng(0)
    ret_r, alive = np.zeros(2), np.ones(2, bool)
    for _ in range(300):
        s = task.step(rng.uniform(-1, 1, (2, 3)).astype(np.float32))
        ret_r += s.rewards * alive
        alive &= ~(s.terminated | s.truncated)
    assert ret_e.min() > 5 * ret_r.max(), (ret_e, ret_r)


def test_expert_folder_for_another_task_is_refused():
    spec = make_task("walker2d").spec
    with pytest.raises(TaskError, match="trained for task 'hopper', not 'walker2d'"):
        load_policy_expert(mujoco.WEIGHTS / "hopper", spec)
    expert = load_policy_expert(mujoco.WEIGHTS / "hopper", make_task("gym:Hopper-v5").spec)  # same task
    assert expert(np.zeros((3, 11))).shape == (3, 3)


def test_shipped_weights_record_how_they_were_made():
    for name in mujoco.TASKS:
        if not mujoco.shipped(name):
            with pytest.raises(TaskError, match="no expert is shipped"):
                make_expert(name)
            continue
        info = json.loads((mujoco.WEIGHTS / name / "expert.json").read_text())
        assert info["task"] == name and info["command"].startswith("mimetic train ppo")
        assert info["score"]["episodes"] == 50
        assert (mujoco.WEIGHTS / name / "policy.safetensors").stat().st_size < 1_000_000


def test_a_task_without_shipped_weights_says_how_to_train_them(tmp_path, monkeypatch):
    monkeypatch.setattr(mujoco, "WEIGHTS", tmp_path)  # as a checkout without the weights folder
    assert not mujoco.shipped("ant")
    with pytest.raises(TaskError, match=r"no expert is shipped for 'ant' yet; .*mimetic expert train --task ant"):
        make_expert("ant")


def test_render_failure_names_the_egl_packages(monkeypatch):
    from mimetic.envs.gym_adapter import GymTask

    task = make_task("hopper")
    task.reset(seeds=np.array([0]))

    def broken(self, index=0):
        raise RuntimeError("eglInitialize failed")  # what a machine without EGL says, in one of its forms

    monkeypatch.setattr(GymTask, "render", broken)
    with pytest.raises(TaskError, match="apt install libegl1 libegl-mesa0 libgl1-mesa-dri") as err:
        task.render()
    assert "eglInitialize failed" in str(err.value) and "\n" not in str(err.value)


def test_no_display_defaults_to_egl(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    mujoco.require_mujoco("hopper")
    if sys.platform.startswith("linux"):
        assert os.environ["MUJOCO_GL"] == "egl"
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    mujoco.require_mujoco("hopper")
    assert os.environ["MUJOCO_GL"] == "osmesa"  # the user's choice is kept
