"""SMILe and forward training (Ross & Bagnell 2010): mixture weights, no aggregation, time-indexed
members trained in order on the states the earlier members reach, every label counted."""

import numpy as np
import pytest

from fakes import CountingExpert, FitSpy, same_weights, weights
from mimetic.algos import bc
from mimetic.envs import make_expert, make_task
from mimetic.errors import ConfigError
from mimetic.interactive import forward, smile
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


def test_forward_training_for_100_steps_in_30_step_segments(monkeypatch):
    """T = 100, S = 30: members for steps 0-29, 30-59, 60-89 and 90-99 (the last one short), each
    trained only on the expert's labels of its own segment, reached by the members before it."""
    spy = FitSpy(bc.fit)
    monkeypatch.setattr(bc, "fit", spy)
    task = make_task("pendulum", num_envs=2, max_steps=100)  # never terminates: every roll-in gets there
    res = forward.fit(task, make_expert("pendulum"), _policy(task),
                            forward.ForwardConfig(segment_length=30, episodes_per_segment=2, eval_episodes=0),
                            bc_config=bc.BCConfig(steps=20))
    pol = res.policy
    assert len(pol.policies) == len(res.rounds) == len(spy.data) == 4
    assert [r.transitions for r in res.rounds] == [60, 60, 60, 20]  # 2 episodes x 30, 30, 30, 10 steps
    assert res.labels == res.expert_steps == 2 * 100  # T * episodes_per_segment labels in all
    for k, data in enumerate(spy.data):
        segment = list(range(30 * k, min(30 * k + 30, 100)))
        t = np.arange(data.n_steps) - data.ep_starts[data.step_episode]  # (N,) time step in its episode
        assert data.n_episodes == 2 and (data.ep_lengths == segment[-1] + 1).all()  # stopped at the segment's end
        assert sorted(set(t[data.valid].tolist())) == segment  # member k learns on segment k only
        assert (data.expert_acted == (t >= 30 * k)).all()  # the learner drove up to it, the expert within it
    # acting: member k at steps [30k, 30k + 30); the last member also past the end
    assert pol.segment(np.arange(120)).tolist() == [0] * 30 + [1] * 30 + [2] * 30 + [3] * 30

def _run_spied(monkeypatch, method, warm_start):
    """Run SMILe or forward training with 3 members, recording each member's fit."""
    spy = FitSpy(bc.fit)
    monkeypatch.setattr(bc, "fit", spy)
    task = make_task("cartpole", num_envs=1, max_steps=60)
    policy = _policy(task)
    initial = weights(policy)
    if method == "smile":
        res = smile.fit(task, make_expert("cartpole"), policy,
                        smile.SMILeConfig(iterations=3, episodes_per_iteration=1, warm_start=warm_start,
                                          eval_episodes=0), bc_config=FAST)
    else:
        res = forward.fit(task, make_expert("cartpole"), policy,
                          forward.ForwardConfig(segment_length=20, episodes_per_segment=1, warm_start=warm_start,
                                                eval_episodes=0), bc_config=FAST)
    assert len(res.policy.policies) == len(spy.starts) == 3
    assert [id(m) for m in res.policy.policies] == [id(p) for p in spy.policies]  # one fit per member, in order
    assert res.policy.policies[0] is policy and len({id(m) for m in res.policy.policies}) == 3
    assert same_weights(spy.starts[0], initial) and not same_weights(spy.ends[0], initial)
    return spy, initial


@pytest.mark.parametrize("method", ["smile", "forward"])
def test_without_warm_start_every_member_starts_from_the_initial_weights(monkeypatch, method):
    spy, initial = _run_spied(monkeypatch, method, warm_start=False)
    assert all(same_weights(start, initial) for start in spy.starts)


@pytest.mark.parametrize("method", ["smile", "forward"])
def test_with_warm_start_each_member_starts_from_the_previous_one(monkeypatch, method):
    spy, _ = _run_spied(monkeypatch, method, warm_start=True)
    assert all(same_weights(start, end) for start, end in zip(spy.starts[1:], spy.ends[:-1]))
