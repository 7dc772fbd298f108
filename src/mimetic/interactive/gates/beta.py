"""DAgger's mixture of expert and learner, drawn per step (:class:`BetaGate`) or per episode
(:class:`EpisodeBetaGate`, SMILe's ``mixing="episode"``), and the schedules of its weight beta."""

from __future__ import annotations

import numpy as np

from mimetic.errors import ConfigError


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


class EpisodeBetaGate:
    """The expert drives a whole episode with probability ``beta`` (drawn per env at reset);
    every visited state is labelled (SMILe with ``mixing="episode"``)."""

    def __init__(self, beta: float, *, rng: np.random.Generator) -> None:
        self.beta, self.rng = beta, rng
        self.expert = np.zeros(0, bool)  # (B,)

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.expert) != len(obs):
            self.expert = self.rng.random(len(obs)) < self.beta
        return self.expert.copy(), np.ones(len(obs), bool)

    def reset(self, mask: np.ndarray) -> None:
        if len(self.expert) != len(mask):
            self.expert = np.zeros(len(mask), bool)
        self.expert[mask] = self.rng.random(int(mask.sum())) < self.beta


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
