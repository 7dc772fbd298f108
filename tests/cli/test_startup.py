"""The CLI starts fast: ``mimetic --version``, ``--help`` and ``tasks`` never import torch, and a
command line builds only the command it names; yet every ``--help`` shows exactly what the whole
parser shows (the lazily built parsers are the same parsers)."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mimetic
from mimetic.cli import build_parser, main

cli_main = importlib.import_module("mimetic.cli.main")  # the module (mimetic.cli.main is also the function)

SRC = str(Path(mimetic.__file__).parents[1])

# runs the CLI as `python -m mimetic.cli ARGS` does, then reports which heavy modules it loaded
PROBE = """
import atexit, runpy, sys
watched = sys.argv[1].split(",")
sys.argv = ["mimetic", *sys.argv[2:]]
atexit.register(lambda: print("LOADED:" + ",".join(m for m in watched if m in sys.modules), file=sys.stderr))
runpy.run_module("mimetic.cli", run_name="__main__", alter_sys=True)
"""
HEAVY = ["torch", "mimetic.cli.common", "mimetic.cli.train_bc", "mimetic.cli.interactive", "mimetic.cli.rl",
         "mimetic.interactive.registry", "scipy.linalg"]


def _probe(*argv: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", PROBE, ",".join(HEAVY), *argv], capture_output=True, text=True,
                          env=env, timeout=120)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("LOADED:"))
    return proc, set(filter(None, line.removeprefix("LOADED:").split(",")))


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["tasks"]], ids=" ".join)
def test_quick_commands_never_import_torch(argv):
    proc, loaded = _probe(*argv)
    assert proc.returncode == 0, proc.stderr
    assert loaded == set(), f"mimetic {' '.join(argv)} imported {sorted(loaded)}"
    expected = {"--version": f"mimetic {mimetic.__version__}", "--help": "list the built-in tasks", "tasks": "cartpole"}
    assert expected[argv[0]] in proc.stdout


def test_train_bc_builds_no_other_training_command():
    proc, loaded = _probe("train", "bc", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--hidden" in proc.stdout and "--diffusion-hidden" in proc.stdout
    assert loaded & {"mimetic.cli.interactive", "mimetic.cli.rl", "mimetic.interactive.registry"} == set()


# --------------------------------------------------------------------------- the command tree


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    return {} if action is None else dict(action.choices)


def _tree(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    for name, sub in _subparsers(parser).items():
        paths += _tree(sub, (*path, name))
    return paths


FULL = build_parser()
TREE = _tree(FULL)


def _full(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = FULL
    for name in path:
        parser = _subparsers(parser)[name]
    return parser


def test_the_tree_is_the_whole_cli():
    assert len(TREE) > 20  # every command, train method and experiment
    assert {("tasks",), ("collect",), ("train", "bc"), ("train", "dagger"), ("train", "ppo"),
            ("experiment", "horizon"), ("eval",), ("quickstart",)} <= set(TREE)


@pytest.mark.parametrize("path", TREE, ids=lambda p: " ".join(p) or "mimetic")
def test_every_help_shows_what_the_whole_parser_shows(path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    shown = capsys.readouterr().out
    assert shown == _full(path).format_help()
    assert shown.startswith(f"usage: {' '.join(('mimetic', *path))}")


def test_the_command_table_lists_the_modules_own_commands():
    """COMMANDS (what --help lists without importing) names every command, in order, with the
    help text its module gives it; TRAIN_ALGOS points each algo at the module that builds it."""
    action = next(a for a in FULL._actions if isinstance(a, argparse._SubParsersAction))
    assert list(action.choices) == list(cli_main.COMMANDS)
    assert {c.dest: c.help for c in action._choices_actions} == {n: c.help for n, c in cli_main.COMMANDS.items()}
    for algo, module in cli_main.TRAIN_ALGOS.items():
        sub = argparse.ArgumentParser().add_subparsers()
        cli_main._module(module).add_parsers(sub)
        assert algo in sub.choices


def test_unknown_options_and_commands_point_at_the_right_help(capsys):
    for argv, message in [
        (["tasks", "--bogus"], "error: unrecognized arguments: --bogus (see 'mimetic tasks --help')"),
        (["train", "bc", "--bogus", "1"], "error: unrecognized arguments: --bogus 1 (see 'mimetic train bc --help')"),
        (["train", "nope"], "error: argument algo: invalid choice: 'nope' (choose from "),
        (["nope"], "error: argument command: invalid choice: 'nope' (choose from "),
        (["train"], "error: the following arguments are required: algo (see 'mimetic train --help')"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(message), (argv, err)
        if "invalid choice" in err:  # every choice listed, as the whole parser lists them
            listed = [c.strip(" '") for c in err.split("(choose from ", 1)[1].split(")", 1)[0].split(",")]
            assert listed == list(_subparsers(_full(tuple(argv[:-1]))))
