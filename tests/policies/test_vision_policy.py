"""Vision policies: an image encoder in front of every head, trained by BC from dict datasets."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from mimetic.algos import bc
from mimetic.data import Dataset
from mimetic.envs.base import TaskSpec
from mimetic.envs.experts import as_expert
from mimetic.envs.gym_adapter import GymTask
from mimetic.errors import ConfigError, DataError
from mimetic.nets.vision import VisionConfig
from mimetic.observations import DictObs
from mimetic.policies import (
    ChunkingConfig,
    ChunkingPolicy,
    DiffusionConfig,
    DiffusionPolicy,
    MLPConfig,
    MLPPolicy,
    VisionPolicy,
    load_policy,
    save_policy,
)
from mimetic.rollout import collect, rollout
from mimetic.types import Trajectory

SIDE = 48  # the conv encoder's smallest useful image (its last map is then 2x2)
CONV = VisionConfig(encoder="conv", features=16, keypoints=8)
SPACE = gym.spaces.Dict({"cam": gym.spaces.Box(0, 255, (SIDE, SIDE, 3), np.uint8),
                         "state": gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)})
SPEC = TaskSpec(name="cams", gym_id="Cams-v0", observation_space=SPACE, max_steps=30,
                action_space=gym.spaces.Box(-1.0, 1.0, (2,), np.float32))


def _demos(episodes: int = 3, t: int = 9) -> Dataset:
    rng = np.random.default_rng(0)
    trajs = []
    for e in range(episodes):
        obs = DictObs({"cam": rng.integers(0, 256, (t + 1, SIDE, SIDE, 3), dtype=np.uint8),
                       "state": rng.normal(size=(t + 1, 3)).astype(np.float32)})
        trajs.append(Trajectory(obs=obs, acts=rng.uniform(-1, 1, (t, 2)).astype(np.float32), rewards=np.zeros(t),
                                terminated=False, truncated=True, seed=e))
    return Dataset.from_trajectories(trajs, spec=SPEC)


HEADS = {
    "mlp": (MLPPolicy, MLPConfig(hidden=(32,), head="deterministic")),
    "mixture": (MLPPolicy, MLPConfig(hidden=(32,), head="mixture", mixture_components=3)),
    "chunking": (ChunkingPolicy, ChunkingConfig(chunk_size=4, d_model=16, heads=2, layers=1, feedforward=32)),
    "diffusion-mlp": (DiffusionPolicy, DiffusionConfig(hidden=(32, 32), pred_horizon=4, action_horizon=2,
                                                       inference_steps=2)),
    "diffusion-unet": (DiffusionPolicy, DiffusionConfig(denoiser="unet", unet_channels=(8, 16), pred_horizon=4,
                                                        action_horizon=2, inference_steps=2)),
}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_every_head_trains_end_to_end_and_round_trips(name: str, tmp_path: Path) -> None:
    head_class, config = HEADS[name]
    ds = _demos()
    pol = VisionPolicy.for_spec(SPEC, head_class, config, vision=CONV, seed=1)
    before = [p.detach().clone() for p in pol.encoder.parameters()]
    res = bc.fit(pol, ds, bc.BCConfig(steps=3, batch_size=8, log_every=1))
    assert np.isfinite(res.final_loss)
    moved = [not torch.equal(a, b) for a, b in zip(before, pol.encoder.parameters(), strict=True)]
    assert all(moved)  # the head's loss trained the encoder too
    mean, std = ds.obs_stats_by_key()["state"]
    assert torch.allclose(pol.encoder.std1, torch.from_numpy(std))  # the state key is z-scored with the data's stats
    obs = ds.obs[np.array([0, 4, 11])]
    pol.reset(np.ones(3, bool))
    acts = pol.act(obs)
    assert acts.shape == (3, 2) and np.isfinite(acts).all()
    save_policy(pol, tmp_path / name)
    back = load_policy(tmp_path / name)
    assert isinstance(back, VisionPolicy) and type(back.head) is head_class
    for p in (pol, back):
        p.reset(np.ones(3, bool))
        torch.manual_seed(0)
        for gen in p.generators():
            gen.manual_seed(5)
    assert np.allclose(back.act(obs), pol.act(obs), atol=1e-5)


def test_minibatches_gather_the_windows_the_dataset_defines() -> None:
    ds = _demos()
    pol = VisionPolicy.for_spec(SPEC, DiffusionPolicy, HEADS["diffusion-mlp"][1], vision=CONV)
    batches, n = bc._batch_source(pol, ds, 5, torch.Generator().manual_seed(0))
    assert n == ds.n_transitions
    batch = next(batches)
    assert batch.obs["cam"].dtype == torch.uint8 and batch.obs["cam"].shape == (5, 2, SIDE, SIDE, 3)
    idx = batches.perm[:5].numpy()
    obs, acts, mask = ds.windows(ds.step_index()[idx], obs_horizon=2, act_horizon=4)
    assert np.array_equal(batch.obs["cam"].numpy(), obs["cam"])
    assert np.array_equal(batch.obs["state"].numpy(), obs["state"])
    assert np.array_equal(batch.acts.numpy(), acts) and np.array_equal(batch.extras["mask"].numpy(), mask)


def test_a_flat_policy_on_dict_data_is_refused_in_one_line() -> None:
    flat = MLPPolicy(MLPConfig(hidden=(8,)), obs_dim=3, act_dim=2, discrete=False)
    with pytest.raises(ConfigError, match=r"dict observations \(cam: uint8 image .*VisionPolicy"):
        bc.fit(flat, _demos(), bc.BCConfig(steps=1))
    with pytest.raises(ConfigError, match="flat observations"):
        VisionPolicy.for_spec(TaskSpec(name="f", gym_id="F-v0", max_steps=5, action_space=SPEC.action_space,
                                       observation_space=gym.spaces.Box(-1, 1, (3,), np.float32)), MLPPolicy)


def test_acting_on_the_wrong_observations_fails_in_one_line() -> None:
    pol = VisionPolicy.for_spec(SPEC, MLPPolicy, HEADS["mlp"][1], vision=CONV)
    good = _demos().obs[np.arange(2)]
    with pytest.raises(DataError, match="missing 'state'"):
        pol.act({"cam": good["cam"]})
    with pytest.raises(DataError, match="float32 image; images must be uint8"):
        pol.act({"cam": good["cam"].astype(np.float32), "state": good["state"]})
    with pytest.raises(DataError, match=r"key 'cam' has shape \(2, 40, 48, 3\)"):
        pol.act({"cam": good["cam"][:, :40], "state": good["state"]})


class Dot(gym.Env):
    """A lit column at x on a 48x48 frame; step left or right to reach the centre column."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Dict({"cam": gym.spaces.Box(0, 255, (SIDE, SIDE, 3), np.uint8)})
        self.action_space = gym.spaces.Discrete(2)

    def _obs(self) -> dict[str, np.ndarray]:
        frame = np.zeros((SIDE, SIDE, 3), np.uint8)
        frame[:, int(np.clip(self.x + SIDE // 2, 0, SIDE - 1))] = 255
        return {"cam": frame}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.x = float(self.np_random.choice([-8, -7, -6, -5, 5, 6, 7, 8]))
        return self._obs(), {}

    def step(self, action: int):
        self.x += 1.0 if action == 1 else -1.0
        return self._obs(), -abs(self.x), self.x == 0, False, {}


gym.register("MimeticPixelDot-v0", entry_point=Dot, max_episode_steps=20)


def test_bc_from_pixels_alone_learns_to_act() -> None:
    """The expert reads the frame too; the learner sees nothing but pixels and must find the column."""
    expert = as_expert(lambda o: (o["cam"][:, 0, :, 0].argmax(axis=1) < SIDE // 2).astype(np.int64),
                       batched=True, discrete=True)
    task = GymTask("MimeticPixelDot-v0", num_envs=4)
    ds = Dataset.from_trajectories(collect(task, expert, episodes=16, seed=0), spec=task.spec)
    pol = VisionPolicy.for_spec(task.spec, MLPPolicy, MLPConfig(hidden=(32,)), vision=CONV, seed=0)
    untrained = np.mean([t.terminated for t in rollout(task, pol, episodes=16, seed=100)])
    bc.fit(pol, ds, bc.BCConfig(steps=250, batch_size=32, lr=3e-3))
    trained = np.mean([t.terminated for t in rollout(task, pol, episodes=16, seed=100)])
    assert trained >= 0.8 and trained > untrained


def test_a_stopped_fit_resumes_bitwise_crops_and_noise_included() -> None:
    ds = _demos()
    crop = VisionConfig(encoder="conv", features=8, keypoints=4, crop=44)  # random crops: a generator to restore
    config = bc.BCConfig(steps=6, batch_size=4, log_every=2)

    def fresh(seed: int = 0) -> VisionPolicy:
        return VisionPolicy.for_spec(SPEC, DiffusionPolicy, HEADS["diffusion-mlp"][1], vision=crop, seed=seed)

    whole = fresh()
    bc.fit(whole, ds, config)
    saved: list[bc.State] = []

    def stop_at_2(step: int, snapshot) -> bool:
        if step == 2:
            saved.append(snapshot())
            return True
        return False

    assert bc.fit(fresh(), ds, config, checkpoint=stop_at_2).interrupted
    again = fresh(seed=3)  # other weights and generators: everything must come from the saved state
    bc.fit(again, ds, config, resume=saved[0])
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), whole.state_dict().values()))


def test_state_statistics_are_checked_per_key() -> None:
    pol = VisionPolicy.for_spec(SPEC, MLPPolicy, HEADS["mlp"][1], vision=CONV)
    with pytest.raises(DataError, match="lack key 'state'"):
        pol.set_obs_stats({})
    with pytest.raises(DataError, match=r"statistics of key 'state' must have 3 values"):
        pol.set_obs_stats({"state": (np.zeros(2), np.ones(2))})
    with pytest.raises(DataError, match="statistics of key 'state' contain NaN"):
        pol.set_obs_stats({"state": (np.full(3, np.nan), np.ones(3))})
    pol.set_obs_stats({"state": (np.arange(3.0), np.array([2.0, 0.0, 1.0]))})
    assert pol.encoder.std1.tolist() == [2.0, 1.0, 1.0]  # no spread: centred only
