"""Two more DAgger gates: EnsembleDAgger and LazyDAgger. Both plug into :func:`mimetic.algos.dagger.fit`
as ``gate=`` factories, like HG-DAgger's and ThriftyDAgger's.

- **EnsembleDAgger** (Menda, Driggs-Campbell & Kochenderfer 2019): the expert labels every state,
  as in DAgger, but it also *acts* wherever the learner is unsafe: where the ensemble's variance
  exceeds ``tau`` or the learner's action is more than ``chi`` away from the expert's. Training
  episodes then fail less often while the labels stay DAgger's. The gate needs the expert's action
  to decide; that look is counted as ``watched``.
- **LazyDAgger** (Hoque et al. 2021, "LazyDAgger: Reducing context switching in interactive
  imitation learning"): a learned safety classifier predicts, from the state alone, whether the
  learner's action would be more than ``beta_h`` from the expert's. Where it says unsafe, the
  expert takes over and is labelled. It hands back only once the real gap is below the smaller
  ``beta_r`` (hysteresis), so interventions are longer and context switches fewer. ``beta_h`` is
  set each round so that ``unsafe_rate`` of the aggregated states exceed it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from mimetic.algos.dagger import RoundContext
from mimetic.errors import ConfigError
from mimetic.oracle import (
    BetaGate,
    LabelBudget,
    ThriftyGate,
    action_distance,
    quantile_threshold,
)
from mimetic.protocols import Gate, TrainablePolicy


class EnsembleGate:
    """EnsembleDAgger's decision rule: the learner acts only where doubt <= tau and gap <= chi."""

    def __init__(self, budget: LabelBudget, *, discrete: bool, doubt_fn: Callable[[np.ndarray], np.ndarray],
                 tau: float, chi: float) -> None:
        self.budget, self.discrete, self.doubt_fn, self.tau, self.chi = budget, discrete, doubt_fn, tau, chi

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gap = action_distance(learner_acts, self.budget.watch(obs), discrete=self.discrete)  # (B,)
        take = (np.asarray(self.doubt_fn(obs)) > self.tau) | (gap > self.chi)
        return take, np.ones(len(obs), bool)  # every state is labelled, as in DAgger

    def reset(self, mask: np.ndarray) -> None:
        """Stateless: each step decides afresh."""


class EnsembleDAggerGates:
    """Gate factory for EnsembleDAgger. ``tau`` is a doubt threshold in the units of
    ``policy.disagreement``; None sets it each round to the (1 - ``doubt_rate``) quantile of the
    doubt over the aggregated states. ``chi`` is the largest tolerated action gap (discrete: any
    disagreement when < 1)."""

    def __init__(self, policy: TrainablePolicy, *, discrete: bool, chi: float, tau: float | None = None,
                 doubt_rate: float = 0.1) -> None:
        if not hasattr(policy, "disagreement") or getattr(getattr(policy, "config", None), "ensemble", 1) < 2:
            raise ConfigError("EnsembleDAgger needs an ensemble policy (e.g. MLPConfig(ensemble=5))")
        if chi <= 0 or (tau is not None and tau < 0):
            raise ConfigError(f"EnsembleDAgger needs chi > 0 and tau >= 0, got {chi} and {tau}")
        if not 0.0 < doubt_rate < 1.0:
            raise ConfigError(f"doubt_rate must be in (0, 1), got {doubt_rate}")
        self.policy, self.discrete, self.chi, self.fixed_tau, self.doubt_rate = policy, discrete, chi, tau, doubt_rate
        self.taus: list[float] = []

    def __call__(self, ctx: RoundContext) -> Gate:
        if ctx.round == 0:
            return BetaGate(1.0, rng=ctx.rng)
        doubt = self.policy.disagreement  # type: ignore[attr-defined]
        tau = self.fixed_tau if self.fixed_tau is not None else quantile_threshold(doubt(ctx.data.transitions()[0]),
                                                                       rate=self.doubt_rate)
        self.taus.append(tau)
        return EnsembleGate(ctx.budget, discrete=self.discrete, doubt_fn=doubt, tau=tau, chi=self.chi)


class SafetyClassifier:
    """LazyDAgger's safety classifier: P(learner's action gap > beta_h | state), a small MLP."""

    def __init__(self, obs_dim: int, *, hidden: int = 64, steps: int = 300, seed: int = 0) -> None:
        self.steps, self.seed = steps, seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = torch.nn.Sequential(torch.nn.Linear(obs_dim, hidden), torch.nn.Tanh(),
                                           torch.nn.Linear(hidden, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
        self.mean, self.std = torch.zeros(obs_dim), torch.ones(obs_dim)

    def fit(self, obs: np.ndarray, unsafe: np.ndarray) -> None:
        x = torch.from_numpy(np.asarray(obs, np.float32).reshape(len(obs), -1))  # (N, O)
        y = torch.from_numpy(np.asarray(unsafe, np.float32))  # (N,)
        self.mean, self.std = x.mean(0), x.std(0).clamp_min(1e-6)
        # unsafe states are rare by construction: weigh the classes equally
        pos_weight = ((len(y) - y.sum()) / y.sum().clamp_min(1.0)).reshape(1)
        opt = torch.optim.Adam(self.net.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(self.steps):
            idx = torch.randint(len(x), (min(256, len(x)),), generator=gen)
            logit = self.net((x[idx] - self.mean) / self.std).squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y[idx], pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = (torch.from_numpy(np.asarray(obs, np.float32).reshape(len(obs), -1)) - self.mean) / self.std
            return torch.sigmoid(self.net(x)).squeeze(-1).numpy()  # (B,)


class LazyDAggerGates:
    """Gate factory for LazyDAgger: each round a fresh :class:`SafetyClassifier` is fitted on the
    aggregated states, labelled unsafe where the current learner's squared action gap exceeds
    ``beta_h`` (the (1 - ``unsafe_rate``) quantile of the gaps); the expert hands back once the
    squared gap is below ``beta_r = release * beta_h``."""

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
        classifier = SafetyClassifier(obs.shape[1] if obs.ndim == 2 else int(np.prod(obs.shape[1:])), seed=ctx.round)
        classifier.fit(obs, gap > beta_h)
        # ThriftyGate is the same switch with the classifier in place of ensemble novelty
        return ThriftyGate(discrete=self.discrete, novelty_fn=classifier, novelty=0.5, labeler=ctx.budget,
                           handback=self.release * beta_h, min_steps=self.min_intervention)
