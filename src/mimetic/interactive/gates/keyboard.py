"""A live human for HG-DAgger: watch the learner in a window and take over with the arrow keys.

The person is both the gate (holding a key takes control, releasing it hands control back) and the
expert (their key presses are the labels), exactly HG-DAgger's protocol (Kelly et al. 2019). One
environment is shown, so the task must have ``num_envs == 1`` and be able to render.

Key maps: a 1-D continuous action (driving: steering) gets LEFT = +0.6 x max, RIGHT = -0.6 x max
(positive steering turns left); 2 discrete actions (cartpole) LEFT = 0, RIGHT = 1; 4 discrete
actions (lunarlander) LEFT = 1, UP = 2, RIGHT = 3, DOWN = 0 (do nothing). Escape or closing the
window stops the run (KeyboardInterrupt: the CLI keeps no partial run).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mimetic.envs.base import BatchedTask
from mimetic.errors import TaskError

KeysFn = Callable[[], dict[str, bool]]  # which of "left", "right", "up", "down", "quit" are held


class KeyboardHuman:
    """Gate (``__call__(obs, learner_acts)``) and expert (``expert(obs)``) driven by arrow keys."""

    def __init__(self, task: BatchedTask, *, keys_fn: KeysFn | None = None, scale: int = 2) -> None:
        if task.num_envs != 1:
            raise TaskError("the keyboard human drives one environment: use --num-envs 1")
        self.task, self.spec = task, task.spec
        self.key_map = _key_map(self.spec)
        self.scale = scale
        self.keys_fn = keys_fn
        self.screen: Any = None
        self.action: np.ndarray | None = None  # (1, *A) the action of the held key, if any

    def _open(self) -> None:
        try:
            import pygame
        except ImportError as exc:
            raise TaskError("the keyboard human needs pygame (pip install pygame)") from exc
        pygame.init()
        frame = self.task.render(0)  # raises TaskError for tasks that cannot render
        h, w = frame.shape[:2]
        self.screen = pygame.display.set_mode((w * self.scale, h * self.scale))
        pygame.display.set_caption(f"mimetic HG-DAgger: {self.spec.name} (arrows take over, Esc quits)")
        if self.keys_fn is None:
            self.keys_fn = _pygame_keys

    def _show(self) -> None:
        import pygame

        frame = np.repeat(np.repeat(self.task.render(0), self.scale, 0), self.scale, 1)  # (H, W, 3)
        self.screen.blit(pygame.surfarray.make_surface(frame.swapaxes(0, 1)), (0, 0))
        pygame.display.flip()

    def __call__(self, obs: np.ndarray, learner_acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.screen is None:
            self._open()
        self._show()
        held = self.keys_fn()  # type: ignore[misc]
        if held.get("quit"):
            raise KeyboardInterrupt
        self.action = next((np.asarray(a)[None] for key, a in self.key_map if held.get(key)), None)
        take = np.array([self.action is not None])
        return take, take

    def expert(self, obs: np.ndarray) -> np.ndarray:
        """The label: the action of the key held at this step (only asked while a key is held)."""
        if self.action is None:
            raise TaskError("the keyboard human was asked for a label while no key was held")
        return np.repeat(self.action, len(obs), axis=0)

    def reset(self, mask: np.ndarray) -> None:
        self.action = None

    def tau(self) -> None:
        return None


def _key_map(spec: Any) -> list[tuple[str, Any]]:
    if spec.discrete and spec.act_dim == 2:
        return [("left", np.int64(0)), ("right", np.int64(1))]
    if spec.discrete and spec.act_dim == 4:
        return [("left", np.int64(1)), ("up", np.int64(2)), ("right", np.int64(3)), ("down", np.int64(0))]
    if not spec.discrete and spec.act_dim == 1:
        high = float(np.asarray(spec.action_space.high).reshape(-1)[0])
        return [("left", np.array([0.6 * high], np.float32)), ("right", np.array([-0.6 * high], np.float32))]
    raise TaskError(f"no keyboard mapping for {spec.name}'s actions; the keyboard human supports 2 or 4 "
                    "discrete actions or one continuous action")


def _pygame_keys() -> dict[str, bool]:
    import pygame

    quit_ = any(e.type == pygame.QUIT for e in pygame.event.get())
    pressed = pygame.key.get_pressed()
    return {"left": pressed[pygame.K_LEFT], "right": pressed[pygame.K_RIGHT], "up": pressed[pygame.K_UP],
            "down": pressed[pygame.K_DOWN], "quit": quit_ or pressed[pygame.K_ESCAPE]}
