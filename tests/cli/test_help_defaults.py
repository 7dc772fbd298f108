"""What ``--help`` says a config option defaults to is what the command uses when the option is
not given, for every ``train`` method and every experiment.

Each command runs with no config option (only what it requires: a dataset or a task, and --out)
up to the point where its configs reach the algorithm: the algorithm (``bc.fit``, a method's
``fit``, PPO, the adversarial trainer, ``run_<experiment>``) is replaced by a recorder that
stops the command, and the policy and gate builders record what they are given. Every config
recorded there is compared field by field with its option's parser default and the default
printed in --help. (This caught `train dagger --help` showing 3000 BC steps and 256x256 networks
while the rounds used 500 and 64x64.)
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from pathlib import Path
from typing import Any

import pytest

from mimetic.algos import adversarial, ppo
from mimetic.algos.adversarial import AdversarialConfig
from mimetic.algos.bc import BCConfig
from mimetic.algos.ppo import PPOConfig
from mimetic.cli import build_parser
from mimetic.cli.experiment import EXPERIMENTS
from mimetic.data import Dataset, save_minari
from mimetic.envs import make_expert, make_task
from mimetic.interactive.registry import METHODS
from mimetic.policies import ChunkingConfig, ChunkingPolicy, DiffusionConfig, DiffusionPolicy, MLPConfig, MLPPolicy
from mimetic.rollout import collect

cli_main = importlib.import_module("mimetic.cli.main")
PREFIX = {DiffusionConfig: "diffusion", ChunkingConfig: "chunking"}  # cli.common.add_policy_args


class Reached(Exception):
    """The command's configs reached the algorithm: stop here."""


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return dict(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)


FULL = build_parser()
TRAIN = list(_subparsers(_subparsers(FULL)["train"]))
EXPERIMENT_NAMES = list(_subparsers(_subparsers(FULL)["experiment"]))


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> Path:
    task = make_task("cartpole", num_envs=2, max_steps=20)
    ds = Dataset.from_trajectories(collect(task, make_expert("cartpole"), episodes=2, seed=0), spec=task.spec)
    path = tmp_path_factory.mktemp("demos") / "cartpole"
    save_minari(ds, path)
    return path


def _configs(values: Any) -> list[Any]:
    """The config dataclasses among ``values`` (by the naming rule: ``*Config``, gates' ``*Options``;
    the expert, also a dataclass, is not one)."""
    return [v for v in values if dataclasses.is_dataclass(v) and not isinstance(v, type)
            and type(v).__name__.endswith(("Config", "Options"))]


@pytest.fixture
def recorded(monkeypatch) -> list[Any]:
    """Every config the algorithms and builders receive while a command runs (stops at the algorithm)."""
    seen: list[Any] = []

    def stop(*args: Any, **kwargs: Any) -> Any:
        seen.extend(_configs([*args, *kwargs.values()]))
        raise Reached

    def recording(cls: type, original: Any) -> Any:
        def for_spec(spec: Any, config: Any = None, **kwargs: Any) -> Any:
            seen.extend(_configs([config]))
            return original(spec, config, **kwargs)
        return for_spec

    for cls in (MLPPolicy, DiffusionPolicy, ChunkingPolicy):
        monkeypatch.setattr(cls, "for_spec", recording(cls, cls.for_spec))
    for gate in {m.gate for m in METHODS.values() if m.gate is not None}:
        def build(self: Any, *args: Any, _original: Any = gate.build) -> Any:
            seen.append(self)
            return _original(self, *args)
        monkeypatch.setattr(gate, "build", build)
    monkeypatch.setattr(importlib.import_module("mimetic.cli.train_bc"), "fit", stop)
    for name, m in METHODS.items():
        monkeypatch.setitem(METHODS, name, dataclasses.replace(m, fit=stop))
    monkeypatch.setattr(ppo, "PPO", stop)
    monkeypatch.setattr(adversarial, "AdversarialTrainer", stop)
    for exp in EXPERIMENTS.values():
        module = importlib.import_module(f"mimetic.experiments.{exp.module}")
        monkeypatch.setattr(module, f"run_{exp.module}", stop)
    return seen


