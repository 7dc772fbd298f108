"""Shared nouns: trajectories, training batches and result records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from mimetic.observations import DictObs


@dataclass(frozen=True)
class Trajectory:
    """One episode. ``obs`` has one more row than ``acts``: the observation after the last step.

    ``labels``/``labeled`` hold expert actions queried at ``obs[:-1]`` (interactive imitation);
    ``expert_acted`` marks steps where the expert, not the learner, chose the executed action.
    """

    obs: np.ndarray | DictObs  # (T+1, *O), or a DictObs of (T+1, *shape) arrays per key
    acts: np.ndarray  # (T, *A) executed actions
    rewards: np.ndarray  # (T,)
    terminated: bool
    truncated: bool
    costs: np.ndarray | None = None  # (T,) the task-defined cost of each step (0 where a task defines none)
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

    Window-1 policies (MLP) see ``obs`` (B, *O) and ``acts`` (B, *A). For dict observations
    (cameras + state) ``obs`` is a dict of (B, [To,] *shape) tensors, images still uint8.
    """

    obs: torch.Tensor | dict[str, torch.Tensor]
    acts: torch.Tensor
    weights: torch.Tensor | None = None  # (B,) optional per-sample weights
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


# ----------------------------------------------------------------------------- result records


@dataclass(frozen=True)
class EvalResult:
    """Evaluation of a policy over a set of episodes with fixed reset seeds."""

    task: str
    episodes: int
    seed: int
    return_mean: float
    return_std: float
    return_ci95: float  # half-width of the 95% normal-approximation interval of the mean
    return_min: float
    length_mean: float
    cost_mean: float  # total task cost per episode
    success_rate: float | None
    imitation_error: float | None  # on the learner's own states: disagreement (discrete) / L2 (cont.)
    expert_labels: int  # expert queries spent measuring imitation_error (not training labels)
    expert_return: float | None = None
    random_return: float | None = None
    normalized_score: float | None = None  # 0 = random, 1 = expert

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BCResult:
    """What one :func:`fit` call did."""

    steps: int
    epochs: float  # passes over the dataset (fractional: the budget is in steps)
    final_loss: float  # mean loss over the last logging window
    samples_per_s: float  # training-loop throughput (minibatch samples per second)
    wall_s: float  # whole call, setup included
    history: tuple[dict[str, float], ...]  # one averaged record per logging window
    interrupted: bool = False  # stopped early by a checkpoint hook (Ctrl-C); ``steps`` says where


@dataclass(frozen=True)
class LabelCounts:
    """Snapshot of what the expert has been asked so far."""

    labels: int  # states labelled (each row of a query counts once)
    queries: int  # calls to the expert
    expert_steps: int  # steps where the expert's action was executed
    context_switches: int  # learner -> expert hand-overs
    watched: int = 0  # states a simulated human looked at to decide whether to intervene (not labels)
