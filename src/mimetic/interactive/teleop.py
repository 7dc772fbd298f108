"""Teleoperation: a person drives a task in a window, and the episodes are recorded as demonstrations.

This is how Diffusion Policy's PushT demonstrations were made: the agent follows the mouse. A task
whose spec has a ``hold`` hook (its action is a position on its rendered frame, e.g. PushT's agent
target) follows the mouse while the left button is held; with the button up it sends ``hold``
(the agent stays put). Every other task is driven with the arrow keys, with the keyboard human's
maps (:mod:`mimetic.interactive.gates.keyboard`) plus one for 2-D velocities (multimodal: each
arrow adds a unit push along its axis, scaled to the action bound). With no key held, a continuous
task gets the zero action and a discrete one repeats its last action.

The window shows ``task.render(0)``, scaled by ``scale``, and the loop runs at ``fps`` steps per
second (0: as fast as it can). Escape or closing the window ends the session: the finished
episodes are kept, the one under way is dropped. Input arrives as pygame events (motion, button,
key), so a test can post them with ``pygame.event.post`` under ``SDL_VIDEODRIVER=dummy``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from mimetic.envs.base import BatchedTask
from mimetic.errors import TaskError

ARROWS = ("left", "right", "up", "down")


def require_display() -> None:
    """A one-line TaskError when no window can open (Linux without X or Wayland, and no SDL driver
    chosen; ``SDL_VIDEODRIVER=dummy`` opens an invisible one, as the tests do)."""
    if not sys.platform.startswith("linux") or os.environ.get("SDL_VIDEODRIVER"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise TaskError("teleop needs a display to open its window (neither DISPLAY nor WAYLAND_DISPLAY is set); "
                        "run it on a desktop, or over ssh -X")


class Teleop:
    """The person at the window as a batched expert for one env: ``__call__(obs) -> (1, *A)``."""

    def __init__(self, task: BatchedTask, *, fps: float = 10.0, scale: float = 1.0,
                 before_step: Callable[[int], None] | None = None) -> None:
        if task.num_envs != 1:
            raise TaskError("teleop drives one environment: use --num-envs 1")
        if fps < 0 or scale <= 0:
            raise TaskError(f"teleop needs fps >= 0 and scale > 0, got fps {fps} and scale {scale}")
        self.task, self.spec = task, task.spec
        self.fps, self.scale = fps, scale
        self.before_step = before_step  # called with the step count before the events are read (tests)
        self.mouse = self.spec.hold is not None
        if self.mouse and (self.spec.discrete or self.spec.act_dim != 2):
            raise TaskError(f"{self.spec.name} has a hold hook but not a 2-D position action")
        self.key_map = None if self.mouse else _key_map(self.spec)
        self.screen: Any = None
        self.clock: Any = None
        self.steps = 0
        self.pointer: tuple[int, int] | None = None  # window pixels of the last mouse position
        self.pressed = False
        self.held: set[str] = set()
        self.last: np.ndarray | None = None  # the last action sent (1, *A)

    # ------------------------------------------------------------------ window

    def _open(self) -> None:
        require_display()
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame

        pygame.display.init()  # not pygame.init(): no sound is needed, and no audio device may exist
        frame = self.task.render(0)  # raises TaskError for a task that cannot render
        h, w = frame.shape[:2]
        self.size = (max(int(w * self.scale), 1), max(int(h * self.scale), 1))
        self.screen = pygame.display.set_mode(self.size)
        how = "hold the left button and move the mouse" if self.mouse else "arrow keys"
        pygame.display.set_caption(f"mimetic teleop: {self.spec.name} ({how}; Esc ends, keeping finished episodes)")
        self.clock = pygame.time.Clock()

    def _show(self) -> None:
        import pygame

        frame = self.task.render(0)  # (H, W, 3)
        surface = pygame.surfarray.make_surface(np.ascontiguousarray(frame.swapaxes(0, 1)))
        if surface.get_size() != self.size:
            surface = pygame.transform.smoothscale(surface, self.size)
        self.screen.blit(surface, (0, 0))
        pygame.display.flip()

    def _read_events(self) -> None:
        import pygame

        names = {pygame.K_LEFT: "left", pygame.K_RIGHT: "right", pygame.K_UP: "up", pygame.K_DOWN: "down"}
        for e in pygame.event.get():
            if e.type == pygame.QUIT or (e.type == pygame.KEYDOWN and e.key == pygame.K_ESCAPE):
                raise KeyboardInterrupt
            if e.type == pygame.MOUSEMOTION:
                self.pointer = tuple(e.pos)
            elif e.type in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP) and e.button == 1:
                self.pressed = e.type == pygame.MOUSEBUTTONDOWN
                self.pointer = tuple(e.pos)
            elif e.type in (pygame.KEYDOWN, pygame.KEYUP) and e.key in names:
                (self.held.add if e.type == pygame.KEYDOWN else self.held.discard)(names[e.key])

    # ------------------------------------------------------------------ acting

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.screen is None:
            self._open()
        self._show()
        if self.before_step is not None:
            self.before_step(self.steps)
        self._read_events()
        if self.fps:
            self.clock.tick(self.fps)
        self.steps += 1
        action = self._mouse_action(obs) if self.mouse else self._key_action()
        self.last = action
        return action

    def _mouse_action(self, obs: np.ndarray) -> np.ndarray:
        if not self.pressed or self.pointer is None:
            return np.asarray(self.spec.hold(obs), np.float32)
        low = np.asarray(self.spec.action_space.low, np.float64)
        high = np.asarray(self.spec.action_space.high, np.float64)
        frac = np.clip(np.array(self.pointer, np.float64) / np.array(self.size, np.float64), 0.0, 1.0)
        return (low + frac * (high - low)).astype(np.float32)[None]  # (1, 2) the frame spans the bounds

    def _key_action(self) -> np.ndarray:
        assert self.key_map is not None
        if self.spec.discrete:
            chosen = next((a for key, a in self.key_map if key in self.held), None)
            if chosen is None:
                return self.last if self.last is not None else np.zeros(1, np.int64)
            return np.array([chosen], np.int64)
        act = np.zeros(self.spec.act_dim, np.float32)
        for key, a in self.key_map:
            if key in self.held:
                act = act + a
        high = np.asarray(self.spec.action_space.high, np.float32).reshape(-1)
        return np.clip(act, -high, high)[None]

    def close(self) -> None:
        if self.screen is not None:
            import pygame

            pygame.display.quit()
            self.screen = None


def _key_map(spec: Any) -> list[tuple[str, Any]]:
    """Arrow -> action: the keyboard human's maps, plus 2-D continuous (each arrow one axis)."""
    if not spec.discrete and spec.act_dim == 2:
        high = np.asarray(spec.action_space.high, np.float32).reshape(-1)
        return [("left", np.array([-high[0], 0.0], np.float32)), ("right", np.array([high[0], 0.0], np.float32)),
                ("up", np.array([0.0, high[1]], np.float32)), ("down", np.array([0.0, -high[1]], np.float32))]
    from mimetic.interactive.gates.keyboard import _key_map as keyboard_map

    try:
        return keyboard_map(spec)
    except TaskError:
        raise TaskError(f"no teleop controls for {spec.name}'s actions: the mouse drives a task with a hold hook "
                        "(pusht), the arrow keys 2 or 4 discrete actions or 1 or 2 continuous ones") from None


def record(task: BatchedTask, person: Teleop, *, episodes: int, seed: int = 0,
           progress: Callable[[int], None] | None = None) -> list[Any]:
    """Up to ``episodes`` episodes driven by ``person``, episode k from reset seed ``seed + k``.
    Ends early, keeping the finished episodes, when the person quits (Escape, closing the window)."""
    from mimetic.rollout import collect

    done: list[Any] = []
    try:
        for k in range(episodes):
            done.extend(collect(task, person, episodes=1, seed=seed + k))
            if progress is not None:
                progress(len(done))
    except KeyboardInterrupt:
        pass
    finally:
        person.close()
    return done
