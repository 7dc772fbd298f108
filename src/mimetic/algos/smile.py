"""The two reductions of Ross & Bagnell 2010, "Efficient Reductions for Imitation Learning":
SMILe (Sec. 4.2) and forward training (Sec. 4.1). Both train a new policy on each iteration's data
only (no aggregation, unlike DAgger) and return a composite policy (:mod:`mimetic.policies.compose`).

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

Forward training, top to bottom (``fit_forward``): a non-stationary policy, member k acting during
steps [kS, (k+1)S) (S = ``segment_length``; S = 1 is the paper's one policy per time step):

    for k = 0..ceil(T/S)-1:
        run members 0..k-1 (the learner) to step kS; from there the expert drives and labels
        until the end of segment k, where the episode stops                # rollout on _Horizon
        member k <- train on those labelled states of segment k only

Segment k's states are reached by the already-trained members, so each member learns on the
state distribution it will face (the paper's argument); T * episodes_per_segment labels in all.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from mimetic.algos import bc
from mimetic.algos.dagger import DAggerResult, RoundRecord, round_record
from mimetic.data import Dataset
from mimetic.envs.base import BatchedTask, Step
from mimetic.errors import ConfigError
from mimetic.oracle import BetaGate, LabelBudget
from mimetic.policies.compose import MIXINGS, MixturePolicy, TimeIndexedPolicy
from mimetic.protocols import Expert, Gate, TrainablePolicy
from mimetic.rollout import Scorer, rollout
from mimetic.types import Trajectory


def _check_common(config: SMILeConfig | ForwardConfig) -> None:
    if config.label_budget is not None and config.label_budget < 1:
        raise ConfigError(f"label_budget must be >= 1 (or None), got {config.label_budget}")
    if config.eval_episodes < 0:
        raise ConfigError(f"eval_episodes must be >= 0, got {config.eval_episodes}")


# ----------------------------------------------------------------------------- SMILe


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
        _check_common(self)


@dataclass(frozen=True, kw_only=True)
class SMILeResult(DAggerResult):
    """DAgger's record of the run (``beta`` = the expert's share in each round) plus the policy."""

    policy: MixturePolicy  # the learned members with renormalised weights (the expert removed)


def smile_weights(n: int, alpha: float) -> tuple[float, np.ndarray]:
    """pi_n's weights: the expert's (1 - alpha)^n and pi_hat_j's alpha (1 - alpha)^(j-1), j = 1..n
    (n,); together they sum to 1."""
    return (1 - alpha) ** n, alpha * (1 - alpha) ** np.arange(n)


class _EpisodeExpertGate:
    """The expert drives a whole episode with probability ``beta`` (drawn per env at reset);
    every visited state is labelled (SMILe with ``mixing="episode"``)."""

    def __init__(self, beta: float, *, rng: np.random.Generator) -> None:
        self.beta, self.rng = beta, rng
        self.expert = np.zeros(0, bool)  # (B,)

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.expert) != len(obs):
            self.expert = self.rng.random(len(obs)) < self.beta
        return self.expert.copy(), np.ones(len(obs), bool)

    def reset(self, mask: np.ndarray) -> None:
        if len(self.expert) != len(mask):
            self.expert = np.zeros(len(mask), bool)
        self.expert[mask] = self.rng.random(int(mask.sum())) < self.beta


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
) -> SMILeResult:
    """Run SMILe on ``task``. ``policy`` becomes pi_hat_1 (trained in place); later members are
    copies of it. Returns the run's records and the learned mixture (``result.policy``)."""
    budget = LabelBudget(expert, limit=config.label_budget)
    rng = np.random.default_rng(config.seed)
    initial = copy.deepcopy(policy)
    learned: list[TrainablePolicy] = []
    scorer = Scorer.make(eval_task or task, expert, episodes=config.eval_episodes)
    records: list[RoundRecord] = []
    mixture = MixturePolicy([policy], [1.0], mixing=config.mixing, seed=config.seed)
    wall, spent = 0.0, False
    for n in tqdm(range(1, config.iterations + 1), desc="smile", unit="it", disable=not progress):
        start = time.perf_counter()
        expert_share, _ = smile_weights(n - 1, config.alpha)
        seed = config.seed * 1_000_003 + (n - 1) * config.episodes_per_iteration
        trajs = _smile_rollout(task, mixture if learned else None, budget, share=expert_share, seed=seed,
                               episodes=config.episodes_per_iteration, config=config, rng=rng)
        spent = budget.exhausted or budget.remaining == 0
        data = Dataset.from_trajectories(trajs, targets="labels", spec=task.spec)  # this iteration only
        if data.n_transitions == 0:
            break  # the budget ran out before this iteration labelled anything
        member = policy if not learned else copy.deepcopy(learned[-1] if config.warm_start else initial)
        bc.fit(member, data, replace(bc_config, seed=config.seed * 7919 + n))
        learned.append(member)
        _, weights = smile_weights(len(learned), config.alpha)
        mixture = MixturePolicy(learned, weights, mixing=config.mixing, seed=config.seed + n)
        wall += time.perf_counter() - start
        record = round_record(n - 1, expert_share, budget, data.n_transitions, wall,
                              scorer(mixture) if scorer else None)
        records.append(record)
        if callback is not None:
            callback(record)
        if spent:
            break
    counts = budget.counts()
    return SMILeResult(rounds=tuple(records), labels=counts.labels, expert_steps=counts.expert_steps,
                       context_switches=counts.context_switches, wall_s=wall, budget_spent=spent, policy=mixture)


