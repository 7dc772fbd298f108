"""Fuzzing the run-directory readers: read_tensors_json, ppo.load_state (and the learner's
load_state that resume feeds it to), the --resume config reader, and eval's --policy resolution.

Property: each returns or raises one line of MimeticError, within the bounds of fuzzlib.isolated.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fuzzlib import Outcome, cli, corrupt_bytes, damaged_copy, fuzz, isolated, json_text, mutate_json
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from test_fuzz_checkpoint import mutate_header, mutate_tensors

from mimetic.algos import ppo
from mimetic.envs import make_task
from mimetic.policies.checkpoint import META_FILE, WEIGHTS_FILE
from mimetic.policies.mlp import MLPConfig
from mimetic.runs import read_tensors_json

RUN_ARGS = ["--total-steps", "64", "--rollout-steps", "32", "--minibatch", "32", "--epochs", "1", "--num-envs", "2",
            "--hidden", "8", "--eval-episodes", "0", "--no-tensorboard"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished (tiny) ``train ppo`` run: config.json, state/, checkpoint/."""
    out = tmp_path_factory.mktemp("runs") / "ppo"
    made = cli(["train", "ppo", "--task", "cartpole", "--out", out, *RUN_ARGS], timeout=120)
    assert made.kind == "ok" and made.value[0] == 0, made
    # Resume once here, so the forked children inherit torch's lazily imported optimizer and
    # autograd machinery (seconds the first time) instead of each paying for it.
    assert _resume_state(out)() == 128
    return out


def _damage_state(data: st.DataObject) -> Callable[[Path], None]:
    """state.json mutated or broken, or state.safetensors mismatched, corrupt, or given a bad header."""

    def damage(root: Path) -> None:
        state = root / "state"
        which = data.draw(st.sampled_from(["json", "tensors", "bytes", "header"]), label="state damage")
        if which == "json":
            (state / "state.json").write_bytes(json_text(data, json.loads((state / "state.json").read_text())))
        elif which == "tensors":
            tensors = load_safetensors((state / "state.safetensors").read_bytes())
            (state / "state.safetensors").write_bytes(save_safetensors(mutate_tensors(data, tensors)))
        elif which == "bytes":
            (state / "state.safetensors").write_bytes(corrupt_bytes(data, (state / "state.safetensors").read_bytes()))
        else:
            (state / "state.safetensors").write_bytes(mutate_header(data, (state / "state.safetensors").read_bytes()))

    return damage


@fuzz(examples=60)
@given(data=st.data())
def test_read_tensors_json(run_dir, data) -> None:
    with damaged_copy(run_dir, _damage_state(data)) as path:
        isolated(_read_state(path)).check("read_tensors_json", keep=path)


def _read_state(path: Path) -> Callable[[], int]:
    def run() -> int:
        tensors, _ = read_tensors_json(path / "state", "state", missing="has no state", corrupt="corrupt state")
        return len(tensors)

    return run


def _resume_state(path: Path) -> Callable[[], int]:
    """What ``train ppo --resume`` does with the state: read it, hand it to a fresh learner, and
    train one more iteration (a state that loads but cannot be trained on is a crash too)."""

    def run() -> int:
        tensors, meta = ppo.load_state(path / "state")
        task = make_task("cartpole", num_envs=2)
        net = MLPConfig(hidden=(8,), activation="tanh")
        learner = ppo.PPO(task, ppo.PPOConfig(total_steps=64, rollout_steps=32, minibatch=32, epochs=1), net)
        learner.load_state(tensors, meta)
        more = ppo.PPOConfig(total_steps=learner.env_steps + 1, rollout_steps=16, minibatch=32, epochs=1)
        return ppo.train(task, more, net=net, ppo=learner).env_steps

    return run


@fuzz(examples=80)
@given(data=st.data())
def test_ppo_load_state(run_dir, data) -> None:
    with damaged_copy(run_dir, _damage_state(data)) as path:
        isolated(_resume_state(path)).check("ppo.load_state", keep=path)


