"""AggreVaTe: correct cost-to-go labels, every expert action counted, learns, rejects tasks it cannot use."""

import numpy as np
import pytest

from fakes import CountingExpert, FitSpy
from mimetic.algos import bc
from mimetic.envs import make_expert, make_task
from mimetic.errors import ConfigError, TaskError
from mimetic.interactive import aggrevate
from mimetic.interactive.budget import LabelBudget
from mimetic.policies import MLPConfig, MLPPolicy
from mimetic.rollout import evaluate


def _policy(task, seed=0):
    return MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(32, 32)), seed=seed)


def _manual_cost_to_go(state, action, horizon, name="cartpole"):
    """The same quantity, one env, step by step: -(rewards of `action`, then the expert)."""
    task, expert = make_task(name, num_envs=1), make_expert(name)
    task.set_state(state[None])
    total, act = 0.0, np.array([action])
    for _ in range(horizon):
        step = task.step(act)
        total += step.rewards[0]
        if step.terminated[0] or step.truncated[0]:
            break
        act = expert(step.obs)
    return -total


def test_cost_to_go_near_failure_prefers_the_saving_action():
    # pole at 0.17 rad (limit 0.21) falling right: pushing left (0) drops it, pushing right (1) saves it
    state = np.array([0.0, 0.0, 0.17, 0.6, 100.0])
    task = make_task("cartpole", num_envs=3)  # 2 pairs in 3 envs: one idle env pads the batch
    budget = LabelBudget(make_expert("cartpole"))
    q, complete = aggrevate.cost_to_go(task, budget, np.stack([state, state]), np.array([0, 1]), horizon=30)
    assert complete.all()
    assert q[0] == _manual_cost_to_go(state, 0, 30) == -3.0  # falls within 3 steps
    assert q[1] == _manual_cost_to_go(state, 1, 30) == -30.0  # balanced for the whole horizon
    # the expert acted after the explored action: 2 steps in one rollout, 29 in the other; one
    # take-over per rollout
    assert (budget.labels, budget.expert_steps, budget.context_switches) == (2 + 29, 2 + 29, 2)


def test_cost_to_go_stops_cleanly_when_the_budget_runs_out():
    state = np.array([0.0, 0.0, 0.0, 0.0, 0.0])
    budget = LabelBudget(make_expert("cartpole"), limit=10)
    _, complete = aggrevate.cost_to_go(make_task("cartpole", num_envs=2), budget, np.stack([state, state]),
                                      np.array([0, 1]), horizon=50)
    assert not complete.any() and budget.exhausted and budget.labels <= 10


@pytest.mark.parametrize("name", ["cartpole", "pendulum"])
def test_cost_to_go_in_batches_matches_the_one_env_loop_bit_for_bit(name):
    # 5 pairs on 2 envs: three rollouts, the last with an idle env. Step counters 40, 3, 25, 12
    # and 60 steps before the end, so without a horizon each runs to its episode's truncation.
    task = make_task(name, num_envs=2)
    task.reset(seeds=np.array([4, 9]))
    left = np.array([40, 3, 25, 12, 60])
    states = np.repeat(task.get_state()[:1], 5, axis=0)  # (5, S)
    states[:, 0] += np.linspace(-0.3, 0.3, 5)
    states[:, -1] = task.spec.max_steps - left
    if name == "cartpole":
        actions = np.array([0, 1, 1, 0, 1])
    else:
        actions = np.linspace(-2, 2, 5, dtype=np.float32)[:, None]  # (5, 1)
    for horizon in (None, 30):
        budget = LabelBudget(make_expert(name))
        q, complete = aggrevate.cost_to_go(task, budget, states, actions, horizon=horizon)
        assert complete.all()
        # exact: the rewards summed left to right from 0.0, as the one-env loop does
        assert q.tolist() == [_manual_cost_to_go(s, a, horizon or 10**6, name) for s, a in zip(states, actions)]
        if name == "pendulum":  # never terminates: the expert acts at every step but each first
            steps = np.minimum(left, horizon or 10**6)
            assert budget.labels == budget.expert_steps == (steps - 1).sum()
            assert budget.context_switches == 5


