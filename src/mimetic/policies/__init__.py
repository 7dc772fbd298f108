"""Policies: each one is a Policy (act, reset) and, when trainable, a TrainablePolicy (loss)."""

from mimetic.policies.checkpoint import load_policy, read_checkpoint_meta, register_policy, save_policy
from mimetic.policies.mlp import MLPConfig, MLPPolicy
from mimetic.policies.compose import MixturePolicy, TimeIndexedPolicy  # noqa: E402  (registers them)
from mimetic.policies.diffusion import DiffusionConfig, DiffusionPolicy  # registers "diffusion"
from mimetic.policies.chunking import ChunkingConfig, ChunkingPolicy  # registers "chunking"

__all__ = [
    "ChunkingConfig",
    "ChunkingPolicy",
    "DiffusionConfig",
    "DiffusionPolicy",
    "MLPConfig",
    "MLPPolicy",
    "MixturePolicy",
    "TimeIndexedPolicy",
    "load_policy",
    "read_checkpoint_meta",
    "register_policy",
    "save_policy",
]
