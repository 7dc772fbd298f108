"""Behavioral cloning: learns toy experts for every head, is reproducible, fails with one clear line."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from mimetic.algos import BCConfig, BCResult, bc
from mimetic.errors import CheckpointError, ConfigError, DataError
from mimetic.policies import MLPConfig, MLPPolicy, load_policy, save_policy

FAST = BCConfig(steps=300, batch_size=64, log_every=50)


class StandIn:
    """The two Dataset methods BC reads."""

    def __init__(self, obs: np.ndarray, acts: np.ndarray) -> None:
        self.obs, self.acts = obs, acts

    def transitions(self) -> tuple[np.ndarray, np.ndarray]:
        return self.obs, self.acts

    def obs_stats(self) -> tuple[np.ndarray, np.ndarray]:
        return self.obs.mean(axis=0), self.obs.std(axis=0)


def bang_bang(n: int = 2000, seed: int = 0) -> StandIn:
    """Cartpole-like expert: push right iff a linear function of the state is positive."""
    obs = np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32) * [1.0, 2.0, 0.1, 2.0] + [3, 0, 0, 0]
    return StandIn(obs.astype(np.float32), (obs @ np.array([0.5, 1.0, 20.0, 2.0]) - 1.5 > 0).astype(np.int64))


def pd_control(n: int = 2000, seed: int = 0) -> StandIn:
    """Pendulum-like expert: saturated PD torque in [-2, 2] from (cos, sin, velocity)."""
    rng = np.random.default_rng(seed)
    theta, vel = rng.uniform(-np.pi, np.pi, n), rng.uniform(-8, 8, n)
    obs = np.stack([np.cos(theta), np.sin(theta), vel], axis=1).astype(np.float32)  # (N, 3)
    torque = np.clip(-3.0 * theta - 0.5 * vel, -2.0, 2.0)[:, None].astype(np.float32)  # (N, 1)
    return StandIn(obs, torque)


def policy_for(data: StandIn, head: str = "auto", gaussian_std: str = "state", seed: int = 0) -> MLPPolicy:
    discrete = data.acts.ndim == 1
    return MLPPolicy(
        MLPConfig(hidden=(32, 32), activation="relu", head=head, gaussian_std=gaussian_std),
        obs_dim=data.obs.shape[1],
        act_dim=2 if discrete else data.acts.shape[1],
        discrete=discrete,
        act_low=None if discrete else np.array([-2.0]),
        act_high=None if discrete else np.array([2.0]),
        seed=seed,
    )


def test_discrete_bc_learns_the_expert() -> None:
    data = bang_bang()
    policy = policy_for(data)
    result = bc.fit(policy, data, FAST)
    assert result.history[-1]["loss"] < 0.3 * result.history[0]["loss"]
    test = bang_bang(1000, seed=1)
    assert (policy.act(test.obs) == test.acts).mean() > 0.95
    assert result.history[-1]["accuracy"] > 0.95


@pytest.mark.parametrize(("head", "std"), [("deterministic", "state"), ("gaussian", "state"), ("gaussian", "param")])
def test_continuous_bc_learns_the_expert(head: str, std: str) -> None:
    data = pd_control()
    policy = policy_for(data, head, std)
    untrained = float(np.mean((policy.act(data.obs) - data.acts) ** 2))
    result = bc.fit(policy, data, FAST)
    first, last = result.history[0]["loss"], result.history[-1]["loss"]
    assert last < 0.3 * first if head == "deterministic" else last < first - 0.3  # NLL can go negative
    test = pd_control(1000, seed=1)
    assert float(np.mean((policy.act(test.obs) - test.acts) ** 2)) < 0.2 * untrained


def test_fit_is_reproducible_with_a_seed() -> None:
    data = bang_bang(500)
    config = BCConfig(steps=40, batch_size=32, seed=3)
    a, b, c = policy_for(data), policy_for(data), policy_for(data)
    bc.fit(a, data, config)
    bc.fit(b, data, config)
    bc.fit(c, data, BCConfig(steps=40, batch_size=32, seed=4))
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_fit_sets_the_normalizer_and_releases_parameters(tmp_path: Path) -> None:
    data = bang_bang(300)
    policy = policy_for(data).eval()
    bc.fit(policy, data, BCConfig(steps=5, batch_size=64))
    np.testing.assert_allclose(policy.obs_mean.numpy(), data.obs.mean(axis=0), rtol=1e-5)
    ptrs = [p.data_ptr() for p in policy.parameters()]
    assert len(set(ptrs)) == len(ptrs) and all(p.grad is None for p in policy.parameters())
    assert not policy.training  # the mode it had before fit
    save_policy(policy, tmp_path)  # safetensors refuses tensors that share storage
    np.testing.assert_array_equal(load_policy(tmp_path).act(data.obs), policy.act(data.obs))


def test_result_record_and_callback() -> None:
    data = bang_bang(100)  # smaller than the batch: every step uses the whole dataset
    calls: list[tuple[int, dict[str, float]]] = []
    config = BCConfig(steps=25, log_every=10)
    result = bc.fit(policy_for(data), data, config, callback=lambda s, m: calls.append((s, m)))
    assert isinstance(result, BCResult)
    assert [step for step, _ in calls] == [10, 20, 25] and len(result.history) == 3
    assert set(calls[0][1]) >= {"loss", "accuracy", "lr", "epoch", "step"}
    assert result.steps == 25 and result.epochs == pytest.approx(25.0)
    assert result.final_loss == calls[-1][1]["loss"] and result.samples_per_s > 0 and result.wall_s > 0
    assert calls[0][1]["lr"] > calls[-1][1]["lr"]  # cosine decay


def test_progress_bar_runs(capsys: pytest.CaptureFixture[str]) -> None:
    data = bang_bang(100)
    bc.fit(policy_for(data), data, BCConfig(steps=3, log_every=1), progress=True)
    assert "bc" in capsys.readouterr().err


def test_warm_start_continues() -> None:
    # bc.fit takes no sample weights: a weighted fit (AggreVaTe's cost gaps) resamples the data it
    # hands in, tested in test_aggrevate.py::test_cost_gaps_weigh_the_samples_bc_trains_on
    data = bang_bang(500)
    policy = policy_for(data)
    first = bc.fit(policy, data, BCConfig(steps=100, batch_size=64, log_every=100))
    second = bc.fit(policy, data, BCConfig(steps=1, batch_size=500, log_every=1))
    assert second.final_loss < first.history[0]["loss"]


def test_empty_dataset() -> None:
    data = StandIn(np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    with pytest.raises(DataError, match="empty"):
        bc.fit(policy_for(bang_bang(10)), data, FAST)


def test_inconsistent_dataset() -> None:
    with pytest.raises(DataError, match="10 observations but 9 actions"):
        bc.fit(policy_for(bang_bang(10)), StandIn(np.zeros((10, 4), np.float32), np.zeros(9, np.int64)), FAST)
    obs = np.zeros((10, 4), np.float32)
    obs[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        bc.fit(policy_for(bang_bang(10)), StandIn(obs, np.zeros(10, np.int64)), FAST)


def test_loss_option_must_match_the_policy() -> None:
    data = pd_control(100)
    with pytest.raises(ConfigError, match="loss 'nll' needs a policy with a categorical or gaussian head"):
        bc.fit(policy_for(data, "deterministic"), data, BCConfig(steps=1, loss="nll"))
    bc.fit(policy_for(data, "gaussian"), data, BCConfig(steps=1, loss="nll"))


def test_window_policies_are_refused_until_supported() -> None:
    data = bang_bang(10)
    policy = policy_for(data)
    policy.window = 4  # type: ignore[misc]
    with pytest.raises(ConfigError, match="window 4"):
        bc.fit(policy, data, FAST)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be >= 1, got 0"),
        ({"batch_size": -1}, "batch_size must be >= 1, got -1"),
        ({"log_every": 0}, "log_every must be >= 1"),
        ({"lr": 0.0}, "lr must be a positive number"),
        ({"lr": float("nan")}, "lr must be a positive number"),
        ({"weight_decay": -0.1}, "weight_decay must be >= 0"),
        ({"grad_clip": -1.0}, "grad_clip must be >= 0"),
        ({"loss": "huber"}, "loss must be one of auto, mse, nll"),
        ({"lr_schedule": "linear"}, "lr_schedule must be one of"),
        ({"ema": 1.0}, r"ema must be in \[0, 1\)"),
        ({"ema": -0.1}, r"ema must be in \[0, 1\)"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BCConfig(**kwargs)  # type: ignore[arg-type]


def test_divergence_is_reported() -> None:
    data = bang_bang(100)
    with pytest.raises(ConfigError, match="lower lr"):
        bc.fit(policy_for(data), data, BCConfig(steps=50, lr=1e30, grad_clip=0.0, lr_schedule="constant"))


@pytest.mark.parametrize("head", ["categorical", "deterministic", "gaussian"])
def test_ensemble_members_learn_and_disagree_off_distribution(head: str) -> None:
    data = bang_bang() if head == "categorical" else pd_control()
    discrete = head == "categorical"
    policy = MLPPolicy(MLPConfig(hidden=(32, 32), ensemble=4, head=head), obs_dim=data.obs.shape[1],
                       act_dim=2 if discrete else 1, discrete=discrete,
                       act_low=None if discrete else np.array([-2.0]), act_high=None if discrete else np.array([2.0]))
    test = bang_bang(1000, seed=1) if discrete else pd_control(1000, seed=1)
    untrained = float(np.mean((policy.act(test.obs) - test.acts) ** 2))
    result = bc.fit(policy, data, FAST)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    if discrete:
        assert (policy.act(test.obs) == test.acts).mean() > 0.9
    else:
        assert float(np.mean((policy.act(test.obs) - test.acts) ** 2)) < 0.2 * untrained
    near = policy.disagreement(test.obs)
    far = policy.disagreement(test.obs * 50.0)  # far outside the training data
    assert near.shape == (1000,) and far.mean() > near.mean() >= 0.0


def test_single_network_has_zero_disagreement() -> None:
    data = bang_bang(200)
    policy = policy_for(data)
    assert not policy.disagreement(data.obs).any()


def test_gradient_clipping_scales_the_global_norm_only_when_above_the_limit() -> None:
    a = torch.nn.Parameter(torch.zeros(2))
    b = torch.nn.Parameter(torch.zeros(1, 1))
    a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([[4.0]])  # global norm 5
    bc._clip_grad_norm([a, b], 10.0)
    assert a.grad.tolist() == [3.0, 0.0] and b.grad.tolist() == [[4.0]]  # untouched below the limit
    bc._clip_grad_norm([a, b], 1.0)
    norm = float(torch.linalg.vector_norm(torch.cat([a.grad.reshape(-1), b.grad.reshape(-1)])))
    assert norm == pytest.approx(1.0, rel=1e-5) and a.grad[0] / b.grad[0, 0] == pytest.approx(0.75)


def _weights(policy: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in policy.parameters()]


def test_ema_ends_the_fit_with_the_average_of_the_trained_weights() -> None:
    """The average follows min(ema, (1 + t) / (10 + t)) over the weights training visits, training
    itself is unchanged by it, and the callback evaluates the averaged weights."""
    data = pd_control(300)
    config = BCConfig(steps=40, batch_size=32, log_every=1)
    trained: list[list[torch.Tensor]] = []
    plain = policy_for(data, head="deterministic")
    expected = _weights(plain)
    bc.fit(plain, data, config, callback=lambda step, _: trained.append(_weights(plain)))
    averages: list[list[torch.Tensor]] = []
    for t, w in enumerate(trained, start=1):
        decay = min(0.9, (1 + t) / (10 + t))
        expected = [decay * e + (1 - decay) * x for e, x in zip(expected, w)]
        averages.append(expected)
    ema = policy_for(data, head="deterministic")
    seen: list[list[torch.Tensor]] = []
    bc.fit(ema, data, dataclasses.replace(config, ema=0.9), callback=lambda step, _: seen.append(_weights(ema)))
    for got, want in zip(seen, averages, strict=True):  # the callback saw the average at every step
        assert all(torch.allclose(g, w, atol=1e-6) for g, w in zip(got, want))
    final = _weights(ema)
    assert all(torch.allclose(g, w, atol=1e-6) for g, w in zip(final, averages[-1]))
    assert not all(torch.allclose(g, w, atol=1e-4) for g, w in zip(final, trained[-1]))  # not the last weights


def test_ema_survives_a_stop_and_resume_bitwise() -> None:
    data = pd_control(300)
    config = BCConfig(steps=60, batch_size=32, log_every=10, ema=0.95)
    whole = policy_for(data, head="deterministic")
    bc.fit(whole, data, config)
    saved: list[bc.State] = []

    def stop_at_30(step: int, snapshot: Callable[[], bc.State]) -> bool:
        if step == 30:
            saved.append(snapshot())
            return True
        return False

    first = policy_for(data, head="deterministic")
    assert bc.fit(first, data, config, checkpoint=stop_at_30).interrupted
    again = policy_for(data, head="deterministic", seed=5)  # other initial weights: all comes from the state
    bc.fit(again, data, config, resume=saved[0])
    assert all(torch.equal(a, b) for a, b in zip(_weights(again), _weights(whole)))
    tensors, meta = saved[0]
    without = {k: v for k, v in tensors.items() if not k.startswith("ema.")}
    with pytest.raises(CheckpointError, match="weight average"):
        bc.fit(policy_for(data, head="deterministic"), data, config, resume=(without, meta))
