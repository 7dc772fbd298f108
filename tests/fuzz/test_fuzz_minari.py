"""Fuzzing load_minari: corrupt bytes, corrupt metadata.json, structurally damaged HDF5 files.

Property: load_minari either returns a dataset or raises one line of MimeticError (DataError),
within the time bound and the memory cap of fuzzlib.isolated.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import h5py
import numpy as np
import pytest
from fuzzlib import NASTY_NUMBERS, corrupt_bytes, damaged_copy, fuzz, isolated, json_text, mutate_json, pick
from hypothesis import given
from hypothesis import strategies as st

from mimetic.data import Dataset, load_minari, save_minari
from mimetic.envs.base import TaskSpec
from mimetic.types import Trajectory

MAIN = Path("data") / "main_data.hdf5"
META = Path("data") / "metadata.json"


def _discrete(t: int, *, start: float, labels: bool, seed: int) -> Trajectory:
    obs = np.stack([start + np.arange(t + 1), np.full(t + 1, 0.5)], axis=1).astype(np.float32)  # (T+1, 2)
    acts = np.arange(t) % 2  # (T,)
    return Trajectory(obs=obs, acts=acts, rewards=np.arange(t, dtype=np.float64), terminated=True, truncated=False,
                      costs=np.full(t, 0.25), labels=(1 - acts) if labels else None,
                      labeled=(np.arange(t) % 3 != 1) if labels else None,
                      expert_acted=np.arange(t) % 2 == 0, seed=seed)


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Valid datasets to damage: ours (discrete, labelled, every extra; continuous) and, when the
    minari package is installed, one written by minari itself."""
    root = tmp_path_factory.mktemp("minari-templates")
    spec = TaskSpec(name="cartpole", gym_id="CartPole-v1",
                    observation_space=gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),
                    action_space=gym.spaces.Discrete(2), max_steps=50)
    ds = Dataset.from_trajectories([_discrete(4, start=0, labels=False, seed=11)], spec=spec,
                                   metadata={"expert": "pd", "max_steps": 50})
    ds.extend([_discrete(5, start=20, labels=True, seed=12), _discrete(0, start=9, labels=True, seed=13)],
              targets="labels")
    out = {"discrete": save_minari(ds, root / "discrete")}
    rng = np.random.default_rng(0)
    pend = TaskSpec(name="pendulum", gym_id="Pendulum-v1",
                    observation_space=gym.spaces.Box(-8.0, 8.0, (3,), np.float32),
                    action_space=gym.spaces.Box(-2.0, 2.0, (1,), np.float32), max_steps=200)
    trajs = [Trajectory(obs=rng.uniform(-1, 1, (t + 1, 3)).astype(np.float32),
                        acts=rng.uniform(-2, 2, (t, 1)).astype(np.float32), rewards=rng.normal(size=t),
                        terminated=False, truncated=True) for t in (3, 6)]
    out["continuous"] = save_minari(Dataset.from_trajectories(trajs, spec=pend), root / "continuous")
    out.update(_minari_written(root))
    for path in out.values():
        load_minari(path)  # every template is valid to begin with
    return out


def _minari_written(root: Path) -> dict[str, Path]:
    try:
        from minari import create_dataset_from_buffers
        from minari.data_collector import EpisodeBuffer
    except ImportError:
        return {}
    env = gym.make("CartPole-v1")
    buffers = []
    for ep in range(2):
        obs, _ = env.reset(seed=ep)
        o, a, r, te, tr = [obs], [], [], [], []
        for t in range(4):
            obs, rew, term, _, _ = env.step(t % 2)
            o.append(obs), a.append(t % 2), r.append(rew), te.append(term), tr.append(t == 3)
        buffers.append(EpisodeBuffer(seed=ep, observations=o, actions=a, rewards=r, terminations=te, truncations=tr))
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root / "minari")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # minari's advice to name an author, a code permalink, ...
            create_dataset_from_buffers("fuzz/cartpole-v0", buffers, env=env, algorithm_name="random")
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH")
        else:
            os.environ["MINARI_DATASETS_PATH"] = old
    return {"minari": root / "minari" / "fuzz" / "cartpole-v0"}


