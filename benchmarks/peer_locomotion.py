#!/usr/bin/env python
"""The ``imitation`` peer (v1.0.1) on MuJoCo locomotion, imitating a mimetic PPO expert.

Run with the PEER's python (MIMETIC_PEER_PYTHON, e.g. ../.venv-imitation/bin/python); this script never
imports mimetic.
It reuses the helpers of the peer harness (../shared/peers/imitation_lib/run_peer.py, found via
$MIMETIC_PEER_HARNESS) and keeps its method: every subcommand prints ONE JSON line on stdout
(library output goes to stderr); evaluation is SB3 ``evaluate_policy``, deterministic, 50
episodes by default, on a fresh 10-env DummyVecEnv built by imitation's ``make_vec_env`` from
``np.random.default_rng(seed + 10000)``, so the expert, the random policy and every learner
checkpoint face the same initial states; the score is normalised as
(return - random) / (expert - random); wall times count training only, never evaluation.

Subcommands
  expert  --env E --expert-dir D                 expert and random reference returns
  bc      ... --demo-episodes N [--epochs E]     imitation.algorithms.bc.BC
  dagger  ... [--rounds R]                       imitation.algorithms.dagger.SimpleDAggerTrainer
  gail    ... --demo-episodes N --timesteps T    imitation.algorithms.adversarial.gail.GAIL + PPO
  airl    ... --demo-episodes N --timesteps T    imitation.algorithms.adversarial.airl.AIRL + PPO

The expert is a mimetic policy folder (policy.json + policy.safetensors: an ``MLPPolicy``, gaussian
or deterministic head, observation normaliser and action bounds stored as buffers). Its
deterministic forward pass is re-implemented here in plain torch: x = (obs - obs_mean) / obs_std,
Linear/activation MLP, the head's mean (the first half of the output for a state-dependent
log-std), then ``clamp(act_centre + mean * act_half, act_low, act_high)``, i.e. mimetic's
``MLPPolicy.act(obs, deterministic=True)``. It is wrapped as an SB3 BasePolicy with the harness's
``experts._make_policy_class`` (which counts labelled observations as expert queries).

Environments: Gymnasium 0.29.1 (imitation 1.0.1's pin) has no MuJoCo v5 envs. When ``<Name>-v5``
is not registered, it is registered here as the 0.29.1 ``<Name>-v4`` class with v5's reward (the
only difference for Hopper: v4 pays the healthy reward on the final, unhealthy step, v5 does not;
HalfCheetah v4 and v5 are the same). Same model XML, same reset noise, same observations: checked
step by step against Gymnasium 1.x's real v5 envs (``env_impl`` in the record says which was used).

Hyperparameters (``--hp``): ``tuned`` (default for gail/airl) reads imitation's own benchmark
configs shipped in the installed package, imitation/scripts/config/tuned_hps/
{algo}_seals_{env}_best_hp_eval.json (tuned on seals/<Env>-v1), and applies them the way
imitation's train_adversarial / train_imitation scripts do (8 envs, PPO n_steps = rl.batch_size / 8,
reward net + RunningNorm output normalisation, policy class and kwargs). ``default`` (default for
bc/dagger) uses the library defaults, as the harness's run_peer.py does (BC FeedForward32Policy,
Adam 1e-3, batch 32; DAgger LinearBetaSchedule(15), 4 BC epochs per round).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import importlib
import importlib.metadata
import json
import os
import struct
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

# the harness beside the repository (../shared/peers/imitation_lib), unless MIMETIC_PEER_HARNESS says
HARNESS = Path(os.environ.get("MIMETIC_PEER_HARNESS",
                              Path(__file__).resolve().parents[2] / "shared" / "peers" / "imitation_lib"))
sys.path.insert(0, str(HARNESS))
os.environ.setdefault("MUJOCO_GL", "egl")  # headless; never used to render here

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from torch import nn  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=UserWarning)

import experts as H_experts  # noqa: E402  (the harness's experts.py: the SB3 wrapper class)
import imitation  # noqa: E402
import run_peer as H  # noqa: E402  (the harness: logger, random model, first-reach, save, versions)
from imitation.algorithms import bc as bc_mod  # noqa: E402
from imitation.algorithms import dagger as dagger_mod  # noqa: E402
from imitation.algorithms.adversarial import airl as airl_mod  # noqa: E402
from imitation.algorithms.adversarial import gail as gail_mod  # noqa: E402
from imitation.data import rollout  # noqa: E402
from imitation.data.wrappers import RolloutInfoWrapper  # noqa: E402
from imitation.policies.base import FeedForward32Policy  # noqa: E402
from imitation.rewards import reward_nets  # noqa: E402
from imitation.util import networks  # noqa: E402
from imitation.util.util import make_vec_env  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402

EVAL_N_ENVS = 10
NORMALISED_TARGET = 0.95
TUNED_DIR = Path(imitation.__file__).parent / "scripts" / "config" / "tuned_hps"
SEALS_NAMES = {"HalfCheetah": "half_cheetah", "Hopper": "hopper", "Walker2d": "walker",
               "Swimmer": "swimmer", "Ant": "ant"}
NEVER_TERMINATE = ("HalfCheetah", "Swimmer")  # fixed 1000-step horizon: no variable-horizon flag


# --------------------------------------------------------------------------- environments


def _v5_compat_class(name: str):
    """Gymnasium 0.29.1's ``<name>-v4`` env class with v5's reward (see the module docstring)."""
    if name == "HalfCheetah":
        from gymnasium.envs.mujoco.half_cheetah_v4 import HalfCheetahEnv
        return HalfCheetahEnv  # v4 and v5 compute the same observation, reward and reset
    if name == "Hopper":
        from gymnasium.envs.mujoco.hopper_v4 import HopperEnv

        class HopperV5Compat(HopperEnv):
            @property
            def healthy_reward(self):  # v5: paid only while healthy (v4 also on the final step)
                return float(self.is_healthy) * self._healthy_reward

        return HopperV5Compat
    return None


def ensure_env(env_id: str) -> str:
    """Make ``env_id`` available; returns a description of the implementation used."""
    try:
        gym.spec(env_id)
        return f"gymnasium {gym.__version__} {env_id}"
    except gym.error.Error:
        pass
    name, _, version = env_id.partition("-")
    cls = _v5_compat_class(name) if version == "v5" else None
    if cls is None:
        raise SystemExit(f"error: {env_id} is not registered in gymnasium {gym.__version__} and "
                         "no v4-based stand-in is defined for it")
    gym.register(id=env_id, entry_point=cls, max_episode_steps=1000)
    how = "with v5's healthy reward" if name == "Hopper" else "(identical to v5)"
    return f"gymnasium {gym.__version__} {name}-v4 class {how}, registered as {env_id}"


def make_venv(env_id: str, n_envs: int, seed: int, rollout_info: bool = True):
    post = [lambda env, _: RolloutInfoWrapper(env)] if rollout_info else None
    return make_vec_env(env_id, n_envs=n_envs, rng=np.random.default_rng(seed), post_wrappers=post)


# --------------------------------------------------------------------------- the mimetic expert

_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
              "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path: Path) -> dict[str, th.Tensor]:
    """A safetensors file as tensors (u64 header length, JSON header, raw little-endian data)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        start, end = info["data_offsets"]
        arr = np.frombuffer(raw[8 + n + start:8 + n + end], dtype=_ST_DTYPES[info["dtype"]])
        out[key] = th.from_numpy(arr.reshape(info["shape"]).copy())
    return out


_ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU, "elu": nn.ELU}


class MimeticExpert(nn.Module):
    """Deterministic forward pass of a mimetic ``MLPPolicy`` checkpoint (continuous actions)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        super().__init__()
        self.directory = Path(directory)
        meta = json.loads((self.directory / "policy.json").read_text())
        cfg, spec = meta["config"], meta["spec"]
        if meta.get("format") != "mimetic-policy" or meta.get("kind") != "mlp":
            raise SystemExit(f"error: {directory} is not a mimetic 'mlp' policy checkpoint")
        if spec["discrete"] or cfg["head"] not in ("gaussian", "deterministic") or cfg["ensemble"] != 1:
            raise SystemExit(f"error: only continuous single-network gaussian/deterministic heads are "
                             f"supported, got head={cfg['head']} ensemble={cfg['ensemble']}")
        self.meta, self.obs_dim, self.act_dim = meta, int(spec["obs_dim"]), int(spec["act_dim"])
        self.head, self.gaussian_std = cfg["head"], cfg.get("gaussian_std", "state")
        state = read_safetensors(self.directory / "policy.safetensors")
        n_layers = len(cfg["hidden"]) + 1
        layers: list[nn.Module] = []
        for i in range(n_layers):
            w, b = state[f"net.{2 * i}.weight"], state[f"net.{2 * i}.bias"]
            lin = nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data.copy_(w)
            lin.bias.data.copy_(b)
            layers.append(lin)
            if i < n_layers - 1:
                layers.append(_ACTS[cfg["activation"]]())
        self.net = nn.Sequential(*layers)
        for name in ("obs_mean", "obs_std", "act_low", "act_high", "act_centre", "act_half"):
            self.register_buffer(name, state[name].float())
        self.eval()
        self.sha256 = hashlib.sha256((self.directory / "policy.safetensors").read_bytes()).hexdigest()

    @th.no_grad()
    def forward(self, obs: th.Tensor) -> th.Tensor:
        x = (obs.reshape(obs.shape[0], -1) - self.obs_mean) / self.obs_std
        out = self.net(x)
        if self.head == "gaussian" and self.gaussian_std == "state":
            out = out.chunk(2, dim=-1)[0]  # mean; the log-std half is unused when acting
        return th.clamp(th.addcmul(self.act_centre, out, self.act_half), self.act_low, self.act_high)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Batched obs (B, O) -> float32 actions (B, A), the policy's float32 arithmetic."""
        return self.forward(th.from_numpy(np.asarray(obs, dtype=np.float32))).numpy()

    def info(self) -> dict:
        return {"dir": str(self.directory.resolve()), "task": self.meta["spec"].get("task"),
                "safetensors_sha256": self.sha256, "hidden": self.meta["config"]["hidden"],
                "head": self.head, "extra": self.meta.get("extra", {})}


