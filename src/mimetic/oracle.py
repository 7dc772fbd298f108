"""The only path to an expert: every query goes through a :class:`LabelBudget` and is counted.

Interactive algorithms (DAgger and family) label states through ``budget.label(obs)``; when the
budget runs out they get :class:`BudgetExhausted` and stop cleanly. Counting here, at one choke
point, is what makes "labels used" comparable across methods (DESIGN.md, style rule 6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from mimetic.errors import BudgetExhausted, ConfigError
from mimetic.protocols import Expert
from mimetic.types import LabelCounts


class LabelBudget:
    """Wraps an expert; counts labels and optionally caps them at ``limit``."""

    def __init__(self, expert: Expert, *, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ConfigError(f"label budget must be >= 1 (or unlimited), got {limit}")
        self.expert = expert
        self.limit = limit
        self.labels = 0
        self.queries = 0
        self.expert_steps = 0
        self.context_switches = 0
        self.watched = 0
        self.exhausted = False  # set once a request could not be covered

    def can_cover(self, n: int) -> bool:
        """Whether ``n`` more labels fit; a False answer marks the budget exhausted."""
        fits = self.limit is None or self.labels + n <= self.limit
        self.exhausted |= not fits
        return fits

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else self.limit - self.labels

    def label(self, obs: np.ndarray) -> np.ndarray:
        """Expert actions for ``obs`` (B, *O); raises BudgetExhausted if B labels don't fit."""
        n = len(obs)
        if self.limit is not None and self.labels + n > self.limit:
            raise BudgetExhausted(
                f"label budget of {self.limit} spent ({self.labels} used, {n} more requested)"
            )
        self.labels += n
        self.queries += 1
        return self.expert(obs)

    def count_control(self, *, expert_steps: int, switches: int) -> None:
        """Record steps the expert drove and how often control passed to it."""
        self.expert_steps += expert_steps
        self.context_switches += switches

    def watch(self, obs: np.ndarray) -> np.ndarray:
        """What the expert would do at ``obs``, for a simulated human deciding whether to take
        over. A real human watches for free; these are counted as ``watched``, never as labels,
        and never enter a dataset."""
        self.watched += len(obs)
        return self.expert(obs)

    @contextmanager
    def capped(self, n: int | None) -> Iterator[None]:
        """Within the block, at most ``n`` more labels (None: no extra cap); a rollout that hits
        this cap stops cleanly as at the real limit, but the budget is not marked exhausted."""
        if n is None:
            yield
            return
        limit, exhausted = self.limit, self.exhausted
        self.limit = self.labels + n if limit is None else min(limit, self.labels + n)
        try:
            yield
        finally:
            self.limit = limit
            self.exhausted = exhausted or (limit is not None and self.labels >= limit)

    def counts(self) -> LabelCounts:
        return LabelCounts(self.labels, self.queries, self.expert_steps, self.context_switches, self.watched)


# ----------------------------------------------------------------------------- gates
# A gate decides, per step and env, whether the expert acts and whether it is queried
# (protocols.Gate). DAgger, HG-DAgger and ThriftyDAgger differ only in their gate.


class AlwaysQuery:
    """Plain DAgger labelling with the learner in control: query every state, never hand over."""

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(obs)
        return np.zeros(n, bool), np.ones(n, bool)

    def reset(self, mask: np.ndarray) -> None:
        pass


class BetaGate:
    """DAgger's mixture policy pi_i = beta_i pi* + (1 - beta_i) pi_hat_i (Ross, Gordon & Bagnell
    2011, Algorithm 3.1): each step the expert's action is executed with probability beta; every
    visited state is labelled."""

    def __init__(self, beta: float, *, rng: np.random.Generator) -> None:
        if not 0.0 <= beta <= 1.0:
            raise ConfigError(f"beta must be in [0, 1], got {beta}")
        self.beta, self.rng = beta, rng

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(obs)
        return self.rng.random(n) < self.beta, np.ones(n, bool)

    def reset(self, mask: np.ndarray) -> None:
        pass


