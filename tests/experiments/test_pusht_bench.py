"""``mimetic benchmark pusht`` at a tiny budget: demonstrations, keypoint observations computed from
states, checkpoints, the paper's two numbers, outputs; and its config errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("gym_pusht")

from mimetic.cli import main  # noqa: E402
from mimetic.envs import make_task  # noqa: E402
from mimetic.envs.pusht import keypoint_observations  # noqa: E402
from mimetic.errors import ConfigError  # noqa: E402
from mimetic.experiments.pusht import PushTConfig  # noqa: E402


def test_keypoint_observations_are_gym_pushts_own():
    state = make_task("pusht", num_envs=3).reset(seeds=np.arange(3))
    keys = make_task("pusht-keypoints", num_envs=3).reset(seeds=np.arange(3))
    np.testing.assert_allclose(keypoint_observations(state), keys, atol=1e-3)


def test_benchmark_pusht_runs_and_writes_the_table(tmp_path):
    out = tmp_path / "bench"
    assert main(["benchmark", "pusht", "--policies", "mse", "--obs", "state", "keypoints", "--seeds", "1",
                 "--demos", "2", "--train-steps", "20", "--checkpoint-every", "10", "--last", "2",
                 "--eval-episodes", "2", "--batch-size", "32", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["pusht.json", "pusht.md", "pusht.png"]
    result = json.loads((out / "pusht.json").read_text())
    assert result["demo_episodes"] == 2 and result["demo_success"] == 1.0
    cells = result["cells"]
    assert [(c["policy"], c["obs"]) for c in cells] == [("mse", "state"), ("mse", "keypoints")]
    for c in cells:
        scores = [p["score"] for p in c["checkpoints"]]
        assert [p["step"] for p in c["checkpoints"]] == [10, 20] and all(0.0 <= s <= 1.0 for s in scores)
        assert c["best"] == max(scores) and c["last_mean"] == pytest.approx(np.mean(scores))
    md = (out / "pusht.md").read_text()
    assert "| MSE-BC | keypoints |" in md and "DP-CNN (diffusion, U-Net) | 0.95 | 0.91" in md


@pytest.mark.parametrize("bad", [dict(policies=("bet",)), dict(obs=("pixels",)), dict(train_steps=10,
                                 checkpoint_every=20), dict(seeds=0), dict(ema=1.0)])
def test_bad_config(bad):
    with pytest.raises(ConfigError):
        PushTConfig(**bad)


def test_every_fit_averages_its_weights_with_the_configured_ema(monkeypatch):
    from mimetic.experiments import pusht as bench

    seen = []

    def fake_fit(policy, data, config, callback=None):
        seen.append(config.ema)
        raise RuntimeError("stop here")

    monkeypatch.setattr(bench.bc, "fit", fake_fit)
    for ema in (0.0, 0.99):
        config = PushTConfig(policies=("mse",), obs=("state",), ema=ema, train_steps=10, checkpoint_every=10)
        with pytest.raises(RuntimeError, match="stop here"):
            bench.run_cell(config, "mse", "state", None, 0)
    assert seen == [0.0, 0.99]
