"""How long the CLI takes to start: ``mimetic --version``, ``--help``, ``tasks`` and
``train bc --help``, each a fresh ``python -m mimetic.cli ...`` process, wall time from spawn to
exit (output discarded); ``python -c "import torch"`` and ``python -c pass`` are timed alongside
as references (every command that trains pays for torch's import; ``pass`` is the interpreter's
own start).

Each ``--tree LABEL=SRC`` is a source tree timed through ``PYTHONPATH=SRC`` (default: this
checkout's ``src``); timing an older tree beside this one gives before/after numbers from the
same minutes of the same machine. The runs are interleaved: every repeat times every command of
every tree once, in an order that alternates between repeats, so that slow phases of a shared
machine hit all of them. Tables give the median over ``--repeats`` runs and the min-max; the load
average is recorded at the start and the end.

Run (from the repository root; with a before tree, about 5 minutes at the defaults on the shared
2-core machine under load 2-4, most of it the before tree's torch imports):

    git archive 0e687eb src | tar -x -C /tmp/mimetic_before   # the tree before lazy startup
    python benchmarks/bench_startup.py --tree before=/tmp/mimetic_before/src --tree after=src \\
        [--repeats 15] [--json benchmarks/_out/startup.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "mimetic --version": ["-m", "mimetic.cli", "--version"],
    "mimetic --help": ["-m", "mimetic.cli", "--help"],
    "mimetic tasks": ["-m", "mimetic.cli", "tasks"],
    "mimetic train bc --help": ["-m", "mimetic.cli", "train", "bc", "--help"],
}
REFERENCES = {
    'python -c "import torch"': ["-c", "import torch"],
    'python -c "pass"': ["-c", "pass"],
}
ROOT = Path(__file__).resolve().parents[1]


def time_once(argv: list[str], src: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if src is not None:
        env["PYTHONPATH"] = src
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                          cwd=ROOT, timeout=300)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} (PYTHONPATH={src}) failed:\n{proc.stderr.decode()}")
    return wall


def parse_tree(text: str) -> tuple[str, str]:
    label, sep, src = text.partition("=")
    if not sep or not label or not (Path(src) / "mimetic" / "cli").is_dir():
        raise argparse.ArgumentTypeError(f"--tree wants LABEL=SRC with SRC/mimetic/cli, got {text!r}")
    return label, str(Path(src).resolve())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tree", type=parse_tree, action="append", default=None, metavar="LABEL=SRC",
                   help="a source tree to time (repeatable; default: after=src of this checkout)")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--json", default=None, help="write every timing here")
    a = p.parse_args()
    trees = dict(a.tree or [("after", str(ROOT / "src"))])
    cases = [(f"{cmd} [{label}]", argv, src) for cmd, argv in COMMANDS.items() for label, src in trees.items()]
    cases += [(name, argv, None) for name, argv in REFERENCES.items()]
    load0, t_start = os.getloadavg(), time.time()
    print(f"load at start: {load0}", flush=True)
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for r in range(a.repeats):
        for name, argv, src in cases if r % 2 == 0 else cases[::-1]:
            times[name].append(time_once(argv, src))
    load1 = os.getloadavg()
    print(f"load at end: {load1}")
    ref = statistics.median(times['python -c "import torch"'])
    print("\n| command | median s | min-max s | vs import torch |\n|---|---:|---:|---:|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| `{name}` | {med:.3f} | {min(ts):.3f}-{max(ts):.3f} | {med / ref:.2f}x |")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        info = {"python": platform.python_version(), "nproc": os.cpu_count(), "trees": trees, "repeats": a.repeats,
                "loadavg_start": load0, "loadavg_end": load1, "started": t_start,
                "total_s": round(time.time() - t_start, 1)}
        Path(a.json).write_text(json.dumps({**info, "times": times}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
