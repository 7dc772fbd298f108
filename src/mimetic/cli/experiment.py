"""``mimetic experiment <name>``: one table (:data:`EXPERIMENTS`) drives the subparsers and the run."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from pathlib import Path

from mimetic.cli.common import Parser, jsonable
from mimetic.cli.options import add_config_args, config_from_args
from mimetic.cli.resume import Interrupted, StopFlag, add_max_memory_arg, resumed_args, run_args
from mimetic.experiments.cells import EXPERIMENT_FILE, Cells
from mimetic.runs import default_run_dir


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One ``mimetic experiment`` subcommand: module ``mimetic.experiments.<module>`` provides the
    config class, ``run_<module>(config, out_dir=, progress=)``, ``markdown(result)`` and ``FILES``."""

    module: str
    config: str  # the config dataclass's name in that module
    help: str
    description: str
    run_kind: str  # the default output folder is runs/<run_kind>-<task>-<time>
    run_task: str | None  # a fixed task for that name, or None: the config's ``task``


EXPERIMENTS = {
    "horizon": Experiment(
        "horizon", "HorizonConfig", "compounding error: BC vs DAgger cost as the horizon grows",
        "BC and DAgger trained with the same expert labels at each horizon (driving by default; --task hopper "
        "or halfcheetah measures the regret to the expert's return); cost vs horizon, log-log slopes, table and "
        "PNG plot.", "experiment-horizon", None),
    "labels": Experiment(
        "labels", "LabelsConfig", "expert-normalized score vs expert labels spent, one curve per method",
        "BC and the interactive methods (DAgger, HG-DAgger, ThriftyDAgger, SMILe, forward training, AggreVaTe) "
        "on one task and label budget; score vs labels per round, labels to reach the target, table and PNG plot.",
        "experiment-labels", None),
    "demos": Experiment(
        "demos", "DemosConfig", "demonstrations needed: BC vs GAIL with 1, 2, 4, 8, 16 expert episodes",
        "BC and GAIL (optionally GAIL warm-started by BC) trained on growing sets of expert episodes on one task "
        "(pendulum or driving); final score or cost vs episodes, GAIL's learning curves, table and PNG plot.",
        "experiment-demos", None),
    "multimodal": Experiment(
        "multimodal", "MultimodalConfig", "multimodal expert: MSE-BC vs mixture vs diffusion vs ACT success",
        "On the multimodal task (the expert passes an obstacle left or right by a hidden coin), BC with an MSE "
        "loss, a mixture-density head, a diffusion policy and ACT chunking, trained on the same demonstrations; "
        "success per seed, table, and a PNG of evaluation paths and sampled start actions.",
        "experiment", "multimodal"),
    "chunking": Experiment(
        "chunking", "ChunkingExperimentConfig", "action chunking on driving: cost vs chunk size k",
        "BC of an action-chunking policy for chunk sizes k on the driving task, each policy executed three ways "
        "(whole chunks, ACT's temporal ensemble, first action only); cost and success per k, table and PNG plot.",
        "experiment-chunking", "driving"),
    "pixels": Experiment(
        "pixels", "PixelsConfig", "camera vs state: BC and diffusion success from 64x64 pixels",
        "MSE-BC and a diffusion policy trained on the same expert demonstrations of driving and multimodal, once "
        "from the state and once from a 64x64 camera through an image encoder trained end to end; success and "
        "cost per observation, the gap in points (target: within 10), table and PNG plot.",
        "experiment", "pixels"),
}


BENCHMARKS = {
    "locomotion": Experiment(
        "locomotion", "LocomotionConfig", "BC, DAgger, GAIL, AIRL on MuJoCo tasks, the imitation library's table",
        "BC, DAgger, GAIL and AIRL on the MuJoCo locomotion tasks from the shipped experts' demonstrations, "
        "several seeds; expert-normalised scores per task, mean and IQM with 95% stratified-bootstrap intervals "
        "beside the imitation library's published v1.0 numbers, table and PNG plot. Needs mimetic[mujoco].",
        "benchmark", "locomotion"),
    "pusht": Experiment(
        "pusht", "PushTConfig", "diffusion, ACT, MSE-BC, mixture on PushT, Diffusion Policy's table",
        "Diffusion (U-Net and MLP denoisers), ACT, MSE-BC and a mixture head trained by BC on the same PushT "
        "planner demonstrations, state and keypoint observations, several seeds; every checkpoint evaluated, "
        "the paper's max and mean-of-last-10 scores beside its table, and a PNG of score vs step. Needs "
        "mimetic[pusht].", "benchmark", "pusht"),
}
GROUPS = {"experiment": EXPERIMENTS, "benchmark": BENCHMARKS}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "experiment", help="experiments that show the theory on real runs")


def add_group(sub: argparse._SubParsersAction, group: str, *, help: str) -> None:
    """``mimetic <group> <name>`` for every entry of ``GROUPS[group]``."""
    p = sub.add_parser(group, help=help)
    exps = p.add_subparsers(dest="experiment", required=True, parser_class=Parser)
    for name, exp in GROUPS[group].items():
        e = exps.add_parser(name, help=exp.help, description=exp.description)
        default = f"runs/{exp.run_kind}-{'<task>' if exp.run_task is None else exp.run_task}-<time>"
        e.add_argument("--out", default=None, help=f"output folder (default: {default})")
        e.add_argument("--resume", default=None, metavar="DIR",
                       help="continue an unfinished (interrupted or killed) experiment in its folder, with its "
                            "options: the cells it finished are kept, the rest are computed")
        add_max_memory_arg(e)
        module = importlib.import_module(f"mimetic.experiments.{exp.module}")
        add_config_args(e, getattr(module, exp.config), title="experiment")
        e.set_defaults(handler=experiment, group=group)


def experiment(args: argparse.Namespace) -> None:
    """Run ``mimetic experiment <name>`` from its entry in :data:`EXPERIMENTS`. Every finished cell is
    kept in the output folder (:mod:`mimetic.experiments.cells`), so ``--resume`` loses at most the
    cell in progress; Ctrl-C stops after the current cell (exit 130)."""

    group = getattr(args, "group", "experiment")
    exp = GROUPS[group][args.experiment]
    command = f"{group} {args.experiment}"
    if args.resume is not None:
        args.out = args.resume
        args, _ = resumed_args(args, command=command, config_file=EXPERIMENT_FILE)
    module = importlib.import_module(f"mimetic.experiments.{exp.module}")
    config = config_from_args(getattr(module, exp.config), args)
    if hasattr(config, "device"):  # an unavailable device or precision fails before the folder is made
        from mimetic import devices

        devices.check_available(config.device, getattr(config, "precision", "fp32"))
    task = exp.run_task if exp.run_task is not None else config.task
    out = Path(args.out) if args.out else default_run_dir(exp.run_kind, task)
    with StopFlag("after this cell") as flag:
        def interrupted(done: int) -> Interrupted:
            return Interrupted(f"{command} stopped after a cell ({done} finished in this session); they are kept "
                               f"in {out} (continue with 'mimetic {command} --resume {out}')")

        kw = {"stop": lambda: flag.stop, "on_stop": interrupted}
        if args.resume is not None:
            cells = Cells.reopen(out, **kw)
        else:
            header = {"command": command, "args": run_args(args), "config": dataclasses.asdict(config)}
            cells = Cells.start(out, header=jsonable(header), **kw)
        result = getattr(module, f"run_{exp.module}")(config, out_dir=out, progress=True, cells=cells)
    print(module.markdown(result))
    print(f"written to {out}: {', '.join(module.FILES)} ({result.wall_s:.0f} s)")
