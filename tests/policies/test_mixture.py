"""MLPPolicy's mixture head: learns a bimodal expert MSE averages, samples both modes, round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mimetic.algos import BCConfig, bc
from mimetic.errors import ConfigError
from mimetic.policies import MLPConfig, MLPPolicy, load_policy, save_policy


class Bimodal:
    """The two Dataset methods BC reads: a 1-d state, actions +-0.8 by a coin the state hides."""

    def __init__(self, n: int = 1024, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.obs = rng.uniform(-1, 1, size=(n, 1)).astype(np.float32)  # (N, 1)
        sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)  # (N,)
        self.acts = np.stack([0.8 * sign, 0.5 * self.obs[:, 0]], axis=1).astype(np.float32)  # (N, 2)

    def transitions(self) -> tuple[np.ndarray, np.ndarray]:
        return self.obs, self.acts

    def obs_stats(self) -> tuple[np.ndarray, np.ndarray]:
        return self.obs.mean(axis=0), self.obs.std(axis=0)


def make(head: str = "mixture", *, k: int = 3, seed: int = 0) -> MLPPolicy:
    config = MLPConfig(hidden=(32, 32), head=head, mixture_components=k)
    return MLPPolicy(config, obs_dim=1, act_dim=2, discrete=False, act_low=-np.ones(2), act_high=np.ones(2),
                     seed=seed, task="toy")


FIT = BCConfig(steps=400, batch_size=128, lr=3e-3, log_every=100)


def test_shapes_and_sampling() -> None:
    policy = make(k=4)
    obs = np.zeros((5, 1), np.float32)
    assert policy.act(obs).shape == (5, 2) and policy.act(obs).dtype == np.float32
    gen = torch.Generator().manual_seed(0)
    sampled = policy.act(obs, deterministic=False, generator=gen)
    assert sampled.shape == (5, 2) and np.all(np.abs(sampled) <= 1.0)
    assert policy.loss_name == "nll"


def test_mixture_learns_both_modes_where_mse_averages() -> None:
    data = Bimodal()
    mixture, mse = make(), make("deterministic")
    result = bc.fit(mixture, data, FIT)
    assert result.history[-1]["loss"] < result.history[0]["loss"] - 1.0
    bc.fit(mse, data, FIT)
    obs = np.linspace(-0.9, 0.9, 200, dtype=np.float32)[:, None]  # (200, 1)
    assert np.abs(mse.act(obs)[:, 0]).mean() < 0.2  # the average of +-0.8: neither mode
    assert np.abs(mixture.act(obs)[:, 0]).min() > 0.6  # one mode, never the average
    sampled = mixture.act(obs, deterministic=False, generator=torch.Generator().manual_seed(0))
    left, right = (sampled[:, 0] < -0.5).mean(), (sampled[:, 0] > 0.5).mean()
    assert 0.3 < left < 0.7 and 0.3 < right < 0.7 and left + right > 0.95
    assert np.mean(np.abs(sampled[:, 1] - 0.5 * obs[:, 0]) < 0.15) > 0.95  # the unimodal dimension


def test_checkpoint_round_trip_gives_identical_actions(tmp_path: Path) -> None:
    policy = make(k=3, seed=3)
    bc.fit(policy, Bimodal(256), BCConfig(steps=20, batch_size=64))
    save_policy(policy, tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt", expect_task="toy")
    assert isinstance(loaded, MLPPolicy) and loaded.config.mixture_components == 3
    obs = np.random.default_rng(0).normal(size=(16, 1)).astype(np.float32)
    np.testing.assert_array_equal(loaded.act(obs), policy.act(obs))
    a = loaded.act(obs, deterministic=False, generator=torch.Generator().manual_seed(5))
    b = policy.act(obs, deterministic=False, generator=torch.Generator().manual_seed(5))
    np.testing.assert_array_equal(a, b)


def test_disagreement_of_a_single_mixture_is_zero() -> None:
    assert np.all(make().disagreement(np.zeros((3, 1), np.float32)) == 0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"head": "mixture", "mixture_components": 0}, "mixture_components must be >= 1"),
        ({"head": "mixture", "ensemble": 2}, "use ensemble=1"),
    ],
)
def test_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MLPConfig(**kwargs)  # type: ignore[arg-type]


def test_mixture_needs_continuous_actions() -> None:
    with pytest.raises(ConfigError, match="needs continuous actions"):
        MLPPolicy(MLPConfig(head="mixture"), obs_dim=2, act_dim=3, discrete=True)
