"""Policies: each one is a Policy (act, reset) and, when trainable, a TrainablePolicy (loss)."""

from mimetic.policies.checkpoint import (
    load_policy,
    read_checkpoint_meta,
    register_policy,
    save_policy,
)
from mimetic.policies.chunking import (  # registers "chunking"
    ChunkingConfig,
    ChunkingPolicy,
)
from mimetic.policies.compose import MixturePolicy, TimeIndexedPolicy
from mimetic.policies.diffusion import (  # registers "diffusion"
    DiffusionConfig,
    DiffusionPolicy,
)
from mimetic.policies.mlp import MLPConfig, MLPPolicy
from mimetic.policies.vision import VisionPolicy  # registers "vision"

__all__ = [
    "ChunkingConfig",
    "ChunkingPolicy",
    "DiffusionConfig",
    "DiffusionPolicy",
    "MLPConfig",
    "MLPPolicy",
    "MixturePolicy",
    "TimeIndexedPolicy",
    "VisionPolicy",
    "load_policy",
    "read_checkpoint_meta",
    "register_policy",
    "save_policy",
]
