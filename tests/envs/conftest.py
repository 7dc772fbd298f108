"""Shared helper for env tests: run an expert on a batched task until every env is done once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from mimetic.envs import BatchedTask


@dataclass(frozen=True)
class Episodes:
    returns: np.ndarray  # (B,)
    costs: np.ndarray  # (B,) summed Step.costs
    lengths: np.ndarray  # (B,)
    terminated: np.ndarray  # (B,) bool
    obs: np.ndarray  # (N, O) every observation the expert labelled


def _run(task: BatchedTask, expert: Callable[[np.ndarray], np.ndarray], *, seed: int = 0) -> Episodes:
    n = task.num_envs
    obs = task.reset(seeds=np.arange(n) + seed)
    ret, cost, length = np.zeros(n), np.zeros(n), np.zeros(n, np.int64)
    done, term = np.zeros(n, bool), np.zeros(n, bool)
    seen = []
    while not done.all():
        seen.append(obs[~done])
        step = task.step(expert(obs))
        live = ~done
        ret += step.rewards * live
        cost += step.costs * live
        length += live
        term |= step.terminated & live
        done |= step.terminated | step.truncated
        obs = step.obs
    return Episodes(ret, cost, length, term, np.concatenate(seen))


@pytest.fixture
def run_expert() -> Callable[..., Episodes]:
    return _run
