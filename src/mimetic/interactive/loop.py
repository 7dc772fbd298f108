"""The one round loop of interactive imitation, and its records.

DAgger, HG-DAgger, ThriftyDAgger, EnsembleDAgger, LazyDAgger, SMILe, forward training and
AggreVaTe all run the same outer loop; what one round *does* (roll out, label, aggregate, train)
is the algorithm's own ``round_fn``, written top to bottom in its module. This loop owns what they
share: the label budget's stop rule, training wall time (evaluation excluded), the per-round
evaluation against the expert, the records, the progress bar and the callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tqdm.auto import tqdm

from mimetic.errors import ConfigError
from mimetic.interactive.budget import LabelBudget
from mimetic.protocols import Policy
from mimetic.rollout import Scorer
from mimetic.types import EvalResult


@dataclass(frozen=True)
class RoundRecord:
    """What one round gathered and how the policy trained on everything so far did."""

    round: int
    beta: float | None  # None for gates that are not a beta mixture
    labels: int  # cumulative expert labels
    expert_steps: int  # cumulative steps the expert drove
    context_switches: int  # cumulative learner -> expert hand-overs
    transitions: int  # training samples in the aggregated dataset
    train_wall_s: float  # cumulative rollout + training time (evaluation excluded)
    return_mean: float | None
    normalized_score: float | None
    success_rate: float | None
    cost_mean: float | None
    watched: int = 0  # cumulative states a simulated human looked at to decide (never labels)


@dataclass(frozen=True)
class InteractiveResult:
    """A whole run: every round's record and the budget's final counts."""

    rounds: tuple[RoundRecord, ...]
    labels: int
    expert_steps: int
    context_switches: int
    wall_s: float  # training wall time (rollouts + fits), evaluation excluded
    budget_spent: bool  # True when the label budget stopped the run
    watched: int = 0  # states a simulated human looked at to decide (LabelBudget.watched; never labels)


@dataclass(frozen=True)
class RoundOutcome:
    """What a round function reports back to the loop."""

    beta: float | None  # the round's expert share, if it is a beta mixture
    transitions: int  # training samples the round's fit saw
    learner: Policy  # the policy to evaluate after the round


RoundFn = Callable[[int], RoundOutcome | None]  # round index -> outcome, or None: stop, nothing gathered


def run_rounds(
    round_fn: RoundFn,
    *,
    rounds: int,
    budget: LabelBudget,
    scorer: Scorer | None,
    desc: str,
    unit: str = "round",
    callback: Callable[[RoundRecord], None] | None = None,
    progress: bool = False,
) -> InteractiveResult:
    """Run ``round_fn(i)`` for i = 0..rounds-1; stop after the round in which the label budget ran
    out (the round trains on what it gathered), or when ``round_fn`` returns None."""
    records: list[RoundRecord] = []
    wall, spent = 0.0, False
    bar = tqdm(total=rounds, desc=desc, unit=unit, disable=not progress)
    for i in range(rounds):
        start = time.perf_counter()
        outcome = round_fn(i)
        spent = budget.exhausted or budget.remaining == 0
        if outcome is None:
            break
        wall += time.perf_counter() - start
        res = scorer(outcome.learner) if scorer is not None else None
        record = round_record(i, outcome.beta, budget, outcome.transitions, wall, res)
        records.append(record)
        bar.update(1)
        bar.set_postfix(labels=record.labels, score=record.normalized_score, refresh=False)
        if callback is not None:
            callback(record)
        if spent:
            break
    bar.close()
    counts = budget.counts()
    return InteractiveResult(rounds=tuple(records), labels=counts.labels, expert_steps=counts.expert_steps,
                             context_switches=counts.context_switches, wall_s=wall, budget_spent=spent,
                             watched=counts.watched)


def round_record(i: int, beta: float | None, budget: LabelBudget, transitions: int, wall: float,
                 res: EvalResult | None) -> RoundRecord:
    """A :class:`RoundRecord` from the budget's counts so far and an optional evaluation."""
    counts = budget.counts()
    return RoundRecord(
        round=i, beta=beta, labels=counts.labels, expert_steps=counts.expert_steps,
        context_switches=counts.context_switches, transitions=transitions, train_wall_s=wall,
        return_mean=None if res is None else res.return_mean,
        normalized_score=None if res is None else res.normalized_score,
        success_rate=None if res is None else res.success_rate,
        cost_mean=None if res is None else res.cost_mean, watched=counts.watched,
    )


def check_common(*, label_budget: int | None, eval_episodes: int) -> None:
    """The checks every interactive config shares, one line each."""
    if label_budget is not None and label_budget < 1:
        raise ConfigError(f"label_budget must be >= 1 (or None), got {label_budget}")
    if eval_episodes < 0:
        raise ConfigError(f"eval_episodes must be >= 0, got {eval_episodes}")