def test_roll_in_stops_each_episode_at_its_sampled_time():
    # beta = 1: the expert drives every roll-in, and the cartpole expert never fails within 500
    # steps, so each episode stops exactly at its t ~ U{0..T-1} (the first draw of the rng)
    task = make_task("cartpole", num_envs=4)
    budget = LabelBudget(CountingExpert("cartpole"))
    states, obs = aggrevate._roll_in(task, _policy(task), budget, episodes=3, seed=5, beta=1.0,
                                     rng=np.random.default_rng(11))
    target = np.random.default_rng(11).integers(0, 500, size=4)[:3]
    np.testing.assert_array_equal(states[:, -1], target)  # the state's step counter is t
    np.testing.assert_array_equal(task.set_state(np.concatenate([states, states[:1]])), np.concatenate([obs, obs[:1]]))
    assert budget.labels == budget.expert_steps == budget.expert.rows == target.sum()  # no step past t
    assert budget.context_switches == np.count_nonzero(target)  # one take-over per roll-in that moves


def test_continuous_candidates_start_with_the_learner_and_stay_in_bounds():
    spec = make_task("pendulum").spec
    learner = np.array([[1.5], [-0.2]], np.float32)
    cands = aggrevate.candidate_actions(spec, learner, k=6, std=0.5, rng=np.random.default_rng(0))
    assert cands.shape == (2, 6, 1) and cands.dtype == np.float32
    assert np.array_equal(cands[:, 0], learner)
    assert cands.min() >= -2.0 and cands.max() <= 2.0 and len(np.unique(cands[0])) == 6



def test_cost_gaps_weigh_the_samples_bc_trains_on(monkeypatch):
    """AggreVaTe is BC's only weighted use: each sample weighs its cost gap w = max Q - min Q, by
    cost-proportionate resampling. At one state, 20 samples prefer action 1 by a gap of 1 and 10
    prefer action 0 by a gap of 10: weighted, action 0 holds 100 of the 120 units of weight
    (unweighted, 10 of the 30 samples), so the learner picks 0. Samples whose actions all cost the
    same (w = 0, at another state) are never drawn."""
    spy = FitSpy(bc.fit)
    monkeypatch.setattr(bc, "fit", spy)
    spec = make_task("cartpole").spec
    here, elsewhere = np.zeros(4, np.float32), np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    data = aggrevate.CostData(spec)
    cands = np.tile([0, 1], (40, 1))  # (N, K) both actions explored at every state
    q = np.array([[1.0, 0.0]] * 20 + [[0.0, 10.0]] * 10 + [[3.0, 3.0]] * 10)  # (N, K) cost-to-go
    data.extend(np.stack([here] * 30 + [elsewhere] * 10), cands, q)
    policy = _policy(make_task("cartpole"))
    aggrevate._train(policy, data, bc.BCConfig(steps=300), seed=0)
    (drawn,) = spy.data
    obs, acts = drawn.transitions()
    assert len(obs) == data.n == 40  # |D| draws
    assert not (obs == elsewhere).all(axis=1).any()  # w = 0: never drawn
    # expected share 100/120 = 0.83 (0.80-0.95 over draw seeds 0-7); unweighted 1/3; the weight is
    # proportional, not all on the cheaper side
    assert 0.7 < np.mean(acts == 0) < 1.0
    assert policy.act(here[None]).tolist() == [0]

