"""Imitation algorithms; each module tells its own training loop top to bottom (``bc.fit``, ...)."""

from mimetic.algos import bc
from mimetic.algos.bc import BCConfig, BCResult

__all__ = ["BCConfig", "BCResult", "bc"]
