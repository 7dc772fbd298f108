"""Image encoders: camera frames (B, H, W, C) uint8 -> features (B, D), as Diffusion Policy builds them.

- ``resnet18``: a ResNet-18 (He et al. 2016) with GroupNorm in place of BatchNorm (batch
  statistics break with small batches and with the EMA of the weights; Chi et al. 2023, sec. 3.3)
  and a spatial-softmax keypoint head in place of the global average pool (Levine et al. 2016;
  Mandlekar et al. 2021): K learned feature maps, each reduced to the expected (x, y) of its
  softmax over the image, then a linear layer to ``features``.
- ``conv``: three strided convolutions (32 8x8/4, 64 4x4/2, 64 3x3/1, as Mnih et al. 2015) with
  GroupNorm and the same keypoint head: several times cheaper, for CPUs and small images.

Images are scaled to [-1, 1] (not z-scored: a pixel's scale is known) and, while the module is
training, randomly cropped to ``crop`` x ``crop`` (Diffusion Policy: 84 of 96), one offset per
sample from the encoder's own CPU generator; in eval mode the crop is the centre. No weights are
downloaded: :func:`load_weights` reads a local safetensors file, ours or torchvision's ResNet-18
(its BatchNorm affine weights become GroupNorm's; running statistics and the classifier are
dropped).

:class:`DictEncoder` turns a whole dict observation (:mod:`mimetic.observations`: cameras +
state) into one feature vector: an :class:`ImageEncoder` per camera (or one shared by all), the
z-scored state keys flattened beside them, concatenated in the layout's order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from mimetic import limits
from mimetic.errors import CheckpointError, ConfigError, TaskError
from mimetic.observations import IMAGE_CENTRE, IMAGE_SCALE, ObsLayout

ENCODERS = ("resnet18", "conv")


@dataclass(frozen=True)
class VisionConfig:
    """An image encoder's architecture and augmentation."""

    encoder: Literal["resnet18", "conv"] = "resnet18"
    """resnet18 (ResNet-18, GroupNorm, spatial softmax; Diffusion Policy's) or conv (three
    convolutions; several times faster)."""

    features: int = 64
    """Output features per image (a linear layer after the keypoints)."""

    keypoints: int = 32
    """Spatial-softmax keypoints K (2K coordinates before the linear layer)."""

    crop: int = 0
    """Random crop to crop x crop pixels while training (the centre when acting); 0 keeps the
    whole image. Diffusion Policy crops 96 to 84."""

    group_size: int = 16
    """Channels per GroupNorm group (Diffusion Policy: 16)."""

    shared: bool = False
    """With several cameras of one shape: one encoder for all of them (else one each)."""

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ConfigError(f"encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")
        for name in ("features", "keypoints", "group_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.crop < 0:
            raise ConfigError(f"crop must be >= 0 (0: no crop), got {self.crop}")


class SpatialSoftmax(nn.Module):
    """(B, C, H, W) feature maps -> (B, 2K): per keypoint the expected (x, y) in [-1, 1] under
    the softmax of a learned 1x1-convolution map over the H x W positions."""

    def __init__(self, channels: int, keypoints: int) -> None:
        super().__init__()
        self.maps = nn.Conv2d(channels, keypoints, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        logits = self.maps(x).flatten(2)  # (B, K, H W)
        attn = torch.softmax(logits.float(), dim=-1)  # float: a softmax over thousands of positions
        ys = torch.linspace(-1.0, 1.0, h, device=x.device)  # (H,)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device)  # (W,)
        grid_x = xs.repeat(h)  # (H W,) x of each position, row-major
        grid_y = ys.repeat_interleave(w)  # (H W,)
        kx, ky = attn @ grid_x, attn @ grid_y  # (B, K) each
        return torch.stack([kx, ky], dim=-1).reshape(b, -1)  # (B, 2K): x0, y0, x1, y1, ...


def _norm(channels: int, group_size: int) -> nn.GroupNorm:
    return nn.GroupNorm(max(1, channels // group_size), channels)


class BasicBlock(nn.Module):
    """ResNet's two 3x3 convolutions with a shortcut (a strided 1x1 convolution when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int, group_size: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.norm1 = _norm(cout, group_size)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.norm2 = _norm(cout, group_size)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), _norm(cout, group_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm1(self.conv1(x)))
        return torch.relu(self.norm2(self.conv2(h)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18's trunk (64-128-256-512 channels, two blocks per stage), GroupNorm throughout."""

    def __init__(self, channels: int, group_size: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 64, 7, stride=2, padding=3, bias=False)
        self.norm1 = _norm(64, group_size)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        widths, cin = (64, 128, 256, 512), 64
        for i, cout in enumerate(widths):
            stride = 1 if i == 0 else 2
            self.add_module(f"layer{i + 1}", nn.Sequential(BasicBlock(cin, cout, stride, group_size),
                                                           BasicBlock(cout, cout, 1, group_size)))
            cin = cout
        self.out_channels = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(torch.relu(self.norm1(self.conv1(x))))
        for i in range(1, 5):
            h = getattr(self, f"layer{i}")(h)
        return h


class SmallConv(nn.Module):
    """Three strided convolutions with GroupNorm and ReLU (32 8x8/4, 64 4x4/2, 64 3x3/1)."""

    def __init__(self, channels: int, group_size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for cin, cout, k, s in ((channels, 32, 8, 4), (32, 64, 4, 2), (64, 64, 3, 1)):
            layers += [nn.Conv2d(cin, cout, k, stride=s), _norm(cout, group_size), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.out_channels = 64

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ImageEncoder(nn.Module):
    """uint8 images (B, H, W, C) -> features (B, ``config.features``); see the module docstring."""

    def __init__(self, config: VisionConfig, *, shape: tuple[int, int, int], seed: int = 0) -> None:
        super().__init__()
        h, w, c = (int(v) for v in shape)
        if min(h, w, c) < 1:
            raise ConfigError(f"image shape must be (H, W, C) with positive sizes, got {shape}")
        if config.crop > min(h, w):
            raise ConfigError(f"crop {config.crop} is larger than the {h}x{w} images")
        self.config, self.shape = config, (h, w, c)
        side = config.crop or min(h, w)
        if config.encoder == "conv" and side < 44:  # smaller ones end in a 1x1 map: nothing to locate
            raise ConfigError(f"the conv encoder needs images (or crops) of at least 44 pixels, got {side}")
        if config.encoder == "resnet18" and side < 32:
            raise ConfigError(f"the resnet18 encoder needs images (or crops) of at least 32 pixels, got {side}")
        limits.check_bytes(f"a {config.encoder} image encoder", 12_000_000 * 4 * limits.TRAINING_FACTOR)
        self.generator = torch.Generator().manual_seed(seed)  # crop offsets: the seed decides them
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.backbone: nn.Module = (ResNet18 if config.encoder == "resnet18" else SmallConv)(c, config.group_size)
            self.keypoints = SpatialSoftmax(self.backbone.out_channels, config.keypoints)  # type: ignore[arg-type]
            self.out = nn.Linear(2 * config.keypoints, config.features)

    def check(self, images: torch.Tensor) -> None:
        """One line for images that are not uint8 (B, H, W, C) of this encoder's shape."""
        if images.dtype != torch.uint8:
            raise TaskError(f"images must be uint8 (0-255), got {images.dtype}; keep camera frames as bytes")
        if images.ndim != 4 or tuple(images.shape[1:]) != self.shape:
            raise TaskError(f"images must have shape (B, {', '.join(map(str, self.shape))}) (B, H, W, C), "
                            f"got {tuple(images.shape)}")

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, s, s): random windows while training, the centre otherwise."""
        s = self.config.crop
        if not s:
            return x
        b, _, h, w = x.shape
        if not self.training:
            top, left = (h - s) // 2, (w - s) // 2
            return x[:, :, top:top + s, left:left + s]
        top = torch.randint(0, h - s + 1, (b,), generator=self.generator).to(x.device)  # (B,)
        left = torch.randint(0, w - s + 1, (b,), generator=self.generator).to(x.device)  # (B,)
        offs = torch.arange(s, device=x.device)
        rows, cols = (top[:, None] + offs)[:, :, None], (left[:, None] + offs)[:, None, :]  # (B, s, 1), (B, 1, s)
        batch = torch.arange(b, device=x.device)[:, None, None]  # (B, 1, 1)
        return x.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (B, C, s, s)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check(images)
        x = images.permute(0, 3, 1, 2).float().sub_(IMAGE_CENTRE).div_(IMAGE_SCALE)  # (B, C, H, W) in [-1, 1]
        return self.out(self.keypoints(self.backbone(self.crop(x))))  # (B, D)


def _torchvision_name(key: str) -> str | None:
    """A torchvision ResNet-18 state-dict key -> ours (None: nothing of ours holds it)."""
    if key.startswith("fc.") or key.endswith(("running_mean", "running_var", "num_batches_tracked")):
        return None
    key = key.replace("downsample", "shortcut").replace(".bn", ".norm")
    return "backbone." + ("norm1" + key[len("bn1"):] if key.startswith("bn1") else key)


def load_weights(encoder: ImageEncoder, path: str | os.PathLike[str]) -> list[str]:
    """Fill ``encoder`` from a local safetensors file: an :class:`ImageEncoder`'s own state dict,
    or a torchvision ResNet-18's (into the backbone; BatchNorm's running statistics and the
    classifier are dropped). Returns the names left at their initial values (the keypoint head,
    for torchvision weights). No pickle is read."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(os.fspath(path))
    except (OSError, SafetensorError) as err:
        raise CheckpointError(f"cannot read encoder weights {path}: {str(err).splitlines()[0][:160]}") from None
    ours = encoder.state_dict()
    if not set(state) & set(ours):  # torchvision's names
        state = {new: v for k, v in state.items() if (new := _torchvision_name(k)) is not None}
    unknown = sorted(set(state) - set(ours))
    if unknown:
        raise CheckpointError(f"{path} holds {len(unknown)} tensors this {encoder.config.encoder} encoder lacks "
                              f"(e.g. {unknown[0]!r}); is it another architecture?")
    bad = [(k, tuple(v.shape), tuple(ours[k].shape)) for k, v in state.items() if v.shape != ours[k].shape]
    if bad:
        k, got, want = bad[0]
        raise CheckpointError(f"{path}: {k} has shape {got}, this encoder needs {want} "
                              f"({len(bad)} mismatched tensor(s); images with another channel count?)")
    encoder.load_state_dict(state, strict=False)
    return sorted(set(ours) - set(state))



class DictEncoder(nn.Module):
    """Dict observations -> features (*lead, F): each camera through an :class:`ImageEncoder` (one
    per camera, or one shared when ``config.shared`` and the cameras have one shape), each state key
    z-scored with the dataset's statistics (its ``state_buffers``, filled by the policy) and
    flattened; concatenated in the layout's order. ``lead`` is any number of leading axes: (B,)
    when acting, (B, To) for windows (every frame of a window is encoded, each with its own crop
    while training)."""

    def __init__(self, layout: ObsLayout, config: VisionConfig, *, seed: int = 0) -> None:
        super().__init__()
        if not layout.image_keys:
            raise ConfigError(f"a DictEncoder needs at least one image key; the layout is {layout.describe()}")
        self.layout, self.config = layout, config
        shared = config.shared
        cams = [layout.field(k) for k in layout.image_keys]
        if shared and len({f.shape for f in cams}) > 1:
            raise ConfigError("a shared image encoder needs every camera at one shape, got "
                              + ", ".join(f"{f.name} {f.shape}" for f in cams))
        # one generator for every camera's crops, the first camera's; names k0, k1, ... (layout order)
        self.images = nn.ModuleDict()
        for i, f in enumerate(cams):
            if shared and i:
                continue
            self.images[f"k{i}"] = ImageEncoder(config, shape=f.shape, seed=seed + i)  # type: ignore[arg-type]
        self.generator = next(iter(self.images.values())).generator  # type: ignore[union-attr]
        for enc in self.images.values():
            enc.generator = self.generator
        self._cam_slot = {f.name: "k0" if shared else f"k{i}" for i, f in enumerate(cams)}
        for i, f in enumerate(layout.fields):
            if not f.image:
                width = int(np.prod(f.shape))
                self.register_buffer(f"mean{i}", torch.zeros(width))  # (S_k,)
                self.register_buffer(f"std{i}", torch.ones(width))  # (S_k,)
        self.out_features = sum(config.features if f.image else int(np.prod(f.shape)) for f in layout.fields)

    def state_buffers(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """(key, mean, std) normaliser buffers of every state key; images keep their fixed scaling."""
        return [(f.name, getattr(self, f"mean{i}"), getattr(self, f"std{i}"))
                for i, f in enumerate(self.layout.fields) if not f.image]

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        missing = [k for k in self.layout.keys if k not in obs]
        if missing:
            raise TaskError(f"observations lack key(s) {missing}; the policy reads {list(self.layout.keys)}")
        first = self.layout.fields[0]
        lead = tuple(obs[first.name].shape[: obs[first.name].ndim - len(first.shape)])  # (B,) or (B, To)
        parts = []
        for i, f in enumerate(self.layout.fields):
            x = obs[f.name]
            if tuple(x.shape[len(lead):]) != f.shape or tuple(x.shape[:len(lead)]) != lead:
                raise TaskError(f"observation key {f.name!r} has shape {tuple(x.shape)}; expected "
                                f"{lead + f.shape} ({', '.join(map(str, f.shape))} per step)")
            if f.image:
                enc = self.images[self._cam_slot[f.name]]
                parts.append(enc(x.reshape(-1, *f.shape)).reshape(*lead, -1))  # (*lead, D)
            else:
                flat = x.reshape(*lead, -1).float()  # (*lead, S_k)
                parts.append((flat - getattr(self, f"mean{i}")) / getattr(self, f"std{i}"))
        return torch.cat(parts, dim=-1)  # (*lead, F)
