"""MLPPolicy: heads, act shapes/dtypes, normaliser, action scaling, loss weighting, config checks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from mimetic.envs.base import TaskSpec
from mimetic.errors import ConfigError, DataError, TaskError
from mimetic.policies import MLPConfig, MLPPolicy
from mimetic.protocols import Policy, TrainablePolicy
from mimetic.types import Batch

SMALL = (16, 16)


def make(head: str, *, discrete: bool, gaussian_std: str = "state", seed: int = 0) -> MLPPolicy:
    config = MLPConfig(hidden=SMALL, head=head, gaussian_std=gaussian_std)
    if discrete:
        return MLPPolicy(config, obs_dim=4, act_dim=3, discrete=True, seed=seed)
    low, high = np.array([-2.0, 0.0]), np.array([2.0, 1.0])
    return MLPPolicy(config, obs_dim=4, act_dim=2, discrete=False, act_low=low, act_high=high, seed=seed)


HEADS = [
    pytest.param("categorical", True, "state", id="categorical"),
    pytest.param("deterministic", False, "state", id="deterministic"),
    pytest.param("gaussian", False, "state", id="gaussian-state"),
    pytest.param("gaussian", False, "param", id="gaussian-param"),
]


def test_implements_protocols() -> None:
    policy = make("auto", discrete=True)
    assert isinstance(policy, Policy) and isinstance(policy, TrainablePolicy)
    assert policy.window == 1


@pytest.mark.parametrize(("head", "discrete", "std"), HEADS)
def test_act_shapes_and_dtypes(head: str, discrete: bool, std: str) -> None:
    policy = make(head, discrete=discrete, gaussian_std=std)
    obs = np.random.default_rng(0).normal(size=(5, 4))  # float64 in: converted, not rejected
    for kwargs in ({}, {"deterministic": False, "generator": torch.Generator().manual_seed(1)}):
        acts = policy.act(obs, **kwargs)
        if discrete:
            assert acts.shape == (5,) and acts.dtype == np.int64
            assert ((acts >= 0) & (acts < 3)).all()
        else:
            assert acts.shape == (5, 2) and acts.dtype == np.float32
            assert (acts >= [-2.0, 0.0]).all() and (acts <= [2.0, 1.0]).all()


@pytest.mark.parametrize(("head", "discrete", "std"), HEADS)
def test_sampling_is_reproducible_with_a_generator(head: str, discrete: bool, std: str) -> None:
    policy = make(head, discrete=discrete, gaussian_std=std)
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    a = policy.act(obs, deterministic=False, generator=torch.Generator().manual_seed(3))
    b = policy.act(obs, deterministic=False, generator=torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(policy.act(obs), policy.act(obs))


def test_gaussian_sampling_spreads_around_the_mean() -> None:
    policy = make("gaussian", discrete=False, gaussian_std="param")
    obs = np.zeros((1, 4), dtype=np.float32).repeat(2000, axis=0)
    samples = policy.act(obs, deterministic=False, generator=torch.Generator().manual_seed(0))
    assert samples[:, 0].std() > 0.5  # log-std starts at 0: std = the half-range (2.0) before clipping
    np.testing.assert_allclose(policy.act(obs[:1])[0], np.median(samples, axis=0), atol=0.2)


def test_normalizer_makes_outputs_invariant_to_input_shift_and_scale() -> None:
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(32, 4)).astype(np.float32)
    shift, scale = np.array([5.0, -3.0, 100.0, 0.0]), np.array([2.0, 10.0, 0.5, 1.0])
    policy = make("deterministic", discrete=False)
    policy.set_normalizer(obs.mean(0), obs.std(0))
    before = policy.act(obs)
    moved = (obs * scale + shift).astype(np.float32)
    policy.set_normalizer(moved.mean(0), moved.std(0))
    np.testing.assert_allclose(policy.act(moved), before, atol=1e-5)


def test_normalizer_only_centres_constant_features_and_checks_input() -> None:
    policy = make("categorical", discrete=True)
    policy.set_normalizer(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.0, 2.0, 1.0]))
    assert policy.obs_std.tolist() == [1.0, 1.0, 2.0, 1.0]
    with pytest.raises(DataError, match="4 values"):
        policy.set_normalizer(np.zeros(3), np.ones(3))
    with pytest.raises(DataError, match="NaN"):
        policy.set_normalizer(np.array([0.0, np.nan, 0.0, 0.0]), np.ones(4))


def test_continuous_targets_are_scaled_to_unit_range() -> None:
    policy = make("deterministic", discrete=False)
    # A network that outputs 0 predicts the centre of the action box.
    with torch.no_grad():
        policy.net[-1].weight.zero_()
        policy.net[-1].bias.zero_()
    np.testing.assert_allclose(policy.act(np.zeros((1, 4), np.float32)), [[0.0, 0.5]])
    batch = Batch(obs=torch.zeros(1, 4), acts=torch.tensor([[2.0, 1.0]]))  # the upper corner: +1, +1
    loss, metrics = policy.loss(batch)
    assert loss.item() == pytest.approx(1.0) and metrics["mse"] == pytest.approx(1.0)


def test_unbounded_action_dimensions_are_not_scaled_or_clipped() -> None:
    unbounded = {"act_low": np.array([-np.inf]), "act_high": np.array([np.inf])}
    policy = MLPPolicy(MLPConfig(hidden=()), obs_dim=1, act_dim=1, discrete=False, **unbounded)
    with torch.no_grad():
        policy.net[0].weight.fill_(100.0)
        policy.net[0].bias.zero_()
    assert policy.act(np.ones((1, 1), np.float32))[0, 0] == pytest.approx(100.0)


@pytest.mark.parametrize(("head", "discrete", "std"), HEADS)
def test_loss_respects_sample_weights(head: str, discrete: bool, std: str) -> None:
    policy = make(head, discrete=discrete, gaussian_std=std)
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(6, 4, generator=gen)
    acts = torch.randint(0, 3, (6,), generator=gen) if discrete else torch.rand(6, 2, generator=gen)
    weights = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    weighted, _ = policy.loss(Batch(obs=obs, acts=acts, weights=weights))
    first_half, _ = policy.loss(Batch(obs=obs[:3], acts=acts[:3]))
    assert weighted.item() == pytest.approx(first_half.item(), rel=1e-5)


def test_loss_rejects_mismatched_actions() -> None:
    with pytest.raises(DataError, match="integers"):
        make("categorical", discrete=True).loss(Batch(obs=torch.zeros(2, 4), acts=torch.zeros(2, 3)))
    with pytest.raises(DataError, match="2 values"):
        make("deterministic", discrete=False).loss(Batch(obs=torch.zeros(2, 4), acts=torch.zeros(2, 3)))


def test_act_rejects_wrong_observation_shape() -> None:
    with pytest.raises(TaskError, match="4 values"):
        make("categorical", discrete=True).act(np.zeros((2, 3), np.float32))
    with pytest.raises(TaskError):
        make("categorical", discrete=True).act(np.zeros(4, np.float32))  # unbatched


def test_reset_is_a_no_op() -> None:
    policy = make("categorical", discrete=True)
    obs = np.ones((3, 4), np.float32)
    before = policy.act(obs)
    policy.reset(np.array([True, False, True]))
    np.testing.assert_array_equal(policy.act(obs), before)


def test_for_spec_reads_dims_bounds_and_name() -> None:
    box = gym.spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
    spec = TaskSpec("pendulum", "Pendulum-v1", box, gym.spaces.Box(-2.0, 2.0, shape=(1,)), 200)
    policy = MLPPolicy.for_spec(spec, MLPConfig(hidden=SMALL))
    assert (policy.obs_dim, policy.act_dim, policy.discrete, policy.task) == (3, 1, False, "pendulum")
    assert policy.head == "deterministic" and policy.loss_name == "mse"
    assert policy.act_high.tolist() == [2.0]
    discrete = TaskSpec("cartpole", "CartPole-v1", gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2), 500)
    assert MLPPolicy.for_spec(discrete).head == "categorical"


def test_seed_decides_initial_weights() -> None:
    a, b, c = (make("categorical", discrete=True, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.net[0].weight, b.net[0].weight)
    assert not torch.equal(a.net[0].weight, c.net[0].weight)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden": (32, 0)}, "hidden layer widths must be >= 1"),
        ({"activation": "sigmoidish"}, "activation must be one of"),
        ({"head": "beta"}, "head must be one of"),
        ({"gaussian_std": "free"}, "gaussian_std must be"),
        ({"log_std_min": 1.0, "log_std_max": 1.0}, "log_std_min must be < log_std_max"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MLPConfig(**kwargs)  # type: ignore[arg-type]


def test_head_must_fit_the_action_space() -> None:
    with pytest.raises(ConfigError, match="needs continuous actions"):
        MLPPolicy(MLPConfig(head="gaussian"), obs_dim=2, act_dim=2, discrete=True)
    with pytest.raises(ConfigError, match="needs discrete actions"):
        MLPPolicy(MLPConfig(head="categorical"), obs_dim=2, act_dim=2, discrete=False)
