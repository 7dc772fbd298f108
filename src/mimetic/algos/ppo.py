"""PPO (Schulman et al. 2017) on batched tasks: the RL generator of GAIL/AIRL and an RL baseline.

One iteration (Algorithm 1 of the paper, with the usual implementation details):
1. roll out the stochastic policy for ``rollout_steps`` steps in every env (:class:`StepStream`
   restarts finished episodes), keeping only observations and sampled actions: values and
   log-probabilities are computed afterwards in one batched pass each (cheaper than per step);
2. rewards: the task's, or any reward function (GAIL's discriminator, AIRL's f), optionally scaled
   by a running std of the discounted return;
3. GAE(gamma, lambda) advantages (Schulman et al. 2016). A time-limit truncation bootstraps from
   the value of the final observation (no "time is up" termination bias); a true termination
   bootstraps from ``terminal_value`` (0 by default; GAIL's absorbing state gives its own);
4. ``epochs`` passes of shuffled minibatches of the clipped surrogate + value MSE - entropy bonus,
   advantages normalised per minibatch, global gradient-norm clipping, linearly annealed lr.

The actor is a plain :class:`MLPPolicy` (categorical head, or gaussian head with a state-free
log-std), so a PPO policy is saved, loaded and evaluated like any BC policy, and BC can warm-start
it. Observations are normalised with running statistics that are frozen within an iteration.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mimetic import seeding
from mimetic.envs.base import BatchedTask, TaskSpec
from mimetic.errors import CheckpointError, ConfigError
from mimetic.nets.mlp import mlp
from mimetic.policies.mlp import MLPConfig, MLPPolicy, to_task_units
from mimetic.rollout import StepStream
from mimetic.trainstate import load_optimizer, optimizer_tensors  # noqa: F401  (re-exported)

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True)
class PPOConfig:
    """PPO settings (defaults: a fast, robust setting for the built-in control tasks)."""

    total_steps: int = 200_000
    """Environment steps to train for (summed over all envs)."""

    rollout_steps: int = 64
    """Steps per env per iteration; an iteration collects rollout_steps x num_envs transitions."""

    epochs: int = 4
    """Passes over each iteration's transitions."""

    minibatch: int = 256
    """Transitions per gradient step."""

    lr: float = 1e-3
    """Adam learning rate (actor and critic), annealed linearly to 0 unless anneal_lr is off."""

    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over total_steps."""

    gamma: float = 0.99
    """Discount factor."""

    gae_lambda: float = 0.95
    """GAE lambda: 0 = one-step TD advantages, 1 = Monte Carlo."""

    clip: float = 0.2
    """Clip range of the probability ratio in the surrogate objective."""

    ent_coef: float = 0.0
    """Entropy bonus coefficient."""

    vf_coef: float = 0.5
    """Value loss coefficient."""

    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""

    init_log_std: float = -0.5
    """Continuous actions: initial log-std of the gaussian policy, in [-1, 1]-scaled action units."""

    normalize_obs: bool = True
    """Normalise observations with running mean/std (updated between iterations)."""

    normalize_reward: bool = True
    """Divide rewards by a running std of the discounted return."""

    seed: int = 0
    """Seeds the networks, the action sampling and the env reset seeds."""

    def __post_init__(self) -> None:
        for name in ("total_steps", "rollout_steps", "epochs", "minibatch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not 0.0 < self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise ConfigError(f"need 0 < gamma <= 1 and 0 <= gae_lambda <= 1, got {self.gamma}, {self.gae_lambda}")
        if not self.clip > 0 or self.max_grad_norm <= 0:
            raise ConfigError(f"clip and max_grad_norm must be > 0, got {self.clip}, {self.max_grad_norm}")
        if self.ent_coef < 0 or self.vf_coef < 0:
            raise ConfigError(f"ent_coef and vf_coef must be >= 0, got {self.ent_coef}, {self.vf_coef}")


DEFAULT_CONFIG = PPOConfig()

PPO_NET = MLPConfig(hidden=(64, 64), activation="tanh")
"""The default actor/critic architecture (the critic copies the actor's hidden sizes)."""


class RunningStats:
    """Running mean and variance over rows (Chan et al.'s parallel update)."""

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self.mean = np.zeros(shape)
        self.var = np.ones(shape)
        self.count = 1e-4

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64).reshape(-1, *self.mean.shape)
        n, mean, var = len(x), x.mean(axis=0), x.var(axis=0)
        delta, total = mean - self.mean, self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "var": self.var, "count": np.array(self.count)}

    def load(self, state: dict[str, np.ndarray]) -> None:
        self.mean, self.var = np.asarray(state["mean"], np.float64), np.asarray(state["var"], np.float64)
        self.count = float(state["count"])


