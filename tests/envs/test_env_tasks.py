"""Batched CartPole/Pendulum vs Gymnasium, batched semantics, state round trips, registry errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from mimetic.envs import (
    BatchedTask,
    CartPoleTask,
    PendulumTask,
    describe_tasks,
    make_task,
    task_names,
)
from mimetic.errors import ConfigError, MimeticError, TaskError


def _random_actions(task: BatchedTask, rng: np.random.Generator) -> np.ndarray:
    if task.spec.discrete:
        return rng.integers(0, task.spec.act_dim, size=task.num_envs)  # (B,)
    # beyond the torque limit on purpose: clipping must match too
    return rng.uniform(-2.5, 2.5, size=(task.num_envs, task.spec.act_dim)).astype(np.float32)  # (B, A)


@pytest.mark.parametrize("name, gym_id", [("cartpole", "CartPole-v1"), ("pendulum", "Pendulum-v1")])
def test_matches_gymnasium_step_for_step(name: str, gym_id: str) -> None:
    n = 6
    task = make_task(name, num_envs=n)
    obs = task.reset(seeds=np.arange(n) + 100)
    envs = [gym.make(gym_id) for _ in range(n)]
    ref = np.stack([env.reset(seed=100 + i)[0] for i, env in enumerate(envs)])
    np.testing.assert_array_equal(obs, ref)  # same seeding as Gymnasium
    rng = np.random.default_rng(0)
    for t in range(80):
        state = task.get_state()
        for i, env in enumerate(envs):  # re-sync, so that resets below need no Gymnasium twin
            env.unwrapped.state = state[i, : task.state_dim].copy()
            env.unwrapped.steps_beyond_terminated = None  # (cartpole) as after a reset
        acts = _random_actions(task, rng)
        step = task.step(acts)
        for i, env in enumerate(envs):
            o, r, term, _, _ = env.step(int(acts[i]) if task.spec.discrete else acts[i])
            np.testing.assert_array_equal(step.obs[i], o)
            np.testing.assert_array_equal(task.get_state()[i, : task.state_dim], env.unwrapped.state)
            assert step.rewards[i] == pytest.approx(r, rel=1e-10, abs=1e-12)
            assert bool(step.terminated[i]) == term
        if task.spec.discrete and step.terminated.any():  # restart fallen poles to keep comparing
            task.reset(seeds=np.arange(n) + 200 + t, mask=step.terminated)
    for env in envs:
        env.close()


@pytest.mark.parametrize("name", ["cartpole", "pendulum", "driving"])
def test_reset_depends_only_on_the_env_seed(name: str) -> None:
    seeds = np.array([5, 9, 11, 3])
    big = make_task(name, num_envs=4).reset(seeds=seeds)
    for i, s in enumerate(seeds):
        one = make_task(name, num_envs=1).reset(seeds=np.array([s]))
        np.testing.assert_array_equal(one[0], big[i])
    assert not np.array_equal(big[0], big[1])


@pytest.mark.parametrize("name", ["cartpole", "pendulum", "driving"])
def test_same_seeds_same_trajectory_whatever_num_envs(name: str) -> None:
    rng = np.random.default_rng(1)
    big = make_task(name, num_envs=3)
    big.reset(seeds=np.array([7, 8, 9]))
    small = make_task(name, num_envs=1)
    small.reset(seeds=np.array([8]))
    for _ in range(15):
        acts = _random_actions(big, rng)
        if name == "driving":
            acts = acts * 0.02
        sb = big.step(acts)
        ss = small.step(acts[1:2])
        np.testing.assert_array_equal(sb.obs[1], ss.obs[0])
        np.testing.assert_array_equal(sb.rewards[1], ss.rewards[0])


def test_masked_reset_leaves_other_envs_alone() -> None:
    task = make_task("pendulum", num_envs=3)
    task.reset(seeds=np.array([0, 1, 2]))
    after = task.step(np.zeros((3, 1), np.float32)).obs
    state = task.get_state()
    obs = task.reset(seeds=np.array([10, 11, 12]), mask=np.array([False, True, False]))
    np.testing.assert_array_equal(obs[[0, 2]], after[[0, 2]])
    np.testing.assert_array_equal(task.get_state()[[0, 2]], state[[0, 2]])
    np.testing.assert_array_equal(obs[1], make_task("pendulum").reset(seeds=np.array([11]))[0])
    assert task.get_state()[1, -1] == 0  # the step counter restarted


def test_unseeded_reset_continues_the_env_generator() -> None:
    task = make_task("cartpole", num_envs=2)
    first = task.reset(seeds=np.array([4, 4]))
    second = task.reset()
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(second[0], second[1])  # same seed, same generator stream
    gym_env = gym.make("CartPole-v1")
    gym_env.reset(seed=4)
    np.testing.assert_array_equal(second[0], gym_env.reset()[0])


@pytest.mark.parametrize("name", ["cartpole", "pendulum", "driving"])
def test_state_round_trip_replays_exactly(name: str) -> None:
    rng = np.random.default_rng(3)
    task = make_task(name, num_envs=4)
    task.reset(seeds=np.arange(4))
    for _ in range(5):
        task.step(_random_actions(task, rng) * (0.02 if name == "driving" else 1))
    saved = task.get_state()
    assert saved.dtype == np.float64 and saved.shape[0] == 4
    plan = [_random_actions(task, rng) * (0.02 if name == "driving" else 1) for _ in range(10)]
    first = [task.step(a) for a in plan]
    # scramble the generators: the future must depend on the state alone
    task.reset(seeds=np.arange(4) + 99)
    obs = task.set_state(saved)
    np.testing.assert_array_equal(obs, make_task(name, num_envs=4).set_state(saved))
    for a, ref in zip(plan, first):
        again = task.step(a)
        for field in ("obs", "rewards", "terminated", "truncated", "costs"):
            np.testing.assert_array_equal(getattr(again, field), getattr(ref, field))


def test_no_auto_reset_and_terminating_step_rewarded() -> None:
    task = make_task("cartpole", num_envs=2)
    task.reset(seeds=np.array([0, 1]))
    step = task.step(np.ones(2, np.int64))
    while not step.terminated[0]:
        step = task.step(np.ones(2, np.int64))  # always push right: the pole falls
    assert step.rewards[0] == 1.0  # Gymnasium rewards the terminating step too
    x, theta = step.obs[0, 0], step.obs[0, 2]
    assert abs(x) > 2.4 or abs(theta) > 12 * 2 * np.pi / 360  # the final obs, not a fresh reset
    assert task.get_state()[0, -1] > 1


def test_truncates_at_max_steps() -> None:
    task = make_task("pendulum", num_envs=2, max_steps=7)
    task.reset(seeds=np.array([0, 1]))
    flags = [task.step(np.zeros((2, 1), np.float32)).truncated.copy() for _ in range(7)]
    assert not np.any(flags[:6]) and np.all(flags[6])
    assert make_task("cartpole").spec.max_steps == 500
    assert make_task("pendulum").spec.max_steps == 200
    assert make_task("driving", max_steps=3000).spec.max_steps == 3000


def test_spaces_and_dtypes() -> None:
    cart = make_task("cartpole", num_envs=3)
    obs = cart.reset(seeds=np.arange(3))
    assert obs.dtype == np.float32 and obs.shape == (3, 4)
    assert cart.spec.discrete and cart.spec.act_dim == 2 and cart.spec.gym_id == "CartPole-v1"
    pend = make_task("pendulum", num_envs=2)
    assert pend.reset(seeds=np.arange(2)).shape == (2, 3)
    assert not pend.spec.discrete and pend.spec.act_dim == 1


@pytest.mark.parametrize("name", task_names())
def test_render_returns_rgb_frame(name: str) -> None:
    """Every task renders, whatever the extras installed beside it (gym-pusht's pygame and
    gymnasium's pygame-ce share one folder)."""
    if name in ("halfcheetah", "hopper", "walker2d", "swimmer", "ant"):
        pytest.importorskip("mujoco")
    if name.startswith("pusht"):
        pytest.importorskip("gym_pusht")
    task = make_task(name, num_envs=2)
    task.reset(seeds=np.array([0, 1]))
    frame = task.render(1)
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    assert frame.std() > 0
    task.close()


def test_registry_errors() -> None:
    with pytest.raises(TaskError, match="known: cartpole, pendulum"):
        make_task("carpole")
    with pytest.raises(ConfigError, match="num_envs"):
        make_task("cartpole", num_envs=0)
    with pytest.raises(ConfigError, match="max_steps"):
        make_task("driving", max_steps=-5)
    with pytest.raises(ConfigError):
        make_task("pendulum", num_envs=True)
    task = make_task("cartpole", num_envs=2)
    task.reset(seeds=np.array([0, 1]))
    with pytest.raises(TaskError, match="shape"):
        task.step(np.zeros(3, np.int64))
    with pytest.raises(TaskError):
        task.step(np.array([0, 2]))
    with pytest.raises(TaskError):
        task.set_state(np.zeros((2, 3)))
    with pytest.raises(TaskError, match="seeds"):
        task.reset(seeds=np.array([1, -1]))
    with pytest.raises(TaskError, match="get_state"):
        make_task("lunarlander").get_state()
    assert issubclass(TaskError, MimeticError)


def test_direct_constructors_validate() -> None:
    with pytest.raises(ConfigError):
        CartPoleTask(num_envs=-1)
    with pytest.raises(ConfigError):
        PendulumTask(max_steps=0)


def test_task_listing() -> None:
    assert task_names() == ["cartpole", "pendulum", "lunarlander", "lunarlander-continuous", "driving", "multimodal",
                            "halfcheetah", "hopper", "walker2d", "swimmer", "ant", "pusht", "pusht-keypoints"]
    rows = {row["name"]: row for row in describe_tasks()}
    assert set(rows) == set(task_names())
    assert rows["driving"]["obs_dim"] == 6 and rows["driving"]["max_steps"] == 400
    assert rows["lunarlander"]["action"] == "discrete" and rows["lunarlander"]["act_dim"] == 4
    assert rows["lunarlander-continuous"]["act_dim"] == 2
    assert rows["cartpole"]["expert"] == "cartpole-lqr"
