"""Image encoders: shapes, GroupNorm (no batch statistics), the spatial-softmax keypoints, random
crops, local weight files (ours and torchvision's names), one-line errors, and that a small
encoder really learns where things are in an image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mimetic.errors import CheckpointError, ConfigError, TaskError
from mimetic.nets.vision import ImageEncoder, SpatialSoftmax, VisionConfig, load_weights


def _images(b: int, side: int = 48, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (b, side, side, 3), dtype=np.uint8))


@pytest.mark.parametrize("encoder, side, crop", [("resnet18", 40, 32), ("conv", 48, 44), ("conv", 48, 0)])
def test_features_have_the_configured_width(encoder, side, crop) -> None:
    enc = ImageEncoder(VisionConfig(encoder=encoder, features=24, keypoints=8, crop=crop), shape=(side, side, 3))
    out = enc(_images(3, side))
    assert out.shape == (3, 24) and out.dtype == torch.float32 and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in enc.parameters())


@pytest.mark.parametrize("encoder", ["resnet18", "conv"])
def test_group_norm_makes_each_sample_independent_of_its_batch(encoder) -> None:
    """BatchNorm in training mode mixes a batch's samples; GroupNorm must not."""
    enc = ImageEncoder(VisionConfig(encoder=encoder, keypoints=4), shape=(48, 48, 3)).train()
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in enc.modules())
    assert any(isinstance(m, torch.nn.GroupNorm) for m in enc.modules())
    imgs = _images(4, 48)
    alone = enc(imgs[:1])
    together = enc(imgs)[:1]
    torch.testing.assert_close(alone, together, rtol=1e-4, atol=1e-5)


def test_spatial_softmax_finds_a_bright_spot() -> None:
    head = SpatialSoftmax(channels=2, keypoints=2)
    with torch.no_grad():  # keypoint j reads channel j
        head.maps.weight.copy_(torch.eye(2)[:, :, None, None])
        head.maps.bias.zero_()
    maps = torch.zeros(1, 2, 5, 9)
    maps[0, 0, 1, 8] = 50.0  # channel 0: row 1 of 5, last column of 9
    maps[0, 1, 4, 0] = 50.0  # channel 1: last row, first column
    out = head(maps)[0]  # x0, y0, x1, y1 in [-1, 1]
    torch.testing.assert_close(out, torch.tensor([1.0, -0.5, -1.0, 1.0]), atol=1e-4, rtol=0)


def test_training_crops_are_random_windows_and_acting_takes_the_centre() -> None:
    enc = ImageEncoder(VisionConfig(encoder="conv", crop=44), shape=(48, 48, 3))
    x = torch.arange(2 * 3 * 48 * 48, dtype=torch.float32).reshape(2, 3, 48, 48)  # a value says where it is
    enc.train()
    seen = set()
    for _ in range(10):
        for c in enc.crop(x):  # (3, 44, 44)
            b, rest = divmod(int(c[0, 0, 0]), 3 * 48 * 48)
            top, left = divmod(rest, 48)
            assert torch.equal(c, x[b, :, top:top + 44, left:left + 44])  # a window of one sample
            seen.add((top, left))
    assert len(seen) > 5  # offsets vary, sample by sample
    enc.eval()
    assert torch.equal(enc.crop(x), x[:, :, 2:46, 2:46])


def test_crop_offsets_follow_the_seed() -> None:
    x = torch.rand(4, 3, 50, 50)
    a, b, c = (ImageEncoder(VisionConfig(encoder="conv", crop=44), shape=(50, 50, 3), seed=s) for s in (0, 0, 1))
    assert torch.equal(a.crop(x), b.crop(x)) and not torch.equal(a.crop(x), c.crop(x))


def test_weights_round_trip_through_a_local_file(tmp_path: Path) -> None:
    src = ImageEncoder(VisionConfig(encoder="conv", keypoints=4), shape=(48, 48, 3), seed=0)
    save_file(src.state_dict(), tmp_path / "enc.safetensors")
    dst = ImageEncoder(VisionConfig(encoder="conv", keypoints=4), shape=(48, 48, 3), seed=1)
    assert load_weights(dst, tmp_path / "enc.safetensors") == []
    imgs = _images(2, 48)
    torch.testing.assert_close(src.eval()(imgs), dst.eval()(imgs))


