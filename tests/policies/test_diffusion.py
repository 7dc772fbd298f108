"""DiffusionPolicy: schedule and sampler, loss falls, receding-horizon queues, checkpoints, and
(slow) it solves the multimodal task where MSE-BC crashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mimetic.algos import BCConfig, bc
from mimetic.data.dataset import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.envs.multimodal import episode_success
from mimetic.errors import ConfigError, DataError
from mimetic.policies import MLPConfig, MLPPolicy, load_policy, save_policy
from mimetic.policies.diffusion import (
    DiffusionConfig,
    DiffusionPolicy,
    _trailing_steps,
    noise_schedule,
)
from mimetic.protocols import Policy, TrainablePolicy
from mimetic.rollout import collect, rollout

TINY = DiffusionConfig(hidden=(64, 64), pred_horizon=8, action_horizon=4, inference_steps=4)
TINY_UNET = DiffusionConfig(denoiser="unet", unet_channels=(16, 32), pred_horizon=8, action_horizon=4,
                            inference_steps=4)


def demos(episodes: int = 20) -> tuple[Dataset, object]:
    task = make_task("multimodal", num_envs=8)
    trajs = collect(task, make_expert("multimodal"), episodes=episodes, seed=0)
    return Dataset.from_trajectories(trajs, spec=task.spec), task


def test_schedule_and_trailing_steps() -> None:
    for kind in ("squaredcos", "linear"):
        abar = noise_schedule(kind, 100)
        assert abar.shape == (100,) and abar[0] > 0.99 and abar[-1] < 0.05
        assert torch.all(abar[1:] < abar[:-1])
    steps = _trailing_steps(100, 10)
    assert steps[0] == 99 and len(steps) == 10 and steps == sorted(steps, reverse=True) and steps[-1] >= 0
    assert _trailing_steps(100, 100) == list(range(99, -1, -1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action_horizon": 9, "pred_horizon": 8}, "action_horizon"),
        ({"inference_steps": 200}, "inference_steps"),
        ({"denoiser": "gru"}, "denoiser must be one of"),
        ({"schedule": "sigmoid"}, "schedule must be one of"),
        ({"prediction": "v"}, "prediction must be one of"),
        ({"obs_horizon": 0}, "obs_horizon must be >= 1"),
        ({"denoiser": "unet", "unet_channels": (12,)}, "multiples of 8"),
        ({"denoiser": "unet", "unet_channels": (16, 32, 64), "pred_horizon": 6, "action_horizon": 2}, "divisible"),
    ],
)
def test_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DiffusionConfig(**kwargs)  # type: ignore[arg-type]


def test_protocols_and_window() -> None:
    _, task = demos(1)
    policy = DiffusionPolicy.for_spec(task.spec, TINY)  # type: ignore[attr-defined]
    assert isinstance(policy, Policy) and isinstance(policy, TrainablePolicy)
    assert policy.window == 2 - 1 + 8 and policy.obs_horizon == 2 and policy.pred_horizon == 8
    with pytest.raises(ConfigError, match="continuous actions"):
        DiffusionPolicy.for_spec(make_task("cartpole").spec)


@pytest.mark.parametrize("config", [TINY, TINY_UNET], ids=["mlp", "unet"])
def test_loss_falls_and_samples_have_the_right_shape(config: DiffusionConfig) -> None:
    data, task = demos()
    policy = DiffusionPolicy.for_spec(task.spec, config, seed=0)  # type: ignore[attr-defined]
    steps = 150 if config.denoiser == "mlp" else 60  # the U-Net is ~20x slower per step on a CPU
    result = bc.fit(policy, data, BCConfig(steps=steps, batch_size=64, lr=3e-3, log_every=steps // 3))
    assert result.history[-1]["loss"] < 0.7 * result.history[0]["loss"]
    assert "denoise_mse" in result.history[-1]
    windows = policy.sample(torch.zeros(5, 2, 4))
    assert windows.shape == (5, 8, 2) and torch.all(windows.abs() <= 1.0)
    acts = policy.act(np.zeros((3, 4), np.float32))
    assert acts.shape == (3, 2) and acts.dtype == np.float32


def test_loss_rejects_unwindowed_batches() -> None:
    from mimetic.types import Batch

    policy = DiffusionPolicy(TINY, obs_dim=4, act_dim=2)
    with pytest.raises(DataError, match="action windows"):
        policy.loss(Batch(obs=torch.zeros(4, 4), acts=torch.zeros(4, 2)))


def test_masked_steps_do_not_count() -> None:
    from mimetic.types import Batch

    class Zero(torch.nn.Module):
        def forward(self, x: torch.Tensor, k: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
            return torch.zeros_like(x)

    policy = DiffusionPolicy(TINY, obs_dim=4, act_dim=2, act_low=-np.ones(2), act_high=np.ones(2))
    policy.denoiser = Zero()  # predicts x_0 = 0: the error is the target window squared
    acts = torch.zeros(6, 8, 2)
    acts[:, 4:] = 0.9  # padding past an episode's end
    mask = torch.ones(6, 8, dtype=torch.bool)
    mask[:, 4:] = False
    masked, _ = policy.loss(Batch(obs=torch.zeros(6, 2, 4), acts=acts, extras={"mask": mask}))
    full, _ = policy.loss(Batch(obs=torch.zeros(6, 2, 4), acts=acts))
    assert masked.item() == 0.0 and full.item() == pytest.approx(0.81 / 2)


class Counting(DiffusionPolicy):
    """Records how many rows each call to the sampler gets."""

    calls: list[int]

    def sample(self, obs: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        self.calls.append(len(obs))
        return super().sample(obs, generator=generator)


def test_receding_horizon_queue_and_reset() -> None:
    policy = Counting(TINY, obs_dim=4, act_dim=2)
    policy.calls = []
    obs = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    policy.reset(np.ones(3, bool))
    for _ in range(7):  # Ta = 4: a new window for every env on steps 0 and 4; one action left
        policy.act(obs)
    assert policy.calls == [3, 3]
    policy.reset(np.array([False, True, False]))
    policy.act(obs + 1)  # env 1 starts over: only it samples, from a history of its new obs
    assert policy.calls == [3, 3, 1]
    np.testing.assert_array_equal(policy._hist[1], np.repeat(obs[1:2] + 1, 2, axis=0))
    np.testing.assert_array_equal(policy._hist[0], np.stack([obs[0], obs[0] + 1]))
    policy.act(np.zeros((5, 4), np.float32))  # another batch size starts every env over
    assert policy.calls[-1] == 5


@pytest.mark.parametrize("config", [TINY, TINY_UNET], ids=["mlp", "unet"])
def test_checkpoint_round_trip_gives_identical_actions(tmp_path: Path, config: DiffusionConfig) -> None:
    policy = DiffusionPolicy(config, obs_dim=4, act_dim=2, act_low=np.array([-1.0, -2.0]),
                             act_high=np.array([1.0, 2.0]), task="multimodal", seed=3)
    policy.set_normalizer(np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 2.0, 3.0, 4.0]))
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    save_policy(policy, tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt", expect_task="multimodal")
    assert isinstance(loaded, DiffusionPolicy) and loaded.config == config
    obs = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    for _ in range(3):
        a = policy.act(obs, generator=torch.Generator().manual_seed(7))
        b = loaded.act(obs, generator=torch.Generator().manual_seed(7))
        np.testing.assert_array_equal(a, b)


def test_seed_decides_weights_and_noise() -> None:
    a, b = DiffusionPolicy(TINY, obs_dim=4, act_dim=2, seed=5), DiffusionPolicy(TINY, obs_dim=4, act_dim=2, seed=5)
    obs = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(a.act(obs), b.act(obs))


@pytest.mark.slow
def test_diffusion_solves_the_multimodal_task_where_mse_bc_crashes() -> None:
    data, task = demos(100)
    spec = task.spec  # type: ignore[attr-defined]
    mse = MLPPolicy.for_spec(spec, MLPConfig(hidden=(64, 64)), seed=0)
    bc.fit(mse, data, BCConfig(steps=1000, seed=0))
    diffusion = DiffusionPolicy.for_spec(spec, DiffusionConfig(hidden=(128, 128, 128)), seed=0)
    bc.fit(diffusion, data, BCConfig(steps=2000, batch_size=256, lr=3e-3, seed=0))
    diffusion.eval()

    def success(policy: Policy) -> float:
        return float(np.mean([episode_success(t) for t in rollout(task, policy, episodes=50, seed=10_000)]))  # type: ignore[arg-type]

    assert success(mse) <= 0.1
    assert success(diffusion) >= 0.85
