"""BC with time-windowed policies: window tensors from Dataset.windows, masks, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimetic.algos import BCConfig, bc
from mimetic.data.dataset import Dataset
from mimetic.errors import ConfigError
from mimetic.types import Batch, Trajectory


def dataset() -> Dataset:
    """Two episodes (3 and 5 steps) whose observation and action at step t both equal 10 e + t."""
    trajs = []
    for e, length in enumerate((3, 5)):
        t = np.arange(length + 1, dtype=np.float32) + 10 * e
        trajs.append(Trajectory(obs=t[:, None], acts=t[:-1, None], rewards=np.zeros(length),
                                terminated=True, truncated=False))
    return Dataset.from_trajectories(trajs)


class Recorder(torch.nn.Module):
    """A window policy that records the batches BC hands it."""

    obs_horizon, pred_horizon = 2, 3
    window = 4

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.batches: list[Batch] = []
        self.stats: tuple[np.ndarray, np.ndarray] | None = None

    def loss(self, batch: Batch, *, metrics: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
        self.batches.append(batch)
        return (self.w - batch.acts.mean()).square(), {}

    def set_normalizer(self, obs_mean: np.ndarray, obs_std: np.ndarray) -> None:
        self.stats = (obs_mean, obs_std)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.zeros((len(obs), 1), np.float32)

    def reset(self, mask: np.ndarray) -> None:
        pass


def test_windowed_batches_respect_episode_boundaries() -> None:
    policy = Recorder()
    result = bc.fit(policy, dataset(), BCConfig(steps=4, batch_size=8, log_every=1))
    assert result.epochs == pytest.approx(4.0) and policy.stats is not None
    batch = policy.batches[0]
    assert batch.obs.shape == (8, 2, 1) and batch.acts.shape == (8, 3, 1)
    mask = batch.extras["mask"]
    assert mask.shape == (8, 3) and mask.dtype == torch.bool
    for obs, acts, m in zip(batch.obs[:, :, 0], batch.acts[:, :, 0], mask):
        t = int(acts[0])  # the sampled step
        start, end = (0, 3) if t < 10 else (10, 15)
        assert obs.tolist() == [max(t - 1, start), t]  # padded with the episode's first observation
        expected = [min(t + i, end - 1) for i in range(3)]  # padded with its last action
        assert acts.tolist() == expected and m.tolist() == [t + i < end for i in range(3)]
    seen = torch.cat([b.acts[:, 0, 0] for b in policy.batches[:1]]).sort().values
    assert seen.tolist() == [0, 1, 2, 10, 11, 12, 13, 14]  # every valid step once per epoch


def test_window_policies_need_horizons_and_a_dataset_with_windows() -> None:
    class NoHorizons(Recorder):
        pred_horizon = None  # type: ignore[assignment]

    with pytest.raises(ConfigError, match="obs_horizon and pred_horizon"):
        bc.fit(NoHorizons(), dataset(), BCConfig(steps=1))

    class Flat:
        def transitions(self) -> tuple[np.ndarray, np.ndarray]:
            return np.zeros((4, 1), np.float32), np.zeros((4, 1), np.float32)

        def obs_stats(self) -> tuple[np.ndarray, np.ndarray]:
            return np.zeros(1), np.ones(1)

    with pytest.raises(ConfigError, match="window 4 needs a dataset with episode boundaries"):
        bc.fit(Recorder(), Flat(), BCConfig(steps=1))


def test_window_one_batches_stay_flat() -> None:
    seen: list[Batch] = []

    class Flat(Recorder):
        window = 1

        def loss(self, batch: Batch, *, metrics: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
            seen.append(batch)
            return (self.w - batch.acts.mean()).square(), {}

    bc.fit(Flat(), dataset(), BCConfig(steps=1, batch_size=8))
    assert seen[0].obs.shape == (8, 1) and seen[0].acts.shape == (8, 1) and seen[0].extras == {}
