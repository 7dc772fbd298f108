"""Behavioral cloning: supervised learning of expert actions from demonstrated states.

BC (Pomerleau 1989; the "supervised learning" baseline of Ross, Gordon & Bagnell 2011) minimises
``E_(s, a*) ~ D [ loss(pi(s), a*) ]`` over the demonstration dataset ``D``. The loop is:

1. put the dataset's observation statistics into the policy's normaliser,
2. take all transitions (time windows, for chunking and diffusion policies) as tensors, once per
   call (a growing ``Dataset`` keeps them cached, so a DAgger refit only adds the new rows),
3. for ``steps`` gradient steps: draw a minibatch from a seeded per-epoch permutation, call
   ``policy.loss(batch)`` (the only policy method used, so MLP, chunking and diffusion policies
   train unchanged), clip, and take a ``torch.optim.AdamW`` step (cosine-decayed learning rate by
   default).

The stock multi-tensor (``foreach``) AdamW replaced a hand-written one on a flat parameter
buffer: both give bitwise the same weights; the flat one was faster end to end only for tiny
networks at small batches (benchmarks/RESULTS.md, "BC optimiser").
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast, runtime_checkable

import numpy as np
import torch
from tqdm.auto import tqdm

from mimetic import devices, limits, trainstate
from mimetic.errors import CheckpointError, ConfigError, DataError
from mimetic.protocols import TrainablePolicy
from mimetic.types import Batch, BCResult

LOSSES = ("auto", "mse", "nll")
LR_SCHEDULES = ("cosine", "constant")
DEVICE_DATA_BYTES = 2 << 30  # training rows up to this size live on the accelerator for the whole fit


class TransitionSource(Protocol):
    """What BC reads from a dataset (``mimetic.data.Dataset`` provides it)."""

    def transitions(self) -> tuple[np.ndarray, np.ndarray]:
        """obs (N, *O) float32 and acts (N,) int64 or (N, A) float32."""
        ...

    def obs_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature observation mean and std, (O,) each."""
        ...


@runtime_checkable
class CachedRowsSource(TransitionSource, Protocol):
    """A source that caches its training rows as it grows (``mimetic.data.Dataset`` is one)."""

    def training_arrays(self, *, obs_horizon: int | None = None, act_horizon: int | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, bool]:
        """(obs, targets, mask or None, all finite): transitions, or windows of every valid step."""
        ...


