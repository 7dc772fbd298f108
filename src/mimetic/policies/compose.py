"""Policies built from other policies: stochastic mixtures (SMILe) and time-indexed sequences
(forward training), both from Ross & Bagnell 2010, "Efficient Reductions for Imitation Learning".

Both are torch modules only so they can be checkpointed: their members are registered as
submodules, so ``state_dict`` holds every member's tensors under a ``policy{k}.`` prefix and
``policy.json`` records each member's kind, config and spec (see :mod:`mimetic.policies.checkpoint`).
Members need not be torch modules to act; they must be registered policies to be saved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from torch import nn

from mimetic.errors import CheckpointError, ConfigError
from mimetic.policies import checkpoint
from mimetic.protocols import Policy

MIXINGS = ("step", "episode")


def _register_members(module: nn.Module, members: Sequence[Policy]) -> None:
    for k, member in enumerate(members):
        if isinstance(member, nn.Module):
            module.add_module(f"policy{k}", member)


def _members_config(members: Sequence[Policy]) -> list[dict[str, Any]]:
    """Each member's kind, config and spec, as ``policy.json`` stores a single policy."""
    out = []
    for member in members:
        kind = checkpoint.kind_of(member)  # raises a one-line CheckpointError when unregistered
        out.append({"kind": kind, "config": member.checkpoint_config(),  # type: ignore[attr-defined]
                    "spec": member.checkpoint_spec()})  # type: ignore[attr-defined]
    return out


def _members_from_config(entries: Sequence[Mapping[str, Any]]) -> list[Policy]:
    members = []
    for entry in entries:
        cls = checkpoint.policy_class(entry["kind"])
        if cls is None:
            raise CheckpointError(f"unknown member policy kind {entry['kind']!r}")
        members.append(cls.from_checkpoint(entry["config"], entry["spec"]))  # type: ignore[attr-defined]
    return members


def _same_task(members: Sequence[Policy]) -> dict[str, Any]:
    specs = [m.checkpoint_spec() for m in members]  # type: ignore[attr-defined]
    tasks = {s.get("task") for s in specs}
    if len(tasks) > 1:
        raise CheckpointError(f"cannot save members trained on different tasks: {sorted(map(str, tasks))}")
    return {"task": tasks.pop(), "policies": len(members)}


