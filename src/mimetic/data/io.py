"""Read and write datasets in the Minari HDF5 format, without importing minari.

On-disk layout (what ``minari`` 0.5.x writes with its HDF5 backend)::

    <dataset dir>/data/metadata.json     dataset metadata (JSON; spaces as JSON strings)
    <dataset dir>/data/main_data.hdf5    groups episode_0 .. episode_{E-1}, each with
        observations (T+1, *O)   actions (T, *A)   rewards (T,) float64
        terminations (T,) bool   truncations (T,) bool   infos/ (group)
        attrs: id, total_steps, seed (when known)

A ``Dict`` observation space is a group ``observations/<key>`` of (T+1, *shape) arrays, as
minari writes it. We store image keys as raw uint8, one frame per compressed (lzf) chunk so a
reader can fetch frames singly, and say so with ``jpeg_encoding: false``; datasets minari made
with its default JPEG encoding of image spaces are decoded on load (Pillow).

mimetic's own per-step extras sit in ``infos/mimetic/`` (step-aligned: row t is step t, unlike
DataCollector info arrays, which start with the reset info): ``targets``/``valid`` for expert
labels (``actions`` always hold the executed actions), ``costs`` and ``expert_acted``. Our
dataset metadata (task, expert, seeds, ...) is the ``mimetic`` entry of metadata.json. Minari
ignores both, so ``minari.load_dataset`` reads our files, and datasets made by minari load here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gymnasium as gym
import h5py
import numpy as np

from mimetic.atomic import AtomicDirectory, make_parents, remove_dirs
from mimetic.data.dataset import Dataset
from mimetic.errors import DataError
from mimetic.limits import check_bytes
from mimetic.observations import DictObs, ObsLayout
from mimetic.types import Trajectory

MINARI_VERSION = "0.5.4"  # the minari release whose HDF5 layout we write (checked against it in tests)
MAIN_FILE = "main_data.hdf5"
METADATA_FILE = "metadata.json"
# minari's dataset id grammar, (namespace/)name-v<version>; minari requires the version
DATASET_ID_RE = re.compile(r"^(?:(?P<namespace>[-_\w][-_\w/]*[-_\w]+)/)?(?P<name>[-_\w]+?)-v(?P<version>\d+)$")
_EPISODE_RE = re.compile(r"^episode_(\d+)$")
_STEP_KEYS = ("actions", "rewards", "terminations", "truncations")
_EXTRAS = "mimetic"  # our group inside each episode's infos and our key in metadata.json


# --------------------------------------------------------------------------- spaces


def serialize_space(space: gym.spaces.Space) -> str:
    """JSON for a Box, Discrete or Dict-of-Box space, exactly as minari's ``serialize_space`` writes it."""
    return json.dumps(_space_json(space))


def _space_json(space: gym.spaces.Space, *, nested: bool = False) -> dict[str, Any]:
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "dtype": str(space.dtype), "shape": list(space.shape),
                "low": space.low.tolist(), "high": space.high.tolist()}
    if isinstance(space, gym.spaces.Discrete):
        # minari hard-codes int64 for Discrete, as Gymnasium does
        return {"type": "Discrete", "dtype": "int64", "start": int(space.start), "n": int(space.n)}
    if isinstance(space, gym.spaces.Dict) and not nested:
        return {"type": "Dict", "subspaces": {k: _space_json(v, nested=True) for k, v in space.spaces.items()}}
    raise DataError(f"cannot save a {type(space).__name__} space{' inside a Dict' if nested else ''}: only Box, "
                    "Discrete and Dict-of-Box spaces are supported")


