"""The keyboard human (HG-DAgger's live supervisor), driven by scripted key presses headlessly."""

import numpy as np
import pytest

from mimetic.algos import bc
from mimetic.envs import make_task
from mimetic.errors import TaskError
from mimetic.interactive import dagger
from mimetic.interactive.gates.human import HGDAggerGates
from mimetic.interactive.gates.keyboard import KeyboardHuman
from mimetic.policies import MLPConfig, MLPPolicy

pytest.importorskip("pygame")


class ScriptedKeys:
    """Holds LEFT for the first ``n`` polls of every 20, then nothing."""

    def __init__(self, n: int) -> None:
        self.n, self.calls, self.held, self.onsets = n, 0, 0, 0

    def __call__(self) -> dict:
        self.calls += 1
        left = (self.calls - 1) % 20 < self.n
        self.held += left
        self.onsets += left and (self.calls - 1) % 20 == 0
        return {"left": left}


def test_keyboard_human_takes_over_and_labels_with_its_keys():
    task = make_task("driving", num_envs=1, max_steps=40)
    keys = ScriptedKeys(5)
    human = KeyboardHuman(task, keys_fn=keys)
    policy = MLPPolicy.for_spec(task.spec, MLPConfig(hidden=(16,)), seed=0)
    gates = HGDAggerGates(discrete=False, deviation=1.0, human=human)
    res = dagger.fit(task, human.expert, policy, dagger.DAggerConfig(rounds=2, episodes_per_round=1, eval_episodes=0),
                     bc_config=bc.BCConfig(steps=20), gate=gates)
    assert res.labels == res.expert_steps == keys.held > 0  # every held step, and only those, labelled
    assert res.context_switches >= keys.onsets > 0


def test_keyboard_human_refuses_batches_and_unmappable_tasks():
    with pytest.raises(TaskError, match="num-envs 1"):
        KeyboardHuman(make_task("driving", num_envs=2))
    with pytest.raises(TaskError, match="no keyboard mapping"):
        KeyboardHuman(make_task("lunarlander-continuous", num_envs=1))
    human = KeyboardHuman(make_task("cartpole", num_envs=1), keys_fn=dict)
    with pytest.raises(TaskError, match="no key was held"):
        human.expert(np.zeros((1, 4), np.float32))


def test_escape_stops_the_run():
    task = make_task("cartpole", num_envs=1)
    human = KeyboardHuman(task, keys_fn=lambda: {"quit": True})
    task.reset(seeds=np.array([0]))
    with pytest.raises(KeyboardInterrupt):
        human(np.zeros((1, 4), np.float32), np.zeros(1, np.int64))
