"""The flat-buffer AdamW BC loop that ``bc.fit`` used before it switched to ``torch.optim.AdamW``.

Kept only as the "before" side of bench_bc_speed.py's optimiser comparison: the same minibatches,
logging and schedule as ``bc.fit`` (its private helpers are reused), but the parameters are views
of one flat buffer, so zeroing, clipping and the AdamW update are a few tensor ops per step.
"""

from __future__ import annotations

import math
import time

import torch

from mimetic.algos import bc
from mimetic.types import BCResult


class FlatParams:
    """A policy's trainable parameters re-pointed into one flat buffer, their grads into another."""

    def __init__(self, policy: torch.nn.Module) -> None:
        self.params = [p for p in policy.parameters() if p.requires_grad]
        total = sum(p.numel() for p in self.params)
        self.param = torch.empty(total)  # (P,)
        self.grad = torch.zeros(total)  # (P,)
        offset = 0
        for p in self.params:
            k = p.numel()
            self.param[offset : offset + k].copy_(p.data.reshape(-1))
            p.data = self.param[offset : offset + k].view_as(p)
            p.grad = self.grad[offset : offset + k].view_as(p)
            offset += k

    def clip_grad_norm_(self, max_norm: float) -> None:
        norm = float(torch.linalg.vector_norm(self.grad))
        if norm > max_norm:
            self.grad.mul_(max_norm / (norm + 1e-6))

    def release(self) -> None:
        for p in self.params:
            p.data = p.data.clone()
            p.grad = None


class FlatAdamW:
    """AdamW (Loshchilov & Hutter 2019) with Adam's bias correction on one flat tensor."""

    def __init__(self, param: torch.Tensor, *, weight_decay: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.param, self.weight_decay, self.betas, self.eps = param, weight_decay, betas, eps
        self.m = torch.zeros_like(param)  # (P,)
        self.v = torch.zeros_like(param)  # (P,)
        self.t = 0

    def step(self, grad: torch.Tensor, *, lr: float) -> None:
        self.t += 1
        beta1, beta2 = self.betas
        self.m.lerp_(grad, 1.0 - beta1)
        self.v.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        if self.weight_decay:
            self.param.mul_(1.0 - lr * self.weight_decay)
        denom = self.v.sqrt().div_(math.sqrt(1.0 - beta2**self.t)).add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-lr / (1.0 - beta1**self.t))


def flat_fit(policy: torch.nn.Module, dataset: bc.TransitionSource, config: bc.BCConfig) -> BCResult:
    """``bc.fit`` as it was with the flat-buffer optimiser (no progress bar or callback)."""
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(config.seed)
    batches, n = bc._batch_source(policy, dataset, config.batch_size, generator)  # type: ignore[arg-type]
    batch_size = min(config.batch_size, n)
    was_training = policy.training
    flat = FlatParams(policy)
    try:
        opt = FlatAdamW(flat.param, weight_decay=config.weight_decay)
        policy.train(True)
        with bc._Log(config, n=n, batch_size=batch_size, progress=False, callback=None) as log:
            loop_start = time.perf_counter()
            for step in range(1, config.steps + 1):
                loss, metrics = policy.loss(next(batches), metrics=log.due(step))  # type: ignore[operator]
                flat.grad.zero_()
                loss.backward()
                if config.grad_clip > 0:
                    flat.clip_grad_norm_(config.grad_clip)
                lr = bc._lr_at(config, step)
                opt.step(flat.grad, lr=lr)
                log.add(step, loss.detach(), metrics, lr)
            loop_s = time.perf_counter() - loop_start
    finally:
        flat.release()
        policy.train(was_training)
    return BCResult(steps=config.steps, epochs=config.steps * batch_size / n, final_loss=log.history[-1]["loss"],
                    samples_per_s=config.steps * batch_size / max(loop_s, 1e-9),
                    wall_s=time.perf_counter() - start, history=tuple(log.history))