def deserialize_space(text: str, *, where: str = "dataset") -> gym.spaces.Space:
    """The Box, Discrete or Dict-of-Box space from minari's JSON; other space types raise DataError."""
    try:
        d = json.loads(text) if isinstance(text, str) else text
        kind = d["type"]
        if kind == "Dict" and isinstance(d.get("subspaces"), dict):
            subs = {str(k): _box_only(deserialize_space(v, where=f"{where} key {k!r}"), k, where)
                    for k, v in d["subspaces"].items()}
            if not subs:
                raise DataError(f"{where} has a Dict space with no keys")
            return gym.spaces.Dict(list(subs.items()))
        if kind == "Box":
            dtype = np.dtype(d["dtype"])
            if dtype.kind not in "biuf":  # refused before numpy makes bounds of it (an "S2000000000" is 2 GB)
                raise DataError(f"{where} has a Box space of {dtype} values; only numbers are supported")
            return gym.spaces.Box(low=np.array(d["low"], dtype=dtype), high=np.array(d["high"], dtype=dtype),
                                  shape=tuple(d["shape"]), dtype=dtype)
        if kind == "Discrete":
            return gym.spaces.Discrete(n=int(d["n"]), start=int(d.get("start", 0)))
    except RecursionError:  # json's decoder recurses once per nesting level
        raise DataError(f"{where} has a malformed space description (nested too deeply)") from None
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # Overflow: n or bounds past int64
        raise DataError(f"{where} has a malformed space description ({_one_line(exc)})") from None
    if kind in ("Dict", "Tuple"):
        raise DataError(f"{where} uses a {kind} space; only Box or Dict-of-Box observations and Box/Discrete "
                        "actions are supported (flatten the space first)")
    raise DataError(f"{where} uses a {kind} space; only Box, Discrete and Dict-of-Box spaces are supported")


def _box_only(space: gym.spaces.Space, key: str, where: str) -> gym.spaces.Space:
    if not isinstance(space, gym.spaces.Box):
        raise DataError(f"{where} has a {type(space).__name__} space under Dict key {key!r}; only Box subspaces "
                        "are supported (flatten nested spaces first)")
    return space


def _infer_spaces(ds: Dataset) -> tuple[gym.spaces.Space, gym.spaces.Space]:
    """Recorded spaces, or the loosest ones the data fits (minari needs both)."""
    if ds.obs_layout is not None:
        obs_space = ds.observation_space or ds.obs_layout.space()
    else:
        obs_space = ds.observation_space or gym.spaces.Box(-np.inf, np.inf, ds.obs_shape, np.float32)
    act_space = ds.action_space
    if act_space is None and ds.discrete:
        n = int(max(ds.acts.max(initial=0), ds.executed_acts.max(initial=0))) + 1
        act_space = gym.spaces.Discrete(n)
    elif act_space is None:
        act_space = gym.spaces.Box(-np.inf, np.inf, ds.act_shape, np.float32)
    return obs_space, act_space


# --------------------------------------------------------------------------- save


