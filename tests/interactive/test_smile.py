"""SMILe and forward training (Ross & Bagnell 2010): mixture weights, no aggregation, time-indexed
members trained in order on the states the earlier members reach, every label counted."""

import math

import numpy as np
import pytest
from fakes import CountingExpert

from mimetic.algos import bc
from mimetic.interactive import forward, smile
from mimetic.envs import make_expert, make_task
from mimetic.errors import ConfigError
from mimetic.policies import MLPConfig, MLPPolicy
from mimetic.policies.compose import MixturePolicy, TimeIndexedPolicy

FAST = bc.BCConfig(steps=200)




def _policy(task, seed=0):
    return MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(32, 32)), seed=seed)


@pytest.mark.parametrize("n,alpha", [(1, 0.3), (5, 0.3), (12, 0.1), (3, 1.0)])
def test_smile_weights_sum_to_one(n, alpha):
    expert_w, learned = smile.smile_weights(n, alpha)
    assert expert_w == pytest.approx((1 - alpha) ** n) and len(learned) == n
    assert expert_w + learned.sum() == pytest.approx(1.0)
    assert learned == pytest.approx(alpha * (1 - alpha) ** np.arange(n))


def test_smile_mixes_new_policies_without_aggregating_and_drops_the_expert():
    task = make_task("cartpole", num_envs=1)
    expert = CountingExpert("cartpole")
    cfg = smile.SMILeConfig(iterations=3, episodes_per_iteration=1, alpha=0.5, eval_episodes=10)
    policy = _policy(task)
    res = smile.fit(task, expert, policy, cfg, bc_config=bc.BCConfig(steps=500),
                    eval_task=make_task("cartpole", num_envs=10))
    # the expert's share of round n's rollout policy pi_{n-1} is (1 - alpha)^(n-1)
    assert [r.beta for r in res.rounds] == [1.0, 0.5, 0.25]
    labels = [0] + [r.labels for r in res.rounds]
    # every visited state is labelled, and each policy trains on its own round's labels only
    assert [r.transitions for r in res.rounds] == list(np.diff(labels))
    assert expert.rows - 10 * 500 == res.labels  # counted (10 evaluation reference episodes aside)
    assert res.rounds[0].transitions == res.rounds[0].expert_steps == 500  # round 1: the expert drives
    mix = res.policy
    assert isinstance(mix, MixturePolicy) and len(mix.policies) == 3 and mix.policies[0] is policy
    assert expert not in mix.policies and all(isinstance(m, MLPPolicy) for m in mix.policies)
    assert len({id(m) for m in mix.policies}) == 3  # a new policy each round
    assert mix.weights.sum() == pytest.approx(1.0)
    assert mix.weights == pytest.approx(np.array([0.5, 0.25, 0.125]) / 0.875)  # renormalised
    assert res.rounds[-1].normalized_score >= 0.95


def test_smile_episode_mixing_and_budget():
    task = make_task("cartpole", num_envs=2)
    res = smile.fit(task, make_expert("cartpole"), _policy(task),
                    smile.SMILeConfig(iterations=5, episodes_per_iteration=2, mixing="episode", label_budget=1500,
                                      eval_episodes=0), bc_config=FAST)
    assert res.budget_spent and res.labels <= 1500 and res.policy.mixing == "episode"
    assert len(res.policy.policies) == len(res.rounds) == 2


def test_forward_training_trains_one_member_per_segment_in_order():
    task = make_task("cartpole", num_envs=2, max_steps=100)
    expert = CountingExpert("cartpole")
    cfg = forward.ForwardConfig(segment_length=25, episodes_per_segment=2, eval_episodes=10)
    res = forward.fit(task, expert, _policy(task), cfg, bc_config=FAST,
                            eval_task=make_task("cartpole", num_envs=10, max_steps=100))
    pol = res.policy
    assert isinstance(pol, TimeIndexedPolicy) and len(pol.policies) == len(res.rounds) == 4
    # each segment's rollouts stop at its end: the expert labels (and drives) only segment k's 25
    # steps of each of the 2 episodes; the earlier members drive up to it
    assert [r.transitions for r in res.rounds] == [50, 50, 50, 50]
    assert res.labels == res.expert_steps == 200 == expert.rows - 10 * 100  # 10 reference episodes aside
    assert res.context_switches == 2 * 4  # the expert takes over once per episode and segment
    assert res.rounds[-1].normalized_score >= 0.95


def test_forward_training_with_too_few_episodes_keeps_segments_it_cannot_reach_untrained():
    task = make_task("cartpole", num_envs=1, max_steps=60)
    res = forward.fit(task, make_expert("cartpole"), _policy(task),
                            forward.ForwardConfig(segment_length=20, episodes_per_segment=1, label_budget=30,
                                                eval_episodes=0), bc_config=FAST)
    assert res.budget_spent and res.labels == 30 and len(res.policy.policies) == 2
    assert [r.transitions for r in res.rounds] == [20, 10]


@pytest.mark.parametrize("make", [lambda: smile.SMILeConfig(iterations=0), lambda: smile.SMILeConfig(alpha=0.0),
                                  lambda: smile.SMILeConfig(alpha=1.5), lambda: smile.SMILeConfig(mixing="slot"),
                                  lambda: smile.SMILeConfig(label_budget=0),
                                  lambda: smile.SMILeConfig(eval_episodes=-1),
                                  lambda: forward.ForwardConfig(segment_length=0),
                                  lambda: forward.ForwardConfig(episodes_per_segment=0),
                                  lambda: forward.ForwardConfig(label_budget=0)])
def test_bad_config_is_one_line(make):
    with pytest.raises(ConfigError):
        make()


def test_forward_segment_count_covers_the_horizon():
    assert math.ceil(100 / 30) == 4  # members for a 100-step task with 30-step segments
    task = make_task("cartpole", num_envs=1, max_steps=100)
    res = forward.fit(task, make_expert("cartpole"), _policy(task),
                            forward.ForwardConfig(segment_length=30, episodes_per_segment=1, eval_episodes=0),
                            bc_config=bc.BCConfig(steps=20))
    assert len(res.policy.policies) == 4 and [r.transitions for r in res.rounds][-1] <= 10
