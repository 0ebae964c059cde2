"""Sweeps that survive restarts: skip completed jobs, report the outcome of a whole multirun."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

STATUSES = ("completed", "failed", "diverged")


def read_summary(run_dir: Path) -> dict | None:
    path = run_dir / "summary.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def is_completed(run_dir: Path, resolved_config: dict) -> bool:
    """Whether ``run_dir`` holds a completed ``summary.json`` for exactly this resolved config."""
    summary = read_summary(run_dir)
    return summary is not None and summary.get("status") == "completed" and summary.get("config") == resolved_config


def sweep_status(sweep_dir: Path) -> Counter:
    """Count the jobs of a sweep by status; a job dir without a summary counts as ``unfinished``."""
    jobs = [d for d in sweep_dir.iterdir() if (d / ".hydra").is_dir()]
    return Counter((read_summary(d) or {}).get("status", "unfinished") for d in jobs)


class SweepReport(Callback):
    """Hydra callback: at the end of a multirun, print the count of jobs per status and exit non-zero if
    any job failed or did not finish (diverged jobs are results, not failures)."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        counts = sweep_status(sweep_dir)
        parts = [f"{counts[s]} {s}" for s in (*STATUSES, "unfinished") if counts[s] or s in STATUSES]
        print(f"sweep {sweep_dir}: {', '.join(parts)}", file=sys.stderr)
        if counts["failed"] or counts["unfinished"]:
            sys.exit(1)
