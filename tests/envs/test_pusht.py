"""PushT: the gym-pusht task behind the batched interface, state save/restore, the planning expert,
the one-line errors."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest

from mimetic.envs import describe_tasks, make_expert, make_task
from mimetic.errors import TaskError

pytest.importorskip("gym_pusht")

from mimetic.envs import pusht  # noqa: E402
from mimetic.envs.pusht_planner import (  # noqa: E402
    GOAL,
    OUTLINE,
    PushTPlanner,
    distance_to_t,
    pose_error,
    pose_from_keypoints,
    to_world,
)


def test_observations_match_gym_pusht_and_each_other():
    task, keys = make_task("pusht", num_envs=3), make_task("pusht-keypoints", num_envs=3)
    obs, kobs = task.reset(seeds=np.arange(3)), keys.reset(seeds=np.arange(3))
    assert obs.shape == (3, 5) and kobs.shape == (3, 18) and obs.dtype == kobs.dtype == np.float32
    env = gym.make(pusht.GYM_ID, obs_type="state")
    np.testing.assert_allclose(obs[1], env.reset(seed=1)[0], rtol=1e-6)  # same start as gym-pusht's own
    np.testing.assert_allclose(kobs[:, :2], obs[:, :2])  # agent first, then the 16 keypoint values
    planner = PushTPlanner(obs="keypoints")
    for i in range(3):  # the keypoints are the T's corners at the block pose of the state observation
        pose = pose_from_keypoints(kobs[i, 2:].reshape(8, 2).astype(np.float64), planner.local_keypoints)
        np.testing.assert_allclose(pose[:2], obs[i, 2:4], atol=1e-3)
        assert abs(np.angle(np.exp(1j * (pose[2] - obs[i, 4])))) < 1e-4
    acts = np.full((3, 2), 256.0, np.float32)
    step = task.step(acts)
    ref = env.step(acts[1])
    np.testing.assert_allclose(step.obs[1], ref[0], rtol=1e-5)
    assert step.rewards[1] == pytest.approx(ref[1]) and not step.terminated.any()
    assert task.spec.max_steps == 300 and task.spec.success is pusht.success


def test_model_of_the_t_matches_the_simulator():
    """The planner's geometry (outline, distance) is that of gym-pusht's block."""
    planner = PushTPlanner()
    assert sorted(map(tuple, planner.local_keypoints.round(6))) == sorted(map(tuple, OUTLINE))
    sim = planner._sim
    pose = np.array([200.0, 250.0, 0.7])
    sim.block.angle, sim.block.position = pose[2], tuple(pose[:2])
    np.testing.assert_allclose(to_world(pose, planner.local_keypoints),
                               np.asarray(sim.get_keypoints(sim._block_shapes)), atol=1e-9)
    assert pose_error(GOAL) == 0.0 and pose_error(GOAL + [10.0, 0.0, 0.0]) == pytest.approx(10.0)
    np.testing.assert_allclose(distance_to_t(np.array([[0.0, 10.0], [0.0, -5.0], [30.0, 50.0]])), [0.0, 5.0, 15.0])


def test_state_round_trip_continues_the_episode():
    a, b = make_task("pusht", num_envs=4), make_task("pusht", num_envs=4)
    a.reset(seeds=np.arange(4))
    rng = np.random.default_rng(0)
    for _ in range(10):
        a.step(rng.uniform(100, 400, (4, 2)).astype(np.float32))
    state = a.get_state()
    assert state.shape == (4, pusht.STATE_DIM + 1) and np.all(state[:, -1] == 10)
    obs = b.set_state(state)
    np.testing.assert_allclose(obs[:, :4], state[:, [0, 1, 4, 5]], rtol=1e-6)  # agent xy, block xy
    np.testing.assert_allclose(obs[:, 4], state[:, 6] % (2 * np.pi), rtol=1e-6)
    np.testing.assert_allclose(b.get_state(), state)
    for _ in range(10):  # pymunk's contact warm start is not restored: close, not bitwise
        acts = rng.uniform(100, 400, (4, 2)).astype(np.float32)
        np.testing.assert_allclose(a.step(acts).obs, b.step(acts).obs, atol=0.5)
    with pytest.raises(TaskError, match=r"shape \(4, 11\)"):
        b.set_state(state[:, :5])


def test_the_planner_solves_episodes():
    task = make_task("pusht", num_envs=2)
    from mimetic.rollout import collect

    trajs = collect(task, make_expert("pusht"), episodes=2, seed=2)
    assert [pusht.success(t) for t in trajs] == [True, True]  # seen: 113 and 88 steps
    assert all(pusht.score(t) == 1.0 for t in trajs)
    assert all(len(t) < 300 for t in trajs)


def test_the_planner_is_a_function_of_the_observation():
    """It labels any state, in any order, the way it acts (DAgger); the seed varies the choices."""
    task = make_task("pusht", num_envs=20)
    obs = task.reset(seeds=np.arange(20))
    a = PushTPlanner(seed=0)(obs)
    np.testing.assert_array_equal(a, PushTPlanner(seed=0)(obs[::-1])[::-1])
    assert a.shape == (20, 2) and a.dtype == np.float32 and np.all((a >= 0) & (a <= 512))
    other = PushTPlanner(seed=1)(obs)
    assert np.sum(np.linalg.norm(a - other, axis=1) > 1.0) >= 2  # seen: 5 of 20 starts differ
    # the keypoint expert takes the same decisions from the keypoint observation
    keys = make_task("pusht-keypoints", num_envs=20).reset(seeds=np.arange(20))
    np.testing.assert_allclose(make_expert("pusht-keypoints")(keys), a, atol=0.5)  # the expert's seed is 0
    # the agent walks at most walk_speed a step and never aims into the block
    planner = PushTPlanner()
    assert np.all(np.linalg.norm(a - obs[:, :2], axis=1) <= planner.walk_speed + 1e-3)


def test_off_table_states_are_refused_in_one_line():
    expert = make_expert("pusht")
    with pytest.raises(TaskError, match="off the 512 x 512 table") as err:
        expert(np.array([[100.0, 100.0, 600.0, 200.0, 0.0]]))
    assert "\n" not in str(err.value)
    with pytest.raises(TaskError, match=r"\(B, 5\)"):
        expert(np.zeros((2, 4)))


def test_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gym_pusht", None)  # as if gym-pusht were not installed
    with pytest.raises(TaskError, match=r"pip install 'mimetic\[pusht\]'"):
        make_task("pusht")
    with pytest.raises(TaskError, match=r"pip install 'mimetic\[pusht\]'"):
        make_expert("pusht-keypoints")
    rows = {r["name"]: r for r in describe_tasks()}  # still listed, from static facts
    assert rows["pusht"]["obs_dim"] == 5 and rows["pusht-keypoints"]["obs_dim"] == 18
