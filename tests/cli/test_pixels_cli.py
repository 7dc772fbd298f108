"""Camera observations on the command line: collect --obs pixels, train bc through an image
encoder, evaluate; and the one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import one_error as _one_error
from cli_helpers import run as _run

from mimetic.data import load_minari
from mimetic.policies import VisionPolicy, load_policy


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def pixel_demos(tmp_path: Path) -> Path:
    assert _run(["collect", "--task", "multimodal", "--obs", "pixels", "--episodes", 4, "--max-steps", 30,
                 "--num-envs", 2, "--out", tmp_path / "demos"]) == 0
    return tmp_path / "demos"


def test_collect_train_and_eval_from_pixels(pixel_demos: Path, tmp_path: Path, capsys) -> None:
    ds = load_minari(pixel_demos)
    assert ds.metadata["task"] == "multimodal@pixels" and ds.obs["image"].shape[1:] == (64, 64, 3)
    assert ds.obs["image"].dtype.name == "uint8"
    capsys.readouterr()
    assert _run(["train", "bc", "--data", pixel_demos, "--steps", 4, "--batch-size", 8, "--hidden", 16,
                 "--vision-encoder", "conv", "--vision-features", 8, "--vision-keypoints", 4,
                 "--eval-episodes", 2, "--out", tmp_path / "run", "--no-tensorboard"]) == 0
    pol = load_policy(tmp_path / "run" / "checkpoint")
    assert isinstance(pol, VisionPolicy) and pol.layout.keys == ("image",)  # the hidden state left out
    assert pol.encoder.config.encoder == "conv"
    capsys.readouterr()
    assert _run(["eval", "--policy", tmp_path / "run" / "checkpoint", "--episodes", 2, "--max-steps", 20,
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["task"] == "multimodal@pixels" and out["episodes"] == 2


def test_diffusion_from_pixels_on_the_command_line(pixel_demos: Path, tmp_path: Path) -> None:
    assert _run(["train", "bc", "--data", pixel_demos, "--policy", "diffusion", "--steps", 2, "--batch-size", 4,
                 "--diffusion-hidden", 16, "--diffusion-pred-horizon", 4, "--diffusion-action-horizon", 2,
                 "--diffusion-inference-steps", 2, "--vision-encoder", "conv", "--vision-features", 8,
                 "--eval-episodes", 1, "--out", tmp_path / "run", "--no-tensorboard"]) == 0
    assert type(load_policy(tmp_path / "run" / "checkpoint").head).__name__ == "DiffusionPolicy"


def test_bad_camera_input_fails_in_one_line(pixel_demos: Path, tmp_path: Path, capsys) -> None:
    assert _run(["collect", "--obs", "pixels", "--episodes", 1, "--out", tmp_path / "x"]) == 2
    assert "--obs needs --task" in _one_error(capsys.readouterr().err)
    assert _run(["collect", "--task", "cartpole@pixels", "--obs", "pixels+state", "--episodes", 1,
                 "--out", tmp_path / "x"]) == 2
    assert "both say how the task is seen" in _one_error(capsys.readouterr().err)
    assert _run(["collect", "--task", "cartpole@depth", "--episodes", 1, "--out", tmp_path / "x"]) == 2
    assert "unknown observation mode 'depth'" in _one_error(capsys.readouterr().err)
    # a pixel dataset on the flat task: the keys differ from what the task observes
    assert _run(["train", "bc", "--data", pixel_demos, "--task", "multimodal", "--steps", 1,
                 "--out", tmp_path / "bad", "--no-tensorboard"]) == 2
    assert "dict observations" in _one_error(capsys.readouterr().err)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "x").exists()  # no partial output
