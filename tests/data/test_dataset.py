"""Dataset: layout, growth, training accessors, windows and validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mimetic.data import Dataset
from mimetic.errors import ConfigError, DataError
from mimetic.types import Trajectory


@pytest.fixture
def two_episodes(make_discrete) -> Dataset:
    """Episode 0: 3 steps, obs feature 0 = 0..3; episode 1: 2 steps, obs feature 0 = 10..12."""
    return Dataset.from_trajectories([make_discrete(3, start=0, seed=7), make_discrete(2, start=10)],
                                     metadata={"task": "cartpole"})


def test_flat_layout(two_episodes: Dataset) -> None:
    ds = two_episodes
    assert (ds.n_episodes, ds.n_steps, ds.n_transitions) == (2, 5, 5)
    assert ds.obs.shape == (7, 2) and ds.obs.dtype == np.float32
    assert ds.acts.dtype == np.int64 and ds.acts.tolist() == [0, 1, 0, 0, 1]
    assert ds.ep_starts.tolist() == [0, 3] and ds.ep_lengths.tolist() == [3, 2]
    assert ds.ep_obs_starts.tolist() == [0, 4]
    assert ds.obs[:, 0].tolist() == [0, 1, 2, 3, 10, 11, 12]
    assert ds.step_episode.tolist() == [0, 0, 0, 1, 1]
    assert ds.episode_seeds.tolist() == [7, -1]
    assert ds.terminated.tolist() == [True, True] and ds.truncated.tolist() == [False, False]
    assert ds.costs is not None and np.allclose(ds.costs, 0.25)
    assert ds.expert_acted is None and not ds.has_labels


def test_transitions_pair_each_target_with_the_observation_before_it(two_episodes: Dataset) -> None:
    obs, acts = two_episodes.transitions()
    assert obs.shape == (5, 2) and acts.shape == (5,)
    assert obs[:, 0].tolist() == [0, 1, 2, 10, 11]  # never the final observation of an episode
    assert acts.tolist() == [0, 1, 0, 0, 1]


def test_transitions_honour_the_valid_mask(make_discrete) -> None:
    ds = Dataset.from_trajectories([make_discrete(4, start=0, labels=True)], targets="labels")
    # labeled = t % 3 != 1 -> steps 0, 2, 3; labels are 1 - executed
    assert ds.valid.tolist() == [True, False, True, True]
    assert ds.n_transitions == 3 and ds.step_index().tolist() == [0, 2, 3]
    obs, acts = ds.transitions()
    assert obs[:, 0].tolist() == [0, 2, 3]
    assert acts.tolist() == [1, 1, 0]
    assert ds.executed_acts.tolist() == [0, 1, 0, 1]
    assert ds.acts[1] == ds.executed_acts[1]  # the unlabelled row keeps a valid action
    assert ds.has_labels


def test_views_are_read_only_and_not_copies(two_episodes: Dataset) -> None:
    ds = two_episodes
    assert np.shares_memory(ds.obs, ds._obs)
    with pytest.raises(ValueError):
        ds.acts[0] = 1
    traj = next(ds.episodes())
    assert np.shares_memory(traj.obs, ds.obs)


def test_extend_matches_building_at_once(make_discrete) -> None:
    trajs = [make_discrete(t, start=10 * i, seed=i) for i, t in enumerate([3, 1, 4, 2])]
    whole = Dataset.from_trajectories(trajs)
    part = Dataset.from_trajectories(trajs[:1])
    part.extend(trajs[1:2])
    part.extend(Dataset.from_trajectories(trajs[2:]))
    for name in ("obs", "acts", "rewards", "valid", "costs", "ep_starts", "ep_lengths", "episode_seeds",
                 "step_episode", "terminated"):
        assert np.array_equal(getattr(part, name), getattr(whole, name)), name
    assert np.allclose(part.episode_returns(), [t.ret for t in trajs])


def test_extend_mixes_demonstrations_with_labelled_rollouts(make_discrete) -> None:
    demos = Dataset.from_trajectories([make_discrete(3, start=0)])
    demos.extend([make_discrete(3, start=5, labels=True)], targets="labels")
    assert demos.has_labels and demos.n_steps == 6
    assert demos.valid.tolist() == [True, True, True, True, False, True]
    assert demos.acts.tolist() == [0, 1, 0, 1, 1, 1]
    assert demos.executed_acts.tolist() == [0, 1, 0, 0, 1, 0]
    # a dataset whose episodes carry no costs counts them as 0 once mixed with one that does
    no_costs = Trajectory(obs=np.zeros((3, 2), np.float32), acts=np.zeros(2, np.int64), rewards=np.zeros(2),
                          terminated=False, truncated=True)
    demos.extend([no_costs])
    assert demos.costs is not None and demos.costs[-2:].tolist() == [0.0, 0.0]
    mixed = Dataset.from_trajectories([no_costs, make_discrete(2, start=0)])  # within one call too
    assert mixed.costs is not None and mixed.costs.tolist() == [0.0, 0.0, 0.25, 0.25]


def test_episodes_round_trip_through_trajectories(make_discrete) -> None:
    ds = Dataset.from_trajectories([make_discrete(4, start=0, labels=True, seed=3),
                                    make_discrete(2, start=9, labels=True)], targets="labels")
    again = Dataset.from_trajectories(list(ds.episodes()), targets="labels")
    for name in ("obs", "acts", "executed_acts", "valid", "costs", "rewards", "episode_seeds"):
        assert np.array_equal(getattr(again, name), getattr(ds, name)), name


def test_growth_is_amortised_by_doubling(make_discrete) -> None:
    traj = make_discrete(5, start=0)
    ds = Dataset.from_trajectories([traj])
    caps = [ds.capacity]
    buffers = {id(ds._acts)}
    for _ in range(400):
        ds.extend([traj])
        caps.append(ds.capacity)
        buffers.add(id(ds._acts))
    distinct = sorted(set(caps))
    assert all(b >= 2 * a for a, b in zip(distinct, distinct[1:]))  # capacity at least doubles
    assert len(distinct) <= math.ceil(math.log2(ds.n_steps)) + 1
    assert ds.n_steps == 401 * 5 and ds.capacity < 4 * ds.n_steps


def test_windows_pad_within_each_episode(two_episodes: Dataset) -> None:
    obs, acts, mask = two_episodes.windows(np.array([0, 2, 3, 4]), obs_horizon=2, act_horizon=3)
    assert obs.shape == (4, 2, 2) and acts.shape == (4, 3) and mask.dtype == bool
    assert obs[:, :, 0].tolist() == [[0, 0], [1, 2], [10, 10], [10, 11]]
    assert acts.tolist() == [[0, 1, 0], [0, 0, 0], [0, 1, 1], [1, 1, 1]]
    assert mask.tolist() == [[True, True, True], [True, False, False], [True, True, False], [True, False, False]]


def test_windows_mask_unlabelled_targets(make_discrete) -> None:
    ds = Dataset.from_trajectories([make_discrete(4, start=0, labels=True)], targets="labels")
    _, acts, mask = ds.windows(np.array([0]), obs_horizon=1, act_horizon=4)
    assert acts.tolist() == [[1, 1, 1, 0]]
    assert mask.tolist() == [[True, False, True, True]]


def test_windows_reject_bad_arguments(two_episodes: Dataset) -> None:
    with pytest.raises(ConfigError):
        two_episodes.windows(np.array([0]), obs_horizon=0, act_horizon=1)
    with pytest.raises(IndexError):
        two_episodes.windows(np.array([5]), obs_horizon=1, act_horizon=1)


def test_obs_stats_cover_every_observation_and_leave_constant_features_unscaled(two_episodes: Dataset) -> None:
    mean, std = two_episodes.obs_stats()
    feature = np.array([0, 1, 2, 3, 10, 11, 12], np.float64)
    assert mean.dtype == np.float32 and mean.shape == (2,)
    assert np.allclose(mean, [feature.mean(), 0.5]) and np.isclose(std[0], feature.std())
    assert std[1] == 1.0  # constant feature: centred only
    with pytest.raises(DataError, match="empty"):
        Dataset(obs_shape=(2,), act_shape=(), discrete=True).obs_stats()


def test_empty_dataset_from_spec(cartpole_spec) -> None:
    ds = Dataset.empty(cartpole_spec)
    assert ds.n_episodes == 0 and ds.obs.shape == (0, 2) and ds.metadata["task"] == "cartpole"
    assert ds.episode_returns().shape == (0,)
    ds.validate(cartpole_spec)


def test_construction_errors(make_discrete, make_continuous) -> None:
    with pytest.raises(DataError, match="0 trajectories"):
        Dataset.from_trajectories([])
    with pytest.raises(DataError, match="no expert labels"):
        Dataset.from_trajectories([make_discrete(2, start=0)], targets="labels")
    with pytest.raises(ConfigError, match="targets"):
        Dataset.from_trajectories([make_discrete(2, start=0)], targets="expert")  # type: ignore[arg-type]
    short = make_discrete(3, start=0)
    with pytest.raises(DataError, match="trajectory 0 has 2 costs for 3 steps"):
        Dataset.from_trajectories([Trajectory(obs=short.obs, acts=short.acts, rewards=short.rewards,
                                              terminated=True, truncated=False, costs=np.zeros(2))])
    ds = Dataset.from_trajectories([make_discrete(2, start=0)])
    with pytest.raises(DataError, match=r"shape \(3,\) but the dataset holds \(2,\)"):
        ds.extend([make_continuous(np.random.default_rng(0), 2)])


def _with_nan_obs(make_discrete) -> Dataset:
    bad = make_discrete(3, start=0)
    obs = bad.obs.copy()
    obs[1, 0] = np.nan
    obs[2, :] = np.inf
    return Dataset.from_trajectories([make_discrete(2, start=0), make_discrete(2, start=0),
                                      Trajectory(obs=obs, acts=bad.acts, rewards=bad.rewards, terminated=True,
                                                 truncated=False)], metadata={"task": "cartpole"})


def test_validate_reports_non_finite_values_with_their_episode(make_discrete) -> None:
    message = r"^dataset 'cartpole' has 3 NaN/inf values in observations \(first in episode 2\)$"
    with pytest.raises(DataError, match=message):
        _with_nan_obs(make_discrete).validate()


def _single(obs_dim: int, acts: np.ndarray) -> Dataset:
    t = len(acts)
    return Dataset.from_trajectories([Trajectory(obs=np.zeros((t + 1, obs_dim), np.float32), acts=acts,
                                                 rewards=np.zeros(t), terminated=True, truncated=False)])


def test_validate_against_a_task(make_discrete, make_continuous, cartpole_spec, pendulum_spec) -> None:
    disc = Dataset.from_trajectories([make_discrete(3, start=0)])
    disc.validate(cartpole_spec)
    with pytest.raises(DataError, match=r"observations have shape \(2,\) but task 'pendulum' expects \(3,\)"):
        disc.validate(pendulum_spec)
    Dataset.from_trajectories([make_continuous(np.random.default_rng(0), 4)]).validate(pendulum_spec)
    with pytest.raises(DataError, match=r"actions have shape \(2,\) but task 'pendulum' expects \(1,\)"):
        _single(3, np.zeros((2, 2), np.float32)).validate(pendulum_spec)
    with pytest.raises(DataError, match="has continuous actions but task 'cartpole' has discrete actions"):
        _single(2, np.zeros(2, np.float32)).validate(cartpole_spec)
    message = r"has 2 actions outside \[0, 2\) of task 'cartpole' \(first: 2 in episode 0\)"
    with pytest.raises(DataError, match=message):
        _single(2, np.array([0, 2, 3])).validate(cartpole_spec)
