"""Each task's own hooks on TaskSpec: success, risk and its default threshold, the headline metric."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from mimetic.envs import make_task
from mimetic.envs.multimodal import GOAL_RADIUS
from mimetic.rollout import summarize
from mimetic.types import Trajectory


def _traj(obs: list[list[float]], *, rewards: list[float], terminated: bool) -> Trajectory:
    obs_a = np.asarray(obs, np.float32)
    return Trajectory(obs=obs_a, acts=np.zeros(len(obs) - 1, np.int64), rewards=np.asarray(rewards, np.float64),
                      terminated=terminated, truncated=not terminated)


def test_cartpole_and_driving_succeed_when_not_terminated() -> None:
    for name, width in (("cartpole", 4), ("driving", 6)):
        spec = make_task(name).spec
        row = [0.0] * width
        assert spec.success(_traj([row, row], rewards=[1.0], terminated=False)) is True
        assert spec.success(_traj([row, row], rewards=[1.0], terminated=True)) is False


def test_pendulum_succeeds_when_upright_at_the_end() -> None:
    success = make_task("pendulum").spec.success
    assert success(_traj([[-1.0, 0, 0], [0.95, 0, 0]], rewards=[-1.0], terminated=False))
    assert not success(_traj([[0.95, 0, 0], [0.85, 0, 0]], rewards=[-1.0], terminated=False))


@pytest.mark.parametrize("name", ["lunarlander", "lunarlander-continuous"])
def test_lunarlander_succeeds_at_the_solved_return(name: str) -> None:
    task = make_task(name)
    success = task.spec.success
    task.close()
    row = [0.0] * 8
    assert success(_traj([row, row, row], rewards=[150.0, 50.0], terminated=True))
    assert not success(_traj([row, row, row], rewards=[150.0, 49.9], terminated=True))


def test_multimodal_succeeds_only_at_the_goal() -> None:
    success = make_task("multimodal").spec.success
    goal = [0.0, 2.0]
    at_goal = [0.0, 2.0 - GOAL_RADIUS / 2, *goal]
    assert success(_traj([[0, 0, *goal], at_goal], rewards=[1.0], terminated=True))
    assert not success(_traj([[0, 0, *goal], [0, 0.5, *goal]], rewards=[0.1], terminated=True))  # the obstacle
    assert not success(_traj([[0, 0, *goal], at_goal], rewards=[1.0], terminated=False))  # timed out


def test_risks_and_their_default_thresholds() -> None:
    driving = make_task("driving").spec
    obs = np.zeros((2, 6), np.float32)
    obs[:, 0] = [0.25, -0.5]  # e / 2 m
    np.testing.assert_allclose(driving.risk(obs), [0.5, 1.0])  # metres off the centreline
    assert driving.risk_threshold == 1.0
    cartpole = make_task("cartpole").spec
    obs = np.zeros((2, 4), np.float32)
    obs[:, 2] = [-12 * math.pi / 180, 6 * math.pi / 180]
    np.testing.assert_allclose(cartpole.risk(obs), [1.0, 0.5], rtol=1e-6)  # fraction of the failure angle
    assert cartpole.risk_threshold == 0.5
    pendulum = make_task("pendulum").spec
    assert pendulum.risk is None and pendulum.risk_threshold is None


def test_headlines_and_adapted_tasks_without_hooks() -> None:
    assert make_task("driving").spec.headline == "cost"
    assert {make_task(n).spec.headline for n in ("cartpole", "pendulum", "multimodal")} == {"return"}
    task = make_task("gym:CartPole-v1")
    spec = task.spec
    task.close()
    assert spec.success is None and spec.risk is None and spec.risk_threshold is None
    assert spec.headline == "return"


def test_hooks_stay_out_of_equality_and_repr() -> None:
    a = make_task("cartpole").spec
    assert dataclasses.replace(a, success=lambda t: True, risk=None) == a  # the same task, other hooks
    assert "success" not in repr(a) and "risk=" not in repr(a)


def test_summarize_reports_the_task_success_rate() -> None:
    spec = make_task("cartpole").spec
    row = [0.0] * 4
    trajs = [_traj([row, row], rewards=[1.0], terminated=t) for t in (False, True, False, False)]
    assert summarize(spec, trajs, seed=0).success_rate == 0.75
    gym_task = make_task("gym:CartPole-v1")
    assert summarize(gym_task.spec, trajs, seed=0).success_rate is None
    gym_task.close()
