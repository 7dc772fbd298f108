"""`mimetic train ppo | gail | airl`: run directories, resume, reward transfer, one-line errors."""

import json

import pytest

from test_cli import _assert_one_error_line, _run

FAST = ["--no-tensorboard", "--eval-episodes", "3", "--eval-every", "2", "--rollout-steps", "32",
        "--num-envs", "4"]


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    root = tmp_path_factory.mktemp("rl")
    assert _run(["collect", "--task", "cartpole", "--episodes", "3", "--out", root / "cp"]) == 0
    assert _run(["collect", "--task", "pendulum", "--episodes", "2", "--out", root / "pd"]) == 0
    return root


def test_gail_run_resume_and_eval(demos, tmp_path, capsys):
    out = tmp_path / "g"
    assert _run(["train", "gail", "--data", demos / "cp", "--total-steps", "512", "--out", out, *FAST]) == 0
    assert "continue with --resume" in capsys.readouterr().out
    for name in ("config.json", "metrics.jsonl", "result.json", "checkpoint/policy.json", "state/state.json",
                 "best/policy.json"):
        assert (out / name).is_file(), name
    result = json.loads((out / "result.json").read_text())
    assert result["env_steps"] == 512 and not result["interrupted"]
    assert [e["env_steps"] for e in result["evaluations"]] == [256, 512]  # every 2 iterations of 128 steps
    scores = [e["normalized_score"] for e in result["evaluations"]]
    assert result["best"]["value"] == max(scores)
    assert result["best"]["env_steps"] == result["evaluations"][scores.index(max(scores))]["env_steps"]
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert sum("train/disc_loss" in x for x in lines) == 4
    assert _run(["eval", "--policy", out, "--episodes", "2", "--num-envs", "2"]) == 0
    more = tmp_path / "g2"
    assert _run(["train", "gail", "--resume", out, "--total-steps", "1024", "--out", more, *FAST]) == 0
    resumed = json.loads((more / "result.json").read_text())
    assert resumed["env_steps"] == 1024  # the copy continues the run: its history is the whole run's
    assert [e["env_steps"] for e in resumed["evaluations"]] == [256, 512, 768, 1024]
    assert json.loads((out / "result.json").read_text()) == result  # the original is left as it was
    config = json.loads((more / "config.json").read_text())
    assert config["data"] == str(demos / "cp") and config["ppo"]["total_steps"] == 1024


def test_airl_reward_trains_ppo(demos, tmp_path):
    airl = tmp_path / "a"
    assert _run(["train", "airl", "--data", demos / "pd", "--total-steps", "256", "--out", airl, *FAST]) == 0
    assert (airl / "reward" / "reward.json").is_file()
    out = tmp_path / "p"
    assert _run(["train", "ppo", "--task", "pendulum", "--reward", airl, "--total-steps", "256", "--out", out,
                 *FAST]) == 0
    assert json.loads((out / "config.json").read_text())["reward"] == str(airl / "reward")


def test_ppo_target_score_stops_early(tmp_path):
    out = tmp_path / "p"
    assert _run(["train", "ppo", "--task", "cartpole", "--total-steps", "200000", "--target-score", "-0.5",
                 "--out", out, *FAST]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["env_steps"] == 256 and result["first_target"]["env_steps"] == 256


BAD = {
    "gail without data": (["train", "gail"], "needs --data"),
    "ppo without task": (["train", "ppo"], "needs --task"),
    "resume nothing": (["train", "gail", "--resume", "/nonexistent/run"], "not a run directory"),
    "bad reward form": (["train", "gail", "--data", "x", "--reward", "exp"], "invalid choice"),
    "gamma": (["train", "ppo", "--task", "cartpole", "--gamma", "0"], "gamma"),
    "reward of a gail run": (["train", "ppo", "--task", "cartpole", "--reward", "/nonexistent"], "reward"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line(case, capsys, tmp_path):
    argv, needle = BAD[case]
    assert _run([*argv, "--out", tmp_path / "never"]) == 2
    assert needle in _assert_one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "never").exists()


def test_resume_of_another_algorithm_is_refused(demos, tmp_path, capsys):
    out = tmp_path / "p"
    assert _run(["train", "ppo", "--task", "cartpole", "--total-steps", "128", "--out", out, *FAST]) == 0
    capsys.readouterr()
    assert _run(["train", "gail", "--resume", out, "--out", tmp_path / "x"]) == 2
    assert "not 'train gail'" in _assert_one_error_line(capsys.readouterr().err)


def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "p"
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:  # a file, not a pipe: a full pipe would block the progress bar
        proc = subprocess.Popen([sys.executable, "-m", "mimetic.cli", "train", "ppo", "--task", "cartpole",
                                 "--total-steps", "100000000", "--out", str(out), *FAST],
                                stdout=subprocess.DEVNULL, stderr=err, text=True)
    deadline = time.monotonic() + 180  # generous: the machine may be busy
    metrics = out / "metrics.jsonl"
    while not metrics.exists() or metrics.stat().st_size == 0:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    stderr = log.read_text()
    assert proc.returncode == 130, stderr  # a script can tell an interrupted run from a finished one
    assert "interrupted: ppo stopped at" in stderr and f"--resume {out}" in stderr
    assert not (out / "result.json").exists() and (out / "checkpoint" / "policy.json").is_file()
    steps = json.loads((out / "state" / "state.json").read_text())["env_steps"]
    assert 0 < steps < 100000000
    assert _run(["train", "ppo", "--resume", out, "--total-steps", str(steps + 128), *FAST]) == 0
    assert json.loads((out / "result.json").read_text())["env_steps"] == steps + 128