@runtime_checkable
class WindowSource(TransitionSource, Protocol):
    """What BC also reads for time-windowed policies (``mimetic.data.Dataset`` provides it)."""

    def step_index(self) -> np.ndarray:
        """(N,) step index of every valid transition."""
        ...

    def windows(self, idx: np.ndarray, *, obs_horizon: int, act_horizon: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """obs (B, To, *O), acts (B, Ta, *A), mask (B, Ta) bool around steps ``idx`` (B,)."""
        ...


@dataclass(frozen=True)
class BCConfig:
    """Behavioral cloning options."""

    steps: int = 3000
    """Total gradient steps, the training budget. Fixed steps (not epochs) keep training time
    predictable whatever the dataset size; the epochs this amounts to are reported."""

    batch_size: int = 256
    """Transitions per gradient step (the whole dataset when it is smaller)."""

    lr: float = 1e-3
    """AdamW learning rate (the peak, when a schedule decays it)."""

    lr_schedule: Literal["cosine", "constant"] = "cosine"
    """Learning-rate schedule over the steps: cosine (decays to 0) or constant."""

    weight_decay: float = 0.0
    """AdamW decoupled weight decay."""

    grad_clip: float = 10.0
    """Clip the global gradient norm to this value; 0 disables clipping."""

    loss: Literal["auto", "mse", "nll"] = "auto"
    """Check the policy's loss: auto (whatever the policy defines), mse or nll. For MLP policies the
    loss follows the head: mse = deterministic head, nll = categorical or gaussian head."""

    seed: int = 0
    """Seed of the minibatch order (weight initialisation is seeded when the policy is built)."""

    ema: float = 0.0
    """Keep an exponential moving average of the weights with this decay (e.g. 0.999; Diffusion
    Policy evaluates such an average) and end the fit with it; the callback sees the averaged
    weights too. The decay ramps up as min(ema, (1 + step) / (10 + step)). 0 turns it off."""

    device: str = "auto"
    """Where to train: auto (a CUDA GPU, else Apple MPS, else the CPU), cpu, cuda, cuda:N or mps.
    The policy moves there and stays; minibatches are copied there (the whole dataset once, when
    it is small). Noise is still drawn from the policy's CPU generator."""

    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Training precision: fp32, bf16 (autocast forward pass; CPU or a GPU that supports it) or
    fp16 (autocast with loss scaling; GPUs only). Weights and optimiser stay float32."""

    log_every: int = 100
    """Report metrics (callback, progress bar, history) every this many steps: the loss averaged
    over the window, the policy's own metrics (accuracy / mse) on the window's last batch."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        if not self.weight_decay >= 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not self.grad_clip >= 0:
            raise ConfigError(f"grad_clip must be >= 0 (0 disables clipping), got {self.grad_clip}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema must be in [0, 1) (0 turns the weight average off), got {self.ema}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        devices.check_name(self.device)
        devices.check_precision_name(self.precision)


Callback = Callable[[int, dict[str, float]], None]

State = tuple[dict[str, torch.Tensor], dict[str, Any]]
"""A fit's resumable state: tensors (weights, AdamW moments, generators) and JSON (counters)."""

CheckpointHook = Callable[[int, Callable[[], State]], bool]
"""``hook(step, snapshot)``, called where a logging window closes: it may take ``snapshot()`` (the
state to continue from after ``step``) and save it; returning True stops the fit there (Ctrl-C)."""


def fit(
    policy: TrainablePolicy,
    dataset: TransitionSource,
    config: BCConfig = BCConfig(),
    *,
    progress: bool = False,
    callback: Callback | None = None,
    resume: State | None = None,
    checkpoint: CheckpointHook | None = None,
) -> BCResult:
    """Train ``policy`` in place by behavioral cloning on ``dataset``; returns a :class:`BCResult`.

    The policy keeps its current weights as the starting point (DAgger refits warm), while the
    optimizer state is fresh each call. ``callback(step, metrics)`` gets, every ``log_every`` steps,
    the window's mean ``loss``, the policy's own metrics on its last batch, ``lr`` and ``epoch``.

    ``checkpoint`` (see :data:`CheckpointHook`) can save the fit's state at the end of any logging
    window; ``resume`` (such a state, same policy, dataset and config) continues from it, bitwise as
    if the fit had never stopped.
    """
    start = time.perf_counter()
    _check_loss(policy, config.loss)
    device = devices.check_available(config.device, config.precision)
    _trainable(policy)  # a torch module, before it is moved
    cast(torch.nn.Module, policy).to(device)
    generator = torch.Generator().manual_seed(config.seed)
    batches, n = _batch_source(policy, dataset, config.batch_size, generator, device=device)
    params = _trainable(policy)
    batch_size = min(config.batch_size, n)
    was_training = getattr(policy, "training", False)
    # foreach: a few multi-tensor kernels per step instead of several per parameter tensor (at
    # small batches the per-tensor overhead is what a step costs). fused=True was 10-20% faster
    # still but rounds differently; foreach reproduces the earlier flat-buffer AdamW bitwise.
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)
    ema = _WeightAverage(params, config.ema) if config.ema > 0 else None
    scaler = devices.grad_scaler(device, config.precision)
    if ema is not None and callback is not None:
        callback = ema.wrap(callback)
    first, interrupted = 1, False
    try:
        _set_mode(policy, training=True)
        with _Log(config, n=n, batch_size=batch_size, progress=progress, callback=callback) as log:
            if resume is not None:
                first = _restore(resume, policy, opt, batches, log, config, ema) + 1

            def snapshot() -> State:
                return _snapshot(step, policy, opt, batches, log, ema)

            loop_start = time.perf_counter()
            step = first - 1
            for step in range(first, config.steps + 1):
                with devices.autocast(device, config.precision):
                    loss, metrics = policy.loss(next(batches), metrics=log.due(step))
                opt.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                else:  # fp16: scale the loss up so small gradients survive, unscale before clipping
                    scaler.scale(loss).backward()
                    scaler.unscale_(opt)
                if config.grad_clip > 0:
                    _clip_grad_norm(params, config.grad_clip)
                lr = _lr_at(config, step)
                for group in opt.param_groups:
                    group["lr"] = lr
                if scaler is None:
                    opt.step()
                else:  # skips the step when the scaled gradients overflowed
                    scaler.step(opt)
                    scaler.update()
                if ema is not None:
                    ema.update(step)
                log.add(step, loss.detach(), metrics, lr)
                if checkpoint is not None and log.due(step) and step < config.steps and checkpoint(step, snapshot):
                    interrupted = True
                    break
            loop_s = time.perf_counter() - loop_start
        if ema is not None and not interrupted:
            ema.copy_to_params()  # the fit's result is the averaged weights
    finally:
        for p in params:
            p.grad = None  # the policy leaves fit as it came: no gradients held
        _set_mode(policy, training=was_training)
    done = step - first + 1
    return BCResult(
        steps=step,
        epochs=step * batch_size / n,
        final_loss=log.history[-1]["loss"] if log.history else float("nan"),
        samples_per_s=done * batch_size / max(loop_s, 1e-9),
        wall_s=time.perf_counter() - start,
        history=tuple(log.history),
        interrupted=interrupted,
    )


def _snapshot(step: int, policy: TrainablePolicy, opt: torch.optim.Optimizer, batches: _Minibatches,
              log: _Log, ema: _WeightAverage | None = None) -> State:
    """Everything needed to continue after ``step`` (a logging window has just closed)."""
    tensors = trainstate.module_tensors(cast(torch.nn.Module, policy), "policy")
    if ema is not None:
        tensors.update({f"ema.{i}": s.clone() for i, s in enumerate(ema.shadow)})
    tensors.update(trainstate.optimizer_tensors(opt, "opt"))
    tensors.update(trainstate.generator_tensors(policy, "rng"))
    tensors["rng.batches"] = batches.epoch_state.clone()
    meta = {"step": step, "batch_pos": batches.pos, "history": log.history}
    return tensors, meta


def _restore(state: State, policy: TrainablePolicy, opt: torch.optim.Optimizer, batches: _Minibatches,
             log: _Log, config: BCConfig, ema: _WeightAverage | None = None) -> int:
    """Load a :func:`_snapshot`; returns the step it was taken after."""
    tensors, meta = state
    try:
        step, pos, history = int(meta["step"]), int(meta["batch_pos"]), list(meta["history"])
        epoch_state = tensors["rng.batches"]
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"the BC training state is incomplete or corrupt ({err})") from None
    if not 0 < step < config.steps:
        raise CheckpointError(f"the BC training state is at step {step}, outside this fit's 1..{config.steps}")
    trainstate.load_module(cast(torch.nn.Module, policy), tensors, "policy", what="policy")
    trainstate.load_optimizer(opt, tensors, "opt")
    trainstate.load_generators(policy, tensors, "rng")
    batches.restore(epoch_state, pos)
    log.resume(step, history)
    if ema is not None:
        try:
            ema.load([tensors[f"ema.{i}"] for i in range(len(ema.shadow))])
        except (KeyError, RuntimeError) as err:
            raise CheckpointError(f"the BC training state holds no weight average for this fit ({err})") from None
    return step


