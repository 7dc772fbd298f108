"""The one MLP builder and the one ensemble (K stacked MLPs) builder."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from mimetic import limits
from mimetic.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
}


def mlp_bytes(sizes: Sequence[int], k: int = 1) -> int:
    """Training memory of ``k`` MLPs of ``sizes``: fp32 weights and biases, times
    :data:`mimetic.limits.TRAINING_FACTOR` (gradients and AdamW's moments)."""
    params = sum(int(i) * int(o) + int(o) for i, o in itertools.pairwise(sizes))
    return int(k) * params * 4 * limits.TRAINING_FACTOR


def check_sizes(sizes: Sequence[int], k: int = 1) -> None:
    """One line, before anything is allocated, for widths that are not positive integers or whose
    network would exceed the memory cap (a width of 10^9 typed for 10^3)."""
    bad = [s for s in sizes if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1]
    if bad or isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"network sizes must be positive integers, got {list(sizes)}" + (f" x {k}" if k != 1 else ""))
    what = f"an MLP of sizes {tuple(int(s) for s in sizes)}" + (f" x {k} ensemble members" if k > 1 else "")
    limits.check_bytes(what, mlp_bytes(sizes, k))


def mlp(sizes: Sequence[int], activation: str, *, out_activation: str | None = None) -> nn.Sequential:
    """``nn.Linear`` between consecutive ``sizes`` (in, *hidden, out), ``activation`` after each
    hidden layer and ``out_activation`` (none by default) after the last.

    Layers are created first to last, so the torch RNG state decides the weights exactly as a
    hand-written ``nn.Sequential(Linear, act, ..., Linear)`` would; the Linears sit at indices
    0, 2, 4, ... of the Sequential, which is what checkpoint keys (``net.0.weight``, ...) name.
    """
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least an input and an output size, got {tuple(sizes)}")
    check_sizes(sizes)
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    if out_activation is not None:
        layers.append(ACTIVATIONS[out_activation]())
    return nn.Sequential(*layers)


class StackedMLP(nn.Module):
    """K independent MLPs of the same ``sizes`` evaluated together: one batched matmul per layer
    (cheaper than K nets). Each layer is initialised like ``nn.Linear``, uniform in
    +-1/sqrt(fan_in), weights (K, in, out) then biases (K, 1, out), layer by layer."""

    def __init__(self, sizes: Sequence[int], k: int, activation: str) -> None:
        super().__init__()
        check_sizes(sizes, k)
        self.k = k
        self.act = ACTIVATIONS[activation]()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation range
            self.weights.append(nn.Parameter(torch.empty(k, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(k, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(0).expand(self.k, -1, -1)  # (K, B, O)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)  # (K, B, width)
            if i < last:
                h = self.act(h)
        return h
