"""EnsembleDAgger and LazyDAgger gates on real runs."""

import numpy as np
import pytest

from mimetic.algos import bc
from mimetic.envs import make_expert, make_task
from mimetic.errors import ConfigError
from mimetic.interactive import dagger
from mimetic.interactive.budget import LabelBudget
from mimetic.interactive.gates import ensemble as safe_ensemble
from mimetic.interactive.gates import lazy as safe_lazy
from mimetic.interactive.risk import safety_classifier
from mimetic.policies import MLPConfig, MLPPolicy

FAST = bc.BCConfig(steps=200, lr=1e-2)


def test_ensemble_gate_lets_the_learner_act_only_when_sure_and_close():
    expert = make_expert("pendulum")
    budget = LabelBudget(expert)
    gate = safe_ensemble.EnsembleGate(budget, discrete=False, doubt_fn=lambda o: o[:, 2], tau=0.5, chi=0.1)
    obs = np.array([[1, 0, 0.0], [1, 0, 0.9], [1, 0, 0.0]], np.float32)  # third: learner far off
    learner = expert(obs).copy()
    learner[2] += 1.0
    take, query = gate(obs, learner)
    assert take.tolist() == [False, True, True] and query.all()
    assert budget.watched == 3 and budget.labels == 0  # the look is not a label


def test_ensemble_dagger_labels_everything_and_fails_less_while_training():
    task = make_task("cartpole", num_envs=4)
    cfg = dagger.DAggerConfig(rounds=3, episodes_per_round=4, eval_episodes=0, seed=0)
    results = {}
    for mode in ("dagger", "ensemble"):
        pol = MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(16,), ensemble=3), seed=0)
        gate = safe_ensemble.EnsembleDAggerGates(pol, discrete=True, chi=0.5) if mode == "ensemble" else None
        results[mode] = dagger.fit(task, make_expert("cartpole"), pol, cfg, bc_config=bc.BCConfig(steps=20),
                                   gate=gate)
    ens, dag = results["ensemble"], results["dagger"]
    assert ens.labels == ens.rounds[-1].transitions  # every visited state labelled and aggregated
    assert ens.expert_steps > 4 * 500  # the expert also drove after round 0
    # expert take-overs keep the pole up: training episodes last longer than plain DAgger's
    assert ens.labels / (3 * 4) > dag.labels / (3 * 4)


def test_lazy_dagger_labels_less_than_dagger_with_few_switches():
    task = make_task("pendulum", num_envs=4)
    cfg = dagger.DAggerConfig(rounds=4, episodes_per_round=4, eval_episodes=0, seed=0)
    pol = MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(32, 32)), seed=0)
    gates = safe_lazy.LazyDAggerGates(pol, discrete=False, unsafe_rate=0.1)
    res = dagger.fit(task, make_expert("pendulum"), pol, cfg, bc_config=FAST, gate=gates)
    assert len(gates.beta_h) == 3 and all(b > 0 for b in gates.beta_h)
    assert 4 * 200 < res.labels < 0.6 * 4 * 4 * 200  # round 0 plus some, well under DAgger's 3200
    beyond = res.labels - 4 * 200
    assert res.context_switches <= beyond  # interventions, not single-step flickers


def test_safety_classifier_separates_unsafe_states():
    x = np.linspace(-1, 1, 200, dtype=np.float32)[:, None]
    clf = safety_classifier(x, x[:, 0] > 0.8, steps=300)  # 10% unsafe
    low, high = clf(np.array([[-0.5], [0.95]], np.float32))
    assert high > 0.5 > low


def test_bad_options():
    task = make_task("pendulum")
    single = MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(8,)))
    with pytest.raises(ConfigError, match="ensemble"):
        safe_ensemble.EnsembleDAggerGates(single, discrete=False, chi=0.1)
    with pytest.raises(ConfigError):
        safe_lazy.LazyDAggerGates(single, discrete=False, release=0.0)
    with pytest.raises(ConfigError):
        safe_lazy.LazyDAggerGates(single, discrete=False, unsafe_rate=1.0)


class _Leaning:
    """A learner whose action gap from the (zero) expert grows with x where x > 0: unsafe on the right."""

    def act(self, obs):
        return np.maximum(obs[:, :1], 0.0).astype(np.float32)  # (B, 1)


def _lazy_gate(**options):
    """LazyDAgger's round-1 gate, calibrated on 200 labelled states x in [-1, 1] (expert: 0)."""
    from mimetic.data import Dataset
    from mimetic.interactive.gates.common import RoundContext
    from mimetic.types import Trajectory

    x = np.linspace(-1, 1, 201, dtype=np.float32)[:, None]  # (T+1, 1)
    zeros = np.zeros((200, 1), np.float32)
    data = Dataset.from_trajectories([Trajectory(obs=x, acts=zeros, rewards=np.zeros(200), terminated=False,
                                                 truncated=True, labels=zeros, labeled=np.ones(200, bool))],
                                     targets="labels")
    budget = LabelBudget(lambda obs: np.zeros((len(obs), 1), np.float32))
    gates = safe_lazy.LazyDAggerGates(_Leaning(), discrete=False, unsafe_rate=0.1, **options)
    gate = gates(RoundContext(1, np.random.default_rng(0), budget, data))
    gate.reset(np.ones(1, bool))
    (beta_h,) = gates.beta_h
    # the states are x = -1 + i/100, i < 200, with squared gaps max(x, 0)^2; their 0.9 quantile
    # (position 0.9 * 199 = 179.1) lies 0.1 of the way from x = 0.79 (i = 179) to x = 0.80
    assert beta_h == pytest.approx(0.9 * 0.79 ** 2 + 0.1 * 0.80 ** 2, rel=1e-5)
    return gate, beta_h


UNSAFE, SAFE = np.array([[0.95]], np.float32), np.array([[-0.5]], np.float32)


def _gap(squared):
    """A learner action at squared distance ``squared`` from the expert's 0."""
    return np.array([[np.sqrt(squared)]], np.float32)


def test_lazy_gate_hands_back_only_below_the_lower_release_threshold():
    gate, beta_h = _lazy_gate(release=0.5)
    assert gate(UNSAFE, _gap(beta_h * 1.5))[0].tolist() == [True]  # the classifier says unsafe: take over
    # the classifier says safe again and the gap is under beta_h but above beta_r = 0.5 beta_h:
    # hysteresis keeps the expert in control (with hand-back at beta_h it would let go here)
    assert gate(SAFE, _gap(beta_h * 0.75))[0].tolist() == [True]
    assert gate(SAFE, _gap(beta_h * 0.75))[0].tolist() == [True]
    assert gate(SAFE, _gap(beta_h * 0.25))[0].tolist() == [False]  # below beta_r: hand back
    assert gate(SAFE, _gap(beta_h * 0.75))[0].tolist() == [False]  # the learner drives until unsafe again


def test_lazy_gate_without_hysteresis_lets_go_at_beta_h():
    gate, beta_h = _lazy_gate(release=1.0)
    assert gate(UNSAFE, _gap(beta_h * 1.5))[0].tolist() == [True]
    assert gate(SAFE, _gap(beta_h * 1.5))[0].tolist() == [True]  # still too far off
    assert gate(SAFE, _gap(beta_h * 0.75))[0].tolist() == [False]


def test_lazy_gate_keeps_the_expert_for_the_minimum_intervention():
    gate, _ = _lazy_gate(min_intervention=3)
    took = [gate(UNSAFE if t == 0 else SAFE, _gap(0.0))[0].tolist() for t in range(5)]
    assert took == [[True], [True], [True], [False], [False]]  # 3 steps although the gap is 0 at once
