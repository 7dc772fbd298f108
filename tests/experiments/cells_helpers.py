"""Shared checks of the experiments' crash safety."""

from pathlib import Path

from mimetic import atomic
from mimetic.experiments.cells import CELLS, EXPERIMENT_FILE, Cells


def assert_resumable_after_failure(root: Path, out: Path, files: tuple[str, ...], *, cells_done: int | None = None
                                   ) -> None:
    """A failed experiment leaves its work folder (experiment.json + the finished cells), none of its
    final files, and no temporary anywhere under ``root``."""
    assert (out / EXPERIMENT_FILE).is_file()
    assert not any((out / f).exists() for f in files)
    assert not [p for p in root.rglob("*") if atomic.is_temporary(p)]
    if cells_done is not None:
        assert len(list((out / CELLS).glob("*.json"))) == cells_done


def resume(run, config, out: Path):
    """Continue the experiment in ``out`` (its finished cells are reused)."""
    return run(config, out_dir=out, cells=Cells.reopen(out))
