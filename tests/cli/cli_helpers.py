"""What the command-line tests here share: run ``mimetic`` in-process, and check a one-line error."""

from __future__ import annotations

from mimetic.cli import main


def run(argv: list) -> int:
    """``mimetic ARGV`` in this process; its exit code (argparse's exits included)."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return int(e.code or 0)


def one_error(err: str) -> str:
    """The single ``error: ...`` line of ``err`` (warnings aside); fails on a traceback or more lines."""
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]
