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
