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
from dataclasses import asdict, dataclass
from typing import Any

from tqdm.auto import tqdm

from mimetic.errors import CheckpointError, ConfigError
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
    interrupted: bool = False  # a checkpoint hook stopped the run before its last round (Ctrl-C)


@dataclass(frozen=True)
class RoundOutcome:
    """What a round function reports back to the loop."""

    beta: float | None  # the round's expert share, if it is a beta mixture
    transitions: int  # training samples the round's fit saw
    learner: Policy  # the policy to evaluate after the round


RoundFn = Callable[[int], RoundOutcome | None]  # round index -> outcome, or None: stop, nothing gathered

State = tuple[dict[str, Any], dict[str, Any]]
"""A run's resumable state between two rounds: tensors (weights, generators, the aggregate) and JSON."""

CheckpointHook = Callable[[int, Callable[[], State], bool], bool]
"""``hook(round, snapshot, last)`` after every round (``last``: the run ends now): it may take
``snapshot()`` and save it; returning True stops the run there (Ctrl-C)."""


@dataclass(frozen=True)
class Resumable:
    """How a method's own state (policies, aggregate, generators, gate) is saved and put back:
    ``snapshot()`` -> State, ``restore(State)``; the loop adds its records and the budget's counts."""

    snapshot: Callable[[], State]
    restore: Callable[[State], None]


_BUDGET_FIELDS = ("labels", "queries", "expert_steps", "context_switches", "watched", "exhausted")


def _loop_state(records: list[RoundRecord], wall: float, budget: LabelBudget, next_round: int) -> dict[str, Any]:
    return {"records": [asdict(r) for r in records], "wall_s": wall, "next_round": next_round,
            "budget": {k: getattr(budget, k) for k in _BUDGET_FIELDS}}


def _load_loop_state(meta: dict[str, Any], budget: LabelBudget) -> tuple[list[RoundRecord], float, int]:
    try:
        loop = meta["loop"]
        records = [RoundRecord(**r) for r in loop["records"]]
        for k in _BUDGET_FIELDS:
            setattr(budget, k, type(getattr(budget, k))(loop["budget"][k]))
        if budget.limit is not None and budget.labels < budget.limit:
            budget.exhausted = False  # a resumed run may have been given a larger budget
        return records, float(loop["wall_s"]), int(loop["next_round"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"the interactive training state is incomplete or corrupt ({err})") from None


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
    resumable: Resumable | None = None,
    resume: State | None = None,
    checkpoint: CheckpointHook | None = None,
) -> InteractiveResult:
    """Run ``round_fn(i)`` for i = 0..rounds-1; stop after the round in which the label budget ran
    out (the round trains on what it gathered), or when ``round_fn`` returns None.

    With ``resumable`` (the method's state), ``checkpoint`` is offered a snapshot after every round
    and ``resume`` (such a snapshot) continues with the round after it, bitwise as if the run had
    never stopped; the records of the rounds before it come back in the result."""
    records: list[RoundRecord] = []
    wall, spent, first, interrupted = 0.0, False, 0, False
    if resume is not None:
        assert resumable is not None, "resume needs the method's Resumable"
        resumable.restore(resume)
        records, wall, first = _load_loop_state(resume[1], budget)
    bar = tqdm(total=rounds, initial=min(first, rounds), desc=desc, unit=unit, disable=not progress)
    for i in range(first, rounds):
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
        if checkpoint is not None and resumable is not None:
            def snapshot(i: int = i, wall: float = wall) -> State:
                tensors, meta = resumable.snapshot()
                return tensors, {**meta, "loop": _loop_state(records, wall, budget, i + 1)}

            if checkpoint(i, snapshot, spent or i == rounds - 1):
                interrupted = i < rounds - 1 and not spent
                break
        if spent:
            break
    bar.close()
    counts = budget.counts()
    return InteractiveResult(rounds=tuple(records), labels=counts.labels, expert_steps=counts.expert_steps,
                             context_switches=counts.context_switches, wall_s=wall, budget_spent=spent,
                             watched=counts.watched, interrupted=interrupted)


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