def test_the_resume_template_loads(run_dir) -> None:
    """The fuzzed resume reader accepts the undamaged run (so a damaged one is what it refuses)."""
    out = isolated(_resume_state(run_dir)).check()
    assert out.kind == "ok" and out.value == 128


def _one_error_line(code: int, err: str) -> None:
    """A CLI run's ending: success, or exit 2 with exactly one ``error:`` line and no traceback."""
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = [ln for chunk in err.splitlines() for ln in chunk.split("\r") if ln.strip()]
        assert "Traceback" not in err and lines and lines[-1].startswith("error: "), err
        assert sum(ln.startswith("error:") for ln in lines) == 1, err


def check_ending(out: Outcome, what: str, *, keep: Path) -> None:
    """The command raised nothing past main() (Outcome.check) and ended as :func:`_one_error_line` says."""
    if out.check(what, keep=keep).kind == "ok":  # (not ok only in MIMETIC_FUZZ_SURVEY mode)
        _one_error_line(*out.value)


def _resume(path: Path) -> Outcome:
    return cli(["train", "ppo", "--resume", path, "--total-steps", "96", "--rollout-steps", "16", "--num-envs", "2",
                "--eval-episodes", "0", "--no-tensorboard", "--out", path.parent / "more"])


@fuzz(examples=30)
@given(data=st.data())
def test_resume_state_via_cli(run_dir, data) -> None:
    """``mimetic train ppo --resume RUN`` with a damaged state/."""
    with damaged_copy(run_dir, _damage_state(data)) as path:
        check_ending(_resume(path), "train ppo --resume, state", keep=path)


@fuzz(examples=30, shrink=False)
@given(data=st.data())
def test_resume_config_via_cli(run_dir, data) -> None:
    """``mimetic train ppo --resume RUN`` with a damaged config.json."""

    def damage(root: Path) -> None:
        (root / "config.json").write_bytes(json_text(data, json.loads((root / "config.json").read_text())))

    with damaged_copy(run_dir, damage) as path:
        check_ending(_resume(path), "train ppo --resume, config.json", keep=path)


# --------------------------------------------------------------------------- eval --policy RUN_DIR


def _damage_layout(data: st.DataObject, root: Path) -> Path:
    """The run's checkpoint/ missing, replaced by a file, its files missing, made directories or
    links that loop; returns the path to pass to --policy (the run, its checkpoint/, or a file)."""
    ckpt = root / "checkpoint"
    how = data.draw(st.sampled_from(["none", "no-checkpoint", "checkpoint-file", "no-json", "json-dir", "no-weights",
                                     "weights-dir", "loop", "empty-json"]), label="layout")
    if how == "no-checkpoint":
        shutil.rmtree(ckpt)
    elif how == "checkpoint-file":
        shutil.rmtree(ckpt)
        ckpt.write_text("not a folder")
    elif how in ("no-json", "json-dir"):
        (ckpt / META_FILE).unlink()
        if how == "json-dir":
            (ckpt / META_FILE).mkdir()
    elif how in ("no-weights", "weights-dir"):
        (ckpt / WEIGHTS_FILE).unlink()
        if how == "weights-dir":
            (ckpt / WEIGHTS_FILE).mkdir()
    elif how == "loop":
        shutil.rmtree(ckpt)
        os.symlink(root / "checkpoint", root / "checkpoint")
    elif how == "empty-json":
        (ckpt / META_FILE).write_text("")
    target = data.draw(st.sampled_from(["run", "checkpoint", "json", "weights", "config"]), label="--policy")
    return {"run": root, "checkpoint": ckpt, "json": ckpt / META_FILE, "weights": ckpt / WEIGHTS_FILE,
            "config": root / "config.json"}[target]


