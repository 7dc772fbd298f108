"""Camera observations of the built-in tasks: ``<task>@pixels`` and ``<task>@pixels+state``."""

from __future__ import annotations

import numpy as np
import pytest

from mimetic.envs.registry import expert_name, make_expert, make_task, same_task
from mimetic.errors import ConfigError, TaskError
from mimetic.nets.vision import VisionConfig
from mimetic.observations import DictObs
from mimetic.policies import MLPConfig, MLPPolicy, VisionPolicy
from mimetic.rollout import collect

RED = np.array([220, 30, 30])


@pytest.mark.parametrize("name", ["cartpole", "pendulum", "driving", "multimodal"])
def test_the_state_key_is_the_flat_task_and_the_expert_reads_it(name: str) -> None:
    seen = make_task(f"{name}@pixels", num_envs=3, max_steps=40)
    flat = make_task(name, num_envs=3, max_steps=40)
    assert seen.spec.name == f"{name}@pixels" and seen.spec.hidden_keys == ("state",)
    assert seen.spec.obs_layout.image_keys == ("image",)
    pixel_trajs = collect(seen, make_expert(f"{name}@pixels"), episodes=3, seed=7)
    flat_trajs = collect(flat, make_expert(name), episodes=3, seed=7)
    for p, f in zip(pixel_trajs, flat_trajs, strict=True):
        assert isinstance(p.obs, DictObs) and p.obs["image"].shape == (len(p) + 1, 64, 64, 3)
        assert p.obs["image"].dtype == np.uint8 and p.obs["image"].std() > 0  # a picture, not a blank
        assert np.array_equal(p.obs["state"], f.obs) and np.array_equal(p.acts, f.acts)
        assert seen.spec.success(p) == flat.spec.success(f)
    assert expert_name(f"{name}@pixels") == expert_name(name)


def test_the_driving_camera_turns_with_the_car_and_sees_the_road_move() -> None:
    task = make_task("driving@pixels", num_envs=2)
    task.reset(seeds=np.array([0, 0]))
    state = task.get_state()
    state[:, 1] = [1.5, -1.5]  # metres left / right of the centreline
    state[:, 2] = 0.0  # heading along the road
    img = task.set_state(state)["image"].astype(int)  # (2, 64, 64, 3)
    car = (np.abs(img - RED).sum(axis=-1) < 30)  # (2, 64, 64) the car: same place in both views
    assert car.any(axis=(1, 2)).all() and np.array_equal(car[0], car[1])
    row = 8  # well ahead of the car: where is the white centre line?
    white = [np.flatnonzero(img[k, row].min(axis=-1) > 220).mean() for k in range(2)]
    # left of the centreline, the line appears to the car's right, and the other way round
    assert white[0] > 32 > white[1]


def test_the_multimodal_camera_draws_the_agent_where_the_state_says() -> None:
    task = make_task("multimodal@pixels", num_envs=1)
    task.reset(seeds=np.array([3]))
    state = task.get_state()
    state[0, :2] = (-0.9, 2.0)  # top left of the arena
    img = task.set_state(state)["image"][0].astype(int)
    rows, cols = np.nonzero(np.abs(img - np.array([210, 40, 40])).sum(axis=-1) < 30)
    assert rows.mean() < 16 and cols.mean() < 16


def test_policies_leave_hidden_keys_out() -> None:
    vision = VisionConfig(encoder="conv", features=8, keypoints=4)
    pixels = VisionPolicy.for_spec(make_task("cartpole@pixels").spec, MLPPolicy, MLPConfig(hidden=(8,)), vision=vision)
    both = VisionPolicy.for_spec(make_task("cartpole@pixels+state").spec, MLPPolicy, MLPConfig(hidden=(8,)),
                                 vision=vision)
    assert pixels.layout.keys == ("image",) and both.layout.keys == ("image", "state")
    assert pixels.encoder.out_features == 8 and both.encoder.out_features == 8 + 4
    obs = make_task("cartpole@pixels", num_envs=2).reset(seeds=np.array([0, 1]))
    assert pixels.act(obs).shape == (2,)  # the hidden state rides along, unread


def test_names_and_bad_modes() -> None:
    assert same_task("cartpole@pixels", "gym:CartPole-v1@pixels")
    assert not same_task("cartpole@pixels", "cartpole@pixels+state")
    with pytest.raises(TaskError, match="unknown observation mode 'depth'"):
        make_task("cartpole@depth")
    from mimetic.envs.pixels import PixelTask

    with pytest.raises(ConfigError, match="16..256"):
        PixelTask(make_task("cartpole"), mode="pixels", size=8)
    with pytest.raises(ConfigError, match="already observes a dict"):
        PixelTask(make_task("cartpole@pixels"), mode="pixels")
    with pytest.raises(TaskError, match="labels dict observations"):
        make_expert("cartpole@pixels")(np.zeros((2, 4), np.float32))
