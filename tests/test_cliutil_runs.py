import argparse
import json
from dataclasses import dataclass
from typing import Literal

import pytest
import torch

from mimetic.cli.options import add_config_args, config_from_args, field_docs
from mimetic.errors import ConfigError
from mimetic.runs import RunDir, is_unfinished_run, write_json_atomic


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


def test_run_dir_lifecycle_new_failed_checkpointed_resumed(tmp_path):
    out = tmp_path / "run"
    with RunDir(out, config={"a": 1}, tensorboard=False) as run:
        run.log(0, {"loss": 1.5})
        assert json.loads((out / "config.json").read_text()) == {"a": 1}  # resumable from the start
        run.finish({"done": True})
    assert json.loads((out / "metrics.jsonl").read_text())["loss"] == 1.5
    with pytest.raises(ConfigError, match="not empty"):
        RunDir(out, config={})
    # a failure before any checkpoint leaves no trace (nor the parents made for it)
    failed = tmp_path / "new" / "failed"
    with pytest.raises(RuntimeError), RunDir(failed, config={}, tensorboard=False):
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    # after a checkpoint the run is kept, unfinished: a new run refuses it and names --resume
    killed = tmp_path / "killed"
    with pytest.raises(RuntimeError), RunDir(killed, config={"a": 2}, tensorboard=False) as run:
        run.log(1, {"loss": 1.0})
        run.save_state({"w": torch.ones(2)}, {"step": 1})
        run.log(2, {"loss": 0.5})  # after the checkpoint: dropped on resume
        raise RuntimeError("killed")
    assert is_unfinished_run(killed)
    with pytest.raises(ConfigError, match="unfinished.*--resume"):
        RunDir(killed, config={})
    with RunDir(killed, config={"a": 2}, tensorboard=False, resume=True) as run:
        assert run.state is not None and run.state[1]["step"] == 1 and torch.equal(run.state[0]["w"], torch.ones(2))
        run.log(2, {"loss": 0.25})
        run.finish({})
    rows = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["loss"]) for r in rows] == [(1, 1.0), (2, 0.25)]
    assert not is_unfinished_run(killed)


def test_resume_cuts_a_half_written_metrics_line(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError), RunDir(out, config={}, tensorboard=False) as run:
        run.log(1, {"loss": 1.0})
        run.save_state({}, {})
        raise RuntimeError("killed")
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 2, "lo')  # a kill in the middle of a line
    (out / ".state.999999-abcdefgh.tmp").mkdir()  # a killed checkpoint writer's temporary
    with RunDir(out, config={}, tensorboard=False, resume=True) as run:
        run.log(2, {"loss": 0.5})
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert not (out / ".state.999999-abcdefgh.tmp").exists()


def test_tensorboard_events_written(tmp_path):
    with RunDir(tmp_path / "tb", config={}) as run:
        run.log(1, {"loss": 0.5}, prefix="train/")
    assert list((tmp_path / "tb" / "tb").glob("events.out.tfevents.*"))


def test_write_json_atomic_leaves_no_temp_on_failure(tmp_path):
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "x.json", {"bad": object()})
    assert list(tmp_path.iterdir()) == []
