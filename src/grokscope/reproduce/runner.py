"""Run a reproduction's sweeps: one ``grokscope-train -m`` process per :class:`~grokscope.reproduce.plan.Sweep`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from grokscope.reproduce.plan import Plan


def run_sweeps(plan: Plan, runs: Path, jobs: int = 1) -> None:
    """Run every sweep of ``plan`` into ``runs`` (finished runs are skipped, interrupted ones resumed); with
    ``jobs`` > 1 the runs of a sweep go to that many processes of one torch thread each. A sweep whose command
    fails raises :class:`subprocess.CalledProcessError` (its output went to the terminal)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"} if jobs > 1 else None
    for sweep in plan.sweeps:
        print(f"reproduce: {sweep.shown(runs, jobs)}", flush=True)
        subprocess.run(sweep.command(runs, jobs), check=True, env=env)
