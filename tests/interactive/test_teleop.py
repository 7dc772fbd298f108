"""Teleoperation, headless: scripted pygame events (mouse for PushT, arrow keys elsewhere) drive the
task, and the finished episodes are recorded."""

from __future__ import annotations

import numpy as np
import pytest

from mimetic.cli import main
from mimetic.data import load_minari
from mimetic.envs import make_task
from mimetic.errors import TaskError
from mimetic.interactive.teleop import Teleop, record

pygame = pytest.importorskip("pygame")


@pytest.fixture(autouse=True)
def _headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


def _script(events: dict[int, list]):
    def post(step: int) -> None:
        for kind, attrs in events.get(step, []):
            pygame.event.post(pygame.event.Event(kind, **attrs))

    return post


def test_pusht_follows_the_mouse_while_the_button_is_held():
    pytest.importorskip("gym_pusht")
    task = make_task("pusht", max_steps=12)
    person = Teleop(task, fps=0, before_step=_script({
        2: [(pygame.MOUSEBUTTONDOWN, {"button": 1, "pos": (340, 340)})],  # the 680 px frame's centre
        5: [(pygame.MOUSEMOTION, {"pos": (170, 340), "rel": (0, 0), "buttons": (1, 0, 0)})],
        8: [(pygame.MOUSEBUTTONUP, {"button": 1, "pos": (170, 340)})],
        15: [(pygame.KEYDOWN, {"key": pygame.K_ESCAPE})],  # in the second episode: it is dropped
    }))
    trajs = record(task, person, episodes=3, seed=0)
    assert len(trajs) == 1 and len(trajs[0]) == 12
    acts, obs = trajs[0].acts, trajs[0].obs
    np.testing.assert_allclose(acts[:2], obs[:2, :2])  # no button yet: the agent's own position (hold)
    np.testing.assert_allclose(acts[2:5], [[256.0, 256.0]] * 3)  # window pixels -> table coordinates
    np.testing.assert_allclose(acts[5:8], [[128.0, 256.0]] * 3)
    np.testing.assert_allclose(acts[8:], obs[8:12, :2])  # released: it stays where it got to
    assert np.linalg.norm(obs[8, :2] - obs[0, :2]) > 50  # and it did move


def test_keys_steer_driving_and_move_multimodal():
    task = make_task("driving", max_steps=6)
    high = float(task.spec.action_space.high[0])
    person = Teleop(task, fps=0, before_step=_script({
        1: [(pygame.KEYDOWN, {"key": pygame.K_LEFT})], 3: [(pygame.KEYUP, {"key": pygame.K_LEFT})]}))
    acts = record(task, person, episodes=1)[0].acts[:, 0]
    np.testing.assert_allclose(acts, [0, 0.6 * high, 0.6 * high, 0, 0, 0], rtol=1e-6)  # LEFT steers left (+)

    task = make_task("multimodal", max_steps=4)
    hi = task.spec.action_space.high
    person = Teleop(task, fps=0, before_step=_script({
        1: [(pygame.KEYDOWN, {"key": pygame.K_UP}), (pygame.KEYDOWN, {"key": pygame.K_RIGHT})],
        2: [(pygame.KEYUP, {"key": pygame.K_UP})]}))
    acts = record(task, person, episodes=1)[0].acts
    np.testing.assert_allclose(acts, [[0, 0], [hi[0], hi[1]], [hi[0], 0], [hi[0], 0]], rtol=1e-6)


def test_teleop_refuses_what_it_cannot_drive():
    with pytest.raises(TaskError, match="one environment"):
        Teleop(make_task("driving", num_envs=2))
    with pytest.raises(TaskError, match="no teleop controls"):
        Teleop(make_task("gym:Acrobot-v1"))  # 3 discrete actions


def test_cli_records_a_dataset_and_refuses_without_a_display(tmp_path, monkeypatch, capsys):
    out = tmp_path / "human"
    assert main(["teleop", "--task", "driving", "--episodes", "2", "--max-steps", "5", "--fps", "0",
                 "--out", str(out)]) == 0
    ds = load_minari(out)
    assert ds.n_episodes == 2 and ds.n_steps == 10 and ds.metadata["source"] == "mimetic teleop"
    # quitting before an episode is finished saves nothing
    monkeypatch.setattr(Teleop, "_read_events", lambda self: (_ for _ in ()).throw(KeyboardInterrupt))
    capsys.readouterr()
    assert main(["teleop", "--task", "driving", "--fps", "0", "--out", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: no episode was finished, so nothing was saved"
    assert not (tmp_path / "none").exists()
    # no display: one line, before anything is made
    for var in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    assert main(["teleop", "--task", "driving", "--out", str(tmp_path / "nodisplay")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: teleop needs a display")
    assert not (tmp_path / "nodisplay").exists()
