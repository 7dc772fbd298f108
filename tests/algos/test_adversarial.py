"""GAIL and AIRL: transitions with absorbing states, learning on cartpole, reward export, state round trip."""

import numpy as np
import pytest
import torch

from mimetic.algos import adversarial as adv
from mimetic.algos import ppo
from mimetic.data.dataset import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.errors import CheckpointError, ConfigError, DataError
from mimetic.rollout import RandomPolicy, Scorer, collect, rollout


@pytest.fixture(scope="module")
def cartpole_demos():
    return Dataset.from_trajectories(collect(make_task("cartpole", num_envs=10), make_expert("cartpole"),
                                             episodes=10, seed=0))


def test_expert_transitions_mark_terminations_with_absorbing_rows():
    task = make_task("cartpole", num_envs=4)
    trajs = rollout(task, RandomPolicy(task.spec, seed=0), episodes=4, seed=0)  # every episode falls
    ds = Dataset.from_trajectories(trajs)
    actor = ppo.PPO(task).policy
    t = adv.expert_transitions(ds, task.spec, actor, absorbing=True)
    n = ds.n_transitions
    assert len(t) == n + 4  # one absorbing self-loop row per terminated episode
    assert t.absorbing[:n].sum() == 0 and t.absorbing[n:].sum() == 4
    assert t.next_absorbing[:n].sum() == 4  # each episode's last step enters the absorbing state
    last = np.cumsum([len(tr) for tr in trajs]) - 1
    assert torch.all(t.next_absorbing[last] == 1) and torch.all(t.next_obs[last] == 0)
    assert t.acts.shape == (n + 4, 2)  # one-hot discrete actions
    plain = adv.expert_transitions(ds, task.spec, actor, absorbing=False)
    assert len(plain) == n and plain.next_absorbing.sum() == 0
    with pytest.raises(DataError):
        adv.expert_transitions(ds, make_task("pendulum").spec, actor, absorbing=True)


def test_gail_imitates_cartpole_and_learns_that_falling_is_bad(cartpole_demos):
    scorer = Scorer.make(make_task("cartpole", num_envs=20), make_expert("cartpole"), episodes=20)
    scores = []

    def cb(rec, policy):
        if rec.iteration % 5 == 0:
            scores.append(scorer(policy).normalized_score)
        return bool(scores) and scores[-1] >= 0.95

    res = adv.fit(make_task("cartpole", num_envs=16), cartpole_demos, adv.AdversarialConfig(),
                  ppo.PPOConfig(total_steps=40_000, seed=0), callback=cb)
    assert scores[-1] >= 0.95, scores  # seen: 0.96 after 12k steps
    # the expert never falls, so the learned reward of the absorbing state must be below zero (logit form)
    assert res.history[-1].extra["reward_absorbing"] < 0
    assert 0.5 < res.history[-1].extra["disc_expert_acc"] <= 1.0


def test_reward_forms():
    logit = torch.tensor([-2.0, 0.0, 3.0])
    d = torch.sigmoid(logit)
    torch.testing.assert_close(adv.generator_reward(logit, "positive"), -torch.log1p(-d))
    torch.testing.assert_close(adv.generator_reward(logit, "negative"), torch.log(d))
    torch.testing.assert_close(adv.generator_reward(logit, "logit"), torch.log(d) - torch.log1p(-d))


def test_airl_shaped_reward_is_f_and_logit_adds_minus_log_pi():
    task = make_task("pendulum", num_envs=4)
    demos = Dataset.from_trajectories(collect(make_task("pendulum", num_envs=2), make_expert("pendulum"),
                                              episodes=2, seed=0))
    out = {}
    for form in ("shaped", "logit"):
        trainer = adv.AdversarialTrainer(task, demos, adv.AdversarialConfig(method="airl", reward=form),
                                         ppo.PPOConfig(rollout_steps=16, seed=0))
        roll = trainer.ppo.collect()
        learner = adv.learner_transitions(roll, trainer.spec, trainer.ppo.policy, absorbing=True)
        r, r_abs = trainer.rewards(roll, learner)
        with torch.no_grad():
            f = trainer.disc.f(learner)[: roll.n].reshape(roll.rewards.shape).double().numpy()
        out[form] = (r, f, learner.log_probs[: roll.n].reshape(roll.rewards.shape).double().numpy(), r_abs)
    r, f, log_pi, r_abs = out["shaped"]
    np.testing.assert_allclose(r, f, rtol=1e-6)
    np.testing.assert_allclose(out["logit"][0], f - log_pi, rtol=1e-5, atol=1e-6)  # same seed, same net
    assert r_abs == pytest.approx(out["logit"][3])  # the absorbing loop has no -log pi term
    with pytest.raises(ConfigError, match="AIRL"):
        adv.AdversarialConfig(method="gail", reward="shaped")


def test_gradient_penalty_is_positive_and_backpropagates(cartpole_demos):
    trainer = adv.AdversarialTrainer(make_task("cartpole", num_envs=4), cartpole_demos,
                                     adv.AdversarialConfig(grad_penalty=1.0), ppo.PPOConfig(rollout_steps=16))
    roll = trainer.ppo.collect()
    learner = adv.learner_transitions(roll, trainer.spec, trainer.ppo.policy, absorbing=True)
    gp = trainer._gradient_penalty(trainer.expert.take(torch.arange(32)), learner.take(torch.arange(32)))
    assert gp.item() > 0
    gp.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.disc.parameters())