BETA_SCHEDULES = ("constant", "exponential", "one-then-zero", "linear")


def beta_at(schedule: str, round_index: int, *, beta0: float = 1.0, p: float = 0.5, rounds: int = 10) -> float:
    """Mixing weight of round ``round_index`` (0-based). Ross et al. 2011 (Sec. 3): beta_1 = 1, then
    e.g. beta_i = p^(i-1) ("exponential"), or 0 after the first round ("one-then-zero")."""
    if beta0 < 0 or not 0.0 <= p <= 1.0:
        raise ConfigError(f"beta0 must be >= 0 and p in [0, 1], got beta0={beta0}, p={p}")
    if schedule == "constant":
        return min(beta0, 1.0)
    if schedule == "exponential":
        return min(beta0, 1.0) * p**round_index
    if schedule == "one-then-zero":
        return 1.0 if round_index == 0 else 0.0
    if schedule == "linear":  # the imitation library's default: from 1 down to 0 over ``rounds``
        return max(0.0, 1.0 - round_index / max(rounds, 1))
    raise ConfigError(f"beta schedule must be one of {', '.join(BETA_SCHEDULES)}, got {schedule!r}")


def action_distance(a: np.ndarray, b: np.ndarray, *, discrete: bool) -> np.ndarray:
    """Per-row disagreement (B,): 1/0 for discrete actions, Euclidean distance for continuous."""
    if discrete:
        return (np.asarray(a) != np.asarray(b)).astype(np.float64)
    return np.linalg.norm((np.asarray(a, np.float64) - b).reshape(len(a), -1), axis=1)