def expert_policy(expert: MimeticExpert, venv):
    """The expert as an SB3 BasePolicy (the harness's wrapper class; counts ``n_queries``)."""
    cls = H_experts._make_policy_class()
    if venv.observation_space.shape != (expert.obs_dim,) or venv.action_space.shape != (expert.act_dim,):
        raise SystemExit(f"error: expert dims ({expert.obs_dim}, {expert.act_dim}) do not match the env's "
                         f"{venv.observation_space.shape} / {venv.action_space.shape}")
    return cls(venv.observation_space, venv.action_space, expert.act)


# --------------------------------------------------------------------------- evaluation, demos


def evaluate(model, env_id: str, seed: int, n_episodes: int) -> dict:
    """Deterministic evaluation on a freshly built, identically seeded 10-env venv."""
    venv = make_venv(env_id, EVAL_N_ENVS, seed + 10_000, rollout_info=False)
    t0 = time.perf_counter()
    rets, lens = evaluate_policy(model, venv, n_eval_episodes=n_episodes, deterministic=True,
                                 return_episode_rewards=True, warn=False)
    venv.close()
    return {"mean_return": round(float(np.mean(rets)), 2), "std_return": round(float(np.std(rets)), 2),
            "mean_length": round(float(np.mean(lens)), 1), "eval_s": round(time.perf_counter() - t0, 2)}


def references(expert: MimeticExpert, env_id: str, seed: int, n_episodes: int) -> dict:
    venv = make_venv(env_id, 1, seed, rollout_info=False)
    exp = expert_policy(expert, venv)
    rnd = H._RandomModel(venv.action_space, seed)
    venv.close()
    e = evaluate(exp, env_id, seed, n_episodes)
    r = evaluate(rnd, env_id, seed, n_episodes)
    thr = r["mean_return"] + NORMALISED_TARGET * (e["mean_return"] - r["mean_return"])
    return {"expert_return": e["mean_return"], "expert_std": e["std_return"],
            "expert_mean_length": e["mean_length"], "random_return": r["mean_return"],
            "threshold_return": round(float(thr), 2),
            "threshold_rule": "random + 0.95*(expert - random), same eval episodes"}


