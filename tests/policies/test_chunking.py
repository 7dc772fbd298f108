"""ChunkingPolicy (ACT): config errors, loss falls, per-env chunk buffers and reset, temporal
ensembling weights, masked loss, checkpoints, and (slow) the multimodal task."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mimetic.algos import BCConfig, bc
from mimetic.data.dataset import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.envs.multimodal import episode_success
from mimetic.errors import ConfigError, DataError
from mimetic.policies import ChunkingConfig, ChunkingPolicy, load_policy, save_policy
from mimetic.policies.chunking import temporal_ensemble
from mimetic.protocols import Policy, TrainablePolicy
from mimetic.rollout import collect, rollout
from mimetic.types import Batch

TINY = ChunkingConfig(chunk_size=4, d_model=16, heads=2, layers=1, feedforward=32)
TINY_CVAE = ChunkingConfig(chunk_size=4, d_model=16, heads=2, layers=1, feedforward=32, cvae=True, latent_dim=4)
TINY_MLP = ChunkingConfig(chunk_size=4, backbone="mlp", hidden=(32, 32))
TINY_MLP_CVAE = ChunkingConfig(chunk_size=4, backbone="mlp", hidden=(32, 32), cvae=True, latent_dim=4)
CONFIGS = [TINY, TINY_CVAE, TINY_MLP, TINY_MLP_CVAE]
IDS = ["transformer", "transformer-cvae", "mlp", "mlp-cvae"]


def demos(episodes: int = 20) -> tuple[Dataset, object]:
    task = make_task("multimodal", num_envs=8)
    trajs = collect(task, make_expert("multimodal"), episodes=episodes, seed=0)
    return Dataset.from_trajectories(trajs, spec=task.spec), task


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_size": 0}, "chunk_size must be >= 1"),
        ({"obs_horizon": 0}, "obs_horizon must be >= 1"),
        ({"backbone": "gru"}, "backbone must be one of"),
        ({"loss": "huber"}, "loss must be one of"),
        ({"d_model": 30, "heads": 4}, "must divide d_model"),
        ({"query_every": 11}, "query_every must be in"),
        ({"query_every": -1}, "query_every must be in"),
        ({"ensemble_decay": float("inf")}, "ensemble_decay"),
        ({"kl_weight": float("nan")}, "kl_weight"),
        ({"free_bits": -0.1}, "free_bits"),
        ({"free_bits": float("inf")}, "free_bits"),
        ({"latent_sample": "chunk"}, "latent_sample must be one of"),
        ({"dropout": 1.0}, "dropout"),
        ({"hidden": (0,)}, "hidden layer widths"),
        ({"activation": "swish"}, "activation must be one of"),
    ],
)
def test_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        ChunkingConfig(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_protocols_window_and_discrete_tasks() -> None:
    _, task = demos(1)
    policy = ChunkingPolicy.for_spec(task.spec, ChunkingConfig(chunk_size=6, obs_horizon=2))  # type: ignore[attr-defined]
    assert isinstance(policy, Policy) and isinstance(policy, TrainablePolicy)
    assert policy.window == 2 - 1 + 6 and policy.obs_horizon == 2 and policy.pred_horizon == 6
    assert ChunkingConfig(chunk_size=6).execute == 6 and ChunkingConfig(query_every=2).execute == 2
    with pytest.raises(ConfigError, match="continuous actions"):
        ChunkingPolicy.for_spec(make_task("cartpole").spec)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_loss_falls_and_acts_have_the_right_shape(config: ChunkingConfig) -> None:
    data, task = demos()
    policy = ChunkingPolicy.for_spec(task.spec, config, seed=0)  # type: ignore[attr-defined]
    result = bc.fit(policy, data, BCConfig(steps=120, batch_size=64, lr=3e-3, log_every=40))
    assert result.history[-1]["loss"] < 0.7 * result.history[0]["loss"]
    assert "action_l1" in result.history[-1] and ("kl" in result.history[-1]) == config.cvae
    chunks = policy.predict(torch.zeros(5, 1, 4))
    assert chunks.shape == (5, 4, 2) and torch.all(chunks.abs() <= 1.0)
    acts = policy.act(np.zeros((3, 4), np.float32))
    assert acts.shape == (3, 2) and acts.dtype == np.float32 and np.all(np.abs(acts) <= 1.0)


def test_loss_name_and_bc_loss_check() -> None:
    assert ChunkingPolicy(TINY, obs_dim=4, act_dim=2).loss_name == "l1"
    assert ChunkingPolicy(TINY_CVAE, obs_dim=4, act_dim=2).loss_name == "cvae-l1"
    mse = ChunkingPolicy(ChunkingConfig(chunk_size=4, backbone="mlp", loss="mse"), obs_dim=4, act_dim=2)
    data, _ = demos(2)
    bc.fit(mse, data, BCConfig(steps=2, loss="mse"))  # BC's loss check accepts it
    with pytest.raises(ConfigError, match="trains with 'l1'"):
        bc.fit(ChunkingPolicy(TINY_MLP, obs_dim=4, act_dim=2), data, BCConfig(steps=2, loss="mse"))


def test_loss_rejects_unwindowed_batches() -> None:
    policy = ChunkingPolicy(TINY, obs_dim=4, act_dim=2)
    with pytest.raises(DataError, match="action windows"):
        policy.loss(Batch(obs=torch.zeros(4, 4), acts=torch.zeros(4, 2)))


@pytest.mark.parametrize("loss", ["l1", "mse"])
def test_masked_steps_do_not_count(loss: str) -> None:
    class Zero(torch.nn.Module):
        def forward(self, obs: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
            return torch.zeros(len(obs), 4, 2)

    policy = ChunkingPolicy(ChunkingConfig(chunk_size=4, loss=loss), obs_dim=4, act_dim=2,  # type: ignore[arg-type]
                            act_low=-np.ones(2), act_high=np.ones(2))
    policy.decoder = Zero()  # predicts 0: the error is the target chunk's |a| or a^2
    acts = torch.zeros(6, 4, 2)
    acts[:, 2:] = 0.5  # padding past an episode's end
    mask = torch.ones(6, 4, dtype=torch.bool)
    mask[:, 2:] = False
    masked, _ = policy.loss(Batch(obs=torch.zeros(6, 1, 4), acts=acts, extras={"mask": mask}))
    full, metrics = policy.loss(Batch(obs=torch.zeros(6, 1, 4), acts=acts))
    per_step = 0.5 if loss == "l1" else 0.25
    assert masked.item() == 0.0 and full.item() == pytest.approx(per_step / 2)
    assert metrics == {f"action_{loss}": pytest.approx(per_step / 2)}


def test_temporal_ensemble_weights_oldest_first() -> None:
    # k = 3, one env, chunks made at steps 0, 1, 2 (slots 0, 1, 2); at step 2 all three cover it.
    m, k = 0.5, 3
    chunks = np.zeros((1, k, k, 1))
    chunks[0, 0, :, 0] = [10.0, 11.0, 12.0]  # made at step 0: its action for step 2 is 12
    chunks[0, 1, :, 0] = [21.0, 22.0, 23.0]  # made at step 1: 22
    chunks[0, 2, :, 0] = [30.0, 31.0, 32.0]  # made at step 2: 30
    made = np.array([[0, 1, 2]])
    w = np.exp(-m * np.arange(3))  # w_0 for the oldest prediction (made at step 0)
    expect = (w[0] * 12 + w[1] * 22 + w[2] * 30) / w.sum()
    np.testing.assert_allclose(temporal_ensemble(chunks, made, np.array([2]), m), [[expect]])
    # one step later the slot of step 0 holds step 3's chunk; step 0's chunk no longer covers t = 3
    chunks[0, 0, :, 0] = [40.0, 41.0, 42.0]
    made = np.array([[3, 1, 2]])
    expect = (w[0] * 23 + w[1] * 31 + w[2] * 40) / w.sum()
    np.testing.assert_allclose(temporal_ensemble(chunks, made, np.array([3]), m), [[expect]])
    # the first step of an episode: only one prediction, whatever the stale slots hold
    np.testing.assert_allclose(temporal_ensemble(chunks, np.array([[0, -1, -1]]), np.array([0]), m), [[40.0]])
    # m = 0: a plain average; m < 0 favours the newest prediction, without overflow
    np.testing.assert_allclose(temporal_ensemble(chunks, made, np.array([3]), 0.0), [[(23 + 31 + 40) / 3]])
    np.testing.assert_allclose(temporal_ensemble(chunks, made, np.array([3]), -1e4), [[40.0]])


def test_window_one_trains_on_flat_batches() -> None:
    policy = ChunkingPolicy(ChunkingConfig(chunk_size=1, backbone="mlp", hidden=(8,)), obs_dim=4, act_dim=2)
    assert policy.window == 1
    data, _ = demos(2)
    result = bc.fit(policy, data, BCConfig(steps=5, batch_size=16))  # BC's flat path: acts (B, A)
    assert math.isfinite(result.final_loss)
    assert policy.act(np.zeros((2, 4), np.float32)).shape == (2, 2)


class Scripted(ChunkingPolicy):
    """predict returns chunk[j] = 100 * (query number) + j for every env; records batch sizes."""

    calls: list[int]

    def predict(self, obs: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append(len(obs))
        base = 100.0 * len(self.calls)
        steps = torch.arange(self.config.chunk_size, dtype=torch.float32)
        return (base + steps)[None, :, None].expand(len(obs), -1, self.act_dim).clone()


def test_acting_with_temporal_ensembling_averages_overlapping_chunks() -> None:
    m = 0.2
    policy = Scripted(ChunkingConfig(chunk_size=3, ensemble_decay=m), obs_dim=4, act_dim=1)
    policy.calls = []
    obs = np.zeros((2, 4), np.float32)
    a0, a1, a2, a3 = (policy.act(obs)[0, 0] for _ in range(4))
    w = np.exp(-m * np.arange(3))
    assert policy.calls == [2, 2, 2, 2]  # a query every step, for every env
    assert a0 == pytest.approx(100.0)  # query 1, offset 0
    assert a1 == pytest.approx((w[0] * 101 + w[1] * 200) / w[:2].sum())
    assert a2 == pytest.approx((w[0] * 102 + w[1] * 201 + w[2] * 300) / w.sum())
    assert a3 == pytest.approx((w[0] * 202 + w[1] * 301 + w[2] * 400) / w.sum())  # query 1 expired


def test_action_queue_and_reset_clear_only_masked_envs() -> None:
    policy = Scripted(ChunkingConfig(chunk_size=4, query_every=2, temporal_ensemble=False), obs_dim=4, act_dim=1)
    policy.calls = []
    obs = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    first = [policy.act(obs)[:, 0] for _ in range(3)]  # queries on steps 0 and 2
    assert policy.calls == [3, 3]
    np.testing.assert_array_equal(np.stack(first), [[100] * 3, [101] * 3, [200] * 3])
    policy.reset(np.array([False, True, False]))
    out = policy.act(obs + 1)[:, 0]  # env 1 starts over and queries alone; the others continue
    assert policy.calls == [3, 3, 1]
    np.testing.assert_array_equal(out, [201, 300, 201])
    policy.act(np.zeros((5, 4), np.float32))  # another batch size starts every env over
    assert policy.calls[-1] == 5


def test_reset_clears_the_ensemble_and_history_of_masked_envs_only() -> None:
    policy = Scripted(ChunkingConfig(chunk_size=3, obs_horizon=2), obs_dim=4, act_dim=1)
    policy.calls = []
    obs = np.arange(8, dtype=np.float32).reshape(2, 4)
    policy.act(obs)
    policy.act(obs + 1)
    policy.reset(np.array([True, False]))
    out = policy.act(obs + 2)[:, 0]
    assert out[0] == pytest.approx(300.0)  # env 0: only the new chunk counts
    assert out[1] != pytest.approx(300.0)  # env 1 still averages its older chunks
    np.testing.assert_array_equal(policy._hist[0], np.repeat(obs[:1] + 2, 2, axis=0))
    np.testing.assert_array_equal(policy._hist[1], np.stack([obs[1] + 1, obs[1] + 2]))
    assert policy._t.tolist() == [1, 3]


TINY_CVAE_EPISODE = ChunkingConfig(chunk_size=4, d_model=16, heads=2, layers=1, feedforward=32, cvae=True,
                                   latent_dim=4, free_bits=0.1, latent_sample="episode")


@pytest.mark.parametrize("config", [TINY_CVAE, TINY_CVAE_EPISODE, TINY_MLP],
                         ids=["transformer-cvae", "cvae-episode-z", "mlp"])
def test_checkpoint_round_trip_gives_identical_actions(tmp_path: Path, config: ChunkingConfig) -> None:
    policy = ChunkingPolicy(config, obs_dim=4, act_dim=2, act_low=np.array([-1.0, -2.0]),
                            act_high=np.array([1.0, 2.0]), task="multimodal", seed=3)
    policy.set_normalizer(np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 2.0, 3.0, 4.0]))
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for p in policy.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    save_policy(policy, tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt", expect_task="multimodal")
    assert isinstance(loaded, ChunkingPolicy) and loaded.config == config
    policy.reset(np.ones(4, bool), generator=torch.Generator().manual_seed(7))  # the same z per env
    loaded.reset(np.ones(4, bool), generator=torch.Generator().manual_seed(7))
    rng = np.random.default_rng(0)
    for _ in range(6):
        obs = rng.normal(size=(4, 4)).astype(np.float32)
        np.testing.assert_array_equal(policy.act(obs), loaded.act(obs))


def test_seed_decides_weights_and_acting_is_deterministic() -> None:
    a = ChunkingPolicy(TINY_CVAE, obs_dim=4, act_dim=2, seed=5)
    b = ChunkingPolicy(TINY_CVAE, obs_dim=4, act_dim=2, seed=5)
    obs = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(a.act(obs), b.act(obs))
    c = ChunkingPolicy(TINY_CVAE, obs_dim=4, act_dim=2, seed=6)
    assert not np.array_equal(a.act(obs), c.act(obs))


class FirstLatent(torch.nn.Module):
    """A decoder whose every action is 0.1 * (z_0, z_1): shows which z acting used."""

    def forward(self, obs: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        assert z is not None
        return 0.1 * z[:, None, :2].expand(-1, 4, -1)  # (B, k, A)


def test_free_bits_leave_small_kl_unpenalised() -> None:
    class Prior(torch.nn.Module):  # q = N(0, I) everywhere, then N(1, I) for the first latent dim
        shift = 0.0

        def forward(self, obs: torch.Tensor, acts: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, ...]:
            mu = torch.zeros(len(obs), 4)
            mu[:, 0] = self.shift
            return mu, torch.zeros(len(obs), 4)

    batch = Batch(obs=torch.zeros(6, 1, 4), acts=torch.zeros(6, 4, 2))
    cases = [(0.0, 0.0, 0.0), (0.25, 0.0, 4 * 0.25), (0.0, 1.0, 0.5), (0.25, 1.0, 0.5 + 3 * 0.25)]
    for free_bits, shift, penalty in cases:
        config = ChunkingConfig(chunk_size=4, cvae=True, latent_dim=4, kl_weight=2.0, free_bits=free_bits)
        policy = ChunkingPolicy(config, obs_dim=4, act_dim=2, act_low=-np.ones(2), act_high=np.ones(2))
        policy.decoder, policy.posterior = FirstLatent(), Prior()
        policy.posterior.shift = shift
        loss, metrics = policy.loss(batch)  # z ~ q: the L1 term is 0.1 |z| averaged, whatever the bits
        kl = 0.5 * shift**2  # KL(N(shift, 1) || N(0, 1)) in dim 0, 0 in the others
        assert metrics["kl"] == pytest.approx(kl)
        assert loss.item() == pytest.approx(metrics["action_l1"] + 2.0 * penalty)


def test_episode_latent_is_drawn_at_reset_for_reset_envs_only() -> None:
    config = ChunkingConfig(chunk_size=4, d_model=16, heads=2, layers=1, feedforward=32, cvae=True,
                            latent_dim=4, latent_sample="episode")
    policy = ChunkingPolicy(config, obs_dim=4, act_dim=2, act_low=-np.ones(2), act_high=np.ones(2), seed=5)
    policy.decoder = FirstLatent()
    obs = np.zeros((3, 4), np.float32)
    first = policy.act(obs)  # a new batch size: every env draws its z
    z = policy._z.clone()
    assert z.shape == (3, 4) and len(set(z[:, 0].tolist())) == 3
    np.testing.assert_allclose(first, 0.1 * z[:, :2].numpy(), rtol=1e-6)
    np.testing.assert_allclose(policy.act(obs), first, rtol=1e-6)  # kept within the episode
    policy.reset(np.array([False, True, False]))
    assert torch.equal(policy._z[[0, 2]], z[[0, 2]]) and not torch.equal(policy._z[1], z[1])
    out = policy.act(obs)
    np.testing.assert_allclose(out[[0, 2]], first[[0, 2]], rtol=1e-6)
    np.testing.assert_allclose(out[1], 0.1 * policy._z[1, :2].numpy(), rtol=1e-6)
    # the seed decides the draws; an explicit generator overrides the policy's own
    twin = ChunkingPolicy(config, obs_dim=4, act_dim=2, seed=5)
    twin.reset(np.ones(3, bool))
    assert torch.equal(twin._z, z)
    other = ChunkingPolicy(config, obs_dim=4, act_dim=2, seed=6)
    other.reset(np.ones(3, bool))
    assert not torch.equal(other._z, z)
    twin.reset(np.ones(3, bool), generator=torch.Generator().manual_seed(5))
    assert torch.equal(twin._z, torch.randn((3, 4), generator=torch.Generator().manual_seed(5)))


def test_episode_latent_reaches_queued_queries_of_the_envs_that_query() -> None:
    config = ChunkingConfig(chunk_size=4, backbone="mlp", hidden=(8,), cvae=True, latent_dim=4,
                            latent_sample="episode", temporal_ensemble=False, query_every=2)
    policy = ChunkingPolicy(config, obs_dim=4, act_dim=2, act_low=-np.ones(2), act_high=np.ones(2), seed=1)
    policy.decoder = FirstLatent()
    obs = np.zeros((3, 4), np.float32)
    policy.act(obs)
    policy.reset(np.array([True, False, False]))  # env 0 queries alone on the next step
    out = policy.act(obs)
    np.testing.assert_allclose(out, 0.1 * policy._z[:, :2].numpy(), rtol=1e-6)


def test_zero_latent_draws_nothing() -> None:
    policy = ChunkingPolicy(TINY_CVAE, obs_dim=4, act_dim=2, seed=2)
    state = policy.generator.get_state()
    policy.reset(np.ones(3, bool))
    policy.act(np.ones((3, 4), np.float32))
    policy.reset(np.array([True, False, True]))
    assert torch.equal(policy._z, torch.zeros(3, 4)) and torch.equal(policy.generator.get_state(), state)


def test_dropout_is_off_when_acting() -> None:
    policy = ChunkingPolicy(ChunkingConfig(chunk_size=4, d_model=16, heads=2, layers=1, dropout=0.5),
                            obs_dim=4, act_dim=2)
    policy.train()
    obs = torch.ones(3, 1, 4)
    torch.testing.assert_close(policy.predict(obs), policy.predict(obs))
    assert policy.training  # predict restores the mode


@pytest.mark.slow
def test_chunk_targets_help_closed_loop_driving_but_open_loop_chunks_drift() -> None:
    """Measured in docs/policies.md (3 seeds): trained on 16-step chunks, the policy drives as well
    as the expert when it executes only each chunk's first action, and crashes when it executes
    whole chunks open loop (later actions cannot foresee the per-step disturbances)."""
    from dataclasses import replace

    from mimetic.rollout import evaluate

    expert = make_expert("driving")
    task = make_task("driving", num_envs=16, max_steps=400)
    data = Dataset.from_trajectories(collect(task, expert, episodes=20, seed=0), spec=task.spec)
    config = ChunkingConfig(chunk_size=16, backbone="mlp", hidden=(64, 64), activation="tanh",
                            temporal_ensemble=False, query_every=1)
    policy = ChunkingPolicy.for_spec(task.spec, config, seed=0)
    bc.fit(policy, data, BCConfig(steps=5000, seed=0))
    open_loop = ChunkingPolicy.for_spec(task.spec, replace(config, query_every=0), seed=0)
    open_loop.load_state_dict(policy.state_dict())
    evaluation = make_task("driving", num_envs=32, max_steps=400)
    closed = evaluate(evaluation, policy, episodes=32, seed=10_000, reference=False)
    chunked = evaluate(evaluation, open_loop, episodes=32, seed=10_000, reference=False)
    assert closed.success_rate == 1.0 and closed.cost_mean < 10.0  # the expert: 3.6
    assert chunked.success_rate is not None and chunked.success_rate < 0.2


@pytest.mark.slow
def test_mlp_chunking_averages_the_multimodal_modes() -> None:
    """A deterministic regressor of the chunk, like MSE-BC, heads for the obstacle (the transformer
    ACT variants, measured in docs/policies.md, are too slow for a test)."""
    data, task = demos(100)
    policy = ChunkingPolicy.for_spec(task.spec, ChunkingConfig(backbone="mlp"), seed=0)  # type: ignore[attr-defined]
    bc.fit(policy, data, BCConfig(steps=1500, seed=0))
    trajs = rollout(task, policy, episodes=50, seed=10_000)  # type: ignore[arg-type]
    assert np.mean([episode_success(t) for t in trajs]) <= 0.1


@pytest.mark.slow
def test_free_bits_keep_the_cvae_latent_in_use_on_the_multimodal_task() -> None:
    """Measured in docs/policies.md: with beta = 10 the KL collapses to ~0 and z = 0 or a prior draw
    decode the same chunk; with free bits the latent carries the side of the obstacle (> ln 2 nats)
    and prior draws at the start go both ways, as the demonstrations do."""
    from dataclasses import replace

    data, task = demos(100)
    start = torch.tensor([[[0.0, 0.0, 0.0, 2.0]]]).expand(200, 1, 4)  # (n, To, O) the canonical start
    z = torch.randn((200, 32), generator=torch.Generator().manual_seed(0))  # (n, Z) prior draws
    config = ChunkingConfig(backbone="mlp", cvae=True)
    for free_bits in (0.0, 0.1):
        policy = ChunkingPolicy.for_spec(task.spec, replace(config, free_bits=free_bits), seed=0)  # type: ignore[attr-defined]
        kl = bc.fit(policy, data, BCConfig(steps=1500, seed=0, log_every=100)).history[-1]["kl"]
        first_x = policy.predict(start, z)[:, 0, 0].numpy()  # (n,) the first action's x velocity
        if free_bits == 0:
            assert kl < 0.05 and first_x.std() < 0.15  # collapsed: z barely matters (0.08)
        else:
            assert kl > math.log(2) and 0.2 < np.mean(first_x < 0) < 0.8 and first_x.std() > 0.3  # 2.1, 0.53, 0.40
