"""`mimetic train dagger | hg-dagger | thrifty-dagger`: smoke runs and one-line errors."""

import json

import pytest

from test_cli import _assert_one_error_line, _run, _tree

SMALL = ["--rounds", "2", "--episodes-per-round", "2", "--steps", "50", "--eval-episodes", "2",
         "--no-tensorboard", "--hidden", "16"]


@pytest.mark.parametrize(("algo", "task", "extra"), [
    ("dagger", "cartpole", ["--beta-schedule", "exponential", "--beta-p", "0.5"]),
    ("hg-dagger", "driving", ["--ensemble", "2", "--deviation", "0.05"]),
    ("thrifty-dagger", "pendulum", ["--ensemble", "2", "--switch-rate", "0.2"]),
    ("thrifty-dagger", "driving", ["--ensemble", "2", "--handback", "discrepancy", "--calibrate", "learner",
                                   "--min-intervention", "3", "--max-steps", "100"]),
    ("thrifty-dagger", "cartpole", ["--ensemble", "2", "--learn-risk"]),
    ("ensemble-dagger", "cartpole", ["--ensemble", "2", "--chi", "0.5"]),
    ("lazy-dagger", "pendulum", ["--unsafe-rate", "0.2", "--release", "0.3"]),
])
def test_interactive_training_writes_a_run(tmp_path, capsys, algo, task, extra):
    out = tmp_path / "run"
    assert _run(["train", algo, "--task", task, "--out", out, *SMALL, *extra]) == 0
    printed = capsys.readouterr().out
    assert "expert labels" in printed and "round" in printed
    result = json.loads((out / "result.json").read_text())
    assert len(result["rounds"]) == 2 and result["labels"] == result["rounds"][-1]["labels"] > 0
    assert (out / "checkpoint" / "policy.safetensors").exists()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["round/labels"] for r in records] == [r["labels"] for r in result["rounds"]]
    assert _run(["eval", "--policy", out, "--episodes", "2", "--num-envs", "2"]) == 0


def test_label_budget_is_reported(tmp_path, capsys):
    assert _run(["train", "dagger", "--task", "pendulum", "--out", tmp_path / "r", *SMALL[:-2],
                 "--label-budget", "500", "--rounds", "5"]) == 0
    assert "label budget spent" in capsys.readouterr().out
    assert json.loads((tmp_path / "r" / "result.json").read_text())["labels"] <= 500


BAD = {
    "zero budget": (["train", "dagger", "--task", "cartpole", "--label-budget", "0"], "--label-budget must be >= 1"),
    "negative beta": (["train", "dagger", "--task", "cartpole", "--beta0", "-0.5"], "must be in [0, 1]"),
    "bad schedule": (["train", "dagger", "--task", "cartpole", "--beta-schedule", "cubic"], "invalid choice"),
    "thrifty without ensemble": (["train", "thrifty-dagger", "--task", "pendulum", "--ensemble", "1"],
                                 "needs an ensemble"),
    "bad min intervention": (["train", "thrifty-dagger", "--task", "pendulum", "--min-intervention", "0"],
                             "min_intervention must be >= 1"),
    "bad switch rate": (["train", "thrifty-dagger", "--task", "pendulum", "--switch-rate", "0"],
                        "switch rate must be in (0, 1)"),
    "bad deviation": (["train", "hg-dagger", "--task", "driving", "--deviation", "-1"], "--deviation and --risk"),
    "unknown task": (["train", "dagger", "--task", "nope"], "unknown task 'nope'"),
    "zero rounds": (["train", "dagger", "--task", "cartpole", "--rounds", "0"], "--rounds must be >= 1"),
    "ensemble-dagger without ensemble": (["train", "ensemble-dagger", "--task", "cartpole", "--ensemble", "1"],
                                         "needs an ensemble"),
    "ensemble-dagger bad chi": (["train", "ensemble-dagger", "--task", "cartpole", "--chi", "0"], "chi > 0"),
    "lazy-dagger bad release": (["train", "lazy-dagger", "--task", "pendulum", "--release", "0"],
                                "0 < release <= 1"),
    "lazy-dagger bad rate": (["train", "lazy-dagger", "--task", "pendulum", "--unsafe-rate", "1"],
                             "unsafe_rate must be in (0, 1)"),
    "ensemble-dagger bad doubt rate": (["train", "ensemble-dagger", "--task", "cartpole", "--doubt-rate", "0"],
                                       "doubt_rate must be in (0, 1)"),
    "diffusion on discrete actions": (["train", "dagger", "--task", "cartpole", "--policy", "diffusion"],
                                      "needs continuous actions"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_error_line(tmp_path, capsys, case):
    argv, expected = BAD[case]
    before = _tree(tmp_path)
    assert _run([*argv, "--out", tmp_path / "r", "--eval-episodes", "0"]) == 2
    line = _assert_one_error_line(capsys.readouterr().err)
    assert expected in line, line
    assert _tree(tmp_path) == before


REDUCTIONS = {
    "aggrevate": ["--iterations", "2", "--episodes-per-iteration", "4", "--ctg-horizon", "10", "--num-envs", "8"],
    "smile": ["--iterations", "2", "--episodes-per-iteration", "1"],
    "forward": ["--segment-length", "100", "--episodes-per-segment", "1", "--max-steps", "200"],
}


@pytest.mark.parametrize("algo", list(REDUCTIONS))
def test_reductions_write_an_evaluable_run(tmp_path, capsys, algo):
    out = tmp_path / "run"
    argv = ["train", algo, "--task", "cartpole", "--out", out, "--steps", "50", "--eval-episodes", "2",
            "--no-tensorboard", "--hidden", "16", *REDUCTIONS[algo]]
    assert _run(argv) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["labels"] > 0 and result["labels"] == result["rounds"][-1]["labels"]
    assert _run(["eval", "--policy", out, "--episodes", "2", "--num-envs", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["episodes"] == 2


def test_aggrevate_refuses_a_task_without_set_state(tmp_path, capsys):
    assert _run(["train", "aggrevate", "--task", "lunarlander", "--out", tmp_path / "r"]) == 2
    assert "get_state/set_state" in _assert_one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_experiment_horizon_writes_table_and_plot(tmp_path, capsys):
    out = tmp_path / "hz"
    argv = ["experiment", "horizon", "--horizons", "50", "100", "--seeds", "0", "--labels", "300",
            "--dagger-rounds", "2", "--bc-steps", "50", "--dagger-steps", "20", "--eval-episodes", "4",
            "--hidden", "8", "--out", out]
    assert _run(argv) == 0
    assert "Log-log slopes" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["horizon.json", "horizon.md", "horizon.png"]
    table = json.loads((out / "horizon.json").read_text())["table"]
    assert [r["horizon"] for r in table] == [50, 100]


def test_experiment_horizon_bad_input(tmp_path, capsys):
    assert _run(["experiment", "horizon", "--horizons", "0", "--out", tmp_path / "hz"]) == 2
    _assert_one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "hz").exists()


def test_dagger_trains_a_diffusion_policy(tmp_path):
    out = tmp_path / "run"
    assert _run(["train", "dagger", "--task", "pendulum", "--out", out, *SMALL, "--policy", "diffusion",
                 "--diffusion-hidden", "32", "--diffusion-inference-steps", "2"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["policy"]["kind"] == "diffusion" and config["policy"]["hidden"] == [32]
    assert json.loads((out / "checkpoint" / "policy.json").read_text())["kind"] == "diffusion"
    assert _run(["eval", "--policy", out, "--episodes", "2", "--num-envs", "2"]) == 0