def score(ret: float, ref: dict) -> float:
    return round((ret - ref["random_return"]) / (ref["expert_return"] - ref["random_return"]), 4)


def collect_demos(expert: MimeticExpert, env_id: str, n_episodes: int, seed: int):
    """N expert episodes (1 env, deterministic expert), as the harness collects them."""
    venv = make_venv(env_id, 1, seed)
    pol = expert_policy(expert, venv)
    t0 = time.perf_counter()
    trajs = rollout.rollout(pol, venv, rollout.make_sample_until(min_timesteps=None, min_episodes=n_episodes),
                            rng=np.random.default_rng(seed), deterministic_policy=True)
    dt = time.perf_counter() - t0
    venv.close()
    stats = rollout.rollout_stats(trajs)
    return trajs, {"demo_episodes": len(trajs), "demo_transitions": int(sum(len(t) for t in trajs)),
                   "demo_mean_return": round(float(stats["return_mean"]), 2),
                   "demo_collect_s": round(dt, 3)}


def save_demos(path: Path, trajs) -> None:
    """Demonstrations as npz: obs (sum(T+1), O) with each episode's final obs, acts/rews (sum T, .),
    lengths (E,), terminal (E,) = ended by termination rather than the time limit."""
    np.savez(path, obs=np.concatenate([t.obs for t in trajs]), acts=np.concatenate([t.acts for t in trajs]),
             rews=np.concatenate([t.rews for t in trajs]), lengths=np.array([len(t) for t in trajs]),
             terminal=np.array([bool(t.terminal) for t in trajs]))


# --------------------------------------------------------------------------- hyperparameters


def _resolve(obj: Any) -> Any:
    """jsonpickle-style {"py/type": "mod.Class"} / {"py/object": ..., kwargs} -> Python objects."""
    if isinstance(obj, dict):
        if "py/type" in obj:
            mod, _, name = obj["py/type"].rpartition(".")
            return getattr(importlib.import_module(mod), name)
        if "py/object" in obj:
            mod, _, name = obj["py/object"].rpartition(".")
            cls = getattr(importlib.import_module(mod), name)
            return cls(**{k: _resolve(v) for k, v in obj.items() if k != "py/object"})
        return {k: _resolve(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v) for v in obj]
    return obj


def tuned_file(algo: str, env_id: str) -> Path:
    name = env_id.partition("-")[0]
    if name not in SEALS_NAMES:
        raise SystemExit(f"error: imitation ships no tuned hyperparameters for {env_id}")
    return TUNED_DIR / f"{algo}_seals_{SEALS_NAMES[name]}_best_hp_eval.json"


def _policy_cfg(raw: dict) -> tuple[Any, dict]:
    cls = raw["policy_cls"]  # a class, or a name such as "MlpPolicy" that PPO resolves
    kwargs = dict(raw.get("policy_kwargs", {}))
    arch = kwargs.get("net_arch")
    if isinstance(arch, list) and len(arch) == 1 and isinstance(arch[0], dict):
        kwargs["net_arch"] = arch[0]  # SB3 2.x form of the config's [dict(pi=..., vf=...)]
    return cls, kwargs