def test_airl_reward_export_round_trip(tmp_path):
    task = make_task("pendulum", num_envs=8)
    demos = Dataset.from_trajectories(collect(make_task("pendulum", num_envs=4), make_expert("pendulum"),
                                              episodes=4, seed=0))
    res = adv.fit(task, demos, adv.AdversarialConfig(method="airl"), ppo.PPOConfig(total_steps=2048, seed=0))
    assert len(res.history) == 4 and np.isfinite(res.history[-1].extra["disc_loss"])
    adv.save_reward(res.discriminator, tmp_path / "reward", task="pendulum")
    loaded = adv.load_reward(tmp_path / "reward", expect_task="pendulum")
    obs = torch.randn(10, 3)
    zero = torch.zeros(10)
    torch.testing.assert_close(loaded.reward_g(obs, zero), res.discriminator.reward_g(obs, zero))
    # the exported reward drives a fresh PPO run
    rewards = []
    fn = adv.learned_reward(loaded)
    out = ppo.train(make_task("pendulum", num_envs=4), ppo.PPOConfig(total_steps=256, rollout_steps=32),
                    reward_fn=lambda roll: rewards.append(fn(roll)) or rewards[-1])
    assert out.env_steps == 256 and rewards[0].shape == (32, 4)
    # at="next" rewards the state a step reaches: step t's next state is step t+1's state
    roll = ppo.PPO(make_task("pendulum", num_envs=2), ppo.PPOConfig(rollout_steps=4)).collect()
    r_next, r_state = adv.learned_reward(loaded)(roll), adv.learned_reward(loaded, at="state")(roll)
    np.testing.assert_allclose(r_next[:-1], r_state[1:], rtol=1e-6)
    assert not np.allclose(r_next, r_state)
    with pytest.raises(CheckpointError, match="learned on task"):
        adv.load_reward(tmp_path / "reward", expect_task="cartpole")
    with pytest.raises(CheckpointError):
        adv.load_reward(tmp_path / "nothing")


def test_gail_reward_cannot_be_exported(tmp_path, cartpole_demos):
    trainer = adv.AdversarialTrainer(make_task("cartpole", num_envs=2), cartpole_demos)
    with pytest.raises(ConfigError, match="only AIRL"):
        adv.save_reward(trainer.disc, tmp_path / "r", task="cartpole")


def test_trainer_state_round_trip(tmp_path, cartpole_demos):
    cfg, pcfg = adv.AdversarialConfig(), ppo.PPOConfig(total_steps=512, rollout_steps=16, seed=2)
    a = adv.AdversarialTrainer(make_task("cartpole", num_envs=8), cartpole_demos, cfg, pcfg)
    adv.fit(a.task, cartpole_demos, cfg, pcfg, trainer=a)
    ppo.save_state(tmp_path / "s", *a.state())
    b = adv.AdversarialTrainer(make_task("cartpole", num_envs=8), cartpole_demos, cfg, pcfg)
    b.load_state(*ppo.load_state(tmp_path / "s"))
    assert b.ppo.env_steps == a.ppo.env_steps == 512 and b.wall_s == a.wall_s
    for (k, va), (_, vb) in zip(a.disc.state_dict().items(), b.disc.state_dict().items()):
        assert torch.equal(va, vb), k
    airl = adv.AdversarialTrainer(make_task("cartpole", num_envs=8), cartpole_demos,
                                  adv.AdversarialConfig(method="airl"), pcfg)
    with pytest.raises(CheckpointError, match="not 'airl'"):
        airl.load_state(*ppo.load_state(tmp_path / "s"))


def test_bc_warm_start_starts_near_the_expert(cartpole_demos):
    trainer = adv.AdversarialTrainer(make_task("cartpole", num_envs=4), cartpole_demos,
                                     adv.AdversarialConfig(bc_steps=300), ppo.PPOConfig(seed=0))
    scorer = Scorer.make(make_task("cartpole", num_envs=10), make_expert("cartpole"), episodes=10)
    before = scorer(trainer.ppo.policy).normalized_score
    trainer.warm_start()
    assert before < 0.5 < scorer(trainer.ppo.policy.eval()).normalized_score


@pytest.mark.parametrize("bad", [dict(method="bc"), dict(reward="exp"), dict(disc_lr=0.0), dict(disc_batch=0),
                                 dict(grad_penalty=-1.0), dict(disc_hidden=(0,))])
def test_bad_config(bad):
    with pytest.raises(ConfigError):
        adv.AdversarialConfig(**bad)


def test_warm_start_holds_the_policy_while_the_critic_warms_up(cartpole_demos):
    trainer = adv.AdversarialTrainer(make_task("cartpole", num_envs=4), cartpole_demos,
                                     adv.AdversarialConfig(bc_steps=50, critic_warmup=2),
                                     ppo.PPOConfig(rollout_steps=16, seed=0))
    trainer.warm_start()
    actor = trainer.ppo.policy
    before = {k: v.clone() for k, v in actor.state_dict().items()}
    critic = [p.clone() for p in trainer.agent.critic.parameters()]
    for _ in range(2):
        trainer.iterate()
    for k, v in actor.state_dict().items():  # weights and BC's normaliser untouched
        assert torch.equal(v, before[k]), k
    assert any(not torch.equal(a, b) for a, b in zip(critic, trainer.agent.critic.parameters()))
    trainer.iterate()
    assert any(not torch.equal(v, before[k]) for k, v in actor.state_dict().items() if "net" in k)
    assert torch.equal(actor.obs_mean, before["obs_mean"])  # still BC's statistics
