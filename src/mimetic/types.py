"""Shared nouns: trajectories, training batches and result records."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class Trajectory:
    """One episode. ``obs`` has one more row than ``acts``: the observation after the last step.

    ``labels``/``labeled`` hold expert actions queried at ``obs[:-1]`` (interactive imitation);
    ``expert_acted`` marks steps where the expert, not the learner, chose the executed action.
    """

    obs: np.ndarray  # (T+1, *O)
    acts: np.ndarray  # (T, *A) executed actions
    rewards: np.ndarray  # (T,)
    terminated: bool
    truncated: bool
    costs: np.ndarray | None = None  # (T,) task cost per step (driving: |lateral error|)
    labels: np.ndarray | None = None  # (T, *A) expert actions where labeled
    labeled: np.ndarray | None = None  # (T,) bool
    expert_acted: np.ndarray | None = None  # (T,) bool
    seed: int | None = None  # the reset seed of this episode, when known

    def __post_init__(self) -> None:
        assert len(self.obs) == len(self.acts) + 1, "obs must have T+1 rows"
        assert len(self.rewards) == len(self.acts), "rewards must have T rows"

    def __len__(self) -> int:
        return len(self.acts)

    @property
    def ret(self) -> float:
        return float(np.sum(self.rewards))


@dataclass(frozen=True)
class Batch:
    """A training minibatch of tensors; policies with a time window get a window axis.

    Window-1 policies (MLP) see ``obs`` (B, *O) and ``acts`` (B, *A).
    """

    obs: torch.Tensor
    acts: torch.Tensor
    weights: torch.Tensor | None = None  # (B,) optional per-sample weights
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
