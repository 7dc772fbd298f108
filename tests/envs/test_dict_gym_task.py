"""A Gymnasium env with Dict (image + state) observations, end to end through the batched task,
the rollout ring, an expert labelling from the state key, and a dataset saved and loaded."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from mimetic.data import Dataset, load_minari, save_minari
from mimetic.envs.experts import as_expert
from mimetic.envs.gym_adapter import GymTask
from mimetic.errors import TaskError
from mimetic.interactive.budget import LabelBudget
from mimetic.observations import DictObs
from mimetic.rollout import collect, rollout


class Dot(gym.Env):
    """A dot on a 1-D track drawn into a 12x16 frame; the state is its position and the goal."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Dict({
            "cam": gym.spaces.Box(0, 255, (12, 16, 3), np.uint8),
            "state": gym.spaces.Box(-10.0, 10.0, (2,), np.float64)})  # float64: the task stores float32
        self.action_space = gym.spaces.Discrete(2)

    def _obs(self) -> dict[str, np.ndarray]:
        frame = np.zeros((12, 16, 3), np.uint8)
        frame[:, int(np.clip(self.x + 8, 0, 15))] = 255
        return {"state": np.array([self.x, self.goal]), "cam": frame}  # keys in another order than the space

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.x, self.goal = float(self.np_random.integers(-3, 4)), 0.0
        return self._obs(), {}

    def step(self, action: int):
        self.x += 1.0 if action == 1 else -1.0
        done = self.x == self.goal
        return self._obs(), -abs(self.x - self.goal), done, False, {}


gym.register("MimeticDictDot-v0", entry_point=Dot, max_episode_steps=12)
toward_goal = as_expert(lambda obs: (obs["state"][:, 0] < obs["state"][:, 1]).astype(np.int64),
                        name="toward", batched=True, discrete=True)


@pytest.mark.parametrize("num_envs", [1, 3])
def test_dict_rollouts_keep_frames_as_bytes(num_envs: int) -> None:
    task = GymTask("MimeticDictDot-v0", num_envs=num_envs)
    assert task.spec.obs_layout is not None and task.spec.obs_layout.image_keys == ("cam",)
    budget = LabelBudget(toward_goal)
    trajs = collect(task, toward_goal, budget=budget, episodes=5, seed=4)
    single = [collect(GymTask("MimeticDictDot-v0"), toward_goal, episodes=1, seed=4 + k)[0]
              for k in range(5)]
    for t, one in zip(trajs, single, strict=True):  # batched episodes are the single-env ones
        assert isinstance(t.obs, DictObs) and t.obs["cam"].dtype == np.uint8
        assert t.obs["state"].dtype == np.float32 and len(t.obs) == len(t) + 1
        assert np.array_equal(t.obs["cam"], one.obs["cam"]) and np.array_equal(t.acts, one.acts)
        # the frame shows the state: the lit column is x + 8 at every step
        assert np.array_equal(t.obs["cam"][:, 0, :, 0].argmax(axis=1), t.obs["state"][:, 0] + 8)
        assert t.terminated and t.obs["state"][-1, 0] == 0.0  # the expert walked to the goal
    assert budget.labels == sum(len(t) for t in trajs)


def test_dict_demos_round_trip_through_minari(tmp_path: Path) -> None:
    task = GymTask("MimeticDictDot-v0", num_envs=2)
    trajs = collect(task, toward_goal, episodes=4, seed=0)
    ds = Dataset.from_trajectories(trajs, spec=task.spec)
    save_minari(ds, tmp_path / "dot-v0")
    back = load_minari(tmp_path / "dot-v0")
    back.validate(task.spec)
    assert np.array_equal(back.obs["cam"], ds.obs["cam"]) and back.obs["cam"].dtype == np.uint8


def test_a_learner_acts_on_dict_observations() -> None:
    class Lazy:  # a policy reads a key of the batch it is given
        def act(self, obs: DictObs) -> np.ndarray:
            assert obs["cam"].shape[1:] == (12, 16, 3)
            return (obs["state"][:, 0] < 0).astype(np.int64)

        def reset(self, mask: np.ndarray) -> None:
            pass

    trajs = rollout(GymTask("MimeticDictDot-v0", num_envs=2), Lazy(), episodes=3, seed=1)
    assert all(t.terminated for t in trajs)


def test_nested_dict_spaces_are_refused() -> None:
    class Nested(Dot):
        def __init__(self) -> None:
            super().__init__()
            self.observation_space = gym.spaces.Dict({"inner": self.observation_space})

    gym.register("MimeticNestedDot-v0", entry_point=Nested, max_episode_steps=5)
    with pytest.raises(TaskError, match="key 'inner' is a Dict space"):
        GymTask("MimeticNestedDot-v0")


def test_a_one_observation_expert_gets_one_dict_row_at_a_time() -> None:
    seen = []

    def one(obs: DictObs) -> int:
        seen.append(obs["cam"].shape)
        return int(obs["state"][0] < obs["state"][1])

    expert = as_expert(one, batched=False, discrete=True)
    trajs = collect(GymTask("MimeticDictDot-v0", num_envs=2), expert, episodes=2, seed=3)
    want = collect(GymTask("MimeticDictDot-v0", num_envs=2), toward_goal, episodes=2, seed=3)
    assert all(np.array_equal(a.acts, b.acts) for a, b in zip(trajs, want, strict=True))
    assert set(seen) == {(12, 16, 3)}
