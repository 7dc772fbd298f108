"""Errors raised at the library's boundaries: one actionable line each.

The CLI catches :class:`MimeticError` and prints ``error: <message>`` with exit code 2,
so every message must name the problem and, where possible, the fix.
"""

from __future__ import annotations


class MimeticError(Exception):
    """Base class: a user-facing problem described in one line."""


class ConfigError(MimeticError):
    """A bad option value (negative epochs, unknown loss, ...)."""


class TaskError(MimeticError):
    """Unknown task, or a task that lacks a capability (e.g. get_state/set_state)."""


class DataError(MimeticError):
    """Missing, corrupt or inconsistent demonstration data."""


class CheckpointError(MimeticError):
    """Missing or incompatible checkpoint."""


class ExpertError(MimeticError):
    """The expert (often user code) raised, or returned NaN/inf or out-of-bounds actions."""


class BudgetExhausted(MimeticError):
    """The expert label budget is spent; interactive algorithms stop cleanly on it."""
