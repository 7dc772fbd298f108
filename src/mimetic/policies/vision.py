"""Policies on camera images + state: an encoder in front of any flat policy.

``VisionPolicy(head, encoder)`` reads dict observations (:mod:`mimetic.observations`), turns
each step's observation into a feature vector with a :class:`~mimetic.nets.vision.DictEncoder`
(a ResNet-18 or small conv net per camera, the z-scored state beside it) and hands the features
to ``head``, an ordinary flat policy (MLP and mixture heads, ACT chunking, diffusion with either
denoiser) built for ``obs_dim = encoder.out_features``. The encoder and the head train together,
end to end, through the head's own loss, as in Diffusion Policy's vision variant (Chi et al.
2023, sec. 3.3); the head's normaliser is the identity (the encoder normalises).

When acting, each step's observation is encoded once (centre crop) and the head keeps its own
history of features; while training, every frame of a window is encoded with its own random crop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from mimetic import devices
from mimetic.envs.base import TaskSpec
from mimetic.errors import ConfigError, DataError, TaskError
from mimetic.nets.vision import DictEncoder, VisionConfig
from mimetic.observations import DictObs, ObsField, ObsLayout
from mimetic.policies.checkpoint import kind_of, policy_class, register_policy
from mimetic.policies.mlp import copy_stats
from mimetic.types import Batch


class VisionPolicy(nn.Module):
    """A flat policy ``head`` behind a :class:`DictEncoder` (see the module docstring)."""

    def __init__(self, head: nn.Module, encoder: DictEncoder, *, task: str | None = None) -> None:
        super().__init__()
        width = int(getattr(head, "obs_dim", -1))
        if width != encoder.out_features:
            raise ConfigError(f"the head reads {width} features but the encoder makes {encoder.out_features}")
        self.head, self.encoder, self.task = head, encoder, task
        self.layout = encoder.layout
        self.window = int(head.window)  # type: ignore[arg-type]
        for name in ("obs_horizon", "pred_horizon"):
            if hasattr(head, name):
                setattr(self, name, getattr(head, name))
        with torch.no_grad():  # the encoder normalises: the head sees its features unchanged
            head.obs_mean.zero_()  # type: ignore[operator]
            head.obs_std.fill_(1.0)  # type: ignore[operator]

    @classmethod
    def for_spec(cls, spec: TaskSpec, head_class: type, head_config: Any = None, *,
                 vision: VisionConfig | None = None, seed: int = 0) -> VisionPolicy:
        """A head of ``head_class`` (e.g. ``MLPPolicy``, ``DiffusionPolicy``) behind an encoder for
        ``spec``'s Dict observations, less its hidden keys (what only the expert reads)."""
        layout = spec.obs_layout
        if layout is None:
            raise ConfigError(f"task {spec.name!r} has flat observations; a vision policy needs a Dict of "
                              "images (+ state); use the plain policy")
        layout = ObsLayout(tuple(f for f in layout.fields if f.name not in spec.hidden_keys))
        encoder = DictEncoder(layout, vision or VisionConfig(), seed=seed)
        flat = TaskSpec(name=spec.name, gym_id=spec.gym_id, action_space=spec.action_space,
                        max_steps=spec.max_steps,
                        observation_space=_feature_space(encoder.out_features))
        head = head_class.for_spec(flat, head_config, seed=seed)
        return cls(head, encoder, task=spec.name)

    # -- what trainers read -----------------------------------------------------------------

    @property
    def loss_name(self) -> str:
        return str(self.head.loss_name)

    @property
    def generator(self) -> torch.Generator:
        """The crops' generator (the head keeps its own, see :meth:`generators`)."""
        return self.encoder.generator

    def generators(self) -> list[torch.Generator]:
        """Every generator training draws from (crops, then the head's noise), for checkpoints."""
        own = getattr(self.head, "generator", None)
        return [self.encoder.generator] + ([own] if isinstance(own, torch.Generator) else [])

    @property
    def device(self) -> torch.device:
        return devices.module_device(self)

    def set_normalizer(self, obs_mean: np.ndarray, obs_std: np.ndarray) -> None:
        raise DataError("a vision policy reads dict observations; give it per-key statistics "
                        "(set_obs_stats(dataset.obs_stats_by_key()))")

    def set_obs_stats(self, stats: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Per-key statistics of the training data (``Dataset.obs_stats_by_key``) into the
        encoder's state normalisers; images keep their fixed scaling, whatever the stats say."""
        for key, mean_buf, std_buf in self.encoder.state_buffers():
            if key not in stats:
                raise DataError(f"observation statistics lack key {key!r}")
            copy_stats(mean_buf, std_buf, *stats[key], what=f"statistics of key {key!r}")

    def loss(self, batch: Batch, *, metrics: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
        """The head's loss on the encoded batch: ``batch.obs`` is a dict of (B, [To,] *shape) tensors."""
        if not isinstance(batch.obs, dict):
            raise TaskError("a vision policy trains on dict observations (a dict of tensors per key)")
        feats = self.encoder(batch.obs)  # (B, [To,] F)
        return self.head.loss(Batch(obs=feats, acts=batch.acts, weights=batch.weights, extras=batch.extras),
                              metrics=metrics)

    # -- acting -------------------------------------------------------------------------------

    def features(self, obs: DictObs | Mapping[str, np.ndarray]) -> np.ndarray:
        """(B, F) float32 features of a batch of dict observations (centre crops); keys the policy
        does not read (a pixel task's hidden state) are ignored."""
        if hasattr(obs, "keys"):
            obs = {k: obs[k] for k in obs.keys() if k in self.layout.keys}
        rows = self.layout.check(obs, what="observations")
        was = self.encoder.training
        self.encoder.train(False)
        try:
            with torch.inference_mode():
                x = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in rows.items()}
                return self.encoder(x).float().cpu().numpy()
        finally:
            self.encoder.train(was)

    def act(self, obs: DictObs | Mapping[str, np.ndarray], **kwargs: Any) -> np.ndarray:
        """Dict observations (B, ...) per key -> the head's actions for their features."""
        return cast(np.ndarray, self.head.act(self.features(obs), **kwargs))

    def reset(self, mask: np.ndarray) -> None:
        self.head.reset(mask)

    # -- checkpointing (see mimetic.policies.checkpoint) ---------------------------------------

    def checkpoint_config(self) -> dict[str, Any]:
        return {"head_kind": kind_of(self.head), "head": self.head.checkpoint_config(),
                "vision": asdict(self.encoder.config)}

    def checkpoint_spec(self) -> dict[str, Any]:
        return {"task": self.task, "layout": [[f.name, list(f.shape), f.image] for f in self.layout.fields],
                "head": self.head.checkpoint_spec()}

    @classmethod
    def from_checkpoint(cls, config: Mapping[str, Any], spec: Mapping[str, Any]) -> VisionPolicy:
        head_class = policy_class(str(config["head_kind"]))
        if head_class is None or head_class is cls:
            raise ConfigError(f"unknown head policy kind {config['head_kind']!r}")
        layout = ObsLayout(tuple(ObsField(str(n), tuple(int(d) for d in shape), bool(img))
                                 for n, shape, img in spec["layout"]))
        encoder = DictEncoder(layout, VisionConfig(**config["vision"]))
        head = head_class.from_checkpoint(config["head"], spec["head"])  # type: ignore[attr-defined]
        return cls(head, encoder, task=spec.get("task"))


def _feature_space(width: int) -> Any:
    import gymnasium as gym

    return gym.spaces.Box(-np.inf, np.inf, (width,), np.float32)


register_policy("vision", VisionPolicy)
