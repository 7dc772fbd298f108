"""Imitation and RL algorithms that learn from a fixed dataset or from reward: behavioral cloning
(:mod:`.bc`), PPO (:mod:`.ppo`) and adversarial imitation (:mod:`.adversarial`, GAIL and AIRL).
The interactive methods (DAgger and family) are :mod:`mimetic.interactive`. Each module tells its
own training loop top to bottom."""

from mimetic.algos.bc import BCConfig, BCResult

__all__ = ["BCConfig", "BCResult"]
