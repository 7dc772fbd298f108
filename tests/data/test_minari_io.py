"""Minari HDF5 files: round trips, atomic writes and every bad-input case (no minari needed)."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import h5py
import numpy as np
import pytest

from mimetic.data import (
    Dataset,
    deserialize_space,
    io,
    load_minari,
    save_minari,
    serialize_space,
)
from mimetic.errors import DataError
from mimetic.types import Trajectory

ARRAYS = ("obs", "acts", "executed_acts", "rewards", "valid", "costs", "ep_starts", "ep_lengths",
          "terminated", "truncated", "episode_seeds")


def _assert_same(a: Dataset, b: Dataset) -> None:
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.has_labels == b.has_labels


def _one_line(exc: pytest.ExceptionInfo[DataError]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


@pytest.fixture
def labelled(make_discrete, cartpole_spec) -> Dataset:
    ds = Dataset.from_trajectories([make_discrete(4, start=0, seed=11)], spec=cartpole_spec,
                                   metadata={"expert": "pd", "seeds": np.array([11, 12])})
    ds.extend([make_discrete(5, start=20, labels=True, seed=12)], targets="labels")
    return ds


@pytest.fixture
def saved(tmp_path: Path, labelled: Dataset) -> Path:
    return save_minari(labelled, tmp_path / "demos")


def test_round_trip_discrete_with_labels(saved: Path, labelled: Dataset) -> None:
    loaded = load_minari(saved)
    _assert_same(labelled, loaded)
    assert loaded.metadata["task"] == "cartpole" and loaded.metadata["seeds"] == [11, 12]
    assert loaded.metadata["dataset_id"] == "demos-v0"
    assert loaded.action_space == gym.spaces.Discrete(2)
    assert loaded.observation_space == labelled.observation_space
    assert loaded.origin == str(saved)


def test_round_trip_continuous(tmp_path: Path, make_continuous, pendulum_spec) -> None:
    rng = np.random.default_rng(0)
    ds = Dataset.from_trajectories([make_continuous(rng, 6), make_continuous(rng, 3, truncated=True)],
                                   spec=pendulum_spec)
    out = save_minari(ds, tmp_path / "pend", dataset_id="mimetic/pendulum-expert-v2")
    loaded = load_minari(out / "data" / "main_data.hdf5")  # the file itself works too
    _assert_same(ds, loaded)
    assert loaded.truncated.tolist() == [False, True]
    assert loaded.action_space == pendulum_spec.action_space
    assert json.loads((out / "data" / "metadata.json").read_text())["dataset_id"] == "mimetic/pendulum-expert-v2"
    _assert_same(ds, load_minari(out / "data"))


def test_layout_and_metadata(saved: Path) -> None:
    meta = json.loads((saved / "data" / "metadata.json").read_text())
    assert meta["total_episodes"] == 2 and meta["total_steps"] == 9 and meta["data_format"] == "hdf5"
    assert meta["minari_version"] == io.MINARI_VERSION and meta["algorithm_name"] == "pd"
    assert deserialize_space(meta["action_space"]) == gym.spaces.Discrete(2)
    assert meta["mimetic"]["task"] == "cartpole"
    assert json.loads(meta["env_spec"])["id"] == "CartPole-v1"
    with h5py.File(saved / "data" / "main_data.hdf5") as f:
        assert sorted(f.keys()) == ["episode_0", "episode_1"]
        ep = f["episode_1"]
        assert {"observations", "actions", "rewards", "terminations", "truncations", "infos"} <= set(ep.keys())
        assert ep["observations"].shape == (6, 2) and ep["actions"].dtype == np.int64
        assert ep["terminations"][:].tolist() == [False] * 4 + [True]
        assert ep.attrs["seed"] == 12 and ep.attrs["total_steps"] == 5 and ep.attrs["id"] == 1
        assert ep["actions"][:].tolist() == [0, 1, 0, 1, 0]  # executed, not the labels
        assert ep["infos/mimetic/targets"][:].tolist() == [1, 1, 1, 0, 0]  # unlabelled rows: executed
        assert ep["infos/mimetic/valid"][:].tolist() == [True, False, True, True, False]


def test_spaces_serialise_like_minari() -> None:
    box = gym.spaces.Box(low=np.array([-1.0, -np.inf], np.float32), high=np.array([1.0, np.inf], np.float32))
    text = serialize_space(box)
    assert json.loads(text) == {"type": "Box", "dtype": "float32", "shape": [2], "low": [-1.0, -np.inf],
                                "high": [1.0, np.inf]}
    assert deserialize_space(text) == box
    assert deserialize_space(serialize_space(gym.spaces.Discrete(3, start=1))) == gym.spaces.Discrete(3, start=1)
    with pytest.raises(DataError, match="Dict space"):
        deserialize_space(json.dumps({"type": "Dict", "subspaces": {}}))
    with pytest.raises(DataError, match="only Box, Discrete and Dict-of-Box"):
        serialize_space(gym.spaces.MultiBinary(3))


def test_refuses_to_overwrite_unless_asked(tmp_path: Path, saved: Path, labelled: Dataset, make_discrete) -> None:
    with pytest.raises(DataError, match="not empty .*overwrite=True") as exc:
        save_minari(labelled, saved)
    assert str(saved) in _one_line(exc)
    other = Dataset.from_trajectories([make_discrete(2, start=0)])
    save_minari(other, saved, overwrite=True)
    assert load_minari(saved).n_steps == 2
    (tmp_path / "empty").mkdir()
    save_minari(other, tmp_path / "empty")  # an existing empty directory is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demos", "empty"]


def _fail_midway(monkeypatch: pytest.MonkeyPatch) -> None:
    real = io._write_episodes

    def write_then_fail(ds, file, *args):
        real(ds, file, *args)
        raise OSError("disk full")

    monkeypatch.setattr(io, "_write_episodes", write_then_fail)


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path, labelled: Dataset, monkeypatch) -> None:
    _fail_midway(monkeypatch)
    with pytest.raises(DataError, match="could not write Minari dataset .*: disk full"):
        save_minari(labelled, tmp_path / "new" / "nested" / "demos")
    assert list(tmp_path.iterdir()) == []  # no temp dir, no half-made parents


def test_a_failed_overwrite_keeps_the_old_dataset(tmp_path: Path, saved: Path, labelled: Dataset,
                                                  make_discrete, monkeypatch) -> None:
    _fail_midway(monkeypatch)
    with pytest.raises(DataError, match="disk full"):
        save_minari(Dataset.from_trajectories([make_discrete(2, start=0)]), saved, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["demos"]
    _assert_same(labelled, load_minari(saved))


def test_save_rejects_bad_ids_and_metadata(tmp_path: Path, labelled: Dataset) -> None:
    with pytest.raises(DataError, match="not a Minari id"):
        save_minari(labelled, tmp_path / "x", dataset_id="no version")
    labelled.metadata["callback"] = print
    with pytest.raises(DataError, match="cannot be saved as JSON"):
        save_minari(labelled, tmp_path / "x")
    with pytest.raises(DataError, match="pass a directory"):
        save_minari(labelled, tmp_path / "x.hdf5")
    assert list(tmp_path.iterdir()) == []


def _h5(saved: Path) -> Path:
    return saved / "data" / "main_data.hdf5"


def test_load_missing_or_foreign_paths(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as exc:
        load_minari(tmp_path / "nope")
    assert str(tmp_path / "nope") in _one_line(exc)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="is not a Minari dataset"):
        load_minari(tmp_path / "empty")
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"this is not hdf5" * 100)
    with pytest.raises(DataError, match="not a readable HDF5 file") as exc:
        load_minari(junk)
    _one_line(exc)


def test_load_truncated_file(saved: Path) -> None:
    raw = _h5(saved).read_bytes()
    _h5(saved).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=str(saved).replace("\\", "\\\\")) as exc:
        load_minari(saved)
    _one_line(exc)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: f.__delitem__("episode_0"), "missing episode_0"),
        (lambda f: f.__delitem__("episode_1"), "holds 1 episodes but its metadata lists 2"),
        (lambda f: f.__delitem__("episode_1/actions"), "episode_1 has no 'actions' data"),
        (lambda f: (f.__delitem__("episode_0/rewards"), f.create_dataset("episode_0/rewards", data=np.zeros(2))),
         "episode_0 has 5 observations, 4 actions and 2 rewards"),
        (lambda f: f["episode_1/observations"].__setitem__((2, 1), np.nan),
         r"has 1 NaN/inf values in observations \(first in episode 1\)"),
        (lambda f: (f.__delitem__("episode_0/observations"), f.create_group("episode_0/observations")),
         "is a group, but the metadata declares a Box observation space"),
    ],
)
def test_load_damaged_files(saved: Path, damage, message: str) -> None:
    with h5py.File(_h5(saved), "a") as f:
        damage(f)
    with pytest.raises(DataError, match=message) as exc:
        load_minari(saved)
    assert str(saved) in _one_line(exc)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: "{not json", "unreadable metadata.json"),
        (lambda m: {**m, "data_format": "arrow"}, "'arrow' format"),
        (lambda m: {**m, "observation_space": json.dumps({"type": "Dict", "subspaces": {}})}, "Dict space"),
        (lambda m: {**m, "action_space": json.dumps({"type": "Tuple", "subspaces": []})}, "Tuple space"),
        (lambda m: {**m, "action_space": serialize_space(gym.spaces.Dict({"a": gym.spaces.Box(0, 1, (2,))}))},
         "has Dict actions; only Box and Discrete"),
        (lambda m: {**m, "action_space": json.dumps({"type": "Discrete"})}, "malformed space"),
        (lambda m: {**m, "action_space": serialize_space(gym.spaces.Discrete(1))},
         r"has 4 actions outside \[0, 1\) of its recorded space"),
    ],
)
def test_load_bad_metadata(saved: Path, edit, message: str) -> None:
    file = saved / "data" / "metadata.json"
    new = edit(json.loads(file.read_text()))
    file.write_text(new if isinstance(new, str) else json.dumps(new))
    with pytest.raises(DataError, match=message) as exc:
        load_minari(saved)
    assert str(saved) in _one_line(exc)


def test_load_without_metadata_infers_spaces(saved: Path, labelled: Dataset) -> None:
    (saved / "data" / "metadata.json").unlink()
    loaded = load_minari(_h5(saved))
    _assert_same(labelled, loaded)
    assert loaded.action_space is None and loaded.discrete


def test_zero_step_episodes_survive_a_round_trip(tmp_path: Path) -> None:
    ds = Dataset.from_trajectories([Trajectory(obs=np.ones((1, 2), np.float32), acts=np.zeros(0, np.int64),
                                               rewards=np.zeros(0), terminated=False, truncated=False)])
    _assert_same(ds, load_minari(save_minari(ds, tmp_path / "d")))
