"""SMILe (Ross & Bagnell 2010, "Efficient Reductions for Imitation Learning", Sec. 4.2; forward
training, Sec. 4.1, is :mod:`mimetic.interactive.forward`). Both train a new policy on each
iteration's data only (no aggregation, unlike DAgger) and return a composite policy
(:mod:`mimetic.policies.compose`).

SMILe, top to bottom (``fit``):

    pi_0 = pi*
    for n = 1..N:
        run pi_{n-1}; the expert labels every visited state   # rollout, gate: the expert's share
        pi_hat_n <- train on this iteration's data only
        pi_n = (1 - alpha)^n pi* + alpha sum_{j=1..n} (1 - alpha)^(j-1) pi_hat_j
    return (pi_N - (1 - alpha)^N pi*) / (1 - (1 - alpha)^N)   # the learned members, renormalised

Who acts is drawn per env and step (``mixing="step"``, the default: pi_n is one stochastic policy,
as in the paper's analysis) or per episode (``"episode"``). The expert's share is a gate (it acts
with probability (1 - alpha)^(n-1), so its actions are counted labels like every other label);
the learned share is a :class:`MixturePolicy` of pi_hat_1..pi_hat_{n-1} with renormalised weights.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from mimetic import seeding, trainstate
from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.envs.base import BatchedTask
from mimetic.errors import ConfigError
from mimetic.interactive.budget import LabelBudget
from mimetic.interactive.gates.beta import BetaGate, EpisodeBetaGate
from mimetic.interactive.loop import (
    CheckpointHook,
    InteractiveResult,
    Resumable,
    RoundOutcome,
    RoundRecord,
    State,
    check_common,
    run_rounds,
)
from mimetic.policies.compose import MIXINGS, MixturePolicy
from mimetic.protocols import Expert, Gate, TrainablePolicy
from mimetic.rollout import Scorer, rollout
from mimetic.types import Trajectory


@dataclass(frozen=True)
class SMILeConfig:
    """Options of SMILe (each new policy's fit has its own BCConfig)."""

    iterations: int = 10
    """Policies learned and mixed in (N)."""

    episodes_per_iteration: int = 2
    """Episodes of the current mixture rolled out (and labelled) per iteration."""

    alpha: float = 0.3
    """Mixing rate: each new policy enters with weight alpha (1 - alpha)^(n-1); the expert's share
    after n iterations is (1 - alpha)^n (the paper's theory wants alpha ~ 1/T^2; far larger works)."""

    mixing: Literal["step", "episode"] = "step"
    """Draw who acts per env and step (the paper's stochastic policy) or once per episode."""

    warm_start: bool = True
    """Start each new policy from the previous one's weights (otherwise from the initial weights)."""

    label_budget: int | None = None
    """Stop cleanly once the expert has labelled this many states (None: no limit)."""

    eval_episodes: int = 20
    """Evaluation episodes of the learned mixture after each iteration (0: skip)."""

    seed: int = 0
    """Seed of rollouts, mixture draws and the policies' fits."""

    def __post_init__(self) -> None:
        for name in ("iterations", "episodes_per_iteration"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.alpha <= 1:
            raise ConfigError(f"alpha must be in (0, 1], got {self.alpha}")
        if self.mixing not in MIXINGS:
            raise ConfigError(f"mixing must be one of {', '.join(MIXINGS)}, got {self.mixing!r}")
        check_common(label_budget=self.label_budget, eval_episodes=self.eval_episodes)


@dataclass(frozen=True, kw_only=True)
class SMILeResult(InteractiveResult):
    """The run's records (``beta`` = the expert's share in each round) plus the policy."""

    policy: MixturePolicy  # the learned members with renormalised weights (the expert removed)


def smile_weights(n: int, alpha: float) -> tuple[float, np.ndarray]:
    """pi_n's weights: the expert's (1 - alpha)^n and pi_hat_j's alpha (1 - alpha)^(j-1), j = 1..n
    (n,); together they sum to 1."""
    return (1 - alpha) ** n, alpha * (1 - alpha) ** np.arange(n)


def fit(
    task: BatchedTask,
    expert: Expert,
    policy: TrainablePolicy,
    config: SMILeConfig = SMILeConfig(),
    *,
    bc_config: bc.BCConfig = bc.BCConfig(steps=1000),
    eval_task: BatchedTask | None = None,
    callback: Callable[[RoundRecord], None] | None = None,
    progress: bool = False,
    resume: State | None = None,
    checkpoint: CheckpointHook | None = None,
) -> SMILeResult:
    """Run SMILe on ``task``. ``policy`` becomes pi_hat_1 (trained in place); later members are
    copies of it. Returns the run's records and the learned mixture (``result.policy``)."""
    budget = LabelBudget(expert, limit=config.label_budget)
    rng = np.random.default_rng(config.seed)
    initial = copy.deepcopy(policy)
    learned: list[TrainablePolicy] = []
    mixture = MixturePolicy([policy], [1.0], mixing=config.mixing, seed=config.seed)

    def one_iteration(i: int) -> RoundOutcome | None:  # i = n - 1: pi_{n-1} runs, pi_hat_n is trained
        nonlocal mixture
        n = i + 1
        expert_share, _ = smile_weights(n - 1, config.alpha)
        trajs = _smile_rollout(task, mixture if learned else None, budget, share=expert_share,
                               seed=seeding.EPISODES(config.seed, i * config.episodes_per_iteration),
                               episodes=config.episodes_per_iteration, config=config, rng=rng)
        data = Dataset.from_trajectories(trajs, targets="labels", spec=task.spec)  # this iteration only
        if data.n_transitions == 0:
            return None  # the budget ran out before this iteration labelled anything
        member = policy if not learned else copy.deepcopy(learned[-1] if config.warm_start else initial)
        bc.fit(member, data, replace(bc_config, seed=seeding.FITS(config.seed, n)))
        learned.append(member)
        _, weights = smile_weights(len(learned), config.alpha)
        mixture = MixturePolicy(learned, weights, mixing=config.mixing, seed=seeding.MIXTURE_DRAWS(config.seed, n))
        return RoundOutcome(beta=expert_share, transitions=data.n_transitions, learner=mixture)

    def snapshot() -> State:
        tensors = trainstate.global_rng_tensors()
        for j, member in enumerate(learned):
            tensors.update(trainstate.policy_tensors(member, f"member.{j}"))
        return tensors, {"members": len(learned), "rng": trainstate.numpy_rng_state(rng),
                         "mixture_rng": trainstate.numpy_rng_state(mixture.rng),
                         "mixture_choice": mixture.choice.tolist()}

    def restore(state: State) -> None:
        nonlocal mixture
        tensors, meta = state
        trainstate.load_global_rng(tensors)
        trainstate.load_numpy_rng(rng, meta["rng"])
        learned.clear()
        for j in range(int(meta["members"])):
            member = policy if j == 0 else copy.deepcopy(initial)
            trainstate.load_policy(member, tensors, f"member.{j}")
            learned.append(member)
        if learned:
            _, weights = smile_weights(len(learned), config.alpha)
            mixture = MixturePolicy(learned, weights, mixing=config.mixing,
                                    seed=seeding.MIXTURE_DRAWS(config.seed, len(learned)))
        trainstate.load_numpy_rng(mixture.rng, meta["mixture_rng"])
        mixture.choice = np.asarray(meta["mixture_choice"], np.int64)

    scorer = Scorer.make(eval_task or task, expert, episodes=config.eval_episodes)
    res = run_rounds(one_iteration, rounds=config.iterations, budget=budget, scorer=scorer, desc="smile",
                     unit="it", callback=callback, progress=progress, resumable=Resumable(snapshot, restore),
                     resume=resume, checkpoint=checkpoint)
    return SMILeResult(**vars(res), policy=mixture)


def _smile_rollout(task: BatchedTask, learned: MixturePolicy | None, budget: LabelBudget, *, share: float,
                   seed: int, episodes: int, config: SMILeConfig, rng: np.random.Generator) -> list[Trajectory]:
    """Run pi_{n-1}: the expert (counted) with probability ``share``, else the learned mixture."""
    if budget.remaining == 0:
        return []
    if learned is None:  # pi_0 = pi*: the expert drives and labels everything
        return rollout(task, None, episodes=episodes, seed=seed, labeler=budget)
    gate: Gate = BetaGate(share, rng=rng) if config.mixing == "step" else EpisodeBetaGate(share, rng=rng)
    return rollout(task, learned, episodes=episodes, seed=seed, labeler=budget, gate=gate)
