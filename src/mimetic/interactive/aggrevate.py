"""AggreVaTe (Ross & Bagnell 2014, "Reinforcement and Imitation Learning via Interactive No-Regret
Learning"): DAgger that learns from the expert's cost-to-go instead of its actions.

Algorithm 1 of the paper, top to bottom:

    D <- {} ; pi_hat_1 <- any policy
    for i = 1..N:
        pi_i = beta_i pi* + (1 - beta_i) pi_hat_i
        for j = 1..m:                                          # m = episodes_per_iteration
            t ~ U{0..T-1}; run pi_i from a fresh start up to s_t     # _roll_in (saves the state)
            explore actions a at s_t                          # every discrete action / K candidates
            take a, then the expert until the end or H steps   # cost_to_go, all a in parallel envs
            Q*(s_t, a) = -(sum of rewards)                     # negative reward: every task has one
        D <- D u {(s_t, a, Q*)}                                # aggregate, never replace
        pi_hat_{i+1} <- cost-sensitive learner on D            # _train

Cost-sensitive learner: the target at s is the cheapest explored action a* = argmin_a Q*(s, a) and
the sample weighs what choosing wrongly costs, w = max_a Q* - min_a Q* (exact for two actions, the
usual reduction for more; continuous: regression to the best candidate with the same weight).
``bc.fit`` trains on unweighted minibatches with ``policy.loss`` unchanged, so the weights enter by
cost-proportionate resampling (Zadrozny, Langford & Abe 2003): each fit sees |D| samples drawn
with probability w / sum(w), the weighted loss in expectation. Samples where every explored action
costs the same (w = 0) say nothing about which action to prefer and are never drawn.

Stepping: every environment step goes through :func:`mimetic.rollout.rollout_episodes`, so
rollout.py stays the one loop that steps and resets tasks. A roll-in is a rollout whose episode
``k`` stops at its sampled time (``stop_at``), the expert acting (and only then asked) where a
:class:`BetaGate` draws it, with the simulator state recorded at every step (``record_states``)
to restart from. An episode that ends at length L <= t has t redrawn from U{0..L-1}: t is then
exactly uniform over the episode's decision steps, and no roll-in runs (or spends expert labels)
past its sampled time. A cost-to-go rollout starts each explored pair from its saved state
(``start_states``), executes the explored action first, then hands over to the expert (a gate that
takes over from each episode's second step) for at most ``ctg_horizon`` steps (``stop_at``).
Each batch of ``num_envs`` roll-ins or pairs is one rollout, episode k on env k, so episode k's
beta coin flips are always column k of each step's draw. Q sums the rewards left to right from
0.0: ``np.sum`` (``Trajectory.ret``) adds pairwise and would change the last bits of Q.

Counting (DESIGN.md rule 6): the expert acts in the roll-in (probability beta per step) and for
every step of every cost-to-go rollout; each such action is one ``budget.label`` row and one
expert step, and each cost-to-go rollout is one expert take-over (context switch). When the budget
cannot cover a step the iteration stops, samples with an unfinished cost-to-go are dropped (their
labels stay counted), and the policy trains on what was gathered.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from mimetic import seeding, trainstate
from mimetic.algos import bc
from mimetic.data.dataset import MIN_OBS_STD
from mimetic.envs.base import BatchedTask, TaskSpec
from mimetic.errors import ConfigError, TaskError
from mimetic.interactive.budget import LabelBudget
from mimetic.interactive.gates.beta import BETA_SCHEDULES, BetaGate, beta_at
from mimetic.interactive.loop import (
    CheckpointHook,
    InteractiveResult,
    Resumable,
    RoundOutcome,
    RoundRecord,
    State,
    check_common,
    run_rounds,
)
from mimetic.protocols import Expert, Gate, Policy, TrainablePolicy
from mimetic.rollout import Scorer, rollout_episodes
from mimetic.types import BCResult


@dataclass(frozen=True)
class AggreVaTeConfig:
    """Options of the AggreVaTe loop (the learner's fit inside each iteration has its own BCConfig)."""

    iterations: int = 10
    """Data-collection iterations; the policy is retrained on all data after each."""

    episodes_per_iteration: int = 32
    """Roll-ins per iteration, each giving one explored state (m in Algorithm 1)."""

    candidates: int = 8
    """Continuous tasks: actions explored per state (the learner's, Gaussian perturbations of it and
    uniform draws within the bounds). Discrete tasks always explore every action."""

    explore_std: float = 0.3
    """Continuous tasks: std of the Gaussian perturbations, as a fraction of the action half-range."""

    expert_candidate: bool = False
    """Continuous tasks: also explore the expert's own action at each state (one more label each)."""

    ctg_horizon: int | None = 50
    """Steps summed into each cost-to-go, the explored action's included (None: to the episode's end).
    Each explored action costs up to ctg_horizon - 1 labels, so this sets AggreVaTe's label bill."""

    beta_schedule: Literal["constant", "exponential", "one-then-zero", "linear"] = "constant"
    """Expert share of the roll-in policy: beta0; beta0 * p^i; 1 then 0; or 1 - i/iterations."""

    beta0: float = 0.0
    """Beta for the constant and exponential schedules (0: the learner alone rolls in, the paper's
    practical choice; its mistakes lead to the states where actions' costs differ)."""

    beta_p: float = 0.5
    """Decay p of the exponential schedule."""

    label_budget: int | None = None
    """Stop cleanly once the expert has been asked for this many actions (None: no limit)."""

    eval_episodes: int = 20
    """Evaluation episodes after each iteration (not counted as labels or training time; 0: skip)."""

    keep_best: bool = True
    """Return the iteration's policy with the best evaluation return, not the last (Algorithm 1's
    "return the best pi_hat_i on validation"; needs eval_episodes > 0)."""

    seed: int = 0
    """Seed of start states, sampled times, exploration, beta coin flips and the learner's fits."""

    def __post_init__(self) -> None:
        for name in ("iterations", "episodes_per_iteration"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.candidates < 2:
            raise ConfigError(f"candidates must be >= 2 (costs are compared), got {self.candidates}")
        if not self.explore_std > 0:
            raise ConfigError(f"explore_std must be > 0, got {self.explore_std}")
        if self.ctg_horizon is not None and self.ctg_horizon < 1:
            raise ConfigError(f"ctg_horizon must be >= 1 (or None), got {self.ctg_horizon}")
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ConfigError(f"beta_schedule must be one of {', '.join(BETA_SCHEDULES)}, got {self.beta_schedule!r}")
        if not (0 <= self.beta0 <= 1 and 0 <= self.beta_p <= 1):
            raise ConfigError(f"beta0 and beta_p must be in [0, 1], got {self.beta0} and {self.beta_p}")
        check_common(label_budget=self.label_budget, eval_episodes=self.eval_episodes)


def fit(
    task: BatchedTask,
    expert: Expert,
    policy: TrainablePolicy,
    config: AggreVaTeConfig = AggreVaTeConfig(),
    *,
    bc_config: bc.BCConfig = bc.BCConfig(steps=1000),
    eval_task: BatchedTask | None = None,
    callback: Callable[[RoundRecord], None] | None = None,
    progress: bool = False,
    resume: State | None = None,
    checkpoint: CheckpointHook | None = None,
) -> InteractiveResult:
    """Run AggreVaTe on ``task`` and train ``policy`` in place (warm, on all data so far).

    ``task`` must save and restore its state (get_state/set_state); its ``num_envs`` sets how many
    roll-ins and cost-to-go rollouts run in parallel (e.g. 32). ``eval_task`` (default ``task``)
    measures each iteration's policy against the expert and a random policy.
    """
    check_restorable(task, "AggreVaTe")
    budget = LabelBudget(expert, limit=config.label_budget)
    rng = np.random.default_rng(config.seed)
    data = CostData(task.spec)

    def one_iteration(i: int) -> RoundOutcome:
        beta = beta_at(config.beta_schedule, i, beta0=config.beta0, p=config.beta_p, rounds=config.iterations)
        states, obs = _roll_in(task, policy, budget, episodes=config.episodes_per_iteration, rng=rng, beta=beta,
                               seed=seeding.EPISODES(config.seed, i * config.episodes_per_iteration))  # fresh starts
        cands = _candidates(task.spec, policy, budget, obs, config=config, rng=rng)  # (M, K, *A)
        q, done = _explore(task, budget, states, cands, horizon=config.ctg_horizon)  # (M, K), (M,)
        data.extend(obs[done], cands[done], q[done])  # aggregate: D <- D u D_i
        _train(policy, data, bc_config, seed=seeding.FITS(config.seed, i))
        return RoundOutcome(beta=beta, transitions=data.n, learner=policy)

    scorer = Scorer.make(eval_task or task, expert, episodes=config.eval_episodes)
    best = _Best(policy, enabled=config.keep_best and scorer is not None)

    def on_record(record: RoundRecord) -> None:
        best.offer(record.return_mean)
        if callback is not None:
            callback(record)

    def snapshot() -> State:
        tensors = {**trainstate.policy_tensors(policy, "policy"), **trainstate.global_rng_tensors(),
                   **trainstate.array_tensors({"obs": data.obs, "cands": data.cands, "q": data.q}, "data")}
        if best.state is not None:
            tensors.update({f"best.{k}": v.detach().clone() for k, v in best.state.items()})
        return tensors, {"rng": trainstate.numpy_rng_state(rng), "best_score": best.score,
                         "has_best": best.state is not None}

    def restore(state: State) -> None:
        tensors, meta = state
        trainstate.load_policy(policy, tensors, "policy")
        trainstate.load_global_rng(tensors)
        arrays = trainstate.tensor_arrays(tensors, "data")
        data.obs, data.cands, data.q = arrays["obs"].copy(), arrays["cands"].copy(), arrays["q"].copy()
        trainstate.load_numpy_rng(rng, meta["rng"])
        best.score = -np.inf if meta["best_score"] is None else float(meta["best_score"])
        if meta["has_best"]:
            best.state = {k[len("best."):]: v.clone() for k, v in tensors.items() if k.startswith("best.")}

    res = run_rounds(one_iteration, rounds=config.iterations, budget=budget, scorer=scorer, desc="aggrevate",
                     unit="it", callback=on_record, progress=progress, resumable=Resumable(snapshot, restore),
                     resume=resume, checkpoint=checkpoint)
    best.restore()
    return res


class _Best:
    """Keeps the weights of the best-scoring iteration (a torch policy) to restore at the end."""

    def __init__(self, policy: TrainablePolicy, *, enabled: bool) -> None:
        self.policy = policy if enabled and isinstance(policy, torch.nn.Module) else None
        self.score, self.state = -np.inf, None

    def offer(self, score: float | None) -> None:
        if self.policy is not None and score is not None and score > self.score:
            self.score = score
            self.state = copy.deepcopy(self.policy.state_dict())

    def restore(self) -> None:
        if self.policy is not None and self.state is not None:
            self.policy.load_state_dict(self.state)


def check_restorable(task: BatchedTask, who: str) -> None:
    """One-line TaskError, before any work, when ``task`` cannot save and restore its state."""
    try:
        task.set_state(task.get_state())
    except TaskError:
        raise TaskError(f"{who} needs a task that can save and restore its state (get_state/set_state); "
                        f"{task.spec.name!r} cannot") from None


# ----------------------------------------------------------------------------- roll-in


def _roll_in(task: BatchedTask, policy: Policy, budget: LabelBudget, *, episodes: int, seed: int,
             beta: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Run pi_i from fresh starts (reset seeds ``seed + k``) to a uniform time in each episode;
    returns the simulator states (M, S) and observations (M, *O) there, M <= ``episodes`` (fewer
    only when the label budget stopped a roll-in that needed the expert)."""
    states, obs = [], []
    for first in range(0, episodes, task.num_envs):
        n = min(task.num_envs, episodes - first)
        s, o = _roll_in_batch(task, policy, budget, n=n, seed=seed + first, beta=beta, rng=rng)
        states.append(s)
        obs.append(o)
        if budget.exhausted:
            break
    return np.concatenate(states), np.concatenate(obs)


def _roll_in_batch(task: BatchedTask, policy: Policy, budget: LabelBudget, *, n: int, seed: int,
                   beta: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One batch of roll-ins: episodes ``[0, n)`` on envs ``[0, n)`` (the rest idle), each
    stopped at its sampled time; the expert acts with probability beta per step and env."""
    b, horizon = task.num_envs, task.spec.max_steps
    target = rng.integers(0, horizon, size=b)  # (B,) Algorithm 1: t ~ U{0..T-1}
    gate = _AskWhereActing(BetaGate(beta, rng=rng))  # draws for all B envs each step, as rollout asks
    run = rollout_episodes(task, policy, episodes=n, seed=seed, labeler=budget, gate=gate, stop_at=target[:n],
                           record_states=True)
    assert run.states is not None
    length = np.full(b, horizon)  # (B,) episode length, where it ended before its target
    ended, ok = np.zeros(b, bool), np.zeros(b, bool)  # ended early; reached its target or ended
    for k, traj in zip(run.index.tolist(), run.trajectories):
        # A fresh start truncates only at max_steps > target, so the task never truncates a roll-in:
        # a truncated one shorter than its target was cut by the budget (and is dropped).
        ended[k] = traj.terminated
        ok[k] = traj.terminated or len(traj) == target[k]
        length[k] = len(traj) if traj.terminated else horizon
    assert run.budget_stopped or ok[:n].all()
    when = np.where(ended, rng.integers(0, np.maximum(length, 1)), target)  # (B,) redraw t in [0, L)
    where = dict(zip(run.index.tolist(), range(len(run.index))))
    keep = np.flatnonzero(ok)
    states = np.zeros((len(keep), *task.get_state().shape[1:]))  # (M, S)
    obs = np.zeros((len(keep), *task.spec.observation_space.shape), np.float32)  # (M, *O)
    for i, k in enumerate(keep.tolist()):
        states[i], obs[i] = run.states[where[k]][when[k]], run.trajectories[where[k]].obs[when[k]]
    return states, obs


class _AskWhereActing:
    """A gate's hand-overs without its other queries: the expert is asked only where it acts. The
    roll-in mixes the expert in (DAgger's BetaGate) but learns nothing from labels."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        take, _ = self.gate(obs, learner_acts)
        return take, take

    def reset(self, mask: np.ndarray) -> None:
        self.gate.reset(mask)


# ----------------------------------------------------------------------------- exploration


def _candidates(spec: TaskSpec, policy: Policy, budget: LabelBudget, obs: np.ndarray, *,
                config: AggreVaTeConfig, rng: np.random.Generator) -> np.ndarray:
    """Exploration actions at each sampled state: discrete, every action (M, n); continuous, K
    candidates (M, K, *A) from :func:`candidate_actions`, plus the expert's action if asked."""
    m = len(obs)
    if spec.discrete:
        return np.broadcast_to(np.arange(spec.act_dim, dtype=np.int64), (m, spec.act_dim)).copy()
    learner = policy.act(obs) if m else np.zeros((0, *spec.action_space.shape), np.float32)  # (M, *A)
    cands = candidate_actions(spec, learner, k=config.candidates, std=config.explore_std, rng=rng)
    if not config.expert_candidate:
        return cands
    # Budget spent: the learner's action stands in, so every state keeps K + 1 candidates.
    extra = budget.label(obs) if budget.can_cover(m) else learner  # (M, *A)
    return np.concatenate([cands, extra[:, None]], axis=1)  # (M, K + 1, *A)


def candidate_actions(spec: TaskSpec, learner: np.ndarray, *, k: int, std: float,
                      rng: np.random.Generator) -> np.ndarray:
    """K continuous candidates per state (M, K, *A): the learner's action, then Gaussian
    perturbations of it (std ``std`` times the half-range) and uniform draws within the bounds,
    half each; all clipped to the bounds."""
    space = spec.action_space
    low = np.broadcast_to(space.low, space.shape).astype(np.float64)  # type: ignore[attr-defined]
    high = np.broadcast_to(space.high, space.shape).astype(np.float64)  # type: ignore[attr-defined]
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise TaskError(f"exploring continuous actions needs a bounded action space; {spec.name!r} is unbounded")
    m, n_gauss = len(learner), k // 2
    base = learner.astype(np.float64)[:, None]  # (M, 1, *A)
    gauss = base + rng.normal(size=(m, n_gauss, *space.shape)) * std * (high - low) / 2  # (M, G, *A)
    unif = rng.uniform(low, high, size=(m, k - 1 - n_gauss, *space.shape))  # (M, U, *A)
    return np.clip(np.concatenate([base, gauss, unif], axis=1), low, high).astype(np.float32)  # (M, K, *A)


def _explore(task: BatchedTask, budget: LabelBudget, states: np.ndarray, cands: np.ndarray, *,
             horizon: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Q* of every candidate at every state, (M, K), and (M,) whether all K finished."""
    m, k = cands.shape[:2]
    pairs = cands.reshape(m * k, *cands.shape[2:])  # (M K, *A), state-major
    q, complete = cost_to_go(task, budget, np.repeat(states, k, axis=0), pairs, horizon=horizon)
    return q.reshape(m, k), complete.reshape(m, k).all(axis=1)


def cost_to_go(task: BatchedTask, budget: LabelBudget, states: np.ndarray, actions: np.ndarray, *,
               horizon: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Q*(s, a) = -(sum of rewards) of taking ``actions`` (P, *A) in ``states`` (P, S), then letting
    the expert act, ``horizon`` steps in all (None: until the episode ends). Pairs run
    ``task.num_envs`` at a time. Returns (q (P,), complete (P,) bool); complete is False where the
    label budget ran out first (those q are partial sums)."""
    p, b = len(states), task.num_envs
    q, complete = np.zeros(p), np.zeros(p, bool)
    for first in range(0, p, b):
        rows = slice(first, min(first + b, p))
        q[rows], complete[rows] = _cost_to_go_batch(task, budget, states[rows], actions[rows], horizon=horizon)
        if budget.exhausted:
            break
    return q, complete


def _cost_to_go_batch(task: BatchedTask, budget: LabelBudget, states: np.ndarray, actions: np.ndarray, *,
                      horizon: int | None) -> tuple[np.ndarray, bool]:
    """Pairs ``[0, n)`` on envs ``[0, n)`` (the rest idle): (q (n,), whether the budget let every
    rollout finish)."""
    n, b = len(states), task.num_envs
    acts = np.concatenate([actions, np.repeat(actions[:1], b - n, axis=0)])  # (B, *A) idle envs pad
    # Without a horizon, max_steps steps always reach the end: the state carries its step counter.
    steps = horizon if horizon is not None else task.spec.max_steps
    run = rollout_episodes(task, _Explored(acts), episodes=n, labeler=budget, gate=_ExpertFromSecondStep(b),
                           start_states=states, stop_at=np.full(n, steps))
    total = np.zeros(n)  # (n,) sum of rewards (partial where the budget cut a rollout short)
    for k, traj in zip(run.index.tolist(), run.trajectories):
        # left to right from 0.0, as the rewards came: np.sum's pairwise order changes the last bits
        total[k] = np.cumsum(np.concatenate([[0.0], traj.rewards]))[-1]
    return -total, not run.budget_stopped


class _Explored:
    """The policy of a cost-to-go rollout: env i's explored action, always (the gate hands over
    to the expert after the first step, so only the first is executed)."""

    def __init__(self, actions: np.ndarray) -> None:
        self.actions = actions  # (B, *A)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.actions

    def reset(self, mask: np.ndarray) -> None:
        pass


class _ExpertFromSecondStep:
    """The gate of a cost-to-go rollout: the explored action at an episode's first step, then the
    expert (acting, so labelled and counted) until it ends: one take-over per rollout."""

    def __init__(self, num_envs: int) -> None:
        self.steps = np.zeros(num_envs, np.int64)  # (B,) steps taken in the current episode

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        take = self.steps >= 1
        self.steps += 1
        return take, take

    def reset(self, mask: np.ndarray) -> None:
        self.steps[mask] = 0


# ----------------------------------------------------------------------------- learner


class CostData:
    """D: explored states, their candidate actions and the candidates' cost-to-go, aggregated."""

    def __init__(self, spec: TaskSpec) -> None:
        a_shape = () if spec.discrete else tuple(spec.action_space.shape or ())
        a_type = np.int64 if spec.discrete else np.float32
        self.obs = np.zeros((0, *spec.observation_space.shape), np.float32)  # (N, *O)
        self.cands = np.zeros((0, 0, *a_shape), a_type)  # (N, K, *A)
        self.q = np.zeros((0, 0))  # (N, K) cost-to-go, lower is better

    @property
    def n(self) -> int:
        return len(self.obs)

    def extend(self, obs: np.ndarray, cands: np.ndarray, q: np.ndarray) -> None:
        if self.n == 0:
            self.cands, self.q = self.cands.reshape(0, *cands.shape[1:]), self.q.reshape(0, q.shape[1])
        self.obs = np.concatenate([self.obs, obs])
        self.cands = np.concatenate([self.cands, cands])
        self.q = np.concatenate([self.q, q])

    def targets(self) -> tuple[np.ndarray, np.ndarray]:
        """The cheapest candidate a* (N, *A) and the cost gap w = max Q - min Q (N,)."""
        best = self.cands[np.arange(self.n), np.argmin(self.q, axis=1)] if self.n else self.cands[:, 0]
        gap = self.q.max(axis=1) - self.q.min(axis=1) if self.n else np.zeros(0)
        return best, gap

    def obs_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Normaliser statistics over every explored state (informative or not)."""
        std = self.obs.std(axis=0, dtype=np.float64)
        return self.obs.mean(axis=0).astype(np.float32), np.where(std < MIN_OBS_STD, 1.0, std).astype(np.float32)


@dataclass(frozen=True)
class _Drawn:
    """What ``bc.fit`` reads (a TransitionSource): cost-proportionate draws from D."""

    obs: np.ndarray  # (N, *O)
    acts: np.ndarray  # (N, *A)
    stats: tuple[np.ndarray, np.ndarray]

    def transitions(self) -> tuple[np.ndarray, np.ndarray]:
        return self.obs, self.acts

    def obs_stats(self) -> tuple[np.ndarray, np.ndarray]:
        return self.stats


def _train(policy: TrainablePolicy, data: CostData, config: bc.BCConfig, *, seed: int) -> BCResult | None:
    """Fit on |D| draws with probability proportional to the cost gap; None (policy unchanged)
    while no explored state has told actions apart yet."""
    best, gap = data.targets()
    if gap.sum() <= 0:
        return None
    idx = np.random.default_rng(seed).choice(data.n, size=data.n, p=gap / gap.sum())  # (N,)
    return bc.fit(policy, _Drawn(data.obs[idx], best[idx], data.obs_stats()), replace(config, seed=seed))