class ActorCritic(nn.Module):
    """An MLPPolicy actor and a separate value network reading the actor's normalised input."""

    def __init__(self, spec: TaskSpec, net: MLPConfig, *, init_log_std: float, seed: int) -> None:
        super().__init__()
        head = "categorical" if spec.discrete else "gaussian"
        net = replace(net, head=head, gaussian_std="param", ensemble=1)
        self.actor = MLPPolicy.for_spec(spec, net, seed=seed)
        self.discrete = spec.discrete
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seeding.CRITIC_INIT(seed))
            self.critic = mlp((spec.obs_dim, *net.hidden, 1), net.activation)
            # A near-zero last actor layer starts every action near uniform / centred (Andrychowicz
            # et al. 2021, "What matters in on-policy RL": the most important init choice).
            last = [m for m in self.actor.net.modules() if isinstance(m, nn.Linear)][-1]
            last.weight.data.mul_(0.01)
            last.bias.data.zero_()
        if not spec.discrete:
            self.actor.log_std.data.fill_(init_log_std)

    def normalized(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs.reshape(obs.shape[0], -1) - self.actor.obs_mean) / self.actor.obs_std

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.normalized(obs)).squeeze(-1)  # (B,)

    def _log_std(self) -> torch.Tensor:
        cfg = self.actor.config
        return self.actor.log_std.clamp(cfg.log_std_min, cfg.log_std_max)  # (A,)

    def sample(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Raw actions: int64 (B,) or [-1, 1]-scaled, unclipped float (B, A)."""
        out = self.actor(obs)
        if self.discrete:
            return torch.multinomial(torch.softmax(out, dim=-1), 1, generator=generator).squeeze(-1)
        noise = torch.randn(out.shape, generator=generator)
        return out + noise * self._log_std().exp()

    def log_prob_entropy(self, obs: torch.Tensor, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi(raw | obs) (B,) and the policy entropy (B,)."""
        out = self.actor(obs)
        if self.discrete:
            logp_all = torch.log_softmax(out, dim=-1)  # (B, n)
            logp = logp_all.gather(1, raw.long().unsqueeze(1)).squeeze(1)
            return logp, -(logp_all.exp() * logp_all).sum(dim=-1)
        log_std = self._log_std()
        z = (raw - out) * torch.exp(-log_std)  # (B, A)
        logp = -(0.5 * z.square() + log_std + _HALF_LOG_2PI).sum(dim=-1)
        entropy = (log_std + 0.5 + _HALF_LOG_2PI).sum().expand(len(raw))
        return logp, entropy

    def to_env(self, raw: torch.Tensor) -> np.ndarray:
        """Task actions for raw samples: the same int64, or unscaled and clipped to the bounds."""
        if self.discrete:
            return raw.numpy()
        return to_task_units(self.actor, raw).numpy()


@dataclass
class Rollout:
    """One iteration's transitions, time-major: (T, B, ...)."""

    obs: torch.Tensor  # (T, B, O)
    next_obs: torch.Tensor  # (T, B, O) true next observations (final ones at episode ends)
    raw_acts: torch.Tensor  # (T, B) int64 or (T, B, A) scaled
    env_acts: np.ndarray  # (T, B) or (T, B, A) what the task received
    rewards: np.ndarray  # (T, B) task rewards
    terminated: np.ndarray  # (T, B) bool
    truncated: np.ndarray  # (T, B) bool
    log_probs: torch.Tensor = field(default_factory=lambda: torch.empty(0))  # (T, B) at collection time
    episodes: list[tuple[float, int]] = field(default_factory=list)  # (return, length) finished in it

    @property
    def n(self) -> int:
        return int(self.terminated.size)


@dataclass(frozen=True)
class IterationRecord:
    """What one PPO iteration did (one JSON line of metrics.jsonl)."""

    iteration: int
    env_steps: int
    wall_s: float
    episodes: int
    return_mean: float | None  # training episodes (stochastic policy, task reward) finished in it
    length_mean: float | None
    policy_loss: float
    value_loss: float
    entropy: float
    approx_kl: float
    clip_frac: float
    lr: float
    extra: dict[str, float] = field(default_factory=dict)


class PPO:
    """The PPO learner: :meth:`collect` a rollout, compute rewards, :meth:`update`."""

    def __init__(self, task: BatchedTask, config: PPOConfig = DEFAULT_CONFIG, net: MLPConfig = PPO_NET) -> None:
        self.task, self.config = task, config
        self.agent = ActorCritic(task.spec, net, init_log_std=config.init_log_std, seed=config.seed)
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=config.lr, eps=1e-5)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.shuffle_rng = np.random.default_rng(config.seed)
        self.stream = StepStream(task, seed=seeding.EPISODES(config.seed))
        self.obs_stats = RunningStats((task.spec.obs_dim,))
        self.ret_stats = RunningStats()
        self._ret = np.zeros(task.num_envs)  # running discounted return per env (reward scaling)
        self.env_steps = 0
        self.iteration = 0
        self.frozen_normalizer = False  # a warm-started policy keeps the statistics it was fit with

    @property
    def policy(self) -> MLPPolicy:
        return self.agent.actor

    def collect(self) -> Rollout:
        """Roll out the current stochastic policy for ``rollout_steps`` steps in every env."""
        t_max, spec = self.config.rollout_steps, self.task.spec
        b = self.task.num_envs
        obs = torch.zeros((t_max, b, spec.obs_dim))  # (T, B, O)
        next_obs = torch.zeros((t_max, b, spec.obs_dim))  # (T, B, O)
        raws: list[torch.Tensor] = []
        env_acts: list[np.ndarray] = []
        rewards = np.zeros((t_max, b))
        terminated = np.zeros((t_max, b), bool)
        truncated = np.zeros((t_max, b), bool)
        done_before = len(self.stream.finished)
        with torch.inference_mode():
            for t in range(t_max):
                o = torch.from_numpy(np.asarray(self.stream.obs, np.float32).reshape(b, -1))
                raw = self.agent.sample(o, self.generator)
                acts = self.agent.to_env(raw)
                tr = self.stream.step(acts)
                obs[t] = o
                next_obs[t] = torch.from_numpy(np.asarray(tr.next_obs, np.float32).reshape(b, -1))
                raws.append(raw)
                env_acts.append(acts)
                rewards[t], terminated[t], truncated[t] = tr.rewards, tr.terminated, tr.truncated
            raw_acts = torch.stack(raws)  # (T, B) or (T, B, A)
            logp, _ = self.agent.log_prob_entropy(obs.flatten(0, 1), raw_acts.flatten(0, 1))
        self.env_steps += t_max * b
        episodes = self.stream.finished[done_before:]
        return Rollout(obs=obs, next_obs=next_obs, raw_acts=raw_acts, env_acts=np.stack(env_acts),
                       rewards=rewards, terminated=terminated, truncated=truncated,
                       log_probs=logp.view(t_max, b), episodes=list(episodes))

    def reward_scale(self, rewards: np.ndarray, roll: Rollout) -> float:
        """The factor PPO multiplies rewards by: 1 / running std of the discounted return
        (``normalize_reward``), else 1. Updates the running statistics."""
        if not self.config.normalize_reward:
            return 1.0
        done = roll.terminated | roll.truncated
        rets = np.zeros_like(rewards)
        for t in range(len(rewards)):
            self._ret = self._ret * self.config.gamma + rewards[t]
            rets[t] = self._ret
            self._ret = np.where(done[t], 0.0, self._ret)
        self.ret_stats.update(rets.reshape(-1))
        return 1.0 / math.sqrt(float(self.ret_stats.var) + 1e-8)

    def advantages(self, roll: Rollout, rewards: np.ndarray, terminal_value: np.ndarray | float = 0.0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE advantages and value targets (T, B); ``terminal_value`` (T, B) or scalar is the value
        of what follows a termination (already scaled like the rewards)."""
        cfg = self.config
        t_max, b = rewards.shape
        with torch.inference_mode():
            values = self.agent.value(roll.obs.flatten(0, 1)).view(t_max, b).double().numpy()
            next_values = self.agent.value(roll.next_obs.flatten(0, 1)).view(t_max, b).double().numpy()
        next_values = np.where(roll.terminated, terminal_value, next_values)  # truncation keeps V(s')
        deltas = rewards + cfg.gamma * next_values - values  # (T, B)
        carry = (~(roll.terminated | roll.truncated)) * (cfg.gamma * cfg.gae_lambda)  # (T, B)
        adv = np.zeros((t_max, b))
        running = np.zeros(b)
        for t in range(t_max - 1, -1, -1):
            running = deltas[t] + carry[t] * running
            adv[t] = running
        return torch.from_numpy(adv).float(), torch.from_numpy(adv + values).float()

    def update(self, roll: Rollout, advantages: torch.Tensor, returns: torch.Tensor, *,
               train_actor: bool = True) -> dict[str, float]:
        """Clipped-surrogate epochs over the rollout; returns mean losses and diagnostics.
        ``train_actor=False`` fits only the value function (a critic warm-up: the policy stays)."""
        cfg = self.config
        frac = 1.0 - min(1.0, (self.env_steps - roll.n) / cfg.total_steps)
        lr = cfg.lr * frac if cfg.anneal_lr else cfg.lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        obs, raw = roll.obs.flatten(0, 1), roll.raw_acts.flatten(0, 1)
        old_logp, adv, ret = roll.log_probs.reshape(-1), advantages.reshape(-1), returns.reshape(-1)
        n = len(obs)
        mb = min(cfg.minibatch, n)
        sums = np.zeros(5)  # policy loss, value loss, entropy, approx kl, clip fraction
        steps = 0
        params = [p for p in self.agent.parameters() if p.requires_grad]
        for _ in range(cfg.epochs):
            perm = torch.from_numpy(self.shuffle_rng.permutation(n))
            for start in range(0, n - mb + 1, mb):
                i = perm[start:start + mb]
                logp, ent = self.agent.log_prob_entropy(obs[i], raw[i])
                a = adv[i]
                a = (a - a.mean()) / (a.std() + 1e-8)
                log_ratio = logp - old_logp[i]
                ratio = log_ratio.exp()
                pg = -torch.min(ratio * a, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * a).mean()
                v_loss = (self.agent.value(obs[i]) - ret[i]).square().mean()
                ent_mean = ent.mean()
                loss = pg + cfg.vf_coef * v_loss - cfg.ent_coef * ent_mean if train_actor else v_loss
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                self.optimizer.step()
                with torch.no_grad():
                    kl = ((ratio - 1) - log_ratio).mean()  # Schulman's low-variance KL estimate
                    clipped = ((ratio - 1).abs() > cfg.clip).float().mean()
                    sums += np.array([pg.item(), v_loss.item(), ent_mean.item(), kl.item(), clipped.item()])
                steps += 1
        self.iteration += 1
        m = sums / max(steps, 1)
        return {"policy_loss": m[0], "value_loss": m[1], "entropy": m[2], "approx_kl": m[3],
                "clip_frac": m[4], "lr": lr}

    def learn(self, roll: Rollout, rewards: np.ndarray, *, terminal_value: float = 0.0,
              train_actor: bool = True) -> dict[str, float]:
        """Everything after a rollout: scale the rewards (and ``terminal_value``, the value that
        follows a termination, in reward units), GAE, the clipped-surrogate epochs, then fold the
        rollout into the observation statistics. Returns :meth:`update`'s metrics."""
        scale = self.reward_scale(rewards, roll)
        adv, ret = self.advantages(roll, rewards * scale, terminal_value * scale)
        metrics = self.update(roll, adv, ret, train_actor=train_actor)
        self.refresh_normalizer(roll)
        return metrics

    # -- resumable state (see save_state / load_state) ---------------------------------------

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Everything a later run needs to continue this one: tensors and JSON-able values. The
        running episodes are saved where the task has ``get_state`` (the built-in tasks: a resumed
        run continues bitwise); otherwise a resumed run starts fresh episodes (new reset seeds)."""
        tensors = {f"agent.{k}": v for k, v in self.agent.state_dict().items()}
        tensors.update(optimizer_tensors(self.optimizer, "ppo_opt"))
        tensors["rng.ppo"] = self.generator.get_state()
        meta = {"env_steps": self.env_steps, "iteration": self.iteration,
                "episodes_started": self.stream.episodes_started, "stream_seed": self.stream.seed,
                "obs_stats": _stats_json(self.obs_stats), "ret_stats": _stats_json(self.ret_stats),
                "running_return": self._ret.tolist(), "shuffle_rng": self.shuffle_rng.bit_generator.state,
                "frozen_normalizer": self.frozen_normalizer, "stream": self.stream.state()}
        return tensors, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Continue from :meth:`state` (as :func:`load_state` read and checked it); one-line
        CheckpointError when it does not fit this task and configuration."""
        problem = _state_problem(tensors, meta)  # also when the state came from a run directory's reader
        if problem:
            raise CheckpointError(f"corrupt training state: {problem}")
        agent = {k[len("agent."):]: v for k, v in tensors.items() if k.startswith("agent.")}
        try:
            self.agent.load_state_dict(agent)
        except RuntimeError as err:
            why = " ".join(str(err).split())  # torch lists each mismatch on its own line
            raise CheckpointError(f"saved PPO networks do not match this configuration: {why[:200]}") from None
        load_optimizer(self.optimizer, tensors, "ppo_opt")
        obs_dim = self.task.spec.obs_dim
        for key, shape in (("obs_stats", (obs_dim,)), ("ret_stats", ())):
            for part in ("mean", "var"):
                if np.shape(meta[key][part]) != shape:
                    raise CheckpointError(f"saved PPO state's {key} {part} has shape {np.shape(meta[key][part])}, "
                                          f"this task needs {shape}")
        try:  # the generators check their own state layouts
            self.generator.set_state(tensors["rng.ppo"])
            self.shuffle_rng.bit_generator.state = meta["shuffle_rng"]
        except (TypeError, ValueError, KeyError, RuntimeError, OverflowError) as err:
            why = " ".join(str(err).split())
            raise CheckpointError(f"saved PPO state has an unusable random generator state ({why[:120]})") from None
        self.env_steps, self.iteration = int(meta["env_steps"]), int(meta["iteration"])
        self.obs_stats.load(_stats_from_json(meta["obs_stats"]))
        self.ret_stats.load(_stats_from_json(meta["ret_stats"]))
        if len(meta["running_return"]) == self.task.num_envs:
            self._ret = np.asarray(meta["running_return"], np.float64)
        self.frozen_normalizer = bool(meta.get("frozen_normalizer", False))
        stream = meta.get("stream")
        if stream is not None and getattr(self.task, "get_state", None) is not None:
            self.stream = StepStream(self.task, seed=int(meta["stream_seed"]))
            self.stream.restore(stream)  # the same episodes, where they were
        else:
            # fresh episodes, with reset seeds after every episode the saved run started
            self.stream = StepStream(self.task, seed=int(meta["stream_seed"]) + int(meta["episodes_started"]))

    def refresh_normalizer(self, roll: Rollout) -> None:
        """Fold the rollout's observations into the running statistics and install them for the next
        iteration (never mid-iteration: old and new log-probs must see the same normalisation)."""
        if not self.config.normalize_obs or self.frozen_normalizer:
            return
        self.obs_stats.update(roll.obs.flatten(0, 1).numpy())
        self.policy.set_normalizer(self.obs_stats.mean, np.sqrt(self.obs_stats.var + 1e-8))


def _stats_json(stats: RunningStats) -> dict[str, Any]:
    return {"mean": stats.mean.tolist(), "var": stats.var.tolist(), "count": stats.count}


def _stats_from_json(d: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(d[k], np.float64) for k in ("mean", "var", "count")}  # (other keys: not ours)


def save_state(directory: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write ``state.safetensors`` + ``state.json`` into a new ``directory``, atomically."""
    from mimetic.runs import write_tensors_json

    write_tensors_json(directory, "state", tensors, meta)


def load_state(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read what :func:`save_state` wrote; one-line CheckpointError when it is missing or corrupt."""
    from mimetic.runs import read_tensors_json

    path = Path(directory)
    tensors, meta = read_tensors_json(path, "state", corrupt="corrupt training state",
                                      missing="has no training state (state.json + state.safetensors) to resume from")
    if not isinstance(meta, dict):
        raise CheckpointError(f"corrupt training state in {path}: state.json is not an object")
    problem = _state_problem(tensors, meta)
    if problem:
        raise CheckpointError(f"corrupt training state in {path}: {problem}")
    return tensors, meta


_COUNTERS = ("env_steps", "iteration", "episodes_started", "stream_seed")
# No trained PPO weight, Adam moment (gradients are clipped) or observation statistic comes near
# this; a flipped high exponent bit of a float32 does (~1e38), and overflows the next update.
_MAX_MAGNITUDE = 1e20


def _finite(value: Any, *, flat_list: bool = False) -> bool:
    """A finite number, or with ``flat_list`` also a list of them."""
    if flat_list and isinstance(value, list):
        return all(map(_finite, value))
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _state_problem(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> str | None:
    """What is wrong with a saved PPO state's fields (None when nothing is), checked before a
    learner trusts them: counters, running statistics, the generators' states."""
    for key in _COUNTERS:
        v = meta.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**62:
            return f"state.json field {key!r} is {repr(v)[:40]}, not a count"
    for key in ("obs_stats", "ret_stats"):
        stats = meta.get(key)
        if not isinstance(stats, dict) or not all(_finite(stats.get(k), flat_list=True) for k in ("mean", "var")) \
                or not _finite(stats.get("count")):
            return f"state.json field {key!r} is not finite running statistics (mean, var, count)"
        if stats["count"] <= 0 or np.any(np.asarray(stats["var"], np.float64) < 0):
            return f"state.json field {key!r} has a negative variance or a count that is not > 0"
    if not isinstance(meta.get("running_return"), list) or not _finite(meta["running_return"], flat_list=True):
        return "state.json field 'running_return' is not a list of finite numbers"
    if not isinstance(meta.get("shuffle_rng"), dict):
        return "state.json field 'shuffle_rng' is not a generator state"
    if not isinstance(meta.get("frozen_normalizer", False), bool):
        return "state.json field 'frozen_normalizer' is not true/false"
    wall = meta.get("wall_s", 0.0)
    if not _finite(wall) or wall < 0:
        return f"state.json field 'wall_s' is {repr(wall)[:40]}, not a duration"
    rng = tensors.get("rng.ppo")
    if rng is None or rng.dtype != torch.uint8 or rng.dim() != 1:
        return "state.safetensors has no uint8 'rng.ppo' generator state"
    for name, tensor in tensors.items():  # NaN or overflowing weights would only show as NaN actions later
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return f"state.safetensors tensor {name!r} has NaN/inf values"
        if tensor.is_floating_point() and tensor.numel() and float(tensor.abs().max()) > _MAX_MAGNITUDE:
            return f"state.safetensors tensor {name!r} has values of magnitude {float(tensor.abs().max()):.1e}"
    return None


def record(ppo: PPO, roll: Rollout, metrics: dict[str, float], *, wall_s: float,
           extra: dict[str, float] | None = None) -> IterationRecord:
    rets = [r for r, _ in roll.episodes]
    lens = [n for _, n in roll.episodes]
    return IterationRecord(
        iteration=ppo.iteration, env_steps=ppo.env_steps, wall_s=wall_s, episodes=len(rets),
        return_mean=float(np.mean(rets)) if rets else None, length_mean=float(np.mean(lens)) if lens else None,
        policy_loss=metrics["policy_loss"], value_loss=metrics["value_loss"], entropy=metrics["entropy"],
        approx_kl=metrics["approx_kl"], clip_frac=metrics["clip_frac"], lr=metrics["lr"], extra=extra or {})


RewardFn = Callable[[Rollout], np.ndarray]
"""Rewards (T, B) for a rollout, in place of the task's (AIRL transfer, custom shaping)."""

Callback = Callable[[IterationRecord, MLPPolicy], bool]
"""Called after every iteration with its record and the policy; return True to stop early."""


@dataclass(frozen=True)
class PPOResult:
    policy: MLPPolicy
    history: list[IterationRecord]
    env_steps: int
    wall_s: float


def train(
    task: BatchedTask,
    config: PPOConfig = DEFAULT_CONFIG,
    *,
    net: MLPConfig = PPO_NET,
    reward_fn: RewardFn | None = None,
    callback: Callback | None = None,
    ppo: PPO | None = None,
    progress: bool = False,
) -> PPOResult:
    """Train a policy with PPO on the task's reward (or ``reward_fn``'s) for ``config.total_steps``.

    ``ppo`` continues an existing learner (resume); ``callback`` sees every iteration (evaluation,
    logging, early stop). Wall time counts collection and updates, not the callback.
    """
    from tqdm.auto import tqdm

    ppo = ppo or PPO(task, config, net)
    history: list[IterationRecord] = []
    wall = 0.0
    bar = tqdm(total=config.total_steps, initial=ppo.env_steps, desc=f"ppo {task.spec.name}", unit="step",
               disable=not progress, leave=False)
    while ppo.env_steps < config.total_steps:
        t0 = time.perf_counter()
        roll = ppo.collect()
        metrics = ppo.learn(roll, roll.rewards if reward_fn is None else reward_fn(roll))
        wall += time.perf_counter() - t0
        rec = record(ppo, roll, metrics, wall_s=wall)
        history.append(rec)
        bar.update(roll.n)
        if rec.return_mean is not None:
            bar.set_postfix(ret=f"{rec.return_mean:.1f}")
        if callback is not None and callback(rec, ppo.policy):
            break
    bar.close()
    ppo.policy.eval()
    return PPOResult(policy=ppo.policy, history=history, env_steps=ppo.env_steps, wall_s=wall)
