"""The demos experiment: every cell trained and evaluated, the summary, all-or-nothing outputs, the CLI."""

import json
import math

import numpy as np
import pytest
from cells_helpers import assert_resumable_after_failure, resume

from mimetic.cli import main
from mimetic.errors import ConfigError
from mimetic.experiments import demos
from mimetic.experiments.demos import DemosConfig, markdown, run_demos

# Tiny but complete: 100-step pendulum episodes, two demonstration sets, one seed, two GAIL iterations
# of 8 envs x 64 steps (evaluated after each), a few BC steps (gail-bc: in the CLI test).
TINY = DemosConfig(task="pendulum", methods=("bc", "gail"), episodes=(1, 2), seeds=(0,), max_steps=100,
                   gail_steps=1024, num_envs=8, eval_every=512, bc_steps=30, hidden=(8,), eval_episodes=2)


def test_tiny_run_writes_json_table_and_plot(tmp_path):
    out = tmp_path / "demos"
    result = run_demos(TINY, out_dir=out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["demos.json", "demos.md", "demos.png"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    data = json.loads((out / "demos.json").read_text())
    assert {"experiment", "task", "headline", "config", "reference", "summary", "cells", "wall_s"} <= set(data)
    assert data["experiment"] == "demos" and data["task"] == "pendulum" and data["headline"] == "score"
    methods = ("bc", "gail")
    assert [(c["method"], c["episodes"]) for c in data["cells"]] == [(m, n) for n in (1, 2) for m in methods]
    assert [(s["method"], s["episodes"]) for s in data["summary"]] == [(m, n) for m in methods for n in (1, 2)]
    for cell in result.cells:
        assert cell.transitions == 100 * cell.episodes  # pendulum never terminates early
        assert math.isfinite(cell.score) and math.isfinite(cell.return_mean) and cell.train_s > 0
        if cell.method == "bc":
            assert cell.env_steps == 0 and cell.curve == ()
        else:  # two iterations of 512 steps, each evaluated; the last is the final policy's
            assert cell.env_steps == 1024 and [p.env_steps for p in cell.curve] == [512, 1024]
            assert cell.curve[-1].score == cell.score
    ref = result.reference
    assert ref.expert_return > ref.random_return
    assert data["reference"]["expert_return"] == pytest.approx(ref.expert_return)
    md = (out / "demos.md").read_text()
    assert "| demos | transitions | BC | GAIL |" in md and "| 2 | 200 | " in md
    assert (out / "demos.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_driving_is_judged_by_cost():
    config = DemosConfig(task="driving", methods=("bc",), episodes=(1,), seeds=(0,), max_steps=50, bc_steps=20,
                         hidden=(8,), eval_episodes=2)
    result = run_demos(config)
    (cell,) = result.cells
    assert cell.transitions == 50 and cell.cost_mean > 0 and result.reference.expert_cost > 0
    assert cell.reached == (cell.cost_mean <= 1.5 * result.reference.expert_cost)
    assert "cost per episode" in markdown(result)


@pytest.mark.parametrize("options", [
    {"task": "cartpole"},
    {"methods": ()},
    {"methods": ("bc", "bc")},
    {"methods": ("dagger",)},
    {"episodes": ()},
    {"episodes": (0, 1)},
    {"episodes": (2, 2)},
    {"seeds": (-1,)},
    {"gail_steps": 0},
    {"bc_steps": 0},
    {"eval_episodes": 0},
    {"eval_every": -1},
    {"max_steps": 0},
    {"gamma": 0.0},
    {"target": 0.0},
    {"cost_target": 0.5},
    {"hidden": (0,)},
])
def test_bad_config_raises_one_line_config_error(options):
    with pytest.raises(ConfigError) as info:
        DemosConfig(**options)
    assert "\n" not in str(info.value)


def test_non_empty_out_dir_fails_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "old.txt").write_text("x")
    monkeypatch.setattr(demos, "run_cell", lambda *a, **k: pytest.fail("trained despite a bad out_dir"))
    with pytest.raises(ConfigError, match="not empty"):
        run_demos(TINY, out_dir=tmp_path)


def test_failure_while_plotting_keeps_the_cells_and_resumes(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(demos, "plot_png", boom)
    config = DemosConfig(task="pendulum", methods=("bc",), episodes=(1,), seeds=(0,), max_steps=50, bc_steps=10,
                         hidden=(8,), eval_episodes=2)
    out = tmp_path / "nested" / "demos"
    with pytest.raises(RuntimeError, match="boom"):
        run_demos(config, out_dir=out)
    assert_resumable_after_failure(tmp_path, out, demos.FILES, cells_done=1)
    monkeypatch.undo()
    resume(run_demos, config, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(demos.FILES)


def _cli(argv: list) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return int(e.code or 0)


def test_cli_experiment_demos_writes_outputs(tmp_path, capsys):
    out = tmp_path / "dem"
    argv = ["experiment", "demos", "--task", "pendulum", "--methods", "gail-bc", "--episodes", "1", "--seeds",
            "0", "--max-steps", "50", "--gail-steps", "512", "--num-envs", "8", "--eval-every", "0", "--bc-steps",
            "20", "--hidden", "8", "--eval-episodes", "2", "--out", out]
    assert _cli(argv) == 0
    assert "| 1 | 50 | " in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["demos.json", "demos.md", "demos.png"]
    (cell,) = json.loads((out / "demos.json").read_text())["cells"]
    assert cell["method"] == "gail-bc" and cell["env_steps"] == 512 and len(cell["curve"]) == 1


def test_cli_experiment_demos_bad_input_is_one_error_line(tmp_path, capsys):
    assert _cli(["experiment", "demos", "--episodes", "0", "4", "--out", tmp_path / "dem"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().count("\n") == 0 and err.startswith("error: --episodes")
    assert not (tmp_path / "dem").exists()


@pytest.mark.slow
def test_headline_gail_reaches_the_expert_from_one_driving_episode_where_bc_does_not():
    """README "Experiments": from a single demonstration GAIL's final policy is at the expert level
    (cost at most 1.5x the expert's) on driving on all 3 seeds. The full run (BC, GAIL and GAIL +
    BC on 1-16 episodes, about 6 minutes) table: GAIL 3.18 ± 0.31 against the expert's 3.60, BC
    212 ± 226 (1 of 3 seeds at the expert level). Here BC and GAIL on one episode only, the full
    run's settings and seeds. Measured with this code on seeds 0-4: GAIL 2.91, 2.83, 3.25, 2.42,
    2.82 with no crash, first at the expert level after 60-100k of its 200k steps; BC 525, 106,
    4.2, 283, 302 (only seed 2 at the expert level). (BC's cells are the table's to the digit;
    GAIL's are not, so GAIL's numbers have changed since the table was made.)"""
    result = run_demos(DemosConfig(task="driving", methods=("bc", "gail"), episodes=(1,)))
    expert = result.reference.expert_cost
    assert 3.0 < expert < 4.0
    cells = {(c.method, c.seed): c for c in result.cells}
    assert sorted(cells) == [(m, s) for m in ("bc", "gail") for s in (0, 1, 2)]
    for seed in (0, 1, 2):
        gail = cells["gail", seed]
        assert gail.transitions == 400 and gail.reached and gail.cost_mean <= 1.5 * expert
        assert gail.success_rate == 1.0 and gail.steps_to_target is not None
    assert sum(cells["bc", s].reached for s in (0, 1, 2)) <= 1
    assert np.mean([cells["bc", s].cost_mean for s in (0, 1, 2)]) > 10 * expert
