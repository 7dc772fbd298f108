"""DAgger: aggregates expert labels of the learner's own states, counts every label, obeys budgets."""

import numpy as np
import pytest

from fakes import FitSpy, same_weights, weights
from mimetic.algos import bc
from mimetic.envs import make_expert, make_task
from mimetic.errors import ConfigError
from mimetic.interactive import dagger
from mimetic.interactive.gates.human import HGDAggerGates
from mimetic.interactive.gates.thrifty import ThriftyGates
from mimetic.interactive.risk import failure_risk
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


def test_retrain_from_scratch_restores_initial_weights_each_round(monkeypatch):
    spy = FitSpy(bc.fit)
    monkeypatch.setattr(bc, "fit", spy)
    task = make_task("cartpole", num_envs=1)
    pol = _policy(task)
    initial = weights(pol)
    res = dagger.fit(task, make_expert("cartpole"), pol,
                     dagger.DAggerConfig(rounds=3, episodes_per_round=1, warm_start=False, eval_episodes=0),
                     bc_config=FAST)
    assert len(res.rounds) == 3 and len(spy.starts) == 3
    # every round's refit starts from the weights the policy had before round 0, not the last fit's
    assert all(same_weights(start, initial) for start in spy.starts)
    assert not same_weights(spy.ends[0], initial)  # (the fits do move the weights)
    assert same_weights(weights(pol), spy.ends[-1])


def test_warm_start_continues_from_the_previous_rounds_weights(monkeypatch):
    spy = FitSpy(bc.fit)
    monkeypatch.setattr(bc, "fit", spy)
    task = make_task("cartpole", num_envs=1)
    pol = _policy(task)
    initial = weights(pol)
    dagger.fit(task, make_expert("cartpole"), pol,
               dagger.DAggerConfig(rounds=3, episodes_per_round=1, eval_episodes=0), bc_config=FAST)
    assert same_weights(spy.starts[0], initial)
    assert all(same_weights(start, end) for start, end in zip(spy.starts[1:], spy.ends[:-1]))


@pytest.mark.parametrize("bad", [{"rounds": 0}, {"label_budget": 0}, {"beta0": -0.5}, {"beta_p": 2.0},
                                 {"eval_episodes": -1}])
def test_bad_config_is_one_line(bad):
    with pytest.raises(ConfigError):
        dagger.DAggerConfig(**bad)


def test_simulated_human_takes_over_on_deviation_and_hands_back_when_calm():
    from mimetic.interactive.budget import LabelBudget
    from mimetic.interactive.gates.human import SimulatedHuman

    def expert(obs):
        return np.zeros((len(obs), 1), np.float32)

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
    gates = HGDAggerGates(discrete=False, deviation=0.05, doubt_fn=pol.disagreement)
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
        gate = ThriftyGates(pol, discrete=False, switch_rate=0.1) if mode == "thrifty" else None
        labels[mode] = dagger.fit(task, make_expert("pendulum"), pol, cfg, bc_config=FAST, gate=gate).labels
    assert labels["dagger"] == 4 * 4 * 200
    assert labels["thrifty"] < 0.6 * labels["dagger"]


def test_thrifty_needs_an_ensemble_and_a_valid_rate():
    task = make_task("pendulum")
    with pytest.raises(ConfigError, match="ensemble"):
        ThriftyGates(_policy(task), discrete=False)
    ens = MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(8,), ensemble=2))
    with pytest.raises(ConfigError, match="switch rate"):
        ThriftyGates(ens, discrete=False, switch_rate=1.5)


def test_failure_risk_learns_where_episodes_fail():
    from mimetic.types import Trajectory

    def episode(x0: float, terminated: bool) -> Trajectory:
        xs = np.linspace(x0, x0 + 1.0, 21, dtype=np.float32)[:, None]  # (T+1, 1)
        return Trajectory(obs=xs, acts=np.zeros((20, 1), np.float32), rewards=np.zeros(20),
                          terminated=terminated, truncated=not terminated)

    risk = failure_risk([episode(0.0, False), episode(5.0, True)] * 4, gamma=0.8, steps=400)
    safe, late, early = risk(np.array([[0.5], [5.95], [5.0]], np.float32))
    assert late > 0.5 > safe  # just before the failure vs a state of a successful episode
    assert late > early  # discounting: the failure is far from the start of the failed episode
    with pytest.raises(ConfigError):
        failure_risk([], gamma=1.5)


