"""mimetic used from Python runs torch on one thread, as the CLI does, unless the user chose:
MIMETIC_THREADS=N, OMP_NUM_THREADS, or torch.set_num_threads before importing mimetic. Each case
runs in a fresh interpreter (torch's thread count is per process); ``import mimetic`` alone
never imports torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mimetic
from mimetic import threads
from mimetic.errors import ConfigError

SRC = str(Path(mimetic.__file__).parents[1])
THREAD_ENVS = ("MIMETIC_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# the README's Python example, shrunk: a BC fit and an evaluation
USE = """
from mimetic.algos.bc import BCConfig, fit
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.policies import MLPConfig, MLPPolicy
from mimetic.rollout import collect, evaluate

task, expert = make_task("cartpole", num_envs=2, max_steps=20), make_expert("cartpole")
demos = Dataset.from_trajectories(collect(task, expert, episodes=2, seed=0), spec=task.spec)
policy = MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(8,)))
fit(policy, demos, BCConfig(steps=5, log_every=5))
evaluate(task, policy, episodes=2)
"""
REPORT = """
import json, sys, torch
print(json.dumps({"threads": torch.get_num_threads(), "torch_default": torch.get_num_interop_threads(),
                  "torch_at_import": TORCH_AT_IMPORT}))
"""


def _run(before: str, env: dict[str, str] | None = None, *, after: str = "") -> dict:
    """``before``, then ``import mimetic``, ``after`` and the example; the thread count torch ends with."""
    code = (textwrap.dedent(before) + "\nimport sys\nimport mimetic\nTORCH_AT_IMPORT = 'torch' in sys.modules\n"
            + textwrap.dedent(after) + USE + REPORT)
    base = {k: v for k, v in os.environ.items() if k not in THREAD_ENVS}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**base, "PYTHONPATH": SRC, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _skip_on_one_core(report: dict) -> None:
    if report["torch_default"] == 1:
        pytest.skip("torch's own default is one thread here: nothing to tell apart")


def test_the_library_uses_one_thread_and_import_does_not_load_torch():
    # a library probing for torch (find_spec, no import) before anything imports it changes nothing
    report = _run("", after="import importlib.util\nassert importlib.util.find_spec('torch')\n")
    _skip_on_one_core(report)
    assert report == {"threads": 1, "torch_default": report["torch_default"], "torch_at_import": False}


def test_torch_imported_first_gets_one_thread_too():
    report = _run("import torch")
    _skip_on_one_core(report)
    assert report["threads"] == 1 and report["torch_at_import"]


@pytest.mark.parametrize("before", ["", "import torch"], ids=["mimetic first", "torch first"])
def test_mimetic_threads_sets_the_count(before):
    assert _run(before, {"MIMETIC_THREADS": "3"})["threads"] == 3


def test_a_users_own_thread_count_stays():
    # a count torch would not pick itself (its default is the inter-op pool's size)
    report = _run("import torch\nn = torch.get_num_interop_threads() + 1\ntorch.set_num_threads(n)")
    assert report["threads"] == report["torch_default"] + 1


def test_omp_num_threads_leaves_torch_its_own_setting():
    report = _run("", {"OMP_NUM_THREADS": "2"})
    assert report["threads"] == 2


def test_set_threads_applies_now_or_when_torch_loads(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        threads.set_threads(2)
        assert torch.get_num_threads() == 2
        with pytest.raises(ConfigError, match=">= 1"):
            threads.set_threads(0)
    finally:
        torch.set_num_threads(before)
    monkeypatch.setenv("MIMETIC_THREADS", "many")
    with pytest.raises(ConfigError, match="MIMETIC_THREADS must be a positive integer, got 'many'"):
        threads.threads_from_env()
    with pytest.warns(RuntimeWarning, match="MIMETIC_THREADS"):
        assert threads.default_threads() == (1, False)
