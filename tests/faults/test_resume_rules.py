"""What a resume keeps and refuses: a changed option, a gym task's --expert, best/ across a kill."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from faultkit import Command, Reference, Runner, kill_and_resume, leftovers, metrics_rows, read_json

PPO = ("--rollout-steps", "32", "--num-envs", "4", "--eval-every", "1", "--eval-episodes", "2", "--hidden", "16",
       "--checkpoint-every", "0", "--no-tensorboard")


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resume_refuses_a_changed_option_in_one_line(runner: Runner, tmp_path: Path) -> None:
    demos = tmp_path / "demos"
    assert runner.run(["collect", "--task", "cartpole", "--episodes", "2", "--out", demos]).rc == 0
    out = tmp_path / "g"
    o = runner.run(["train", "gail", "--data", demos, "--total-steps", "256", "--out", out, *PPO],
                   at_record=(3, "kill"))
    assert o.rc == 137
    before = _tree(out)
    o = runner.run(["train", "gail", "--resume", out, "--lr", "0.1"])
    assert o.rc == 2
    lines = o.text().strip().splitlines()[1:]  # the first line is the log's own header
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "--lr 0.1" in lines[0] and "would change the run" in lines[0] and "--total-steps" in lines[0]
    assert _tree(out) == before  # refused before anything was touched


def _best_extra(run: Path) -> dict:
    return read_json(run / "best" / "policy.json")["extra"]


def _after_last_best(points: list) -> int:
    """The crash point that starts the first checkpoint after the last write of best/: a kill there
    leaves a best/ that no checkpoint records yet."""
    last = max(p.index for p in points if p.name == "best" or Path(p.target).parent.name.startswith(".best."))
    return next(p.index for p in points if p.index > last and p.name == "state.safetensors")


def _state_best(run: Path) -> dict | None:
    state = run / "state" / "state.json"
    return read_json(state)["loop"]["best"] if state.exists() else None


def test_a_gym_task_keeps_its_expert_and_its_best_across_a_resume(runner: Runner, tmp_path: Path) -> None:
    """gym:<id> tasks cannot save their running episodes, so the resumed run differs from an
    uninterrupted one (within noise); but it is still scored against the run's --expert, and the
    best evaluation seen before the kill is never lost."""
    cmd = Command(("train", "ppo", "--task", "gym:Pendulum-v1", "--expert", "mimetic.envs.pendulum:expert_actions",
                   "--total-steps", "384", *PPO))
    points = runner.run(cmd.fresh(tmp_path / "ref")).points  # up to a kill, a fresh run is deterministic
    out = tmp_path / "run"
    assert runner.run(cmd.fresh(out), crash_at=_after_last_best(points)).rc == 137
    seen = [r["eval/normalized_score"] for r in metrics_rows(out) if "eval/normalized_score" in r]
    assert seen and all(s is not None for s in seen)
    o = runner.run(cmd.resume(out))
    assert o.rc == 0, o.text()[-2000:]
    result = read_json(out / "result.json")
    scores = [e["normalized_score"] for e in result["evaluations"]]
    assert len(scores) == 3 and all(s is not None for s in scores)  # the resumed evaluations too
    assert result["best"]["value"] >= max(seen)
    assert _best_extra(out)["env_steps"] == result["best"]["env_steps"]
    assert leftovers(out) == []


def test_best_written_after_the_last_checkpoint_survives_a_kill(runner: Runner, tmp_path: Path) -> None:
    """Killed after an evaluation replaced best/ but before the checkpoint that records it: the
    resumed run must not forget that best (here nothing re-evaluates it: --eval-episodes 0)."""
    cmd = Command(("train", "ppo", "--task", "cartpole", "--total-steps", "384", *PPO))
    ref = tmp_path / "ref"
    points = runner.run(cmd.fresh(ref)).points
    out = tmp_path / "run"
    assert runner.run(cmd.fresh(out), crash_at=_after_last_best(points)).rc == 137
    on_disk = _best_extra(out)
    saved = _state_best(out)
    assert saved is None or saved["env_steps"] < on_disk["env_steps"]  # best/ is ahead of the checkpoint
    o = runner.run(["train", "ppo", "--resume", out, "--eval-episodes", "0"])
    assert o.rc == 0, o.text()[-2000:]
    result = read_json(out / "result.json")
    assert result["best"] == read_json(ref / "result.json")["best"]  # the one found before the kill
    assert _best_extra(out)["env_steps"] == on_disk["env_steps"]
    assert (out / "best" / "policy.safetensors").read_bytes() == (ref / "best" / "policy.safetensors").read_bytes()


def test_a_collection_killed_before_its_first_file_runs_again(runner: Runner, tmp_path: Path) -> None:
    """Killed while collect.json was written: nothing to resume, and the same command starts over."""
    argv = ["collect", "--task", "cartpole", "--episodes", "2", "--out", tmp_path / "d"]
    o = runner.run(argv, crash_at=1)
    assert o.rc == 137 and o.points[0].name == "collect.json"
    assert [p.name for p in (tmp_path / "d").iterdir()] != []  # its temporary, nothing else
    o = runner.run(argv)
    assert o.rc == 0, o.text()[-2000:]
    assert leftovers(tmp_path / "d") == []


def test_a_collection_killed_right_after_its_dataset_took_the_folder(runner: Runner, tmp_path: Path,
                                                                    references: Callable[[str], Reference]) -> None:
    """The last moment of a collection: the dataset is in place, the old work folder not yet deleted.
    Nothing is lost; the hidden old folder goes with the next write or ``collect --resume``."""
    ref = references("collect")
    last = ref.points[-1]
    assert last.kind == "swap-after" and last.name == "run"
    out = tmp_path / "killed" / "run"
    out.parent.mkdir()
    outcomes = kill_and_resume(runner, ref.cmd, out, [{"crash_at": last.index}])
    assert [o.rc for o in outcomes] == [137, 2]  # the kill, then the --resume that tidied up
    ref.check(out)
