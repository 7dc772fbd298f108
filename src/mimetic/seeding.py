"""Named seed streams: every seed a run derives from its one ``seed`` is made here.

A run's ``seed`` fans out into separate streams so that, e.g., the reset seeds of the episodes an
algorithm trains on never collide with the evaluation's or with each other across runs of
neighbouring seeds. Each stream is ``seed * multiplier + index``; the multipliers are fixed, so the
same seed gives the same numbers release after release, and a caller that must land on the same
start states as an algorithm (an experiment collecting BC's demonstrations where DAgger's round 0
starts) asks the same stream instead of repeating a formula.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeedStream:
    """``seed * multiplier + index``: one named family of derived seeds."""

    name: str
    multiplier: int

    def __call__(self, seed: int, index: int = 0) -> int:
        return seed * self.multiplier + index


EPISODES = SeedStream("training episodes", 1_000_003)
"""Reset seeds of the episodes a run trains on: episode k of the run starts from ``EPISODES(seed, k)``
(interactive rounds count their episodes on from round to round; PPO's stream counts up from k = 0)."""

FITS = SeedStream("fits", 7919)
"""Minibatch seeds of a run's successive fits: the fit after round i uses ``FITS(seed, i)``."""

DEMO_OFFSET = 500_000
"""Episode index where experiments' demonstrations start in the ``EPISODES`` stream, away from the
episodes PPO (GAIL, AIRL) draws from the same stream."""

EVAL_SEED = 10_000
"""First reset seed of evaluations: far above the seeds of a small run's training episodes."""


@dataclass(frozen=True)
class SeedOffset:
    """``seed + offset``: a second seed for a second network or generator of the same run."""

    name: str
    offset: int

    def __call__(self, seed: int) -> int:
        return seed + self.offset


CRITIC_INIT = SeedOffset("PPO critic initialisation (the actor takes the run's seed)", 1)
DISCRIMINATOR_INIT = SeedOffset("GAIL/AIRL discriminator initialisation", 7)
DISCRIMINATOR_BATCHES = SeedOffset("GAIL/AIRL discriminator minibatches", 11)
SAMPLE_DRAWS = SeedOffset("draws from a trained policy's action distribution (experiments' plots)", 7)

MIXTURE_DRAWS = SeedStream("mixture draws", 1)
"""Who acts in SMILe's learned mixture after iteration n: ``MIXTURE_DRAWS(seed, n)``."""
