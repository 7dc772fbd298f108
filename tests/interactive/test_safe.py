"""EnsembleDAgger and LazyDAgger gates on real runs."""

import numpy as np
import pytest

from mimetic.algos import bc
from mimetic.interactive import dagger
from mimetic.interactive.gates import ensemble as safe_ensemble
from mimetic.interactive.gates import lazy as safe_lazy
from mimetic.interactive.risk import safety_classifier
from mimetic.envs import make_expert, make_task
from mimetic.errors import ConfigError
from mimetic.interactive.budget import LabelBudget
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