def save_minari(
    dataset: Dataset,
    path: str | os.PathLike[str],
    *,
    dataset_id: str | None = None,
    overwrite: bool = False,
    author: str | None = None,
    author_email: str | None = None,
    algorithm_name: str | None = None,
    description: str | None = None,
) -> Path:
    """Write ``dataset`` as a Minari dataset directory at ``path`` (atomically); returns ``path``.

    For ``minari.load_dataset(dataset_id)`` to find it, ``path`` must be
    ``$MINARI_DATASETS_PATH/<dataset_id>``; the id defaults to that relative path when ``path`` is
    under $MINARI_DATASETS_PATH, else to the directory name (``-v0`` appended if it has no version).
    """
    target = Path(path)
    if target.suffix in (".hdf5", ".h5"):
        raise DataError(f"save_minari writes a dataset directory; pass a directory, not the file {target}")
    if target.exists() and not target.is_dir():
        raise DataError(f"cannot save dataset to {target}: it exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise DataError(f"cannot save dataset to {target}: it exists and is not empty (pass overwrite=True)")
    obs_space, act_space = _infer_spaces(dataset)
    meta = _minari_metadata(dataset, _dataset_id(target, dataset_id, dataset), obs_space, act_space,
                            author=author, author_email=author_email,
                            algorithm_name=algorithm_name or dataset.metadata.get("expert"),
                            description=description)
    try:
        with _atomic_directory(target, overwrite=overwrite) as tmp:
            data_dir = tmp / "data"
            data_dir.mkdir()
            _write_episodes(dataset, data_dir / MAIN_FILE, obs_space, act_space)
            meta["dataset_size"] = round((data_dir / MAIN_FILE).stat().st_size / 1e6, 1)
            _write_text(data_dir / METADATA_FILE, json.dumps(meta))
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise DataError(f"could not write Minari dataset {target}: {_one_line(exc)}") from None
    return target


def _dataset_id(target: Path, dataset_id: str | None, ds: Dataset) -> str:
    if dataset_id is None:
        root = os.environ.get("MINARI_DATASETS_PATH")
        rel = None
        if root:
            try:
                rel = target.resolve().relative_to(Path(root).resolve()).as_posix()
            except ValueError:
                rel = None
        if rel and DATASET_ID_RE.match(rel):
            dataset_id = rel
        elif DATASET_ID_RE.match(target.name):
            dataset_id = target.name
        else:
            dataset_id = re.sub(r"[^-\w]", "_", target.name or str(ds.metadata.get("task", "dataset"))) + "-v0"
    if not DATASET_ID_RE.match(dataset_id):
        raise DataError(f"dataset_id {dataset_id!r} is not a Minari id; use (namespace/)name-v<version>, "
                        "e.g. 'mimetic/cartpole-expert-v0'")
    return dataset_id


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _minari_metadata(ds: Dataset, dataset_id: str, obs_space: gym.spaces.Space, act_space: gym.spaces.Space,
                     *, author: str | None, author_email: str | None, algorithm_name: str | None,
                     description: str | None) -> dict[str, Any]:
    """metadata.json as minari's create_dataset_from_buffers writes it, plus our ``mimetic`` entry."""
    ours = {k: v for k, v in ds.metadata.items() if k != "dataset_id"}  # the id lives at top level
    try:
        ours = json.loads(json.dumps(ours, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise DataError(f"dataset metadata cannot be saved as JSON: {exc}") from None
    meta: dict[str, Any] = {
        "total_episodes": ds.n_episodes, "total_steps": ds.n_steps, "data_format": "hdf5",
        "jpeg_encoding": False,  # we store raw arrays; minari would otherwise JPEG-decode image spaces
        "observation_space": serialize_space(obs_space), "action_space": serialize_space(act_space),
    }
    env_spec = _env_spec_json(ds.metadata.get("gym_id"))
    if env_spec is not None:
        meta["env_spec"] = env_spec
    meta["dataset_id"] = dataset_id
    for key, value in (("author", author), ("author_email", author_email)):
        if value is not None:
            meta[key] = [value]  # minari keeps these as sets, saved as JSON lists
    if algorithm_name is not None:
        meta["algorithm_name"] = str(algorithm_name)
    if description is not None:
        meta["description"] = description
    meta["minari_version"] = MINARI_VERSION
    meta[_EXTRAS] = ours
    return meta


def _env_spec_json(gym_id: Any) -> str | None:
    """The registered Gymnasium EnvSpec as JSON (minari's ``env_spec``), when there is one."""
    if not isinstance(gym_id, str):
        return None
    try:
        return gym.spec(gym_id).to_json()
    except (gym.error.Error, TypeError, ValueError):
        return None  # unregistered, or kwargs that JSON cannot hold: minari then relies on the spaces


def _write_episodes(ds: Dataset, file: Path, obs_space: gym.spaces.Space, act_space: gym.spaces.Space) -> None:
    obs_dtype = obs_space.dtype if isinstance(obs_space, gym.spaces.Box) else np.float32
    dict_dtypes = ({k: np.dtype(v.dtype) for k, v in obs_space.spaces.items()}
                   if isinstance(obs_space, gym.spaces.Dict) else {})
    act_dtype = act_space.dtype if isinstance(act_space, gym.spaces.Box) else np.int64
    with h5py.File(file, "w", track_order=True) as f:
        for e, traj in enumerate(ds.episodes()):
            g = f.create_group(f"episode_{e}")
            g.attrs["id"] = np.int64(e)
            if traj.seed is not None:
                g.attrs["seed"] = np.int64(traj.seed)
            g.attrs["total_steps"] = np.int64(len(traj))
            ends = np.zeros(len(traj), bool)  # (T,) minari flags every step; only the last can be set
            if isinstance(traj.obs, DictObs):
                group = g.create_group("observations")
                for key, arr in traj.obs.items():
                    _put(group, key, np.asarray(arr, dict_dtypes.get(key, arr.dtype)), frames=arr.dtype == np.uint8)
            else:
                _put(g, "observations", np.asarray(traj.obs, obs_dtype))
            _put(g, "actions", np.asarray(traj.acts, act_dtype))
            _put(g, "rewards", np.asarray(traj.rewards, np.float64))
            _put(g, "terminations", _last_set(ends, traj.terminated))
            _put(g, "truncations", _last_set(ends, traj.truncated))
            extras = g.create_group("infos").create_group(_EXTRAS)
            if traj.labels is not None:
                _put(extras, "targets", np.asarray(traj.labels, act_dtype))
                _put(extras, "valid", np.asarray(traj.labeled, bool))
            if traj.costs is not None:
                _put(extras, "costs", np.asarray(traj.costs, np.float64))
            if traj.expert_acted is not None:
                _put(extras, "expert_acted", np.asarray(traj.expert_acted, bool))
    _fsync(file)


def _last_set(flags: np.ndarray, value: bool) -> np.ndarray:
    out = flags.copy()
    if len(out):
        out[-1] = value
    return out


def _put(group: h5py.Group, name: str, data: np.ndarray, *, frames: bool = False) -> None:
    # chunked and resizable along time like minari's own datasets, so minari can append to them;
    # uint8 frames one per lzf chunk: a lazy reader decodes exactly the frames it asks for
    if len(data) and frames and data.ndim >= 3:
        group.create_dataset(name, data=data, chunks=(1, *data.shape[1:]), maxshape=(None, *data.shape[1:]),
                             compression="lzf")
    elif len(data):
        group.create_dataset(name, data=data, chunks=True, maxshape=(None, *data.shape[1:]))
    else:
        group.create_dataset(name, data=data)


def _write_text(file: Path, text: str) -> None:
    with open(file, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync(file: Path) -> None:
    fd = os.open(file, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _atomic_directory(target: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``target`` only if the block succeeds;
    on any failure neither it nor parents created here remain."""
    created = make_parents(target)
    try:
        with AtomicDirectory(target, replace=overwrite) as tmp:
            yield tmp
    except BaseException:
        remove_dirs(created)
        raise


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- load


def load_minari(path: str | os.PathLike[str]) -> Dataset:
    """Read a Minari HDF5 dataset (ours or minari's): the dataset directory, its ``data``
    directory, or ``main_data.hdf5``. Always checks that the values are finite."""
    where = Path(path)
    data_dir, main = _locate(where)
    meta = _read_metadata(data_dir / METADATA_FILE, where)
    obs_space = _space_from(meta, "observation_space", where)
    act_space = _space_from(meta, "action_space", where)
    try:
        f = h5py.File(main, "r")
    except OSError as exc:
        raise DataError(f"{main} is not a readable HDF5 file (truncated or corrupt?): {_one_line(exc)}") from None
    try:
        with f:
            trajs = _read_episodes(f, meta, obs_space, where)
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise DataError(f"cannot read Minari dataset {where}: {_one_line(exc)}") from None
    ds = _build(trajs, meta, obs_space, act_space, where)
    ds.origin = str(where)
    ds.validate()
    return ds


def _locate(where: Path) -> tuple[Path, Path]:
    """(directory holding metadata.json, the main HDF5 file)."""
    if not where.exists():
        raise DataError(f"no Minari dataset at {where}: the path does not exist")
    if where.is_file():
        return where.parent, where
    for data_dir in (where / "data", where):
        if (data_dir / MAIN_FILE).is_file():
            return data_dir, data_dir / MAIN_FILE
    for data_dir in (where / "data", where):
        if (data_dir / METADATA_FILE).is_file():
            fmt = _read_metadata(data_dir / METADATA_FILE, where).get("data_format", "hdf5")
            raise DataError(f"Minari dataset {where} uses the {fmt!r} format; only 'hdf5' is supported "
                            f"(or its {MAIN_FILE} is missing)")
    raise DataError(f"{where} is not a Minari dataset: no data/{MAIN_FILE} inside")


def _read_metadata(file: Path, where: Path) -> dict[str, Any]:
    """metadata.json, or {} when absent (a bare main_data.hdf5: spaces are inferred)."""
    if not file.is_file():
        return {}
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"Minari dataset {where} has an unreadable {METADATA_FILE}: {_one_line(exc)}") from None
    except RecursionError:  # json's decoder recurses once per nesting level
        raise DataError(f"Minari dataset {where} has an unreadable {METADATA_FILE}: nested too deeply") from None
    if not isinstance(meta, dict):
        raise DataError(f"Minari dataset {where} has a malformed {METADATA_FILE} (not a JSON object)")
    if meta.get("data_format", "hdf5") != "hdf5":
        raise DataError(f"Minari dataset {where} uses the {meta['data_format']!r} format; "
                        "only 'hdf5' is supported")
    return meta


def _space_from(meta: dict[str, Any], key: str, where: Path) -> gym.spaces.Space | None:
    if key not in meta:
        return None
    space = deserialize_space(meta[key], where=f"Minari dataset {where}")
    if key == "observation_space" and not isinstance(space, (gym.spaces.Box, gym.spaces.Dict)):
        raise DataError(f"Minari dataset {where} has {type(space).__name__} observations; only Box and "
                        "Dict-of-Box observations are supported")
    if key == "action_space" and not isinstance(space, (gym.spaces.Box, gym.spaces.Discrete)):
        raise DataError(f"Minari dataset {where} has {type(space).__name__} actions; only Box and Discrete "
                        "actions are supported")
    if key == "observation_space" and isinstance(space, gym.spaces.Dict):
        ObsLayout.from_space(space, where=f"Minari dataset {where}'s observation space")  # one-line refusals
    return space


def _read_episodes(f: h5py.File, meta: dict[str, Any], obs_space: gym.spaces.Space | None,
                   where: Path) -> list[Trajectory]:
    ids = sorted(int(m.group(1)) for m in map(_EPISODE_RE.match, f.keys()) if m)
    missing = sorted(set(range(len(ids))) - set(ids))
    if missing:
        raise DataError(f"Minari dataset {where} is missing episode_{missing[0]} (the file is incomplete)")
    total = meta.get("total_episodes")
    if total is not None and (not isinstance(total, int) or isinstance(total, bool)):
        raise DataError(f"Minari dataset {where} has a malformed {METADATA_FILE}: total_episodes is "
                        f"{repr(total)[:40]}, not a count")
    if total is not None and total != len(ids):
        raise DataError(f"Minari dataset {where} holds {len(ids)} episodes but its metadata lists {total} "
                        "(the file is incomplete)")
    jpeg = bool(meta.get("jpeg_encoding", True))  # minari's default: image spaces are JPEG-encoded
    for i in ids:  # (`key in` on a dataset would iterate over its rows: for ever, for a huge one)
        if not isinstance(f[f"episode_{i}"], h5py.Group):
            raise DataError(f"Minari dataset {where}: episode_{i} is an array, not a group of episode data")
    return [_read_episode(f[f"episode_{i}"], f"episode_{i}", where, obs_space, jpeg) for i in ids]


def _is_jpeg_space(space: gym.spaces.Space | None) -> bool:
    """minari's rule for the spaces it JPEG-encodes: uint8 Box images of at least 32x32 in [0, 255]."""
    return (isinstance(space, gym.spaces.Box) and len(space.shape) in (2, 3) and space.shape[0] >= 32
            and space.shape[1] >= 32 and space.dtype == np.uint8
            and bool(np.all(space.low == 0)) and bool(np.all(space.high == 255)))


def _read_obs(g: h5py.Group, name: str, where: Path, space: gym.spaces.Space | None, jpeg: bool) -> Any:
    """An episode's observations: an array, or a DictObs for a Dict space (a group of arrays)."""
    if "observations" not in g:
        raise DataError(f"Minari dataset {where}: {name} has no 'observations' data (the file is incomplete)")
    node = g["observations"]
    if isinstance(node, h5py.Group):
        if space is not None and not isinstance(space, gym.spaces.Dict):
            raise DataError(f"Minari dataset {where}: {name}/observations is a group, but the metadata "
                            f"declares a {type(space).__name__} observation space")
        keys = list(node.keys()) if space is None else list(space.spaces)
        if space is not None and sorted(node.keys()) != sorted(keys):
            raise DataError(f"Minari dataset {where}: {name}/observations has keys {sorted(node.keys())} but the "
                            f"observation space has {sorted(keys)}")
        if not keys:
            raise DataError(f"Minari dataset {where}: {name}/observations is an empty group")
        sub = {} if space is None else dict(space.spaces)
        return DictObs({k: _read_leaf(node, k, f"{name}/observations", where, sub.get(k), jpeg) for k in keys})
    if isinstance(space, gym.spaces.Dict):
        raise DataError(f"Minari dataset {where}: {name}/observations is one array, but the metadata declares "
                        "a Dict observation space")
    return _read_leaf(g, "observations", name, where, space, jpeg)


def _read_leaf(g: h5py.Group, key: str, name: str, where: Path, space: gym.spaces.Space | None,
               jpeg: bool) -> np.ndarray:
    if not (jpeg and _is_jpeg_space(space)):
        return _dataset(g, key, where, name, role="observations")
    assert isinstance(space, gym.spaces.Box)
    node = g[key]
    if not isinstance(node, h5py.Dataset):
        raise DataError(f"Minari dataset {where}: {name}/{key} is a group; expected JPEG-encoded frames")
    check_bytes(f"{name}/{key} of Minari dataset {where} ({len(node)} frames of {space.shape})",
                len(node) * int(np.prod(space.shape)))
    return _decode_jpegs(node[()], tuple(space.shape), f"Minari dataset {where}: {name}/{key}")


def _decode_jpegs(encoded: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """uint8 (N, *shape) frames from N JPEG byte strings (rows of a uint8 array or a vlen array)."""
    import io

    from PIL import Image, UnidentifiedImageError  # Pillow comes with matplotlib, a dependency

    out = np.empty((len(encoded), *shape), np.uint8)
    for i, raw in enumerate(encoded):
        try:
            frame = np.asarray(Image.open(io.BytesIO(np.asarray(raw, np.uint8).tobytes())), np.uint8)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataError(f"{what}: frame {i} is not a readable JPEG image ({_one_line(exc)})") from None
        if frame.shape != shape:
            frame = frame.reshape(shape) if frame.size == out[i].size else frame
        if frame.shape != shape:
            raise DataError(f"{what}: frame {i} decodes to shape {frame.shape}; the space says {shape}")
        out[i] = frame
    return out


# What each array may hold: numbers for observations, actions, rewards, costs and targets; flags
# (bool or 0/1 integers) for the rest. Step-indexed records are 1-D; obs/actions have a time axis.
_KINDS = {"observations": "biuf", "actions": "biuf", "targets": "biuf", "rewards": "biuf", "costs": "biuf"}
_FLAT = {"rewards", "terminations", "truncations", "costs", "valid", "expert_acted"}


def _dataset(g: h5py.Group, key: str, where: Path, name: str, *, role: str | None = None) -> np.ndarray:
    """``g[key]`` read whole, checked for what its ``role`` (default: the key) may hold."""
    role = role or key
    if key not in g:
        raise DataError(f"Minari dataset {where}: {name} has no {key!r} data (the file is incomplete)")
    node = g[key]
    if not isinstance(node, h5py.Dataset):
        raise DataError(f"Minari dataset {where}: {name}/{key} is a group (Dict/Tuple space); only Box "
                        "observations and Box/Discrete actions are supported")
    kinds = _KINDS.get(role, "biu")
    if node.dtype.kind not in kinds:  # strings, compounds, complex: numpy would fail or drop parts later
        raise DataError(f"Minari dataset {where}: {name}/{key} holds {node.dtype} values; expected "
                        f"{'numbers' if 'f' in kinds else 'booleans'}")
    if (node.ndim != 1) if role in _FLAT else (node.ndim < 1):
        raise DataError(f"Minari dataset {where}: {name}/{key} has shape {node.shape}; expected "
                        f"{'one value per step' if role in _FLAT else 'a leading time axis'}")
    # a declared shape costs nothing on disk: refuse it before numpy allocates it
    check_bytes(f"{name}/{key} of Minari dataset {where} (shape {node.shape})", node.size * node.dtype.itemsize)
    return node[()]


def _seed(g: h5py.Group, name: str, where: Path) -> int | None:
    seed = g.attrs.get("seed")
    if seed is None:
        return None
    value = np.asarray(seed)
    ok = value.shape == () and value.dtype.kind in "iuf" and np.isfinite(value) and value == np.round(value)
    if not ok or not -(2**63) <= int(value) < 2**63:
        shown = repr(value.tolist())[:40]
        raise DataError(f"Minari dataset {where}: {name} has seed attribute {shown}; expected an int64 seed")
    return int(value)


def _read_episode(g: h5py.Group, name: str, where: Path, obs_space: gym.spaces.Space | None,
                  jpeg: bool) -> Trajectory:
    obs = _read_obs(g, name, where, obs_space, jpeg)
    acts, rewards, terms, truncs = (_dataset(g, k, where, name) for k in _STEP_KEYS)
    t = len(rewards)
    if len(obs) != t + 1 or len(acts) != t or len(terms) != t or len(truncs) != t:
        raise DataError(f"Minari dataset {where}: {name} has {len(obs)} observations, {len(acts)} actions and "
                        f"{t} rewards; expected T+1 observations for T steps")
    extras: dict[str, np.ndarray] = {}
    infos = g.get("infos")
    if isinstance(infos, h5py.Group) and isinstance(infos.get(_EXTRAS), h5py.Group):
        for key in ("targets", "valid", "costs", "expert_acted"):
            if key in infos[_EXTRAS]:
                extras[key] = _dataset(infos[_EXTRAS], key, where, f"{name}/infos/{_EXTRAS}")
                if len(extras[key]) != t:
                    raise DataError(f"Minari dataset {where}: {name} has {len(extras[key])} {key} for {t} steps")
        if "targets" in extras and extras["targets"].shape[1:] != acts.shape[1:]:
            raise DataError(f"Minari dataset {where}: {name} has targets of shape {extras['targets'].shape[1:]} "
                            f"for actions of shape {acts.shape[1:]}")
    return Trajectory(
        obs=obs, acts=acts, rewards=rewards,
        terminated=bool(t and terms[-1]), truncated=bool(t and truncs[-1]),
        costs=extras.get("costs"), labels=extras.get("targets"),
        labeled=extras.get("valid") if "targets" in extras else None,
        expert_acted=extras.get("expert_acted"),
        seed=_seed(g, name, where),
    )


def _build(trajs: list[Trajectory], meta: dict[str, Any], obs_space: gym.spaces.Space | None,
           act_space: gym.spaces.Space | None, where: Path) -> Dataset:
    if (obs_space is None or act_space is None) and not trajs:
        raise DataError(f"Minari dataset {where} has no episodes and no recorded spaces")
    if isinstance(obs_space, gym.spaces.Dict):
        layout: ObsLayout | None = ObsLayout.from_space(obs_space, where=f"Minari dataset {where}")
    elif obs_space is None and isinstance(trajs[0].obs, DictObs):
        layout = ObsLayout.from_arrays(trajs[0].obs, where=f"Minari dataset {where} episode_0")
    else:
        layout = None
    obs_shape = None if layout is not None else (
        tuple(obs_space.shape) if obs_space is not None else trajs[0].obs.shape[1:])
    if act_space is not None:
        discrete = isinstance(act_space, gym.spaces.Discrete)
        act_shape = () if discrete else tuple(act_space.shape or ())
    else:
        discrete, act_shape = trajs[0].acts.dtype.kind in "iu", trajs[0].acts.shape[1:]
    ours = meta.get(_EXTRAS)
    metadata: dict[str, Any] = dict(ours) if isinstance(ours, dict) else {}
    _check_ours(metadata, where)
    if "dataset_id" in meta:
        metadata["dataset_id"] = meta["dataset_id"]
    gym_id = _env_id(meta.get("env_spec"))
    if gym_id is not None:
        metadata.setdefault("gym_id", gym_id)
    ds = Dataset(obs_shape=obs_shape, obs_layout=layout, act_shape=act_shape, discrete=discrete,
                 observation_space=obs_space, action_space=act_space, metadata=metadata)
    labelled = any(t.labels is not None for t in trajs)
    if labelled:  # episodes saved without targets trained on their executed actions
        trajs = [t if t.labels is not None else _self_labelled(t) for t in trajs]
    try:
        ds.extend(trajs, targets="labels" if labelled else "acts")
    except DataError as exc:
        raise DataError(f"Minari dataset {where}: {exc}") from None
    return ds


def _check_ours(metadata: dict[str, Any], where: Path) -> None:
    """The entries of our metadata that commands act on (the task to build, its horizon) have
    their types, so a corrupt file fails here in one line rather than deep inside a command."""
    for key in ("task", "gym_id"):
        if key in metadata and not isinstance(metadata[key], str):
            raise DataError(f"Minari dataset {where} has a malformed {METADATA_FILE}: mimetic.{key} is "
                            f"{repr(metadata[key])[:40]}, not a name")
    steps = metadata.get("max_steps")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise DataError(f"Minari dataset {where} has a malformed {METADATA_FILE}: mimetic.max_steps is "
                        f"{repr(steps)[:40]}, not a positive step count")


def _self_labelled(t: Trajectory) -> Trajectory:
    return Trajectory(obs=t.obs, acts=t.acts, rewards=t.rewards, terminated=t.terminated, truncated=t.truncated,
                      costs=t.costs, labels=t.acts, labeled=np.ones(len(t), bool),
                      expert_acted=t.expert_acted, seed=t.seed)


def _env_id(env_spec: Any) -> str | None:
    if not isinstance(env_spec, str):
        return None
    try:
        spec = json.loads(env_spec)
    except (json.JSONDecodeError, RecursionError):
        return None
    env_id = spec.get("id") if isinstance(spec, dict) else None
    return env_id if isinstance(env_id, str) else None
