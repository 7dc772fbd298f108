"""save_policy / load_policy: exact round trips for every head, one-line errors for every failure."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from mimetic.errors import CheckpointError
from mimetic.policies import (
    MLPConfig,
    MLPPolicy,
    load_policy,
    read_checkpoint_meta,
    save_policy,
)
from mimetic.policies.checkpoint import META_FILE, WEIGHTS_FILE, register_policy

HEADS = [
    pytest.param(True, MLPConfig(hidden=(16, 16)), id="categorical"),
    pytest.param(False, MLPConfig(hidden=(16, 16), activation="tanh"), id="deterministic"),
    pytest.param(False, MLPConfig(hidden=(16,), head="gaussian"), id="gaussian-state"),
    pytest.param(False, MLPConfig(hidden=(), head="gaussian", gaussian_std="param"), id="gaussian-param"),
    pytest.param(True, MLPConfig(hidden=(8,), ensemble=3), id="categorical-ensemble"),
    pytest.param(False, MLPConfig(hidden=(8,), head="gaussian", ensemble=3), id="gaussian-ensemble"),
]


def trained_like(config: MLPConfig, *, discrete: bool, task: str = "cartpole") -> MLPPolicy:
    """A policy whose weights and buffers all differ from a fresh build."""
    bounds = {} if discrete else {"act_low": np.array([-2.0, -np.inf]), "act_high": np.array([2.0, np.inf])}
    policy = MLPPolicy(config, obs_dim=4, act_dim=2, discrete=discrete, task=task, seed=7, **bounds)
    policy.set_normalizer(np.array([1.0, -1.0, 0.5, 3.0]), np.array([2.0, 0.5, 1.0, 4.0]))
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    return policy


def obs_batch() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32) * 3


@pytest.mark.parametrize(("discrete", "config"), HEADS)
def test_round_trip_gives_identical_actions(tmp_path: Path, discrete: bool, config: MLPConfig) -> None:
    policy = trained_like(config, discrete=discrete)
    save_policy(policy, tmp_path / "ckpt", extra={"steps": 10, "dataset": "demo.hdf5"})
    loaded = load_policy(tmp_path / "ckpt", expect_task="cartpole")
    assert isinstance(loaded, MLPPolicy) and loaded.config == policy.config and loaded.task == "cartpole"
    obs = obs_batch()
    np.testing.assert_array_equal(loaded.act(obs), policy.act(obs))
    sample = {"deterministic": False}
    np.testing.assert_array_equal(
        loaded.act(obs, **sample, generator=torch.Generator().manual_seed(5)),
        policy.act(obs, **sample, generator=torch.Generator().manual_seed(5)),
    )
    for name, tensor in policy.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_metadata_is_plain_json_with_spec_and_extra(tmp_path: Path) -> None:
    save_policy(trained_like(MLPConfig(hidden=(8,)), discrete=False), tmp_path, extra={"epochs": 3.5})
    meta = json.loads((tmp_path / META_FILE).read_text())
    assert meta["kind"] == "mlp" and meta["config"]["hidden"] == [8]
    assert meta["spec"] == {
        "task": "cartpole", "obs_dim": 4, "act_dim": 2, "discrete": False,
        "act_low": [-2.0, None], "act_high": [2.0, None],
    }  # fmt: skip
    assert read_checkpoint_meta(tmp_path)["extra"] == {"epochs": 3.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == [META_FILE, WEIGHTS_FILE]  # no temp files left


def test_save_overwrites_atomically(tmp_path: Path) -> None:
    save_policy(trained_like(MLPConfig(hidden=(8,)), discrete=True), tmp_path)
    save_policy(trained_like(MLPConfig(hidden=(4,)), discrete=True), tmp_path)
    assert load_policy(tmp_path).config.hidden == (4,)  # type: ignore[attr-defined]
    assert sorted(p.name for p in tmp_path.iterdir()) == [META_FILE, WEIGHTS_FILE]


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    save_policy(trained_like(MLPConfig(hidden=(8,)), discrete=True), tmp_path / "ckpt")
    return tmp_path / "ckpt"


def edit_meta(path: Path, **changes: object) -> None:
    meta = json.loads((path / META_FILE).read_text())
    meta.update(changes)
    (path / META_FILE).write_text(json.dumps(meta))


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        load_policy(tmp_path / "nope")


def test_missing_json(saved: Path) -> None:
    (saved / META_FILE).unlink()
    with pytest.raises(CheckpointError, match="has no policy.json"):
        load_policy(saved)


def test_missing_weights(saved: Path) -> None:
    (saved / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="has no policy.safetensors"):
        load_policy(saved)


def test_corrupt_json(saved: Path) -> None:
    (saved / META_FILE).write_text('{"kind": "mlp", ')
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(saved)


def test_json_of_something_else(saved: Path) -> None:
    (saved / META_FILE).write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="not a mimetic policy checkpoint"):
        load_policy(saved)


def test_newer_format_version(saved: Path) -> None:
    edit_meta(saved, version=99)
    with pytest.raises(CheckpointError, match="upgrade mimetic"):
        load_policy(saved)


def test_corrupt_weights(saved: Path) -> None:
    data = (saved / WEIGHTS_FILE).read_bytes()
    (saved / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(saved)


def test_pickled_weights_are_rejected_not_unpickled(saved: Path) -> None:
    policy = load_policy(saved)
    (saved / WEIGHTS_FILE).write_bytes(pickle.dumps(policy.state_dict()))  # type: ignore[attr-defined]
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(saved)


def test_unknown_kind(saved: Path) -> None:
    edit_meta(saved, kind="transformer")
    with pytest.raises(CheckpointError, match="unknown policy kind 'transformer' .*known: .*mlp"):
        load_policy(saved)


def test_wrong_task(saved: Path) -> None:
    with pytest.raises(CheckpointError, match="is for task 'cartpole', not 'pendulum'"):
        load_policy(saved, expect_task="pendulum")


def test_task_not_recorded(tmp_path: Path) -> None:
    save_policy(MLPPolicy(MLPConfig(hidden=(4,)), obs_dim=2, act_dim=2, discrete=True), tmp_path)
    assert load_policy(tmp_path).task is None  # type: ignore[attr-defined]
    with pytest.raises(CheckpointError, match="records no task"):
        load_policy(tmp_path, expect_task="cartpole")


def test_shape_mismatch(saved: Path) -> None:
    meta = json.loads((saved / META_FILE).read_text())
    meta["config"]["hidden"] = [16]
    (saved / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"'net.0.weight' has shape \(8, 4\), policy.json implies \(16, 4\)"):
        load_policy(saved)


def test_missing_tensor(saved: Path) -> None:
    meta = json.loads((saved / META_FILE).read_text())
    meta["config"]["hidden"] = [8, 8]
    (saved / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match its policy.json: missing"):
        load_policy(saved)


def test_invalid_config_in_json(saved: Path) -> None:
    meta = json.loads((saved / META_FILE).read_text())
    meta["config"]["activation"] = "nope"
    (saved / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="cannot rebuild the policy.*activation"):
        load_policy(saved)


def test_errors_are_one_line(saved: Path) -> None:
    edit_meta(saved, config={"hidden": [8], "surprise": 1})
    with pytest.raises(CheckpointError) as info:
        load_policy(saved)
    assert "\n" not in str(info.value)


def test_extra_must_be_json(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not plain JSON"):
        save_policy(trained_like(MLPConfig(hidden=(4,)), discrete=True), tmp_path, extra={"bad": object()})


def test_unregistered_policy_class_cannot_be_saved(tmp_path: Path) -> None:
    class Custom(MLPPolicy):
        pass

    policy = Custom(MLPConfig(hidden=(4,)), obs_dim=2, act_dim=2, discrete=True)
    with pytest.raises(CheckpointError, match="register it with register_policy"):
        save_policy(policy, tmp_path)
    register_policy("mlp", MLPPolicy)  # re-registering the same class is fine