def _check_loss(policy: TrainablePolicy, loss: str) -> None:
    """Honour ``BCConfig.loss``: the policy defines its loss, BC only checks it is the asked one."""
    if loss == "auto":
        return
    actual = policy.loss_name
    if actual != loss:
        hint = {"mse": "a deterministic head", "nll": "a categorical or gaussian head"}[loss]
        raise ConfigError(f"loss {loss!r} needs a policy with {hint}, but this policy trains with {actual!r}")


def _batch_source(
    policy: TrainablePolicy, dataset: TransitionSource, batch_size: int, generator: torch.Generator, *,
    device: torch.device | None = None,
) -> tuple[_Minibatches, int]:
    """Endless minibatches for ``policy`` and the number of training samples N.

    Window-1 policies get ``Batch.obs`` (B, *O) and ``Batch.acts`` (B, *A). Time-windowed policies
    (chunking, diffusion; ``window != 1``) name their ``obs_horizon`` To and ``pred_horizon`` Tp
    (actions a sample predicts) and get ``obs`` (B, To, *O) ending at each sampled step, ``acts``
    (B, Tp, *A) starting at it and ``extras["mask"]`` (B, Tp) bool, False on padding past an
    episode's end and on unlabelled targets (see ``Dataset.windows``). Either way every tensor is built once, up front.
    """
    if getattr(dataset, "is_dict", False):
        return _dict_batch_source(policy, cast(Any, dataset), batch_size, generator, device=device)
    window = int(policy.window)
    horizons = _horizons(policy, dataset, window) if window != 1 else None
    if horizons is not None:  # windows copy every step To + Tp times: refuse absurd horizons before building them
        n = len(cast(WindowSource, dataset).step_index())
        obs, acts = dataset.transitions()
        row = horizons[0] * int(np.prod(obs.shape[1:])) + horizons[1] * (int(np.prod(acts.shape[1:])) + 1)
        limits.check_bytes(f"BC's time windows ({horizons[0]} observations, {horizons[1]} actions) over {n} samples",
                           n * row * 4)
    if isinstance(dataset, CachedRowsSource):
        # A growing dataset's rows are cached and extended by the dataset (O(new rows) setup per
        # refit); the tensors share their memory instead of copying it.
        obs_horizon, act_horizon = horizons if horizons is not None else (None, None)
        o_np, a_np, m_np, finite = dataset.training_arrays(obs_horizon=obs_horizon, act_horizon=act_horizon)
        obs, acts = _shared_tensor(o_np), _shared_tensor(a_np)
        mask = None if m_np is None else _shared_tensor(m_np)
    else:
        obs, acts, mask = _tensors(dataset, horizons)
        finite = bool(torch.isfinite(obs).all()) and (not acts.is_floating_point() or bool(torch.isfinite(acts).all()))
    n = len(obs)
    if n == 0:
        raise DataError("the dataset is empty; record some demonstrations first")
    if not finite:
        raise DataError("the dataset contains NaN or inf observations/actions; clean it before training")
    mean, std = dataset.obs_stats()
    policy.set_normalizer(mean, std)
    return _Minibatches(obs, acts, mask, batch_size=min(batch_size, n), generator=generator,
                        device=device or torch.device("cpu")), n


