"""A new gate-based DAgger variant is one gate module plus one registry entry: the CLI subcommand,
its options and --help, and the labels experiment pick it up with no other change."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from mimetic.cli import main
from mimetic.experiments.labels import LabelsConfig, run_labels
from mimetic.interactive import dagger, registry
from mimetic.interactive.gates.beta import BetaGate
from mimetic.interactive.gates.common import GateFactory, RoundContext


# ---- the whole "new module": a gate, its factory and its options
class CoinGate:
    """The expert acts (and is labelled) on a seeded coin flip with probability ``rate``."""

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        self.rate, self.rng = rate, rng

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        take = self.rng.random(len(obs)) < self.rate
        return take, take

    def reset(self, mask: np.ndarray) -> None:
        pass


@dataclass(frozen=True)
class CoinOptions:
    """Coin-flip DAgger's options."""

    query_rate: float = 0.25
    """Chance per step that the expert takes over (and is labelled)."""

    def num_envs(self) -> int | None:
        return None

    def build(self, task, policy, expert) -> tuple[GateFactory, object]:
        def factory(ctx: RoundContext):
            return BetaGate(1.0, rng=ctx.rng) if ctx.round == 0 else CoinGate(self.query_rate, ctx.rng)
        return factory, expert


# ---- the one registry entry
COIN = registry.Method("coin-dagger", "CoinDAgger", "coin-flip DAgger (a test variant)", dagger.DAggerConfig,
                       dagger.fit, gate=CoinOptions)


@pytest.fixture
def coin(monkeypatch):
    monkeypatch.setitem(registry.METHODS, COIN.name, COIN)


def test_a_registered_variant_is_a_cli_command_with_generated_options(coin, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "coin-dagger", "--help"])
    assert "Chance per step that the expert takes over" in capsys.readouterr().out  # the field docstring
    out = tmp_path / "run"
    argv = ["train", "coin-dagger", "--task", "cartpole", "--rounds", "2", "--episodes-per-round", "1",
            "--steps", "20", "--eval-episodes", "2", "--query-rate", "0.1", "--out", str(out), "--no-tensorboard"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "expert labels" in text and (out / "checkpoint").is_dir()
    config = (out / "config.json").read_text()
    assert '"query_rate": 0.1' in config  # the gate's options are recorded with the run


def test_a_registered_variant_runs_in_the_labels_experiment(coin):
    cfg = LabelsConfig(task="cartpole", methods=("coin-dagger",), seeds=(0,), label_budget=600, bc_episodes=(1,),
                       episodes_per_round=1, max_rounds=2, round_steps=10, hidden=(8,), eval_episodes=2)
    (run,) = run_labels(cfg).runs
    assert run.method == "coin-dagger" and 500 <= run.labels <= 600  # round 0's demo, then coin-flip labels


def test_an_unregistered_method_is_refused():
    with pytest.raises(Exception, match="methods must be distinct names"):
        LabelsConfig(methods=("coin-dagger",))
