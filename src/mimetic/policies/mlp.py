"""A feed-forward policy: observation normaliser -> MLP -> action head.

Heads: ``categorical`` (discrete actions, cross-entropy), ``deterministic`` (continuous actions,
MSE, as in plain behavioral cloning, Pomerleau 1989 / Ross & Bagnell 2010), ``gaussian``
(continuous actions, negative log-likelihood with a state-dependent or state-independent
log-std) and ``mixture`` (a mixture density network, Bishop 1994: K gaussians with diagonal
covariance and state-dependent weights, trained by negative log-likelihood; it can represent
multimodal experts, which MSE averages). Continuous actions live in [-1, 1] inside the policy
(scaled from the task's action bounds), so the losses weigh every action dimension alike; ``act``
maps them back and clips.
Everything needed to act (normaliser statistics, action bounds) is a buffer, so a checkpoint of
``state_dict`` is self-contained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mimetic import devices
from mimetic.envs.base import TaskSpec
from mimetic.errors import ConfigError, DataError, TaskError
from mimetic.nets.mlp import ACTIVATIONS, StackedMLP, mlp
from mimetic.policies.checkpoint import register_policy
from mimetic.types import Batch

HEADS = ("auto", "categorical", "deterministic", "gaussian", "mixture")
GAUSSIAN_STDS = ("state", "param")
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_MIN_STD = 1e-6  # observation features with a smaller spread are only centred, not scaled


@dataclass(frozen=True)
class MLPConfig:
    """Architecture of an :class:`MLPPolicy`."""

    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths; an empty tuple gives a linear policy."""

    activation: Literal["relu", "tanh", "gelu", "silu", "elu"] = "tanh"
    """Hidden activation: relu, tanh, gelu, silu or elu (tanh imitated the smooth experts best)."""

    ensemble: int = 1
    """Independently initialised members trained together on the same batches; the policy acts on
    their average (mean probabilities / mean actions), and their spread measures novelty."""

    head: Literal["auto", "categorical", "deterministic", "gaussian", "mixture"] = "auto"
    """Action head: categorical (discrete), deterministic (continuous, MSE loss), gaussian
    (continuous, NLL loss), mixture (continuous, mixture-of-gaussians NLL: multimodal experts) or
    auto (categorical for discrete tasks, deterministic otherwise)."""

    gaussian_std: Literal["state", "param"] = "state"
    """Gaussian head only: log-std predicted from the state ("state") or one learned vector ("param")."""

    log_std_min: float = -5.0
    """Gaussian head only: lower clamp of the log-std (in [-1, 1]-scaled action units)."""

    log_std_max: float = 2.0
    """Gaussian head only: upper clamp of the log-std."""

    mixture_components: int = 5
    """Mixture head only: number of gaussian components K (deterministic acting takes the mean of
    the most likely one; sampling picks a component by its weight)."""

    def __post_init__(self) -> None:
        # A CLI or JSON may hand in a list; keep the frozen config hashable.
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.ensemble < 1:
            raise ConfigError(f"ensemble must be >= 1, got {self.ensemble}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden layer widths must be >= 1, got {self.hidden}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.head not in HEADS:
            raise ConfigError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if self.gaussian_std not in GAUSSIAN_STDS:
            raise ConfigError(f"gaussian_std must be 'state' or 'param', got {self.gaussian_std!r}")
        if self.mixture_components < 1:
            raise ConfigError(f"mixture_components must be >= 1, got {self.mixture_components}")
        if self.head == "mixture" and self.ensemble > 1:
            raise ConfigError("the mixture head does not average over an ensemble; use ensemble=1")
        if not self.log_std_min < self.log_std_max:
            raise ConfigError(
                f"log_std_min must be < log_std_max, got {self.log_std_min} and {self.log_std_max}"
            )

    def resolve_head(self, *, discrete: bool) -> str:
        """The concrete head for a task; raises ConfigError when it does not fit the action space."""
        if self.head == "auto":
            return "categorical" if discrete else "deterministic"
        if discrete and self.head != "categorical":
            raise ConfigError(f"head {self.head!r} needs continuous actions; use head='categorical'")
        if not discrete and self.head == "categorical":
            raise ConfigError(
                "head 'categorical' needs discrete actions; use 'deterministic', 'gaussian' or 'mixture'"
            )
        return self.head


def _action_scaling(
    act_low: np.ndarray | None, act_high: np.ndarray | None, act_dim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, centre, half-range) per dimension; unbounded dimensions are left unscaled."""
    low = np.full(act_dim, -np.inf) if act_low is None else np.asarray(act_low, np.float64).reshape(-1)
    high = np.full(act_dim, np.inf) if act_high is None else np.asarray(act_high, np.float64).reshape(-1)
    if low.shape != (act_dim,) or high.shape != (act_dim,):
        raise ConfigError(f"action bounds must have {act_dim} values, got {low.shape} and {high.shape}")
    bounded = np.isfinite(low) & np.isfinite(high) & (high > low)
    lo, hi = np.where(bounded, low, -1.0), np.where(bounded, high, 1.0)  # [-1, 1]: the identity map
    return low, high, (hi + lo) / 2.0, (hi - lo) / 2.0


def _multinomial(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One draw per row of ``probs`` (B, K) -> (B,), made on the CPU (where the generators live)."""
    return torch.multinomial(probs.float().cpu(), 1, generator=generator).squeeze(-1).to(probs.device)


def _f32(values: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float32).copy())


