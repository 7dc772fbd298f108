"""Forward training (Ross & Bagnell 2010, "Efficient Reductions for Imitation Learning", Sec. 4.1):
a non-stationary policy trained one time segment at a time on the states it reaches.

Top to bottom (``fit``): a non-stationary policy, member k acting during
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
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from mimetic import seeding, trainstate
from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.envs.base import BatchedTask, Step
from mimetic.errors import ConfigError
from mimetic.interactive.budget import LabelBudget
from mimetic.interactive.gates.segment import SegmentGate
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
from mimetic.policies.compose import TimeIndexedPolicy
from mimetic.protocols import Expert, TrainablePolicy
from mimetic.rollout import Scorer, rollout


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
        check_common(label_budget=self.label_budget, eval_episodes=self.eval_episodes)


@dataclass(frozen=True, kw_only=True)
class ForwardResult(InteractiveResult):
    """The run's records (one round per segment, ``beta`` None) plus the policy."""

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


def fit(
    task: BatchedTask,
    expert: Expert,
    policy: TrainablePolicy,
    config: ForwardConfig = ForwardConfig(),
    *,
    bc_config: bc.BCConfig = bc.BCConfig(steps=1000),
    eval_task: BatchedTask | None = None,
    callback: Callable[[RoundRecord], None] | None = None,
    progress: bool = False,
    resume: State | None = None,
    checkpoint: CheckpointHook | None = None,
) -> ForwardResult:
    """Run forward training on ``task``. ``policy`` becomes member 0 (trained in place); later
    members are copies. Returns the run's records and the time-indexed policy (``result.policy``)."""
    budget = LabelBudget(expert, limit=config.label_budget)
    initial = copy.deepcopy(policy)
    s = config.segment_length
    members: list[TrainablePolicy] = []

    def one_segment(k: int) -> RoundOutcome | None:
        data = _segment_data(task, members, budget, k=k, config=config)
        if data.n_transitions == 0 and (budget.exhausted or budget.remaining == 0):
            return None
        member = policy if not members else copy.deepcopy(members[-1] if config.warm_start else initial)
        if data.n_transitions > 0:  # else no roll-in reached segment k: keep the copy as it is
            bc.fit(member, data, replace(bc_config, seed=seeding.FITS(config.seed, k)))
        members.append(member)
        return RoundOutcome(beta=None, transitions=data.n_transitions,
                            learner=TimeIndexedPolicy(members, segment_length=s))

    def snapshot() -> State:
        tensors = trainstate.global_rng_tensors()
        for j, member in enumerate(members):
            tensors.update(trainstate.policy_tensors(member, f"member.{j}"))
        return tensors, {"members": len(members)}

    def restore(state: State) -> None:
        tensors, meta = state
        trainstate.load_global_rng(tensors)
        members.clear()
        for j in range(int(meta["members"])):
            member = policy if j == 0 else copy.deepcopy(initial)
            trainstate.load_policy(member, tensors, f"member.{j}")
            members.append(member)

    scorer = Scorer.make(eval_task or task, expert, episodes=config.eval_episodes)
    res = run_rounds(one_segment, rounds=math.ceil(task.spec.max_steps / s), budget=budget, scorer=scorer,
                     desc="forward", unit="segment", callback=callback, progress=progress,
                     resumable=Resumable(snapshot, restore), resume=resume, checkpoint=checkpoint)
    return ForwardResult(**vars(res), policy=TimeIndexedPolicy(members or [policy], segment_length=s))


def _segment_data(task: BatchedTask, members: list[TrainablePolicy], budget: LabelBudget, *, k: int,
                  config: ForwardConfig) -> Dataset:
    """Expert labels of segment k's states, reached by members 0..k-1 (the learner)."""
    data = Dataset.empty(task.spec)
    if budget.remaining == 0:
        return data
    s = config.segment_length
    short = _Horizon(task, min((k + 1) * s, task.spec.max_steps))  # stop at the end of segment k
    seed = seeding.EPISODES(config.seed, k * config.episodes_per_segment)
    if members:
        learner = TimeIndexedPolicy(members, segment_length=s)
        trajs = rollout(short, learner, episodes=config.episodes_per_segment, seed=seed, labeler=budget,
                        gate=SegmentGate(k * s))
    else:  # segment 0: the expert drives from the start
        trajs = rollout(short, None, episodes=config.episodes_per_segment, seed=seed, labeler=budget)
    data.extend(trajs, targets="labels")  # only segment k's steps are labelled, so only they train
    return data
