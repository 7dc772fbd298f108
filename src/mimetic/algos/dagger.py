"""DAgger (Ross, Gordon & Bagnell 2011) and the gate-defined members of its family.

Algorithm 3.1 of the paper, top to bottom:

    D <- {} ; pi_hat_1 <- any policy
    for i = 1..N:
        pi_i = beta_i pi* + (1 - beta_i) pi_hat_i        # BetaGate: who acts, per step
        run pi_i, let the expert label every visited state   # rollout(..., labeler=budget, gate=...)
        D <- D u {(s, pi*(s))}                             # aggregate, never replace
        pi_hat_{i+1} <- train on D                        # bc.fit, warm or from scratch

HG-DAgger and ThriftyDAgger are the same loop with a different gate: the expert labels only the
states it was handed (``Trajectory.labeled``), and only those join D. Every label is counted by one
:class:`LabelBudget`; when it is spent the round in progress stops cleanly, the policy is trained
on what was gathered, and the result says so.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.envs.base import BatchedTask
from mimetic.errors import ConfigError
from mimetic.oracle import (
    BetaGate,
    LabelBudget,
    SimulatedHuman,
    ThriftyGate,
    action_distance,
    beta_at,
    quantile_threshold,
)
from mimetic.protocols import Expert, Gate, TrainablePolicy
from mimetic.rollout import Scorer
from mimetic.types import BCResult, EvalResult


@dataclass(frozen=True)
class RoundContext:
    """What a gate factory may use to build a round's gate."""

    round: int
    rng: np.random.Generator
    budget: LabelBudget
    data: Dataset  # everything aggregated so far


GateFactory = Callable[[RoundContext], Gate]
BC_DEFAULT = bc.BCConfig(steps=1000)  # the refit inside each round unless a caller passes one