def _smile_rollout(task: BatchedTask, learned: MixturePolicy | None, budget: LabelBudget, *, share: float,
                   seed: int, episodes: int, config: SMILeConfig, rng: np.random.Generator) -> list[Trajectory]:
    """Run pi_{n-1}: the expert (counted) with probability ``share``, else the learned mixture."""
    if budget.remaining == 0:
        return []
    if learned is None:  # pi_0 = pi*: the expert drives and labels everything
        return rollout(task, None, episodes=episodes, seed=seed, labeler=budget)
    gate: Gate = BetaGate(share, rng=rng) if config.mixing == "step" else _EpisodeExpertGate(share, rng=rng)
    return rollout(task, learned, episodes=episodes, seed=seed, labeler=budget, gate=gate)


# ----------------------------------------------------------------------------- forward training


@dataclass(frozen=True)
class ForwardConfig:
    """Options of forward training (each member's fit has its own BCConfig)."""

    segment_length: int = 50
    """Steps S each member acts for; the task's horizon T gives ceil(T/S) members (S = 1: one per step)."""

    episodes_per_segment: int = 4
    """Episodes rolled out (to the end of the segment being trained) per member."""

    warm_start: bool = True
    """Start each member from the previous member's weights (otherwise from the initial weights)."""

    label_budget: int | None = None
    """Stop cleanly once the expert has labelled this many states (None: no limit)."""

    eval_episodes: int = 20
    """Evaluation episodes after each member (later steps use the last trained member; 0: skip)."""

    seed: int = 0
    """Seed of rollouts and the members' fits."""

    def __post_init__(self) -> None:
        for name in ("segment_length", "episodes_per_segment"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        _check_common(self)


@dataclass(frozen=True, kw_only=True)
class ForwardResult(DAggerResult):
    """DAgger's record of the run (one round per segment, ``beta`` None) plus the policy."""

    policy: TimeIndexedPolicy  # the trained members; past the last one, it keeps acting


class _Horizon(BatchedTask):
    """``task`` with every episode truncated after ``steps`` steps: forward training's rollouts
    only need to reach the end of the segment being trained."""

    def __init__(self, task: BatchedTask, steps: int) -> None:
        self.task, self.num_envs = task, task.num_envs
        self.spec = replace(task.spec, max_steps=steps)
        self.t = np.zeros(task.num_envs, np.int64)  # (B,) steps into each episode

    def reset(self, *, seeds: np.ndarray | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        self.t[np.ones(self.num_envs, bool) if mask is None else mask] = 0
        return self.task.reset(seeds=seeds, mask=mask)

    def step(self, actions: np.ndarray) -> Step:
        step = self.task.step(actions)
        self.t += 1
        return replace(step, truncated=step.truncated | (self.t >= self.spec.max_steps))


class _SegmentGate:
    """From step ``start`` of each episode on, the expert drives and is labelled."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.t = np.zeros(0, np.int64)  # (B,) steps into each episode

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        take = self.t >= self.start
        self.t += 1
        return take, take

    def reset(self, mask: np.ndarray) -> None:
        if len(self.t) != len(mask):
            self.t = np.zeros(len(mask), np.int64)
        self.t[mask] = 0


def fit_forward(
    task: BatchedTask,
    expert: Expert,
    policy: TrainablePolicy,
    config: ForwardConfig = ForwardConfig(),
    *,
    bc_config: bc.BCConfig = bc.BCConfig(steps=1000),
    eval_task: BatchedTask | None = None,
    callback: Callable[[RoundRecord], None] | None = None,
    progress: bool = False,
) -> ForwardResult:
    """Run forward training on ``task``. ``policy`` becomes member 0 (trained in place); later
    members are copies. Returns the run's records and the time-indexed policy (``result.policy``)."""
    budget = LabelBudget(expert, limit=config.label_budget)
    initial = copy.deepcopy(policy)
    s = config.segment_length
    members: list[TrainablePolicy] = []
    scorer = Scorer.make(eval_task or task, expert, episodes=config.eval_episodes)
    records: list[RoundRecord] = []
    wall, spent = 0.0, False
    for k in tqdm(range(math.ceil(task.spec.max_steps / s)), desc="forward", unit="segment", disable=not progress):
        start = time.perf_counter()
        data = _segment_data(task, members, budget, k=k, config=config)
        spent = budget.exhausted or budget.remaining == 0
        if data.n_transitions == 0 and spent:
            break
        member = policy if not members else copy.deepcopy(members[-1] if config.warm_start else initial)
        if data.n_transitions > 0:  # else no roll-in reached segment k: keep the copy as it is
            bc.fit(member, data, replace(bc_config, seed=config.seed * 7919 + k))
        members.append(member)
        wall += time.perf_counter() - start
        learner = TimeIndexedPolicy(members, segment_length=s)
        record = round_record(k, None, budget, data.n_transitions, wall, scorer(learner) if scorer else None)
        records.append(record)
        if callback is not None:
            callback(record)
        if spent:
            break
    counts = budget.counts()
    return ForwardResult(rounds=tuple(records), labels=counts.labels, expert_steps=counts.expert_steps,
                         context_switches=counts.context_switches, wall_s=wall, budget_spent=spent,
                         policy=TimeIndexedPolicy(members or [policy], segment_length=s))


def _segment_data(task: BatchedTask, members: list[TrainablePolicy], budget: LabelBudget, *, k: int,
                  config: ForwardConfig) -> Dataset:
    """Expert labels of segment k's states, reached by members 0..k-1 (the learner)."""
    data = Dataset.empty(task.spec)
    if budget.remaining == 0:
        return data
    s = config.segment_length
    short = _Horizon(task, min((k + 1) * s, task.spec.max_steps))  # stop at the end of segment k
    seed = config.seed * 1_000_003 + k * config.episodes_per_segment
    if members:
        learner = TimeIndexedPolicy(members, segment_length=s)
        trajs = rollout(short, learner, episodes=config.episodes_per_segment, seed=seed, labeler=budget,
                        gate=_SegmentGate(k * s))
    else:  # segment 0: the expert drives from the start
        trajs = rollout(short, None, episodes=config.episodes_per_segment, seed=seed, labeler=budget)
    data.extend(trajs, targets="labels")  # only segment k's steps are labelled, so only they train
    return data
