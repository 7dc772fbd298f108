"""The commands on corrupt inputs: ``mimetic train bc --data CORRUPT`` and ``mimetic eval --policy
CORRUPT`` end with exit code 2 and one ``error:`` line that names the file, never a traceback.

A fixed set of damages that are certainly corrupt (each must be refused), and a property over
drawn damages (refused in one line, or, where the damage left a usable file, a normal run).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from fuzzlib import cli, corrupt_bytes, damaged_copy, fuzz, json_text
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_minari import MAIN, META, _mutate_hdf5
from test_fuzz_runs import _one_error_line

from mimetic.policies.checkpoint import META_FILE, WEIGHTS_FILE

BC = ["--steps", "2", "--batch-size", "8", "--hidden", "8", "--eval-episodes", "0", "--no-tensorboard"]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A cartpole dataset and a ``train bc`` run on it, made through the CLI."""
    root = tmp_path_factory.mktemp("cli-fuzz")
    for argv in (["collect", "--task", "cartpole", "--episodes", "2", "--max-steps", "20", "--out", root / "demos"],
                 ["train", "bc", "--data", root / "demos", "--out", root / "run", *BC]):
        out = cli(argv, timeout=120)
        assert out.kind == "ok" and out.value[0] == 0, out
    return {"demos": root / "demos", "run": root / "run"}


def _train_bc(data: Path) -> tuple[int, str] | None:
    """(exit code, stderr) of ``train bc`` on ``data``; None where a crash was only recorded
    (MIMETIC_FUZZ_SURVEY mode)."""
    out = cli(["train", "bc", "--data", data, "--out", data.parent / "out", *BC]).check("train bc", keep=data)
    return out.value if out.kind == "ok" else None


def _eval(run: Path) -> tuple[int, str] | None:
    out = cli(["eval", "--policy", run, "--episodes", "1", "--num-envs", "1"]).check("eval", keep=run)
    return out.value if out.kind == "ok" else None


def _refused(ending: tuple[int, str] | None, path: Path) -> None:
    """Exit code 2 and one ``error:`` line naming ``path`` (the dataset or checkpoint directory)."""
    if ending is None:
        return
    code, err = ending
    _one_error_line(code, err)
    assert code == 2, err
    line = [ln for chunk in err.splitlines() for ln in chunk.split("\r") if ln.startswith("error: ")][-1]
    assert str(path) in line, line


# --------------------------------------------------------------------------- certainly corrupt


def _h5(edit: Callable[[h5py.File], None]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        with h5py.File(root / MAIN, "r+") as f:
            edit(f)

    return damage


def _replace(key: str, **kw: object) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        del f[key]
        f.create_dataset(key, **kw)

    return edit


def _meta(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        meta = json.loads((root / META).read_text())
        edit(meta)
        (root / META).write_text(json.dumps(meta))

    return damage


DATA_DAMAGE = {
    "truncated file": lambda root: (root / MAIN).write_bytes((root / MAIN).read_bytes()[:2000]),
    "metadata not JSON": lambda root: (root / META).write_bytes(b"\x00\xff{"),
    "metadata nested too deep": lambda root: (root / META).write_text("[" * 100_000 + "]" * 100_000),
    "string observations": _h5(_replace("episode_0/observations", data=np.full((21, 4), b"x", "S1"))),
    "two-column rewards": _h5(_replace("episode_0/rewards", data=np.zeros((20, 2)))),
    "absurd declared shape": _h5(_replace("episode_1/observations", shape=(10**12, 4), dtype="f4",
                                          chunks=(1024, 4), maxshape=(None, 4))),
    "episode that is an array": _h5(_replace("episode_0", shape=(10**12,), dtype="f8", chunks=(1024,),
                                             maxshape=(None,))),
    "seed past int64": _h5(lambda f: f["episode_0"].attrs.__setitem__("seed", 1e30)),
    "task not a name": _meta(lambda m: m["mimetic"].__setitem__("task", 5)),
    "horizon not a number": _meta(lambda m: m["mimetic"].__setitem__("max_steps", "abc")),
    "episode count infinite": lambda root: (root / META).write_text(
        (root / META).read_text().replace('"total_episodes": 2', '"total_episodes": 1e999')),
}


@pytest.mark.parametrize("case", sorted(DATA_DAMAGE))
def test_train_bc_refuses_corrupt_data(made, case) -> None:
    with damaged_copy(made["demos"], DATA_DAMAGE[case]) as path:
        _refused(_train_bc(path), path)


def _policy_json(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        meta = json.loads((root / "checkpoint" / META_FILE).read_text())
        edit(meta)
        (root / "checkpoint" / META_FILE).write_text(json.dumps(meta))

    return damage


def _bad_header(root: Path) -> None:
    raw = (root / "checkpoint" / WEIGHTS_FILE).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [10**12, 10**12]
    text = json.dumps(header).encode()
    (root / "checkpoint" / WEIGHTS_FILE).write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])


POLICY_DAMAGE = {
    "policy.json garbage": lambda root: (root / "checkpoint" / META_FILE).write_bytes(b"\x89PNG\r\n"),
    "policy.json nested too deep": lambda root: (root / "checkpoint" / META_FILE).write_text("[" * 100_000),
    "extra not an object": _policy_json(lambda m: m.__setitem__("extra", [1, 2])),
    "task not a name": _policy_json(lambda m: m["spec"].__setitem__("task", 5)),
    "horizon not a number": _policy_json(lambda m: m["extra"].__setitem__("max_steps", "abc")),
    "absurd hidden widths": _policy_json(lambda m: m["config"].__setitem__("hidden", [10**6, 10**6])),
    "absurd observation size": _policy_json(lambda m: m["spec"].__setitem__("obs_dim", 10**12)),
    "weights truncated": lambda root: (root / "checkpoint" / WEIGHTS_FILE).write_bytes(
        (root / "checkpoint" / WEIGHTS_FILE).read_bytes()[:100]),
    "weights header with absurd shape": _bad_header,
    "weights missing": lambda root: (root / "checkpoint" / WEIGHTS_FILE).unlink(),
}


@pytest.mark.parametrize("case", sorted(POLICY_DAMAGE))
def test_eval_refuses_corrupt_policy(made, case) -> None:
    with damaged_copy(made["run"], POLICY_DAMAGE[case]) as path:
        _refused(_eval(path), path)


# --------------------------------------------------------------------------- drawn damage


@fuzz(examples=25)
@given(data=st.data())
def test_train_bc_on_drawn_damage(made, data) -> None:
    def damage(root: Path) -> None:
        how = data.draw(st.sampled_from(["bytes", "structure", "metadata"]), label="damage")
        if how == "bytes":
            (root / MAIN).write_bytes(corrupt_bytes(data, (root / MAIN).read_bytes()))
        elif how == "structure":
            _mutate_hdf5(data, root / MAIN)
        else:
            (root / META).write_bytes(json_text(data, json.loads((root / META).read_text())))

    with damaged_copy(made["demos"], damage) as path:
        ending = _train_bc(path)
        if ending is not None:
            _one_error_line(*ending)
            if ending[0] == 2:
                _refused(ending, path)
