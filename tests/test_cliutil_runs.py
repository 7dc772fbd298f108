import argparse
import json
from dataclasses import dataclass
from typing import Literal

import pytest

from mimetic.cli.options import add_config_args, config_from_args, field_docs
from mimetic.errors import ConfigError
from mimetic.runs import RunDir, write_json_atomic


@dataclass(frozen=True)
class _Cfg:
    epochs: int = 3
    """Passes over the data."""
    lr: float = 1e-3
    """Learning rate."""
    loss: Literal["mse", "nll"] = "mse"
    """Loss for continuous actions."""
    hidden: tuple[int, ...] = (8, 8)
    """Hidden sizes."""
    budget: int | None = None
    """Optional cap."""
    clip: bool = True
    """Clip gradients."""

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")


def _parse(argv):
    p = argparse.ArgumentParser()
    add_config_args(p, _Cfg)
    return config_from_args(_Cfg, p.parse_args(argv)), p


def test_field_docs_become_help():
    assert field_docs(_Cfg)["lr"] == "Learning rate."
    _, p = _parse([])
    assert "Passes over the data." in p.format_help()


def test_parse_all_field_kinds():
    cfg, _ = _parse(["--epochs", "5", "--lr", "0.1", "--loss", "nll", "--hidden", "4", "2",
                     "--budget", "7", "--no-clip"])
    assert cfg == _Cfg(epochs=5, lr=0.1, loss="nll", hidden=(4, 2), budget=7, clip=False)
    assert _parse(["--budget", "none"])[0].budget is None
    assert _parse([])[0] == _Cfg()


def test_invalid_values_raise_config_error():
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        _parse(["--epochs", "0"])
    with pytest.raises(SystemExit):
        _parse(["--loss", "bogus"])


def test_run_dir_is_atomic(tmp_path):
    out = tmp_path / "run"
    with RunDir(out, config={"a": 1}, tensorboard=False) as run:
        run.log(0, {"loss": 1.5})
        assert not out.exists()  # only the hidden temporary folder exists while running
    assert json.loads((out / "config.json").read_text()) == {"a": 1}
    assert json.loads((out / "metrics.jsonl").read_text())["loss"] == 1.5
    failed = tmp_path / "failed"
    with pytest.raises(RuntimeError), RunDir(failed, config={}, tensorboard=False):
        raise RuntimeError("boom")
    assert not failed.exists() and [p.name for p in tmp_path.iterdir()] == ["run"]
    with pytest.raises(ConfigError, match="not empty"):
        RunDir(out, config={})


def test_tensorboard_events_written(tmp_path):
    with RunDir(tmp_path / "tb", config={}) as run:
        run.log(1, {"loss": 0.5}, prefix="train/")
    assert list((tmp_path / "tb" / "tb").glob("events.out.tfevents.*"))


def test_write_json_atomic_leaves_no_temp_on_failure(tmp_path):
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "x.json", {"bad": object()})
    assert list(tmp_path.iterdir()) == []
