"""Small interfaces shared by algorithms (see DESIGN.md, "Interfaces")."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from mimetic.types import Batch


@runtime_checkable
class Policy(Protocol):
    """Maps a batch of observations to a batch of actions."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """obs (B, *O) -> actions (B, *A); discrete actions are int64 (B,)."""
        ...

    def reset(self, mask: np.ndarray) -> None:
        """Forget per-env internal state (action queues, history) where ``mask`` (B,) is True."""
        ...


@runtime_checkable
class TrainablePolicy(Policy, Protocol):
    """A policy BC and DAgger can train: they only ever call ``loss``.

    ``window`` is how many time steps a training sample spans (1 for an MLP; chunking and
    diffusion policies need observation/action windows, built from ``Dataset.windows``: they are
    :class:`WindowedPolicy`). ``loss_name`` names the loss ``loss`` computes ("cross-entropy",
    "mse", "nll", ...), so BC can check it is the one a user asked for.
    """

    window: int
    loss_name: str

    def loss(self, batch: Batch, *, metrics: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar training loss on a batch, plus metrics to log (skipped when ``metrics`` is False:
        trainers ask for them only on logging steps)."""
        ...

    def set_normalizer(self, obs_mean: np.ndarray, obs_std: np.ndarray) -> None:
        """Store observation statistics (from the dataset) inside the policy."""
        ...


@runtime_checkable
class WindowedPolicy(TrainablePolicy, Protocol):
    """A policy trained on time windows (diffusion, chunking): ``obs_horizon`` observations in,
    ``pred_horizon`` actions predicted per sample."""

    obs_horizon: int
    pred_horizon: int


@runtime_checkable
class EnsemblePolicy(Policy, Protocol):
    """A policy of several independently initialised members (ThriftyDAgger's novelty,
    EnsembleDAgger's and HG-DAgger's doubt read their disagreement)."""

    ensemble_size: int  # members; their disagreement means something from 2 on

    def disagreement(self, obs: np.ndarray) -> np.ndarray:
        """obs (B, *O) -> (B,) spread of the members' actions (0 when they agree)."""
        ...


@runtime_checkable
class Expert(Protocol):
    """Labels any batch of states: numpy in, numpy out, deterministic."""

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """obs (B, *O) -> actions (B, *A)."""
        ...


@runtime_checkable
class CostToGoExpert(Expert, Protocol):
    """An expert that can also say how costly the rest of an episode is (AggreVaTe)."""

    def cost_to_go(self, task: Any, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Cost of taking ``actions`` in ``state`` then following the expert; (B,)."""
        ...


@runtime_checkable
class Gate(Protocol):
    """Decides per step who acts and whom to label (DAgger family)."""

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """-> (expert_acts (B,) bool, query_expert (B,) bool); an acting expert is always queried."""
        ...

    def reset(self, mask: np.ndarray) -> None:
        """Forget per-env state (who is in control) where ``mask`` (B,) is True: a new episode."""
        ...
