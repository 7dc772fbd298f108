"""Imitation algorithms; each module tells its own training loop top to bottom (``bc.fit``, ...)."""

from mimetic.algos import aggrevate, bc, dagger, smile
from mimetic.algos.aggrevate import AggreVaTeConfig
from mimetic.algos.bc import BCConfig, BCResult
from mimetic.algos.dagger import DAggerConfig, DAggerResult
from mimetic.algos.smile import ForwardConfig, SMILeConfig

__all__ = ["AggreVaTeConfig", "BCConfig", "BCResult", "DAggerConfig", "DAggerResult", "ForwardConfig",
           "SMILeConfig", "aggrevate", "bc", "dagger", "smile"]
