"""The driving task: dynamics, cost, crash, expert quality, rendering, Gymnasium registration."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mimetic.envs
from mimetic.envs import DrivingTask, Track, make_expert, make_task
from mimetic.envs.driving import CRASH_DISTANCE, E_SCALE, counter_normals
from mimetic.errors import ConfigError


def test_expert_keeps_lane_for_a_long_horizon(run_expert) -> None:
    task = make_task("driving", num_envs=16, max_steps=1000)
    eps = run_expert(task, make_expert("driving"))
    assert not eps.terminated.any() and np.all(eps.lengths == 1000)
    mean_abs_e = np.abs(eps.obs[:, 0] * E_SCALE).mean()
    assert mean_abs_e < 0.1
    assert np.all(eps.costs / eps.lengths < 0.1)  # never off-road, so cost per step = mean |e|
    np.testing.assert_allclose(eps.returns, -eps.costs)


def test_straight_steering_crashes_and_pays_for_the_rest_of_the_horizon(run_expert) -> None:
    task = make_task("driving", num_envs=4, max_steps=500)
    eps = run_expert(task, lambda obs: np.zeros((len(obs), 1), np.float32))
    assert eps.terminated.all() and np.all(eps.lengths < 100)
    # the crash step charges (|e| bound + off-road) per remaining step: total >= 5 * (T - t)
    assert np.all(eps.costs >= 5.0 * (500 - eps.lengths))


def test_observation_layout_and_bounds() -> None:
    task = DrivingTask(num_envs=3)
    obs = task.reset(seeds=np.array([0, 1, 2]))
    assert obs.shape == (3, 6) and obs.dtype == np.float32
    state = task.get_state()  # [s, e, psi, key, t]
    np.testing.assert_allclose(obs[:, 0], state[:, 1] / 2.0, rtol=1e-6)
    np.testing.assert_allclose(obs[:, 1], state[:, 2] / 0.5, rtol=1e-6)
    np.testing.assert_allclose(obs[:, 2], task.track.kappa(state[:, 0]) * 20.0, rtol=1e-5)
    assert np.all(np.abs(state[:, 1]) <= 0.5) and np.all(np.abs(state[:, 2]) <= 0.1)
    assert task.spec.observation_space.contains(obs[0])


def test_offroad_cost_and_truncation() -> None:
    task = make_task("driving", num_envs=1, max_steps=50)
    task.reset(seeds=np.array([0]))
    state = task.get_state()
    state[0, 1:3] = [2.5, 0.0]  # off-road but not crashed
    expert = make_expert("driving")
    step = task.step(expert(task.set_state(state)))
    e = task.get_state()[0, 1]
    assert 2.0 < e < CRASH_DISTANCE
    assert step.costs[0] == pytest.approx(abs(e) + 1.0)  # |e| plus the off-road charge
    flags = []
    for _ in range(49):  # steps 2..50: the expert recovers, and step 50 truncates
        step = task.step(expert(step.obs))
        flags.append(bool(step.truncated[0]))
    assert flags == [False] * 48 + [True] and not step.terminated[0]
def test_noise_is_a_pure_function_of_key_and_step() -> None:
    key, t = np.array([3.0, 3.0, 4.0]), np.array([10.0, 10.0, 10.0])
    z = counter_normals(key, t)
    np.testing.assert_array_equal(z[0], z[1])
    assert not np.array_equal(z[0], z[2])
    big = counter_normals(np.full(20000, 7.0), np.arange(20000.0))
    assert abs(big.mean()) < 0.03 and abs(big.std() - 1.0) < 0.03


def test_track_is_closed_and_steerable() -> None:
    pts = Track().centreline()
    assert np.linalg.norm(pts[-1] - pts[0]) < 1e-6
    assert 500 < Track().length < 1000
    with pytest.raises(ConfigError, match="too sharp"):
        Track(waves=((3, 0.5, 0.0),))


def test_render_is_an_rgb_frame_with_the_car() -> None:
    task = make_task("driving", num_envs=2)
    task.reset(seeds=np.array([0, 1]))
    frame = task.render(1)
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8
    red = (frame[..., 0] > 200) & (frame[..., 1] < 60)
    assert red.sum() > 10  # the car


def test_gymnasium_registration() -> None:
    mimetic.envs.register_envs()  # idempotent
    env = gym.make("mimetic/Driving-v0", render_mode="rgb_array", max_steps=30)
    check_env(env.unwrapped, skip_render_check=False)
    obs, info = env.reset(seed=3)
    assert obs.shape == (6,) and "lateral_error" in info
    total, done, n = 0.0, False, 0
    while not done:
        obs, r, term, trunc, info = env.step(make_expert("driving")(obs[None])[0])
        total, done, n = total + r, term or trunc, n + 1
    assert n == 30 and not term and total < 0
    assert env.render().shape == (256, 256, 3)
    env.close()
