"""The label budget, the only path to an expert: every query goes through a :class:`LabelBudget`
and is counted.

Interactive algorithms (DAgger and family) label states through ``budget.label(obs)``; when the
budget runs out they get :class:`BudgetExhausted` and stop cleanly. Counting here, at one choke
point, is what makes "labels used" comparable across methods (DESIGN.md, style rule 6).
"""

from __future__ import annotations

from collections.abc import Iterator
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
