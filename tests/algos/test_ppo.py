"""PPO: the auto-resetting step stream, GAE with termination vs truncation, learning, state round trip."""

import numpy as np
import pytest
import torch

from mimetic.algos import ppo
from mimetic.envs import make_task
from mimetic.errors import CheckpointError, ConfigError
from mimetic.rollout import RandomPolicy, StepStream, evaluate


def test_step_stream_restarts_finished_episodes_with_the_next_seeds():
    task = make_task("cartpole", num_envs=3)
    stream = StepStream(task, seed=5)
    ref = make_task("cartpole", num_envs=1)
    first = ref.reset(seeds=np.array([5 + 1]))
    np.testing.assert_array_equal(stream.obs[1], first[0])  # env 1 runs episode 1: seed 5 + 1
    policy = RandomPolicy(task.spec, seed=0)
    ended = 0
    for _ in range(200):
        tr = stream.step(policy.act(stream.obs))
        done = tr.terminated | tr.truncated
        assert not np.any(tr.terminated & tr.truncated)
        # a finished env's next_obs is its final observation; stream.obs is a fresh start
        for i in np.flatnonzero(done):
            assert not np.array_equal(tr.next_obs[i], stream.obs[i])
        ended += int(done.sum())
    assert len(stream.finished) == ended > 0
    assert stream.episodes_started == 3 + ended
    assert all(length >= 1 and ret == length for ret, length in stream.finished)  # cartpole: +1 per step


def _constant_value(learner: ppo.PPO, value: float) -> None:
    last = learner.agent.critic[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(value)


def test_gae_bootstraps_truncations_but_not_terminations():
    learner = ppo.PPO(make_task("pendulum", num_envs=2), ppo.PPOConfig(rollout_steps=3, gamma=0.9, gae_lambda=0.5))
    _constant_value(learner, 2.0)
    roll = learner.collect()
    roll.terminated[:] = False
    roll.truncated[:] = False
    roll.terminated[1, 0] = True  # env 0 terminates at t=1
    roll.truncated[1, 1] = True  # env 1 is cut by the time limit at t=1
    rewards = np.ones((3, 2))
    adv, ret = learner.advantages(roll, rewards, terminal_value=-5.0)
    g, lam, v = 0.9, 0.5, 2.0
    delta_term = 1 + g * -5.0 - v  # t=1, env 0: bootstraps the terminal value
    delta_mid = 1 + g * v - v  # any step followed by a live state (or a truncation's final state)
    expected = np.array([
        [delta_mid + g * lam * delta_term, delta_mid + g * lam * delta_mid],
        [delta_term, delta_mid],  # episodes end here: nothing flows back from t=2
        [delta_mid, delta_mid],
    ])
    np.testing.assert_allclose(adv.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(ret.numpy(), expected + v, rtol=1e-5)


def test_ppo_learns_cartpole():
    task, ev = make_task("cartpole", num_envs=16), make_task("cartpole", num_envs=20)
    res = ppo.train(task, ppo.PPOConfig(total_steps=25_000, seed=0))
    assert res.env_steps >= 25_000 and len(res.history) == res.env_steps // 1024
    assert evaluate(ev, res.policy, episodes=20).return_mean > 400  # random: about 22
    finished = [r.return_mean for r in res.history if r.return_mean is not None]
    assert finished[-1] > 5 * finished[0]  # training episodes (stochastic policy) got much longer


def test_ppo_improves_pendulum_and_respects_action_bounds():
    task, ev = make_task("pendulum", num_envs=16), make_task("pendulum", num_envs=20)
    learner = ppo.PPO(task, ppo.PPOConfig(total_steps=40_000, gamma=0.95, seed=1))
    roll = learner.collect()
    assert np.all(np.abs(roll.env_acts) <= 2.0)  # sampled beyond the bounds, clipped for the task
    res = ppo.train(task, ppo.PPOConfig(total_steps=40_000, gamma=0.95, seed=1), ppo=learner)
    random_return = evaluate(ev, RandomPolicy(ev.spec, seed=0), episodes=20).return_mean
    assert evaluate(ev, res.policy, episodes=20).return_mean > random_return + 200  # seen: +294 at 40k steps


def test_callback_stops_training():
    calls = []
    res = ppo.train(make_task("cartpole", num_envs=4), ppo.PPOConfig(total_steps=100_000, rollout_steps=16),
                    callback=lambda rec, pol: calls.append(rec.iteration) or len(calls) == 3)
    assert calls == [1, 2, 3] and res.env_steps == 3 * 64


def test_state_round_trip(tmp_path):
    task = make_task("pendulum", num_envs=4)
    cfg = ppo.PPOConfig(total_steps=1000, rollout_steps=32, seed=3)
    a = ppo.PPO(task, cfg)
    ppo.train(task, cfg, ppo=a)
    ppo.save_state(tmp_path / "s", *a.state())
    b = ppo.PPO(make_task("pendulum", num_envs=4), cfg)
    b.load_state(*ppo.load_state(tmp_path / "s"))
    assert (b.env_steps, b.iteration) == (a.env_steps, a.iteration)
    for (k, va), (_, vb) in zip(a.agent.state_dict().items(), b.agent.state_dict().items()):
        assert torch.equal(va, vb), k
    obs = torch.randn(5, 3)
    assert torch.equal(a.agent.sample(obs, torch.Generator().manual_seed(0)),
                       b.agent.sample(obs, torch.Generator().manual_seed(0)))
    # both continue with identical optimiser moments: one more identical update
    roll = b.collect()
    adv, ret = b.advantages(roll, roll.rewards)
    a.shuffle_rng.bit_generator.state = b.shuffle_rng.bit_generator.state
    a.env_steps = b.env_steps  # b collected the rollout: same lr schedule point
    a.update(roll, adv, ret)
    b.update(roll, adv, ret)
    for (k, va), (_, vb) in zip(a.agent.state_dict().items(), b.agent.state_dict().items()):
        assert torch.allclose(va, vb), k
    with pytest.raises(CheckpointError, match="no training state"):
        ppo.load_state(tmp_path / "missing")


@pytest.mark.parametrize("bad", [dict(total_steps=0), dict(gamma=0.0), dict(clip=0.0), dict(lr=-1.0),
                                 dict(ent_coef=-0.1)])
def test_bad_config(bad):
    with pytest.raises(ConfigError):
        ppo.PPOConfig(**bad)
