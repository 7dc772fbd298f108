"""Expert adapters: any user callable (``as_expert``) or a Stable-Baselines3 policy file
(``load_sb3_expert``) as a batched :class:`Expert`.

The built-in scripted experts live with their tasks (``cartpole.EXPERT``, ...) and are found by
name through :func:`mimetic.envs.registry.make_expert`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mimetic.envs.base import ScriptedExpert, TaskSpec
from mimetic.envs.policy_expert import PolicyExpert
from mimetic.errors import CheckpointError, TaskError
from mimetic.observations import DictObs

if TYPE_CHECKING:  # protocols imports torch; the envs package stays torch-free at import
    from mimetic.protocols import Expert


# --------------------------------------------------------------------------- adapters


class CallableExpert:
    """A user callable as an :class:`Expert` (see :func:`as_expert`)."""

    def __init__(self, fn: Callable[[np.ndarray], object], *, name: str, batched: bool | None,
                 discrete: bool | None) -> None:
        self.fn = fn
        self.name = name
        self.batched = batched
        self.discrete = discrete

    def __call__(self, obs: np.ndarray | DictObs) -> np.ndarray:
        if not isinstance(obs, DictObs):  # a DictObs (image + state) is indexed like a batch as it is
            obs = np.asarray(obs)
            if obs.ndim < 2:
                raise TaskError(f"expert {self.name!r} labels batches (B, *O); got shape {obs.shape}")
        n = len(obs)
        if self.batched is None:
            out = self._probe(obs)
            if out is not None:
                return self._tidy(out, n)
        if self.batched:
            return self._tidy(np.asarray(self.fn(obs)), n)
        return self._tidy(np.stack([np.asarray(self.fn(obs[i])) for i in range(n)]), n)

    def _probe(self, obs: np.ndarray | DictObs) -> np.ndarray | None:
        """Try the whole batch once; a result with one row per observation means 'batched'."""
        try:
            out = np.asarray(self.fn(obs))
        except Exception:  # a single-observation function may fail on a batch in any way
            out = None
        fits = out is not None and out.ndim >= 1 and out.shape[0] == len(obs)
        if len(obs) > 1:  # a batch of one cannot tell the two kinds apart: decide later
            self.batched = bool(fits)
        return out if fits else None

    def _tidy(self, out: np.ndarray, n: int) -> np.ndarray:
        discrete = out.dtype.kind in "iub" if self.discrete is None else self.discrete
        try:
            if discrete:
                return out.astype(np.int64).reshape(n)  # (B,)
            return out.astype(np.float32).reshape(n, -1)  # (B, A)
        except (ValueError, TypeError) as exc:
            kind = "one integer" if discrete else "an action vector"
            raise TaskError(f"expert {self.name!r} must return {kind} per observation for {n} "
                            f"observations; got {out.dtype} array of shape {out.shape} ({exc})") from None


def as_expert(
    fn: Callable[[np.ndarray], object],
    *,
    name: str = "custom",
    batched: bool | None = None,
    discrete: bool | None = None,
) -> Expert:
    """Adapt a callable to the batched Expert protocol.

    ``fn`` may be batched (``(B, *O) -> (B, *A)``) or take one observation (``(*O,) -> action``).
    With ``batched=None`` the first call with B >= 2 decides: ``fn`` gets the whole batch, and if
    it returns one row per observation it is batched; if it raises or returns another shape it is
    called row by row from then on. Outputs become int64 (B,) when ``discrete`` (default: when
    ``fn`` returns integers), else float32 (B, A).
    """
    if isinstance(fn, (ScriptedExpert, CallableExpert)):
        return fn
    if not callable(fn):
        raise TaskError(f"as_expert needs a callable obs -> actions, got {type(fn).__name__}")
    return CallableExpert(fn, name=name, batched=batched, discrete=discrete)


_SB3_ALGOS = ("PPO", "A2C", "DQN", "SAC", "TD3", "DDPG")


def load_policy_expert(directory: str | Path, spec: TaskSpec) -> Expert:
    """A mimetic policy folder (policy.json + policy.safetensors, e.g. from ``mimetic expert train``)
    as the expert of task ``spec``; a folder trained for another task is refused in one line."""
    from mimetic.envs.registry import same_task
    from mimetic.policies import read_checkpoint_meta

    directory = Path(directory)
    meta = read_checkpoint_meta(directory)
    task = meta["spec"].get("task")
    if task is not None and not same_task(task, spec.name):
        raise TaskError(f"expert {directory} was trained for task {task!r}, not {spec.name!r}")
    obs_dim = meta["spec"].get("obs_dim")
    want = int(np.prod(spec.observation_space.shape))
    if obs_dim is not None and obs_dim != want:
        raise TaskError(f"expert {directory} reads observations of width {obs_dim}; {spec.name} gives {want}")
    expert = PolicyExpert(directory)
    expert.load()
    return expert


def load_sb3_expert(path: str | Path, spec: TaskSpec, *, algo: str | None = None,
                    normalize: str | Path | bool | None = None) -> Expert:
    """A Stable-Baselines3 policy saved as a .zip, acting deterministically, as an Expert.

    ``algo`` (e.g. "PPO") names the SB3 class; by default each of PPO, A2C, DQN, SAC, TD3, DDPG is
    tried. Most MuJoCo policies were trained behind ``VecNormalize`` and act sensibly only on
    observations normalised with its saved statistics: ``normalize`` names that ``.pkl`` file; by
    default one beside the zip is used (``vecnormalize.pkl``, ``vec_normalize.pkl`` or
    ``<stem>_vecnormalize.pkl``, the names RL Zoo and SB3's examples use), with a warning when
    there is none; ``normalize=False`` uses raw observations silently. On the command line:
    ``--expert model.zip`` (statistics found beside it) or ``--expert model.zip:stats.pkl``.

    Needs the optional ``stable-baselines3`` package (``pip install mimetic[sb3]``). SB3 files
    contain pickled objects, so load only files you trust (mimetic's own checkpoints never unpickle).
    """
    try:
        import stable_baselines3 as sb3
    except ImportError as exc:
        raise TaskError(f"install stable-baselines3 to load {path} (pip install stable-baselines3)") from exc
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no Stable-Baselines3 policy file at {path}")
    for algo_name in (algo,) if algo else _SB3_ALGOS:
        cls = getattr(sb3, algo_name, None)
        try:
            model = cls.load(path, device="cpu")
            break
        except Exception:  # wrong algorithm class for this zip: try the next one
            continue
    else:
        raise CheckpointError(f"{path} is not a loadable SB3 {algo or '/'.join(_SB3_ALGOS)} model")
    if tuple(model.observation_space.shape) != tuple(spec.observation_space.shape):
        raise TaskError(f"SB3 policy expects observations {model.observation_space.shape}, "
                        f"task {spec.name} gives {spec.observation_space.shape}")
    norm = _vecnormalize(path, normalize, shape=tuple(spec.observation_space.shape))

    def predict(obs: np.ndarray) -> np.ndarray:
        return model.predict(obs if norm is None else norm(obs), deterministic=True)[0]

    return CallableExpert(predict, name=f"sb3-{algo_name.lower()}:{path.stem}", batched=True,
                          discrete=spec.discrete)


def _vecnormalize(zip_path: Path, normalize: str | Path | bool | None,
                  *, shape: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray] | None:
    """The observation transform of a saved VecNormalize (None: raw observations)."""
    if normalize is False:
        return None
    if normalize is None or normalize is True:
        names = ("vecnormalize.pkl", "vec_normalize.pkl", f"{zip_path.stem}_vecnormalize.pkl")
        found = [zip_path.parent / n for n in names if (zip_path.parent / n).is_file()]
        if not found:
            warnings.warn(f"no VecNormalize statistics beside {zip_path} (looked for {', '.join(names)}): "
                          "the policy sees raw observations, which is right only if it was trained without "
                          "VecNormalize (name the file with MODEL.zip:STATS.pkl)", stacklevel=3)
            return None
        stats_path = found[0]
    else:
        stats_path = Path(normalize)
        if not stats_path.is_file():
            raise CheckpointError(f"no VecNormalize statistics file at {stats_path}")
    import pickle

    try:
        with open(stats_path, "rb") as f:
            vn = pickle.load(f)  # noqa: S301 - SB3's own format; the docstring says to trust the file
        if not getattr(vn, "norm_obs", True):
            return None
        mean = np.asarray(vn.obs_rms.mean, np.float64)
        std = np.sqrt(np.asarray(vn.obs_rms.var, np.float64) + float(vn.epsilon))
        clip = float(vn.clip_obs)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is one line
        raise CheckpointError(f"{stats_path} is not a readable VecNormalize file: {type(exc).__name__}: {exc}"
                              ) from None
    if mean.shape != shape:
        raise CheckpointError(f"{stats_path} normalises observations of shape {mean.shape}, the task gives {shape}")

    def apply(obs: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(obs, np.float64) - mean) / std, -clip, clip).astype(np.float32)

    return apply


class ClippedExpert:
    """An expert whose continuous actions are clipped into ``space``'s bounds (``--clip-actions``),
    with one warning the first time it had to: for experts that overshoot the bounds on purpose
    (bang-bang controllers) or by a tuning slip, when clipping is what the environment would do."""

    def __init__(self, expert: Expert, space: Any) -> None:
        self.expert, self.space = expert, space
        self.name = getattr(expert, "name", type(expert).__name__)
        self.discrete = getattr(expert, "discrete", False)
        self.clipped = 0  # action values clipped so far

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        acts = np.asarray(self.expert(obs))
        if acts.dtype.kind != "f":
            return acts
        out = np.clip(acts, self.space.low, self.space.high).astype(acts.dtype, copy=False)
        n = int(np.count_nonzero(out != acts))
        if n and not self.clipped:
            warnings.warn(f"the expert {self.name} returned action values outside the bounds; clipping them "
                          "(--clip-actions)", stacklevel=2)
        self.clipped += n
        return out
