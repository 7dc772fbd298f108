"""Every CLI command smoke-tested in-process, and bad input: one ``error:`` line, exit code 2, no
traceback, nothing left behind. Small budgets throughout (a few episodes, a few hundred steps)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from mimetic.cli import main
from mimetic.data import load_minari

FAST = ["--num-envs", "4"]
TRAIN = ["--steps", "200", "--eval-episodes", "3", *FAST]

# a user's expert module, as `--expert module:function` imports it
USER_MODULE = "mimetic_cli_test_experts"
USER_CODE = """
import gymnasium as gym
import numpy as np
from mimetic.envs import make_expert

_cartpole = make_expert("cartpole")


def cartpole(obs):  # batched: (B, 4) -> (B,)
    return _cartpole(obs)


def cartpole_one(o):  # one observation at a time: (4,) -> int
    return int(_cartpole(o[None])[0])


def wrong_shape(obs):
    return np.zeros((len(obs), 3), np.int64)


def out_of_range(obs):
    return np.full(len(obs), 7)


def nan_torque(obs):
    return np.full((len(obs), 1), np.nan, np.float32)


class Line(gym.Env):
    \"\"\"Drive a point to 0; claims rgb_array rendering but draws nothing.\"\"\"

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-5.0, 5.0)
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x += float(np.clip(action[0], -1.0, 1.0))
        return np.array([self.x], np.float32), -abs(self.x), False, False, {}

    def render(self):
        return None


gym.register("MimeticCliTestLine-v0", entry_point=Line, max_episode_steps=10)


def line(obs):  # the env is registered when this module is imported
    return np.clip(-obs, -1.0, 1.0)
"""


def _run(argv: list[str]) -> int:
    """main(argv), with argparse's SystemExit turned into its exit code."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return int(e.code or 0)


