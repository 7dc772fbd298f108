import numpy as np
import pytest

from fakes import ConstPolicy, CounterTask, right_expert
from mimetic.errors import BudgetExhausted, ConfigError
from mimetic.interactive.budget import LabelBudget
from mimetic.interactive.gates.beta import AlwaysQuery, BetaGate, beta_at
from mimetic.rollout import collect, evaluate, rollout
from mimetic.types import Trajectory


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


# ----------------------------------------------------------------------------- against a plain reference


def _reference_rollout(task, policy, *, episodes, seed, labeler=None, gate=None, on_frame=None):
    """``rollout`` written plainly, one Python list per env and field, with the same schedule:
    episode k runs on the env that frees up next (lowest index first), from reset seed seed + k."""
    n, spec = task.num_envs, task.spec
    a_shape, a_type = ((), np.int64) if spec.discrete else (spec.action_space.shape, np.float32)
    fields = ("obs", "acts", "rewards", "costs", "labels", "labeled", "expert_acted")
    rec = [{f: [] for f in fields} for _ in range(n)]
    ep = list(range(n))
    next_ep = n
    out = {}
    prev_take = np.zeros(n, bool)
    obs = task.reset(seeds=seed + np.arange(n))
    for agent in (policy, gate):
        if agent is not None:
            agent.reset(np.ones(n, bool))

    def finish(j, final_obs, terminated, truncated):
        r = rec[j]
        out[ep[j]] = Trajectory(
            obs=np.array([*r["obs"], final_obs], np.float32), acts=np.array(r["acts"], a_type).reshape(-1, *a_shape),
            rewards=np.array(r["rewards"], np.float64), costs=np.array(r["costs"], np.float64),
            labels=np.array(r["labels"], a_type).reshape(-1, *a_shape) if labeler else None,
            labeled=np.array(r["labeled"], bool) if labeler else None,
            expert_acted=np.array(r["expert_acted"], bool) if labeler else None,
            terminated=terminated, truncated=truncated, seed=seed + ep[j])

    while len(out) < episodes:
        active = np.array([e < episodes for e in ep])
        learner = policy.act(obs) if policy is not None else None
        if policy is None:
            take, query = active.copy(), active.copy()
        elif gate is not None:
            take, query = gate(obs, learner)
            take, query = take & active, (query | take) & active
        else:
            take, query = np.zeros(n, bool), active & (labeler is not None)
        labels = np.zeros((n, *a_shape), a_type)
        if query.any():
            if not labeler.can_cover(int(query.sum())):
                for j in range(n):
                    if active[j] and rec[j]["acts"]:
                        finish(j, obs[j], False, True)
                break
            labels[query] = labeler.label(obs[query])
            labeler.count_control(expert_steps=int(take.sum()), switches=int((take & ~prev_take).sum()))
        acts = labels if learner is None else np.where(take.reshape(-1, *[1] * len(a_shape)), labels, learner)
        prev_take = take
        if on_frame is not None and ep[0] == 0:
            on_frame(task.render(0))
        step = task.step(acts)
        for j in range(n):
            for f, v in zip(fields, (obs[j], acts[j], step.rewards[j], step.costs[j], labels[j], query[j], take[j])):
                rec[j][f].append(v)
        done = step.terminated | step.truncated
        for j in np.flatnonzero(done & active):
            finish(j, step.obs[j], bool(step.terminated[j]), bool(step.truncated[j] and not step.terminated[j]))
        if on_frame is not None and done[0] and ep[0] == 0:
            on_frame(task.render(0))
        obs = step.obs
        if done.any():
            for j in np.flatnonzero(done):
                ep[j], next_ep = next_ep, next_ep + 1
                rec[j] = {f: [] for f in fields}
            prev_take = prev_take & ~done
            obs = task.reset(seeds=seed + np.array(ep), mask=done)
            for agent in (policy, gate):
                if agent is not None:
                    agent.reset(done)
    return [out[k] for k in sorted(out)]


