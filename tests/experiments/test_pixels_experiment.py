"""The pixels experiment: the same demonstrations seen as state and through a camera."""

import json

import pytest

from mimetic.errors import ConfigError
from mimetic.experiments import pixels
from mimetic.experiments.pixels import PixelsConfig, run_pixels

TINY = PixelsConfig(tasks=("multimodal",), seeds=(0,), multimodal_demos=4, bc_steps=3, batch_size=16,
                    hidden=(16,), diffusion_hidden=(16,), features=8, eval_episodes=3)


def test_tiny_run_compares_both_observations_on_equal_demos(tmp_path):
    out = tmp_path / "pixels"
    result = run_pixels(TINY, out_dir=out)
    assert sorted(p.name for p in out.iterdir()) == ["pixels.json", "pixels.md", "pixels.png"]
    data = json.loads((out / "pixels.json").read_text())
    assert [(r["task"], r["method"]) for r in data["table"]] == [("multimodal", "bc"), ("multimodal", "diffusion")]
    rows = {(r.method, r.obs): r for r in result.rows}
    assert set(rows) == {(m, o) for m in ("bc", "diffusion") for o in ("state", "pixels")}
    # one recording serves both observations: the same episodes, step for step
    assert len({r.demo_steps for r in result.rows}) == 1
    for s in result.table:
        assert s.gap == pytest.approx(s.state_success - s.pixels_success)
        assert data["within_target"][f"multimodal/{s.method}"] == (s.gap <= pixels.TARGET_GAP)
    assert (out / "pixels.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "pixels.md").read_text() == pixels.markdown(result)


@pytest.mark.parametrize("options", [{"tasks": ("cartpole",)}, {"methods": ("act",)}, {"seeds": ()},
                                     {"bc_steps": 0}, {"encoder": "vit"}, {"lr": 0.0}])
def test_bad_config_raises_one_line_config_error(options):
    with pytest.raises(ConfigError) as info:
        PixelsConfig(**options)
    assert "\n" not in str(info.value)
