"""``mimetic eval``: evaluate a trained policy, optionally writing a video of its first episode."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from types import TracebackType
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import load_env_creator

from mimetic import devices
from mimetic.atomic import AtomicPath
from mimetic.cli.common import add_task_args, check_positive, check_seed, print_eval, print_json, task_and_expert
from mimetic.cli.resume import add_max_memory_arg
from mimetic.errors import CheckpointError, ConfigError, TaskError
from mimetic.policies import load_policy, read_checkpoint_meta
from mimetic.policies.checkpoint import META_FILE, WEIGHTS_FILE
from mimetic.rollout import evaluate as run_eval
from mimetic.runs import make_parents, remove_dirs


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained policy")
    add_max_memory_arg(p)
    p.add_argument("--policy", required=True, help="run directory, or its checkpoint/ folder")
    add_task_args(p, required=False, default_from="the checkpoint's")
    p.add_argument("--episodes", type=int, default=50, help="evaluation episodes (default: 50)")
    p.add_argument("--seed", type=int, default=10_000, help="first reset seed (default: 10000)")
    p.add_argument("--video", default=None, help="write a video (mp4/gif) of the first episode here")
    p.add_argument("--device", default="auto",
                   help="where the policy runs: auto (a CUDA GPU, else Apple MPS, else the CPU), cpu, cuda, cuda:N "
                        "or mps (default: auto)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    p.set_defaults(handler=evaluate)


def _checkpoint_dir(path: str) -> Path:
    """A run directory, its checkpoint/ folder, or a file inside that folder."""

    p = Path(path)
    if p.is_file() and p.name in (META_FILE, WEIGHTS_FILE):
        return p.parent
    if (p / "checkpoint" / META_FILE).exists():
        return p / "checkpoint"
    if not p.exists():
        raise CheckpointError(f"no checkpoint at {p}: the path does not exist")
    return p


def _saved_max_steps(info: dict[str, Any], ckpt: Path) -> int | None:
    """The horizon the checkpoint was trained with (its ``extra.max_steps``), checked: it comes
    from a file, not from the command line."""
    steps = info.get("max_steps")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise CheckpointError(f"corrupt {ckpt / META_FILE}: extra.max_steps is {repr(steps)[:40]}, "
                              "not a positive step count (pass --max-steps to override)")
    return steps


def evaluate(args: argparse.Namespace) -> None:

    check_positive(episodes=args.episodes)
    check_seed(args.seed)
    device = devices.resolve(args.device)  # before any file is read or written
    video = VideoFile(args.video) if args.video else None
    ckpt = _checkpoint_dir(args.policy)
    meta = read_checkpoint_meta(ckpt)
    info = {**meta.get("extra", {}), "task": meta.get("spec", {}).get("task")}
    name = args.task or info.get("task")
    if not name:
        raise ConfigError(f"checkpoint {ckpt} does not name its task; pass --task")
    policy = load_policy(ckpt, expect_task=name, device=str(device))
    task, expert = task_and_expert(name, expert_arg=args.expert, num_envs=min(args.num_envs, args.episodes),
                                    max_steps=args.max_steps or _saved_max_steps(info, ckpt), need_expert=False)
    if video is None:
        res = run_eval(task, policy, episodes=args.episodes, seed=args.seed, expert=expert, progress=True)
    else:
        _check_renders(task)
        with video.open(fps=video_fps(task)):
            res = run_eval(task, policy, episodes=args.episodes, seed=args.seed, expert=expert, progress=True,
                           on_frame=video.add)
    if args.json:
        print_json(res.as_dict())
    else:
        print_eval([(str(ckpt), res)])
        if video is not None:
            print(f"video of episode 0 written to {args.video} ({video.frames} frames)")


def _check_renders(task) -> None:
    """Fail before the evaluation, not during it, when --video asks a task that cannot draw."""
    task.reset(seeds=np.zeros(task.num_envs, np.int64))
    try:
        frame = np.asarray(task.render(0))
    except TaskError as e:
        raise ConfigError(f"cannot write --video: {e}") from None
    if frame.ndim != 3 or frame.shape[-1] not in (3, 4):
        raise ConfigError(f"cannot write --video: {task.spec.name} renders arrays of shape {frame.shape}, "
                          "not RGB images")


def video_fps(task) -> int:
    """Real-time playback: the frame rate the task's Gymnasium env declares (30 if none)."""

    envs = getattr(task, "envs", None)  # an adapted Gymnasium task: ask its env
    if envs:
        fps = envs[0].metadata.get("render_fps")
    else:
        try:
            creator = load_env_creator(gym.spec(task.spec.gym_id).entry_point)
            fps = getattr(creator, "metadata", {}).get("render_fps")
        except (gym.error.Error, ImportError, AttributeError, TypeError):
            fps = None
    return int(fps) if isinstance(fps, (int, float)) and fps > 0 else 30


class VideoFile:
    """An mp4/gif written frame by frame into a hidden temporary file beside ``path`` and renamed
    into place when the block succeeds; on failure nothing (not even new folders) remains."""

    SUFFIXES = (".mp4", ".gif")

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in self.SUFFIXES:
            raise ConfigError(f"--video must end in .mp4 or .gif, got {path!r}")
        if self.path.is_dir():
            raise ConfigError(f"--video {path} is a directory; name the video file")
        self.frames = 0
        self._writer: Any = None
        self._tmp: Path | None = None
        self._parents: list[Path] = []
        self._fps = 30

    def open(self, *, fps: int) -> VideoFile:
        self._fps = fps
        return self

    def __enter__(self) -> VideoFile:  # noqa: PYI034
        import imageio.v2 as imageio

        self._parents = make_parents(self.path)
        self._file = AtomicPath(self.path, suffix=self.path.suffix)
        try:
            tmp = self._file.__enter__()
        except OSError as e:
            remove_dirs(self._parents)
            raise ConfigError(f"cannot write --video {self.path}: {e.strerror or e}") from None
        self._tmp = tmp
        mp4 = self.path.suffix.lower() == ".mp4"
        kw = {"fps": self._fps, "macro_block_size": 1} if mp4 else {"duration": 1000 / self._fps, "loop": 0}
        try:
            self._writer = imageio.get_writer(tmp, **kw)
        except BaseException as e:
            self._file.__exit__(type(e), e, e.__traceback__)  # removes the temporary
            remove_dirs(self._parents)
            raise
        return self

    def add(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 frame (rollout's ``on_frame``)."""
        self._writer.append_data(frame)
        self.frames += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._tmp is not None, "VideoFile used outside its with-block"
        self._tmp = None
        try:
            if exc_type is not None:
                with contextlib.suppress(Exception):  # the error that stopped the evaluation matters
                    self._writer.close()
            else:
                self._writer.close()  # encodes the tail (and, for a gif, everything)
                if self.frames == 0:
                    raise ConfigError("no frames to write (the task rendered nothing)")
        except BaseException as e:
            self._file.__exit__(type(e), e, e.__traceback__)  # removes the temporary
            remove_dirs(self._parents)
            raise
        try:
            self._file.__exit__(exc_type, exc, tb)  # renamed into place, or removed after a failure
        except BaseException:
            remove_dirs(self._parents)
            raise
        if exc_type is not None:
            remove_dirs(self._parents)
