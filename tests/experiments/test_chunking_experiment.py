"""The chunking experiment: one fit per (k, seed), three execution modes each, all-or-nothing outputs."""

import json
import math

import pytest
from cells_helpers import assert_resumable_after_failure, resume

from mimetic import runs
from mimetic.errors import ConfigError
from mimetic.experiments import chunking
from mimetic.experiments.chunking import ChunkingExperimentConfig, run_chunking

# Tiny but complete: two chunk sizes, one seed, short episodes, a few gradient steps.
TINY = ChunkingExperimentConfig(chunk_sizes=(4, 1), seeds=(0,), horizon=40, demos=2, hidden=(16,), bc_steps=30,
                                batch_size=64, eval_episodes=4)


def test_tiny_run_writes_table_plot_and_every_execution_mode(tmp_path):
    out = tmp_path / "chunking"
    result = run_chunking(TINY, out_dir=out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["chunking.json", "chunking.md", "chunking.png"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    data = json.loads((out / "chunking.json").read_text())
    assert data["config"]["chunk_sizes"] == [1, 4] and data["expert"]["success"] == 1.0
    assert [(r["chunk_size"], r["execution"]) for r in data["table"]] == [
        (k, e) for k in (1, 4) for e in ("chunk", "ensemble", "first")]
    assert len(data["rows"]) == 6 and all(math.isfinite(r["cost_mean"]) and r["cost_mean"] > 0 for r in data["rows"])
    by = {(r.chunk_size, r.execution): r for r in result.rows}
    # k = 1: one prediction per step every way, so every mode acts identically
    assert by[(1, "chunk")].cost_mean == pytest.approx(by[(1, "ensemble")].cost_mean)
    assert by[(1, "chunk")].cost_mean == pytest.approx(by[(1, "first")].cost_mean)
    assert by[(4, "chunk")].train_s == by[(4, "ensemble")].train_s == by[(4, "first")].train_s  # one fit
    assert TINY.policy_config(4, "first").query_every == 1 and TINY.policy_config(4, "ensemble").temporal_ensemble
    assert (out / "chunking.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "chunking.md").read_text()
    assert md == chunking.markdown(result) and "| 4 |" in md and "Lowest mean cost" in md


@pytest.mark.parametrize("options", [
    {"chunk_sizes": ()},
    {"chunk_sizes": (2, 2)},
    {"chunk_sizes": (0, 2)},
    {"chunk_sizes": (8,), "horizon": 4},
    {"seeds": ()},
    {"seeds": (-1,)},
    {"demos": 0},
    {"bc_steps": 0},
    {"eval_episodes": 0},
    {"hidden": (0,)},
    {"backbone": "gru"},
    {"ensemble_decay": float("nan")},
])
def test_bad_config_raises_one_line_config_error(options):
    with pytest.raises(ConfigError) as info:
        ChunkingExperimentConfig(**options)
    assert "\n" not in str(info.value)


def test_non_empty_out_dir_fails_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "old.txt").write_text("x")
    monkeypatch.setattr(chunking, "_rows", lambda *a, **k: pytest.fail("trained despite a bad out_dir"))
    with pytest.raises(ConfigError, match="not empty"):
        run_chunking(TINY, out_dir=tmp_path)


@pytest.mark.parametrize("where", ["training", "plotting", "renaming"])
def test_failure_mid_run_keeps_finished_cells_and_resumes(tmp_path, monkeypatch, where):
    calls = []

    def boom(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("boom")

    if where == "training":  # the second chunk size fails after the first finished
        real = chunking._rows
        monkeypatch.setattr(chunking, "_rows", lambda c, k, *a: boom() if k == 4 else real(c, k, *a))
    elif where == "plotting":
        monkeypatch.setattr(chunking, "plot_png", boom)
    else:
        monkeypatch.setattr(runs.os, "replace", boom)
    out = tmp_path / "nested" / "chunking"
    with pytest.raises(RuntimeError, match="boom"):
        run_chunking(TINY, out_dir=out)
    cells = None if where != "training" else sum(k < 4 for k in TINY.chunk_sizes) * len(TINY.seeds)
    assert calls
    if where == "renaming":  # the first write (experiment.json) already fails: no trace at all
        assert list(tmp_path.iterdir()) == []
        return
    assert_resumable_after_failure(tmp_path, out, chunking.FILES, cells_done=cells)
    monkeypatch.undo()
    result = resume(run_chunking, TINY, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(chunking.FILES)
    assert len(result.rows) == len(TINY.chunk_sizes) * len(TINY.seeds) * len(chunking.EXECUTIONS)


def test_cli_runs_the_experiment_and_rejects_bad_input(tmp_path, capsys):
    from mimetic.cli import main

    out = tmp_path / "chunk"
    assert main(["experiment", "chunking", "--chunk-sizes", "1", "2", "--seeds", "0", "--horizon", "30",
                 "--demos", "1", "--bc-steps", "10", "--eval-episodes", "2", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["chunking.json", "chunking.md", "chunking.png"]
    assert "written to" in capsys.readouterr().out
    assert main(["experiment", "chunking", "--chunk-sizes", "0", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and not (tmp_path / "bad").exists()
