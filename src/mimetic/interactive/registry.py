"""Every interactive method, in one table: the CLI's ``train <name>`` subcommands, their options and
``--help``, and the labels experiment all read it.

A new DAgger variant that differs by its gate is one module in :mod:`mimetic.interactive.gates`
(its gate, its factory and an ``*Options`` dataclass) plus one :class:`Method` entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mimetic.interactive import aggrevate, dagger, forward, smile
from mimetic.interactive.gates.common import GateOptions
from mimetic.interactive.gates.ensemble import EnsembleOptions
from mimetic.interactive.gates.human import HGDAggerOptions
from mimetic.interactive.gates.lazy import LazyOptions
from mimetic.interactive.gates.thrifty import ThriftyOptions


@dataclass(frozen=True)
class Method:
    """One interactive method."""

    name: str  # the CLI subcommand: ``mimetic train <name>``
    title: str  # how tables and plots name it
    help: str  # one line for --help
    loop: type  # the loop's config dataclass (its fields become options)
    fit: Callable[..., Any]  # fit(task, expert, policy, loop_config, *, bc_config, eval_task, callback, progress, ...)
    gate: type[GateOptions] | None = None  # the gate family's options dataclass; None: no gate option
    ensemble: int = 1  # default ensemble size of the learner on the command line
    needs_ensemble: bool = False  # the gate reads the ensemble's disagreement (novelty, doubt)
    num_envs: int | None = None  # default envs stepped together (None: one per episode of a round)

    @property
    def gated(self) -> bool:
        """Runs DAgger's round loop (``dagger.fit``), so it takes a gate and starting demonstrations."""
        return self.fit is dagger.fit


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("dagger", "DAgger",
           "DAgger: the expert labels every state the learner visits (Ross et al. 2011)",
           dagger.DAggerConfig, dagger.fit),
    Method("hg-dagger", "HG-DAgger",
           "HG-DAgger: a (simulated or live) human takes over when unsafe; only its segments are kept",
           dagger.DAggerConfig, dagger.fit, gate=HGDAggerOptions, ensemble=5),
    Method("thrifty-dagger", "ThriftyDAgger",
           "ThriftyDAgger: the expert is asked only where the learner's ensemble is unsure",
           dagger.DAggerConfig, dagger.fit, gate=ThriftyOptions, ensemble=5, needs_ensemble=True),
    Method("ensemble-dagger", "EnsembleDAgger",
           "EnsembleDAgger: DAgger's labels, but the expert also drives where the learner is unsure or off",
           dagger.DAggerConfig, dagger.fit, gate=EnsembleOptions, ensemble=5, needs_ensemble=True),
    Method("lazy-dagger", "LazyDAgger",
           "LazyDAgger: a learned safety classifier hands over; hysteresis keeps interventions long",
           dagger.DAggerConfig, dagger.fit, gate=LazyOptions),
    Method("aggrevate", "AggreVaTe",
           "AggreVaTe: explore actions at learner states, learn from the expert's cost-to-go (needs set_state)",
           aggrevate.AggreVaTeConfig, aggrevate.fit, num_envs=32),
    Method("smile", "SMILe",
           "SMILe: a stochastic mixture of a new policy per iteration, the expert's share decaying",
           smile.SMILeConfig, smile.fit),
    Method("forward", "forward training",
           "forward training: one policy per time segment, trained in order on the states it reaches",
           forward.ForwardConfig, forward.fit),
)}


def episodes_per_round(config: Any) -> int:
    """Episodes one round of ``config``'s loop rolls out (DAgger family, SMILe, forward)."""
    for name in ("episodes_per_round", "episodes_per_iteration", "episodes_per_segment"):
        if hasattr(config, name):
            return int(getattr(config, name))
    raise TypeError(f"{type(config).__name__} has no episodes-per-round field")
