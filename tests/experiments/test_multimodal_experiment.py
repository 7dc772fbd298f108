"""The multimodal experiment: every method trained and evaluated, start-action samples, outputs, the CLI."""

import json

import numpy as np
import pytest

from mimetic.cli import main
from mimetic.errors import ConfigError
from mimetic.experiments import multimodal
from mimetic.experiments.multimodal import (
    METHODS,
    MultimodalConfig,
    markdown,
    run_multimodal,
)

# Tiny but complete: 6 demonstrations, one seed, 60 BC steps, small networks, 6 evaluation episodes.
TINY = MultimodalConfig(seeds=(0,), demos=6, bc_steps=60, eval_episodes=6, samples=40, hidden=(16,),
                        diffusion_hidden=(16,), diffusion_inference_steps=2, act_backbone="mlp", act_hidden=(16,),
                        act_cvae=True, act_chunk_size=4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("mm") / "multimodal"
    return run_multimodal(TINY, out_dir=out), out


def test_tiny_run_writes_json_table_and_plot(tiny):
    _, out = tiny
    assert sorted(p.name for p in out.iterdir()) == ["multimodal.json", "multimodal.md", "multimodal.png"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
    data = json.loads((out / "multimodal.json").read_text())
    assert {"experiment", "config", "expert_success", "targets", "summary", "cells", "wall_s"} <= set(data)
    assert data["experiment"] == "multimodal" and data["expert_success"] == 1.0
    assert [c["method"] for c in data["cells"]] == list(METHODS) == [s["method"] for s in data["summary"]]
    assert set(data["targets"]) == {"mse", "diffusion"}
    assert len(data["demo_start_actions"]) == 6
    md = (out / "multimodal.md").read_text()
    assert "| method | seed 0 | mean ± sd |" in md and "| MSE-BC | " in md and "Targets (issue 5)" in md
    assert (out / "multimodal.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cells_count_every_episode_and_sample(tiny):
    result, _ = tiny
    for cell in result.cells:
        assert cell.crash_rate + cell.timeout_rate + cell.success_rate == pytest.approx(1.0)
        assert len(cell.episodes) == 6 and cell.train_s > 0
        assert cell.transitions > 6 * 20  # the expert needs about 27 steps an episode
        for ep in cell.episodes:  # every path starts on the centreline and is recorded to its end
            assert ep.path[0][0] == 0.0 and len(ep.path) >= 2
            assert ep.outcome != "timeout" or len(ep.path) == 61
        start = cell.start
        assert start is not None
        samples = np.array(start.samples)
        assert np.all(np.abs(samples) <= 1.0) and np.all(np.abs(start.acted) <= 1.0)
        if cell.method in ("mixture", "diffusion"):
            assert samples.shape == (40, 2) and samples.std(axis=0).max() > 1e-3  # a distribution
        else:  # deterministic: one output
            assert samples.shape in ((40, 2), (1, 2)) and np.allclose(samples, start.acted, atol=1e-4)
        assert bool(start.prior_samples) == (cell.method == "act")  # TINY's ACT is a CVAE


def test_demonstration_start_actions_show_both_modes(tiny):
    result, _ = tiny
    x = np.array(result.demo_start_actions)[:, 0]
    # the expert heads for a waypoint beside the obstacle: every first action is far left or far right
    assert np.all(np.abs(x) > 0.5)


def test_mse_averages_the_modes_while_the_mixture_samples_both():
    # 20 demonstrations, 300 steps (about 0.5 s): already the picture at the start state
    config = MultimodalConfig(methods=("mse", "mixture"), seeds=(0,), demos=20, bc_steps=300, hidden=(64, 64),
                              eval_episodes=10, samples=200)
    mse, mix = run_multimodal(config).cells
    assert mse.start is not None and mix.start is not None
    assert abs(mse.start.acted[0]) < 0.4  # between the expert's modes at x = +-0.7
    assert np.abs(np.array(mix.start.samples)[:, 0]).mean() > 0.6  # on the modes
    left = np.mean(np.array(mix.start.samples)[:, 0] < 0)
    assert 0.2 < left < 0.8  # both sides (the demonstrations: 40% left)
    assert mse.success_rate <= 0.2 and mse.crash_rate >= 0.8  # into the obstacle


def test_second_seed_keeps_no_plot_data():
    config = MultimodalConfig(methods=("mse",), seeds=(3, 4), demos=2, bc_steps=5, eval_episodes=2, samples=3,
                              hidden=(4,))
    result = run_multimodal(config)
    first, second = result.cells
    assert first.seed == 3 and first.episodes and first.start is not None
    assert second.seed == 4 and second.episodes == () and second.start is None
    (s,) = result.summary
    assert s.success_rate == pytest.approx((first.success_rate + second.success_rate) / 2)
    assert "seed 3 | seed 4" in markdown(result) and "diffusion success" not in markdown(result)


@pytest.mark.parametrize("options", [
    {"methods": ()},
    {"methods": ("mse", "mse")},
    {"methods": ("gail",)},
    {"seeds": ()},
    {"seeds": (-1,)},
    {"demos": 0},
    {"bc_steps": 0},
    {"eval_episodes": 0},
    {"samples": 0},
    {"lr": 0.0},
    {"diffusion_lr": -1.0},
    {"hidden": (0,)},
    {"mixture_components": 0},
    {"diffusion_inference_steps": 0},
    {"act_chunk_size": 0},
    {"act_d_model": 6},
    {"act_layers": 0},
])
def test_bad_config_raises_one_line_config_error(options):
    with pytest.raises(ConfigError) as info:
        MultimodalConfig(**options)
    assert "\n" not in str(info.value)


def test_non_empty_out_dir_fails_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "old.txt").write_text("x")
    monkeypatch.setattr(multimodal, "run_cell", lambda *a, **k: pytest.fail("trained despite a bad out_dir"))
    with pytest.raises(ConfigError, match="not empty"):
        run_multimodal(TINY, out_dir=tmp_path)


def _cli(argv: list) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return int(e.code or 0)


def test_cli_experiment_multimodal_writes_outputs(tmp_path, capsys):
    out = tmp_path / "mm"
    argv = ["experiment", "multimodal", "--methods", "mse", "mixture", "--seeds", "0", "--demos", "4",
            "--bc-steps", "10", "--eval-episodes", "3", "--samples", "5", "--hidden", "8", "--out", out]
    assert _cli(argv) == 0
    stdout = capsys.readouterr().out
    assert "| MSE-BC | " in stdout and "| mixture (MDN) | " in stdout and "written to" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["multimodal.json", "multimodal.md", "multimodal.png"]


def test_cli_experiment_multimodal_bad_input_is_one_error_line(tmp_path, capsys):
    assert _cli(["experiment", "multimodal", "--demos", "0", "--out", tmp_path / "mm"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().count("\n") == 0 and err.startswith("error: --demos")
    assert not (tmp_path / "mm").exists()


@pytest.mark.slow
def test_headline_mse_bc_averages_the_modes_into_the_obstacle_and_diffusion_gets_round():
    """README "Policies": MSE-BC succeeds 1% of the time, diffusion 95% (the full run: 4 methods,
    seeds 0-2, 100 evaluation episodes each, about 4 minutes; per seed MSE-BC 0.03 / 0.00 / 0.00,
    diffusion 0.94 / 0.96 / 0.95). Here MSE-BC and diffusion alone, at the full run's settings and
    seeds (each method's cell does not depend on the others, so these are the full run's cells).
    Measured on seeds 0-4: MSE-BC 0.03, 0, 0, 0, 0 (crashes 0.97-1.00), diffusion 0.94, 0.96,
    0.95, 0.93, 0.95."""
    result = run_multimodal(MultimodalConfig(methods=("mse", "diffusion")))
    assert result.expert_success == 1.0
    cells = {(c.method, c.seed): c for c in result.cells}
    assert sorted(cells) == [(m, s) for m in ("diffusion", "mse") for s in (0, 1, 2)]
    for seed in (0, 1, 2):
        mse, diffusion = cells["mse", seed], cells["diffusion", seed]
        assert mse.success_rate <= 0.1 and mse.crash_rate >= 0.85  # the averaged action hits the obstacle
        assert diffusion.success_rate >= 0.85
    summary = {s.method: s for s in result.summary}
    assert summary["mse"].success_rate <= 0.05 and summary["diffusion"].success_rate >= 0.9