class _LinearPolicy:
    """A fixed random linear map: deterministic learner actions that differ from the expert's."""

    def __init__(self, spec, seed=0):
        rng = np.random.default_rng(seed)
        self.spec, self.w = spec, rng.normal(size=(spec.obs_dim, spec.act_dim))

    def act(self, obs):
        out = obs @ self.w
        if self.spec.discrete:
            return np.argmax(out, axis=1).astype(np.int64)
        return np.clip(out, self.spec.action_space.low, self.spec.action_space.high).astype(np.float32)

    def reset(self, mask):
        pass


class _RiskyStreakGate:
    """Stateful, partial queries: the expert takes over after 3 steps above the batch's median
    |obs| and keeps control for 4 steps; it is also queried on every 4th step of an episode."""

    def __init__(self):
        self.t = self.streak = self.held = None

    def __call__(self, obs, learner_acts):
        size = np.abs(obs).sum(axis=1)
        self.streak = np.where(size > np.median(size), self.streak + 1, 0)
        take = (self.streak >= 3) | ((self.held > 0) & (self.held < 4))
        self.held = np.where(take, self.held + 1, 0)
        query = take | (self.t % 4 == 0)
        self.t = self.t + 1
        return take, query

    def reset(self, mask):
        if self.t is None:
            self.t, self.streak, self.held = (np.zeros(len(mask), np.int64) for _ in range(3))
        for a in (self.t, self.streak, self.held):
            a[mask] = 0


class _FramedCounter(CounterTask):
    def render(self, index=0):
        return np.full((2, 2, 3), 100 + self.pos[index], np.uint8)


def _case(name):
    """(task, policy, labeler, gate, episodes, seed) of one named case; gate and policy fresh per call."""
    from mimetic.envs import make_expert, make_task

    if name == "counter-frames":
        task = _FramedCounter(num_envs=2, max_steps=4)
        return task, ConstPolicy(1), None, None, 5, 0
    task_name, horizon = {"expert": ("pendulum", 30), "learner": ("cartpole", 60), "beta": ("driving", 40),
                          "gate": ("cartpole", 40), "gate-budget": ("driving", 40),
                          "expert-budget": ("pendulum", 30)}[name]
    task = make_task(task_name, num_envs=3, max_steps=horizon)
    expert, spec = make_expert(task_name), task.spec
    policy = _LinearPolicy(spec)
    if name == "expert":
        return task, None, LabelBudget(expert), None, 7, 3
    if name == "expert-budget":  # runs out in the third wave, mid-episode
        return task, None, LabelBudget(expert, limit=2 * 3 * horizon + 17), None, 9, 3
    if name == "learner":
        return task, policy, LabelBudget(expert), None, 8, 5
    if name == "beta":
        return task, policy, LabelBudget(expert), BetaGate(0.4, rng=np.random.default_rng(7)), 7, 1
    if name == "gate":
        return task, policy, LabelBudget(expert), _RiskyStreakGate(), 8, 2
    return task, policy, LabelBudget(expert, limit=55), _RiskyStreakGate(), 8, 2  # gate-budget


@pytest.mark.parametrize("name", ["expert", "expert-budget", "learner", "beta", "gate", "gate-budget",
                                  "counter-frames"])
