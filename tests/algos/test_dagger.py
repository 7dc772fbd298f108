"""DAgger: aggregates expert labels of the learner's own states, counts every label, obeys budgets."""

import numpy as np
import pytest

from mimetic.algos import bc, dagger
from mimetic.envs import make_expert, make_task
from mimetic.errors import ConfigError
from mimetic.policies import MLPConfig, MLPPolicy

FAST = bc.BCConfig(steps=200)


def _policy(task, seed=0):
    return MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(32, 32)), seed=seed)


def test_dagger_reaches_expert_on_cartpole_and_counts_labels():
    task = make_task("cartpole", num_envs=1)
    rounds = []
    res = dagger.fit(task, make_expert("cartpole"), _policy(task),
                     dagger.DAggerConfig(rounds=4, episodes_per_round=1, eval_episodes=10),
                     bc_config=FAST, eval_task=make_task("cartpole", num_envs=10), callback=rounds.append)
    assert len(res.rounds) == 4 and rounds == list(res.rounds)
    assert res.rounds[0].beta == 1.0 and all(r.beta == 0.0 for r in res.rounds[1:])
    labels = [r.labels for r in res.rounds]
    assert labels == sorted(labels) and labels[0] == 500  # one full expert episode in round 0
    assert res.labels == labels[-1] == res.rounds[-1].transitions  # every visited state labelled, kept
    assert res.expert_steps == 500  # the expert drove only in round 0 (beta 1 then 0)
    assert res.rounds[-1].normalized_score >= 0.95


def test_label_budget_stops_cleanly():
    task = make_task("pendulum", num_envs=2)
    res = dagger.fit(task, make_expert("pendulum"), _policy(task),
                     dagger.DAggerConfig(rounds=10, episodes_per_round=2, label_budget=700, eval_episodes=0),
                     bc_config=FAST)
    assert res.budget_spent and res.labels <= 700
    assert len(res.rounds) == 2  # 400 labels in round 0, round 1 cut at the budget
    assert res.rounds[-1].transitions == res.labels


def test_retrain_from_scratch_restores_initial_weights_each_round():
    task = make_task("cartpole", num_envs=1)
    pol = _policy(task)
    res = dagger.fit(task, make_expert("cartpole"), pol,
                     dagger.DAggerConfig(rounds=2, episodes_per_round=1, warm_start=False, eval_episodes=0),
                     bc_config=FAST)
    assert len(res.rounds) == 2


@pytest.mark.parametrize("bad", [dict(rounds=0), dict(label_budget=0), dict(beta0=-0.5), dict(beta_p=2.0),
                                 dict(eval_episodes=-1)])
def test_bad_config_is_one_line(bad):
    with pytest.raises(ConfigError):
        dagger.DAggerConfig(**bad)


def test_simulated_human_takes_over_on_deviation_and_hands_back_when_calm():
    from mimetic.oracle import LabelBudget, SimulatedHuman

    expert = lambda obs: np.zeros((len(obs), 1), np.float32)  # noqa: E731
    budget = LabelBudget(expert)
    human = SimulatedHuman(budget, discrete=False, deviation=0.5, release=0.5, calm_steps=2,
                           doubt_fn=lambda obs: np.full(len(obs), 0.25))
    human.reset(np.ones(2, bool))
    obs = np.zeros((2, 3), np.float32)
    far, near = np.array([[1.0], [0.0]]), np.array([[0.1], [0.0]])
    assert human(obs, far)[0].tolist() == [True, False]  # env 0 strays: take over
    assert human(obs, near)[0].tolist() == [True, False]  # calm 1 step
    assert human(obs, near)[0].tolist() == [False, False]  # calm 2 steps: hand back
    assert budget.labels == 0 and budget.watched == 6  # watching is not labelling
    assert human.doubts == [0.25] and human.tau() == 0.25


def test_hg_dagger_keeps_only_expert_driven_steps():
    task = make_task("driving", num_envs=2, max_steps=200)
    pol = MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(32, 32), ensemble=3), seed=0)
    gates = dagger.HGDAggerGates(discrete=False, deviation=0.05, doubt_fn=pol.disagreement)
    res = dagger.fit(task, make_expert("driving"), pol,
                     dagger.DAggerConfig(rounds=3, episodes_per_round=2, eval_episodes=0), bc_config=FAST, gate=gates)
    assert res.labels == res.expert_steps == res.rounds[-1].transitions
    assert res.labels < 3 * 2 * 200  # the learner drove part of rounds 1-2
    assert res.context_switches > 2 and gates.tau() is not None


def test_thrifty_asks_for_fewer_labels_than_dagger_on_pendulum():
    task = make_task("pendulum", num_envs=4)
    cfg = dagger.DAggerConfig(rounds=4, episodes_per_round=4, eval_episodes=0)
    labels = {}
    for mode in ("dagger", "thrifty"):
        pol = MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(32, 32), ensemble=4), seed=0)
        gate = dagger.ThriftyGates(pol, discrete=False, switch_rate=0.1) if mode == "thrifty" else None
        labels[mode] = dagger.fit(task, make_expert("pendulum"), pol, cfg, bc_config=FAST, gate=gate).labels
    assert labels["dagger"] == 4 * 4 * 200
    assert labels["thrifty"] < 0.6 * labels["dagger"]


def test_thrifty_needs_an_ensemble_and_a_valid_rate():
    task = make_task("pendulum")
    with pytest.raises(ConfigError, match="ensemble"):
        dagger.ThriftyGates(_policy(task), discrete=False)
    ens = MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(8,), ensemble=2))
    with pytest.raises(ConfigError, match="switch rate"):
        dagger.ThriftyGates(ens, discrete=False, switch_rate=1.5)


def test_failure_risk_learns_where_episodes_fail():
    from mimetic.types import Trajectory

    def episode(x0: float, terminated: bool) -> Trajectory:
        xs = np.linspace(x0, x0 + 1.0, 21, dtype=np.float32)[:, None]  # (T+1, 1)
        return Trajectory(obs=xs, acts=np.zeros((20, 1), np.float32), rewards=np.zeros(20),
                          terminated=terminated, truncated=not terminated)

    risk = dagger.FailureRisk(1, gamma=0.8, steps=400)
    risk.fit([episode(0.0, False), episode(5.0, True)] * 4)
    safe, late, early = risk(np.array([[0.5], [5.95], [5.0]], np.float32))
    assert late > 0.5 > safe  # just before the failure vs a state of a successful episode
    assert late > early  # discounting: the failure is far from the start of the failed episode
    with pytest.raises(ConfigError):
        dagger.FailureRisk(1, gamma=1.5)
