"""Reading a reproduction's run dirs: the completed runs of a sweep, their time and device, numbers as text."""

from __future__ import annotations

import csv
from pathlib import Path

from grokscope.analysis.collect import find_run_dirs, read_summary
from grokscope.reproduce.report import Findings


def completed(sweep_dir: Path, findings: Findings | None = None) -> list[tuple[Path, dict]]:
    """``(run_dir, summary)`` of each completed run under ``sweep_dir`` (none if it does not exist yet), in
    path order; their training time and devices are added to ``findings``."""
    if not sweep_dir.is_dir():
        return []
    runs = []
    for run_dir in find_run_dirs([sweep_dir], quiet=True):
        summary = read_summary(run_dir)
        if summary.get("status") == "completed" and "final" in summary:
            runs.append((run_dir, summary))
    if findings is not None:  # an ensemble's members share their process's time: a member counts its share
        findings.compute_s += sum((summary.get("wall_time_s") or 0.0) / _members(summary) for _, summary in runs)
        findings.devices[:] = sorted({*findings.devices, *(str(summary.get("device")) for _, summary in runs)})
    return runs


def _members(summary: dict) -> int:
    ensemble = summary.get("ensemble")
    return ensemble.get("size", 1) if isinstance(ensemble, dict) else 1


def first_epoch(run_dir: Path, key: str, below: float) -> int | None:
    """The first logged epoch of ``run_dir/metrics.csv`` at which ``key`` is below ``below`` (None: never)."""
    with open(run_dir / "metrics.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get(key) not in (None, "") and float(row[key]) < below:
                return int(row["epoch"])
    return None


def grok_epoch(summary: dict, split: str = "test") -> int | None:
    """The first metric epoch at which ``split``'s accuracy reached the grokking threshold (None: never)."""
    return (summary.get("grok_epochs") or {}).get(split)


def number(value, digits: int = 3) -> str:
    """``value`` for a table cell: ``-`` for None, text and integers as they are, floats to ``digits`` significant
    digits."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 10):
        return str(int(value))
    return f"{value:.{digits}g}"
