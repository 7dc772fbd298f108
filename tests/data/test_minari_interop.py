"""Interop with the real ``minari`` package (a test-only dependency): both directions."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from mimetic.data import Dataset, load_minari, save_minari, serialize_space

minari = pytest.importorskip("minari")


@pytest.fixture
def minari_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def _cartpole_buffers(episodes: int, steps: int) -> list:
    from minari.data_collector import EpisodeBuffer

    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    buffers = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=ep)
        o, a, r, te, tr = [obs], [], [], [], []
        for _ in range(steps):
            act = int(rng.integers(2))
            obs, rew, term, trunc, _ = env.step(act)
            o.append(obs), a.append(act), r.append(rew), te.append(term), tr.append(trunc)
            if term or trunc:
                break
        buffers.append(EpisodeBuffer(seed=ep, observations=o, actions=a, rewards=r, terminations=te,
                                     truncations=tr))
    return buffers


def _assert_matches_minari(ours: Dataset, theirs) -> None:
    assert ours.n_episodes == theirs.total_episodes and ours.n_steps == theirs.total_steps
    for traj, ep in zip(ours.episodes(), theirs.iterate_episodes(), strict=True):
        assert np.array_equal(traj.obs, ep.observations.astype(np.float32))
        assert np.array_equal(traj.acts, ep.actions.reshape(traj.acts.shape))
        assert np.array_equal(traj.rewards, ep.rewards)
        assert traj.terminated == bool(ep.terminations[-1]) and traj.truncated == bool(ep.truncations[-1])


def test_serialised_spaces_match_minari() -> None:
    from minari.serialization import serialize_space as minari_serialize

    for space in (gym.spaces.Box(-1.0, 2.0, (2, 3), np.float32), gym.spaces.Discrete(5, start=2),
                  gym.make("CartPole-v1").observation_space):
        assert serialize_space(space) == minari_serialize(space)


def test_dataset_made_by_minari_loads(minari_root: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # minari nags about missing author/permalink fields
        theirs = minari.create_dataset_from_buffers("cartpole/random-v0", _cartpole_buffers(3, 12),
                                                    env="CartPole-v1", algorithm_name="random")
    ours = load_minari(minari_root / "cartpole" / "random-v0")
    _assert_matches_minari(ours, theirs)
    assert ours.discrete and ours.action_space == gym.spaces.Discrete(2)
    assert ours.episode_seeds.tolist() == [0, 1, 2]
    assert ours.metadata == {"dataset_id": "cartpole/random-v0", "gym_id": "CartPole-v1"}


def test_dataset_from_minari_data_collector_loads(minari_root: Path) -> None:
    pytest.importorskip("jax")  # minari's DataCollector needs jax (minari[create])
    env = minari.DataCollector(gym.make("CartPole-v1"))
    for ep in range(2):
        env.reset(seed=ep)
        for _ in range(8):
            _, _, term, trunc, _ = env.step(env.action_space.sample())
            if term or trunc:
                break
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = env.create_dataset("cartpole/collected-v0", algorithm_name="random")
    _assert_matches_minari(load_minari(minari_root / "cartpole" / "collected-v0"), theirs)


def test_our_files_load_in_minari(minari_root: Path, make_discrete, make_continuous, cartpole_spec,
                                  pendulum_spec) -> None:
    demos = Dataset.from_trajectories([make_discrete(4, start=0, seed=5)], spec=cartpole_spec,
                                      metadata={"expert": "pd"})
    demos.extend([make_discrete(6, start=9, labels=True)], targets="labels")
    save_minari(demos, minari_root / "mimetic" / "cartpole-expert-v0")  # id from the path under the root
    theirs = minari.load_dataset("mimetic/cartpole-expert-v0")
    _assert_matches_minari(demos, theirs)
    assert theirs.action_space == cartpole_spec.action_space
    assert theirs.observation_space == cartpole_spec.observation_space
    assert theirs.env_spec is not None and theirs.env_spec.id == "CartPole-v1"
    assert [ep.id for ep in theirs] == [0, 1]
    second = next(iter(theirs.iterate_episodes([1])))
    assert np.array_equal(second.infos["mimetic"]["targets"], demos.acts[4:])
    assert "mimetic/cartpole-expert-v0" in minari.list_local_datasets()

    rng = np.random.default_rng(1)
    cont = Dataset.from_trajectories([make_continuous(rng, 5), make_continuous(rng, 2, truncated=True)],
                                     spec=pendulum_spec)
    save_minari(cont, minari_root / "pend", dataset_id="pendulum/expert-v1")
    theirs = minari.MinariDataset(minari_root / "pend" / "data")
    _assert_matches_minari(cont, theirs)
    assert theirs.action_space == pendulum_spec.action_space and theirs.spec.dataset_id == "pendulum/expert-v1"