def _dict_batch_source(policy: TrainablePolicy, dataset: Any, batch_size: int, generator: torch.Generator, *,
                       device: torch.device | None) -> tuple[_Minibatches, int]:
    """Minibatches of dict (camera + state) observations, gathered a minibatch at a time.

    Frames are never copied up front: each sample keeps the rows of ``dataset.obs`` it reads (one
    row, or To rows for a window), and every minibatch gathers its frames from the dataset's own
    uint8 arrays (shared, not copied). ``Batch.obs`` is then a dict of (B, [To,] *shape) tensors."""
    layout = dataset.obs_layout
    set_stats = getattr(policy, "set_obs_stats", None)
    if set_stats is None:
        raise ConfigError(f"the dataset has dict observations ({layout.describe()}) and a "
                          f"{type(policy).__name__} reads flat ones; put an image encoder in front of it "
                          "(mimetic.policies.VisionPolicy.for_spec)")
    window = int(policy.window)
    steps = dataset.step_index()  # (N,)
    if len(steps) == 0:
        raise DataError("the dataset is empty; record some demonstrations first")
    if window != 1:
        obs_horizon, pred_horizon = _horizons(policy, dataset, window)
        rows, act_steps, mask_np = dataset.window_index(steps, obs_horizon=obs_horizon, act_horizon=pred_horizon)
        acts_np: np.ndarray = dataset.acts[act_steps]  # (N, Tp, *A)
    else:
        rows, acts_np, mask_np = dataset.obs_rows(steps), dataset.acts[steps], None  # (N,), (N, *A)
    finite = all(bool(np.isfinite(dataset.obs[k]).all()) for k in layout.state_keys)
    if not finite or (acts_np.dtype.kind == "f" and not np.isfinite(acts_np).all()):
        raise DataError("the dataset contains NaN or inf observations/actions; clean it before training")
    set_stats(dataset.obs_stats_by_key())
    read = getattr(policy, "layout", layout).keys  # a pixel task's hidden state is never gathered
    missing = [k for k in read if k not in layout.keys]
    if missing:
        raise DataError(f"the policy reads observation key(s) {missing} that the dataset lacks "
                        f"(it has {list(layout.keys)})")
    obs = _RowGather({k: _shared_tensor(dataset.obs[k]) for k in read}, torch.from_numpy(rows))
    mask = None if mask_np is None else torch.from_numpy(np.ascontiguousarray(mask_np))
    n = len(steps)
    return _Minibatches(obs, _as_tensor(acts_np, None), mask, batch_size=min(batch_size, n), generator=generator,
                        device=device or torch.device("cpu")), n


