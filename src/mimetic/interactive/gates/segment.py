"""Forward training's gate: the learner drives up to step ``start`` of each episode, the expert
(labelled) from there on."""

from __future__ import annotations

import numpy as np


class SegmentGate:
    """From step ``start`` of each episode on, the expert drives and is labelled."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.t = np.zeros(0, np.int64)  # (B,) steps into each episode

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        take = self.t >= self.start
        self.t += 1
        return take, take

    def reset(self, mask: np.ndarray) -> None:
        if len(self.t) != len(mask):
            self.t = np.zeros(len(mask), np.int64)
        self.t[mask] = 0
