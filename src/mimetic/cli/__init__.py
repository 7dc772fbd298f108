"""The command line: ``mimetic collect | train <algo> | eval | experiment | quickstart | tasks``.

- :mod:`.main`: the parser and dispatch; :mod:`.options`: options generated from config dataclasses;
- :mod:`.common`: what the commands share (public helpers);
- one module per command group: :mod:`.data` (tasks, collect), :mod:`.train_bc`,
  :mod:`.interactive` (the DAgger family and the reductions, from the registry), :mod:`.rl`
  (PPO, GAIL, AIRL), :mod:`.evaluate`, :mod:`.experiment`, :mod:`.quickstart`.
"""

from mimetic.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
