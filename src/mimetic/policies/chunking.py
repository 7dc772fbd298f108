"""Action chunking (ACT, Zhao et al. 2023): predict the next k actions at once, execute them in
overlapping chunks and average the overlaps (temporal ensembling).

Predicting a chunk of ``k`` actions per query divides the number of decisions of an episode by up
to k, which shortens the effective horizon over which a cloned policy's errors compound (Zhao et
al. Sec. 3.3), and lets one prediction cover expert behaviour that is not Markovian in the
current observation (pauses, smooth sweeps).

Networks (``backbone``):

- ``transformer`` (ACT, Sec. 3.2, at toy scale): the normalised observations of the last ``To``
  steps become one token each (plus a token for the latent z when ``cvae``), with learned
  position embeddings; a transformer encoder mixes them, and a transformer decoder with k learned
  query tokens cross-attends to the encoded tokens; a linear head maps each query to one action;
- ``mlp``: the flattened observations (and z) through an MLP that outputs k * A values, the cheap
  baseline.

Optional CVAE (``cvae``, ACT Sec. 3.2 / Fig. 4): during training an encoder q(z | obs, a_{t:t+k})
(a transformer over [CLS, observation tokens, action tokens], or an MLP for the mlp backbone)
outputs the mean and log-variance of a diagonal gaussian; z is drawn by reparameterisation and
the decoder reconstructs the chunk from (obs, z). The loss is reconstruction + ``kl_weight``
beta * KL(q || N(0, I)) (beta = 10 in ACT). At test time z = 0, the prior mean, so acting is
deterministic (``latent_sample="zero"``, ACT's choice). Two options, not in ACT, for a latent that
should carry a choice the observation does not determine (the side of an obstacle on the
multimodal task): ``free_bits`` lambda (Kingma et al. 2016, "Improving Variational Inference with
Inverse Autoregressive Flow", App. C.8) penalises each latent dimension's batch-mean KL only above
lambda nats, so beta does not drive the posterior to the prior (with beta = 10 and no free bits the
KL falls to ~0: posterior collapse); ``latent_sample="episode"`` draws one z ~ N(0, I) per env
when its episode starts (``reset``) and keeps it for the whole episode, so a latent that encodes
the mode picks one per episode, as the expert's hidden choice does (a draw per query would switch
modes mid-episode).

Reconstruction: L1 (ACT's choice, ``loss="l1"``) or squared error on actions scaled to [-1, 1]
by the task's bounds, averaged over the valid steps of each window (``Batch.extras["mask"]``:
padding past an episode's end and unlabelled targets do not count).

Acting. With ``temporal_ensemble`` (ACT Sec. 3.3) the policy is queried at every step, and the
action for step t averages every stored prediction for t -- the chunks made at steps t-k+1..t --
with weights ``w_i = exp(-m i)``, i = 0 for the oldest prediction (``ensemble_decay`` m = 0.01,
so older predictions count slightly more; ACT's code). Without it the policy queries once,
executes ``query_every`` actions from the chunk, then queries again.

Per-env state (``reset`` clears it where an episode starts): the observation history (B, To, O),
the latent z (B, Z) (zeros, or a fresh draw with ``latent_sample="episode"``), and a ring buffer
of the last k chunks (B, k, k, A) with the step each was made at (ensembling) or the queue of
planned actions (otherwise). At an episode's first step the history is the first
observation repeated, as ``Dataset.windows`` pads training windows.
"""

from __future__ import annotations

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

BACKBONES = ("transformer", "mlp")
RECONSTRUCTIONS = ("l1", "mse")
LATENT_SAMPLES = ("zero", "episode")


