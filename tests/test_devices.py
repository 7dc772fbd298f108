"""Devices and precision: names checked, unavailable devices refused in one line, bf16 autocast
really used by BC, and every policy's training and sampling code free of tensors made on the CPU
when the weights live elsewhere (checked on torch's "meta" device, which refuses to mix devices)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mimetic import devices
from mimetic.algos import BCConfig, bc
from mimetic.errors import ConfigError
from mimetic.policies import (
    ChunkingConfig,
    ChunkingPolicy,
    DiffusionConfig,
    DiffusionPolicy,
    MLPConfig,
    MLPPolicy,
    load_policy,
    save_policy,
)
from mimetic.types import Batch

META = torch.device("meta")


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch, no_gpu) -> None:
    assert devices.resolve("auto") == torch.device("cpu")
    assert devices.resolve("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert devices.resolve("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.resolve("auto") == torch.device("cuda")


@pytest.mark.parametrize("name, words", [("cuda", "not available"), ("cuda:0", "not available"),
                                         ("mps", "not available"), ("tpu", "must be one of"),
                                         ("cuda:x", "must be one of"), ("cpu:0", "must be one of")])
def test_unknown_or_unavailable_devices_are_refused(no_gpu, name, words) -> None:
    with pytest.raises(ConfigError, match=words) as err:
        devices.resolve(name)
    assert "\n" not in str(err.value)


def test_a_missing_gpu_index_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert devices.resolve("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ConfigError, match="sees 1 CUDA GPU"):
        devices.resolve("cuda:1")


def test_precisions_the_device_lacks_are_refused() -> None:
    cpu = torch.device("cpu")
    devices.check_precision(cpu, "fp32")
    devices.check_precision(cpu, "bf16")
    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        devices.check_precision(cpu, "fp16")
    with pytest.raises(ConfigError, match="precision must be one of"):
        devices.check_precision(cpu, "fp8")


def test_bc_config_checks_names_without_probing_hardware() -> None:
    BCConfig(device="cuda:3")  # a valid name; whether it exists is checked when a fit starts
    with pytest.raises(ConfigError, match="device must be one of"):
        BCConfig(device="gpu")
    with pytest.raises(ConfigError, match="precision must be one of"):
        BCConfig(precision="half")


class _Rows:
    def __init__(self, n: int = 512, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.obs = rng.normal(size=(n, 3)).astype(np.float32)
        self.acts = np.tanh(self.obs @ np.array([[0.5], [-1.0], [0.3]], np.float32)).astype(np.float32)

    def transitions(self) -> tuple[np.ndarray, np.ndarray]:
        return self.obs, self.acts

    def obs_stats(self) -> tuple[np.ndarray, np.ndarray]:
        return self.obs.mean(axis=0), self.obs.std(axis=0)


def _mlp(seed: int = 0) -> MLPPolicy:
    return MLPPolicy(MLPConfig(hidden=(32, 32)), obs_dim=3, act_dim=1, discrete=False,
                     act_low=np.array([-1.0]), act_high=np.array([1.0]), seed=seed)


@pytest.mark.parametrize("precision, dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_bc_runs_the_forward_pass_in_the_asked_precision(precision, dtype) -> None:
    policy, seen = _mlp(), set()
    first = next(m for m in policy.modules() if isinstance(m, torch.nn.Linear))
    first.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
    result = bc.fit(policy, _Rows(), BCConfig(steps=200, batch_size=64, log_every=50, device="cpu",
                                              precision=precision))
    assert seen == {dtype}
    assert all(p.dtype == torch.float32 for p in policy.parameters())  # the weights stay float32
    assert result.history[-1]["loss"] < 0.5 * result.history[0]["loss"]


def test_bf16_training_learns_about_as_well_as_fp32() -> None:
    data, losses = _Rows(), {}
    for precision in ("fp32", "bf16"):
        policy = _mlp()
        bc.fit(policy, data, BCConfig(steps=400, batch_size=64, log_every=100, precision=precision))
        pred = policy.act(data.obs)
        losses[precision] = float(np.mean((pred - data.acts) ** 2))
    assert losses["fp32"] < 0.01
    assert losses["bf16"] < 3 * losses["fp32"] + 0.005  # bf16 rounds; it must not break learning


def test_a_fit_on_an_unavailable_device_changes_nothing(no_gpu) -> None:
    policy = _mlp()
    before = [p.detach().clone() for p in policy.parameters()]
    with pytest.raises(ConfigError, match="not available"):
        bc.fit(policy, _Rows(), BCConfig(steps=10, device="cuda"))
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters(), strict=True))


def test_checkpoints_load_on_the_asked_device(tmp_path: Path, no_gpu) -> None:
    policy = _mlp()
    save_policy(policy, tmp_path / "ckpt")
    assert load_policy(tmp_path / "ckpt", device="cpu").device == torch.device("cpu")
    with pytest.raises(ConfigError, match="not available"):
        load_policy(tmp_path / "ckpt", device="cuda")


# ---------------------------------------------------------------- device discipline (meta device)


def _policies() -> dict[str, torch.nn.Module]:
    low, high = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    out: dict[str, torch.nn.Module] = {}
    for head in ("deterministic", "gaussian", "mixture"):
        out[f"mlp-{head}"] = MLPPolicy(MLPConfig(hidden=(8,), head=head), obs_dim=3, act_dim=2, discrete=False,
                                       act_low=low, act_high=high)
    out["mlp-categorical"] = MLPPolicy(MLPConfig(hidden=(8,)), obs_dim=3, act_dim=2, discrete=True)
    out["mlp-ensemble"] = MLPPolicy(MLPConfig(hidden=(8,), ensemble=3), obs_dim=3, act_dim=2, discrete=False,
                                    act_low=low, act_high=high)
    for denoiser in ("mlp", "unet"):
        out[f"diffusion-{denoiser}"] = DiffusionPolicy(
            DiffusionConfig(denoiser=denoiser, hidden=(16,), unet_channels=(8, 16), obs_horizon=2, pred_horizon=4,
                            action_horizon=2, train_steps=20, inference_steps=3),
            obs_dim=3, act_dim=2, act_low=low, act_high=high)
    for decoder in ("mlp", "transformer"):
        out[f"act-{decoder}"] = ChunkingPolicy(
            ChunkingConfig(backbone=decoder, chunk_size=4, obs_horizon=2, cvae=True, hidden=(8,), d_model=16,
                           heads=2, layers=1, feedforward=16),
            obs_dim=3, act_dim=2, act_low=low, act_high=high)
    return out


POLICIES = _policies()


def _meta_batch(name: str, policy: torch.nn.Module) -> Batch:
    if name.startswith("mlp"):
        acts = (torch.zeros(4, dtype=torch.long) if name == "mlp-categorical" else torch.zeros(4, 2))
        return Batch(obs=torch.zeros(4, 3, device=META), acts=acts.to(META))
    to, tp = policy.obs_horizon, policy.pred_horizon  # type: ignore[attr-defined]
    return Batch(obs=torch.zeros(4, to, 3, device=META), acts=torch.zeros(4, tp, 2, device=META),
                 extras={"mask": torch.ones(4, tp, dtype=torch.bool, device=META)})


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_training_loss_makes_no_tensor_off_the_weights_device(name: str) -> None:
    policy = _policies()[name].to(META)
    loss, _ = policy.loss(_meta_batch(name, policy), metrics=False)  # type: ignore[operator]
    assert loss.device == META  # a tensor made on the CPU would have raised "not on the expected device"
    loss.backward()


@pytest.mark.parametrize("name", ["diffusion-mlp", "diffusion-unet", "act-mlp", "act-transformer"])
def test_sampling_makes_no_tensor_off_the_weights_device(name: str) -> None:
    policy = _policies()[name].to(META)
    obs = torch.zeros(2, 2, 3, device=META)  # (B, To, O)
    if name.startswith("diffusion"):
        out = policy.sample(obs)  # type: ignore[operator]
    else:
        out = policy.predict(obs, torch.zeros(2, policy.config.latent_dim))  # type: ignore[operator]  # z on the CPU
    assert out.device == META and out.shape == (2, 4, 2)


def test_mlp_heads_act_on_their_weights_device() -> None:
    """Acting moves observations to the weights and actions back: on meta the copy back is the
    one step that cannot run, so everything before it put its tensors on the right device."""
    for name in ("mlp-deterministic", "mlp-gaussian", "mlp-mixture", "mlp-categorical"):
        policy = _policies()[name].to(META)
        with pytest.raises(NotImplementedError, match="meta"):
            policy.act(np.zeros((2, 3), np.float32), deterministic=False,  # type: ignore[operator]
                       generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("extra, words", [(["--device", "cuda"], "error: device 'cuda' is not available"),
                                          (["--precision", "fp16", "--device", "cpu"], "error: precision fp16"),
                                          (["--device", "gpu"], "error: --device must be one of")])
def test_cli_refuses_bad_devices_before_writing(tmp_path: Path, capsys, no_gpu, extra, words) -> None:
    from mimetic.cli import main

    data, out = tmp_path / "demos", tmp_path / "run"
    assert main(["collect", "--task", "cartpole", "--episodes", "2", "--out", str(data)]) == 0
    for command in (["train", "bc", "--data", str(data)], ["train", "dagger", "--rounds", "1"]):
        capsys.readouterr()
        try:
            code = main([*command, "--task", "cartpole", *extra, "--out", str(out)])
        except SystemExit as e:
            code = int(e.code or 0)
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.splitlines()[-1].startswith(words) and "Traceback" not in err, err
        assert not out.exists()


@pytest.mark.parametrize("resident_bytes", [bc.DEVICE_DATA_BYTES, 0])
def test_minibatches_arrive_on_the_training_device(monkeypatch, resident_bytes) -> None:
    """Small datasets move to the device once, large ones a minibatch at a time; the order of
    the rows is the CPU generator's either way."""
    monkeypatch.setattr(bc, "DEVICE_DATA_BYTES", resident_bytes)
    obs, acts, mask = torch.arange(40.0).reshape(20, 2), torch.arange(20.0)[:, None], torch.ones(20, 3, dtype=bool)
    on_meta = bc._Minibatches(obs, acts, mask, batch_size=4, generator=torch.Generator().manual_seed(0), device=META)
    on_cpu = bc._Minibatches(obs, acts, mask, batch_size=4, generator=torch.Generator().manual_seed(0))
    assert on_meta.resident == (resident_bytes > 0)
    assert (on_meta.obs.device == META) == on_meta.resident  # kept on the CPU when too large
    for _ in range(6):
        a, b = next(on_meta), next(on_cpu)
        assert a.obs.device == a.acts.device == a.extras["mask"].device == META
        assert a.obs.shape == b.obs.shape == (4, 2) and a.extras["mask"].shape == (4, 3)
    assert torch.equal(on_meta.perm, on_cpu.perm)


def test_the_pusht_benchmark_refuses_an_unavailable_device_before_its_folder(tmp_path: Path, capsys, no_gpu) -> None:
    from mimetic.cli import main

    out = tmp_path / "bench"
    try:
        code = main(["benchmark", "pusht", "--device", "cuda", "--out", str(out)])
    except SystemExit as e:
        code = int(e.code or 0)
    assert code == 2 and capsys.readouterr().err.strip().startswith("error: device 'cuda' is not available")
    assert not out.exists()