def _load(path: Path) -> Callable[[], int]:
    def run() -> int:
        return load_minari(path).n_steps

    return run


# --------------------------------------------------------------------------- bytes and JSON


@fuzz(examples=60)
@given(data=st.data())
def test_corrupt_hdf5_bytes(templates, data) -> None:
    def damage(root: Path) -> None:
        (root / MAIN).write_bytes(corrupt_bytes(data, (root / MAIN).read_bytes()))

    with damaged_copy(pick(templates, data), damage) as path:
        isolated(_load(path)).check("corrupt main_data.hdf5", keep=path)


@fuzz(examples=80)
@given(data=st.data())
def test_corrupt_metadata_json(templates, data) -> None:
    def damage(root: Path) -> None:
        (root / META).write_bytes(json_text(data, json.loads((root / META).read_text())))

    with damaged_copy(pick(templates, data), damage) as path:
        isolated(_load(path)).check("corrupt metadata.json", keep=path)


# --------------------------------------------------------------------------- HDF5 structure

DTYPES = [np.int8, np.uint8, np.int64, np.uint64, np.float16, np.float64, np.bool_, np.complex64, "S4", "compound",
          "vlen-str"]


def _with_dtype(x: np.ndarray, dtype: object) -> np.ndarray:
    if dtype == "compound":
        out = np.zeros(x.shape[:1], dtype=[("a", "f4"), ("b", "i4")])
        return out
    if dtype == "vlen-str":
        return np.array(["x"] * len(x), dtype=h5py.string_dtype()) if x.ndim else np.array("x", h5py.string_dtype())
    if dtype == "S4":
        return np.full(x.shape, b"ab", "S4")
    with np.errstate(all="ignore"):
        return x.astype(dtype)


def _reshaped(data: st.DataObject, x: np.ndarray) -> np.ndarray:
    how = data.draw(st.sampled_from(["extra-dim", "flatten", "scalar", "transpose", "wide"]), label="reshape")
    if how == "extra-dim":
        return np.repeat(x[..., None], 2, axis=-1)
    if how == "flatten":
        return x.reshape(-1)
    if how == "scalar":
        return np.asarray(x.flat[0] if x.size else 0)
    if how == "transpose":
        return x.T.copy()
    return np.zeros((len(x), 7), x.dtype) if x.ndim else np.zeros((1, 7), x.dtype)


def _relength(data: st.DataObject, x: np.ndarray) -> np.ndarray:
    n = data.draw(st.sampled_from([0, 1, max(len(x) - 1, 0), len(x) + 1, 3 * len(x) + 2]), label="length")
    if len(x) == 0:
        return np.zeros((n, *x.shape[1:]), x.dtype)
    return np.resize(x, (n, *x.shape[1:]))


def _values(data: st.DataObject, x: np.ndarray) -> np.ndarray:
    v = data.draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e38, -1, 2**62, 7]), label="value")
    with np.errstate(all="ignore"):
        if x.dtype.kind == "f":
            return np.full(x.shape, v, x.dtype)
        if x.dtype.kind in "iu":
            return np.full(x.shape, int(v) if abs(v) <= 2**62 else -(2**40), np.int64)
    return x


def _replace(parent: h5py.Group, key: str, new: np.ndarray) -> None:
    del parent[key]
    parent.create_dataset(key, data=new)


ATTR_VALUES = st.one_of(NASTY_NUMBERS.filter(lambda v: not isinstance(v, int) or abs(v) < 2**63),
                        st.sampled_from(["12", "x", b"7", ""]),
                        st.just(np.array([1, 2, 3])), st.just(np.array([], np.int64)), st.just(np.uint64(2**64 - 1)))


