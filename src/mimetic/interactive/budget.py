"""The label budget, the only path to an expert: every query goes through a :class:`LabelBudget`
and is counted.

Interactive algorithms (DAgger and family) label states through ``budget.label(obs)``; when the
budget runs out they get :class:`BudgetExhausted` and stop cleanly. Counting here, at one choke
point, is what makes "labels used" comparable across methods (DESIGN.md, style rule 6). It is
also where an expert's faults are caught: an exception, NaN/inf, or (once the task's action space
is known) actions outside the bounds end the command with one :class:`ExpertError` line naming
the expert and the call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np

from mimetic.errors import BudgetExhausted, ConfigError, ExpertError, MimeticError
from mimetic.protocols import Expert
from mimetic.types import LabelCounts


class LabelBudget:
    """Wraps an expert; counts labels and optionally caps them at ``limit``."""

    def __init__(self, expert: Expert, *, limit: int | None = None, action_space: Any = None) -> None:
        if limit is not None and limit < 1:
            raise ConfigError(f"label budget must be >= 1 (or unlimited), got {limit}")
        self.expert = expert
        # the bounds its answers are checked against (rollout sets the task's when None)
        self.action_space = action_space
        self.calls = 0  # every call of the expert (labels and watches), to name the one that failed
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
        return self._ask(obs)

    def count_control(self, *, expert_steps: int, switches: int) -> None:
        """Record steps the expert drove and how often control passed to it."""
        self.expert_steps += expert_steps
        self.context_switches += switches

    def watch(self, obs: np.ndarray) -> np.ndarray:
        """What the expert would do at ``obs``, for a simulated human deciding whether to take
        over. A real human watches for free; these are counted as ``watched``, never as labels,
        and never enter a dataset."""
        self.watched += len(obs)
        return self._ask(obs)

    def _ask(self, obs: np.ndarray) -> np.ndarray:
        """The expert's answer for ``obs``; its failures reported as its own, in one line."""
        self.calls += 1
        name = getattr(self.expert, "name", type(self.expert).__name__)
        where = f"on call {self.calls} (a batch of {len(obs)} states)"
        try:
            acts = self.expert(obs)
        except (MimeticError, KeyboardInterrupt):
            raise
        except Exception as e:  # user code: whatever it raises is its fault, not the data's
            text = " ".join(str(e).split())[:200]
            raise ExpertError(f"the expert {name} raised {type(e).__name__}: {text} {where}") from None
        arr = np.asarray(acts)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            raise ExpertError(f"the expert {name} returned {bad} NaN/inf action values {where}")
        space = self.action_space
        if arr.dtype.kind == "f" and isinstance(space, gym.spaces.Box) and arr.shape[1:] == space.shape:
            low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
            tol = 1e-5 * np.maximum(1.0, np.maximum(np.abs(np.where(np.isfinite(low), low, 0)),
                                                   np.abs(np.where(np.isfinite(high), high, 0))))
            out = (arr < low - tol) | (arr > high + tol)
            if out.any():
                value = float(arr[out].reshape(-1)[0])
                raise ExpertError(f"the expert {name} returned {int(out.sum())} action values outside the bounds "
                                  f"[{float(low.min()):.4g}, {float(high.max()):.4g}] (first: {value:.4g}) {where}; "
                                  "pass --clip-actions to clip them (or clip them in the expert)")
        return acts

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
