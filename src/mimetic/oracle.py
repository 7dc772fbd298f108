"""The only path to an expert: every query goes through a :class:`LabelBudget` and is counted.

Interactive algorithms (DAgger and family) label states through ``budget.label(obs)``; when the
budget runs out they get :class:`BudgetExhausted` and stop cleanly. Counting here, at one choke
point, is what makes "labels used" comparable across methods (DESIGN.md, style rule 6).
"""

from __future__ import annotations

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

    def counts(self) -> LabelCounts:
        return LabelCounts(self.labels, self.queries, self.expert_steps, self.context_switches)


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
