"""A dataset grown round by round (DAgger's aggregation) caches what BC reads; the cached values
must be exactly those of a dataset built from the same episodes in one go."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.types import Trajectory

WINDOW = (2, 4)  # obs_horizon, act_horizon


def labelled_traj(rng: np.random.Generator, t: int) -> Trajectory:
    """Continuous, partly labelled (about a third of the steps unlabelled), an offset feature."""
    obs = rng.normal(size=(t + 1, 3)).astype(np.float32)  # (T+1, 3)
    obs[:, 2] = 50.0 + 1e-3 * obs[:, 2]  # large mean, tiny spread: the hard case for variance
    acts = rng.uniform(-1, 1, size=(t, 2)).astype(np.float32)  # (T, 2)
    return Trajectory(obs=obs, acts=acts, rewards=rng.normal(size=t), terminated=True, truncated=False,
                      labels=-acts, labeled=rng.random(t) > 0.3)


@pytest.fixture
def rounds() -> list[list[Trajectory]]:
    rng = np.random.default_rng(3)
    lengths = [[5, 1, 9], [4], [], [7, 2, 3, 8], [1, 6]]  # an empty round and 1-step episodes too
    return [[labelled_traj(rng, t) for t in round_] for round_ in lengths]


def assert_same_training_view(grown: Dataset, fresh: Dataset) -> None:
    assert np.array_equal(grown.step_index(), fresh.step_index())
    assert np.array_equal(grown.step_index(), np.flatnonzero(fresh.valid))
    assert grown.n_transitions == fresh.n_transitions == int(fresh.valid.sum())
    for got, want in zip(grown.obs_stats(), fresh.obs_stats()):
        assert got.dtype == np.float32 and np.array_equal(got, want)  # bitwise
    assert np.array_equal(grown._moments_by_key[None].mean, fresh._moments_by_key[None].mean)  # the float64 moments too
    assert np.array_equal(grown._moments_by_key[None].m2, fresh._moments_by_key[None].m2)
    obs, acts, mask, finite = grown.training_arrays()
    want_obs, want_acts = fresh.transitions()
    assert mask is None and finite
    assert np.array_equal(obs, want_obs) and np.array_equal(acts, want_acts)
    obs, acts, mask, finite = grown.training_arrays(obs_horizon=WINDOW[0], act_horizon=WINDOW[1])
    want = fresh.windows(fresh.step_index(), obs_horizon=WINDOW[0], act_horizon=WINDOW[1])
    assert finite
    for got, expected in zip((obs, acts, mask), want):
        assert got.shape == expected.shape and np.array_equal(got, expected)


def test_a_dataset_extended_round_by_round_matches_one_built_at_once(rounds) -> None:
    grown = Dataset.from_trajectories(rounds[0], targets="labels")
    seen = list(rounds[0])
    for i, new in enumerate(rounds[1:]):
        # Read the cached rows between extensions (as a refit does), so only the new part is added.
        grown.training_arrays()
        grown.training_arrays(obs_horizon=WINDOW[0], act_horizon=WINDOW[1])
        if i == 2:  # extending by another Dataset keeps the caches up to date too
            grown.extend(Dataset.from_trajectories(new, targets="labels"))
        else:
            grown.extend(new, targets="labels")
        seen += new
        assert_same_training_view(grown, Dataset.from_trajectories(seen, targets="labels"))


def test_obs_stats_equal_the_two_pass_float64_formula(rounds) -> None:
    ds = Dataset.from_trajectories([t for r in rounds for t in r], targets="labels")
    obs = ds.obs
    mean, std = ds.obs_stats()
    # The statistics BC used before they were kept incrementally (mean and a second pass around it).
    assert np.array_equal(mean, obs.mean(axis=0, dtype=np.float64).astype(np.float32))
    assert np.array_equal(std, obs.std(axis=0, dtype=np.float64).astype(np.float32))


def test_cached_rows_flag_non_finite_values_added_later(rounds) -> None:
    ds = Dataset.from_trajectories(rounds[0], targets="labels")
    assert ds.training_arrays()[3]
    bad = rounds[1][0]
    obs = bad.obs.copy()
    obs[1, 0] = np.nan
    ds.extend([Trajectory(obs=obs, acts=bad.acts, rewards=bad.rewards, terminated=True, truncated=False,
                          labels=bad.labels, labeled=np.ones(len(bad), bool))], targets="labels")
    assert not ds.training_arrays()[3]
    assert not ds.training_arrays(obs_horizon=WINDOW[0], act_horizon=WINDOW[1])[3]


class _Linear(torch.nn.Module):
    """The smallest trainable policy: a linear map of the normalised observation."""

    window = 1
    loss_name = "mse"

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(3, 2)
        self.mean = torch.zeros(3)
        self.std = torch.ones(3)

    def set_normalizer(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean, self.std = torch.as_tensor(mean), torch.as_tensor(std)

    def loss(self, batch, *, metrics: bool = True):
        pred = self.lin((batch.obs - self.mean) / self.std)
        return ((pred - batch.acts) ** 2).mean(), {}


def test_refitting_a_grown_dataset_trains_exactly_as_a_fresh_one(rounds) -> None:
    grown = Dataset.from_trajectories(rounds[0], targets="labels")
    config = bc.BCConfig(steps=30, batch_size=4, log_every=10)
    bc.fit(_Linear(), grown, config)  # fills the caches
    for new in rounds[1:]:
        grown.extend(new, targets="labels")
    fresh = Dataset.from_trajectories([t for r in rounds for t in r], targets="labels")
    a, b = _Linear(), _Linear()
    res_a, res_b = bc.fit(a, grown, config), bc.fit(b, fresh, config)
    assert [h["loss"] for h in res_a.history] == [h["loss"] for h in res_b.history]
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_training_arrays_need_both_horizons(rounds) -> None:
    from mimetic.errors import ConfigError

    with pytest.raises(ConfigError, match="both obs_horizon and act_horizon"):
        Dataset.from_trajectories(rounds[0], targets="labels").training_arrays(obs_horizon=2)
