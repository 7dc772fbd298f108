"""The task registry: built-in task names -> task and expert factories, and Gymnasium registration.

Each task lives in its own module (task class, scripted expert, hooks); this module only lists
them. Any registered Gymnasium id also works as a task, as ``gym:<id>`` or bare (:class:`GymTask`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from mimetic.envs import cartpole, driving, lunarlander, mujoco, multimodal, pendulum, pixels, pusht
from mimetic.envs.base import BatchedTask, ScriptedExpert, check_count
from mimetic.envs.gym_adapter import GymTask
from mimetic.errors import TaskError

DRIVING_ID = "mimetic/Driving-v0"
MULTIMODAL_ID = "mimetic/Multimodal-v0"

Build = Callable[..., BatchedTask]  # (num_envs=..., [max_steps=...]) -> task


@dataclass(frozen=True)
class _Entry:
    build: Build
    expert: ScriptedExpert
    description: str


def _lander(*, continuous: bool) -> Build:
    def build(**kwargs: Any) -> BatchedTask:
        return lunarlander.LunarLanderTask(continuous=continuous, **kwargs)

    return build


_TASKS: dict[str, _Entry] = {
    "cartpole": _Entry(cartpole.CartPoleTask, cartpole.EXPERT,
                       "CartPole-v1 in batched numpy; push left/right to balance a pole"),
    "pendulum": _Entry(pendulum.PendulumTask, pendulum.EXPERT,
                       "Pendulum-v1 in batched numpy; swing up and balance with torque"),
    "lunarlander": _Entry(_lander(continuous=False), lunarlander.EXPERT,
                          "LunarLander-v3 (Box2D, adapted); 4 discrete engines"),
    "lunarlander-continuous": _Entry(_lander(continuous=True), lunarlander.CONTINUOUS_EXPERT,
                                     "LunarLander-v3 with continuous=True (Box2D, adapted); 2 throttles"),
    "driving": _Entry(driving.DrivingTask, driving.EXPERT,
                      "long-horizon lane keeping on a curvy closed track (ALVINN-style)"),
    "multimodal": _Entry(multimodal.MultimodalTask, multimodal.EXPERT,
                         "reach a goal around an obstacle; the expert passes left or right by a hidden coin"),
}


def _locomotion(name: str) -> Build:
    def build(**kwargs: Any) -> BatchedTask:
        return mujoco.MujocoTask(name, **kwargs)

    return build


# MuJoCo tasks: built only when asked for (the extra may be missing); experts load on first use
_TASKS.update({name: _Entry(_locomotion(name), mujoco.make_shipped_expert(name), facts.description)
               for name, facts in mujoco.TASKS.items()})

def _pusht(name: str) -> Build:
    def build(**kwargs: Any) -> BatchedTask:
        return pusht.PushTTask(name, **kwargs)

    return build


# PushT: built only when asked for (the extra may be missing); the planner starts on first use
_TASKS["pusht"] = _Entry(_pusht("pusht"), pusht.EXPERT,
                         "PushT (gym-pusht): push a T into its goal pose; state obs (agent, block pose)")
_TASKS["pusht-keypoints"] = _Entry(_pusht("pusht-keypoints"), pusht.KEYPOINTS_EXPERT,
                                   "PushT with keypoint obs (agent + the T's 8 corners), Diffusion Policy's low-dim")

# Gymnasium ids whose observations and actions are exactly those of a built-in task
_ALIASES = {"CartPole-v1": "cartpole", "Pendulum-v1": "pendulum", "LunarLander-v3": "lunarlander",
            DRIVING_ID: "driving", MULTIMODAL_ID: "multimodal",
            **{facts.gym_id: name for name, facts in mujoco.TASKS.items()}, pusht.GYM_ID: "pusht"}


def register_envs() -> None:
    """Register mimetic's single-env Gymnasium versions; safe to call any number of times."""
    if DRIVING_ID not in gym.registry:
        # no max_episode_steps: the env truncates itself at its own max_steps (default 400)
        gym.register(id=DRIVING_ID, entry_point="mimetic.envs.driving:DrivingEnv")
    if MULTIMODAL_ID not in gym.registry:
        gym.register(id=MULTIMODAL_ID, entry_point="mimetic.envs.multimodal:MultimodalEnv")


def task_names() -> list[str]:
    """The built-in task names (any Gymnasium id also works, as ``gym:<id>`` or bare)."""
    return list(_TASKS)


