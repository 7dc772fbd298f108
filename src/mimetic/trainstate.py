"""Resumable training state as flat named tensors + JSON (safetensors has no nesting, and no pickle).

A checkpoint that lets training continue *bitwise* as if it had never stopped needs, besides the
weights: the optimiser's moments, every random generator's position, and the loop's counters.
These helpers turn the torch pieces into ``{name: tensor}`` and back; the loops (BC, PPO, the
interactive rounds) decide what else belongs to their state.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mimetic.errors import CheckpointError


def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> dict[str, torch.Tensor]:
    """An Adam(W) optimizer's per-parameter state as flat named tensors."""
    out: dict[str, torch.Tensor] = {}
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        for k, v in opt.state.get(p, {}).items():
            out[f"{prefix}.{i}.{k}"] = torch.as_tensor(v).detach().to("cpu", copy=True)  # saved from any device
    return out


_ADAM_STATE = ("step", "exp_avg", "exp_avg_sq")  # what Adam(W) keeps per parameter (amsgrad off)


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    """Install what :func:`optimizer_tensors` saved. A missing moment, or one whose shape is not
    its parameter's, would only fail at the next step, so it is refused here (one-line
    CheckpointError)."""
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        keys = [k for k in tensors if k.startswith(f"{prefix}.{i}.")]
        state = {k.rsplit(".", 1)[1]: tensors[k].clone() for k in keys}
        missing = sorted(set(_ADAM_STATE) - set(state)) if state else []
        if missing:
            raise CheckpointError(f"saved optimizer state of {prefix}.{i} lacks {', '.join(missing)}")
        for name, value in state.items():
            shape = () if name == "step" else tuple(p.shape)
            if tuple(value.shape) != shape:
                raise CheckpointError(f"saved optimizer state {prefix}.{i}.{name} has shape {tuple(value.shape)}, "
                                      f"its parameter needs {shape}")
            # Adam's own dtypes; its step count stays on the CPU, the moments go where the weights are
            state[name] = value.to(torch.float32) if name == "step" else value.to(device=p.device, dtype=p.dtype)
        if state:
            opt.state[p] = state


def module_tensors(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def load_module(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str, *, what: str) -> None:
    state = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"saved {what} does not match this configuration: {str(err)[:200]}") from None


def generator_tensors(obj: Any, prefix: str) -> dict[str, torch.Tensor]:
    """The torch generators an object owns (``.generator``, e.g. a diffusion policy's noise) and,
    always, torch's global generator (stochastic acting without a generator draws from it)."""
    out = {f"{prefix}.global": torch.get_rng_state()}
    gen = getattr(obj, "generator", None)
    if isinstance(gen, torch.Generator):
        out[f"{prefix}.own"] = gen.get_state()
    for i, extra in enumerate(_more_generators(obj)):
        out[f"{prefix}.own{i}"] = extra.get_state()
    return out


def _more_generators(obj: Any) -> list[torch.Generator]:
    """Generators besides ``.generator`` (a vision policy's head has its own), from ``generators()``."""
    listed = obj.generators() if callable(getattr(obj, "generators", None)) else []
    return [g for g in listed if g is not getattr(obj, "generator", None)]


def load_generators(obj: Any, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    if f"{prefix}.global" in tensors:
        torch.set_rng_state(tensors[f"{prefix}.global"])
    gen = getattr(obj, "generator", None)
    if isinstance(gen, torch.Generator) and f"{prefix}.own" in tensors:
        gen.set_state(tensors[f"{prefix}.own"])
    for i, extra in enumerate(_more_generators(obj)):
        if f"{prefix}.own{i}" in tensors:
            extra.set_state(tensors[f"{prefix}.own{i}"])


def numpy_rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A numpy Generator's position as JSON (PCG64's state is two integers)."""
    return rng.bit_generator.state


def load_numpy_rng(rng: np.random.Generator, state: dict[str, Any]) -> None:
    try:
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"corrupt random generator state in the checkpoint: {err}") from None


def policy_tensors(policy: Any, prefix: str) -> dict[str, torch.Tensor]:
    """A torch policy's weights and its own generator (``prefix.*``, ``prefix.rng.own``)."""
    out = module_tensors(policy, prefix)
    gen = getattr(policy, "generator", None)
    if isinstance(gen, torch.Generator):
        out[f"{prefix}.rng.own"] = gen.get_state()
    return out


def load_policy(policy: Any, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    own = tensors.get(f"{prefix}.rng.own")
    weights = {k: v for k, v in tensors.items() if k != f"{prefix}.rng.own"}
    load_module(policy, weights, prefix, what="policy")
    gen = getattr(policy, "generator", None)
    if isinstance(gen, torch.Generator) and own is not None:
        gen.set_state(own)


def array_tensors(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, torch.Tensor]:
    """numpy arrays as tensors for safetensors (copied: a checkpoint must not alias live buffers)."""
    return {f"{prefix}.{k}": torch.from_numpy(np.array(v, copy=True)) for k, v in arrays.items()}


def tensor_arrays(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) + 1:]: v.numpy() for k, v in tensors.items() if k.startswith(prefix + ".")}


def global_rng_tensors() -> dict[str, torch.Tensor]:
    return {"rng.torch": torch.get_rng_state()}


def load_global_rng(tensors: dict[str, torch.Tensor]) -> None:
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