def test_thrifty_gate_hands_back_below_its_threshold_after_min_steps():
    from mimetic.interactive.budget import LabelBudget
    from mimetic.interactive.gates.thrifty import ThriftyGate

    budget = LabelBudget(lambda obs: np.zeros((len(obs), 1), np.float32))
    novelty = iter([[1.0, 0.0]] + [[0.0, 0.0]] * 4)  # env 0 novel at the first step only
    gate = ThriftyGate(discrete=False, novelty_fn=lambda obs: np.array(next(novelty)), novelty=0.5,
                       labeler=budget, handback=0.01, min_steps=3)
    gate.reset(np.ones(2, bool))
    obs = np.zeros((2, 3), np.float32)
    close = np.array([[0.05], [0.0]])  # squared gap 0.0025 < 0.01
    took = [gate(obs, close)[0].tolist() for _ in range(5)]
    assert took == [[True, False], [True, False], [True, False], [False, False], [False, False]]
    assert budget.watched == 1  # the expert's action is looked at only once the minimum is driven


def test_thrifty_gate_keeps_control_while_the_learner_is_far_off():
    from mimetic.interactive.budget import LabelBudget
    from mimetic.interactive.gates.thrifty import ThriftyGate

    budget = LabelBudget(lambda obs: np.zeros((len(obs), 1), np.float32))
    gate = ThriftyGate(discrete=False, novelty_fn=lambda obs: np.ones(len(obs)), novelty=0.5, labeler=budget,
                       handback=0.01)
    gate.reset(np.ones(1, bool))
    obs = np.zeros((1, 3), np.float32)
    assert gate(obs, np.array([[0.3]]))[0].tolist() == [True]
    gate.novelty_fn = lambda obs: np.zeros(len(obs))  # familiar again, but the learner still disagrees
    assert gate(obs, np.array([[0.3]]))[0].tolist() == [True]
    assert gate(obs, np.array([[0.05]]))[0].tolist() == [False]


def test_demo_labels_cut_round_zero_without_spending_the_budget():
    task = make_task("pendulum", num_envs=2)
    res = dagger.fit(task, make_expert("pendulum"), _policy(task),
                     dagger.DAggerConfig(rounds=2, episodes_per_round=2, demo_labels=60, label_budget=1000,
                                         eval_episodes=0), bc_config=FAST)
    assert res.rounds[0].labels == 60  # two demonstrations cut at 30 steps each
    assert res.rounds[1].labels == 60 + 2 * 200 and not res.budget_spent  # round 1 runs full episodes


@pytest.mark.parametrize("options", [{"calibrate": "learner", "handback": "discrepancy", "min_intervention": 3},
                                     {"calibrate": "data", "handback": "novelty"}])
def test_thrifty_thresholds_from_the_learners_states_or_the_data(options):
    task = make_task("driving", num_envs=2, max_steps=100)
    pol = MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(32, 32), ensemble=3), seed=0)
    gates = ThriftyGates(pol, discrete=False, switch_rate=0.1, **options)
    res = dagger.fit(task, make_expert("driving"), pol,
                     dagger.DAggerConfig(rounds=3, episodes_per_round=2, eval_episodes=0), bc_config=FAST, gate=gates)
    assert len(gates.thresholds) == len(gates.handbacks) == 2  # rounds 1 and 2
    assert all(t > 0 for t in gates.thresholds + gates.handbacks)
    if options["handback"] == "novelty":
        assert gates.handbacks == gates.thresholds
    assert res.labels == res.expert_steps and res.rounds[-1].watched > 0


@pytest.mark.parametrize("bad", [{"calibrate": "held-out"}, {"handback": "risk"}, {"min_intervention": 0}])
def test_thrifty_rejects_bad_options(bad):
    ens = MLPPolicy.for_spec(make_task("pendulum").spec, MLPConfig(hidden=(8,), ensemble=2))
    with pytest.raises(ConfigError):
        ThriftyGates(ens, discrete=False, **bad)


def test_hg_dagger_reports_watched_states():
    task = make_task("driving", num_envs=1, max_steps=100)
    pol = _policy(task)
    res = dagger.fit(task, make_expert("driving"), pol,
                     dagger.DAggerConfig(rounds=2, episodes_per_round=1, eval_episodes=0), bc_config=FAST,
                     gate=HGDAggerGates(discrete=False, deviation=0.05))
    assert res.rounds[0].watched == 0  # round 0: demonstrations, nobody deciding
    assert res.watched == res.rounds[-1].watched >= 100 - (res.labels - 100)  # every learner-driven state looked at
