"""What a reproduction runs: Hydra multiruns of the papers' presets, at one of three scales.

- ``paper``: the presets as they are (the papers' settings) over the papers' grids; sized for a GPU;
- ``cpu``: each headline run at the paper's own settings wherever a 2-core CPU runs it within about an hour;
  only grids, seed counts and the run lengths of secondary sweeps shrink, and a paper whose setting a CPU
  cannot run (S_5 for 250k epochs, p = 997) is cut, each cut named in the report;
- ``tiny``: seconds per run, for the tests of the reproduction commands themselves.

A :class:`Sweep` is one ``grokscope-train -m`` command line. Its runs land in ``<runs>/<sweep.name>/`` and
running the same command again skips the finished runs and resumes the interrupted ones (the sweep's restart
semantics), so a reproduction can be stopped and started at will.
"""

from __future__ import annotations

import math
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

SCALES = ("paper", "cpu", "tiny")
#: the reproductions (grokscope.reproduce.catalogue.REPRODUCTIONS holds them), named before anything heavy loads
NAMES = ("nanda_2023", "chughtai", "pizza", "circle_survival", "oocl", "prieto")

#: Overrides every reproduction run takes: CSV logging (no WandB run per cell), no progress bar per run.
RUN_OVERRIDES = ("logger=csv", "progress_bar=false")


@dataclass(frozen=True)
class Sweep:
    """One Hydra multirun: ``experiment`` with the ``overrides`` fixed and every key of ``grid`` swept over its
    values (the cartesian product, in Hydra's order)."""

    name: str
    experiment: str
    grid: dict[str, tuple] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """The number of runs (the grid's cartesian product)."""
        return math.prod(len(values) for values in self.grid.values())

    def arguments(self, runs: Path, jobs: int = 1) -> list[str]:
        """The ``grokscope-train`` arguments that run this sweep into ``runs/<name>`` with ``jobs`` processes."""
        grid = [f"{key}={','.join(map(str, values))}" for key, values in self.grid.items()]
        launcher = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"] if jobs > 1 else []
        return ["-m", f"experiment={self.experiment}", *self.overrides, *grid, *RUN_OVERRIDES, *launcher,
                f"hydra.sweep.dir={runs / self.name}"]

    def command(self, runs: Path, jobs: int = 1) -> list[str]:
        """The whole command line (this Python, ``-m grokscope.cli.train``)."""
        return [sys.executable, "-m", "grokscope.cli.train", *self.arguments(runs, jobs)]

    def shown(self, runs: Path, jobs: int = 1) -> str:
        """The command as a user types it (``grokscope-train ...``), for the report."""
        return shlex.join(["grokscope-train", *self.arguments(runs, jobs)])


@dataclass(frozen=True)
class Plan:
    """The sweeps of one reproduction at one scale, what that scale cuts from the paper's setup (one sentence
    per cut: seeds, grid points, steps, p, group; empty at ``paper`` scale) and how long it takes (printed before
    the runs start; measured on a 2-core CPU for the cpu scale)."""

    scale: str
    sweeps: tuple[Sweep, ...]
    cuts: tuple[str, ...] = ()
    estimate: str = "hours on a GPU"

    def sweep(self, name: str) -> Sweep:
        return next(s for s in self.sweeps if s.name == name)