def _act_by(members: Sequence[Policy], choice: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Actions (B, *A) where env ``i`` is acted for by ``members[choice[i]]``; one call per member."""
    out: np.ndarray | None = None
    for k in np.unique(choice):
        rows = np.flatnonzero(choice == k)
        acts = np.asarray(members[k].act(obs[rows]))  # (b, *A)
        if out is None:
            out = np.zeros((len(obs), *acts.shape[1:]), acts.dtype)  # (B, *A)
        out[rows] = acts
    assert out is not None, "an empty batch has no actions"
    return out


def _check_batch(state: np.ndarray, n: int, dtype: Any) -> np.ndarray:
    """Per-env state sized for a batch of ``n`` envs (fresh when the batch size changed)."""
    return state if len(state) == n else np.zeros(n, dtype)


class MixturePolicy(nn.Module):
    """pi(a | s) = sum_k w_k pi_k(a | s): a stochastic mixture of member policies.

    ``mixing="step"`` draws, per env and step, which member acts (SMILe's stochastic mixing,
    Ross & Bagnell 2010, Sec. 4.2: the mixture is one stochastic policy at every state).
    ``mixing="episode"`` draws it per env at ``reset`` and keeps it for the whole episode (the
    trajectory distribution is then the mixture of the members' trajectory distributions).
    Draws come from a Generator seeded with ``seed``: the same seed replays the same choices.
    """

    def __init__(self, policies: Sequence[Policy], weights: Sequence[float], *,
                 mixing: Literal["step", "episode"] = "step", seed: int = 0) -> None:
        super().__init__()
        w = np.asarray(weights, np.float64)  # (K,)
        if len(policies) == 0 or w.shape != (len(policies),):
            raise ConfigError(f"a mixture needs one weight per policy, got {len(policies)} policies "
                              f"and {w.size} weights")
        if not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
            raise ConfigError(f"mixture weights must be finite, >= 0 and not all 0, got {w.tolist()}")
        if mixing not in MIXINGS:
            raise ConfigError(f"mixing must be one of {', '.join(MIXINGS)}, got {mixing!r}")
        self.policies: list[Policy] = list(policies)
        self.weights = w / w.sum()  # (K,) renormalised: they always sum to 1
        self.mixing, self.seed = mixing, seed
        self.rng = np.random.default_rng(seed)
        self.choice = np.zeros(0, np.int64)  # (B,) member acting in each env (episode mixing)
        _register_members(self, self.policies)

    def draw(self, n: int) -> np.ndarray:
        """Member indices (n,) drawn by weight."""
        return self.rng.choice(len(self.policies), size=n, p=self.weights)

    def act(self, obs: np.ndarray) -> np.ndarray:
        n = len(obs)
        if self.mixing == "step":
            choice = self.draw(n)
        else:
            if len(self.choice) != n:  # acting before any reset: draw for every env
                self.choice = self.draw(n)
            choice = self.choice
        return _act_by(self.policies, choice, obs)

    def reset(self, mask: np.ndarray) -> None:
        mask = np.asarray(mask, bool)
        for member in self.policies:
            member.reset(mask)
        self.choice = _check_batch(self.choice, len(mask), np.int64)
        self.choice[mask] = self.draw(int(mask.sum()))

    # -- checkpointing ------------------------------------------------------------------------

    def checkpoint_config(self) -> dict[str, Any]:
        return {"weights": self.weights.tolist(), "mixing": self.mixing, "seed": self.seed,
                "policies": _members_config(self.policies)}

    def checkpoint_spec(self) -> dict[str, Any]:
        return _same_task(self.policies)

    @classmethod
    def from_checkpoint(cls, config: Mapping[str, Any], spec: Mapping[str, Any]) -> MixturePolicy:
        return cls(_members_from_config(config["policies"]), config["weights"], mixing=config["mixing"],
                   seed=int(config["seed"]))


class TimeIndexedPolicy(nn.Module):
    """A non-stationary policy: member ``k`` acts during steps [k S, (k + 1) S) of an episode.

    Forward training's policy sequence (Ross & Bagnell 2010, Sec. 4.1) with ``S =
    segment_length`` steps per member (S = 1 is the paper's one policy per time step). Each env
    counts its own steps: ``act`` advances the counters (rollout calls it once per step) and
    ``reset(mask)`` zeroes them. Past the last member's segment, the last member keeps acting.
    """

    def __init__(self, policies: Sequence[Policy], *, segment_length: int) -> None:
        super().__init__()
        if len(policies) == 0:
            raise ConfigError("a time-indexed policy needs at least one member")
        if segment_length < 1:
            raise ConfigError(f"segment_length must be >= 1, got {segment_length}")
        self.policies: list[Policy] = list(policies)
        self.segment_length = segment_length
        self.steps = np.zeros(0, np.int64)  # (B,) steps taken in each env's episode
        _register_members(self, self.policies)

    def segment(self, steps: np.ndarray) -> np.ndarray:
        """Index of the member acting at time ``steps`` (any shape)."""
        return np.minimum(np.asarray(steps) // self.segment_length, len(self.policies) - 1)

    def act(self, obs: np.ndarray) -> np.ndarray:
        n = len(obs)
        self.steps = _check_batch(self.steps, n, np.int64)
        acts = _act_by(self.policies, self.segment(self.steps), obs)  # (B, *A)
        self.steps += 1
        return acts

    def reset(self, mask: np.ndarray) -> None:
        mask = np.asarray(mask, bool)
        for member in self.policies:
            member.reset(mask)
        self.steps = _check_batch(self.steps, len(mask), np.int64)
        self.steps[mask] = 0

    # -- checkpointing ------------------------------------------------------------------------

    def checkpoint_config(self) -> dict[str, Any]:
        return {"segment_length": self.segment_length, "policies": _members_config(self.policies)}

    def checkpoint_spec(self) -> dict[str, Any]:
        return _same_task(self.policies)

    @classmethod
    def from_checkpoint(cls, config: Mapping[str, Any], spec: Mapping[str, Any]) -> TimeIndexedPolicy:
        return cls(_members_from_config(config["policies"]), segment_length=int(config["segment_length"]))


checkpoint.register_policy("mixture", MixturePolicy)
checkpoint.register_policy("time-indexed", TimeIndexedPolicy)
