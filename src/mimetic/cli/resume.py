"""What every long-running command shares: ``--checkpoint-every`` / ``--resume``, the options a
resumed run may change, and Ctrl-C.

A run's ``config.json`` keeps every option of the command line that started it (``args``). A
resumed run is rebuilt from those, with only the options typed on the resuming command line
applied on top, through the same code as a fresh run; so nothing silently changes, and an option
that would change what the run computes is refused in one line that names it. Each command names
the options that may change (an evaluation setting, a longer budget, where to write).

Ctrl-C (SIGINT) asks for a clean stop: the command finishes its current step (a gradient step, an
iteration, a round, an episode batch), writes a checkpoint, and exits with code 130; the run
continues with ``--resume``. A second Ctrl-C stops at once, keeping the last checkpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from mimetic import atomic
from mimetic.errors import CheckpointError, ConfigError, MimeticError

NOT_OPTIONS = {"handler", "given", "argv", "command", "algo", "experiment", "resume", "out"}
ALWAYS_MAY_CHANGE = {"checkpoint_every", "no_tensorboard", "max_memory"}


class Interrupted(MimeticError):
    """Ctrl-C: the work so far is saved; the CLI exits with code 130."""

    exit_code = 130


def add_checkpoint_args(p: argparse.ArgumentParser, *, unit: str, resume_help: str | None = None) -> None:
    """``--checkpoint-every SECONDS`` and ``--resume RUN`` for a long-running command; ``unit`` is
    where its checkpoints can fall (e.g. "gradient step", "iteration", "round")."""
    p.add_argument("--checkpoint-every", type=float, default=60.0, metavar="SECONDS",
                   help=f"save the full training state at the first {unit} boundary after this many seconds "
                        "since the last save, so a crash or kill loses at most that much work (default: 60; "
                        f"0: at every {unit})")
    add_max_memory_arg(p)
    p.add_argument("--resume", default=None, metavar="RUN",
                   help=resume_help or "continue an unfinished (interrupted or killed) or finished run from its last "
                                       "checkpoint, in place (or copied to --out first); its options are reused, "
                                       "and options that would change the run are refused")


def add_max_memory_arg(p: argparse.ArgumentParser) -> None:
    """``--max-memory SIZE``: the cap that network, ensemble and dataset sizes are checked against
    before anything is allocated (:mod:`mimetic.limits`)."""
    p.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="refuse networks and datasets whose estimated memory exceeds SIZE (e.g. 16G, 512M); "
                        "default: MIMETIC_MAX_MEMORY, else half of this machine's RAM")


@contextlib.contextmanager
def max_memory(args: argparse.Namespace) -> Iterator[None]:
    """``--max-memory`` (when the command has it and it was given) as the cap while the command
    runs; the cap before it afterwards (a command run from Python leaves no trace)."""
    from mimetic import limits

    text = getattr(args, "max_memory", None)
    if text is None:
        yield
        return
    before = limits.cap_override()
    limits.set_memory_cap(limits.parse_size(text))
    try:
        yield
    finally:
        limits.set_memory_cap(before)


def leaf_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser that parsed the chosen command's own options."""
    while True:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None:
            return parser
        choice = getattr(args, sub.dest, None)
        if choice not in sub.choices:
            return parser
        parser = sub.choices[choice]


