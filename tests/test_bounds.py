"""Issue 10, items 1, 3 and 4: sizes refused before allocation, continuous actions checked against
the bounds (or clipped on request), an expert's faults and NaN weights reported in one line."""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from mimetic import limits
from mimetic.data import load_minari, save_minari
from mimetic.errors import DataError, ExpertError
from mimetic.interactive.budget import LabelBudget
from mimetic.policies import MLPConfig, MLPPolicy, load_policy, save_policy
from test_cli import _assert_one_error_line, _run


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("bounds")
    assert _run(["collect", "--task", "pendulum", "--episodes", "2", "--max-steps", "40", "--out", root / "d"]) == 0
    ds = load_minari(root / "d")
    policy = MLPPolicy.for_spec(_spec(), MLPConfig(hidden=(8,)), seed=0)
    save_policy(policy, root / "ckpt", extra={"task": "pendulum"})
    ds._acts[: ds.n_steps] *= 10  # an actions-x10 bug in someone's converter
    ds._executed[: ds.n_steps] *= 10
    save_minari(ds, root / "d10")
    return root


def _spec():
    from mimetic.envs import make_task

    return make_task("pendulum").spec


# ------------------------------------------------------------------ 1. sizes before allocation


@pytest.mark.parametrize("options", [["--hidden", "1000000000"], ["--hidden", "100000", "100000"],
                                     ["--ensemble", "1000000"]])
def test_train_bc_refuses_absurd_sizes_at_once(work, tmp_path, capsys, options):
    # would be an OOM kill (or a traceback after 80 s) if anything were allocated first
    assert _run(["train", "bc", "--data", work / "d", "--out", tmp_path / "r", *options]) == 2
    line = _assert_one_error_line(capsys.readouterr().err)
    assert "over the memory cap" in line and "--max-memory" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("edit", [{"hidden": [1000000000]}, {"hidden": [1e9, 1e9]},
                                  {"hidden": [64, 64], "ensemble": 1000000}])
def test_a_checkpoint_with_absurd_sizes_is_refused(work, tmp_path, capsys, edit):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(work / "ckpt", ckpt)
    meta = json.loads((ckpt / "policy.json").read_text())
    meta["config"].update(edit)
    (ckpt / "policy.json").write_text(json.dumps(meta))
    assert _run(["eval", "--policy", ckpt, "--episodes", "1"]) == 2
    assert "over the memory cap" in _assert_one_error_line(capsys.readouterr().err)


def test_the_cap_is_an_option_and_applies_both_ways(work, tmp_path, capsys):
    args = ["train", "bc", "--data", work / "d", "--hidden", "512", "512", "--steps", "2", "--eval-episodes", "0"]
    assert _run([*args, "--out", tmp_path / "a", "--max-memory", "1M"]) == 2  # 512x512 x 16 B is 4 MiB
    assert "over the memory cap of 1.0 MiB" in _assert_one_error_line(capsys.readouterr().err)
    assert limits.cap_override() is None
    assert _run([*args, "--out", tmp_path / "b", "--max-memory", "64M"]) == 0
    assert limits.cap_override() is None  # the option held for its command only, not for what runs next


def test_memory_estimate_counts_weights_biases_and_training_state():
    from mimetic.nets.mlp import mlp_bytes

    assert mlp_bytes((3, 4, 1)) == (3 * 4 + 4 + 4 * 1 + 1) * 4 * limits.TRAINING_FACTOR
    assert mlp_bytes((3, 4, 1), k=5) == 5 * mlp_bytes((3, 4, 1))
    with pytest.raises(limits.ResourceError):
        limits.check_bytes("x", 2048, cap=1024)
    assert limits.parse_size("1.5K") == 1536 and limits.parse_size("2G") == 2 * 1024**3


# ------------------------------------------------------------------ 3. continuous bounds