def test_torchvision_resnet18_names_load_into_the_backbone(tmp_path: Path) -> None:
    """A torchvision-style state dict: bn* / downsample.* names, BatchNorm running statistics
    and the classifier, which has no place here."""
    ours = ImageEncoder(VisionConfig(encoder="resnet18", keypoints=4), shape=(32, 32, 3), seed=3)
    tv = {}
    for key, value in ours.state_dict().items():
        if not key.startswith("backbone."):
            continue
        name = key[len("backbone."):].replace("shortcut", "downsample").replace("norm", "bn")
        tv[name] = value.clone()
        if name.endswith("bn1.weight") or name.endswith("bn2.weight") or name.endswith("downsample.1.weight"):
            stem = name.rsplit(".", 1)[0]
            tv[f"{stem}.running_mean"] = torch.zeros_like(value)
            tv[f"{stem}.running_var"] = torch.ones_like(value)
            tv[f"{stem}.num_batches_tracked"] = torch.tensor(7)
    tv["fc.weight"], tv["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    save_file(tv, tmp_path / "resnet18.safetensors")
    fresh = ImageEncoder(VisionConfig(encoder="resnet18", keypoints=4), shape=(32, 32, 3), seed=4)
    left = load_weights(fresh, tmp_path / "resnet18.safetensors")
    assert left and all(not k.startswith("backbone.") for k in left)  # only the keypoint head stays fresh
    for key, value in ours.state_dict().items():
        if key.startswith("backbone."):
            assert torch.equal(fresh.state_dict()[key], value), key


def test_weight_files_that_do_not_fit_fail_in_one_line(tmp_path: Path) -> None:
    enc = ImageEncoder(VisionConfig(encoder="conv", keypoints=4), shape=(48, 48, 3))
    (tmp_path / "junk.safetensors").write_bytes(b"not a weight file")
    one_channel = ImageEncoder(VisionConfig(encoder="conv", keypoints=4), shape=(48, 48, 1))
    save_file(one_channel.state_dict(), tmp_path / "gray.safetensors")
    save_file({"head.weight": torch.zeros(3)}, tmp_path / "other.safetensors")
    for name, words in (("junk", "cannot read"), ("gray", "has shape"), ("other", "lacks"),
                        ("missing", "cannot read")):
        with pytest.raises(CheckpointError, match=words) as err:
            load_weights(enc, tmp_path / f"{name}.safetensors")
        assert "\n" not in str(err.value)


def test_bad_images_and_configs_fail_in_one_line() -> None:
    enc = ImageEncoder(VisionConfig(encoder="conv"), shape=(48, 48, 3))
    with pytest.raises(TaskError, match="uint8"):
        enc(torch.rand(2, 48, 48, 3))
    with pytest.raises(TaskError, match=r"\(B, 48, 48, 3\)"):
        enc(torch.zeros(2, 3, 48, 48, dtype=torch.uint8))  # channels first
    with pytest.raises(ConfigError, match="larger than"):
        ImageEncoder(VisionConfig(crop=50), shape=(48, 48, 3))
    with pytest.raises(ConfigError, match="at least 44"):
        ImageEncoder(VisionConfig(encoder="conv"), shape=(40, 40, 3))
    with pytest.raises(ConfigError, match="encoder must be one of"):
        VisionConfig(encoder="vit")


def test_the_conv_encoder_learns_where_a_square_is() -> None:
    """Regress a bright square's centre from 48x48 frames: the keypoint head makes position easy;
    an encoder that ignored the image could not beat predicting the mean (error ~0.33)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        imgs = np.zeros((n, 48, 48, 3), np.uint8)
        pos = rng.integers(4, 44, (n, 2))
        for i, (r, c) in enumerate(pos):
            imgs[i, r - 3:r + 3, c - 3:c + 3] = 255
        return torch.from_numpy(imgs), torch.from_numpy((pos / 47.0 * 2 - 1).astype(np.float32))

    enc = ImageEncoder(VisionConfig(encoder="conv", features=2, keypoints=8), shape=(48, 48, 3))
    opt = torch.optim.Adam(enc.parameters(), lr=3e-3)
    for _ in range(150):
        x, y = batch(32)
        loss = (enc(x) - y).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = batch(200)
    with torch.no_grad():
        err = (enc.eval()(x) - y).abs().mean()
    assert err < 0.12, float(err)