def test_rollout_matches_the_plain_reference_bit_for_bit(name):
    task, policy, labeler, gate, episodes, seed = _case(name)
    frames = []
    got = rollout(task, policy, episodes=episodes, seed=seed, labeler=labeler, gate=gate, on_frame=frames.append)
    counts = labeler.counts() if labeler else None
    task, policy, labeler, gate, episodes, seed = _case(name)
    ref_frames = []
    want = _reference_rollout(task, policy, episodes=episodes, seed=seed, labeler=labeler, gate=gate,
                              on_frame=ref_frames.append)
    assert (labeler.counts() if labeler else None) == counts
    assert [t.seed for t in got] == [t.seed for t in want]
    if name.endswith("budget"):  # cut short mid-episode
        assert labeler.exhausted and got[-1].truncated and 0 < len(got[-1]) < task.spec.max_steps
    for g, w in zip(got, want):
        assert (g.terminated, g.truncated) == (w.terminated, w.truncated)
        for f in ("obs", "acts", "rewards", "costs", "labels", "labeled", "expert_acted"):
            a, b = getattr(g, f), getattr(w, f)
            if b is None:
                assert a is None, f
                continue
            assert a.dtype == b.dtype and a.flags.c_contiguous, f
            np.testing.assert_array_equal(a, b, err_msg=f)
    assert len(ref_frames) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, ref_frames))
    if name == "counter-frames":
        assert len(frames) == len(got[0]) + 1  # env 0's first episode, its final frame included


def test_an_episode_past_max_steps_is_an_error():
    from mimetic.errors import TaskError

    class NeverEnds(CounterTask):
        def step(self, actions):
            s = super().step(actions)
            return type(s)(obs=s.obs, rewards=s.rewards, terminated=s.terminated & False,
                           truncated=s.truncated & False, costs=s.costs)

    with pytest.raises(TaskError, match="max_steps=5"):
        rollout(NeverEnds(num_envs=2), ConstPolicy(1), episodes=2)


# ----------------------------------------------------------------------------- where episodes start and stop


@pytest.mark.parametrize("num_envs", [1, 2, 5])
def test_stop_at_truncates_each_episode_after_its_own_step_count(num_envs):
    # ConstPolicy(1) moves right: seed even starts at 0 and terminates after 3 steps, odd after 2
    stop_at = np.array([0, 1, 5, 2, 1])
    budget = LabelBudget(right_expert)
    trajs = rollout(CounterTask(num_envs=num_envs, max_steps=6), ConstPolicy(1), episodes=5, seed=10,
                    labeler=budget, stop_at=stop_at)
    assert [t.seed for t in trajs] == [10, 11, 12, 13, 14]
    assert [len(t) for t in trajs] == [0, 1, 3, 2, 1]
    # ep 2 ends by itself before its limit, ep 3 at its limit: the task's flags stand
    assert [(t.terminated, t.truncated) for t in trajs] == [(False, True), (False, True), (True, False),
                                                           (True, False), (False, True)]
    np.testing.assert_array_equal(trajs[0].obs, [[0, 10]])  # 0 steps: just the start
    np.testing.assert_array_equal(trajs[1].obs[:, 0], [1, 2])
    np.testing.assert_array_equal(trajs[4].obs[:, 0], [0, 1])
    assert budget.labels == 0 + 1 + 3 + 2 + 1  # a stopped episode's last observation is never labelled


def test_stop_at_zero_on_envs_that_restart_mid_rollout():
    # episodes 2 and 3 are handed out at step 1 and end there at once; episode 4 then takes env 0
    trajs = rollout(CounterTask(num_envs=2, max_steps=6), ConstPolicy(1), episodes=5, seed=0,
                    stop_at=np.array([1, 1, 0, 0, 2]))
    assert [len(t) for t in trajs] == [1, 1, 0, 0, 2]
    np.testing.assert_array_equal([t.obs[0, 1] for t in trajs], [0, 1, 2, 3, 4])  # each from its own seed
    np.testing.assert_array_equal(trajs[4].obs[:, 0], [0, 1, 2])


def _cartpole_states(k, seed=3):
    """k distinct mid-episode cartpole states (S = 4 physical + step counter)."""
    from mimetic.envs import make_expert, make_task

    task, expert = make_task("cartpole", num_envs=k), make_expert("cartpole")
    obs = task.reset(seeds=seed + np.arange(k))
    for _ in range(7):
        obs = task.step(expert(obs)).obs
    return task.get_state()  # (k, 5)


