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
    expert = load_sb3_expert(tmp_path / "ppo_cartpole.zip", task.spec, normalize=False)
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


def _normalized_model(tmp_path):
    """An SB3 PPO on Pendulum behind VecNormalize, with statistics far from 0/1 (so raw and
    normalised observations give different actions), saved the way RL Zoo saves them."""
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    venv = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]), norm_reward=False)
    venv.obs_rms.mean = np.array([0.5, -0.3, 4.0])
    venv.obs_rms.var = np.array([0.04, 0.09, 0.25])
    model = sb3.PPO("MlpPolicy", venv, seed=0, device="cpu", n_steps=64)
    model.save(tmp_path / "ppo_pendulum.zip")
    venv.save(tmp_path / "vecnormalize.pkl")
    return model, venv


def test_sb3_vecnormalize_beside_the_zip_is_applied(tmp_path):
    model, venv = _normalized_model(tmp_path)
    task = make_task("pendulum", num_envs=6)
    obs = task.reset(seeds=np.arange(6))
    want = model.predict(venv.normalize_obs(obs), deterministic=True)[0]
    expert = load_sb3_expert(tmp_path / "ppo_pendulum.zip", task.spec)
    np.testing.assert_allclose(expert(obs), want, rtol=1e-5, atol=1e-6)
    raw = load_sb3_expert(tmp_path / "ppo_pendulum.zip", task.spec, normalize=False)
    assert not np.allclose(raw(obs), want)  # the statistics matter for this check to mean anything
    # named explicitly, from elsewhere
    (tmp_path / "vecnormalize.pkl").rename(tmp_path / "stats.pkl")
    named = load_sb3_expert(tmp_path / "ppo_pendulum.zip", task.spec, normalize=tmp_path / "stats.pkl")
    np.testing.assert_allclose(named(obs), want, rtol=1e-5, atol=1e-6)


def test_sb3_missing_vecnormalize_warns_and_bad_stats_refused(tmp_path):
    _normalized_model(tmp_path)
    (tmp_path / "vecnormalize.pkl").unlink()
    spec = make_task("pendulum").spec
    with pytest.warns(UserWarning, match="no VecNormalize statistics beside"):
        load_sb3_expert(tmp_path / "ppo_pendulum.zip", spec)
    (tmp_path / "bad.pkl").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable VecNormalize"):
        load_sb3_expert(tmp_path / "ppo_pendulum.zip", spec, normalize=tmp_path / "bad.pkl")
    with pytest.raises(CheckpointError, match="no VecNormalize statistics file"):
        load_sb3_expert(tmp_path / "ppo_pendulum.zip", spec, normalize=tmp_path / "absent.pkl")


def test_cli_expert_names_its_statistics(tmp_path):
    from mimetic.cli.common import resolve_expert

    model, venv = _normalized_model(tmp_path)
    (tmp_path / "vecnormalize.pkl").rename(tmp_path / "stats.pkl")
    task = make_task("pendulum", num_envs=4)
    obs = task.reset(seeds=np.arange(4))
    expert = resolve_expert("pendulum", f"{tmp_path / 'ppo_pendulum.zip'}:{tmp_path / 'stats.pkl'}", task.spec)
    np.testing.assert_allclose(expert(obs), model.predict(venv.normalize_obs(obs), deterministic=True)[0],
                               rtol=1e-5, atol=1e-6)
