"""LazyDAgger (Hoque et al. 2021, "LazyDAgger: Reducing context switching in interactive imitation
learning"): a learned safety classifier predicts, from the state alone, whether the learner's
action would be more than ``beta_h`` from the expert's. Where it says unsafe, the expert takes over
and is labelled. It hands back only once the real gap is below the smaller ``beta_r`` (hysteresis),
so interventions are longer and context switches fewer. ``beta_h`` is set each round so that
``unsafe_rate`` of the aggregated states exceed it."""

from __future__ import annotations

from dataclasses import dataclass

from mimetic.envs.base import BatchedTask
from mimetic.errors import ConfigError
from mimetic.interactive.gates.beta import BetaGate
from mimetic.interactive.gates.common import GateFactory, RoundContext, action_distance, quantile_threshold
from mimetic.interactive.gates.thrifty import ThriftyGate
from mimetic.interactive.risk import safety_classifier
from mimetic.protocols import Expert, Gate, TrainablePolicy


class LazyDAggerGates:
    """Gate factory for LazyDAgger: each round a fresh safety classifier
    (:func:`mimetic.interactive.risk.safety_classifier`) is fitted on the aggregated states,
    labelled unsafe where the current learner's squared action gap exceeds ``beta_h`` (the
    (1 - ``unsafe_rate``) quantile of the gaps); the expert hands back once the squared gap is below
    ``beta_r = release * beta_h``."""

    def __init__(self, policy: TrainablePolicy, *, discrete: bool, unsafe_rate: float = 0.1, release: float = 0.5,
                 min_intervention: int = 1) -> None:
        if not 0.0 < unsafe_rate < 1.0:
            raise ConfigError(f"unsafe_rate must be in (0, 1), got {unsafe_rate}")
        if not 0.0 < release <= 1.0 or min_intervention < 1:
            raise ConfigError(f"LazyDAgger needs 0 < release <= 1 and min_intervention >= 1, got {release} and "
                              f"{min_intervention}")
        self.policy, self.discrete, self.unsafe_rate = policy, discrete, unsafe_rate
        self.release, self.min_intervention = release, min_intervention
        self.beta_h: list[float] = []  # per round

    def __call__(self, ctx: RoundContext) -> Gate:
        if ctx.round == 0:
            return BetaGate(1.0, rng=ctx.rng)
        obs, labels = ctx.data.transitions()
        gap = action_distance(self.policy.act(obs), labels, discrete=self.discrete) ** 2  # (N,)
        beta_h = max(quantile_threshold(gap, rate=self.unsafe_rate), 1e-12)
        self.beta_h.append(beta_h)
        classifier = safety_classifier(obs, gap > beta_h, seed=ctx.round)
        # ThriftyGate is the same switch with the classifier in place of ensemble novelty
        return ThriftyGate(discrete=self.discrete, novelty_fn=classifier, novelty=0.5, labeler=ctx.budget,
                           handback=self.release * beta_h, min_steps=self.min_intervention)

    def state(self) -> dict[str, list[float]]:
        """The per-round thresholds recorded so far (for checkpoints; each round recomputes its own)."""
        return {"beta_h": list(self.beta_h)}

    def load_state(self, state: dict[str, list[float]]) -> None:
        self.beta_h = [float(x) for x in state.get("beta_h", [])]


@dataclass(frozen=True)
class LazyOptions:
    """LazyDAgger's options."""

    unsafe_rate: float = 0.1
    """Fraction of aggregated states labelled unsafe for the safety classifier."""

    release: float = 0.5
    """Hand back once the squared action gap is below this fraction of the unsafe threshold."""

    min_intervention: int = 1
    """The expert drives at least this many steps per take-over."""

    def num_envs(self) -> int | None:
        return None

    def build(self, task: BatchedTask, policy: TrainablePolicy, expert: Expert) -> tuple[GateFactory, Expert]:
        return LazyDAggerGates(policy, discrete=task.spec.discrete, unsafe_rate=self.unsafe_rate,
                               release=self.release, min_intervention=self.min_intervention), expert
