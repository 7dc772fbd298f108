"""GymTask: LunarLander with the vectorised heuristic, any Gymnasium id, batched semantics."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.box2d.lunar_lander import heuristic

from mimetic.envs import GymTask, make_expert, make_task
from mimetic.errors import ConfigError, TaskError


@pytest.mark.parametrize("name", ["lunarlander", "lunarlander-continuous"])
def test_lander_heuristic_lands(name: str, run_expert) -> None:
    task = make_task(name, num_envs=10)
    expert = make_expert(name)
    eps = run_expert(task, expert)
    assert eps.returns.mean() > 200
    # the vectorised heuristic agrees with Gymnasium's scalar one on every visited state
    ref_env = gym.make("LunarLander-v3", continuous=name.endswith("continuous"))
    ours = expert(eps.obs)
    theirs = np.stack([np.asarray(heuristic(ref_env, o)) for o in eps.obs])
    if task.spec.discrete:
        assert np.mean(ours == theirs) > 0.999  # float32 vs float64 at the thresholds
    else:
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    task.close()
    ref_env.close()


def test_any_gym_id_and_semantics() -> None:
    task = make_task("gym:Acrobot-v1", num_envs=2, max_steps=5)
    assert task.spec.name == "gym:Acrobot-v1" and task.spec.max_steps == 5 and task.spec.discrete
    obs = task.reset(seeds=np.array([1, 2]))
    ref = gym.make("Acrobot-v1").reset(seed=2)[0]
    np.testing.assert_array_equal(obs[1], ref)
    assert obs.dtype == np.float32
    for _ in range(5):
        step = task.step(np.zeros(2, np.int64))
    assert step.truncated.all()
    obs2 = task.reset(seeds=np.array([1, 9]), mask=np.array([True, False]))
    np.testing.assert_array_equal(obs2[1], step.obs[1])  # not reset, no auto-reset either
    np.testing.assert_array_equal(obs2[0], obs[0])
    assert make_task("MountainCarContinuous-v0").spec.name == "gym:MountainCarContinuous-v0"
    with pytest.raises(TaskError, match="shape"):
        task.step(np.zeros(3, np.int64))
    task.close()


def test_gym_task_errors() -> None:
    with pytest.raises(TaskError, match="unknown task"):
        make_task("gym:NoSuchEnv-v9")
    with pytest.raises(TaskError, match="observation space"):
        GymTask("Blackjack-v1")
    with pytest.raises(ConfigError, match="num_envs"):
        make_task("gym:Acrobot-v1", num_envs=0)