def _mutate_hdf5(data: st.DataObject, file: Path) -> None:
    with h5py.File(file, "r+") as f:
        for _ in range(data.draw(st.integers(1, 3), label="rounds")):
            names: list[str] = []
            f.visit(names.append)
            # (an absurd dataset made by an earlier round is not read again: it is declared, not stored)
            datasets = sorted(n for n in names if isinstance(f[n], h5py.Dataset) and f[n].size < 10**6)
            groups = sorted(n for n in names if isinstance(f[n], h5py.Group))
            op = data.draw(st.sampled_from(["delete", "dtype", "shape", "length", "values", "absurd", "to-group",
                                            "to-dataset", "attr", "rename", "extra-episode", "empty-episode"]),
                           label="op")
            if op in ("delete", "to-dataset", "attr", "rename") and not groups and op != "delete":
                continue
            if op in ("dtype", "shape", "length", "values", "absurd", "to-group") and not datasets:
                continue
            if op == "delete" and names:
                del f[data.draw(st.sampled_from(sorted(names)), label="node")]
            elif op in ("dtype", "shape", "length", "values", "absurd", "to-group"):
                name = data.draw(st.sampled_from(datasets), label="dataset")
                parent, key = f[name].parent, name.rsplit("/", 1)[-1]
                x = f[name][()]
                if x.dtype.kind not in "biuf" and op in ("dtype", "shape", "length", "values"):
                    continue  # (an earlier round's strings or records stay as they are)
                if op == "dtype":
                    _replace(parent, key, _with_dtype(x, data.draw(st.sampled_from(DTYPES), label="dtype")))
                elif op == "shape":
                    _replace(parent, key, _reshaped(data, x))
                elif op == "length":
                    if x.ndim:
                        _replace(parent, key, _relength(data, x))
                elif op == "values":
                    _replace(parent, key, _values(data, x))
                elif op == "absurd":  # declared, never written: the file stays tiny, reading it would not
                    rows = data.draw(st.sampled_from([10**9, 10**12, 2**40]), label="rows")
                    shape = (rows, *x.shape[1:]) if x.ndim else (rows,)
                    del parent[key]
                    parent.create_dataset(key, shape=shape, dtype=x.dtype if x.dtype.kind in "fiub" else "f8",
                                          chunks=(min(rows, 1024), *shape[1:]), maxshape=(None, *shape[1:]))
                else:  # to-group
                    del parent[key]
                    parent.create_group(key)
            elif op == "to-dataset":
                name = data.draw(st.sampled_from(groups), label="group")
                parent, key = f[name].parent, name.rsplit("/", 1)[-1]
                del parent[key]
                parent.create_dataset(key, data=np.zeros(3))
            elif op == "attr":
                g = f[data.draw(st.sampled_from(groups), label="group")]
                key = data.draw(st.sampled_from(["seed", "total_steps", "id"]), label="attr")
                if data.draw(st.booleans(), label="delete attr") and key in g.attrs:
                    del g.attrs[key]
                else:
                    g.attrs[key] = data.draw(ATTR_VALUES, label="attr value")
            elif op == "rename":
                episodes = sorted(n for n in f if n.startswith("episode_"))
                if episodes:
                    new = data.draw(st.sampled_from(["episode_99", "episode_-1", "episode_01", "episode_x",
                                                     "episode_99999999999999999999"]), label="new name")
                    if new not in f:
                        f.move(data.draw(st.sampled_from(episodes), label="episode"), new)
            elif op == "extra-episode":
                f.require_group(f"episode_{sum(n.startswith('episode_') for n in f)}")
            elif op == "empty-episode":
                episodes = sorted(n for n in f if n.startswith("episode_"))
                if episodes:
                    g = f[data.draw(st.sampled_from(episodes), label="episode")]
                    for key in ("observations", "actions", "rewards", "terminations", "truncations"):
                        if key in g and isinstance(g[key], h5py.Dataset) and g[key].size < 10**6:
                            x = g[key][()]
                            if x.ndim:
                                _replace(g, key, x[:1] if key == "observations" else x[:0])


