"""Sweeps that survive restarts: job dirs named by the swept values, this sweep's jobs counted at the end.

A job dir is ``<sweep dir>/<swept key>=<value>,...`` (Hydra's ``override_dirname`` over the swept keys only,
:func:`grokscope.cli.checks.sweep_dirname_override`; ``job`` when nothing is swept): growing or reordering the
grid keeps every finished cell's dir, so a restart skips it. The report at the end counts the jobs of this
multirun only (each job's run dir records the multirun's id in its lock file).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections import Counter
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from grokscope.cli import startup
from grokscope.run.rundir import SWEEP_ID, RunDir

STATUSES = ("completed", "failed", "diverged")


def sweep_status(sweep_dir: Path, sweep_id: str | None = None) -> Counter:
    """Count the job dirs of a sweep (of multirun ``sweep_id`` only, if given) by status: ``completed`` or
    ``diverged`` (finished), ``failed`` (a failed summary), else ``unfinished``."""
    counts: Counter = Counter()
    for path in sorted(p for p in Path(sweep_dir).iterdir() if p.is_dir()):
        rd = RunDir(path)
        if not (path / ".lock").exists() or (sweep_id is not None and rd.sweep_id() != sweep_id):
            continue
        finished = rd.finished()
        counts[finished["status"] if finished else (rd.summary() or {}).get("status", "unfinished")] += 1
    return counts


#: Where the run dir of a single run was about to be made: its nearest existing ancestor, recorded before Hydra
#: makes the dir (:meth:`SweepReport.on_run_start`), so that a refused run removes the empty dirs Hydra made
#: (``outputs/<date>/<time>_<name>``) and nothing else.
RUN_DIR_BASE: list[Path] = []


def existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    return next(p for p in (path, *path.parents) if p.exists())


class SweepReport(Callback):
    """Hydra callback: at the start of a multirun, an id its jobs record; at the end, the count of this
    multirun's jobs per status, and a non-zero exit if any failed or did not finish (diverged jobs are
    results, not failures). At the start of a single run, where its run dir is about to be made
    (:data:`RUN_DIR_BASE`)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        try:
            RUN_DIR_BASE[:] = [existing_ancestor(Path(str(config.hydra.run.dir)))]
        except Exception:  # a dir that resolves only once the job runs (a hydra: resolver): the run dir alone
            RUN_DIR_BASE.clear()

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self.sweep_id = os.environ[SWEEP_ID] = uuid.uuid4().hex
        startup.end()  # the sweep's start-up is over: it launches its jobs

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        counts = sweep_status(sweep_dir, self.sweep_id)
        parts = [f"{counts[s]} {s}" for s in (*STATUSES, "unfinished") if counts[s] or s in STATUSES]
        print(f"sweep {sweep_dir}: {', '.join(parts)}", file=sys.stderr)
        if counts["failed"] or counts["unfinished"]:
            sys.exit(1)