@fuzz(examples=30)
@given(data=st.data())
def test_eval_policy_resolution(run_dir, data) -> None:
    """``mimetic eval --policy PATH`` on a damaged run directory, through the CLI."""
    holder: list[Path] = []

    def damage(root: Path) -> None:
        holder.append(_damage_layout(data, root))
        meta = root / "checkpoint" / META_FILE
        if meta.is_file() and meta.stat().st_size and data.draw(st.booleans(), label="mutate policy.json"):
            meta.write_text(json.dumps(mutate_json(data, json.loads(meta.read_text())), allow_nan=True))

    with damaged_copy(run_dir, damage) as path:
        out = cli(["eval", "--policy", holder[0], "--episodes", "1", "--num-envs", "1"])
        check_ending(out, "eval --policy", keep=path)


# --------------------------------------------------------------------------- regressions
# Crashes the properties above found, each kept as one fixed example: resuming from the damaged
# state must be refused in one line (the mid-training failures were crashes one iteration later),
# except where the damage is to something the learner ignores (IGNORED), which must just work.


def _state_json(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        meta = json.loads((root / "state" / "state.json").read_text())
        edit(meta)
        (root / "state" / "state.json").write_text(json.dumps(meta, allow_nan=True))

    return damage


def _state_tensors(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        tensors = load_safetensors((root / "state" / "state.safetensors").read_bytes())
        edit(tensors)
        (root / "state" / "state.safetensors").write_bytes(save_safetensors(tensors))

    return damage


def _first(tensors: dict, prefix: str) -> str:
    return sorted(k for k in tensors if k.startswith(prefix))[0]


REGRESSIONS = {
    "state.json nested too deep (RecursionError)": lambda root: (root / "state" / "state.json").write_text(
        "[" * 100_000),
    "counter missing (KeyError)": _state_json(lambda m: m.pop("iteration")),
    "counter not a number (ValueError)": _state_json(lambda m: m.__setitem__("env_steps", "many")),
    "statistics missing a part (KeyError)": _state_json(lambda m: m["obs_stats"].pop("var")),
    "statistics with a ragged extra entry (ValueError)": _state_json(
        lambda m: m["obs_stats"].__setitem__("extra", [[1], [2, 3]])),
    "statistics of another size (later broadcast error)": _state_json(
        lambda m: m["obs_stats"].__setitem__("mean", [0.0] * 7)),
    "NaN statistics": _state_json(lambda m: m["ret_stats"].__setitem__("var", float("nan"))),
    "generator state of the wrong kind (TypeError)": _state_json(
        lambda m: m.__setitem__("shuffle_rng", {"bit_generator": "PCG64", "state": {"state": -1, "inc": 1}})),
    "torch generator state missing (KeyError)": _state_tensors(lambda t: t.pop("rng.ppo")),
    "torch generator state as floats (TypeError)": _state_tensors(
        lambda t: t.__setitem__("rng.ppo", t["rng.ppo"].float())),
    "network tensor missing (two-line message)": _state_tensors(lambda t: t.pop(_first(t, "agent."))),
    "overflowing network weights (NaN actions later)": _state_tensors(
        lambda t: t.__setitem__(_first(t, "agent.actor.net"), t[_first(t, "agent.actor.net")] + 1e38)),
    "NaN network weights (NaN actions later)": _state_tensors(
        lambda t: t.__setitem__(_first(t, "agent."), t[_first(t, "agent.")] * float("nan"))),
    "optimizer moment missing (KeyError at the next step)": _state_tensors(
        lambda t: t.pop(_first(t, "ppo_opt.0.exp_avg"))),
    "optimizer moment of another shape (error at the next step)": _state_tensors(
        lambda t: t.__setitem__(_first(t, "ppo_opt.0.exp_avg"), t[_first(t, "ppo_opt.0.exp_avg")].flatten()[:1])),
}


IGNORED = {"statistics with a ragged extra entry (ValueError)"}


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_regressions(run_dir, case) -> None:
    with damaged_copy(run_dir, REGRESSIONS[case]) as path:
        out = isolated(_resume_state(path)).check(case)
    assert out.kind == ("ok" if case in IGNORED else "error"), out
    if out.kind == "error":
        assert str(path) in out.message or "saved PPO" in out.message or "saved optimizer" in out.message, out
