"""Mixture and time-indexed policies: who acts when, seeded draws, save/load round trips."""

import numpy as np
import pytest

from mimetic.errors import CheckpointError, ConfigError
from mimetic.policies import MLPConfig, MLPPolicy, load_policy, save_policy
from mimetic.policies.compose import MixturePolicy, TimeIndexedPolicy


class Const:
    """Acts ``value`` everywhere; counts resets."""

    def __init__(self, value):
        self.value, self.resets = value, 0

    def act(self, obs):
        return np.full(len(obs), self.value, np.int64)

    def reset(self, mask):
        self.resets += 1


OBS = np.zeros((4000, 3), np.float32)


def test_step_mixture_draws_members_by_weight_each_step():
    mix = MixturePolicy([Const(0), Const(1), Const(2)], [2.0, 1.0, 1.0], seed=0)
    assert mix.weights.tolist() == [0.5, 0.25, 0.25]  # renormalised
    freq = np.bincount(mix.act(OBS), minlength=3) / len(OBS)
    assert freq == pytest.approx([0.5, 0.25, 0.25], abs=0.03)
    assert not np.array_equal(mix.act(OBS[:50]), mix.act(OBS[:50]))  # a fresh draw every step
    again = MixturePolicy([Const(0), Const(1), Const(2)], [2.0, 1.0, 1.0], seed=0)
    assert np.array_equal(again.act(OBS), MixturePolicy([Const(0), Const(1), Const(2)], [2, 1, 1], seed=0).act(OBS))


def test_episode_mixture_keeps_each_envs_member_until_its_reset():
    members = [Const(0), Const(1)]
    mix = MixturePolicy(members, [0.5, 0.5], mixing="episode", seed=1)
    mix.reset(np.ones(200, bool))
    first = mix.act(OBS[:200])
    assert np.array_equal(mix.act(OBS[:200]), first) and 0 < first.mean() < 1
    mask = np.arange(200) < 100
    mix.reset(mask)
    after = mix.act(OBS[:200])
    assert np.array_equal(after[~mask], first[~mask]) and not np.array_equal(after[mask], first[mask])
    assert all(m.resets == 2 for m in members)  # resets reach every member


def test_time_indexed_policy_uses_segment_ks_member_at_step_t():
    pol = TimeIndexedPolicy([Const(0), Const(1), Const(2)], segment_length=3)
    pol.reset(np.ones(2, bool))
    seen = [pol.act(OBS[:2]).tolist() for _ in range(11)]
    assert [s[0] for s in seen] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2]  # past the last segment: the last member
    pol.reset(np.array([True, False]))  # env 0 starts a new episode, env 1 is at step 11
    assert pol.act(OBS[:2]).tolist() == [0, 2]
    assert pol.segment(np.array([0, 2, 3, 8, 100])).tolist() == [0, 0, 1, 2, 2]


@pytest.mark.parametrize("bad", [lambda: MixturePolicy([], []), lambda: MixturePolicy([Const(0)], [0.0]),
                                 lambda: MixturePolicy([Const(0)], [1.0, 2.0]),
                                 lambda: MixturePolicy([Const(0)], [1.0], mixing="slot"),
                                 lambda: TimeIndexedPolicy([], segment_length=2),
                                 lambda: TimeIndexedPolicy([Const(0)], segment_length=0)])
def test_bad_compositions_are_one_line(bad):
    with pytest.raises(ConfigError):
        bad()


def _mlps(k, discrete=False):
    return [MLPPolicy(MLPConfig(hidden=(8,)), obs_dim=3, act_dim=2 if discrete else 1, discrete=discrete,
                      act_low=None if discrete else np.array([-2.0]), act_high=None if discrete else np.array([2.0]),
                      task="pendulum", seed=s) for s in range(k)]


@pytest.mark.parametrize("build", [lambda m: MixturePolicy(m, [0.2, 0.3, 0.5], seed=4),
                                   lambda m: TimeIndexedPolicy(m, segment_length=5)])
def test_save_load_round_trip(tmp_path, build):
    pol = build(_mlps(3))
    save_policy(pol, tmp_path / "ckpt")
    back = load_policy(tmp_path / "ckpt", expect_task="pendulum")
    assert type(back) is type(pol) and len(back.policies) == 3
    obs = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    for a, b in zip(pol.policies, back.policies):
        assert np.array_equal(a.act(obs), b.act(obs))
    pol.reset(np.ones(16, bool))
    back.reset(np.ones(16, bool))
    assert np.array_equal(pol.act(obs), back.act(obs))  # same weights, same seed: same draws


def test_saving_unregistered_members_fails_in_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="register"):
        save_policy(TimeIndexedPolicy([Const(0)], segment_length=1), tmp_path / "x")