class SimulatedHuman:
    """HG-DAgger's human supervisor (Kelly et al. 2019), simulated so it runs in tests.

    The learner drives. The human watches (``LabelBudget.watch``: counted, not labels) and takes
    over when the learner's action strays more than ``deviation`` from its own or ``risk_fn(obs)``
    exceeds ``risk``; it hands control back once both have been below ``release`` times their
    thresholds for ``calm_steps`` steps in a row. Only the steps it drives are queried, so only
    those enter the dataset. At each take-over it records the learner's ensemble ``doubt``
    (``policy.disagreement``), from which HG-DAgger derives its deployment threshold tau.
    """

    def __init__(self, budget: LabelBudget, *, discrete: bool, deviation: float,
                 risk_fn: Callable[[np.ndarray], np.ndarray] | None = None, risk: float = np.inf,
                 release: float = 0.5, calm_steps: int = 5, doubt_fn: Callable[[np.ndarray], np.ndarray] | None = None
                 ) -> None:
        if deviation <= 0 or risk <= 0 or not 0 < release <= 1 or calm_steps < 1:
            raise ConfigError("simulated human needs deviation > 0, risk > 0, 0 < release <= 1, calm_steps >= 1")
        self.budget, self.discrete = budget, discrete
        self.deviation, self.risk_fn, self.risk = deviation, risk_fn, risk
        self.release, self.calm_steps, self.doubt_fn = release, calm_steps, doubt_fn
        self.in_control = np.zeros(0, bool)  # (B,)
        self.calm = np.zeros(0, np.int64)  # (B,) consecutive calm steps while in control
        self.doubts: list[float] = []  # learner doubt at each intervention

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dev = action_distance(learner_acts, self.budget.watch(obs), discrete=self.discrete) / self.deviation
        risk = self.risk_fn(obs) / self.risk if self.risk_fn is not None else np.zeros(len(obs))
        unsafe = (dev > 1.0) | (risk > 1.0)
        start = unsafe & ~self.in_control
        if start.any() and self.doubt_fn is not None:
            self.doubts.extend(np.asarray(self.doubt_fn(obs[start]), np.float64).tolist())
        self.in_control |= unsafe
        calm = (dev < self.release) & (risk < self.release)
        self.calm = np.where(self.in_control & calm, self.calm + 1, 0)
        self.in_control &= self.calm < self.calm_steps  # hand back after a calm stretch
        take = self.in_control.copy()
        return take, take

    def reset(self, mask: np.ndarray) -> None:
        if len(self.in_control) != len(mask):
            self.in_control, self.calm = np.zeros(len(mask), bool), np.zeros(len(mask), np.int64)
        self.in_control[mask] = False
        self.calm[mask] = 0

    def tau(self) -> float | None:
        """HG-DAgger's doubt threshold: mean doubt over the last 25% of interventions."""
        if not self.doubts:
            return None
        tail = self.doubts[-max(1, len(self.doubts) // 4):]
        return float(np.mean(tail))


class ThriftyGate:
    """ThriftyDAgger's switch (Hoque et al. 2021, Algorithm 1) between a learner and the expert.

    The learner drives until its ensemble disagrees (``novelty_fn(obs)`` > ``novelty``) or its
    estimated risk (``risk_fn(obs)`` > ``risk``); then the expert drives (and is labelled) until the
    learner's own action is back within ``handback`` of the expert's (squared distance, as in the
    paper; default: ``novelty``), risk is below ``risk_release`` and the expert has driven at least
    ``min_steps`` steps. Thresholds come from :class:`mimetic.algos.dagger.ThriftyGates`.
    """

    def __init__(self, *, discrete: bool, novelty_fn: Callable[[np.ndarray], np.ndarray], novelty: float,
                 risk_fn: Callable[[np.ndarray], np.ndarray] | None = None, risk: float = np.inf,
                 risk_release: float | None = None, labeler: LabelBudget | None = None,
                 handback: float | None = None, min_steps: int = 1) -> None:
        if min_steps < 1:
            raise ConfigError(f"minimum intervention length must be >= 1 step, got {min_steps}")
        self.discrete, self.novelty_fn, self.novelty = discrete, novelty_fn, novelty
        self.risk_fn, self.risk = risk_fn, risk
        self.risk_release = risk if risk_release is None else risk_release
        self.handback = novelty if handback is None else handback
        self.labeler, self.min_steps = labeler, min_steps
        self.in_control = np.zeros(0, bool)  # (B,)
        self.driven = np.zeros(0, np.int64)  # (B,) steps the expert has driven in the current intervention

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.in_control) != len(obs):
            self.reset(np.ones(len(obs), bool))
        novel = self.novelty_fn(obs) > self.novelty
        risk = self.risk_fn(obs) if self.risk_fn is not None else np.zeros(len(obs))
        take = self.in_control | novel | (risk > self.risk)
        ready = self.in_control & (self.driven >= self.min_steps)
        if ready.any() and self.labeler is not None:
            # The expert is driving these envs: compare its action with the learner's to decide
            # whether to hand control back (counted as watched; a kept step is labelled as usual).
            rows = np.flatnonzero(ready)
            gap = action_distance(learner_acts[rows], self.labeler.watch(obs[rows]), discrete=self.discrete) ** 2
            back = (gap < self.handback) & (risk[rows] < self.risk_release) & ~novel[rows]
            take[rows[back]] = False
        self.driven = np.where(take, self.driven + 1, 0)
        self.in_control = take.copy()
        return take, take

    def reset(self, mask: np.ndarray) -> None:
        if len(self.in_control) != len(mask):
            self.in_control, self.driven = np.zeros(len(mask), bool), np.zeros(len(mask), np.int64)
        self.in_control[mask] = False
        self.driven[mask] = 0


def quantile_threshold(values: np.ndarray, *, rate: float) -> float:
    """The threshold that ``rate`` of ``values`` exceed (ThriftyDAgger's target switch rate)."""
    if not 0.0 < rate < 1.0:
        raise ConfigError(f"target switch rate must be in (0, 1), got {rate}")
    return float(np.quantile(np.asarray(values, np.float64), 1.0 - rate))