def make_task(name: str, *, num_envs: int = 1, max_steps: int | None = None) -> BatchedTask:
    """B copies of task ``name``: a built-in name, ``gym:<id>``, or a registered Gymnasium id;
    ``<name>@pixels`` / ``<name>@pixels+state`` observe it through a camera (:mod:`mimetic.envs.pixels`)."""
    base, mode = pixels.split_name(name)
    if mode is not None:
        return pixels.PixelTask(make_task(base, num_envs=num_envs, max_steps=max_steps), mode=mode)
    num_envs = check_count("num_envs", num_envs)
    if max_steps is not None:
        max_steps = check_count("max_steps", max_steps)
    if name in _TASKS:
        # each task class has its own default horizon; only pass one when asked to
        return _TASKS[name].build(num_envs=num_envs, **({} if max_steps is None else {"max_steps": max_steps}))
    gym_id = name.removeprefix("gym:")
    import_env_package(gym_id)
    if gym_id in gym.registry:
        return GymTask(gym_id, num_envs=num_envs, max_steps=max_steps)
    raise TaskError(
        f"unknown task {name!r}; known: {', '.join(_TASKS)}, or gym:<id> for any registered Gymnasium env"
    )


def import_env_package(gym_id: str) -> None:
    """Import the package named before the slash of a third-party id (``seals/Hopper-v1`` imports
    ``seals``), which registers its envs with Gymnasium; a one-line TaskError if it is missing."""
    if "/" not in gym_id or gym_id in gym.registry:
        return
    module = gym_id.split("/", 1)[0]
    if not module.isidentifier():
        return  # a namespace that names no module (e.g. "ALE"): Gymnasium says what it knows
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module.split(".")[0]:
            raise TaskError(f"importing {module!r} for env {gym_id!r} failed: {exc}") from None
        if gym_id in gym.registry:  # registered by the namespace's own plugin after all
            return
        raise TaskError(f"env {gym_id!r} comes from package {module!r}, which is not installed "
                        f"(pip install {module.replace('_', '-')}, or --import the module that registers it)"
                        ) from None
    except Exception as exc:  # noqa: BLE001 - a broken third-party package: one line, not its traceback
        raise TaskError(f"importing {module!r} for env {gym_id!r} failed: {type(exc).__name__}: {exc}") from None


def _resolve(name: str) -> str | None:
    name, mode = pixels.split_name(name)
    if mode is not None:
        base = _resolve(name)
        return None if base is None else f"{base}{pixels.SEPARATOR}{mode}"
    bare = name.removeprefix("gym:")
    return name if name in _TASKS else _ALIASES.get(bare)


def same_task(a: str, b: str) -> bool:
    """Whether two task names mean the same task (``hopper``, ``gym:Hopper-v5``, ``Hopper-v5``)."""
    return a == b or (_resolve(a) or a.removeprefix("gym:")) == (_resolve(b) or b.removeprefix("gym:"))


def expert_name(task: str) -> str | None:
    """Name of the built-in expert of ``task``, or None."""
    key = _resolve(task)
    key = None if key is None else pixels.split_name(key)[0]
    if key is None or (key in mujoco.TASKS and not mujoco.shipped(key)):
        return None
    return _TASKS[key].expert.name


def make_expert(name: str) -> Any:
    """The built-in scripted expert of task ``name`` (also its Gymnasium id, e.g. ``gym:CartPole-v1``);
    for ``<task>@pixels...`` the flat task's expert, labelling from the observation's ``state`` key."""
    base, mode = pixels.split_name(name)
    if mode is not None:
        return pixels.StateExpert(make_expert(base))
    key = _resolve(name)
    if key is None:
        raise TaskError(
            f"no built-in expert for {name!r}; experts exist for {', '.join(_TASKS)} "
            "-- wrap your own with as_expert(fn) or load_sb3_expert(path, spec)"
        )
    if key in pusht.OBS_TYPES:
        pusht.require_pusht(key)
    if key in mujoco.TASKS:
        mujoco.require_mujoco(key)
        if not mujoco.shipped(key):
            raise TaskError(mujoco.not_shipped(key))
    return _TASKS[key].expert


def describe_tasks() -> list[dict[str, Any]]:
    """One row per built-in task, for ``mimetic tasks``."""
    rows = []
    for name, entry in _TASKS.items():
        if name in mujoco.TASKS:  # static facts: no MuJoCo import, and listed without the extra
            facts = mujoco.TASKS[name]
            rows.append({"name": name, "gym_id": facts.gym_id, "obs_dim": facts.obs_dim, "action": "continuous",
                         "act_dim": facts.act_dim, "max_steps": mujoco.MAX_STEPS,
                         "expert": expert_name(name), "description": entry.description})
            continue
        if name in pusht.OBS_TYPES:  # static facts too: no pymunk import, listed without the extra
            rows.append({"name": name, "gym_id": pusht.GYM_ID, "obs_dim": pusht.OBS_TYPES[name][1],
                         "action": "continuous", "act_dim": 2, "max_steps": pusht.MAX_STEPS,
                         "expert": entry.expert.name, "description": entry.description})
            continue
        task = entry.build(num_envs=1)
        spec = task.spec
        task.close()
        rows.append({
            "name": name,
            "gym_id": spec.gym_id,
            "obs_dim": spec.obs_dim,
            "action": "discrete" if spec.discrete else "continuous",
            "act_dim": spec.act_dim,
            "max_steps": spec.max_steps,
            "expert": entry.expert.name,
            "description": entry.description,
        })
    return rows
