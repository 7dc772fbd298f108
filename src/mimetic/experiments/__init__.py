"""Experiments: end-to-end studies that train, evaluate and report (``mimetic experiment ...``).

- :mod:`mimetic.experiments.horizon`: BC vs DAgger total cost as the horizon grows (driving task),
  with equal expert-label budgets, log-log slopes, a table and a plot.
"""

from mimetic.experiments.horizon import HorizonConfig, HorizonResult, run_horizon

__all__ = ["HorizonConfig", "HorizonResult", "run_horizon"]