@dataclass(frozen=True)
class ChunkingConfig:
    """Architecture and execution of a :class:`ChunkingPolicy`."""

    chunk_size: int = 10
    """Actions k each query predicts, starting at the current step (the prediction horizon)."""

    obs_horizon: int = 1
    """Observations the policy conditions on (To), the current one and To-1 before it."""

    backbone: Literal["transformer", "mlp"] = "transformer"
    """Network: transformer (ACT: encoder over observation tokens, decoder with k learned action
    queries) or mlp (observations -> k * A outputs; the cheap baseline)."""

    d_model: int = 64
    """Transformer: token width."""

    heads: int = 4
    """Transformer: attention heads (must divide d_model)."""

    layers: int = 2
    """Transformer: encoder layers, and as many decoder layers (and CVAE-encoder layers)."""

    feedforward: int = 256
    """Transformer: hidden width of each layer's feed-forward block."""

    dropout: float = 0.0
    """Transformer: dropout during training (ACT uses 0.1; acting never drops out)."""

    hidden: tuple[int, ...] = (256, 256)
    """MLP backbone (and its CVAE encoder): hidden layer widths."""

    activation: Literal["relu", "tanh", "gelu", "silu", "elu"] = "relu"
    """MLP backbone: hidden activation."""

    cvae: bool = False
    """Train as a conditional VAE (ACT): a latent z inferred from the expert's chunk during
    training, z = 0 (the prior mean) when acting."""

    latent_dim: int = 32
    """CVAE: dimension of the latent z (32 in ACT)."""

    kl_weight: float = 10.0
    """CVAE: weight beta of the KL term (10 in ACT)."""

    free_bits: float = 0.0
    """CVAE: nats of KL per latent dimension (batch mean) that cost nothing (free bits, Kingma et
    al. 2016); keeps beta from collapsing the posterior onto the prior. 0 = the plain KL (ACT)."""

    latent_sample: Literal["zero", "episode"] = "zero"
    """CVAE: z when acting: zero (the prior mean, ACT) or episode (z ~ N(0, I) drawn per env at
    each reset from the policy's generator and kept for the episode: one mode per episode)."""

    temporal_ensemble: bool = True
    """Query at every step and average the overlapping predictions of the last k chunks for the
    current step (ACT's temporal ensembling); otherwise execute query_every actions per query."""

    ensemble_decay: float = 0.01
    """Temporal ensembling: m in the weights exp(-m i), i = 0 for the oldest prediction (ACT: 0.01;
    larger m favours older predictions more, 0 = plain average; m < 0, not in ACT, favours the newest)."""

    query_every: int = 0
    """Without temporal ensembling: actions executed from each chunk before querying again
    (1..chunk_size; 0 = chunk_size)."""

    loss: Literal["l1", "mse"] = "l1"
    """Reconstruction loss on [-1, 1]-scaled actions: l1 (ACT's choice) or mse."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))  # a CLI or JSON may give a list
        for name in ("chunk_size", "obs_horizon", "d_model", "heads", "layers", "feedforward", "latent_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.backbone not in BACKBONES:
            raise ConfigError(f"backbone must be one of {', '.join(BACKBONES)}, got {self.backbone!r}")
        if self.loss not in RECONSTRUCTIONS:
            raise ConfigError(f"loss must be one of {', '.join(RECONSTRUCTIONS)}, got {self.loss!r}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.d_model % self.heads:
            raise ConfigError(f"heads ({self.heads}) must divide d_model ({self.d_model})")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden layer widths must be >= 1, got {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not (self.kl_weight >= 0 and math.isfinite(self.kl_weight)):
            raise ConfigError(f"kl_weight must be a finite number >= 0, got {self.kl_weight}")
        if not (self.free_bits >= 0 and math.isfinite(self.free_bits)):
            raise ConfigError(f"free_bits must be a finite number >= 0, got {self.free_bits}")
        if self.latent_sample not in LATENT_SAMPLES:
            raise ConfigError(
                f"latent_sample must be one of {', '.join(LATENT_SAMPLES)}, got {self.latent_sample!r}"
            )
        if not math.isfinite(self.ensemble_decay):
            raise ConfigError(f"ensemble_decay must be a finite number, got {self.ensemble_decay}")
        if not 0 <= self.query_every <= self.chunk_size:
            raise ConfigError(
                f"query_every must be in 0..chunk_size ({self.chunk_size}; 0 = chunk_size), got {self.query_every}"
            )

    @property
    def execute(self) -> int:
        """Actions executed per query without temporal ensembling."""
        return self.query_every or self.chunk_size


def temporal_ensemble(chunks: np.ndarray, made: np.ndarray, t: np.ndarray, decay: float) -> np.ndarray:
    """ACT's temporal ensemble (Zhao et al. 2023, Sec. 3.3) of stored chunk predictions.

    ``chunks`` (B, S, k, A): S stored chunks per env, each k actions starting at the step it was
    made; ``made`` (B, S): that step (-1 = empty slot); ``t`` (B,): the current step. Every stored
    chunk that covers t contributes its action for t, weighted by ``exp(-decay * i)`` with i = 0
    for the oldest contributing prediction, 1 for the next, ...; the weights are normalised.
    Returns (B, A).
    """
    k = chunks.shape[2]
    age = t[:, None] - made  # (B, S) steps since each chunk was made
    valid = (made >= 0) & (age >= 0) & (age < k)  # (B, S)
    assert valid.any(axis=1).all(), "every env needs a prediction for the current step"
    oldest = np.where(valid, age, -1).max(axis=1)  # (B,)
    # i counts predictions from the oldest; chunks are made one per step, so i = oldest age - age
    logits = np.where(valid, -decay * (oldest[:, None] - age), -np.inf)  # (B, S)
    w = np.exp(logits - logits.max(axis=1, keepdims=True))  # (B, S) normalised below; shifted: no overflow
    rows = np.clip(age, 0, k - 1)[:, :, None, None]  # (B, S, 1, 1)
    acts = np.take_along_axis(chunks, rows, axis=2)[:, :, 0]  # (B, S, A) each chunk's action for t
    out = (w[..., None] * acts).sum(axis=1) / w.sum(axis=1)[:, None]  # (B, A)
    return out.astype(chunks.dtype)


# ----------------------------------------------------------------------------- networks


def _encoder(config: ChunkingConfig) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(config.d_model, config.heads, config.feedforward, config.dropout,
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)


def _embedding(*shape: int) -> nn.Parameter:
    return nn.Parameter(0.02 * torch.randn(*shape))


class _TransformerDecoderNet(nn.Module):
    """(obs (B, To, O), z (B, Z) | None) -> chunk (B, k, A): ACT's "CVAE decoder" (its policy)."""

    def __init__(self, config: ChunkingConfig, *, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        d = config.d_model
        self.obs_proj = nn.Linear(obs_dim, d)
        self.latent_proj = nn.Linear(config.latent_dim, d) if config.cvae else None
        self.pos = _embedding(1, config.obs_horizon + int(config.cvae), d)  # (1, To [+1], d)
        self.queries = _embedding(1, config.chunk_size, d)  # (1, k, d) one learned query per action
        self.encoder = _encoder(config)
        layer = nn.TransformerDecoderLayer(d, config.heads, config.feedforward, config.dropout,
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, config.layers)
        self.head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, act_dim))

    def forward(self, obs: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        tokens = self.obs_proj(obs)  # (B, To, d)
        if self.latent_proj is not None:
            assert z is not None, "a CVAE decoder needs z"
            tokens = torch.cat([self.latent_proj(z)[:, None], tokens], dim=1)  # (B, 1 + To, d)
        memory = self.encoder(tokens + self.pos)  # (B, n, d)
        queries = self.queries.expand(len(obs), -1, -1)  # (B, k, d)
        return self.head(self.decoder(queries, memory))  # (B, k, A)


class _TransformerPosterior(nn.Module):
    """q(z | obs, chunk): [CLS, obs tokens, action tokens] -> encoder -> CLS -> (mu, logvar) (B, Z)."""

    def __init__(self, config: ChunkingConfig, *, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        d = config.d_model
        self.cls = _embedding(1, 1, d)  # (1, 1, d)
        self.obs_proj, self.act_proj = nn.Linear(obs_dim, d), nn.Linear(act_dim, d)
        self.pos = _embedding(1, 1 + config.obs_horizon + config.chunk_size, d)
        self.encoder = _encoder(config)
        self.out = nn.Linear(d, 2 * config.latent_dim)

    def forward(self, obs: torch.Tensor, acts: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = len(obs)
        tokens = torch.cat([self.cls.expand(b, -1, -1), self.obs_proj(obs), self.act_proj(acts)], dim=1)  # (B, n, d)
        keep = torch.cat([torch.ones(b, 1 + obs.shape[1], dtype=torch.bool, device=obs.device), valid], dim=1)  # (B, n)
        h = self.encoder(tokens + self.pos, src_key_padding_mask=~keep)  # padded actions are not attended to
        mu, logvar = self.out(h[:, 0]).chunk(2, dim=-1)  # (B, Z) each
        return mu, logvar


class _MLPDecoderNet(nn.Module):
    """(obs (B, To, O), z (B, Z) | None) -> chunk (B, k, A) from one MLP."""

    def __init__(self, config: ChunkingConfig, *, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.k, self.act_dim = config.chunk_size, act_dim
        width = config.obs_horizon * obs_dim + (config.latent_dim if config.cvae else 0)
        self.net = mlp((width, *config.hidden, config.chunk_size * act_dim), config.activation)

    def forward(self, obs: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        x = obs.flatten(1) if z is None else torch.cat([obs.flatten(1), z], dim=-1)  # (B, in)
        return self.net(x).view(len(obs), self.k, self.act_dim)


class _MLPPosterior(nn.Module):
    """q(z | obs, chunk) from one MLP over [obs, masked chunk, mask] -> (mu, logvar) (B, Z)."""

    def __init__(self, config: ChunkingConfig, *, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        width = config.obs_horizon * obs_dim + config.chunk_size * (act_dim + 1)
        self.net = mlp((width, *config.hidden, 2 * config.latent_dim), config.activation)

    def forward(self, obs: torch.Tensor, acts: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = valid.to(acts.dtype)  # (B, k)
        x = torch.cat([obs.flatten(1), (acts * v[..., None]).flatten(1), v], dim=-1)  # (B, in)
        mu, logvar = self.net(x).chunk(2, dim=-1)
        return mu, logvar


# ----------------------------------------------------------------------------- the policy


class ChunkingPolicy(WindowedPolicy):
    """Policy + TrainablePolicy (see :mod:`mimetic.protocols`) for flat observations and
    continuous actions; ``act`` runs B envs at once, each with its own chunk buffer."""

    config_class = ChunkingConfig
    name = "chunking policy"

    def __init__(
        self,
        config: ChunkingConfig,
        *,
        obs_dim: int,
        act_dim: int,
        act_low: np.ndarray | None = None,
        act_high: np.ndarray | None = None,
        task: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self._setup(config, obs_dim=obs_dim, act_dim=act_dim, pred_horizon=config.chunk_size, act_low=act_low,
                    act_high=act_high, task=task)
        self.generator = torch.Generator().manual_seed(seed)  # the CVAE's reparameterisation noise
        with torch.random.fork_rng(devices=[]):  # the seed, not global state, decides the weights
            torch.manual_seed(seed)
            transformer = config.backbone == "transformer"
            if transformer:  # attention and feed-forward weights per layer, encoder + decoder (+ posterior)
                d, ff = int(config.d_model), int(config.feedforward)
                per_layer = 4 * d * d + 2 * d * ff + 4 * d * d  # self-attention, feed-forward, cross-attention
                params = (3 if config.cvae else 2) * int(config.layers) * per_layer
                limits.check_bytes(f"a chunking transformer with d_model {d}, feedforward {ff} and "
                                   f"{config.layers} layers", params * 4 * limits.TRAINING_FACTOR)
            net = _TransformerDecoderNet if transformer else _MLPDecoderNet
            self.decoder: nn.Module = net(config, obs_dim=obs_dim, act_dim=act_dim)
            post = _TransformerPosterior if transformer else _MLPPosterior
            self.posterior: nn.Module | None = post(config, obs_dim=obs_dim, act_dim=act_dim) if config.cvae else None
        self._allocate(0)

    @property
    def loss_name(self) -> str:
        """What :meth:`loss` optimises: l1 or mse, with a KL term when a CVAE (cvae-l1, cvae-mse)."""
        return f"cvae-{self.config.loss}" if self.config.cvae else self.config.loss

    # -- training ------------------------------------------------------------------------------

    def loss(self, batch: Batch, *, metrics: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
        """Chunk reconstruction (+ beta KL with a CVAE; Zhao et al. 2023, Algorithm 1) on windows
        ``obs`` (B, To, *O), ``acts`` (B, k, A); steps where ``extras["mask"]`` (B, k) is False do
        not count. A window-1 policy (k = 1, To = 1) gets BC's flat batches, acts (B, A)."""
        if self.window == 1 and batch.acts.ndim == 2:
            batch = Batch(obs=batch.obs, acts=batch.acts[:, None], weights=batch.weights, extras=batch.extras)
        if batch.acts.ndim != 3 or tuple(batch.acts.shape[1:]) != (self.pred_horizon, self.act_dim):
            raise DataError(
                f"chunking policy trains on action windows (B, {self.pred_horizon}, {self.act_dim}), got "
                f"{tuple(batch.acts.shape)}; train it with bc.fit on a mimetic Dataset"
            )
        obs = self._norm_obs(batch.obs)  # (B, To, O)
        target = (batch.acts - self.act_centre) / self.act_half  # (B, k, A) in [-1, 1]
        mask = batch.extras.get("mask")
        valid = torch.ones(target.shape[:2], dtype=torch.bool, device=target.device) if mask is None else mask.bool()
        z, kl_dims = None, None
        if self.posterior is not None:
            mu, logvar = self.posterior(obs, target, valid)  # (B, Z) each
            eps = devices.randn(mu.shape, self.generator, like=mu)  # (B, Z) from the CPU generator
            z = mu + (0.5 * logvar).exp() * eps  # reparameterisation (Kingma & Welling 2014)
            kl_dims = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)  # (B, Z) KL(q || N(0, I)) per dim
        diff = self.decoder(obs, z) - target  # (B, k, A)
        err = (diff.abs() if self.config.loss == "l1" else diff.square()).mean(dim=-1)  # (B, k)
        w = valid.to(err.dtype) if batch.weights is None else valid.to(err.dtype) * batch.weights[:, None]
        recon = (err * w).sum() / w.sum().clamp_min(1e-12)
        total, kl = recon, None
        if kl_dims is not None:
            kl, penalty = self._kl(kl_dims, batch.weights)
            total = recon + self.config.kl_weight * penalty
        if not metrics:
            return total, {}
        out = {f"action_{self.config.loss}": float(recon.detach())}
        if kl is not None:
            out["kl"] = float(kl.detach())
        return total, out

    def _kl(self, kl_dims: torch.Tensor, weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, Z) per-dimension KL -> (the batch-mean KL, the penalty beta multiplies): the KL
        itself, or with free bits lambda sum_j max(lambda, batch-mean KL_j) (Kingma et al. 2016)."""
        kl = kl_dims.sum(dim=-1)  # (B,)
        wb = torch.ones_like(kl) if weights is None else weights  # (B,)
        mean = (kl * wb).sum() / wb.sum().clamp_min(1e-12)
        if self.config.free_bits <= 0:
            return mean, mean
        per_dim = (kl_dims * wb[:, None]).sum(dim=0) / wb.sum().clamp_min(1e-12)  # (Z,)
        return mean, per_dim.clamp_min(self.config.free_bits).sum()

    # -- acting --------------------------------------------------------------------------------

    @torch.inference_mode()
    def predict(self, obs: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """obs (B, To, *O) -> chunks (B, k, A) in task units, decoded at ``z`` (B, Z) (a CVAE;
        None = 0, the prior mean) with no dropout whatever the module's mode."""
        was_training = self.training
        self.eval()
        try:
            norm = self._norm_obs(obs)  # (B, To, O)
            if self.config.cvae and z is None:
                z = torch.zeros(len(obs), self.config.latent_dim)  # (B, Z)
            z = z.to(norm.device) if self.config.cvae and z is not None else None  # acting keeps z on the CPU
            return to_task_units(self, self.decoder(norm, z))  # (B, k, A)
        finally:
            self.train(was_training)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """obs (B, *O) of B envs -> (B, A) float32: the temporal ensemble of the chunks covering
        this step (a new chunk every step), or the next queued action (a new chunk every
        query_every steps per env)."""
        obs = self._check_obs(obs)
        b = len(obs)
        if len(self._t) != b:
            self.reset(np.ones(b, bool))
        self._push_history(obs)
        out = self._act_ensemble() if self.config.temporal_ensemble else self._act_queue()
        self._t += 1
        return out

    def _act_ensemble(self) -> np.ndarray:
        k = self.config.chunk_size
        slot = self._t % k  # (B,) the ring buffer's slot for this step's chunk
        rows = np.arange(len(slot))
        chunks = self.predict(torch.from_numpy(self._hist).to(self.device), self._z)  # (B, k, A)
        self._chunks[rows, slot] = chunks.cpu().numpy()
        self._made[rows, slot] = self._t
        return temporal_ensemble(self._chunks, self._made, self._t, self.config.ensemble_decay)

    def _act_queue(self) -> np.ndarray:
        n = self.config.execute
        empty = self._next >= n  # (B,)
        if empty.any():
            hist = torch.from_numpy(self._hist[empty]).to(self.device)  # (m, To, O)
            chunks = self.predict(hist, self._z[torch.from_numpy(empty)])  # (m, k, A)
            self._queue[empty] = chunks[:, :n].cpu().numpy()
            self._next[empty] = 0
        out = self._queue[np.arange(len(empty)), self._next].copy()  # (B, A)
        self._next += 1
        return out

    def reset(self, mask: np.ndarray, *, generator: torch.Generator | None = None) -> None:
        """Forget the chunks, queue and observation history of envs where ``mask`` (B,) is True
        (a different B starts over for every env); with ``latent_sample="episode"``, draw their
        z ~ N(0, I) from ``generator`` (default: the policy's own)."""
        mask = np.asarray(mask, bool).reshape(-1)
        if len(mask) != len(self._t):
            self._allocate(len(mask), generator=generator)
            return
        self._made[mask] = -1
        self._next[mask] = self.config.execute
        self._t[mask] = 0
        self._fresh[mask] = True
        self._draw_latents(mask, generator)

    def _draw_latents(self, mask: np.ndarray, generator: torch.Generator | None) -> None:
        """A fresh z per masked env, in env order (only with latent_sample="episode": z = 0 draws
        nothing, so the generator's stream, and training after acting, stay as without the option)."""
        if self.config.cvae and self.config.latent_sample == "episode":
            rows = torch.from_numpy(mask)
            shape = (int(mask.sum()), self.config.latent_dim)
            self._z[rows] = torch.randn(shape, generator=generator or self.generator)

    def _allocate(self, b: int, *, generator: torch.Generator | None = None) -> None:
        """Empty per-env state for B envs."""
        c = self.config
        self._z = torch.zeros(b, c.latent_dim)  # (B, Z) each env's latent when acting
        self._draw_latents(np.ones(b, bool), generator)
        self._new_history(b)
        self._chunks = np.zeros((b, c.chunk_size, c.chunk_size, self.act_dim), np.float32)  # (B, k, k, A)
        self._made = np.full((b, c.chunk_size), -1, np.int64)  # (B, k) step each chunk was made at
        self._queue = np.zeros((b, c.execute, self.act_dim), np.float32)  # (B, n, A)
        self._next = np.full(b, c.execute, np.int64)  # (B,) queue position; n = empty
        self._t = np.zeros(b, np.int64)  # (B,) steps since the episode started


register_policy("chunking", ChunkingPolicy)