@fuzz(examples=100)
@given(data=st.data())
def test_structurally_damaged_hdf5(templates, data) -> None:
    with damaged_copy(pick(templates, data), lambda root: _mutate_hdf5(data, root / MAIN)) as path:
        isolated(_load(path)).check("damaged main_data.hdf5", keep=path)


@fuzz(examples=40)
@given(data=st.data())
def test_damaged_hdf5_and_metadata_together(templates, data) -> None:
    def damage(root: Path) -> None:
        _mutate_hdf5(data, root / MAIN)
        (root / META).write_text(json.dumps(mutate_json(data, json.loads((root / META).read_text())),
                                            allow_nan=True))

    with damaged_copy(pick(templates, data), damage) as path:
        isolated(_load(path)).check("damaged file and metadata", keep=path)


# --------------------------------------------------------------------------- regressions
# Crashes the properties above found, each kept as one fixed example (the drawn sequences above
# need not keep drawing them). "refused": the file must be rejected in one line; "ok": the damage
# is to a field load_minari may ignore, so it must just not crash.


def _set_meta(key: str, value: object) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        meta = json.loads((root / META).read_text())
        meta[key] = value
        (root / META).write_text(json.dumps(meta))

    return damage


def _replace_in(name: str, data: np.ndarray) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        with h5py.File(root / MAIN, "r+") as f:
            del f[name]
            f.create_dataset(name, data=data)

    return damage


REGRESSIONS = {
    "Discrete n past int64 (OverflowError)": ("refused", _set_meta("action_space", json.dumps(
        {"type": "Discrete", "n": 10**30}))),
    "space nested too deep (RecursionError)": ("refused", _set_meta("action_space", "[" * 100_000)),
    "Box of 2 GB strings (allocation)": ("refused", _set_meta("observation_space", json.dumps(
        {"type": "Box", "dtype": "S2000000000", "shape": [2], "low": 0, "high": 1}))),
    "env_spec nested too deep (RecursionError)": ("ok", _set_meta("env_spec", "[" * 100_000)),
    "targets of another shape": ("refused", _replace_in("episode_1/infos/mimetic/targets",
                                                         np.zeros((5, 2), np.int64))),
    "expert_acted of strings (ValueError)": ("refused", _replace_in("episode_1/infos/mimetic/expert_acted",
                                                                     np.full(5, b"yes"))),
    "complex actions (silently dropped parts)": ("refused", _replace_in("episode_0/actions", np.zeros(4, complex))),
    "episode count not a number": ("refused", _set_meta("total_episodes", "three")),
    "mimetic entry names a non-string Gymnasium id": ("refused", _set_meta("mimetic", {"gym_id": ["CartPole-v1"]})),
}


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_regressions(templates, case) -> None:
    expect, damage = REGRESSIONS[case]
    with damaged_copy(templates["discrete"], damage) as path:
        out = isolated(_load(path)).check(case)
    assert out.kind == {"ok": "ok", "refused": "error"}[expect], out
    if out.kind == "error":
        assert str(path) in out.message, out.message


def test_env_spec_ids_are_names(templates) -> None:
    """A non-string id in minari's env_spec is not taken as the dataset's Gymnasium id."""
    meta = json.loads((templates["minari"] / META).read_text()) if "minari" in templates else None
    if meta is None:
        pytest.skip("minari is not installed")

    def damage(root: Path) -> None:
        spec = json.loads(meta["env_spec"])
        spec["id"] = 5
        _set_meta("env_spec", json.dumps(spec))(root)

    with damaged_copy(templates["minari"], damage) as path:
        assert "gym_id" not in load_minari(path).metadata
