"""The multimodal task: hidden coin, expert success, obstacle/goal termination, state round trips."""

from __future__ import annotations

import numpy as np

from mimetic.envs import make_expert, make_task
from mimetic.envs.multimodal import (
    LEFT,
    OBSTACLE,
    MultimodalTask,
    coin_of,
    episode_success,
    expert_actions,
    reached_goal,
)
from mimetic.rollout import collect, rollout


class Straight:
    """Full speed straight ahead: the average of the expert's two modes."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.tile(np.array([0.0, 1.0], np.float32), (len(obs), 1))  # (B, 2)

    def reset(self, mask: np.ndarray) -> None:
        pass


def test_registered_with_expert() -> None:
    task = make_task("multimodal", num_envs=3, max_steps=40)
    assert isinstance(task, MultimodalTask) and task.spec.max_steps == 40
    assert task.spec.obs_dim == 4 and task.spec.act_dim == 2 and not task.spec.discrete
    assert make_expert("multimodal").name == "multimodal-coin"


def test_reset_is_deterministic_per_seed_and_hides_the_coin() -> None:
    task = make_task("multimodal", num_envs=4)
    obs = task.reset(seeds=np.array([3, 4, 5, 6]))
    again = make_task("multimodal", num_envs=1).reset(seeds=np.array([5]))
    np.testing.assert_array_equal(obs[2], again[0])
    assert obs.shape == (4, 4) and obs.dtype == np.float32  # x, y, gx, gy: no coin column
    np.testing.assert_array_equal(task.coins, coin_of(obs[:, 3]))


def test_coin_is_about_fair_across_seeds() -> None:
    task = make_task("multimodal", num_envs=400)
    task.reset(seeds=np.arange(400))
    assert 0.42 < task.coins.mean() < 0.58


def test_expert_always_succeeds_on_the_coins_side() -> None:
    task = make_task("multimodal", num_envs=16)
    trajs = collect(task, make_expert("multimodal"), episodes=64, seed=0)
    assert all(episode_success(t) for t in trajs)
    for t in trajs:
        level = t.obs[np.argmin(np.abs(t.obs[:, 1] - OBSTACLE[1])), 0]  # x when level with the obstacle
        went_left = level < 0
        assert went_left == (coin_of(t.obs[:1, 3])[0] == LEFT)
        assert np.all(t.obs[:, 3] == t.obs[0, 3])  # the goal, hence the coin, is fixed in an episode
    sides = np.array([t.obs[15, 0] < 0 for t in trajs])
    assert 0.25 < sides.mean() < 0.75  # both modes demonstrated


def test_the_average_action_crashes() -> None:
    task = make_task("multimodal", num_envs=8)
    trajs = rollout(task, Straight(), episodes=8, seed=0)
    assert not any(episode_success(t) for t in trajs)
    assert all(t.terminated and t.costs.sum() == 1.0 and len(t) <= 5 for t in trajs)


def test_expert_labels_any_subset_consistently() -> None:
    task = make_task("multimodal", num_envs=6)
    obs = task.reset(seeds=np.arange(6))
    full = expert_actions(obs)
    np.testing.assert_array_equal(expert_actions(obs[[4, 1]]), full[[4, 1]])
    assert np.all(np.abs(full) <= 1.0)


def test_state_round_trip_replays_exactly() -> None:
    task = make_task("multimodal", num_envs=5)
    obs = task.reset(seeds=np.arange(5))
    rng = np.random.default_rng(0)
    for _ in range(3):
        obs = task.step(expert_actions(obs)).obs
    state = task.get_state()
    acts = rng.uniform(-1, 1, size=(5, 2)).astype(np.float32)
    first = task.step(acts)
    task.set_state(state)
    second = task.step(acts)
    np.testing.assert_array_equal(first.obs, second.obs)
    np.testing.assert_array_equal(first.rewards, second.rewards)


def test_goal_reward_and_render() -> None:
    task = make_task("multimodal", num_envs=1)
    obs = task.reset(seeds=np.array([0]))
    state = task.get_state()
    state[0, :2] = obs[0, 2:4] - np.array([0.0, 0.15])  # just short of the goal
    task.set_state(state)
    step = task.step(np.array([[0.0, 1.0]], np.float32))
    assert step.terminated[0] and reached_goal(step.obs)[0] and step.rewards[0] > 1.0
    frame = task.render(0)
    assert frame.shape == (240, 240, 3) and frame.dtype == np.uint8


def test_registered_single_env_matches_the_batched_task():
    import gymnasium as gym

    from mimetic.envs import MULTIMODAL_ID

    env = gym.make(MULTIMODAL_ID, render_mode="rgb_array")
    obs, _ = env.reset(seed=7)
    again, _ = gym.make(MULTIMODAL_ID).reset(seed=7)
    np.testing.assert_array_equal(obs, again)  # a Gymnasium seed always gives the same episode
    expert = make_expert("multimodal")
    for _ in range(60):
        obs, reward, terminated, truncated, _ = env.step(expert(obs[None])[0])
        if terminated or truncated:
            break
    assert terminated and not truncated and reward > 0  # the expert reaches the goal
    assert env.render().ndim == 3
