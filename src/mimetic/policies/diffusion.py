"""Diffusion policy (Chi et al. 2023): a denoiser that turns noise into a sequence of actions.

Given the last ``To`` observations, the policy samples an action sequence of ``Tp`` steps
(prediction horizon) by reverse diffusion and executes its first ``Ta`` (action horizon) before
planning again (receding horizon, Chi et al. Sec. 3.1). Because it samples rather than regresses,
it represents multimodal experts: where the expert goes left or right, a sample goes left *or*
right, never through the middle.

Training (DDPM, Ho et al. 2020, Algorithm 1): draw a step ``k ~ U{0..K-1}`` and noise ``eps``,
form ``x_k = sqrt(abar_k) x_0 + sqrt(1 - abar_k) eps`` from the expert's action window ``x_0``
(scaled to [-1, 1] by the task's action bounds), and regress ``eps_theta(x_k, k, obs)`` on
``eps`` (mean squared error over the valid steps of the window; or, with
``prediction="sample"``, regress on ``x_0`` itself). Noise schedule: squared cosine
(Nichol & Dhariwal 2021, eq. 17) or linear (Ho et al.).

Sampling (DDIM, Song et al. 2021, eq. 12 with sigma = 0): a few deterministic steps on a
"trailing" subsequence of the K training steps that starts at K-1 (Lin et al. 2024), so the
first step sees pure noise; the predicted ``x_0`` is clipped to [-1, 1] at each step and the
noise estimate recomputed from it. Only the initial noise is random.

Denoisers: ``mlp`` (default; the flattened noisy window, the flattened normalised observations
and a sinusoidal step embedding, concatenated into an MLP: fast on a CPU) or ``unet`` (the 1-D
temporal convolutional U-Net of Chi et al. Sec. 3.3/Fig. 2: residual conv blocks over the time
axis, each modulated by FiLM (Perez et al. 2018) from the step embedding and observations).

Per-env state (``reset`` clears it where an episode starts): the observation history (B, To, O)
and the queue of planned actions (B, Ta, A). At an episode's first step the history is the first
observation repeated, as ``Dataset.windows`` pads training windows.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from mimetic import devices, limits
from mimetic.errors import ConfigError, DataError
from mimetic.nets.mlp import ACTIVATIONS, mlp
from mimetic.policies.checkpoint import register_policy
from mimetic.policies.mlp import to_task_units
from mimetic.policies.windowed import WindowedPolicy
from mimetic.types import Batch

DENOISERS = ("mlp", "unet")
SCHEDULES = ("squaredcos", "linear")
PREDICTIONS = ("epsilon", "sample")


@dataclass(frozen=True)
class DiffusionConfig:
    """Architecture and sampler of a :class:`DiffusionPolicy`."""

    obs_horizon: int = 2
    """Observations the policy conditions on (To), the current one and To-1 before it."""

    pred_horizon: int = 8
    """Actions each sample predicts (Tp), starting at the current step."""

    action_horizon: int = 4
    """Actions executed from each sample before sampling again (Ta <= Tp; receding horizon)."""

    denoiser: Literal["mlp", "unet"] = "mlp"
    """Noise-prediction network: mlp (small and fast) or unet (1-D temporal U-Net with FiLM)."""

    hidden: tuple[int, ...] = (256, 256, 256)
    """MLP denoiser: hidden layer widths."""

    activation: Literal["relu", "tanh", "gelu", "silu", "elu"] = "silu"
    """MLP denoiser: hidden activation."""

    unet_channels: tuple[int, ...] = (64, 128)
    """U-Net denoiser: channels per resolution level (multiples of 8; pred_horizon must be
    divisible by 2 ** (levels - 1))."""

    kernel_size: int = 5
    """U-Net denoiser: temporal convolution width (odd)."""

    step_embed_dim: int = 32
    """Width of the sinusoidal diffusion-step embedding."""

    train_steps: int = 100
    """Diffusion steps K of the training noise schedule."""

    inference_steps: int = 10
    """DDIM steps per sample at inference (<= train_steps; fewer is faster, coarser)."""

    schedule: Literal["squaredcos", "linear"] = "squaredcos"
    """Noise schedule: squaredcos (Nichol & Dhariwal 2021) or linear (Ho et al. 2020's betas
    1e-4..0.02 over 1000 steps, rescaled to train_steps)."""

    prediction: Literal["epsilon", "sample"] = "sample"
    """What the denoiser predicts: sample (the clean action window x_0, Ramesh et al. 2022) or
    epsilon (the noise, Ho et al.; Chi et al.'s choice). With few DDIM steps, sample prediction
    kept the modes sharp on the multimodal task (success 0.95 vs 0.71 at 8 steps)."""

    def __post_init__(self) -> None:
        for name in ("hidden", "unet_channels"):  # a CLI or JSON may hand in lists
            object.__setattr__(self, name, tuple(int(h) for h in getattr(self, name)))
        for name in ("obs_horizon", "pred_horizon", "action_horizon", "step_embed_dim", "train_steps",
                     "inference_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.action_horizon > self.pred_horizon:
            raise ConfigError(f"action_horizon ({self.action_horizon}) must be <= pred_horizon ({self.pred_horizon})")
        if self.inference_steps > self.train_steps:
            raise ConfigError(f"inference_steps ({self.inference_steps}) must be <= train_steps ({self.train_steps})")
        if self.denoiser not in DENOISERS:
            raise ConfigError(f"denoiser must be one of {', '.join(DENOISERS)}, got {self.denoiser!r}")
        if self.prediction not in PREDICTIONS:
            raise ConfigError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {self.prediction!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden layer widths must be >= 1, got {self.hidden}")
        if self.denoiser == "unet":
            self._check_unet()

    def _check_unet(self) -> None:
        if not self.unet_channels or any(c < 8 or c % 8 for c in self.unet_channels):
            raise ConfigError(f"unet_channels must be multiples of 8, got {self.unet_channels}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"kernel_size must be odd, got {self.kernel_size}")
        if self.pred_horizon % 2 ** (len(self.unet_channels) - 1):
            raise ConfigError(
                f"pred_horizon {self.pred_horizon} must be divisible by {2 ** (len(self.unet_channels) - 1)} "
                f"for a U-Net with {len(self.unet_channels)} levels"
            )


def noise_schedule(kind: str, steps: int) -> torch.Tensor:
    """abar_k = prod_{i <= k} (1 - beta_i) for k = 0..K-1, (K,) float64."""
    if kind == "linear":  # Ho et al.'s 1e-4..0.02 for K = 1000, scaled by 1000 / K (Nichol & Dhariwal)
        scale = 1000.0 / steps
        betas = np.minimum(np.linspace(1e-4 * scale, 0.02 * scale, steps), 0.999)
    else:  # squared cosine: abar(t) = cos^2(((t / K + s) / (1 + s)) pi / 2), betas capped at 0.999
        s = 0.008
        f = np.cos((np.arange(steps + 1) / steps + s) / (1 + s) * math.pi / 2) ** 2  # (K+1,)
        betas = np.minimum(1.0 - f[1:] / f[:-1], 0.999)
    return torch.from_numpy(np.cumprod(1.0 - betas))


def step_embedding(k: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (Vaswani et al. 2017) of diffusion steps k (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32, device=k.device)
                      / max(half - 1, 1))  # (half,)
    angles = k.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([angles.sin(), angles.cos()], dim=-1)  # (B, 2 half)
    return nn.functional.pad(emb, (0, dim - 2 * half))


class MLPDenoiser(nn.Module):
    """eps_theta([x_k, obs, emb(k)]) with an MLP: (B, Tp, A) noisy actions -> (B, Tp, A) noise."""

    def __init__(self, config: DiffusionConfig, *, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.dim = config.step_embed_dim
        width = config.pred_horizon * act_dim + config.obs_horizon * obs_dim + self.dim
        self.net = mlp((width, *config.hidden, config.pred_horizon * act_dim), config.activation)

    def forward(self, x: torch.Tensor, k: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        inp = torch.cat([x.flatten(1), obs.flatten(1), step_embedding(k, self.dim)], dim=-1)  # (B, in)
        return self.net(inp).view_as(x)


class _ConvBlock(nn.Sequential):
    """Conv1d -> GroupNorm -> Mish, length preserving (Chi et al.'s Conv1dBlock)."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), nn.GroupNorm(8, c_out), nn.Mish())


class _FiLMBlock(nn.Module):
    """Two conv blocks; the first one's output is scaled and shifted per channel by the condition."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, kernel: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = _ConvBlock(c_in, c_out, kernel), _ConvBlock(c_out, c_out, kernel)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * c_out))
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond).unsqueeze(-1).chunk(2, dim=1)  # (B, C, 1) each
        h = self.conv1(x) * scale + shift  # (B, C, T)
        return self.conv2(h) + self.skip(x)


class UNetDenoiser(nn.Module):
    """1-D temporal conditional U-Net (Chi et al. 2023, Fig. 2): convolutions over the Tp axis."""

    def __init__(self, config: DiffusionConfig, *, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.dim, kernel, chans = config.step_embed_dim, config.kernel_size, config.unet_channels
        self.step_mlp = nn.Sequential(nn.Linear(self.dim, 4 * self.dim), nn.Mish(), nn.Linear(4 * self.dim, self.dim))
        cond = self.dim + config.obs_horizon * obs_dim
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        widths = [act_dim, *chans]
        for i, (c_in, c_out) in enumerate(itertools.pairwise(widths)):
            last = i == len(chans) - 1
            self.down.append(nn.ModuleList([
                _FiLMBlock(c_in, c_out, cond, kernel), _FiLMBlock(c_out, c_out, cond, kernel),
                nn.Identity() if last else nn.Conv1d(c_out, c_out, 3, stride=2, padding=1),
            ]))
        self.mid = nn.ModuleList([_FiLMBlock(chans[-1], chans[-1], cond, kernel) for _ in range(2)])
        for c_out, c_in in reversed(list(itertools.pairwise(chans))):
            self.up.append(nn.ModuleList([
                _FiLMBlock(2 * c_in, c_out, cond, kernel), _FiLMBlock(c_out, c_out, cond, kernel),
                nn.ConvTranspose1d(c_out, c_out, 4, stride=2, padding=1),
            ]))
        self.head = nn.Sequential(_ConvBlock(2 * chans[0], chans[0], kernel), nn.Conv1d(chans[0], act_dim, 1))

    def forward(self, x: torch.Tensor, k: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        cond = torch.cat([self.step_mlp(step_embedding(k, self.dim)), obs.flatten(1)], dim=-1)  # (B, cond)
        h = x.transpose(1, 2)  # (B, A, Tp): channels first
        skips = []
        for block1, block2, down in self.down:  # type: ignore[misc]
            h = block2(block1(h, cond), cond)
            skips.append(h)
            h = down(h)
        for block in self.mid:
            h = block(h, cond)
        for block1, block2, up in self.up:  # type: ignore[misc]
            h = torch.cat([h, skips.pop()], dim=1)
            h = up(block2(block1(h, cond), cond))
        h = torch.cat([h, skips.pop()], dim=1)  # the full-resolution skip (unused in Chi et al.'s code)
        return self.head(h).transpose(1, 2)  # (B, Tp, A)


class DiffusionPolicy(WindowedPolicy):
    """Policy + TrainablePolicy (see :mod:`mimetic.protocols`) for flat observations and
    continuous, bounded actions; ``act`` runs B envs at once, each with its own action queue."""

    config_class = DiffusionConfig
    name = "diffusion policy"

    def __init__(
        self,
        config: DiffusionConfig,
        *,
        obs_dim: int,
        act_dim: int,
        act_low: np.ndarray | None = None,
        act_high: np.ndarray | None = None,
        task: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self._setup(config, obs_dim=obs_dim, act_dim=act_dim, pred_horizon=config.pred_horizon, act_low=act_low,
                    act_high=act_high, task=task)
        abar = noise_schedule(config.schedule, config.train_steps)  # (K,) float64
        self.register_buffer("abar", abar.float(), persistent=False)  # rebuilt from the config
        self.sample_steps = _trailing_steps(config.train_steps, config.inference_steps)
        # One private stream for training noise and sampling noise: the seed decides both.
        self.generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = MLPDenoiser if config.denoiser == "mlp" else UNetDenoiser
            if config.denoiser == "unet":  # about two k-wide convolutions per level and direction
                chans = [int(c) for c in config.unet_channels]
                params = 4 * int(config.kernel_size) * sum(c * c for c in chans) * 2
                limits.check_bytes(f"a diffusion U-Net with channels {tuple(chans)}",
                                   params * 4 * limits.TRAINING_FACTOR)
            self.denoiser: nn.Module = net(config, obs_dim=obs_dim, act_dim=act_dim)
        self._new_history(0)
        self._queue = np.zeros((0, config.action_horizon, act_dim), np.float32)  # (B, Ta, A)
        self._next = np.zeros(0, np.int64)  # (B,) queue position; Ta = empty

    @property
    def loss_name(self) -> str:
        """What :meth:`loss` optimises: DDPM noise-prediction MSE."""
        return "diffusion"

    # -- training ------------------------------------------------------------------------------

    def loss(self, batch: Batch, *, metrics: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
        """DDPM noise-prediction loss (Ho et al. 2020, Algorithm 1) on windows ``obs`` (B, To, *O),
        ``acts`` (B, Tp, A); steps where ``extras["mask"]`` (B, Tp) is False do not count."""
        b = batch.obs.shape[0]
        if batch.acts.ndim != 3 or tuple(batch.acts.shape[1:]) != (self.pred_horizon, self.act_dim):
            raise DataError(
                f"diffusion policy trains on action windows (B, {self.pred_horizon}, {self.act_dim}), got "
                f"{tuple(batch.acts.shape)}; train it with bc.fit on a mimetic Dataset"
            )
        x0 = (batch.acts - self.act_centre) / self.act_half  # (B, Tp, A) in [-1, 1]
        # drawn on the CPU generator, then moved: the same noise on every device
        k = torch.randint(0, self.config.train_steps, (b,), generator=self.generator).to(x0.device)  # (B,)
        eps = devices.randn(x0.shape, self.generator, like=x0)  # (B, Tp, A)
        abar = self.abar[k].view(b, 1, 1)  # (B, 1, 1)
        xk = abar.sqrt() * x0 + (1.0 - abar).sqrt() * eps  # (B, Tp, A) forward process q(x_k | x_0)
        target = eps if self.config.prediction == "epsilon" else x0
        err = (self.denoiser(xk, k, self._norm_obs(batch.obs)) - target).square().mean(dim=-1)  # (B, Tp)
        mask = batch.extras.get("mask")
        valid = torch.ones_like(err) if mask is None else mask.to(err.dtype)  # (B, Tp)
        if batch.weights is not None:
            valid = valid * batch.weights[:, None]
        loss = (err * valid).sum() / valid.sum().clamp_min(1e-12)
        return loss, ({"denoise_mse": float(loss.detach())} if metrics else {})

    # -- sampling and acting -------------------------------------------------------------------

    @torch.inference_mode()
    def sample(self, obs: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """DDIM (eta = 0) from noise: obs (B, To, *O) -> action windows (B, Tp, A) in task units."""
        b = obs.shape[0]
        cond = self._norm_obs(obs)
        x = devices.randn((b, self.pred_horizon, self.act_dim), generator or self.generator, like=cond)  # (B, Tp, A)
        steps = self.sample_steps
        for i, k in enumerate(steps):
            abar = self.abar[k]
            abar_prev = self.abar[steps[i + 1]] if i + 1 < len(steps) else torch.ones((), device=x.device)
            out = self.denoiser(x, torch.full((b,), k, dtype=torch.long, device=x.device), cond)  # (B, Tp, A)
            x0 = (x - (1.0 - abar).sqrt() * out) / abar.sqrt() if self.config.prediction == "epsilon" else out
            x0 = x0.clamp(-1.0, 1.0)
            eps = (x - abar.sqrt() * x0) / (1.0 - abar).sqrt()  # consistent with the clipped x0
            x = abar_prev.sqrt() * x0 + (1.0 - abar_prev).sqrt() * eps  # Song et al. eq. 12, sigma = 0
        return to_task_units(self, x)

    def act(self, obs: np.ndarray, *, generator: torch.Generator | None = None) -> np.ndarray:
        """obs (B, *O) of B envs -> (B, A) float32: each env's next queued action, sampling a new
        window of Tp actions (keeping the first Ta) for the envs whose queue ran out."""
        obs = self._check_obs(obs)
        b, ta = len(obs), self.config.action_horizon
        if len(self._next) != b:
            self.reset(np.ones(b, bool))
        self._push_history(obs)
        empty = self._next >= ta  # (B,)
        if empty.any():
            hist = torch.from_numpy(self._hist[empty]).to(self.device)  # (n, To, O)
            windows = self.sample(hist, generator=generator)  # (n, Tp, A)
            self._queue[empty] = windows[:, :ta].cpu().numpy()
            self._next[empty] = 0
        rows = np.arange(b)
        out = self._queue[rows, self._next].copy()  # (B, A)
        self._next += 1
        return out

    def reset(self, mask: np.ndarray) -> None:
        """Empty the action queue and the observation history of envs where ``mask`` (B,) is True
        (a different B starts over for every env)."""
        mask = np.asarray(mask, bool).reshape(-1)
        if len(mask) != len(self._next):
            b, c = len(mask), self.config
            self._new_history(b)
            self._queue = np.zeros((b, c.action_horizon, self.act_dim), np.float32)  # (B, Ta, A)
            self._next = np.full(b, c.action_horizon, np.int64)  # (B,)
            return
        self._next[mask] = self.config.action_horizon
        self._fresh[mask] = True



def _trailing_steps(train_steps: int, inference_steps: int) -> list[int]:
    """Descending DDIM steps that start at K-1 ("trailing" spacing, Lin et al. 2024, Table 2)."""
    steps = np.round(np.arange(train_steps, 0, -train_steps / inference_steps)).astype(np.int64) - 1
    return [int(k) for k in steps]


register_policy("diffusion", DiffusionPolicy)
