"""Experiments: end-to-end studies that train, evaluate and report (``mimetic experiment ...``).

- :mod:`mimetic.experiments.horizon`: BC vs DAgger total cost as the horizon grows (driving task),
  with equal expert-label budgets, log-log slopes, a table and a plot.
- :mod:`mimetic.experiments.labels`: expert-normalized score vs expert labels spent, one curve per
  method (BC, DAgger, HG-DAgger, ThriftyDAgger, SMILe, forward training, AggreVaTe).
- :mod:`mimetic.experiments.demos`: BC vs GAIL (and GAIL warm-started by BC) score or cost vs the
  number of expert demonstration episodes (pendulum, driving).
- :mod:`mimetic.experiments.chunking`: cost vs chunk size of an action-chunking policy on driving,
  executed as whole chunks, ACT's temporal ensemble, or first action only.
- :mod:`mimetic.experiments.multimodal`: success of MSE-BC vs a mixture head vs a diffusion policy vs
  ACT chunking on the multimodal task (hidden-coin expert), with sampled start-action distributions.
- :mod:`mimetic.experiments.pixels`: BC and diffusion success from a 64x64 camera vs from the state
  (driving, multimodal), at equal demonstrations.
"""

from mimetic.experiments.chunking import (
    ChunkingExperimentConfig,
    ChunkingResult,
    run_chunking,
)
from mimetic.experiments.demos import DemosConfig, DemosResult, run_demos
from mimetic.experiments.horizon import HorizonConfig, HorizonResult, run_horizon
from mimetic.experiments.labels import LabelsConfig, LabelsResult, run_labels
from mimetic.experiments.multimodal import (
    MultimodalConfig,
    MultimodalResult,
    run_multimodal,
)
from mimetic.experiments.pixels import PixelsConfig, PixelsResult, run_pixels

__all__ = ["ChunkingExperimentConfig", "ChunkingResult", "DemosConfig", "DemosResult", "HorizonConfig", "HorizonResult",
           "LabelsConfig", "LabelsResult", "MultimodalConfig", "MultimodalResult", "PixelsConfig", "PixelsResult",
           "run_chunking", "run_demos", "run_horizon", "run_labels", "run_multimodal", "run_pixels"]
