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
