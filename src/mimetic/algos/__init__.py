"""Imitation algorithms; each module tells its own training loop top to bottom (``bc.fit``, ...)."""

from mimetic.algos import bc, dagger
from mimetic.algos.bc import BCConfig, BCResult
from mimetic.algos.dagger import DAggerConfig, DAggerResult

__all__ = ["BCConfig", "BCResult", "DAggerConfig", "DAggerResult", "bc", "dagger"]