class _RowGather:
    """Per-key observation arrays (R, *shape) and each sample's rows into them (N,) or (N, To):
    ``index_select(0, idx)`` gathers a minibatch as {key: (B, [To,] *shape)}."""

    def __init__(self, arrays: dict[str, torch.Tensor], rows: torch.Tensor) -> None:
        self.arrays, self.rows = arrays, rows

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def device(self) -> torch.device:
        return self.rows.device

    @property
    def nbytes(self) -> int:
        return sum(a.numel() * a.element_size() for a in self.arrays.values()) + self.rows.numel() * 8

    def to(self, device: torch.device) -> _RowGather:
        return _RowGather({k: a.to(device) for k, a in self.arrays.items()}, self.rows.to(device))

    def index_select(self, dim: int, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        assert dim == 0
        rows = self.rows.index_select(0, idx)  # (B,) or (B, To)
        flat = rows.reshape(-1)
        return {k: a.index_select(0, flat).reshape(*rows.shape, *a.shape[1:]) for k, a in self.arrays.items()}


def _horizons(policy: TrainablePolicy, dataset: TransitionSource, window: int) -> tuple[int, int]:
    """A time-windowed policy's (obs_horizon To, pred_horizon Tp), checked against the dataset."""
    # WindowedPolicy's two attributes (checked alone: a policy need not be a full Policy to train)
    obs_horizon, pred_horizon = getattr(policy, "obs_horizon", None), getattr(policy, "pred_horizon", None)
    if obs_horizon is None or pred_horizon is None:
        raise ConfigError(
            f"a policy with window {window} must define obs_horizon and pred_horizon for BC to build its windows"
        )
    if not isinstance(dataset, WindowSource):
        raise ConfigError(
            f"BC for policies with window {window} needs a dataset with episode boundaries "
            f"(mimetic.data.Dataset), not a {type(dataset).__name__}"
        )
    return int(obs_horizon), int(pred_horizon)


def _tensors(
    dataset: TransitionSource, horizons: tuple[int, int] | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A plain source's training rows as fresh tensors: obs (N, *O) / (N, To, *O), acts, mask."""
    if horizons is None:
        obs_np, acts_np = dataset.transitions()
        if len(acts_np) != len(obs_np):
            raise DataError(f"dataset has {len(obs_np)} observations but {len(acts_np)} actions")
        return _as_tensor(obs_np, np.float32), _as_tensor(acts_np, None), None
    source = cast(WindowSource, dataset)
    idx = source.step_index()  # (N,)
    obs_np, acts_np, mask_np = source.windows(idx, obs_horizon=horizons[0], act_horizon=horizons[1])
    return _as_tensor(obs_np, np.float32), _as_tensor(acts_np, None), torch.from_numpy(np.ascontiguousarray(mask_np))


def _shared_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor on ``array``'s memory (read-only by contract: BC only gathers minibatches from it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def _as_tensor(array: np.ndarray, dtype: type | None) -> torch.Tensor:
    """One conversion of a whole dataset array; integers become int64, floats float32."""
    if dtype is None:
        dtype = np.int64 if np.issubdtype(array.dtype, np.integer) else np.float32
    array = np.ascontiguousarray(array, dtype=dtype)
    if not array.flags.writeable:
        array = array.copy()  # torch.from_numpy warns on read-only memory
    return torch.from_numpy(array)


class _Minibatches:
    """Shuffled minibatches, a fresh permutation each epoch; the ragged tail of an epoch is
    skipped so every step has the same size (a different random tail each epoch). A window
    ``mask`` (N, Tp) travels in ``Batch.extras["mask"]``. Its position (the generator's state
    before the current epoch's permutation, and the batch within it) is saved by checkpoints.

    On an accelerator the rows move there once when they take at most ``DEVICE_DATA_BYTES``,
    else each minibatch is gathered on the CPU and copied; the permutation is drawn on the CPU
    either way, so the minibatch order does not depend on the device."""

    def __init__(self, obs: torch.Tensor | _RowGather, acts: torch.Tensor, mask: torch.Tensor | None, *,
                 batch_size: int, generator: torch.Generator, device: torch.device = torch.device("cpu")) -> None:
        size = (obs.nbytes if isinstance(obs, _RowGather) else obs.numel() * obs.element_size()) + sum(
            t.numel() * t.element_size() for t in (acts, mask) if t is not None)
        self.device, self.resident = device, device.type == "cpu" or size <= DEVICE_DATA_BYTES
        if self.resident and device.type != "cpu":
            obs, acts = obs.to(device), acts.to(device)
            mask = None if mask is None else mask.to(device)
        self.obs, self.acts, self.mask, self.batch_size, self.generator = obs, acts, mask, batch_size, generator
        self.per_epoch = len(obs) // batch_size
        self.pos = self.per_epoch  # batches drawn from the current permutation (none yet)
        self.epoch_state = generator.get_state()
        self.perm = torch.zeros(0, dtype=torch.long)

    def __iter__(self) -> _Minibatches:
        return self

    def _new_epoch(self) -> None:
        self.epoch_state = self.generator.get_state()
        self.perm = torch.randperm(len(self.obs), generator=self.generator)  # (N,)
        self.pos = 0

    def restore(self, epoch_state: torch.Tensor, pos: int) -> None:
        self.generator.set_state(epoch_state)
        self._new_epoch()
        self.pos = pos

    def __next__(self) -> Batch:
        if self.pos >= self.per_epoch:
            self._new_epoch()
        i, self.pos = self.pos, self.pos + 1
        idx = self.perm[i * self.batch_size : (i + 1) * self.batch_size].to(self.obs.device)  # (B,)
        obs, acts = self._moved(self.obs.index_select(0, idx)), self._moved(self.acts.index_select(0, idx))
        if self.mask is None:
            return Batch(obs=obs, acts=acts)
        return Batch(obs=obs, acts=acts, extras={"mask": self._moved(self.mask.index_select(0, idx))})  # (B, Tp)

    def _moved(self, rows: Any) -> Any:
        if self.resident:
            return rows
        if isinstance(rows, dict):  # dict observations: each key's minibatch (frames stay uint8 until the encoder)
            return {k: v.to(self.device, non_blocking=True) for k, v in rows.items()}
        return rows.to(self.device, non_blocking=True)


class _WeightAverage:
    """An exponential moving average of the trainable weights (Polyak averaging; the "EMA model"
    of Diffusion Policy), updated after every optimiser step with the decay
    ``min(decay, (1 + step) / (10 + step))``: small at first, so the random initial weights are
    soon forgotten."""

    def __init__(self, params: list[torch.nn.Parameter], decay: float) -> None:
        self.params, self.decay = params, decay
        self.shadow = [p.detach().clone() for p in params]

    def update(self, step: int) -> None:
        decay = min(self.decay, (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - decay)

    def load(self, tensors: list[torch.Tensor]) -> None:
        for s, t in zip(self.shadow, tensors, strict=True):
            s.copy_(t)

    def copy_to_params(self) -> None:
        with torch.no_grad():
            for p, s in zip(self.params, self.shadow, strict=True):
                p.copy_(s)

    def wrap(self, callback: Callback) -> Callback:
        """``callback`` run with the averaged weights in the policy, the trained ones put back after."""

        def averaged(step: int, record: dict[str, float]) -> None:
            with torch.no_grad():
                trained = [p.detach().clone() for p in self.params]
            self.copy_to_params()
            try:
                callback(step, record)
            finally:
                with torch.no_grad():
                    for p, t in zip(self.params, trained, strict=True):
                        p.copy_(t)

        return averaged


def _lr_at(config: BCConfig, step: int) -> float:
    """Cosine decay from ``lr`` to 0 over the run (Loshchilov & Hutter 2017, no restarts)."""
    if config.lr_schedule == "constant":
        return config.lr
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * (step - 1) / config.steps))


def _set_mode(policy: TrainablePolicy, *, training: bool) -> None:
    if isinstance(policy, torch.nn.Module):
        policy.train(training)


def _clip_grad_norm(params: list[torch.nn.Parameter], max_norm: float) -> None:
    """Global-norm clipping as ``torch.nn.utils.clip_grad_norm_`` computes it, except that the norm
    is one reduction over all gradients together and the scale is applied only when it is below 1:
    the rounding BC always had, so earlier results reproduce bitwise (torch's per-tensor norms
    differ in the last bits, which grow over a run)."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads])))
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g.mul_(scale)


def _trainable(policy: TrainablePolicy) -> list[torch.nn.Parameter]:
    if not isinstance(policy, torch.nn.Module):
        raise ConfigError(f"BC trains torch policies; got a {type(policy).__name__}")
    params = [p for p in policy.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the policy has no trainable parameters")
    return params


class _Log:
    """Averages per-step metrics over ``log_every`` windows; feeds callback, tqdm and history."""

    def __init__(
        self, config: BCConfig, *, n: int, batch_size: int, progress: bool, callback: Callback | None
    ) -> None:
        self.every, self.steps, self.n, self.batch_size = config.log_every, config.steps, n, batch_size
        self.callback = callback
        self.loss_sum = torch.zeros(())
        self.count = 0
        self.history: list[dict[str, float]] = []
        self.bar: Any = tqdm(total=config.steps, desc="bc", unit="step", disable=not progress)

    def resume(self, step: int, history: list[dict[str, float]]) -> None:
        """Continue after ``step`` with the records logged before it."""
        self.history = history
        self.bar.update(step)

    def due(self, step: int) -> bool:
        """Whether ``step`` closes a logging window (the policy's own metrics are taken then)."""
        return step % self.every == 0 or step == self.steps

    def add(self, step: int, loss: torch.Tensor, metrics: dict[str, float], lr: float) -> None:
        # The loss is summed as a tensor and read once per window: a per-step .item() is a sync.
        self.loss_sum = loss if self.count == 0 else self.loss_sum + loss
        self.count += 1
        if self.due(step):
            mean_loss = float(self.loss_sum) / self.count
            if not math.isfinite(mean_loss):
                raise ConfigError(f"BC loss became {mean_loss} by step {step}; lower lr or set grad_clip")
            record = {"loss": mean_loss, **metrics}  # metrics: the window's last batch
            record.update(step=float(step), epoch=step * self.batch_size / self.n, lr=lr)
            self.history.append(record)
            self.bar.update(self.count)
            self.bar.set_postfix(loss=f"{record['loss']:.4g}", refresh=False)
            if self.callback is not None:
                self.callback(step, record)
            self.count = 0

    def __enter__(self) -> _Log:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
