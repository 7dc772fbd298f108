"""Scripted experts reach their returns; adapters behave as documented."""

from __future__ import annotations

import numpy as np
import pytest

from mimetic.envs import as_expert, load_sb3_expert, make_expert, make_task
from mimetic.envs.cartpole import cartpole_gain
from mimetic.errors import TaskError
from mimetic.protocols import Expert


def test_cartpole_expert_always_scores_500(run_expert) -> None:
    eps = run_expert(make_task("cartpole", num_envs=10), make_expert("cartpole"))
    np.testing.assert_array_equal(eps.returns, 500.0)
    np.testing.assert_allclose(cartpole_gain(), [1.0, 2.3159, 32.161, 8.2138], atol=1e-3)  # peer harness gain


def test_pendulum_expert_swings_up(run_expert) -> None:
    eps = run_expert(make_task("pendulum", num_envs=20), make_expert("pendulum"))
    assert eps.returns.mean() > -200
    assert np.all(eps.lengths == 200)


def test_expert_names_dtypes_and_shapes() -> None:
    obs = np.zeros((5, 4), np.float32)
    cart = make_expert("cartpole")
    assert isinstance(cart, Expert) and cart.name == "cartpole-lqr"
    assert cart(obs).dtype == np.int64 and cart(obs).shape == (5,)
    pend = make_expert("gym:Pendulum-v1")  # Gymnasium ids of built-in tasks resolve too
    assert pend.name == "pendulum-energy-lqr"
    torque = pend(np.tile([1.0, 0.0, 0.0], (3, 1)))
    assert torque.dtype == np.float32 and torque.shape == (3, 1)
    assert make_expert("driving").name == "driving-stanley"
    with pytest.raises(TaskError, match="labels batches"):
        cart(np.zeros(4))
    with pytest.raises(TaskError, match="no built-in expert"):
        make_expert("gym:Acrobot-v1")


def test_as_expert_detects_batched_and_single_functions() -> None:
    k = cartpole_gain()
    obs = np.random.default_rng(0).normal(size=(6, 4)) * 0.1
    ref = make_expert("cartpole")(obs)

    single = as_expert(lambda o: int(o @ k > 0), name="single")
    np.testing.assert_array_equal(single(obs), ref)
    assert single.batched is False and single.name == "single"
    np.testing.assert_array_equal(single(obs[:1]), ref[:1])

    batched = as_expert(lambda o: (o @ k > 0).astype(int))
    np.testing.assert_array_equal(batched(obs), ref)
    assert batched.batched is True

    calls = []
    pend_single = as_expert(lambda o: calls.append(1) or np.array([float(o[2])]))  # one obs -> (1,)
    out = pend_single(np.arange(9.0).reshape(3, 3))
    assert out.dtype == np.float32 and out.shape == (3, 1)
    np.testing.assert_array_equal(out[:, 0], [2.0, 5.0, 8.0])

    forced = as_expert(lambda o: np.ones(len(o)), discrete=True)
    assert forced(obs).dtype == np.int64
    with pytest.raises(TaskError):
        as_expert(3)


def test_sb3_loader_is_guarded(tmp_path) -> None:
    spec = make_task("cartpole").spec
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        with pytest.raises(TaskError, match="install stable-baselines3"):
            load_sb3_expert(tmp_path / "policy.zip", spec)
    else:  # pragma: no cover - only where SB3 is installed
        with pytest.raises(Exception):  # noqa: B017 - whatever SB3 raises for a missing file
            load_sb3_expert(tmp_path / "missing.zip", spec)
