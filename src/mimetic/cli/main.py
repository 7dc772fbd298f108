"""``mimetic``: the parser, assembled from one ``add_parsers`` per command module, and the dispatch.

Every command prints results as a small table; long work shows progress bars on stderr. Any
:class:`MimeticError` ends the command with one ``error: ...`` line and exit code 2. Each
subcommand's parser names its handler (``set_defaults(handler=...)``), so there is no dispatch table
to keep in step with the parsers.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from mimetic.cli import data, evaluate, experiment, interactive, quickstart, rl, train_bc
from mimetic.cli.common import Parser, set_threads, version
from mimetic.cli.resume import Interrupted, apply_max_memory, given_dests, leaf_parser
from mimetic.errors import MimeticError


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mimetic", description="Imitation learning from expert demonstrations.")
    parser.add_argument("--version", action="version", version=version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    data.add_parsers(sub)
    p = sub.add_parser("train", help="train a policy")
    algos = p.add_subparsers(dest="algo", required=True, parser_class=Parser)
    train_bc.add_parsers(algos)
    interactive.add_parsers(algos)
    rl.add_parsers(algos)
    evaluate.add_parsers(sub)
    experiment.add_parsers(sub)
    quickstart.add_parsers(sub)
    return parser


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """parse_args, but an unknown option points at the subcommand's --help, not the top level's."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        prog = " ".join(["mimetic", args.command] + ([args.algo] if getattr(args, "algo", None) else []))
        parser.exit(2, f"error: unrecognized arguments: {' '.join(extra)} (see '{prog} --help')\n")
    # the options typed (not defaulted): a resumed run takes only these from the command line
    args.given = sorted(given_dests(leaf_parser(parser, args), sys.argv[1:] if argv is None else list(argv)))
    return args


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    return f"warning: {message}\n"  # a user's terminal wants the message, not our source line


def main(argv: Sequence[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning  # type: ignore[assignment]
    args = _parse(argv)
    try:
        set_threads()
        apply_max_memory(args)
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
