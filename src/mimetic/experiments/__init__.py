"""Experiments: end-to-end studies that train, evaluate and report (``mimetic experiment ...``).

- :mod:`mimetic.experiments.horizon`: BC vs DAgger total cost as the horizon grows (driving task),
  with equal expert-label budgets, log-log slopes, a table and a plot.
- :mod:`mimetic.experiments.labels`: expert-normalized score vs expert labels spent, one curve per
  method (BC, DAgger, HG-DAgger, ThriftyDAgger, SMILe, forward training, AggreVaTe).
- :mod:`mimetic.experiments.demos`: BC vs GAIL (and GAIL warm-started by BC) score or cost vs the
  number of expert demonstration episodes (pendulum, driving).
"""

from mimetic.experiments.demos import DemosConfig, DemosResult, run_demos
from mimetic.experiments.horizon import HorizonConfig, HorizonResult, run_horizon
from mimetic.experiments.labels import LabelsConfig, LabelsResult, run_labels

__all__ = ["DemosConfig", "DemosResult", "HorizonConfig", "HorizonResult", "LabelsConfig", "LabelsResult",
           "run_demos", "run_horizon", "run_labels"]
