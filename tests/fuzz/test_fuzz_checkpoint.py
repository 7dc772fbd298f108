"""Fuzzing load_policy: corrupt policy.json, corrupt or mismatched policy.safetensors.

Property: load_policy either returns a policy or raises one line of MimeticError
(CheckpointError), within the time bound and the memory cap of fuzzlib.isolated.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from fuzzlib import corrupt_bytes, damaged_copy, fuzz, isolated, json_text, mutate_json, pick
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from mimetic.envs.base import TaskSpec
from mimetic.policies import (
    ChunkingConfig,
    ChunkingPolicy,
    DiffusionConfig,
    DiffusionPolicy,
    MixturePolicy,
    MLPConfig,
    MLPPolicy,
    TimeIndexedPolicy,
    load_policy,
    save_policy,
)
from mimetic.policies.checkpoint import META_FILE, WEIGHTS_FILE

CARTPOLE = TaskSpec(name="cartpole", gym_id="CartPole-v1",
                    observation_space=gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
                    action_space=gym.spaces.Discrete(2), max_steps=500)
PENDULUM = TaskSpec(name="pendulum", gym_id="Pendulum-v1",
                    observation_space=gym.spaces.Box(-8.0, 8.0, (3,), np.float32),
                    action_space=gym.spaces.Box(-2.0, 2.0, (1,), np.float32), max_steps=200)


def policies() -> dict[str, torch.nn.Module]:
    """One small policy of every registered kind (and the MLP's heads)."""
    small = MLPConfig(hidden=(8,))
    return {
        "mlp-categorical": MLPPolicy.for_spec(CARTPOLE, small, seed=0),
        "mlp-gaussian-ensemble": MLPPolicy.for_spec(PENDULUM, MLPConfig(hidden=(8,), head="gaussian", ensemble=2)),
        "mlp-mixture": MLPPolicy.for_spec(PENDULUM, MLPConfig(hidden=(8,), head="mixture", mixture_components=2)),
        "diffusion": DiffusionPolicy.for_spec(PENDULUM, DiffusionConfig(
            hidden=(8,), obs_horizon=2, pred_horizon=4, action_horizon=2, step_embed_dim=4, train_steps=8,
            inference_steps=2)),
        "chunking": ChunkingPolicy.for_spec(PENDULUM, ChunkingConfig(chunk_size=3, d_model=8, heads=2, layers=1,
                                                                     feedforward=8)),
        "mixture": MixturePolicy([MLPPolicy.for_spec(CARTPOLE, small, seed=s) for s in (1, 2)], [0.3, 0.7]),
        "time-indexed": TimeIndexedPolicy([MLPPolicy.for_spec(CARTPOLE, small, seed=s) for s in (3, 4)],
                                          segment_length=5),
    }


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoint-templates")
    out = {}
    for name, policy in policies().items():
        out[name] = save_policy(policy, root / name, extra={"task": policy.checkpoint_spec()["task"],
                                                            "max_steps": 20})
        load_policy(out[name])  # valid to begin with
    return out


def _load(path: Path) -> Callable[[], str]:
    def run() -> str:
        return type(load_policy(path)).__name__

    return run


# --------------------------------------------------------------------------- safetensors

DTYPES = [torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int8, torch.uint8, torch.bool]


def mutate_tensors(data: st.DataObject, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with 1..3 of: a tensor dropped, added, renamed, reshaped, retyped or made non-finite."""
    state = dict(state)
    for _ in range(data.draw(st.integers(1, 3), label="rounds")):
        op = data.draw(st.sampled_from(["drop", "extra", "rename", "shape", "dtype", "values", "empty"]), label="op")
        if not state:
            op = "extra"
        name = data.draw(st.sampled_from(sorted(state)), label="tensor") if state else "x"
        t = state.get(name, torch.zeros(1))
        if op == "drop":
            del state[name]
        elif op == "extra":
            state[data.draw(st.sampled_from(["extra", "net.0.weight", "", "obs_mean.x"]), label="new")] = torch.ones(2)
        elif op == "rename":
            state[name + ".renamed"] = state.pop(name)
        elif op == "shape":
            how = data.draw(st.sampled_from(["extra-dim", "flat", "scalar", "grow", "transpose"]), label="how")
            if how == "extra-dim":
                state[name] = t.unsqueeze(0).repeat(2, *([1] * t.dim()))
            elif how == "flat":
                state[name] = t.reshape(-1).clone()
            elif how == "scalar":
                state[name] = torch.tensor(1.0)
            elif how == "grow":
                state[name] = torch.zeros(t.shape[0] + 1, *t.shape[1:]) if t.dim() else torch.zeros(2)
            else:
                state[name] = t.T.contiguous() if t.dim() == 2 else t.reshape(-1, 1).clone()
        elif op == "dtype":
            state[name] = t.to(data.draw(st.sampled_from(DTYPES), label="dtype"))
        elif op == "values" and t.is_floating_point():
            state[name] = torch.full_like(t, data.draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e38]), label="v"))
        elif op == "empty":
            state[name] = torch.zeros(0)
    return state


def mutate_header(data: st.DataObject, raw: bytes) -> bytes:
    """A safetensors file whose JSON header is mutated (dtypes, shapes, offsets) or whose length
    prefix lies; the tensor bytes are kept."""
    (n,) = struct.unpack("<Q", raw[:8])
    header, body = json.loads(raw[8:8 + n]), raw[8 + n:]
    how = data.draw(st.sampled_from(["json", "json", "length", "garbage"]), label="header")
    if how == "length":
        bad = data.draw(st.sampled_from([0, 1, n - 1, n + 1, len(raw), 2**31, 2**63, 2**64 - 1]), label="n")
        return struct.pack("<Q", bad) + raw[8:]
    if how == "garbage":
        text = data.draw(st.binary(max_size=64), label="garbage")
        return struct.pack("<Q", len(text)) + text + body
    text = json.dumps(mutate_json(data, header), allow_nan=True).encode()
    return struct.pack("<Q", len(text)) + text + body


@fuzz(examples=60)
@given(data=st.data())
def test_mismatched_tensors(templates, data) -> None:
    def damage(root: Path) -> None:
        state = load_safetensors((root / WEIGHTS_FILE).read_bytes())
        (root / WEIGHTS_FILE).write_bytes(save_safetensors(mutate_tensors(data, state)))

    with damaged_copy(pick(templates, data), damage) as path:
        isolated(_load(path)).check("mismatched policy.safetensors", keep=path)


@fuzz(examples=60)
@given(data=st.data())
def test_corrupt_safetensors_bytes_and_headers(templates, data) -> None:
    def damage(root: Path) -> None:
        raw = (root / WEIGHTS_FILE).read_bytes()
        header = data.draw(st.booleans(), label="header or bytes")
        (root / WEIGHTS_FILE).write_bytes(mutate_header(data, raw) if header else corrupt_bytes(data, raw))

    with damaged_copy(pick(templates, data), damage) as path:
        isolated(_load(path)).check("corrupt policy.safetensors", keep=path)


# --------------------------------------------------------------------------- policy.json


@fuzz(examples=100)
@given(data=st.data())
def test_corrupt_policy_json(templates, data) -> None:
    def damage(root: Path) -> None:
        (root / META_FILE).write_bytes(json_text(data, json.loads((root / META_FILE).read_text())))

    with damaged_copy(pick(templates, data), damage) as path:
        isolated(_load(path)).check("corrupt policy.json", keep=path)


@fuzz(examples=40)
@given(data=st.data())
def test_missing_or_swapped_files(templates, data) -> None:
    """A file missing, a directory where a file should be, or the other checkpoint's weights."""

    def damage(root: Path) -> None:
        name = data.draw(st.sampled_from([META_FILE, WEIGHTS_FILE]), label="file")
        how = data.draw(st.sampled_from(["missing", "directory", "swap"]), label="how")
        (root / name).unlink()
        if how == "directory":
            (root / name).mkdir()
        elif how == "swap":
            other = data.draw(st.sampled_from(sorted(templates)), label="other")
            shutil.copy(templates[other] / name, root / name)

    with damaged_copy(pick(templates, data), damage) as path:
        isolated(_load(path)).check("missing or swapped file", keep=path)


# --------------------------------------------------------------------------- regressions
# Crashes the properties above found, each kept as one fixed example: the checkpoint must be
# refused in one line that names it.


def _edit_meta(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        meta = json.loads((root / META_FILE).read_text())
        edit(meta)
        (root / META_FILE).write_text(json.dumps(meta))

    return damage


REGRESSIONS = {
    "action bound past float (OverflowError)": ("mlp-gaussian-ensemble", _edit_meta(
        lambda m: m["spec"].__setitem__("act_low", [10**400]))),
    "diffusion steps past memory (MemoryError)": ("diffusion", _edit_meta(
        lambda m: m["config"].__setitem__("train_steps", 2**55))),
    "config key with a line break (two-line message)": ("mlp-categorical", _edit_meta(
        lambda m: m["config"].__setitem__("a\rb", 1))),
    "member config key with a line break (two-line message)": ("time-indexed", _edit_meta(
        lambda m: m["config"]["policies"][0]["config"].__setitem__("x\ny", 1))),
    "policy.json nested too deep (RecursionError)": ("mlp-categorical",
                                                     lambda root: (root / META_FILE).write_text("[" * 100_000)),
    "extra not an object": ("mixture", _edit_meta(lambda m: m.__setitem__("extra", "x"))),
    "task not a name": ("chunking", _edit_meta(lambda m: m["spec"].__setitem__("task", ["pendulum"]))),
}


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_regressions(templates, case) -> None:
    name, damage = REGRESSIONS[case]
    with damaged_copy(templates[name], damage) as path:
        out = isolated(_load(path)).check(case)
    assert out.kind == "error" and str(path) in out.message, out