def _leaf(path: list[str]) -> argparse.ArgumentParser:
    parser = cli_main.build_parser(path)  # as the command line builds it
    for name in path:
        parser = _subparsers(parser)[name]
    return parser


def _shown_default(action: argparse.Action) -> str | None:
    """The default --help prints for an option: '(default: X)' at the end of its help."""
    text = (action.help or "").replace("%(default)s", str(action.default))
    head, found, shown = text.rpartition("(default: ")  # the last: a field's own text may say "(default: ..."
    return shown[:-1] if found and shown.endswith(")") else None


def _run_to_the_algorithm(path: list[str], required: list[str]) -> None:
    args = cli_main._parse([*path, *required])
    with pytest.raises(Reached):
        args.handler(args)


def _compare(path: list[str], configs: list[Any]) -> list[str]:
    """Every option of each config whose used value differs from its default or help text."""
    actions = {a.dest: a for a in _leaf(path)._actions}
    wrong, compared = [], 0
    for cfg in configs:
        prefix = PREFIX.get(type(cfg))
        for f in dataclasses.fields(cfg):
            action = actions.get(f"{prefix}_{f.name}" if prefix else f.name)
            if action is None or not f.init:
                continue  # not an option of this command (the command sets it, e.g. AIRL's method)
            used = getattr(cfg, f.name)
            default = tuple(action.default) if isinstance(action.default, list) else action.default
            shown = _shown_default(action)
            compared += 1
            if used != default or (shown is not None and shown != str(used)):
                wrong.append(f"{action.option_strings[0]}: --help says {shown!r} (parser default {default!r}), "
                             f"the command uses {used!r} ({type(cfg).__name__})")
    assert compared > 0, f"no config option of {' '.join(path)} was compared"
    return wrong


@pytest.mark.parametrize("algo", TRAIN)
def test_train_help_defaults_are_the_defaults_used(algo, demos, recorded, tmp_path):
    data = ["--data", str(demos)] if "--data" in _leaf(["train", algo])._option_string_actions else []
    task = [] if data else ["--task", "cartpole"]
    _run_to_the_algorithm(["train", algo], [*data, *task, "--out", str(tmp_path / "run")])
    assert not _compare(["train", algo], recorded)
    assert {type(c) for c in recorded} == _config_kinds(algo)  # every config the command has was seen


def _config_kinds(algo: str) -> set[type]:
    if algo in METHODS:
        m = METHODS[algo]
        return {m.loop, BCConfig, MLPConfig} | ({m.gate} if m.gate is not None else set())
    return {"bc": {BCConfig, MLPConfig}, "ppo": {PPOConfig, MLPConfig},
            "gail": {PPOConfig, AdversarialConfig, MLPConfig}, "airl": {PPOConfig, AdversarialConfig, MLPConfig}}[algo]


@pytest.mark.parametrize("name", EXPERIMENT_NAMES)
def test_experiment_help_defaults_are_the_defaults_used(name, recorded, tmp_path):
    _run_to_the_algorithm(["experiment", name], ["--out", str(tmp_path / "out")])
    assert recorded and not _compare(["experiment", name], recorded)


def test_the_check_sees_a_default_the_command_overrides(demos, recorded, tmp_path, monkeypatch):
    """A command that uses another value than its --help shows is caught: here `train dagger`
    building its BC config with 3000 steps while --help says 500."""
    interactive = importlib.import_module("mimetic.cli.interactive")
    original = interactive.config_from_args

    def config_from_args(cls: type, args: argparse.Namespace, **kw: Any) -> Any:
        return original(cls, args, **({"steps": 3000} if cls.__name__ == "BCConfig" else {}), **kw)

    monkeypatch.setattr(interactive, "config_from_args", config_from_args)
    _run_to_the_algorithm(["train", "dagger"], ["--task", "cartpole", "--out", str(tmp_path / "run")])
    wrong = _compare(["train", "dagger"], recorded)
    assert wrong == ["--steps: --help says '500' (parser default 500), the command uses 3000 (BCConfig)"]
