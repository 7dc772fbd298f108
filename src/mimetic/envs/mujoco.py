"""``halfcheetah``, ``hopper``, ``walker2d``, ``swimmer``, ``ant``: Gymnasium's MuJoCo v5 locomotion
tasks (the ``imitation`` library's benchmark ground), their shipped experts and their hooks.

The simulator is MuJoCo (``pip install 'mimetic[mujoco]'``); a task built without it fails with one
line naming that command. The B envs are stepped in a Python loop (:class:`GymTask`), which is what
Gymnasium's ``SyncVectorEnv`` does too; its ``AsyncVectorEnv`` (a process per env) measured 4-5x
slower on 2 cores, where the processes only contend for them.

``get_state``/``set_state`` save and restore each env's MuJoCo state (positions, velocities,
actuator activations, the solver's warm start, the body positions the reward reads) and step
counter, so a restored env continues bitwise as the original would (AggreVaTe's cost-to-go and a
resumed run's episodes rely on this).

The experts are PPO policies trained here with mimetic's own PPO (``mimetic expert train``), shipped
in ``mimetic/envs/weights/<task>/`` as an ordinary policy checkpoint (safetensors + JSON, the
observation normaliser inside) with ``expert.json`` recording how each was made and what it scores.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mimetic.envs.base import ScriptedExpert
from mimetic.envs.gym_adapter import GymTask
from mimetic.envs.policy_expert import PolicyExpert
from mimetic.errors import TaskError

INSTALL = "pip install 'mimetic[mujoco]'"
WEIGHTS = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class Locomotion:
    """A locomotion task's fixed facts (known without MuJoCo installed, for ``mimetic tasks``)."""

    gym_id: str
    obs_dim: int
    act_dim: int
    description: str


TASKS: dict[str, Locomotion] = {
    "halfcheetah": Locomotion("HalfCheetah-v5", 17, 6, "MuJoCo HalfCheetah-v5: run forward, a planar cheetah"),
    "hopper": Locomotion("Hopper-v5", 11, 3, "MuJoCo Hopper-v5: hop forward on one leg without falling"),
    "walker2d": Locomotion("Walker2d-v5", 17, 6, "MuJoCo Walker2d-v5: walk forward on two legs without falling"),
    "swimmer": Locomotion("Swimmer-v5", 8, 2, "MuJoCo Swimmer-v5: swim forward in a viscous fluid"),
    "ant": Locomotion("Ant-v5", 105, 8, "MuJoCo Ant-v5: walk forward on four legs without flipping"),
}
MAX_STEPS = 1000  # every v5 locomotion task's TimeLimit


EGL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri"  # Debian/Ubuntu: headless EGL through Mesa


def require_mujoco(task: str) -> None:
    """A one-line TaskError naming the install command when MuJoCo is missing. With no display,
    MuJoCo renders through EGL unless MUJOCO_GL says otherwise (its default, GLFW, needs a screen);
    MuJoCo reads the variable when first imported, so it is set here, before that."""
    if "MUJOCO_GL" not in os.environ and sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["MUJOCO_GL"] = "egl"
    try:
        import mujoco  # noqa: F401
    except ImportError as exc:
        if exc.name not in ("mujoco", None) and not str(exc.name).startswith("mujoco"):
            raise _gl_error(exc) from None
        raise TaskError(f"task {task!r} needs MuJoCo, which is not installed: {INSTALL}") from None
    except Exception as exc:  # noqa: BLE001 - mujoco loads its GL back end at import and fails in many ways
        raise _gl_error(exc) from None


def _gl_error(exc: BaseException) -> TaskError:
    backend = os.environ.get("MUJOCO_GL", "glfw")
    return TaskError(f"MuJoCo cannot use its MUJOCO_GL={backend} back end ({type(exc).__name__}: {exc}); "
                     f"headless rendering needs EGL (Debian/Ubuntu: apt install {EGL_PACKAGES}) with "
                     "MUJOCO_GL=egl, or MUJOCO_GL=osmesa with libosmesa6")