@dataclass(frozen=True)
class DAggerConfig:
    """Options of the DAgger loop (the BC step inside each round has its own BCConfig)."""

    rounds: int = 10
    """Data-collection rounds (the first one, with beta = 1, is the expert's demonstrations)."""

    episodes_per_round: int = 2
    """Episodes rolled out (and labelled) per round."""

    beta_schedule: Literal["one-then-zero", "exponential", "constant", "linear"] = "one-then-zero"
    """Mixing of expert into the executed policy: 1 in round 0 then 0; beta0 * p^i; beta0; or 1 - i/rounds."""

    beta0: float = 1.0
    """Initial beta for the constant and exponential schedules."""

    beta_p: float = 0.5
    """Decay p of the exponential schedule."""

    warm_start: bool = True
    """Continue training from the previous round's weights (otherwise retrain from the initial weights)."""

    demo_labels: int | None = None
    """Cap on round 0's expert labels: its episodes (the expert's demonstrations under the default
    schedule, HG-DAgger and ThriftyDAgger) are cut short once the expert has labelled this many
    states (None: full episodes)."""

    label_budget: int | None = None
    """Stop cleanly once the expert has labelled this many states (None: no limit)."""

    eval_episodes: int = 20
    """Evaluation episodes after each round (not counted as labels or training time; 0: skip)."""

    seed: int = 0
    """Seed of rollouts, beta coin flips and BC minibatches."""

    def __post_init__(self) -> None:
        for name in ("rounds", "episodes_per_round"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.demo_labels is not None and self.demo_labels < 1:
            raise ConfigError(f"demo_labels must be >= 1 (or None), got {self.demo_labels}")
        if self.label_budget is not None and self.label_budget < 1:
            raise ConfigError(f"label_budget must be >= 1 (or None), got {self.label_budget}")
        if self.eval_episodes < 0:
            raise ConfigError(f"eval_episodes must be >= 0, got {self.eval_episodes}")
        if self.beta0 < 0 or self.beta0 > 1 or not 0 <= self.beta_p <= 1:
            raise ConfigError(f"beta0 and beta_p must be in [0, 1], got {self.beta0} and {self.beta_p}")


@dataclass(frozen=True)
class RoundRecord:
    """What one round gathered and how the policy trained on everything so far did."""

    round: int
    beta: float | None  # None for gates that are not a beta mixture
    labels: int  # cumulative expert labels
    expert_steps: int  # cumulative steps the expert drove
    context_switches: int  # cumulative learner -> expert hand-overs
    transitions: int  # training samples in the aggregated dataset
    train_wall_s: float  # cumulative rollout + training time (evaluation excluded)
    return_mean: float | None
    normalized_score: float | None
    success_rate: float | None
    cost_mean: float | None
    watched: int = 0  # cumulative states a simulated human looked at to decide (never labels)


@dataclass(frozen=True)
class DAggerResult:
    rounds: tuple[RoundRecord, ...]
    labels: int
    expert_steps: int
    context_switches: int
    wall_s: float  # training wall time (rollouts + fits), evaluation excluded
    budget_spent: bool  # True when the label budget stopped the run
    watched: int = 0  # states a simulated human looked at to decide (LabelBudget.watched; never labels)


def fit(
    task: BatchedTask,
    expert: Expert,
    policy: TrainablePolicy,
    config: DAggerConfig = DAggerConfig(),
    *,
    bc_config: bc.BCConfig = BC_DEFAULT,
    gate: GateFactory | None = None,
    eval_task: BatchedTask | None = None,
    dataset: Dataset | None = None,
    callback: Callable[[RoundRecord], None] | None = None,
    progress: bool = False,
) -> DAggerResult:
    """Run the DAgger loop on ``task`` and train ``policy`` in place.

    ``gate`` builds each round's gate (default: DAgger's beta mixture per ``config``); ``dataset``
    seeds the aggregate with earlier data (e.g. demonstrations). ``eval_task`` (default ``task``)
    measures each round's policy against the expert and a random policy.
    """
    budget = LabelBudget(expert, limit=config.label_budget)
    rng = np.random.default_rng(config.seed)
    data = Dataset.empty(task.spec) if dataset is None else dataset
    initial = copy.deepcopy(policy.state_dict()) if isinstance(policy, torch.nn.Module) else None
    scorer = Scorer.make(eval_task or task, expert, episodes=config.eval_episodes)
    records: list[RoundRecord] = []
    wall = 0.0
    spent = False
    bar = tqdm(total=config.rounds, desc="rounds", unit="round", disable=not progress)
    for i in range(config.rounds):
        start = time.perf_counter()
        beta = None if gate is not None else beta_at(config.beta_schedule, i, beta0=config.beta0,
                                                     p=config.beta_p, rounds=config.rounds)
        round_gate = gate(RoundContext(i, rng, budget, data)) if gate is not None else BetaGate(beta, rng=rng)
        seed = config.seed * 1_000_003 + i * config.episodes_per_round  # fresh start states each round
        with budget.capped(config.demo_labels if i == 0 else None):
            trajs = _rollout(task, policy, i, seed=seed, budget=budget, gate=round_gate, config=config)
        spent = budget.exhausted or budget.remaining == 0
        if trajs:
            data.extend(trajs, targets="labels")  # aggregate: D <- D u D_i
        if data.n_transitions > 0:
            if not config.warm_start and initial is not None:
                policy.load_state_dict(initial)  # type: ignore[attr-defined]
            _train(policy, data, bc_config, seed=config.seed * 7919 + i)
        elif spent:
            raise ConfigError("the label budget ran out before the expert labelled any state")
        # else: nothing labelled yet (a live human who has not stepped in); the learner is unchanged
        wall += time.perf_counter() - start
        record = round_record(i, beta, budget, data.n_transitions, wall, scorer(policy) if scorer else None)
        records.append(record)
        bar.update(1)
        bar.set_postfix(labels=record.labels, score=record.normalized_score, refresh=False)
        if callback is not None:
            callback(record)
        if spent:
            break
    bar.close()
    counts = budget.counts()
    return DAggerResult(rounds=tuple(records), labels=counts.labels, expert_steps=counts.expert_steps,
                        context_switches=counts.context_switches, wall_s=wall, budget_spent=spent,
                        watched=counts.watched)


def _rollout(task: BatchedTask, policy: TrainablePolicy, i: int, *, seed: int, budget: LabelBudget,
             gate: Gate, config: DAggerConfig) -> list:
    from mimetic.rollout import rollout

    if budget.remaining == 0:
        return []
    return rollout(task, policy, episodes=config.episodes_per_round, seed=seed, labeler=budget, gate=gate)


def _train(policy: TrainablePolicy, data: Dataset, config: bc.BCConfig, *, seed: int) -> BCResult:
    from dataclasses import replace

    return bc.fit(policy, data, replace(config, seed=seed))


def round_record(i: int, beta: float | None, budget: LabelBudget, transitions: int, wall: float,
                 res: EvalResult | None) -> RoundRecord:
    """A :class:`RoundRecord` from the budget's counts so far and an optional evaluation."""
    counts = budget.counts()
    return RoundRecord(
        round=i, beta=beta, labels=counts.labels, expert_steps=counts.expert_steps,
        context_switches=counts.context_switches, transitions=transitions, train_wall_s=wall,
        return_mean=None if res is None else res.return_mean,
        normalized_score=None if res is None else res.normalized_score,
        success_rate=None if res is None else res.success_rate,
        cost_mean=None if res is None else res.cost_mean, watched=counts.watched,
    )


# ----------------------------------------------------------------------------- family members
# HG-DAgger and ThriftyDAgger: round 0 is the expert's demonstrations (beta = 1, as in both
# papers' initial BC policy); later rounds hand control to the expert only when their gate says so.


class HGDAggerGates:
    """Gate factory for HG-DAgger (Kelly et al. 2019) with a :class:`SimulatedHuman` (or, for a
    task that renders, a live human at the keyboard: ``human=KeyboardHuman(...)``)."""

    def __init__(self, *, discrete: bool, deviation: float, risk_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                 risk: float = np.inf, doubt_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                 human: Gate | None = None) -> None:
        self.options = {"discrete": discrete, "deviation": deviation, "risk_fn": risk_fn, "risk": risk, "doubt_fn": doubt_fn}
        self.human = human

    def __call__(self, ctx: RoundContext) -> Gate:
        if self.human is not None and not isinstance(self.human, SimulatedHuman):
            return self.human  # a live human decides from the first round on
        if ctx.round == 0:
            return BetaGate(1.0, rng=ctx.rng)
        if self.human is None:
            self.human = SimulatedHuman(ctx.budget, **self.options)
        return self.human

    def tau(self) -> float | None:
        return self.human.tau() if isinstance(self.human, SimulatedHuman) else None


class FailureRisk:
    """ThriftyDAgger's risk estimate: the learned chance of failing soon from a state.

    The paper learns Q_R(s, a), the discounted probability of reaching the goal, by Bellman
    backups and uses risk = 1 - Q_R(s, pi(s)). Here the same quantity for the policy that was
    actually running is regressed directly from outcomes (a Monte Carlo target): every state of
    an episode that ended in failure (``terminated``) gets gamma^(steps until the end), every
    other state 0. Tasks whose episodes terminate on success (lunarlander) should not use it.
    """

    def __init__(self, obs_dim: int, *, gamma: float = 0.9, hidden: int = 64, steps: int = 300, seed: int = 0) -> None:
        if not 0.0 < gamma < 1.0:
            raise ConfigError(f"risk discount gamma must be in (0, 1), got {gamma}")
        self.gamma, self.steps, self.seed = gamma, steps, seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = torch.nn.Sequential(torch.nn.Linear(obs_dim, hidden), torch.nn.Tanh(),
                                           torch.nn.Linear(hidden, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
        self.mean, self.std = torch.zeros(obs_dim), torch.ones(obs_dim)

    def fit(self, episodes: list) -> None:
        obs = np.concatenate([t.obs[:-1] for t in episodes]).astype(np.float32)  # (N, O)
        target = np.concatenate([self.gamma ** np.arange(len(t))[::-1] * float(t.terminated)
                                 for t in episodes]).astype(np.float32)  # (N,)
        x, y = torch.from_numpy(obs), torch.from_numpy(target)
        self.mean, self.std = x.mean(0), x.std(0).clamp_min(1e-6)
        opt = torch.optim.Adam(self.net.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(self.steps):
            idx = torch.randint(len(x), (min(256, len(x)),), generator=gen)
            pred = torch.sigmoid(self.net((x[idx] - self.mean) / self.std)).squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy(pred, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = (torch.from_numpy(np.asarray(obs, np.float32)) - self.mean) / self.std
            return torch.sigmoid(self.net(x)).squeeze(-1).numpy()  # (B,)


class ThriftyGates:
    """Gate factory for ThriftyDAgger (Hoque et al. 2021): novelty = the learner ensemble's
    disagreement, with the threshold re-set each round to the (1 - switch_rate) quantile of the
    novelty over reference states, so roughly ``switch_rate`` of them would ask for help.

    ``calibrate`` picks the reference states: ``"data"``, every aggregated (labelled) state;
    ``"learner"``, the states the learner itself drove in earlier rounds (the paper's
    reference code re-sets the threshold from the robot's own states), falling back to the data
    until there are ``MIN_CALIBRATION`` of them. ``handback`` picks the squared action gap below
    which the expert hands control back: ``"novelty"``, the novelty threshold; ``"discrepancy"``,
    the policy's mean squared error on its own training labels (the paper's switch-back threshold).
    ``min_intervention`` makes the expert drive at least that many steps per take-over.
    ``risk_fn``/``risk`` add the risk condition where a task has a risk estimate.
    """

    MIN_CALIBRATION = 25  # the paper's code re-estimates its thresholds from > 25 states

    def __init__(self, policy: TrainablePolicy, *, discrete: bool, switch_rate: float = 0.1,
                 risk_fn: Callable[[np.ndarray], np.ndarray] | None = None, risk: float = np.inf,
                 learn_risk: bool = False, risk_rate: float | None = None,
                 calibrate: Literal["data", "learner"] = "data", handback: Literal["novelty", "discrepancy"] = "novelty",
                 min_intervention: int = 1) -> None:
        if not hasattr(policy, "disagreement") or getattr(getattr(policy, "config", None), "ensemble", 1) < 2:
            raise ConfigError("ThriftyDAgger needs an ensemble policy for novelty (e.g. MLPConfig(ensemble=5))")
        quantile_threshold(np.zeros(2), rate=switch_rate)  # validates the rate with one clear line
        if calibrate not in ("data", "learner") or handback not in ("novelty", "discrepancy"):
            raise ConfigError(f"calibrate must be data or learner and handback novelty or discrepancy, "
                              f"got {calibrate!r} and {handback!r}")
        if min_intervention < 1:
            raise ConfigError(f"min_intervention must be >= 1, got {min_intervention}")
        self.policy, self.discrete, self.switch_rate = policy, discrete, switch_rate
        self.risk_fn, self.risk = risk_fn, risk
        self.learn_risk = learn_risk
        self.risk_rate = switch_rate if risk_rate is None else risk_rate
        self.calibrate, self.handback, self.min_intervention = calibrate, handback, min_intervention
        self.thresholds: list[float] = []  # novelty threshold of each round
        self.handbacks: list[float] = []  # hand-back threshold (squared action gap) of each round
        self.risk_thresholds: list[float] = []  # learned-risk threshold of each round

    def __call__(self, ctx: RoundContext) -> Gate:
        if ctx.round == 0:
            return BetaGate(1.0, rng=ctx.rng)
        obs, labels = ctx.data.transitions()
        disagreement = self.policy.disagreement  # type: ignore[attr-defined]
        own = _learner_states(ctx.data) if self.calibrate == "learner" else obs[:0]
        reference = own if len(own) >= self.MIN_CALIBRATION else obs
        threshold = quantile_threshold(disagreement(reference), rate=self.switch_rate)
        self.thresholds.append(threshold)
        handback = threshold
        if self.handback == "discrepancy":
            gap = action_distance(self.policy.act(obs), labels, discrete=self.discrete) ** 2  # (N,)
            handback = float(gap.mean())
        self.handbacks.append(handback)
        risk_fn, risk = self.risk_fn, self.risk
        episodes = list(ctx.data.episodes()) if self.learn_risk else []
        if episodes and any(t.terminated for t in episodes):
            model = FailureRisk(obs.shape[1], seed=ctx.round)
            model.fit(episodes)
            risk_fn = model
            risk = max(quantile_threshold(model(obs), rate=self.risk_rate), 0.05)  # never on near-zero risk
            self.risk_thresholds.append(risk)
        return ThriftyGate(discrete=self.discrete, novelty_fn=disagreement, novelty=threshold, risk_fn=risk_fn,
                           risk=risk, labeler=ctx.budget, handback=handback, min_steps=self.min_intervention)


def _learner_states(data: Dataset) -> np.ndarray:
    """Observations (n, *O) at the steps the learner, not the expert, chose the action."""
    rows = [t.obs[:-1][~t.expert_acted] for t in data.episodes() if t.expert_acted is not None]
    return np.concatenate(rows) if rows else np.zeros((0, *data.obs_shape), np.float32)