def test_every_expert_action_is_a_counted_label():
    task = make_task("cartpole", num_envs=8)
    expert = CountingExpert("cartpole")
    cfg = aggrevate.AggreVaTeConfig(iterations=2, episodes_per_iteration=8, ctg_horizon=20, eval_episodes=0,
                                    beta_schedule="constant", beta0=0.5)
    res = aggrevate.fit(task, expert, _policy(task), cfg, bc_config=bc.BCConfig(steps=20))
    # the expert acts in the roll-in (beta = 0.5) and in every cost-to-go rollout: each action is
    # one label and one expert step, and nothing reaches the expert around the budget
    assert expert.rows == res.labels == res.expert_steps > 0
    assert res.rounds[0].labels > 8 * 2 * 19 * 0.5  # far more than the roll-ins alone could ask


def test_aggrevate_learns_cartpole():
    task = make_task("cartpole", num_envs=32)
    cfg = aggrevate.AggreVaTeConfig(iterations=4, episodes_per_iteration=32, ctg_horizon=50, eval_episodes=20)
    rounds = []
    policy = _policy(task)
    eval_task = make_task("cartpole", num_envs=20)
    res = aggrevate.fit(task, make_expert("cartpole"), policy, cfg, bc_config=bc.BCConfig(steps=1000),
                        eval_task=eval_task, callback=rounds.append)
    assert rounds == list(res.rounds) and len(res.rounds) == 4
    assert [r.transitions for r in res.rounds] == [32, 64, 96, 128]  # aggregated, one state per roll-in
    assert res.rounds[0].normalized_score < 0.2
    best = max(r.return_mean for r in res.rounds)
    assert best >= 0.95 * 500
    # Algorithm 1 returns the best policy on validation: the restored weights score it again
    assert evaluate(eval_task, policy, episodes=20, seed=10_000).return_mean == best


def test_aggrevate_continuous_regresses_towards_cheaper_actions_on_pendulum():
    task = make_task("pendulum", num_envs=64)
    expert = CountingExpert("pendulum")
    cfg = aggrevate.AggreVaTeConfig(iterations=5, episodes_per_iteration=64, candidates=8, ctg_horizon=20,
                                    expert_candidate=True, eval_episodes=10)
    res = aggrevate.fit(task, expert, _policy(task), cfg, bc_config=bc.BCConfig(steps=500),
                        eval_task=make_task("pendulum", num_envs=10))
    assert expert.rows - 10 * 200 == res.labels  # the expert's candidate action is a label too
    assert res.labels > res.expert_steps  # ... but not an expert step
    scores = [r.normalized_score for r in res.rounds]
    assert scores[0] < 0.2 and max(scores) >= 0.5  # (measured: >= 0.95 after 5 to 8 iterations)


def test_label_budget_stops_aggrevate_cleanly():
    task = make_task("cartpole", num_envs=16)
    res = aggrevate.fit(task, make_expert("cartpole"), _policy(task),
                        aggrevate.AggreVaTeConfig(iterations=10, episodes_per_iteration=16, ctg_horizon=20,
                                                  label_budget=700, eval_episodes=0),
                        bc_config=bc.BCConfig(steps=50))
    assert res.budget_spent and res.labels <= 700 and len(res.rounds) < 10


def test_task_without_state_is_rejected_before_any_work():
    expert = CountingExpert("lunarlander")
    task = make_task("lunarlander", num_envs=1)
    with pytest.raises(TaskError, match="AggreVaTe needs a task that can save and restore its state "
                                        r"\(get_state/set_state\); 'lunarlander' cannot"):
        aggrevate.fit(task, expert, _policy(task), aggrevate.AggreVaTeConfig(eval_episodes=5))
    assert expert.rows == 0


@pytest.mark.parametrize("bad", [dict(iterations=0), dict(episodes_per_iteration=0), dict(candidates=1),
                                 dict(explore_std=0.0), dict(ctg_horizon=0), dict(beta_schedule="cosine"),
                                 dict(beta0=1.5), dict(beta_p=-0.1), dict(label_budget=0),
                                 dict(eval_episodes=-1)])
def test_bad_config_is_one_line(bad):
    with pytest.raises(ConfigError):
        aggrevate.AggreVaTeConfig(**bad)