class MujocoTask(GymTask):
    """B envs of one MuJoCo locomotion task, with exact get/set state."""

    def __init__(self, name: str, *, num_envs: int = 1, max_steps: int | None = None) -> None:
        if name not in TASKS:
            raise TaskError(f"unknown locomotion task {name!r}; known: {', '.join(TASKS)}")
        require_mujoco(name)
        super().__init__(TASKS[name].gym_id, num_envs=num_envs, max_steps=max_steps, name=name)
        self._started = np.zeros(num_envs, bool)  # Gymnasium refuses to step an env never reset

    def reset(self, *, seeds: np.ndarray | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        obs = super().reset(seeds=seeds, mask=mask)
        self._started |= np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        return obs

    def _parts(self, i: int) -> list[np.ndarray]:
        data = self.envs[i].unwrapped.data
        # xpos too: after mj_step it still holds the bodies' positions from before the step (MuJoCo
        # integrates after computing them), and Ant/Walker/... read their x velocity off it
        return [data.qpos, data.qvel, data.act, data.qacc_warmstart, data.xpos.reshape(-1)]

    @cached_property
    def _sizes(self) -> list[int]:
        return [len(p) for p in self._parts(0)]

    def get_state(self) -> np.ndarray:
        """(B, S) float64: qpos, qvel, act, qacc_warmstart, body positions and the step counter of every env."""
        return np.stack([np.concatenate([*self._parts(i), [self._t[i]]]) for i in range(self.num_envs)])

    def set_state(self, state: np.ndarray) -> np.ndarray:
        state = np.asarray(state, np.float64)
        width = sum(self._sizes) + 1
        if state.shape != (self.num_envs, width):
            raise TaskError(f"{self.spec.name} states have shape ({self.num_envs}, {width}), got {state.shape}")
        for i, env in enumerate(self.envs):
            if not self._started[i]:
                env.reset(seed=0)  # only to satisfy Gymnasium's reset-before-step check
                self._started[i] = True
            parts = np.split(state[i, :-1], np.cumsum(self._sizes)[:-1])
            data = env.unwrapped.data
            for target, values in zip(self._parts(i), parts):
                target[:] = values
            import mujoco

            mujoco.mj_forward(env.unwrapped.model, data)
            mujoco.mj_rnePostConstraint(env.unwrapped.model, data)  # contact forces (Ant's cost) too
            data.qacc_warmstart[:] = parts[3]  # mj_forward overwrites it; the next step starts from it
            data.xpos[:] = parts[4].reshape(data.xpos.shape)  # as the original left it (see _parts)
            t = int(state[i, -1])
            self._t[i] = t
            env.set_wrapper_attr("_elapsed_steps", t)  # the TimeLimit's count agrees with ours
            self._obs[i] = env.unwrapped._get_obs()
        return self._obs.copy()


    def render(self, index: int = 0) -> np.ndarray:
        try:
            return super().render(index)
        except TaskError:
            raise
        except Exception as exc:  # noqa: BLE001 - GL back ends fail in many ways; each is one line
            raise _gl_error(exc) from None


# --------------------------------------------------------------------------- shipped experts


def not_shipped(task: str) -> str:
    """The one-line error for a task whose expert is not shipped (yet)."""
    return f"no expert is shipped for {task!r} yet; train one with 'mimetic expert train --task {task}'"


def shipped(task: str) -> bool:
    """Whether mimetic ships an expert for ``task``."""
    return (WEIGHTS / task / "policy.json").is_file()


def expert_info(task: str) -> dict[str, Any]:
    """The shipped expert's ``expert.json``: the command and seed that made it, its score."""
    path = WEIGHTS / task / "expert.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def make_shipped_expert(task: str) -> ScriptedExpert:
    """The shipped PPO policy of ``task`` (loaded on first use) as its named expert."""
    policy = PolicyExpert(WEIGHTS / task, expect_task=task, missing=not_shipped(task))
    return ScriptedExpert(f"{task}-ppo", TASKS[task].obs_dim, policy)
