"""What the benchmarks that compare with the peer harness (../shared/peers/imitation_lib) share:
where the peer lives, how one peer run is launched and read, and the machine record."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

# defaults: beside the repository (../.venv-imitation, ../shared/peers/imitation_lib), as the peer README sets them up
_BESIDE = Path(__file__).resolve().parents[2]
PEER_PYTHON = Path(os.environ.get("MIMETIC_PEER_PYTHON", _BESIDE / ".venv-imitation" / "bin" / "python"))
PEER_SCRIPT = Path(os.environ.get("MIMETIC_PEER_SCRIPT",
                                  _BESIDE / "shared" / "peers" / "imitation_lib" / "run_peer.py"))
GYM_IDS = {"cartpole": "CartPole-v1", "pendulum": "Pendulum-v1"}


def peer_record(cmd: list[str]) -> dict[str, Any]:
    """Run one peer command in its own venv; its last stdout line is the run's JSON record."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"error: peer run failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peer_score(ret: float, rec: dict[str, Any]) -> float:
    """Expert-normalized score of a return, against the expert and random returns of the record."""
    exp, rnd = float(rec["expert_return"]), float(rec["random_return"])
    return (ret - rnd) / (exp - rnd)


def machine_base() -> dict[str, Any]:
    """Machine, versions, threads, load and start time: the head of every benchmark's record."""
    return {"nproc": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "numpy": np.__version__, "loadavg_start": os.getloadavg(),
            "utc_start": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