def register_obs_normalizer(module: nn.Module, obs_dim: int) -> None:
    """The ``obs_mean``/``obs_std`` buffers (O,) every policy normalises its input with."""
    module.register_buffer("obs_mean", torch.zeros(obs_dim))  # (O,)
    module.register_buffer("obs_std", torch.ones(obs_dim))  # (O,)


def register_action_bounds(module: nn.Module, act_low: np.ndarray | None, act_high: np.ndarray | None,
                           act_dim: int) -> None:
    """The ``act_low``/``act_high``/``act_centre``/``act_half`` buffers (A,) of a continuous policy."""
    low, high, centre, half = _action_scaling(act_low, act_high, act_dim)
    module.register_buffer("act_low", _f32(low))  # (A,)
    module.register_buffer("act_high", _f32(high))  # (A,)
    module.register_buffer("act_centre", _f32(centre))  # (A,)
    module.register_buffer("act_half", _f32(half))  # (A,)


def to_task_units(module: nn.Module, scaled: torch.Tensor) -> torch.Tensor:
    """[-1, 1]-scaled actions (..., A) -> task units, clipped to the action bounds."""
    return torch.clamp(torch.addcmul(module.act_centre, scaled, module.act_half), module.act_low, module.act_high)


def store_normalizer(module: nn.Module, obs_mean: np.ndarray, obs_std: np.ndarray) -> None:
    """Check dataset observation statistics and copy them into ``module``'s normaliser buffers;
    features with ~zero spread are only centred."""
    copy_stats(module.obs_mean, module.obs_std, obs_mean, obs_std)


