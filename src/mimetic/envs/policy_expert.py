"""``PolicyExpert``: a saved mimetic policy folder as a batched expert (the shipped MuJoCo experts,
``--expert POLICY_DIR``). Its own module so that both ``envs.mujoco`` and ``envs.experts`` can use
it without an import cycle; torch (through ``mimetic.policies``) loads only when it first acts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mimetic.errors import TaskError


class PolicyExpert:
    """A saved mimetic policy (a ``save_policy`` folder) acting deterministically (its mean or
    argmax action), as a batched expert; loaded on first use, so torch is imported only then.
    ``expect_task`` refuses a folder saved for another task; ``missing`` is the one-line error
    when the folder holds no policy (the default: load_policy's own)."""

    def __init__(self, directory: Any, *, name: str | None = None, expect_task: str | None = None,
                 missing: str | None = None) -> None:
        self.directory = Path(directory)
        self.name = name or f"policy:{self.directory.name}"
        self.expect_task, self.missing = expect_task, missing
        self._policy: Any = None

    def load(self) -> Any:
        if self._policy is None:
            from mimetic.policies import load_policy  # torch: only once an expert is used

            if self.missing is not None and not (self.directory / "policy.json").is_file():
                raise TaskError(self.missing)
            self._policy = load_policy(self.directory, expect_task=self.expect_task)
        return self._policy

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.load().act(np.asarray(obs, np.float32), deterministic=True)