def _describe(obj: Any) -> Any:
    if isinstance(obj, type):
        return f"{obj.__module__}.{obj.__qualname__}"
    if isinstance(obj, dict):
        return {k: _describe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_describe(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def adversarial_hparams(algo: str, env_id: str, hp: str) -> dict:
    variable = not env_id.startswith(NEVER_TERMINATE)
    if hp == "tuned":
        path = tuned_file(algo, env_id)
        raw = _resolve(json.loads(path.read_text()))
        policy_cls, policy_kwargs = _policy_cfg(raw["policy"])
        n_envs = 8  # imitation's environment ingredient default (num_vec)
        if raw["rl"]["batch_size"] % n_envs:
            raise SystemExit("error: rl.batch_size not divisible by 8")
        return {"source": f"imitation {imitation.__version__} {path.relative_to(TUNED_DIR.parents[2])} "
                          f"(tuned on {raw['environment']['gym_id']}), applied as train_adversarial.py does",
                "n_envs": n_envs, "policy_cls": policy_cls, "policy_kwargs": policy_kwargs,
                "ppo": dict(raw["rl"]["rl_kwargs"], n_steps=raw["rl"]["batch_size"] // n_envs),
                "reward_net_cls": raw["reward"]["net_cls"], "reward_net_kwargs": raw["reward"]["net_kwargs"],
                "normalize_output_layer": raw["reward"].get("normalize_output_layer"),
                "algo": dict(raw["algorithm_kwargs"]), "allow_variable_horizon": variable,
                "config_total_timesteps": raw.get("total_timesteps")}
    # the harness's Pendulum/train_adversarial defaults: PPO defaults of the rl ingredient, 8 envs
    net_cls = reward_nets.BasicRewardNet if algo == "gail" else reward_nets.BasicShapedRewardNet
    return {"source": "imitation train_adversarial.py defaults (rl ingredient PPO defaults)",
            "n_envs": 8, "policy_cls": FeedForward32Policy, "policy_kwargs": {},
            "ppo": dict(learning_rate=3e-4, batch_size=64, n_epochs=10, ent_coef=0.0, n_steps=256),
            "reward_net_cls": net_cls, "reward_net_kwargs": {"normalize_input_layer": networks.RunningNorm},
            "normalize_output_layer": None,
            "algo": dict(demo_batch_size=1024, n_disc_updates_per_round=4, gen_replay_buffer_capacity=2048),
            "allow_variable_horizon": variable}


def bc_hparams(algo: str, env_id: str, hp: str) -> dict:
    """BC / DAgger settings: library defaults (harness) or the tuned config's bc/dagger/policy."""
    if hp == "default":
        return {"source": "imitation BC / SimpleDAggerTrainer library defaults (as the harness)",
                "policy_cls": None, "policy_kwargs": {}, "batch_size": 32, "l2_weight": 0.0,
                "optimizer_kwargs": {"lr": 1e-3}, "n_epochs": 20 if algo == "bc" else
                dagger_mod.DAggerTrainer.DEFAULT_N_EPOCHS, "beta_schedule": dagger_mod.LinearBetaSchedule(15),
                "beta_schedule_name": "LinearBetaSchedule(15)"}
    path = tuned_file(algo, env_id)
    raw = _resolve(json.loads(path.read_text()))
    policy_cls, policy_kwargs = _policy_cfg(raw["policy"])
    sched = raw.get("dagger", {}).get("beta_schedule")
    return {"source": f"imitation {imitation.__version__} {path.relative_to(TUNED_DIR.parents[2])} "
                      f"(tuned on {raw['environment']['gym_id']})",
            "policy_cls": policy_cls, "policy_kwargs": policy_kwargs, "batch_size": raw["bc"]["batch_size"],
            "l2_weight": raw["bc"]["l2_weight"], "optimizer_kwargs": raw["bc"]["optimizer_kwargs"],
            "n_epochs": raw["bc"]["train_kwargs"]["n_epochs"], "beta_schedule": sched,
            "beta_schedule_name": (f"ExponentialBetaSchedule({sched.decay_probability})"
                                   if sched is not None else "LinearBetaSchedule(15) (default)"),
            "note": "imitation 1.0.1's train_imitation.py drops the policy config (make_or_load_policy "
                    "returns None), so its own benchmark ran BC's default FeedForward32Policy; here the "
                    "config's policy (with its RunningNorm feature normaliser) is used as written"}


def make_bc(venv, hpc: dict, seed: int, logger, demonstrations=None):
    policy = None
    if hpc["policy_cls"] is not None:
        from stable_baselines3.common import utils as sb3_utils
        policy = hpc["policy_cls"](observation_space=venv.observation_space, action_space=venv.action_space,
                                   lr_schedule=sb3_utils.get_schedule_fn(1), **hpc["policy_kwargs"])
    return bc_mod.BC(observation_space=venv.observation_space, action_space=venv.action_space, policy=policy,
                     demonstrations=demonstrations, rng=np.random.default_rng(seed),
                     batch_size=hpc["batch_size"], l2_weight=hpc["l2_weight"],
                     optimizer_kwargs=hpc["optimizer_kwargs"], custom_logger=logger)


# --------------------------------------------------------------------------- commands


def cmd_expert(a, expert: MimeticExpert) -> dict:
    ref = references(expert, a.env, a.seed, a.eval_episodes)
    return {**ref, "final_eval_mean_return": ref["expert_return"], "normalized_score": 1.0,
            "train_wall_s": 0.0, "env_steps": 0, "expert_labels": 0}


def cmd_bc(a, expert: MimeticExpert) -> dict:
    ref = references(expert, a.env, a.seed, a.eval_episodes)
    trajs, demo = collect_demos(expert, a.env, a.demo_episodes, a.seed)
    if a.save_demos:
        save_demos(a.save_demos, trajs)
    hpc = bc_hparams("bc", a.env, a.hp)
    epochs = a.epochs if a.epochs is not None else hpc["n_epochs"]
    venv = make_venv(a.env, 1, a.seed, rollout_info=False)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_bc(venv, hpc, a.seed, H._quiet_logger(tmp), rollout.flatten_trajectories(trajs))
        n_batches = {"n": 0}

        def on_batch_end():
            n_batches["n"] += 1

        t0 = time.perf_counter()
        trainer.train(n_epochs=epochs, progress_bar=False, on_batch_end=on_batch_end, log_interval=10**9)
        train_s = time.perf_counter() - t0
    ev = evaluate(trainer.policy, a.env, a.seed, a.eval_episodes)
    return {**ref, **demo,
            "config": {**_describe({k: v for k, v in hpc.items()
                                    if k not in ("beta_schedule", "beta_schedule_name", "n_epochs")}),
                       "policy": _describe(hpc["policy_cls"]) or "imitation FeedForward32Policy (BC default)",
                       "epochs": epochs},
            "n_batches": n_batches["n"], "train_wall_s": round(train_s, 3),
            "samples_per_s": round(n_batches["n"] * hpc["batch_size"] / train_s, 1),
            "env_steps": demo["demo_transitions"], "expert_labels": demo["demo_transitions"],
            "final_eval_mean_return": ev["mean_return"], "eval_std_return": ev["std_return"],
            "eval_mean_length": ev["mean_length"], "normalized_score": score(ev["mean_return"], ref),
            "reached_threshold": ev["mean_return"] >= ref["threshold_return"]}


def cmd_dagger(a, expert: MimeticExpert) -> dict:
    ref = references(expert, a.env, a.seed, a.eval_episodes)
    hpc = bc_hparams("dagger", a.env, a.hp)
    epochs = a.epochs if a.epochs is not None else hpc["n_epochs"]
    venv = make_venv(a.env, 1, a.seed)
    pol = expert_policy(expert, venv)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        lg = H._quiet_logger(tmp)
        trainer = dagger_mod.SimpleDAggerTrainer(
            venv=venv, scratch_dir=os.path.join(tmp, "dagger"), expert_policy=pol,
            bc_trainer=make_bc(venv, hpc, a.seed, lg), rng=np.random.default_rng(a.seed),
            beta_schedule=hpc["beta_schedule"], custom_logger=lg)
        wall = 0.0
        for r in range(a.rounds):
            beta = float(trainer.beta_schedule(trainer.round_num))
            t0 = time.perf_counter()
            # total_timesteps=1: SimpleDAggerTrainer.train runs exactly one round
            trainer.train(1, rollout_round_min_episodes=a.round_min_episodes,
                          rollout_round_min_timesteps=a.round_min_timesteps,
                          bc_train_kwargs=dict(n_epochs=epochs, progress_bar=False, log_rollouts_venv=None,
                                               log_interval=10**9))
            wall += time.perf_counter() - t0
            last = r == a.rounds - 1
            if (r + 1) % a.eval_every and not last:
                continue
            ev = evaluate(trainer.policy, a.env, a.seed, a.eval_episodes)
            rows.append({"round": r, "beta": round(beta, 4), "expert_queries": int(pol.n_queries),
                         "dataset_transitions": int(sum(len(t) for t in trainer._all_demos)),
                         "wall_s": round(wall, 3), "eval_mean_return": ev["mean_return"],
                         "eval_std_return": ev["std_return"],
                         "normalized_score": score(ev["mean_return"], ref)})
            print(json.dumps({"progress": rows[-1]}), file=sys.stderr, flush=True)
    return {**ref,
            "config": {"trainer": "SimpleDAggerTrainer, 1 env, expert labels every visited state",
                       **_describe({k: v for k, v in hpc.items() if k not in ("beta_schedule", "n_epochs")}),
                       "policy": _describe(hpc["policy_cls"]) or "imitation FeedForward32Policy (BC default)",
                       "bc_epochs_per_round": epochs, "rollout_round_min_episodes": a.round_min_episodes,
                       "rollout_round_min_timesteps": a.round_min_timesteps, "eval_every_rounds": a.eval_every},
            "rounds": rows,
            "first_reach": H._first_reach(rows, ref["threshold_return"],
                                          ("round", "expert_queries", "wall_s", "eval_mean_return")),
            "final_eval_mean_return": rows[-1]["eval_mean_return"],
            "normalized_score": rows[-1]["normalized_score"], "train_wall_s": rows[-1]["wall_s"],
            "env_steps": rows[-1]["dataset_transitions"], "expert_labels": rows[-1]["expert_queries"]}


def cmd_adversarial(a, expert: MimeticExpert) -> dict:
    ref = references(expert, a.env, a.seed, a.eval_episodes)
    trajs, demo = collect_demos(expert, a.env, a.demo_episodes, a.seed)
    if a.save_demos:
        save_demos(a.save_demos, trajs)
    hp = adversarial_hparams(a.cmd, a.env, a.hp)
    if demo["demo_transitions"] < hp["algo"]["demo_batch_size"]:
        raise SystemExit(f"error: {demo['demo_transitions']} demo transitions < demo_batch_size "
                         f"{hp['algo']['demo_batch_size']}; imitation needs at least one full batch "
                         f"(use --demo-episodes >= {-(-hp['algo']['demo_batch_size'] // 1000)})")
    venv = make_venv(a.env, hp["n_envs"], a.seed)
    rows: list[dict] = []
    stopped = None
    with tempfile.TemporaryDirectory() as tmp:
        learner = PPO(env=venv, policy=hp["policy_cls"], policy_kwargs=dict(hp["policy_kwargs"]),
                      seed=a.seed, device="cpu", **hp["ppo"])
        reward_net = hp["reward_net_cls"](venv.observation_space, venv.action_space, **hp["reward_net_kwargs"])
        if hp["normalize_output_layer"] is not None:
            reward_net = reward_nets.NormalizedRewardNet(reward_net, hp["normalize_output_layer"])
        algo_cls = gail_mod.GAIL if a.cmd == "gail" else airl_mod.AIRL
        trainer = algo_cls(demonstrations=trajs, venv=venv, gen_algo=learner, reward_net=reward_net,
                           log_dir=tmp, custom_logger=H._quiet_logger(tmp),
                           allow_variable_horizon=hp["allow_variable_horizon"], **hp["algo"])
        per_round = trainer.gen_train_timesteps
        n_rounds = max(1, a.timesteps // per_round)
        eval_every = a.eval_every or max(1, round(a.eval_every_steps / per_round))
        ev0 = evaluate(learner, a.env, a.seed, a.eval_episodes)
        rows.append({"round": -1, "env_steps": 0, "wall_s": 0.0, "eval_mean_return": ev0["mean_return"],
                     "eval_std_return": ev0["std_return"], "normalized_score": score(ev0["mean_return"], ref)})
        wall = 0.0
        for r in range(n_rounds):
            t0 = time.perf_counter()
            trainer.train(per_round)  # one call == one round: PPO rollout + update, disc updates
            wall += time.perf_counter() - t0
            over = bool(a.max_wall_s and wall >= a.max_wall_s)
            if (r + 1) % eval_every and r != n_rounds - 1 and not over:
                continue
            ev = evaluate(learner, a.env, a.seed, a.eval_episodes)
            rows.append({"round": r, "env_steps": int(learner.num_timesteps), "wall_s": round(wall, 3),
                         "eval_mean_return": ev["mean_return"], "eval_std_return": ev["std_return"],
                         "normalized_score": score(ev["mean_return"], ref)})
            print(json.dumps({"progress": rows[-1]}), file=sys.stderr, flush=True)
            if over:
                stopped = f"max_wall_s={a.max_wall_s} reached after round {r}"
                break
    return {**ref, **demo,
            "config": {**_describe(hp), "gen_train_timesteps_per_round": per_round,
                       "eval_every_rounds": eval_every, "timesteps_requested": a.timesteps},
            "checkpoints": rows,
            "first_reach": H._first_reach(rows, ref["threshold_return"],
                                          ("round", "env_steps", "wall_s", "eval_mean_return")),
            "best_eval_mean_return": max(r["eval_mean_return"] for r in rows),
            "final_eval_mean_return": rows[-1]["eval_mean_return"],
            "normalized_score": rows[-1]["normalized_score"], "train_wall_s": rows[-1]["wall_s"],
            "env_steps": rows[-1]["env_steps"], "expert_labels": 0,
            "total_env_steps": rows[-1]["env_steps"], "total_wall_s": rows[-1]["wall_s"],
            "stopped_early": stopped}


# --------------------------------------------------------------------------- main


def _versions() -> dict:
    out = H._versions()
    for pkg in ("mujoco",):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", default="Hopper-v5")
    common.add_argument("--expert-dir", type=Path, required=True, help="mimetic policy folder")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--eval-episodes", type=int, default=50)
    common.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (0 = torch's default)")
    common.add_argument("--save", type=Path, default=None, help="append the JSON record to this JSON-list file")
    demos = argparse.ArgumentParser(add_help=False)
    demos.add_argument("--demo-episodes", type=int, default=10)
    demos.add_argument("--save-demos", type=Path, default=None, help="write the demonstrations as .npz")
    sub = p.add_subparsers(dest="cmd", required=True)

    sub.add_parser("expert", parents=[common])

    s = sub.add_parser("bc", parents=[common, demos])
    s.add_argument("--epochs", type=int, default=None, help="default: 20 (default hp) or the tuned config's")
    s.add_argument("--hp", choices=("default", "tuned"), default="default")

    s = sub.add_parser("dagger", parents=[common])
    s.add_argument("--rounds", type=int, default=10)
    s.add_argument("--epochs", type=int, default=None,
                   help="BC epochs per round; default: 4 (default hp) or the tuned config's")
    s.add_argument("--round-min-episodes", type=int, default=3)
    s.add_argument("--round-min-timesteps", type=int, default=500)
    s.add_argument("--eval-every", type=int, default=1, help="evaluate every K rounds (and after the last)")
    s.add_argument("--hp", choices=("default", "tuned"), default="default")

    for name in ("gail", "airl"):
        s = sub.add_parser(name, parents=[common, demos])
        s.add_argument("--timesteps", type=int, default=1_000_000)
        s.add_argument("--eval-every", type=int, default=0,
                       help="evaluate every K rounds (and after the last); 0 = about every --eval-every-steps")
        s.add_argument("--eval-every-steps", type=int, default=100_000)
        s.add_argument("--max-wall-s", type=float, default=0.0,
                       help="stop after the round that passes this training wall time")
        s.add_argument("--hp", choices=("default", "tuned"), default="tuned")

    a = p.parse_args(argv)
    if a.threads:
        th.set_num_threads(a.threads)
    th.manual_seed(a.seed)
    np.random.seed(a.seed)
    env_impl = ensure_env(a.env)
    expert = MimeticExpert(a.expert_dir)
    fn = {"expert": cmd_expert, "bc": cmd_bc, "dagger": cmd_dagger,
          "gail": cmd_adversarial, "airl": cmd_adversarial}[a.cmd]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        result = fn(a, expert)
    record = {"cmd": a.cmd, "env": a.env, "env_impl": env_impl, "seed": a.seed,
              "argv": " ".join(sys.argv[1:] if argv is None else argv), "expert": expert.info(), **result,
              "eval_episodes": a.eval_episodes, "process_wall_s": round(time.perf_counter() - t0, 2),
              "torch_threads": th.get_num_threads(), "cpu_count": os.cpu_count(), "versions": _versions(),
              "utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    print(json.dumps(record), flush=True)
    if a.save:
        H._save(a.save, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
