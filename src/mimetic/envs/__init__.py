"""Batched tasks, scripted experts and the task registry.

Importing this package registers ``mimetic/Driving-v0`` and ``mimetic/Multimodal-v0`` with
Gymnasium (idempotently); the other built-in tasks are numpy twins of Gymnasium's own CartPole-v1
and Pendulum-v1, and LunarLander-v3 adapted. Layout: ``base`` (the interface and what tasks
share), one module per task (task, expert, hooks), ``registry`` (names -> factories).
"""

from __future__ import annotations

from mimetic.envs.base import (
    BatchedTask,
    NumpyTask,
    ScriptedExpert,
    SingleEnv,
    Step,
    TaskSpec,
)
from mimetic.envs.cartpole import CartPoleTask
from mimetic.envs.driving import DrivingEnv, DrivingTask, Track
from mimetic.envs.experts import as_expert, load_sb3_expert
from mimetic.envs.gym_adapter import GymTask
from mimetic.envs.pendulum import PendulumTask
from mimetic.envs.registry import (
    DRIVING_ID,
    MULTIMODAL_ID,
    describe_tasks,
    make_expert,
    make_task,
    register_envs,
    task_names,
)

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
    "task_names",
]