def copy_stats(mean_buf: torch.Tensor, std_buf: torch.Tensor, obs_mean: np.ndarray, obs_std: np.ndarray, *,
               what: str = "normaliser statistics") -> None:
    """Check (mean, std) statistics against the buffers' width and copy them in; features with
    ~zero spread are only centred (every normaliser: flat policies, a vision policy's state keys)."""
    width = mean_buf.numel()
    mean = np.asarray(obs_mean, dtype=np.float64).reshape(-1)
    std = np.asarray(obs_std, dtype=np.float64).reshape(-1)
    if mean.shape != (width,) or std.shape != (width,):
        raise DataError(f"{what} must have {width} values, got {mean.shape} and {std.shape}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
        raise DataError(f"{what} contain NaN or inf; check the dataset observations")
    mean_buf.copy_(torch.from_numpy(mean))
    std_buf.copy_(torch.from_numpy(np.where(std < _MIN_STD, 1.0, std)))


class MLPPolicy(nn.Module):
    """Policy + TrainablePolicy for flat observations (see :mod:`mimetic.protocols`)."""

    window: ClassVar[int] = 1  # one observation in, one action out (chunking policies use more)

    def __init__(
        self,
        config: MLPConfig,
        *,
        obs_dim: int,
        act_dim: int,
        discrete: bool,
        act_low: np.ndarray | None = None,
        act_high: np.ndarray | None = None,
        task: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if obs_dim < 1 or act_dim < 1:
            raise ConfigError(f"obs_dim and act_dim must be >= 1, got {obs_dim} and {act_dim}")
        self.head = config.resolve_head(discrete=discrete)
        self.config = replace(config, head=self.head)  # saved resolved, so a reload never re-guesses
        self.obs_dim, self.act_dim, self.discrete, self.task = obs_dim, act_dim, discrete, task
        register_obs_normalizer(self, obs_dim)
        if not discrete:
            register_action_bounds(self, act_low, act_high, act_dim)
        self._build(seed)

    def _build(self, seed: int) -> None:
        # Initialise under a private RNG stream: the seed, not global state, decides the weights.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            state_std = self.head == "gaussian" and self.config.gaussian_std == "state"
            out_dim = 2 * self.act_dim if state_std else self.act_dim
            if self.head == "mixture":  # K logits, K means (A,), K log-stds (A,)
                out_dim = self.config.mixture_components * (1 + 2 * self.act_dim)
            sizes = (self.obs_dim, *self.config.hidden, out_dim)
            if self.config.ensemble > 1:
                if self.config.hidden:
                    # Unused hidden layers, drawn (as ever) before the stacked members only so
                    # that a seed keeps giving the ensembles it gave before.
                    mlp(sizes[:-1], self.config.activation)
                self.net: nn.Module = StackedMLP(sizes, self.config.ensemble, self.config.activation)
            else:
                self.net = mlp(sizes, self.config.activation)
            if self.head == "mixture":
                self._spread_components(self.net[-1])
        if self.head == "gaussian" and not state_std:
            self.log_std = nn.Parameter(torch.zeros(self.act_dim))  # (A,) std 1 = the half-range

    def _spread_components(self, last: nn.Linear) -> None:
        """Start the K components at distinct means (uniform in [-1, 1]^A) with std 0.3 and equal
        weights, the output layer's weights shrunk so these biases dominate at first. From a common
        start one broad component tends to win every sample and never splits (a known MDN local
        optimum); spread-out components each claim the data near them instead."""
        k, a = self.config.mixture_components, self.act_dim
        with torch.no_grad():
            last.weight.mul_(0.1)
            params = last.bias[k:].view(k, 2 * a)  # (K, 2A)
            last.bias[:k].zero_()
            params[:, :a].uniform_(-1.0, 1.0)
            params[:, a:].fill_(math.log(0.3))

    @classmethod
    def for_spec(cls, spec: TaskSpec, config: MLPConfig | None = None, *, seed: int = 0) -> MLPPolicy:
        """A policy shaped for ``spec``'s observations and actions (bounds taken from a Box)."""
        low = high = None
        if not spec.discrete:
            low, high = spec.action_space.low, spec.action_space.high  # type: ignore[attr-defined]
        return cls(
            config or MLPConfig(),
            obs_dim=spec.obs_dim,
            act_dim=spec.act_dim,
            discrete=spec.discrete,
            act_low=low,
            act_high=high,
            task=spec.name,
            seed=seed,
        )

    @property
    def loss_name(self) -> str:
        """The loss :meth:`loss` optimises: "nll" (categorical, gaussian, mixture) or "mse" (deterministic)."""
        return "mse" if self.head == "deterministic" else "nll"

    def set_normalizer(self, obs_mean: np.ndarray, obs_std: np.ndarray) -> None:
        """Store dataset observation statistics; features with ~zero spread are only centred."""
        store_normalizer(self, obs_mean, obs_std)

    def members(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw head outputs of every ensemble member (K, B, out); K = 1 for a plain MLP."""
        x = (obs.reshape(obs.shape[0], -1) - self.obs_mean) / self.obs_std  # (B, O)
        out = self.net(x)
        return out if self.config.ensemble > 1 else out.unsqueeze(0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw head outputs: logits (B, n) or scaled means (B, A) [+ log-stds (B, A)].

        An ensemble's logits are the log of its mean probabilities; its continuous outputs the mean.
        """
        out = self.members(obs)  # (K, B, out)
        if out.shape[0] == 1:
            return out[0]
        if self.head == "categorical":
            return torch.log_softmax(out, dim=-1).exp().mean(dim=0).clamp_min(1e-12).log()
        return out.mean(dim=0)

    @property
    def ensemble_size(self) -> int:
        """Members of the ensemble (1: a single network, whose disagreement is always 0)."""
        return self.config.ensemble

    def disagreement(self, obs: np.ndarray) -> np.ndarray:
        """Ensemble spread per state (B,): variance of member actions in the task's action units
        (continuous, summed over dimensions, so it compares with squared action distances) or of
        member probabilities (discrete); zeros for a single network."""
        with torch.inference_mode():
            out = self.members(torch.from_numpy(np.asarray(obs, np.float32)).to(self.device))  # (K, B, out)
            if self.head == "categorical":
                out = torch.softmax(out, dim=-1)
            else:
                if self.head == "gaussian":
                    out = self._mean_log_std(out)[0]
                elif self.head == "mixture":
                    logits, means, _ = self._mixture(out)
                    out = (torch.softmax(logits, dim=-1).unsqueeze(-1) * means).sum(dim=-2)  # mixture mean
                out = out * self.act_half  # [-1, 1]-scaled -> task units
            return out.var(dim=0, unbiased=False).sum(dim=-1).cpu().numpy()  # (B,)

    def _mean_log_std(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Split a gaussian head's output into mean (B, A) and clamped log-std (B, A) or (A,)."""
        if self.config.gaussian_std == "state":
            mean, log_std = out.chunk(2, dim=-1)
        else:
            mean, log_std = out, self.log_std
        return mean, log_std.clamp(self.config.log_std_min, self.config.log_std_max)

    def _mixture(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Split a mixture head's output (..., K (1 + 2A)) into logits (..., K), means (..., K, A)
        and clamped log-stds (..., K, A)."""
        k, a = self.config.mixture_components, self.act_dim
        logits, rest = out[..., :k], out[..., k:]
        params = rest.reshape(*rest.shape[:-1], k, 2 * a)  # (..., K, 2A)
        means, log_std = params[..., :a], params[..., a:]
        return logits, means, log_std.clamp(self.config.log_std_min, self.config.log_std_max)

    def _mixture_act(
        self, out: torch.Tensor, *, deterministic: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        """(B, out) -> (B, A) scaled actions: the most likely component's mean, or a sample."""
        logits, means, log_std = self._mixture(out)  # (B, K), (B, K, A), (B, K, A)
        if deterministic:
            pick = logits.argmax(dim=-1)  # (B,)
        else:
            pick = _multinomial(torch.softmax(logits, dim=-1), generator)  # (B,)
        rows = torch.arange(len(pick), device=pick.device)
        mean, std = means[rows, pick], log_std[rows, pick].exp()  # (B, A) each
        if deterministic:
            return mean
        return mean + devices.randn(mean.shape, generator, like=mean) * std

    def act(
        self, obs: np.ndarray, *, deterministic: bool = True, generator: torch.Generator | None = None
    ) -> np.ndarray:
        """obs (B, *O) -> int64 (B,) or float32 (B, A) actions.

        Deterministic acting takes the argmax / mean (mixture: the mean of the most likely
        component). ``deterministic=False`` samples from the categorical, gaussian or mixture head
        with ``generator`` (None: torch's global RNG); the deterministic head has no noise to
        sample and returns its output either way.
        """
        if obs.ndim < 2 or math.prod(obs.shape[1:]) != self.obs_dim:
            raise TaskError(
                f"policy expects a batch of observations with {self.obs_dim} values each, got shape "
                f"{obs.shape}; was it trained on another task?"
            )
        if obs.dtype != np.float32 or not obs.flags.writeable:
            obs = obs.astype(np.float32)  # torch.from_numpy warns on read-only arrays
        x = torch.from_numpy(obs).to(self.device)  # shares memory on the CPU: no copy at small batch
        with torch.inference_mode():
            out = self.forward(x)
            if self.head == "categorical":
                if deterministic:
                    return out.argmax(dim=-1).cpu().numpy()  # (B,) int64
                return _multinomial(torch.softmax(out, dim=-1), generator).cpu().numpy()
            if self.head == "gaussian":
                mean, log_std = self._mean_log_std(out)
                if not deterministic:
                    noise = devices.randn(mean.shape, generator, like=mean)  # (B, A)
                    mean = mean + noise * log_std.exp()
                out = mean
            elif self.head == "mixture":
                out = self._mixture_act(out, deterministic=deterministic, generator=generator)
            return to_task_units(self, out).cpu().numpy()  # (B, A) float32

    @property
    def device(self) -> torch.device:
        """Where the weights are (``bc.fit`` moves them to its ``device``)."""
        return devices.module_device(self)

    def reset(self, mask: np.ndarray) -> None:
        """Stateless: nothing to forget."""

    def loss(self, batch: Batch, *, metrics: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy (categorical), MSE (deterministic) or gaussian / mixture NLL, weighted by
        ``batch.weights``.

        Metrics: ``accuracy`` (categorical) or ``mse`` of the (mean) action, in [-1, 1]-scaled units.
        """
        out = self.members(batch.obs)  # (K, B, out): every member gets the full loss
        k = out.shape[0]
        if self.head == "categorical":
            if batch.acts.ndim != 1 or batch.acts.is_floating_point():
                raise DataError(f"discrete actions must be integers of shape (B,), got {tuple(batch.acts.shape)}")
            per_sample = F.cross_entropy(out.flatten(0, 1), batch.acts.repeat(k), reduction="none")
            per_sample = per_sample.view(k, -1).mean(dim=0)  # (B,)
            if not metrics:  # BC asks for metrics on logging steps only: they cost a sync each
                return _weighted_mean(per_sample, batch.weights), {}
            correct = int((out.detach().softmax(-1).mean(0).argmax(dim=-1) == batch.acts).sum())
            return _weighted_mean(per_sample, batch.weights), {"accuracy": correct / len(batch.acts)}
        acts = batch.acts.reshape(batch.acts.shape[0], -1)
        if acts.shape[1] != self.act_dim:
            raise DataError(f"continuous actions must have {self.act_dim} values, got {tuple(batch.acts.shape)}")
        target = (acts - self.act_centre) / self.act_half  # (B, A) in [-1, 1] where bounded
        if self.head == "deterministic":
            per_sample = (out - target).square().mean(dim=-1).mean(dim=0)  # (B,)
            if not metrics:
                return _weighted_mean(per_sample, batch.weights), {}
            mse = (out.detach().mean(dim=0) - target).square().mean()
            return _weighted_mean(per_sample, batch.weights), {"mse": mse.item()}
        if self.head == "mixture":
            return self._mixture_loss(out[0], target, batch.weights, metrics=metrics)
        mean, log_std = self._mean_log_std(out)  # (K, B, A)
        z = (target - mean) * torch.exp(-log_std)  # (K, B, A)
        per_sample = (0.5 * z.square() + log_std + _HALF_LOG_2PI).sum(dim=-1).mean(dim=0)  # (B,) NLL
        if not metrics:
            return _weighted_mean(per_sample, batch.weights), {}
        mse = (mean.detach().mean(dim=0) - target).square().mean()
        return _weighted_mean(per_sample, batch.weights), {"mse": mse.item()}

    def _mixture_loss(
        self, out: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None, *, metrics: bool
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Mixture NLL, -log sum_k pi_k N(a; mu_k, diag sigma_k^2) (Bishop 1994, eq. 26), via logsumexp.

        Metric ``mse``: of the most likely component's mean, the action acting would take.
        """
        logits, means, log_std = self._mixture(out)  # (B, K), (B, K, A), (B, K, A)
        z = (target.unsqueeze(1) - means) * torch.exp(-log_std)  # (B, K, A)
        log_n = -(0.5 * z.square() + log_std + _HALF_LOG_2PI).sum(dim=-1)  # (B, K)
        per_sample = -torch.logsumexp(torch.log_softmax(logits, dim=-1) + log_n, dim=-1)  # (B,)
        if not metrics:
            return _weighted_mean(per_sample, weights), {}
        with torch.no_grad():
            best = means[torch.arange(len(means), device=means.device), logits.argmax(dim=-1)]  # (B, A)
            mse = (best - target).square().mean()
        return _weighted_mean(per_sample, weights), {"mse": mse.item()}

    # -- checkpointing (see mimetic.policies.checkpoint) --------------------------------------

    def checkpoint_config(self) -> dict[str, Any]:
        """The architecture, as JSON-able values."""
        return asdict(self.config)

    def checkpoint_spec(self) -> dict[str, Any]:
        """What the policy was built for: task name, dims, action bounds (None = unbounded)."""
        spec: dict[str, Any] = {
            "task": self.task,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "discrete": self.discrete,
        }
        if not self.discrete:
            spec["act_low"] = [float(v) if math.isfinite(v) else None for v in self.act_low.tolist()]
            spec["act_high"] = [float(v) if math.isfinite(v) else None for v in self.act_high.tolist()]
        return spec

    @classmethod
    def from_checkpoint(cls, config: Mapping[str, Any], spec: Mapping[str, Any]) -> MLPPolicy:
        """Rebuild an untrained policy of the saved shape; weights are loaded afterwards."""
        low = high = None
        if not spec["discrete"]:
            low = np.array([-np.inf if v is None else v for v in spec["act_low"]], dtype=np.float64)
            high = np.array([np.inf if v is None else v for v in spec["act_high"]], dtype=np.float64)
        return cls(
            MLPConfig(**config),
            obs_dim=int(spec["obs_dim"]),
            act_dim=int(spec["act_dim"]),
            discrete=bool(spec["discrete"]),
            act_low=low,
            act_high=high,
            task=spec.get("task"),
        )


def _weighted_mean(per_sample: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Plain mean, or sum(w * l) / sum(w) so weights are relative (DAgger-style reweighting)."""
    if weights is None:
        return per_sample.mean()
    return (per_sample * weights).sum() / weights.sum().clamp_min(1e-12)


register_policy("mlp", MLPPolicy)