def test_start_states_run_each_episode_from_its_state_whatever_env_runs_it():
    from mimetic.envs import make_expert, make_task
    from mimetic.rollout import rollout_episodes

    expert, starts = make_expert("cartpole"), _cartpole_states(5)
    starts[:, -1] = [0, 480, 10, 495, 200]  # step counters: episodes 1 and 3 truncate after 20 and 5 steps
    run = rollout_episodes(make_task("cartpole", num_envs=2), None, episodes=5, labeler=LabelBudget(expert),
                           start_states=starts, stop_at=np.array([30, 30, 30, 30, 3]), record_states=True)
    assert run.index.tolist() == [0, 1, 2, 3, 4] and not run.budget_stopped
    one = make_task("cartpole", num_envs=1)
    for k, (traj, states) in enumerate(zip(run.trajectories, run.states)):
        obs = one.set_state(starts[k:k + 1])  # the same episode by hand, one env
        want_obs, want_states = [obs[0]], [one.get_state()[0]]
        for _ in range(30 if k < 4 else 3):
            step = one.step(expert(obs))
            obs = step.obs
            want_obs.append(obs[0])
            want_states.append(one.get_state()[0])
            if step.terminated[0] or step.truncated[0]:
                break
        assert traj.seed is None
        np.testing.assert_array_equal(traj.obs, want_obs)
        np.testing.assert_array_equal(states, want_states)  # (T+1, S): the state of each observation
    assert [len(t) for t in run.trajectories] == [30, 20, 30, 5, 3]
    assert [t.truncated for t in run.trajectories] == [True] * 5


def test_recorded_states_restart_the_rest_of_an_episode():
    from mimetic.envs import make_task
    from mimetic.rollout import RandomPolicy, rollout_episodes

    task = make_task("pendulum", num_envs=3)
    run = rollout_episodes(task, RandomPolicy(task.spec, seed=1), episodes=4, seed=5, record_states=True,
                           stop_at=np.array([40, 7, 25, 60]))
    one = make_task("pendulum", num_envs=1)
    for traj, states in zip(run.trajectories, run.states):
        assert states.shape == (len(traj) + 1, 3)
        t = len(traj) // 2
        obs = one.set_state(states[t:t + 1])
        np.testing.assert_array_equal(obs[0], traj.obs[t])
        for a, want in zip(traj.acts[t:], traj.obs[t + 1:]):
            np.testing.assert_array_equal(one.step(a[None]).obs[0], want)  # replays to the same end


def test_budget_stopped_tells_a_cut_from_a_finished_rollout():
    from mimetic.rollout import rollout_episodes

    def run(limit):
        return rollout_episodes(CounterTask(num_envs=2, max_steps=6), ConstPolicy(0), episodes=2, seed=0,
                                labeler=LabelBudget(right_expert, limit=limit), stop_at=np.array([4, 4]))

    cut, whole = run(5), run(8)  # 2 x 4 steps: 5 labels cut both episodes at step 2, 8 labels suffice
    assert [len(t) for t in cut.trajectories] == [2, 2] and all(t.truncated for t in cut.trajectories)
    assert [len(t) for t in whole.trajectories] == [3, 4]  # left from 0 and from 1 to -3
    assert cut.budget_stopped and not whole.budget_stopped  # every episode came back either way
    assert cut.states is None and cut.index.tolist() == [0, 1]


@pytest.mark.parametrize("bad", [dict(stop_at=np.array([1, -1])), dict(stop_at=np.array([1.0, 2.0])),
                                 dict(stop_at=np.array([1, 2, 3])), dict(start_states=np.zeros((2, 4))),
                                 dict(start_states=np.zeros((3, 5)))])
def test_bad_start_states_or_stop_at_is_one_line(bad):
    from mimetic.envs import make_task

    with pytest.raises(ConfigError):
        rollout(make_task("cartpole", num_envs=2), ConstPolicy(1), episodes=2, **bad)