def test_dataset_actions_outside_the_bounds_are_refused_or_clipped(work, tmp_path, capsys):
    assert _run(["train", "bc", "--data", work / "d10", "--steps", "5", "--out", tmp_path / "r"]) == 2
    line = _assert_one_error_line(capsys.readouterr().err)
    assert "outside the bounds of task 'pendulum' [-2, 2]" in line and "--clip-actions" in line
    assert not (tmp_path / "r").exists()
    with pytest.warns(UserWarning, match=r"clipped \d+ actions"):
        assert _run(["train", "bc", "--data", work / "d10", "--steps", "5", "--eval-episodes", "0", "--out",
                     tmp_path / "c", "--clip-actions"]) == 0


def test_validate_clips_in_place_into_the_bounds(work):
    ds = load_minari(work / "d10")
    with pytest.raises(DataError, match="outside the bounds"):
        ds.validate(_spec())
    with pytest.warns(UserWarning, match="clipped"):
        ds.validate(_spec(), clip_actions=True)
    assert ds.acts.min() >= -2.0 and ds.acts.max() <= 2.0
    ds.validate(_spec())  # now inside


def test_expert_actions_outside_the_bounds_are_refused_or_clipped(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "overshoot.py").write_text(
        "import numpy as np\ndef act(obs):\n    return np.full((len(obs), 1), 1e6, np.float32)\n")
    base = ["collect", "--task", "gym:MountainCarContinuous-v0", "--expert", "overshoot:act", "--episodes", "2",
            "--max-steps", "20"]
    assert _run([*base, "--out", tmp_path / "a"]) == 2
    line = _assert_one_error_line(capsys.readouterr().err)
    assert "the expert overshoot:act returned 2 action values outside the bounds [-1, 1]" in line
    assert not (tmp_path / "a").exists()
    with pytest.warns(UserWarning, match="clipping them"):
        assert _run([*base, "--out", tmp_path / "b", "--clip-actions"]) == 0
    assert float(np.abs(load_minari(tmp_path / "b").acts).max()) == 1.0


# ------------------------------------------------------------------ 4. the expert's faults, NaN weights


def test_an_expert_that_raises_or_returns_nan_is_blamed_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "faulty.py").write_text(
        "import numpy as np\ncalls = [0]\n"
        "def boom(obs):\n    raise ValueError('my controller broke')\n"
        "def nan_late(obs):\n    calls[0] += 1\n    a = np.zeros((len(obs), 1), np.float32)\n"
        "    if calls[0] > 5:\n        a[:] = np.nan\n    return a\n")
    base = ["collect", "--task", "gym:MountainCarContinuous-v0", "--episodes", "2", "--max-steps", "20"]
    assert _run([*base, "--expert", "faulty:boom", "--out", tmp_path / "a"]) == 2
    line = _assert_one_error_line(capsys.readouterr().err)
    assert "the expert faulty:boom raised ValueError: my controller broke on call 1" in line
    assert _run([*base, "--expert", "faulty:nan_late", "--out", tmp_path / "b"]) == 2
    line = _assert_one_error_line(capsys.readouterr().err)
    assert "the expert faulty:nan_late returned 2 NaN/inf action values on call" in line
    assert "observations" not in line  # the expert's fault, not the data's
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_label_budget_names_the_failing_call():
    calls = []

    def expert(obs):
        calls.append(len(obs))
        if len(calls) == 3:
            raise RuntimeError("third time")
        return np.zeros(len(obs), np.int64)

    budget = LabelBudget(expert)
    budget.label(np.zeros((4, 2)))
    budget.watch(np.zeros((2, 2)))
    with pytest.raises(ExpertError, match=r"raised RuntimeError: third time on call 3 \(a batch of 1 states\)"):
        budget.label(np.zeros((1, 2)))


def test_nan_weights_in_a_checkpoint_are_refused(work, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(work / "ckpt", ckpt)
    tensors = load_file(ckpt / "policy.safetensors")
    name = next(k for k in tensors if k.endswith("weight"))
    tensors[name][0, 0] = float("nan")
    save_file(tensors, ckpt / "policy.safetensors")
    with pytest.raises(Exception, match=f"1 NaN/inf values in '{name}'"):
        load_policy(ckpt)
    assert _run(["eval", "--policy", ckpt, "--episodes", "1"]) == 2
    assert "NaN/inf" in _assert_one_error_line(capsys.readouterr().err)
    assert torch.isfinite(load_file(work / "ckpt" / "policy.safetensors")[name]).all()
