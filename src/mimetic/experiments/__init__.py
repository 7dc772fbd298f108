"""Experiments: end-to-end studies that train, evaluate and report (``mimetic experiment ...``).

- :mod:`mimetic.experiments.horizon`: BC vs DAgger total cost as the horizon grows (driving task),
  with equal expert-label budgets, log-log slopes, a table and a plot.
- :mod:`mimetic.experiments.labels`: expert-normalized score vs expert labels spent, one curve per
  method (BC, DAgger, HG-DAgger, ThriftyDAgger, SMILe, forward training, AggreVaTe).
"""

from mimetic.experiments.horizon import HorizonConfig, HorizonResult, run_horizon
from mimetic.experiments.labels import LabelsConfig, LabelsResult, run_labels

__all__ = ["HorizonConfig", "HorizonResult", "LabelsConfig", "LabelsResult", "run_horizon", "run_labels"]
