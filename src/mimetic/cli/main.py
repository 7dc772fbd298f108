"""``mimetic``: the parser, assembled from one ``add_parsers`` per command module, and the dispatch.

Every command prints results as a small table; long work shows progress bars on stderr. Any
:class:`MimeticError` ends the command with one ``error: ...`` line and exit code 2. Each
subcommand's parser names its handler (``set_defaults(handler=...)``), so there is no dispatch table
to keep in step with the parsers.

Startup: the command modules import torch, the task registry, the algorithms. Only the command
a command line names is imported and built (:data:`COMMANDS` lists the others by name and help
text), so ``mimetic --help``, ``--version`` and ``tasks`` start in a fraction of a second, and
``train bc`` imports no other training command. Torch's thread count is set when torch is first
imported (:mod:`mimetic.threads`), not by importing it here.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import warnings
from collections.abc import Sequence

from mimetic import threads
from mimetic.cli.base import Parser, cwd_on_path, version
from mimetic.errors import MimeticError


@dataclasses.dataclass(frozen=True)
class Command:
    """A top-level command as ``mimetic --help`` lists it; module ``mimetic.cli.<module>``'s
    ``add_parsers`` builds it (None: ``train``, whose subcommands come from :data:`TRAIN_MODULES`)."""

    module: str | None
    help: str


# in --help order; the help texts are the command modules' own (tests/cli checks they agree)
COMMANDS = {
    "tasks": Command("tasks", "list the built-in tasks and their experts"),
    "collect": Command("data", "record expert demonstrations to a Minari (HDF5) dataset"),
    "teleop": Command("data", "drive a task yourself (mouse or arrow keys) and record the episodes as a dataset"),
    "train": Command(None, "train a policy"),
    "eval": Command("evaluate", "evaluate a trained policy"),
    "expert": Command("expert", "the shipped MuJoCo experts; train and export new ones"),
    "experiment": Command("experiment", "experiments that show the theory on real runs"),
    "benchmark": Command("benchmark", "the field's benchmark tables (MuJoCo locomotion, PushT), run here"),
    "quickstart": Command("quickstart", "collect demos, train BC, evaluate against the expert"),
}
TRAIN_MODULES = ("train_bc", "interactive", "rl")  # each adds `train <algo>` subcommands, in this order
# `train <algo>` subcommands whose module is known without importing anything; any other algo
# (the interactive registry's methods, a typo) builds every train module
TRAIN_ALGOS = {"bc": "train_bc", "ppo": "rl", "gail": "rl", "airl": "rl"}


def _module(name: str):
    return importlib.import_module(f"mimetic.cli.{name}")


def _chosen(argv: Sequence[str]) -> tuple[str | None, str | None]:
    """The command and the word after it, as argparse will read them: the first two words that
    are neither options nor the value of the top level's one valued option, ``--import``."""
    words: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--import":
            skip = True
        elif not a.startswith("-"):
            words.append(a)
    return (words + [None, None])[0], (words + [None, None])[1]


def import_modules(modules: Sequence[str]) -> None:
    """``--import MODULE``: import a user's or a third party's module first (as ``python -m`` would
    find it, the current directory included), e.g. one that registers Gymnasium envs."""
    if modules:
        cwd_on_path()
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's module: one line, whatever it raised
            from mimetic.errors import ConfigError

            raise ConfigError(f"--import {module}: {type(exc).__name__}: {exc}") from None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``argv``, only the parts parsing ``argv`` needs: the command it
    names in full, every other command by name and help alone (what ``mimetic --help`` shows)."""
    command, algo = (None, None) if argv is None else _chosen(argv)
    parser = Parser(prog="mimetic", description="Imitation learning from expert demonstrations.")
    parser.add_argument("--version", action="version", version=version())
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="import MODULE before the command runs, e.g. a package or your own module that "
                             "registers Gymnasium envs (repeatable; 'gym:pkg/Env-v0' imports pkg by itself)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    chosen = COMMANDS[command].module if command in COMMANDS else None
    for name, cmd in COMMANDS.items():
        if name in sub.choices:
            continue  # added by an earlier command's module
        if argv is not None and name != command and (cmd.module is None or cmd.module != chosen):
            sub.add_parser(name, help=cmd.help)  # a stub; the chosen command's module adds its siblings
        elif cmd.module is None:
            _add_train(sub, algo=None if argv is None else algo, help=cmd.help)
        else:
            _module(cmd.module).add_parsers(sub)
    return parser


def _add_train(sub: argparse._SubParsersAction, *, algo: str | None, help: str) -> None:
    p = sub.add_parser("train", help=help)
    algos = p.add_subparsers(dest="algo", required=True, parser_class=Parser)
    for module in (TRAIN_ALGOS[algo],) if algo in TRAIN_ALGOS else TRAIN_MODULES:
        _module(module).add_parsers(algos)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """parse_args, but an unknown option points at the subcommand's --help, not the top level's."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:
        prog = " ".join(["mimetic", args.command] + ([args.algo] if getattr(args, "algo", None) else []))
        parser.exit(2, f"error: unrecognized arguments: {' '.join(extra)} (see '{prog} --help')\n")
    from mimetic.cli.resume import given_dests, leaf_parser  # 25 ms (json, shutil, tempfile): not for --help

    obs = getattr(args, "obs_mode", None)
    if obs not in (None, "state"):  # --obs pixels is the task named TASK@pixels
        if not getattr(args, "task", None):
            parser.exit(2, "error: --obs needs --task (a dataset or checkpoint already names how its task was seen)\n")
        if "@" in args.task:
            parser.exit(2, f"error: --obs {obs} and the task {args.task!r} both say how the task is seen; give one\n")
        args.task = f"{args.task}@{obs}"
    # the options typed (not defaulted): a resumed run takes only these from the command line
    args.given = sorted(given_dests(leaf_parser(parser, args), argv))
    return args


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    return f"warning: {message}\n"  # a user's terminal wants the message, not our source line


def main(argv: Sequence[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning  # type: ignore[assignment]
    args = _parse(argv)
    from mimetic.cli.resume import Interrupted, max_memory

    try:
        # one torch thread unless MIMETIC_THREADS says otherwise: at once if torch is loaded,
        # else when the command first imports it (`tasks` never does)
        threads.set_threads(threads.threads_from_env() or threads.DEFAULT)
        with max_memory(args):
            import_modules(args.imports)
            args.handler(args)
    except Interrupted as e:
        print(f"interrupted: {e}", file=sys.stderr)
        return Interrupted.exit_code
    except MimeticError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted (a resumable run keeps its last checkpoint; nothing else was written)",
              file=sys.stderr)
        return 130
    return 0
