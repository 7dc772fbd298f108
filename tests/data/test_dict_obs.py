"""Dict (image + state) observations through the data layer: layouts, Dataset, checkpoints, Minari."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import gymnasium as gym
import h5py
import numpy as np
import pytest

from mimetic.data import Dataset, load_minari, save_minari
from mimetic.envs.base import TaskSpec
from mimetic.errors import DataError
from mimetic.observations import IMAGE_CENTRE, IMAGE_SCALE, DictObs, ObsLayout
from mimetic.types import Trajectory

H, W = 8, 6  # small frames: what is tested is the bookkeeping, not the pixels
SPACE = gym.spaces.Dict({"cam": gym.spaces.Box(0, 255, (H, W, 3), np.uint8),
                         "state": gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)})
ACT = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
SPEC = TaskSpec(name="dicty", gym_id="Dicty-v0", observation_space=SPACE, action_space=ACT, max_steps=50)


def _traj(t: int, seed: int) -> Trajectory:
    rng = np.random.default_rng(seed)
    obs = DictObs({"cam": rng.integers(0, 256, (t + 1, H, W, 3), dtype=np.uint8),  # (T+1, H, W, 3)
                   "state": rng.normal(seed, 1.0, (t + 1, 2))})  # float64 in: stored as float32
    return Trajectory(obs=obs, acts=rng.uniform(-1, 1, (t, 2)).astype(np.float32), rewards=rng.normal(size=t),
                      terminated=False, truncated=True, seed=seed)


@pytest.fixture
def trajs() -> list[Trajectory]:
    return [_traj(5, 0), _traj(3, 1), _traj(7, 2)]


# ----------------------------------------------------------------------------- layouts


def test_layout_reads_images_and_state_off_the_space() -> None:
    layout = ObsLayout.from_space(SPACE)
    assert layout.image_keys == ("cam",) and layout.state_keys == ("state",)
    assert layout.field("cam").dtype == np.uint8 and layout.field("state").dtype == np.float32
    assert ObsLayout.from_space(layout.space()) == layout
    # a uint8 vector is a state (flags, counts), not an image
    flags = ObsLayout.from_space(gym.spaces.Dict({"f": gym.spaces.Box(0, 1, (4,), np.uint8)}))
    assert flags.image_keys == ()


@pytest.mark.parametrize(("space", "message"), [
    (gym.spaces.Dict({"cam": gym.spaces.Box(0, 255, (3, H, W), np.uint8)}), "channels-last"),
    (gym.spaces.Dict({"cam": gym.spaces.Box(0, 255, (H, W), np.uint8)}), "channels-last"),
    (gym.spaces.Dict({"d": gym.spaces.Discrete(3)}), "key 'd' is a Discrete space"),
    (gym.spaces.Dict({"n": gym.spaces.Dict({"x": gym.spaces.Box(0, 1, (2,))})}), "key 'n' is a Dict space"),
    (gym.spaces.Box(0, 1, (2,)), "not a Dict"),
])
def test_layout_refuses_unsupported_spaces(space: gym.spaces.Space, message: str) -> None:
    with pytest.raises(DataError, match=message):
        ObsLayout.from_space(space)


@pytest.mark.parametrize(("obs", "message"), [
    ({"cam": np.zeros((4, H, W, 3), np.uint8)}, r"missing 'state'"),
    ({"cam": np.zeros((4, H, W, 3), np.uint8), "state": np.zeros((4, 2)), "depth": np.zeros((4, 1))},
     r"unexpected 'depth'"),
    ({"cam": np.zeros((4, H, W), np.uint8), "state": np.zeros((4, 2))}, r"key 'cam' has shape \(4, 8, 6\)"),
    ({"cam": np.zeros((4, H, W, 3), np.float32), "state": np.zeros((4, 2))}, "float32 image; images must be uint8"),
    ({"cam": np.zeros((4, H, W, 3), np.uint8), "state": np.zeros((3, 2))}, r"has \(3,\) rows where the others"),
    (np.zeros((4, 5), np.float32), "ndarray values, but the task observes a dict"),
])
def test_layout_check_names_the_problem(obs, message: str) -> None:
    with pytest.raises(DataError, match=message):
        ObsLayout.from_space(SPACE).check(obs, what="observations")


def test_dictobs_indexes_every_key() -> None:
    obs = DictObs({"a": np.arange(10).reshape(5, 2), "b": np.arange(5)})
    assert len(obs) == 5 and list(obs.keys()) == ["a", "b"]
    picked = obs[np.array([[4, 0], [1, 1]])]  # a (2, 2) index: (2, 2, *shape) per key
    assert picked["a"].shape == (2, 2, 2) and picked["b"].tolist() == [[4, 0], [1, 1]]
    with pytest.raises(TypeError, match="keys"):
        list(obs)  # iterating would be ambiguous between keys and rows


# ----------------------------------------------------------------------------- Dataset


def test_images_stay_uint8_and_rows_line_up(trajs: list[Trajectory]) -> None:
    ds = Dataset.from_trajectories(trajs, spec=SPEC)
    assert ds.is_dict and ds.n_steps == 15 and len(ds.obs) == 18
    assert ds.obs["cam"].dtype == np.uint8 and ds.obs["state"].dtype == np.float32
    assert not ds.obs["cam"].flags.writeable
    # the observation acted on at step 2 of episode 1 is row 5 + 2 + 1 (one extra row per earlier episode)
    step = 5 + 2
    obs, acts = ds.transitions()
    assert np.array_equal(obs["cam"][step], trajs[1].obs["cam"][2])
    assert np.array_equal(acts[step], trajs[1].acts[2])
    # back out as trajectories, bitwise
    for got, want in zip(ds.episodes(), trajs, strict=True):
        assert np.array_equal(got.obs["cam"], want.obs["cam"])
        assert np.array_equal(got.obs["state"], want.obs["state"].astype(np.float32))


def test_windows_pad_inside_episodes(trajs: list[Trajectory]) -> None:
    ds = Dataset.from_trajectories(trajs, spec=SPEC)
    first_of_ep1 = 5  # step index of episode 1's first step
    obs, acts, mask = ds.windows(np.array([first_of_ep1 + 1, 14]), obs_horizon=3, act_horizon=4)
    assert obs["cam"].shape == (2, 3, H, W, 3) and obs["cam"].dtype == np.uint8
    assert obs["state"].shape == (2, 3, 2)
    cams = trajs[1].obs["cam"]
    # observations before the episode's start repeat its first one
    assert np.array_equal(obs["cam"][0], np.stack([cams[0], cams[0], cams[1]]))
    # step 14 is episode 2's last: actions past it are padding, masked out
    assert mask[1].tolist() == [True, False, False, False]
    assert np.array_equal(acts[1, 0], trajs[2].acts[-1])


def test_state_keys_are_z_scored_and_images_scaled(trajs: list[Trajectory]) -> None:
    ds = Dataset.from_trajectories(trajs, spec=SPEC)
    stats = ds.obs_stats_by_key()
    every_state = np.concatenate([t.obs["state"].astype(np.float32) for t in trajs]).astype(np.float64)
    mean, std = stats["state"]
    np.testing.assert_allclose(mean, every_state.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(std, every_state.std(axis=0), rtol=1e-6)
    assert stats["cam"] == (IMAGE_CENTRE, IMAGE_SCALE)  # fixed: 0..255 to -1..1, not data statistics
    assert (0 - IMAGE_CENTRE) / IMAGE_SCALE == -1.0 and (255 - IMAGE_CENTRE) / IMAGE_SCALE == 1.0


def test_flat_only_accessors_refuse_in_one_line(trajs: list[Trajectory]) -> None:
    ds = Dataset.from_trajectories(trajs, spec=SPEC)
    with pytest.raises(DataError, match=r"needs flat \(Box\) observations.*cam: uint8 image"):
        ds.obs_shape  # noqa: B018
    with pytest.raises(DataError, match="needs flat"):
        ds.obs_stats()
    with pytest.raises(DataError, match="windows"):
        ds.training_arrays()


def test_extending_round_by_round_matches_one_build(trajs: list[Trajectory]) -> None:
    grown = Dataset.empty(SPEC)
    for t in trajs:
        grown.extend([t])
    once = Dataset.from_trajectories(trajs, spec=SPEC)
    for key in ("cam", "state"):
        assert np.array_equal(grown.obs[key], once.obs[key])
    a, b = grown.obs_stats_by_key()["state"], once.obs_stats_by_key()["state"]
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    both = Dataset.empty(SPEC)
    both.extend(grown)
    assert np.array_equal(both.obs["cam"], once.obs["cam"])


def test_mismatched_data_is_refused(trajs: list[Trajectory]) -> None:
    ds = Dataset.from_trajectories(trajs, spec=SPEC)
    bad = _traj(3, 9)
    del bad.obs.arrays["state"]
    with pytest.raises(DataError, match=r"trajectory 0's observations have keys \['cam'\].*missing 'state'"):
        ds.extend([bad])
    flat = Trajectory(obs=np.zeros((3, 2), np.float32), acts=np.zeros((2, 2), np.float32), rewards=np.zeros(2),
                      terminated=False, truncated=False)
    with pytest.raises(DataError, match="ndarray values, but the task observes a dict"):
        ds.extend([flat])
    flat_ds = Dataset.from_trajectories([flat])
    with pytest.raises(DataError, match=r"trajectory 0 has dict observations \(cam, state\)"):
        flat_ds.extend([trajs[0]])
    with pytest.raises(DataError, match="the other dataset holds dict observations"):
        flat_ds.extend(ds)
    assert ds.n_episodes == 3 and flat_ds.n_episodes == 1  # nothing half-appended


def test_validate_against_a_task_with_other_keys(trajs: list[Trajectory]) -> None:
    ds = Dataset.from_trajectories(trajs)  # layout inferred from the arrays
    assert ds.obs_layout == ObsLayout.from_space(SPACE)
    ds.validate(SPEC)
    other = TaskSpec(name="o", gym_id="O-v0", action_space=ACT, max_steps=9, observation_space=gym.spaces.Dict(
        {"cam": SPACE["cam"], "wrist": SPACE["cam"], "state": SPACE["state"]}))
    with pytest.raises(DataError, match=r"keys \['cam', 'state'\] differ from task 'o''s .*missing \['wrist'\]"):
        ds.validate(other)
    flat = TaskSpec(name="f", gym_id="F-v0", action_space=ACT, max_steps=9,
                    observation_space=gym.spaces.Box(-1, 1, (2,), np.float32))
    with pytest.raises(DataError, match=r"has dict observations .* but task 'f' expects flat observations"):
        ds.validate(flat)


def test_nan_in_a_state_key_names_the_key(trajs: list[Trajectory]) -> None:
    trajs[2].obs.arrays["state"][3, 1] = np.nan
    ds = Dataset.from_trajectories(trajs, spec=SPEC)
    with pytest.raises(DataError, match=r"1 NaN/inf values in observations\['state'\] \(first in episode 2\)"):
        ds.validate()


def test_checkpoint_arrays_round_trip(trajs: list[Trajectory]) -> None:
    ds = Dataset.from_trajectories(trajs, spec=SPEC)
    arrays, meta = ds.state_arrays()
    assert arrays["obs/cam"].dtype == np.uint8 and "obs" not in arrays
    back = Dataset.empty(SPEC)
    back.load_state_arrays(arrays, meta)
    for key in ("cam", "state"):
        assert np.array_equal(back.obs[key], ds.obs[key])
    assert np.array_equal(back.acts, ds.acts)
    del arrays["obs/state"]
    with pytest.raises(DataError, match="incomplete or corrupt"):
        back.load_state_arrays(arrays, meta)


# ----------------------------------------------------------------------------- Minari files


def test_minari_round_trip_keeps_bytes(tmp_path: Path, trajs: list[Trajectory]) -> None:
    ds = Dataset.from_trajectories(trajs, spec=SPEC)
    save_minari(ds, tmp_path / "dicty-v0")
    with h5py.File(tmp_path / "dicty-v0" / "data" / "main_data.hdf5") as f:
        cam = f["episode_0/observations/cam"]
        assert cam.dtype == np.uint8 and cam.chunks == (1, H, W, 3) and cam.compression == "lzf"
    meta = json.loads((tmp_path / "dicty-v0" / "data" / "metadata.json").read_text())
    assert json.loads(meta["observation_space"])["type"] == "Dict" and meta["jpeg_encoding"] is False
    back = load_minari(tmp_path / "dicty-v0")
    assert back.obs_layout == ds.obs_layout
    for key in ("cam", "state"):
        assert np.array_equal(back.obs[key], ds.obs[key])
    back.validate(SPEC)


def test_a_group_with_the_wrong_keys_is_refused(tmp_path: Path, trajs: list[Trajectory]) -> None:
    save_minari(Dataset.from_trajectories(trajs, spec=SPEC), tmp_path / "d-v0")
    with h5py.File(tmp_path / "d-v0" / "data" / "main_data.hdf5", "a") as f:
        f.move("episode_1/observations/state", "episode_1/observations/pose")
    with pytest.raises(DataError, match=r"episode_1/observations has keys \['cam', 'pose'\] but the observation "
                                        r"space has \['cam', 'state'\]"):
        load_minari(tmp_path / "d-v0")


@pytest.fixture
def minari_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("minari")
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def test_our_dict_files_load_in_minari(minari_root: Path, trajs: list[Trajectory]) -> None:
    ds = Dataset.from_trajectories(trajs, spec=SPEC)
    save_minari(ds, minari_root / "mimetic" / "dicty-v0")
    import minari

    theirs = minari.load_dataset("mimetic/dicty-v0")
    assert theirs.observation_space == SPACE
    for mine, ep in zip(ds.episodes(), theirs.iterate_episodes(), strict=True):
        assert ep.observations["cam"].dtype == np.uint8
        assert np.array_equal(ep.observations["cam"], mine.obs["cam"])
        assert np.array_equal(ep.observations["state"], mine.obs["state"])


@pytest.mark.parametrize("jpeg", [False, True])
def test_dict_datasets_made_by_minari_load(minari_root: Path, trajs: list[Trajectory], jpeg: bool) -> None:
    import minari
    from minari.data_collector import EpisodeBuffer

    big = gym.spaces.Dict({"cam": gym.spaces.Box(0, 255, (32, 32, 3), np.uint8), "state": SPACE["state"]})
    rng = np.random.default_rng(3)
    buffers = []
    for ep, t in enumerate((4, 6)):
        frames = np.repeat(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], 32, axis=0)  # a smooth ramp
        obs = {"cam": [np.roll(frames, i, axis=1).repeat(3, axis=2) for i in range(t + 1)],
               "state": [rng.normal(size=2).astype(np.float32) for _ in range(t + 1)]}
        buffers.append(EpisodeBuffer(seed=ep, observations=obs, actions=[ACT.sample() for _ in range(t)],
                                     rewards=[1.0] * t, terminations=[False] * (t - 1) + [True],
                                     truncations=[False] * t))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = minari.create_dataset_from_buffers(f"ext/cams{int(jpeg)}-v0", buffers, observation_space=big,
                                                    action_space=ACT, algorithm_name="random", jpeg_encoding=jpeg)
    ours = load_minari(minari_root / "ext" / f"cams{int(jpeg)}-v0")
    assert ours.is_dict and ours.obs_layout.image_keys == ("cam",) and ours.n_steps == 10
    for mine, ep, buf in zip(ours.episodes(), theirs.iterate_episodes(), buffers, strict=True):
        assert np.array_equal(mine.obs["cam"], ep.observations["cam"])  # decoded exactly as minari does
        assert np.array_equal(mine.obs["state"], ep.observations["state"])
        err = np.abs(mine.obs["cam"].astype(int) - np.stack(buf.observations["cam"]).astype(int)).mean()
        assert (err == 0) if not jpeg else (0 < err < 3)  # JPEG is lossy, slightly, on a smooth image


def test_task_spec_exposes_the_layout() -> None:
    assert SPEC.obs_layout == ObsLayout.from_space(SPACE)
    with pytest.raises(DataError, match=r"task 'dicty' observes a dict \(cam: uint8 image"):
        SPEC.obs_dim  # noqa: B018
    flat = TaskSpec(name="f", gym_id="F-v0", action_space=ACT, max_steps=9,
                    observation_space=gym.spaces.Box(-1, 1, (3, 2), np.float32))
    assert flat.obs_layout is None and flat.obs_dim == 6