def _tree(root: Path) -> dict[str, int]:
    """Every path under root (hidden ones too) with its size, to prove nothing was added or changed."""
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1) for p in root.rglob("*")}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _assert_one_error_line(err: str) -> str:
    lines = [ln for chunk in err.splitlines() for ln in chunk.split("\r") if ln.strip()]
    assert "Traceback" not in err, err
    assert lines and lines[-1].startswith("error: "), err
    assert sum(ln.startswith("error:") for ln in lines) == 1, err
    return lines[-1]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Shared inputs made once through the CLI: cartpole demos, a cartpole run, a driving run."""
    root = tmp_path_factory.mktemp("cli")
    (root / f"{USER_MODULE}.py").write_text(textwrap.dedent(USER_CODE))
    sys.path.insert(0, str(root))
    assert _run(["collect", "--task", "cartpole", "--episodes", 3, "--out", root / "demos", *FAST]) == 0
    assert _run(["train", "bc", "--data", root / "demos", "--out", root / "run", *TRAIN]) == 0
    assert _run(["collect", "--task", "driving", "--episodes", 2, "--max-steps", 40,
                 "--out", root / "drive-demos", *FAST]) == 0
    assert _run(["train", "bc", "--data", root / "drive-demos", "--out", root / "drive-run", "--steps", 50,
                 "--eval-episodes", 0, "--no-tensorboard"]) == 0
    yield root
    sys.path.remove(str(root))
    sys.modules.pop(USER_MODULE, None)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default run directories (runs/...) land here, not in the repo


# ----------------------------------------------------------------------------- smoke tests


def test_tasks_lists_every_task(capsys):
    assert _run(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in ("cartpole", "pendulum", "lunarlander", "lunarlander-continuous", "driving"):
        assert f"\n{name} " in out
    assert "mimetic/Driving-v0" in out


def test_help_is_generated_from_configs(capsys):
    assert _run(["train", "bc", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--steps STEPS" in out and "Total gradient steps" in out  # BCConfig field docstring
    assert "--hidden [HIDDEN ...]" in out  # MLPConfig; no values: a linear policy


def test_collect_writes_a_minari_dataset(work):
    ds = load_minari(work / "demos")
    assert ds.n_episodes == 3 and ds.n_steps == 3 * 500  # the cartpole expert balances to the horizon
    assert ds.metadata["task"] == "cartpole" and ds.metadata["expert"] == "cartpole-lqr"
    assert sorted(p.name for p in (work / "demos" / "data").iterdir()) == ["main_data.hdf5", "metadata.json"]


def test_collect_successes_only_keeps_the_successes(tmp_path, monkeypatch, capsys):
    from mimetic.envs import cartpole

    monkeypatch.setattr(cartpole, "success", lambda traj: traj.seed % 3 != 1)  # seeds 1, 4, 7... fail
    out = tmp_path / "wins"
    assert _run(["collect", "--task", "cartpole", "--episodes", 4, "--successes-only", "--max-steps", 20,
                 "--num-envs", 2, "--out", out]) == 0
    ds = load_minari(out)
    assert ds.n_episodes == 4 and ds.metadata["episodes_tried"] == 6 and ds.metadata["seeds"] == [0, 5]
    # a task without a success hook is refused before anything runs; so is one that never succeeds
    capsys.readouterr()
    assert _run(["collect", "--task", "gym:CartPole-v1", "--episodes", 2, "--successes-only",
                 "--out", tmp_path / "x"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --successes-only needs a task that defines success; "
                                               "gym:CartPole-v1 does not")
    monkeypatch.setattr(cartpole, "success", lambda traj: False)
    assert _run(["collect", "--task", "cartpole", "--episodes", 2, "--successes-only", "--max-steps", 5,
                 "--num-envs", 4, "--out", tmp_path / "none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # the progress bar, then one error line
    assert err[-1] == ("error: only 0 of 20 episodes succeeded, short of --episodes 2 after 10x as many tries; "
                       "nothing was saved") and not any("Traceback" in e for e in err)
    assert not (tmp_path / "x").exists() and not (tmp_path / "none").exists()


def test_train_bc_writes_a_complete_run(work):
    run = work / "run"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint", "config.json", "eval.json", "metrics.jsonl",
                                                   "result.json", "state", "tb"]
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == ["policy.json", "policy.safetensors"]
    assert list((run / "tb").glob("events.out.tfevents.*"))
    config = json.loads((run / "config.json").read_text())
    assert config["bc"]["steps"] == 200 and config["task"] == "cartpole"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "train/loss" in r] == [100, 200]
    assert "eval/return_mean" in records[-1]
    result = json.loads((run / "eval.json").read_text())
    assert result["episodes"] == 3 and result["imitation_error"] is not None
    assert not any(p.name.startswith(".") for p in work.iterdir())  # no temporary leftovers
    for path, mode in ((run, 0o777), (run / "config.json", 0o666), (run / "eval.json", 0o666)):
        assert path.stat().st_mode & 0o777 == mode & ~_umask(), path  # as open/mkdir make them, not private


def test_train_bc_diffusion_policy(work, tmp_path):
    assert _run(["collect", "--task", "pendulum", "--episodes", 2, "--out", tmp_path / "pd", *FAST]) == 0
    out = tmp_path / "diff"
    assert _run(["train", "bc", "--data", tmp_path / "pd", "--out", out, "--policy", "diffusion", "--steps", 30,
                 "--diffusion-hidden", 32, 32, "--diffusion-pred-horizon", 4, "--diffusion-action-horizon", 2,
                 "--eval-episodes", 2, "--no-tensorboard"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["policy"]["kind"] == "diffusion" and config["policy"]["pred_horizon"] == 4
    assert json.loads((out / "checkpoint" / "policy.json").read_text())["kind"] == "diffusion"
    assert _run(["eval", "--policy", out, "--episodes", 2, *FAST]) == 0


def test_train_bc_chunking_policy(work, tmp_path):
    assert _run(["collect", "--task", "pendulum", "--episodes", 2, "--out", tmp_path / "pd", *FAST]) == 0
    out = tmp_path / "act"
    assert _run(["train", "bc", "--data", tmp_path / "pd", "--out", out, "--policy", "chunking", "--steps", 20,
                 "--chunking-chunk-size", 4, "--chunking-d-model", 16, "--chunking-layers", 1, "--chunking-cvae",
                 "--eval-episodes", 2, "--no-tensorboard"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["policy"]["kind"] == "chunking" and config["policy"]["chunk_size"] == 4 and config["policy"]["cvae"]
    assert _run(["eval", "--policy", out, "--episodes", 2, *FAST]) == 0


def test_diffusion_policy_options_are_checked(work, capsys, tmp_path):
    argv = ["train", "bc", "--data", work / "demos", "--policy", "diffusion", "--out", tmp_path / "x"]
    assert _run([*argv, "--diffusion-action-horizon", 0]) == 2
    assert "--diffusion-action-horizon must" in _assert_one_error_line(capsys.readouterr().err)
    assert _run(argv) == 2  # cartpole has discrete actions
    assert "continuous actions" in _assert_one_error_line(capsys.readouterr().err)


def test_eval_prints_a_table_and_strict_json(work, capsys):
    assert _run(["eval", "--policy", work / "run", "--episodes", 3, *FAST]) == 0
    out = capsys.readouterr().out
    assert "expert-normalized" in out and "checkpoint" in out
    # one episode: the 95% CI is undefined and must come out as null, not NaN
    assert _run(["eval", "--policy", work / "run" / "checkpoint", "--episodes", 1, "--max-steps", 20, "--json"]) == 0
    out = capsys.readouterr().out.strip()
    assert "\n" not in out
    result = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert result["task"] == "cartpole" and result["length_mean"] == 20 and result["return_ci95"] is None


@pytest.mark.parametrize("run_name, video", [("run", "cartpole.mp4"), ("run", "clips/cartpole.gif"),
                                             ("drive-run", "driving.mp4")])
def test_eval_video(work, tmp_path, capsys, run_name, video):
    assert _run(["eval", "--policy", work / run_name, "--episodes", 2, "--max-steps", 30, "--video", video]) == 0
    assert (tmp_path / video).stat().st_size > 0
    assert (tmp_path / video).stat().st_mode & 0o777 == 0o666 & ~_umask()  # as open() makes files
    assert "(31 frames)" in capsys.readouterr().out  # the reset frame plus one per step
    assert [p.name for p in (tmp_path / video).parent.iterdir()] == [Path(video).name]  # no temp file


def test_quickstart_writes_one_run_dir(tmp_path, capsys, monkeypatch):
    from mimetic.algos import bc

    @dataclasses.dataclass(frozen=True)
    class ShortBC(bc.BCConfig):
        steps: int = 200  # quickstart has no --steps; keep the test fast

    monkeypatch.setattr(bc, "BCConfig", ShortBC)
    out = tmp_path / "qs"
    assert _run(["quickstart", "--out", out, "--episodes", 2, "--eval-episodes", 3]) == 0
    text = capsys.readouterr().out
    assert all(label in text for label in ("expert", "bc", "random"))
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint", "config.json", "data", "eval.json",
                                                     "metrics.jsonl", "result.json", "tb"]
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == ["policy.json", "policy.safetensors"]
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert load_minari(out / "data").n_episodes == 2
    assert json.loads((out / "eval.json").read_text())["normalized_score"] is not None
    assert json.loads((out / "config.json").read_text())["bc"]["steps"] == 200
    assert [p.name for p in tmp_path.iterdir()] == ["qs"]


@pytest.mark.parametrize("fn", ["cartpole", "cartpole_one"])
def test_gym_task_with_a_user_expert(work, tmp_path, capsys, fn):
    data, run = tmp_path / "demos", tmp_path / "run"
    argv = ["collect", "--task", "gym:CartPole-v1", "--expert", f"{USER_MODULE}:{fn}", "--episodes", 2,
            "--max-steps", 100, "--out", data, *FAST]
    assert _run(argv) == 0
    assert load_minari(data).metadata["task"] == "gym:CartPole-v1"
    assert _run(["train", "bc", "--data", data, "--out", run, "--expert", f"{USER_MODULE}:{fn}",
                 "--no-tensorboard", *TRAIN]) == 0
    assert json.loads((run / "eval.json").read_text())["imitation_error"] is not None
    assert "run saved to" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:.*RGB-array rendering should return a numpy array")
def test_user_registered_env_and_a_task_that_cannot_render(work, tmp_path, capsys):
    expert = ["--expert", f"{USER_MODULE}:line"]
    task = "gym:MimeticCliTestLine-v0"
    assert _run(["collect", "--task", task, *expert, "--episodes", 2, "--out", "demos"]) == 0
    assert _run(["train", "bc", "--data", "demos", "--out", "run", "--steps", 50, "--eval-episodes", 2,
                 "--no-tensorboard", *expert]) == 0
    capsys.readouterr()
    before = _tree(tmp_path)
    assert _run(["eval", "--policy", "run", "--episodes", 2, "--video", "clips/line.mp4", *expert]) == 2
    assert "cannot write --video" in _assert_one_error_line(capsys.readouterr().err)
    assert _tree(tmp_path) == before
    assert _run(["eval", "--policy", "run", "--episodes", 2, *expert]) == 0


# ----------------------------------------------------------------------------- bad input


def _corrupt(path: Path) -> None:
    (path / "data" / "main_data.hdf5").write_bytes(b"this is not an HDF5 file\n" * 10)


def _poke_nan(path: Path) -> None:
    with h5py.File(path / "data" / "main_data.hdf5", "r+") as f:
        f["episode_1/observations"][7, 2] = np.nan


# (argv with {demos}/{run}/{drive}/{out}/{copy} placeholders, a dataset edit for {copy}, expected message)
BAD = {
    "missing dataset": (["train", "bc", "--data", "{out}/nope", "--out", "{out}/r"], None, "does not exist"),
    "corrupt dataset": (["train", "bc", "--data", "{copy}", "--out", "{out}/r"], _corrupt, "not a readable HDF5"),
    "spaces mismatch": (["train", "bc", "--data", "{demos}", "--task", "pendulum", "--out", "{out}/r"], None,
                        "expects (3,)"),
    "NaN in demos": (["train", "bc", "--data", "{copy}", "--out", "{out}/r"], _poke_nan, "NaN/inf"),
    "unknown task": (["collect", "--task", "nosuch", "--out", "{out}/d"], None, "unknown task 'nosuch'"),
    "unknown train task": (["train", "bc", "--data", "{demos}", "--task", "nosuch", "--out", "{out}/r"], None,
                           "unknown task"),
    "checkpoint of another task": (["eval", "--policy", "{run}", "--task", "pendulum"], None,
                                   "is for task 'cartpole', not 'pendulum'"),
    "missing checkpoint": (["eval", "--policy", "{out}/nope"], None, "no checkpoint"),
    "not a checkpoint": (["eval", "--policy", "{demos}"], None, "no policy.json"),
    "episodes 0": (["collect", "--task", "cartpole", "--episodes", "0", "--out", "{out}/d"], None,
                   "--episodes must be >= 1"),
    "eval episodes 0": (["eval", "--policy", "{run}", "--episodes", "0"], None, "--episodes must be >= 1"),
    "steps 0": (["train", "bc", "--data", "{demos}", "--steps", "0", "--out", "{out}/r"], None,
                "--steps must be >= 1"),
    "lr -1": (["train", "bc", "--data", "{demos}", "--lr", "-1", "--out", "{out}/r"], None, "--lr must be"),
    "num-envs 0": (["collect", "--task", "cartpole", "--num-envs", "0", "--out", "{out}/d"], None,
                   "--num-envs must be >= 1"),
    "train num-envs 0": (["train", "bc", "--data", "{demos}", "--num-envs", "0", "--out", "{out}/r"], None,
                         "--num-envs must be >= 1"),
    "max-steps -5": (["collect", "--task", "cartpole", "--max-steps", "-5", "--out", "{out}/d"], None,
                     "--max-steps must be >= 1"),
    "eval max-steps -5": (["eval", "--policy", "{run}", "--max-steps", "-5"], None, "--max-steps must be >= 1"),
    "eval-episodes -1": (["train", "bc", "--data", "{demos}", "--eval-episodes", "-1", "--out", "{out}/r"], None,
                         "--eval-episodes must be >= 0"),
    "seed -1": (["collect", "--task", "cartpole", "--seed", "-1", "--out", "{out}/d"], None, "--seed must be"),
    "episodes abc": (["collect", "--task", "cartpole", "--episodes", "abc", "--out", "{out}/d"], None,
                     "invalid int value: 'abc'"),
    "unknown option": (["collect", "--task", "cartpole", "--bogus", "--out", "{out}/d"], None,
                       "unrecognized arguments: --bogus (see 'mimetic collect --help')"),
    "unknown choice": (["train", "bc", "--data", "{demos}", "--head", "nope", "--out", "{out}/r"], None,
                       "argument --head: invalid choice: 'nope'"),
    "missing required": (["collect", "--task", "cartpole"], None, "collect needs --task and --out"),
    "video avi": (["eval", "--policy", "{run}", "--video", "{out}/v.avi"], None, "--video must end in .mp4 or .gif"),
    "loss does not fit head": (["train", "bc", "--data", "{demos}", "--loss", "mse", "--out", "{out}/a/b/r"], None,
                               "loss 'mse' needs a policy with a deterministic head"),
    "collect onto a dataset": (["collect", "--task", "cartpole", "--episodes", "1", "--out", "{copy}"], None,
                               "already exists and is not empty; pass --overwrite"),
    "overwrite a plain folder": (["collect", "--task", "cartpole", "--episodes", "1", "--out", "{out}/folder",
                                  "--overwrite"], None, "refusing to overwrite"),
    "train onto a run": (["train", "bc", "--data", "{demos}", "--out", "{copy}"], None,
                         "already exists and is not empty"),
    "expert module missing": (["collect", "--task", "gym:CartPole-v1", "--expert", "no_such_module_xyz:act",
                               "--out", "{out}/d"], None, "cannot load expert 'no_such_module_xyz:act'"),
    "expert function missing": (["collect", "--task", "gym:CartPole-v1", "--expert", f"{USER_MODULE}:nope",
                                 "--out", "{out}/d"], None, "has no attribute 'nope'"),
    "expert not module:function": (["collect", "--task", "gym:CartPole-v1", "--expert", "justamodule",
                                    "--out", "{out}/d"], None, "--expert must be 'module:function'"),
    "expert wrong shape": (["collect", "--task", "gym:CartPole-v1", "--expert", f"{USER_MODULE}:wrong_shape",
                            "--out", "{out}/d"], None, "must return one integer per observation"),
    "expert out of range": (["collect", "--task", "cartpole", "--expert", f"{USER_MODULE}:out_of_range",
                             "--out", "{out}/d"], None, "outside [0, 2)"),
    "expert NaN": (["collect", "--task", "pendulum", "--expert", f"{USER_MODULE}:nan_torque",
                    "--out", "{out}/d"], None, "NaN/inf action values on call 1"),
    "no expert for gym task": (["collect", "--task", "gym:Acrobot-v1", "--out", "{out}/d"], None,
                               "pass --expert module:function"),
    "no such gym env": (["collect", "--task", "gym:NoSuchEnv-v0", "--out", "{out}/d"], None,
                        "unknown task 'gym:NoSuchEnv-v0'"),
    "quickstart without expert": (["quickstart", "--task", "gym:Acrobot-v1", "--out", "{out}/q"], None,
                                  "built-in expert"),
    "quickstart onto a run": (["quickstart", "--out", "{copy}"], None, "already exists and is not empty"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_error_line(work, tmp_path, capsys, case):
    argv, edit, expected = BAD[case]
    copy = tmp_path / "copy"
    shutil.copytree(work / "demos", copy)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "notes.txt").write_text("my own files\n")
    if edit is not None:
        edit(copy)
    paths = {"demos": work / "demos", "run": work / "run", "out": tmp_path, "copy": copy}
    shared = _tree(work)
    before = _tree(tmp_path)
    rc = _run([a.format(**paths) for a in argv])
    out, err = capsys.readouterr()
    line = _assert_one_error_line(err)
    assert rc == 2, err
    if expected is not None:
        assert expected in line
    assert _tree(tmp_path) == before  # nothing new, nothing half-written, nothing replaced
    assert _tree(work) == shared


def test_bad_input_from_the_real_entry_point(tmp_path):
    """The installed console script (or python -m mimetic.cli): no traceback, exit code 2."""
    script = Path(sys.executable).with_name("mimetic")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "mimetic.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*cmd, "train", "bc", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"error: no Minari dataset at {tmp_path / 'missing'}: the path does not exist"]
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


def test_console_script_imports_experts_from_the_current_directory(tmp_path):
    """`mimetic collect --expert mod:fn` finds mod.py in the working directory, as `python -m` would."""
    script = Path(sys.executable).with_name("mimetic")
    if not script.exists():
        pytest.skip("no mimetic console script next to this interpreter")
    (tmp_path / "my_cwd_expert.py").write_text(textwrap.dedent(USER_CODE))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(script), "collect", "--task", "gym:CartPole-v1", "--expert", "my_cwd_expert:cartpole",
                           "--episodes", "1", "--max-steps", "20", "--out", "demos"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert load_minari(tmp_path / "demos").n_steps == 20


# ----------------------------------------------------------------------------- docs stay true


def _bc_options_table(title: str) -> str:
    """The markdown table docs/bc.md shows for one option group of `mimetic train bc --help`."""
    import argparse

    from mimetic.cli import build_parser

    def sub(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]

    group = next(g for g in sub(sub(build_parser(), "train"), "bc")._action_groups if g.title == title)
    rows = ["| option | default | what it does |", "|---|---|---|"]
    for a in group._group_actions:
        default = " ".join(map(str, a.default)) if isinstance(a.default, tuple) else str(a.default)
        rows.append(f"| `{a.option_strings[0]}` | `{default}` | {(a.help or '').rsplit(' (default: ', 1)[0]} |")
    return "\n".join(rows)


@pytest.mark.parametrize(("title", "page"), [("behavioral cloning", "bc.md"), ("policy network", "bc.md"),
                                             ("image encoder (camera observations)", "cameras.md")])
def test_docs_option_tables_match_the_cli(title, page):
    doc = (Path(__file__).parents[1] / "docs" / page).read_text()
    start = doc.index(f"<!-- generated: {title} -->\n") + len(f"<!-- generated: {title} -->\n")
    shown = doc[start:doc.index("\n<!-- end generated -->", start)]
    expected = _bc_options_table(title)
    assert shown == expected, f"docs/{page} is out of date; replace the '{title}' table with:\n{expected}"


def test_bad_thread_setting_is_one_error_line(monkeypatch, capsys):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("MIMETIC_THREADS", "zero")
    assert _run(["tasks"]) == 2
    assert _assert_one_error_line(capsys.readouterr().err).startswith("error: MIMETIC_THREADS")
    torch.set_num_threads(before)
