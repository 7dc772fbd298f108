"""Batched tasks, scripted experts and the task registry.

Importing this package registers ``mimetic/Driving-v0`` with Gymnasium (idempotently); the other
built-in tasks are numpy twins of Gymnasium's own CartPole-v1, Pendulum-v1 and LunarLander-v3.
"""

from __future__ import annotations

import gymnasium as gym

from mimetic.envs.base import BatchedTask, SingleEnv, Step, TaskSpec
from mimetic.envs.driving import DrivingEnv, DrivingTask, Track
from mimetic.envs.experts import (
    ScriptedExpert,
    as_expert,
    load_sb3_expert,
    make_expert,
    risk_function,
)
from mimetic.envs.gym_adapter import GymTask
from mimetic.envs.tasks import (
    CartPoleTask,
    NumpyTask,
    PendulumTask,
    describe_tasks,
    make_task,
    task_names,
)

DRIVING_ID = "mimetic/Driving-v0"
MULTIMODAL_ID = "mimetic/Multimodal-v0"


def register_envs() -> None:
    """Register mimetic's single-env Gymnasium versions; safe to call any number of times."""
    if DRIVING_ID not in gym.registry:
        # no max_episode_steps: the env truncates itself at its own max_steps (default 400)
        gym.register(id=DRIVING_ID, entry_point="mimetic.envs.driving:DrivingEnv")
    if MULTIMODAL_ID not in gym.registry:
        gym.register(id=MULTIMODAL_ID, entry_point="mimetic.envs.multimodal:MultimodalEnv")


register_envs()

__all__ = [
    "DRIVING_ID",
    "MULTIMODAL_ID",
    "BatchedTask",
    "CartPoleTask",
    "DrivingEnv",
    "DrivingTask",
    "GymTask",
    "NumpyTask",
    "PendulumTask",
    "ScriptedExpert",
    "SingleEnv",
    "Step",
    "TaskSpec",
    "Track",
    "as_expert",
    "describe_tasks",
    "load_sb3_expert",
    "make_expert",
    "make_task",
    "register_envs",
    "risk_function",
    "task_names",
]
