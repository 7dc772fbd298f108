"""Loading a Stable-Baselines3 policy file as an expert (runs where SB3 is installed: the test extra)."""

import numpy as np
import pytest

from mimetic.envs import load_sb3_expert, make_task
from mimetic.errors import CheckpointError, TaskError

sb3 = pytest.importorskip("stable_baselines3")


def test_sb3_zip_labels_batches_like_the_model(tmp_path):
    import gymnasium as gym

    model = sb3.PPO("MlpPolicy", gym.make("CartPole-v1"), seed=0, device="cpu", n_steps=64)
    model.save(tmp_path / "ppo_cartpole.zip")
    task = make_task("cartpole", num_envs=8)
    expert = load_sb3_expert(tmp_path / "ppo_cartpole.zip", task.spec)
    obs = task.reset(seeds=np.arange(8))
    acts = expert(obs)
    assert acts.dtype == np.int64 and acts.shape == (8,)
    np.testing.assert_array_equal(acts, model.predict(obs, deterministic=True)[0])


def test_sb3_errors_are_one_line(tmp_path):
    spec = make_task("pendulum").spec
    with pytest.raises(CheckpointError, match="no Stable-Baselines3 policy file"):
        load_sb3_expert(tmp_path / "missing.zip", spec)
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a loadable SB3"):
        load_sb3_expert(tmp_path / "junk.zip", spec)
    import gymnasium as gym

    sb3.PPO("MlpPolicy", gym.make("CartPole-v1"), device="cpu", n_steps=64).save(tmp_path / "cp.zip")
    with pytest.raises(TaskError, match="expects observations"):
        load_sb3_expert(tmp_path / "cp.zip", spec)
