import numpy as np
import pytest
from fakes import ConstPolicy, CounterTask, right_expert

from mimetic.errors import BudgetExhausted, ConfigError
from mimetic.oracle import AlwaysQuery, BetaGate, LabelBudget, beta_at
from mimetic.rollout import collect, evaluate, rollout


@pytest.mark.parametrize("num_envs", [1, 2, 5])
def test_rollout_episode_order_and_content_independent_of_num_envs(num_envs):
    trajs = rollout(CounterTask(num_envs=num_envs), ConstPolicy(1), episodes=4, seed=10)
    assert [t.seed for t in trajs] == [10, 11, 12, 13]
    # seed even -> start 0 -> 3 steps to reach 3; odd -> start 1 -> 2 steps
    assert [len(t) for t in trajs] == [3, 2, 3, 2]
    assert all(t.terminated and not t.truncated for t in trajs)
    t0 = trajs[0]
    np.testing.assert_array_equal(t0.obs[:, 0], [0, 1, 2, 3])  # final obs kept (T+1 rows)
    np.testing.assert_array_equal(t0.obs[:, 1], 10)
    np.testing.assert_array_equal(t0.costs, [1, 2, 3])


def test_truncation_at_horizon():
    pol = ConstPolicy(0)  # 0 -> -1 per step: never... start 0 reaches -3 after 3 steps
    trajs = rollout(CounterTask(num_envs=1, max_steps=2), pol, episodes=2, seed=0)
    assert all(t.truncated and not t.terminated and len(t) == 2 for t in trajs)


def test_labels_counted_only_for_active_envs():
    budget = LabelBudget(right_expert)
    trajs = rollout(CounterTask(num_envs=4), ConstPolicy(0), episodes=2, seed=0, labeler=budget)
    steps = sum(len(t) for t in trajs)
    assert budget.labels == steps  # idle filler envs are not labelled
    assert all((t.labels == 1).all() and t.labeled.all() for t in trajs)


def test_collect_counts_every_expert_action():
    budget = LabelBudget(right_expert)
    trajs = collect(CounterTask(num_envs=2), right_expert, episodes=3, seed=0, budget=budget)
    assert budget.labels == sum(len(t) for t in trajs) == budget.expert_steps
    assert all((t.acts == 1).all() for t in trajs)


def test_budget_exhaustion_and_validation():
    budget = LabelBudget(right_expert, limit=3)
    budget.label(np.zeros((2, 2)))
    with pytest.raises(BudgetExhausted, match="budget of 3"):
        budget.label(np.zeros((2, 2)))
    with pytest.raises(ConfigError):
        LabelBudget(right_expert, limit=0)
    with pytest.raises(ConfigError):
        rollout(CounterTask(), ConstPolicy(1), episodes=0)


def test_evaluate_imitation_error_and_normalized_score():
    task = CounterTask(num_envs=2, max_steps=5)
    res = evaluate(task, ConstPolicy(0), episodes=4, seed=0, expert=right_expert)
    assert res.imitation_error == 1.0  # always disagrees with the expert
    assert res.expert_labels == sum([3, 4, 3, 4])  # learner moves left: 3 steps from 0, 4 from 1
    good = evaluate(task, ConstPolicy(1), episodes=4, seed=0, expert=right_expert)
    assert good.imitation_error == 0.0
    assert good.normalized_score == pytest.approx(1.0)
    assert res.return_ci95 > 0 and res.success_rate is None


class _EveryOtherStep:
    """Expert acts on even steps of each episode, is queried on every step."""

    def __init__(self):
        self.t = None

    def __call__(self, obs, learner_acts):
        take = self.t % 2 == 0
        self.t = self.t + 1
        return take, np.ones(len(obs), bool)

    def reset(self, mask):
        if self.t is None:
            self.t = np.zeros(len(mask), np.int64)
        self.t[mask] = 0


def test_gate_mixes_actions_and_counts_switches():
    budget = LabelBudget(right_expert)
    trajs = rollout(CounterTask(num_envs=2, max_steps=6), ConstPolicy(0), episodes=2, seed=0,
                    labeler=budget, gate=_EveryOtherStep())
    for t in trajs:
        np.testing.assert_array_equal(t.expert_acted, np.arange(len(t)) % 2 == 0)
        np.testing.assert_array_equal(t.acts, np.where(t.expert_acted, 1, 0))  # expert right, learner left
        assert t.labeled.all() and (t.labels == 1).all()
    steps = sum(len(t) for t in trajs)
    assert budget.labels == steps
    assert budget.expert_steps == sum(int(t.expert_acted.sum()) for t in trajs)
    assert budget.context_switches == budget.expert_steps  # each expert step follows a learner step


def test_budget_cut_returns_partial_episodes_truncated():
    budget = LabelBudget(right_expert, limit=5)
    trajs = rollout(CounterTask(num_envs=2, max_steps=6), ConstPolicy(0), episodes=4, seed=0,
                    labeler=budget, gate=AlwaysQuery())
    assert budget.labels <= 5
    assert sum(int(t.labeled.sum()) for t in trajs) == budget.labels
    assert any(t.truncated and not t.terminated for t in trajs)
    assert len(trajs) < 4


def test_beta_gate_and_schedules():
    gate = BetaGate(0.3, rng=np.random.default_rng(0))
    take, query = gate(np.zeros((10_000, 2)), np.zeros(10_000))
    assert query.all() and abs(take.mean() - 0.3) < 0.02
    assert [beta_at("exponential", i, p=0.5) for i in range(3)] == [1.0, 0.5, 0.25]
    assert [beta_at("one-then-zero", i) for i in range(3)] == [1.0, 0.0, 0.0]
    assert beta_at("constant", 5, beta0=0.7) == 0.7
    assert beta_at("linear", 5, rounds=10) == 0.5
    with pytest.raises(ConfigError):
        BetaGate(-0.1, rng=np.random.default_rng(0))
    with pytest.raises(ConfigError):
        beta_at("bogus", 0)
    with pytest.raises(ConfigError):
        beta_at("constant", 0, beta0=-1)


class _FirstEpisodeOnly:
    """Queries every state of each env's first episode, none of its later ones."""

    def __init__(self):
        self.first = None

    def __call__(self, obs, learner_acts):
        return np.zeros(len(obs), bool), self.first.copy()

    def reset(self, mask):
        if self.first is None:
            self.first = np.ones(len(mask), bool)
        else:
            self.first[mask] = False


def test_a_slots_next_episode_does_not_inherit_its_labels():
    budget = LabelBudget(right_expert)
    first, second = rollout(CounterTask(num_envs=1, max_steps=6), ConstPolicy(0), episodes=2, seed=0,
                            labeler=budget, gate=_FirstEpisodeOnly())
    assert first.labeled.all() and (first.labels == 1).all()
    assert not second.labeled.any() and (second.labels == 0).all()  # never queried: no labels
    assert budget.labels == len(first)
