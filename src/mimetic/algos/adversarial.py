"""Adversarial imitation: GAIL (Ho & Ermon 2016) and AIRL (Fu, Luo & Levine 2018) on PPO.

One iteration:
1. PPO collects a rollout of the current policy (see :mod:`mimetic.algos.ppo`);
2. the discriminator takes ``disc_steps`` Adam steps of logistic regression, expert transitions
   (label 1) against the rollout's (label 0), optionally with a gradient penalty;
3. the rollout's rewards come from the updated discriminator's logit l = log D - log(1 - D):
   ``positive`` = -log(1 - D) = softplus(l), ``logit`` = l, ``negative`` = log D = -softplus(-l);
   AIRL also offers ``shaped`` = f(s, a, s'), the logit without its -log pi term (PPO then gets no
   entropy bonus of weight 1 through the reward, as in the ``imitation`` library's AIRL);
4. PPO updates on those rewards.

GAIL's D(s, a) is an MLP. AIRL's logit is f(s, a, s') - log pi(a|s) with the disentangled
f = g(s) + gamma h(s') - h(s) (Fu et al. eq. 4 with a state-only reward g); g is the reward
exported for transfer.

Early termination without survival bias (Kostrikov et al. 2019, "Discriminator-Actor-Critic"):
with ``absorbing`` on, an episode that terminates moves to an absorbing state that loops onto
itself forever. The discriminator sees it (a flag input) and learns its reward like any other
state's; PPO bootstraps a termination with that reward's discounted value r_abs / (1 - gamma)
instead of 0. So whether dying early is good or bad is learned from the demonstrations, not
implied by the sign of the reward form (a positive reward otherwise pays for surviving; a
negative one for dying). Time-limit truncations always bootstrap from the value of the final
state, so a fixed horizon adds no bias either.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mimetic import seeding
from mimetic.algos import ppo as ppo_mod
from mimetic.algos.ppo import (
    PPO,
    PPO_NET,
    ActorCritic,
    Callback,
    IterationRecord,
    PPOConfig,
    Rollout,
)
from mimetic.data.dataset import Dataset
from mimetic.envs.base import BatchedTask, TaskSpec
from mimetic.errors import CheckpointError, ConfigError, DataError
from mimetic.nets.mlp import ACTIVATIONS, mlp
from mimetic.policies.mlp import MLPConfig, MLPPolicy

REWARD_FORMS = ("positive", "logit", "negative", "shaped")


@dataclass(frozen=True)
class AdversarialConfig:
    """Discriminator and reward settings shared by GAIL and AIRL (PPO has its own config)."""

    method: Literal["gail", "airl"] = "gail"
    """gail: discriminator D(s, a); airl: logit f(s, a, s') - log pi(a|s), f = g(s) + gamma h(s') - h(s)."""

    reward: Literal["positive", "logit", "negative", "shaped"] = "logit"
    """Generator reward from the discriminator logit l: positive = -log(1 - D), logit = l =
    log D - log(1 - D), negative = log D; shaped (AIRL only) = f(s, a, s'), l without -log pi."""

    disc_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the discriminator (AIRL: of g and of h)."""

    disc_activation: Literal["relu", "tanh", "gelu", "silu", "elu"] = "tanh"
    """Discriminator hidden activation."""

    disc_lr: float = 1e-3
    """Discriminator Adam learning rate."""

    disc_steps: int = 8
    """Discriminator updates per PPO iteration."""

    disc_warmup: int = 100
    """Extra discriminator updates on the first rollout, before the first policy update: an
    untrained discriminator's arbitrary rewards (worst of all the absorbing state's, which is
    worth r_abs / (1 - gamma)) would otherwise steer the first PPO steps."""

    disc_batch: int = 256
    """Expert and learner transitions per discriminator update (each)."""

    grad_penalty: float = 1.0
    """Weight of a zero-centred gradient penalty on the discriminator logit at random points
    between expert and learner inputs (0 = off); it keeps the discriminator from overpowering PPO."""

    absorbing: bool = True
    """Learn the reward of an absorbing state after termination (no survival or death bias);
    off: a termination ends the return with 0."""

    bc_steps: int = 0
    """Warm start: behavioral-cloning steps on the demonstrations before adversarial training (the
    policy then keeps BC's observation normaliser)."""

    critic_warmup: int = 5
    """With a warm start: PPO iterations that fit only the value function, the policy held still,
    so the first policy updates are not driven by an untrained critic's advantages."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "disc_hidden", tuple(int(h) for h in self.disc_hidden))
        if self.method not in ("gail", "airl"):
            raise ConfigError(f"method must be 'gail' or 'airl', got {self.method!r}")
        if self.reward not in REWARD_FORMS:
            raise ConfigError(f"reward must be one of {', '.join(REWARD_FORMS)}, got {self.reward!r}")
        if self.reward == "shaped" and self.method != "airl":
            raise ConfigError("reward 'shaped' is AIRL's f(s, a, s'); GAIL has no shaped reward")
        if self.disc_activation not in ACTIVATIONS:
            raise ConfigError(f"disc_activation must be one of {', '.join(ACTIVATIONS)}")
        if any(h < 1 for h in self.disc_hidden):
            raise ConfigError(f"disc_hidden widths must be >= 1, got {self.disc_hidden}")
        if not self.disc_lr > 0:
            raise ConfigError(f"disc_lr must be > 0, got {self.disc_lr}")
        if min(self.disc_steps, self.disc_warmup, self.bc_steps, self.critic_warmup) < 0 or self.disc_batch < 1:
            raise ConfigError("disc_steps, disc_warmup, bc_steps and critic_warmup must be >= 0 and disc_batch >= 1")
        if self.grad_penalty < 0:
            raise ConfigError(f"grad_penalty must be >= 0, got {self.grad_penalty}")


DEFAULT_ADVERSARIAL = AdversarialConfig()
DEFAULT_PPO = PPOConfig()


# ----------------------------------------------------------------------------- transitions


@dataclass
class Transitions:
    """Discriminator inputs, batch first. Absorbing rows have zero observations and the flag set."""

    obs: torch.Tensor  # (N, O) raw observations (the policy normalises its own)
    acts: torch.Tensor  # (N, A') action features: one-hot (discrete) or [-1, 1]-scaled
    raw: torch.Tensor  # (N,) int64 or (N, A) scaled: what the policy's log-prob needs
    next_obs: torch.Tensor  # (N, O)
    absorbing: torch.Tensor  # (N,) float 0/1: the state is the absorbing state
    next_absorbing: torch.Tensor  # (N,) float 0/1: the transition enters (or loops on) it
    log_probs: torch.Tensor | None = None  # (N,) learner's log pi at collection (AIRL)

    def __len__(self) -> int:
        return len(self.obs)

    def take(self, idx: torch.Tensor) -> Transitions:
        return Transitions(self.obs[idx], self.acts[idx], self.raw[idx], self.next_obs[idx], self.absorbing[idx],
                           self.next_absorbing[idx], None if self.log_probs is None else self.log_probs[idx])


def _raw_actions(spec: TaskSpec, actor: MLPPolicy, acts: np.ndarray) -> torch.Tensor:
    if spec.discrete:
        return torch.as_tensor(np.asarray(acts, np.int64).reshape(-1))
    a = torch.as_tensor(np.asarray(acts, np.float32).reshape(len(acts), -1))
    return ((a - actor.act_centre) / actor.act_half).clamp(-1.0, 1.0)  # (N, A)


def _features(spec: TaskSpec, raw: torch.Tensor) -> torch.Tensor:
    if spec.discrete:
        return F.one_hot(raw.long(), spec.act_dim).float()  # (N, n)
    return raw.float()


def _with_absorbing(t: Transitions, n_abs: int, spec: TaskSpec) -> Transitions:
    """Append ``n_abs`` absorbing self-loop rows (s_abs, any a, s_abs): their reward is r_abs."""
    if n_abs == 0:
        return t
    z_obs = torch.zeros((n_abs, t.obs.shape[1]))
    z_raw = torch.zeros((n_abs, *t.raw.shape[1:]), dtype=t.raw.dtype)
    ones = torch.ones(n_abs)
    lp = None if t.log_probs is None else torch.cat([t.log_probs, torch.zeros(n_abs)])
    return Transitions(torch.cat([t.obs, z_obs]), torch.cat([t.acts, torch.zeros((n_abs, t.acts.shape[1]))]),
                       torch.cat([t.raw, z_raw]), torch.cat([t.next_obs, z_obs]),
                       torch.cat([t.absorbing, ones]), torch.cat([t.next_absorbing, ones]), lp)


def expert_transitions(demos: Dataset, spec: TaskSpec, actor: MLPPolicy, *, absorbing: bool) -> Transitions:
    """The demonstrations as discriminator inputs (plus one absorbing row per terminated episode)."""
    if demos.discrete != spec.discrete or demos.obs_shape != tuple(spec.observation_space.shape):
        raise DataError(f"the demonstrations' spaces do not match task {spec.name!r}")
    steps = demos.step_index()
    if len(steps) == 0:
        raise DataError("the demonstrations have no labelled transitions")
    rows = demos.obs_rows(steps)
    obs_all = demos.obs.reshape(demos.obs.shape[0], -1)
    ep = demos.step_episode[steps]
    last = steps == demos.ep_starts[ep] + demos.ep_lengths[ep] - 1
    enters = last & demos.terminated[ep]  # (N,) the step ends the episode by termination
    raw = _raw_actions(spec, actor, demos.acts[steps])
    t = Transitions(
        obs=torch.as_tensor(obs_all[rows], dtype=torch.float32),
        acts=_features(spec, raw), raw=raw,
        next_obs=torch.as_tensor(np.where(enters[:, None], 0.0, obs_all[rows + 1]), dtype=torch.float32),
        absorbing=torch.zeros(len(steps)),
        next_absorbing=torch.as_tensor(enters, dtype=torch.float32) if absorbing else torch.zeros(len(steps)),
    )
    return _with_absorbing(t, int(enters.sum()) if absorbing else 0, spec)


def learner_transitions(roll: Rollout, spec: TaskSpec, actor: MLPPolicy, *, absorbing: bool) -> Transitions:
    """A PPO rollout as discriminator inputs, rows in (T, B) order, then absorbing rows."""
    term = torch.as_tensor(roll.terminated.reshape(-1), dtype=torch.float32)
    raw = roll.raw_acts.flatten(0, 1)
    if not spec.discrete:
        raw = raw.clamp(-1.0, 1.0)  # what the task executed (it clips), in scaled units
    nxt = roll.next_obs.flatten(0, 1)
    t = Transitions(
        obs=roll.obs.flatten(0, 1), acts=_features(spec, raw), raw=roll.raw_acts.flatten(0, 1),
        next_obs=torch.where(term[:, None] > 0, 0.0, nxt) if absorbing else nxt,
        absorbing=torch.zeros(len(term)), next_absorbing=term if absorbing else torch.zeros(len(term)),
        log_probs=roll.log_probs.reshape(-1),
    )
    return _with_absorbing(t, int(term.sum()) if absorbing else 0, spec)


# ----------------------------------------------------------------------------- discriminators


class Discriminator(nn.Module):
    """GAIL: logit(s, a) = MLP([norm(s), a, absorbing]). AIRL: g(s) + gamma h(s') - h(s) - log pi."""

    def __init__(self, config: AdversarialConfig, *, obs_dim: int, act_dim: int, obs_mean: np.ndarray,
                 obs_std: np.ndarray, gamma: float, seed: int) -> None:
        super().__init__()
        self.method, self.gamma = config.method, gamma
        self.register_buffer("obs_mean", torch.as_tensor(obs_mean, dtype=torch.float32))
        self.register_buffer("obs_std", torch.as_tensor(obs_std, dtype=torch.float32))
        o, a = obs_dim, act_dim  # act_dim: action features (one-hot size or continuous dims)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seeding.DISCRIMINATOR_INIT(seed))
            if config.method == "gail":
                self.d = mlp((o + a + 1, *config.disc_hidden, 1), config.disc_activation)
            else:
                self.g = mlp((o + 1, *config.disc_hidden, 1), config.disc_activation)
                self.h = mlp((o + 1, *config.disc_hidden, 1), config.disc_activation)

    def state_input(self, obs: torch.Tensor, absorbing: torch.Tensor) -> torch.Tensor:
        x = (obs - self.obs_mean) / self.obs_std * (1.0 - absorbing[:, None])  # absorbing: zeros
        return torch.cat([x, absorbing[:, None]], dim=1)  # (N, O + 1)

    def gail_input(self, t: Transitions) -> torch.Tensor:
        return torch.cat([self.state_input(t.obs, t.absorbing), t.acts * (1.0 - t.absorbing[:, None])], dim=1)

    def reward_g(self, obs: torch.Tensor, absorbing: torch.Tensor) -> torch.Tensor:
        """AIRL's state-only reward g(s) (N,): the reward exported for transfer."""
        return self.g(self.state_input(obs, absorbing)).squeeze(-1)

    def airl_inputs(self, t: Transitions) -> tuple[torch.Tensor, torch.Tensor]:
        return self.state_input(t.obs, t.absorbing), self.state_input(t.next_obs, t.next_absorbing)

    def f_of(self, x_s: torch.Tensor, x_next: torch.Tensor) -> torch.Tensor:
        """AIRL's f(s, a, s') = g(s) + gamma h(s') - h(s) (N,) from normalised state inputs."""
        return (self.g(x_s) + self.gamma * self.h(x_next) - self.h(x_s)).squeeze(-1)

    def f(self, t: Transitions) -> torch.Tensor:
        return self.f_of(*self.airl_inputs(t))

    def logit(self, t: Transitions, log_pi: torch.Tensor | None = None) -> torch.Tensor:
        """log D - log(1 - D) per transition (N,); AIRL needs log pi(a|s) of the current policy."""
        if self.method == "gail":
            return self.d(self.gail_input(t)).squeeze(-1)
        assert log_pi is not None, "AIRL's discriminator needs the policy's log-probabilities"
        return self.f(t) - log_pi * (1.0 - t.absorbing)  # the absorbing loop has no action choice


def generator_reward(logit: torch.Tensor, form: str) -> torch.Tensor:
    if form == "positive":
        return F.softplus(logit)  # -log(1 - D)
    if form == "negative":
        return -F.softplus(-logit)  # log D
    return logit


# ----------------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class AdversarialResult:
    policy: MLPPolicy
    discriminator: Discriminator
    history: list[IterationRecord]
    env_steps: int
    wall_s: float


class AdversarialTrainer:
    """PPO + discriminator state, so a run can be checkpointed and resumed between iterations."""

    def __init__(self, task: BatchedTask, demos: Dataset, config: AdversarialConfig = DEFAULT_ADVERSARIAL,
                 ppo_config: PPOConfig = DEFAULT_PPO, net: MLPConfig = PPO_NET) -> None:
        self.task, self.config, self.spec = task, config, task.spec
        self.ppo = PPO(task, ppo_config, net)
        mean, std = demos.obs_stats()
        self.disc = Discriminator(config, obs_dim=self.spec.obs_dim, act_dim=self.spec.act_dim,
                                  obs_mean=mean.reshape(-1), obs_std=std.reshape(-1), gamma=ppo_config.gamma,
                                  seed=ppo_config.seed)
        self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=config.disc_lr)
        self.expert = expert_transitions(demos, self.spec, self.ppo.policy, absorbing=config.absorbing)
        self.rng = torch.Generator().manual_seed(seeding.DISCRIMINATOR_BATCHES(ppo_config.seed))
        self.demos = demos
        self.wall_s = 0.0
        self.warm_started = False
        self.history: list[IterationRecord] = []

    @property
    def agent(self) -> ActorCritic:
        return self.ppo.agent

    def warm_start(self, *, progress: bool = False) -> None:
        """BC on the demonstrations (``bc_steps``), then the PPO exploration noise is restored."""
        from mimetic.algos import bc

        if self.config.bc_steps == 0:
            return
        t0 = time.perf_counter()
        policy = self.ppo.policy
        log_std = None if self.spec.discrete else policy.log_std.detach().clone()
        # device cpu: PPO (and so this warm start of its actor) runs on the CPU for now
        bc.fit(policy, self.demos, bc.BCConfig(steps=self.config.bc_steps, seed=self.ppo.config.seed, device="cpu"),
               progress=progress)
        if log_std is not None:
            policy.log_std.data.copy_(log_std)  # keep PPO's exploration noise
        # Keep BC's normaliser: folding the first noisy rollouts into it shifted every input and
        # turned a driving policy at the expert's cost into one that crashed, before any update.
        self.ppo.frozen_normalizer = True
        self.warm_started = True
        policy.train()
        self.wall_s += time.perf_counter() - t0

    def _log_pi(self, t: Transitions) -> torch.Tensor | None:
        if self.config.method != "airl":
            return None
        with torch.no_grad():
            return self.agent.log_prob_entropy(t.obs, t.raw)[0]

    def update_discriminator(self, learner: Transitions, steps: int) -> dict[str, float]:
        cfg = self.config
        sums = np.zeros(3)
        for _ in range(steps):
            e = self.expert.take(self._sample(self.expert))
            ln = learner.take(self._sample(learner))
            e_logit = self.disc.logit(e, self._log_pi(e))
            l_logit = self.disc.logit(ln, ln.log_probs if cfg.method == "airl" else None)
            loss = F.softplus(-e_logit).mean() + F.softplus(l_logit).mean()  # BCE: expert 1, learner 0
            if cfg.grad_penalty > 0:
                loss = loss + cfg.grad_penalty * self._gradient_penalty(e, ln)
            self.disc_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.disc_opt.step()
            sums += [loss.item(), (e_logit > 0).float().mean().item(), (l_logit < 0).float().mean().item()]
        m = sums / max(steps, 1)
        return {"disc_loss": m[0], "disc_expert_acc": m[1], "disc_learner_acc": m[2]}

    def _sample(self, t: Transitions) -> torch.Tensor:
        """``disc_batch`` row indices. An absorbing row stands for the whole infinite loop after a
        termination, sum_k gamma^k = 1 / (1 - gamma) visits, the weight its reward gets in the
        return, so it is drawn that much more often than a single step (occupancy matching)."""
        n = self.config.disc_batch
        if not self.config.absorbing or t.absorbing.sum() == 0:
            return torch.randint(len(t), (n,), generator=self.rng)
        weight = 1.0 + t.absorbing * (1.0 / (1.0 - min(self.ppo.config.gamma, 0.999)) - 1.0)  # (N,)
        return torch.multinomial(weight, n, replacement=True, generator=self.rng)

    def _gradient_penalty(self, e: Transitions, ln: Transitions) -> torch.Tensor:
        """Mean squared gradient norm of the logit at random points between expert and learner inputs
        (GAIL: the (s, a) input; AIRL: f's (s, s') inputs, the policy term has no parameters here)."""
        alpha = torch.rand((len(e), 1), generator=self.rng)
        if self.config.method == "gail":
            xs = [alpha * self.disc.gail_input(e) + (1 - alpha) * self.disc.gail_input(ln)]
            xs = [x.requires_grad_(True) for x in xs]
            out = self.disc.d(xs[0]).sum()
        else:
            xs = [alpha * a + (1 - alpha) * b for a, b in zip(self.disc.airl_inputs(e), self.disc.airl_inputs(ln))]
            xs = [x.requires_grad_(True) for x in xs]
            out = self.disc.f_of(*xs).sum()
        grads = torch.autograd.grad(out, xs, create_graph=True)
        # Only between real states: the absorbing flag is a category, not a place to interpolate to,
        # and a flat logit towards it would keep termination as rewarding as the expert's states.
        real = (1.0 - e.absorbing) * (1.0 - ln.absorbing)  # (N,)
        per_row = sum(g.square().sum(dim=1) for g in grads)
        return (per_row * real).sum() / real.sum().clamp_min(1.0)

    def rewards(self, roll: Rollout, learner: Transitions) -> tuple[np.ndarray, float]:
        """Generator rewards (T, B) for the rollout and the absorbing state's reward r_abs."""
        form = self.config.reward
        with torch.no_grad():
            if form == "shaped":
                r = self.disc.f(learner).double().numpy()
            else:
                r = generator_reward(self.disc.logit(learner, learner.log_probs), form).double().numpy()
            r_abs = 0.0
            if self.config.absorbing:
                loop = _with_absorbing(learner.take(torch.arange(0)), 1, self.spec)
                loop.log_probs = torch.zeros(1)
                # the loop has no action choice, so its logit is f itself and every form agrees with it
                r_abs = float(self.disc.f(loop)[0] if form == "shaped"
                              else generator_reward(self.disc.logit(loop, loop.log_probs), form)[0])
        return r[: roll.n].reshape(roll.rewards.shape), r_abs

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """PPO's resumable state plus the discriminator's (see :func:`mimetic.algos.ppo.save_state`)."""
        tensors, meta = self.ppo.state()
        tensors.update({f"disc.{k}": v for k, v in self.disc.state_dict().items()})
        tensors.update(ppo_mod.optimizer_tensors(self.disc_opt, "disc_opt"))
        tensors["rng.disc"] = self.rng.get_state()
        return tensors, {**meta, "method": self.config.method, "wall_s": self.wall_s,
                         "warm_started": self.warm_started}

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        if meta.get("method") != self.config.method:
            raise CheckpointError(f"the saved run is {meta.get('method')!r}, not {self.config.method!r}")
        self.ppo.load_state(tensors, meta)
        disc = {k[len("disc."):]: v for k, v in tensors.items() if k.startswith("disc.")}
        try:
            self.disc.load_state_dict(disc)
        except RuntimeError as err:
            raise CheckpointError(f"saved discriminator does not match this configuration: {str(err)[:200]}") from None
        ppo_mod.load_optimizer(self.disc_opt, tensors, "disc_opt")
        self.rng.set_state(tensors["rng.disc"])
        self.wall_s = float(meta.get("wall_s", 0.0))
        self.warm_started = bool(meta.get("warm_started", False))

    def iterate(self) -> IterationRecord:
        """One collect / discriminator / reward / PPO-update iteration."""
        t0 = time.perf_counter()
        ppo = self.ppo
        roll = ppo.collect()
        learner = learner_transitions(roll, self.spec, ppo.policy, absorbing=self.config.absorbing)
        warmup = self.config.disc_warmup if ppo.iteration == 0 else 0
        disc = self.update_discriminator(learner, self.config.disc_steps + warmup)
        rewards, r_abs = self.rewards(roll, learner)
        # the absorbing state loops forever: what follows a termination is worth r_abs / (1 - gamma)
        terminal = r_abs / (1.0 - ppo.config.gamma) if self.config.absorbing and ppo.config.gamma < 1 else 0.0
        hold = self.warm_started and ppo.iteration < self.config.critic_warmup
        metrics = ppo.learn(roll, rewards, terminal_value=terminal, train_actor=not hold)
        self.wall_s += time.perf_counter() - t0
        extra = {**disc, "reward_mean": float(rewards.mean()), "reward_absorbing": r_abs}
        rec = ppo_mod.record(ppo, roll, metrics, wall_s=self.wall_s, extra=extra)
        self.history.append(rec)
        return rec


def fit(
    task: BatchedTask,
    demos: Dataset,
    config: AdversarialConfig = DEFAULT_ADVERSARIAL,
    ppo_config: PPOConfig = DEFAULT_PPO,
    *,
    net: MLPConfig = PPO_NET,
    callback: Callback | None = None,
    trainer: AdversarialTrainer | None = None,
    progress: bool = False,
) -> AdversarialResult:
    """GAIL or AIRL (``config.method``) from ``demos`` for ``ppo_config.total_steps`` env steps.

    ``callback(record, policy)`` runs after every iteration (evaluation, checkpoints; not timed) and
    stops the run by returning True. ``trainer`` resumes an existing run.
    """
    from tqdm.auto import tqdm

    if trainer is None:
        trainer = AdversarialTrainer(task, demos, config, ppo_config, net)
        trainer.warm_start(progress=progress)
    ppo = trainer.ppo
    total = ppo.config.total_steps
    bar = tqdm(total=total, initial=min(ppo.env_steps, total), desc=f"{config.method} {task.spec.name}",
               unit="step", disable=not progress, leave=False)
    while ppo.env_steps < total:
        rec = trainer.iterate()
        bar.update(min(rec.env_steps, total) - bar.n)
        if rec.return_mean is not None:
            bar.set_postfix(ret=f"{rec.return_mean:.1f}", d_acc=f"{rec.extra['disc_expert_acc']:.2f}")
        if callback is not None and callback(rec, ppo.policy):
            break
    bar.close()
    ppo.policy.eval()
    return AdversarialResult(policy=ppo.policy, discriminator=trainer.disc, history=trainer.history,
                             env_steps=ppo.env_steps, wall_s=trainer.wall_s)


REWARD_KIND = "mimetic-airl-reward"


def save_reward(disc: Discriminator, directory: str | Path, *, task: str) -> Path:
    """Export AIRL's learned reward g(s): ``reward.safetensors`` + ``reward.json`` (no pickle)."""
    from mimetic.runs import write_tensors_json

    if disc.method != "airl":
        raise ConfigError("only AIRL learns a transferable reward; this discriminator is GAIL's")
    tensors = {k: v for k, v in disc.state_dict().items()
               if k.startswith(("g.", "obs_"))}
    sizes = [m.in_features for m in disc.g if isinstance(m, nn.Linear)]
    act = next((n for n, cls in ACTIVATIONS.items() for m in disc.g if type(m) is cls), "tanh")
    meta = {"format": REWARD_KIND, "version": 1, "task": task, "obs_dim": int(disc.obs_mean.numel()),
            "hidden": sizes[1:], "activation": act, "gamma": disc.gamma}
    write_tensors_json(directory, "reward", tensors, meta)
    return Path(directory)


def load_reward(directory: str | Path, *, expect_task: str | None = None) -> Discriminator:
    """A reward exported by :func:`save_reward`, as a Discriminator whose ``reward_g`` gives g(s)."""
    from mimetic.runs import read_tensors_json

    path = Path(directory)
    tensors, meta = read_tensors_json(path, "reward", corrupt="corrupt reward",
                                      missing="has no reward.json + reward.safetensors (an AIRL run's reward/ folder)")
    if not isinstance(meta, dict) or meta.get("format") != REWARD_KIND:
        raise CheckpointError(f"{path / 'reward.json'} is not a mimetic AIRL reward")
    if expect_task is not None and meta.get("task") != expect_task:
        raise CheckpointError(f"reward {path} was learned on task {meta.get('task')!r}, not {expect_task!r}")
    obs_dim = int(meta["obs_dim"])
    config = AdversarialConfig(method="airl", disc_hidden=tuple(meta["hidden"]), disc_activation=meta["activation"])
    disc = Discriminator(config, obs_dim=obs_dim, act_dim=1, obs_mean=np.zeros(obs_dim), obs_std=np.ones(obs_dim),
                         gamma=float(meta["gamma"]), seed=0)
    try:
        disc.load_state_dict(tensors, strict=False)
    except RuntimeError as err:
        raise CheckpointError(f"reward {path} does not match its reward.json: {str(err)[:200]}") from None
    missing = {k for k in disc.state_dict() if k.startswith(("g.", "obs_"))} - set(tensors)
    if missing:
        raise CheckpointError(f"reward {path} is missing tensors {sorted(missing)[:3]}")
    return disc.eval()


def learned_reward(disc: Discriminator, *, at: Literal["next", "state"] = "next") -> Any:
    """AIRL's exported reward as a PPO ``reward_fn`` (T, B): g of the state each step reaches
    (``at="next"``, default) or of the state it starts from (``"state"``). A state-only reward
    credits the action that led to a good state only through the next state; on pendulum g(s')
    trained a fresh PPO to expert level faster (0.92 at 102k steps against 0.36 for g(s))."""
    if disc.method != "airl":
        raise ConfigError("only AIRL learns a transferable reward; this discriminator is GAIL's")
    if at not in ("next", "state"):
        raise ConfigError(f"at must be 'next' or 'state', got {at!r}")

    def reward_fn(roll: Rollout) -> np.ndarray:
        t_max, b = roll.rewards.shape
        states = roll.next_obs if at == "next" else roll.obs
        with torch.no_grad():
            g = disc.reward_g(states.flatten(0, 1), torch.zeros(t_max * b))
        return g.double().numpy().reshape(t_max, b)

    return reward_fn


__all__ = [
    "AdversarialConfig",
    "AdversarialResult",
    "AdversarialTrainer",
    "Discriminator",
    "expert_transitions",
    "fit",
    "generator_reward",
    "learned_reward",
    "learner_transitions",
]