def given_dests(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The option destinations typed on ``argv`` for ``parser`` (exact names or unique prefixes,
    ``--opt value`` or ``--opt=value``)."""
    table = parser._option_string_actions
    given: set[str] = set()
    for token in argv:
        if token == "--":
            break
        if not token.startswith("--"):
            continue
        key = token.split("=", 1)[0]
        action = table.get(key)
        if action is None and parser.allow_abbrev:
            hits = {a for s, a in table.items() if s.startswith(key)}
            action = hits.pop() if len(hits) == 1 else None
        if action is not None:
            given.add(action.dest)
    return given


def run_args(args: argparse.Namespace) -> dict[str, Any]:
    """Every option of the command line, JSON-able, for ``config.json`` (``args``)."""
    out: dict[str, Any] = {}
    for k, v in vars(args).items():
        if k in NOT_OPTIONS or callable(v):
            continue
        out[k] = list(v) if isinstance(v, tuple) else (str(v) if isinstance(v, Path) else v)
    return out


def read_run_config(run: str | Path, *, command: str, config_file: str = "config.json") -> dict[str, Any]:
    """``RUN/config.json`` of a run of ``command`` (one line if it is not one)."""
    path = Path(run)
    try:
        saved = json.loads((path / config_file).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is not a run directory of {command} (no {config_file})") from None
    except (OSError, ValueError) as err:
        raise CheckpointError(f"cannot read {path / config_file}: {err}") from None
    except RecursionError:  # json's decoder recurses once per nesting level
        raise CheckpointError(f"cannot read {path / config_file}: nested too deeply") from None
    if not isinstance(saved, dict):
        raise CheckpointError(f"cannot read {path / config_file}: not a JSON object")
    if saved.get("command") != command:
        raise CheckpointError(f"--resume {path} is a {saved.get('command')!r} run, not {command!r}")
    if not isinstance(saved.get("args"), dict):
        raise CheckpointError(f"{path} was written by an older mimetic without its options (config.json has no "
                              "'args'); it cannot be resumed")
    return saved


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def resumed_args(args: argparse.Namespace, *, command: str, may_change: Iterable[str] = (),
                 config_file: str = "config.json") -> tuple[argparse.Namespace, dict[str, Any]]:
    """``args`` with the resumed run's saved options under the ones typed now; refuses in one line
    any typed option that differs from the run's and is not in ``may_change``. Returns the merged
    args and the saved config.json."""
    saved = read_run_config(args.resume, command=command, config_file=config_file)
    old = saved["args"]
    given = set(getattr(args, "given", None) or ()) - NOT_OPTIONS
    allowed = set(may_change) | ALWAYS_MAY_CHANGE
    now = run_args(args)
    changed = sorted(d for d in given if d in now and d not in allowed and d in old and now[d] != old[d])
    if changed:
        diffs = ", ".join(f"{_flag(d)} {_show(now[d])} (the run has {_show(old[d])})" for d in changed)
        ok = ", ".join(_flag(d) for d in sorted(allowed) if d in now) or "none"
        raise ConfigError(f"--resume {args.resume}: {diffs} would change the run; options that may change on "
                          f"resume: {ok}")
    merged = argparse.Namespace(**vars(args))
    for k, v in old.items():
        if k not in given and k in now:
            setattr(merged, k, v)
    return merged, saved


def _show(v: Any) -> str:
    if isinstance(v, list):
        return " ".join(map(str, v)) if v else "(none)"
    return str(v)


def resume_target(args: argparse.Namespace) -> Path:
    """Where a resumed run continues: in place, or in ``--out`` (a copy of the run made first,
    atomically, so the original stays as it was)."""
    src = Path(args.resume)
    atomic.recover_folder(src)  # a checkpoint swap killed midway: its old copy back before it is copied
    if not args.out or Path(args.out).resolve() == src.resolve():
        return src
    out = Path(args.out)
    from mimetic.runs import check_new_run_dir, make_parents

    check_new_run_dir(out)
    made = make_parents(out)
    try:
        with atomic.AtomicDirectory(out) as tmp:
            shutil.copytree(src, tmp, dirs_exist_ok=True,
                            ignore=lambda d, names: [n for n in names if atomic.is_temporary(Path(d) / n)])
    except OSError as e:
        atomic.remove_dirs(made)
        raise ConfigError(f"cannot copy {src} to {out}: {e.strerror or e}") from None
    return out


class StopFlag:
    """Ctrl-C during training asks for a clean stop at the next boundary (a second one aborts)."""

    def __init__(self, what: str = "after this step") -> None:
        self.stop = False
        self.what = what
        self._old: Any = None

    def __enter__(self) -> StopFlag:  # noqa: PYI034
        self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True
        print(f"\nstopping {self.what}, saving a checkpoint (Ctrl-C again to abort; the last checkpoint is "
              "kept)", flush=True)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._old)
