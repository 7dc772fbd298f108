"""The locomotion benchmark: its statistics (IQM, stratified bootstrap) by hand, and a tiny run of
every algorithm on hopper through the API and the CLI (the mujoco extra, which CI installs)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mimetic.errors import ConfigError
from mimetic.experiments.locomotion import LocomotionConfig, iqm, run_locomotion, stratified_bootstrap


def test_iqm_is_the_mean_of_the_middle_half():
    # 8 values: the middle half is the 3rd..6th smallest
    x = np.array([100.0, -50.0, 1.0, 2.0, 3.0, 4.0, 0.0, 5.0])
    assert iqm(x) == pytest.approx((1 + 2 + 3 + 4) / 4)
    assert iqm(np.array([7.0])) == 7.0


def test_stratified_bootstrap_resamples_within_tasks():
    # task a's seeds all score 0, task b's all 1: any resample keeps one of each -> mean always 0.5
    lo, hi = stratified_bootstrap([np.zeros(3), np.ones(3)], np.mean, reps=200)
    assert lo == hi == 0.5
    lo, hi = stratified_bootstrap([np.array([0.0, 1.0, 2.0, 3.0])], np.mean, reps=2000)
    assert 0.0 < lo < 1.5 < hi < 3.0


@pytest.mark.parametrize("options", [{"tasks": ("pendulum",)}, {"algos": ("bc", "bc")}, {"algos": ("ppo",)},
                                     {"seeds": 0}, {"eval_every": -1}, {"first_seed": -1},
                                     {"adv_bc_steps": -1}])
def test_bad_config_is_one_line(options):
    with pytest.raises(ConfigError):
        LocomotionConfig(**options)


def test_comma_separated_names():
    c = LocomotionConfig(tasks=("hopper,halfcheetah",), algos=("bc,dagger", "gail"))
    assert c.tasks == ("hopper", "halfcheetah") and c.algos == ("bc", "dagger", "gail")


pytest.importorskip("mujoco")

TINY = LocomotionConfig(tasks=("hopper",), seeds=2, demos=1, eval_episodes=2, bc_steps=60, hidden=(16,),
                        dagger_rounds=1, dagger_episodes=1, dagger_fit_steps=20, adv_steps=2048, eval_every=2048,
                        bootstrap=50)


def test_tiny_run_of_every_algorithm(tmp_path):
    res = run_locomotion(TINY, out_dir=tmp_path / "out")
    assert {(c.algo, c.seed) for c in res.cells} == {(a, s) for a in ("bc", "dagger", "gail", "airl") for s in (0, 1)}
    ref = res.references[0]
    assert ref.expert_return > 2000 > ref.random_return
    for c in res.cells:
        want = (c.return_mean - ref.random_return) / (ref.expert_return - ref.random_return)
        assert c.score == pytest.approx(want)
        assert c.demo_transitions == 1000  # one full expert episode
    by = {c.algo: [x for x in res.cells if x.algo == c.algo] for c in res.cells}
    assert all(c.env_steps == 0 for c in by["bc"])
    assert all(c.expert_labels > c.demo_transitions and c.env_steps == c.expert_labels - 1000 for c in by["dagger"])
    assert all(c.env_steps == 2048 and c.curve and c.expert_labels == 1000 for c in by["gail"] + by["airl"])
    for a in res.aggregates:
        scores = [c.score for c in by[a.algo]]
        assert a.mean == pytest.approx(np.mean(scores)) and a.iqm == pytest.approx(iqm(np.array(scores)))
        assert a.mean_ci[0] <= a.mean <= a.mean_ci[1]
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["locomotion.json", "locomotion.md", "locomotion.png"]
    saved = json.loads((tmp_path / "out" / "locomotion.json").read_text())
    assert saved["published"]["per_task"]["hopper"]["dagger"] == 1.011
    md = (tmp_path / "out" / "locomotion.md").read_text()
    assert "| DAgger |" in md and "[1.011]" in md


def test_cli_benchmark_locomotion(tmp_path, capsys):
    from mimetic.cli import main

    out = tmp_path / "b"
    argv = ["benchmark", "locomotion", "--tasks", "hopper", "--algos", "bc", "--seeds", "1", "--demos", "1",
            "--eval-episodes", "2", "--bc-steps", "30", "--hidden", "16", "--bootstrap", "20", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "# Locomotion benchmark: BC" in text and (out / "locomotion.png").is_file()
    assert main(["benchmark", "locomotion", "--tasks", "pendulum", "--out", str(tmp_path / "c")]) == 2
    assert "tasks must be distinct names among halfcheetah" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_first_seed_and_warm_start_reach_the_runs(tmp_path, monkeypatch):
    from mimetic.algos import adversarial

    seen = []
    real = adversarial.fit

    def spy(task, demos, config, ppo_config, **kw):
        seen.append((config.method, config.bc_steps, ppo_config.init_log_std, ppo_config.seed, config.disc_lr,
                     config.disc_steps, config.grad_penalty, config.reward))
        return real(task, demos, config, ppo_config, **kw)

    monkeypatch.setattr(adversarial, "fit", spy)
    config = dataclasses.replace(TINY, algos=("gail",), seeds=1, first_seed=3, adv_bc_steps=10, adv_log_std=-1.0,
                                 adv_disc_lr=3e-4, adv_disc_steps=2, adv_grad_penalty=10.0, gail_reward="positive")
    res = run_locomotion(config, out_dir=tmp_path / "out")
    assert [c.seed for c in res.cells] == [3]
    assert seen == [("gail", 10, -1.0, 3, 3e-4, 2, 10.0, "positive")]
    md = (tmp_path / "out" / "locomotion.md").read_text()
    assert "seeds 3-3" in md and "warm-started by 10 BC steps" in md and "initial action log-std -1" in md
    assert "discriminator lr 0.0003, discriminator steps 2, gradient penalty 10, GAIL positive reward" in md


def test_airl_takes_the_shaped_reward_and_gail_the_logit_by_default():
    config = LocomotionConfig()
    assert config.discriminator("airl").reward == "shaped" and config.discriminator("gail").reward == "logit"
    assert dataclasses.replace(config, airl_reward="logit").discriminator("airl").reward == "logit"


def test_bad_discriminator_options_are_one_line(capsys):
    from mimetic.cli.main import main

    assert main(["benchmark", "locomotion", "--adv-disc-lr", "0", "--out", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: adv_*: disc_lr must be > 0, got 0.0"]
