"""Policies: each one is a Policy (act, reset) and, when trainable, a TrainablePolicy (loss)."""

from mimetic.policies.checkpoint import load_policy, read_checkpoint_meta, register_policy, save_policy
from mimetic.policies.mlp import MLPConfig, MLPPolicy

__all__ = [
    "MLPConfig",
    "MLPPolicy",
    "load_policy",
    "read_checkpoint_meta",
    "register_policy",
    "save_policy",
]
