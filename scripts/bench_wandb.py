"""What WandB (offline) costs a run: the whole run, start to summary, with ``logger=default`` against
``logger=csv``, at the default cadence.

    python scripts/bench_wandb.py [--epochs 3000] [--repeats 3] [overrides ...]

The two alternate and the median of ``--repeats`` is reported, so both see the same machine load. The target:
WandB on costs at most 10% more time (ratio <= 1.10).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

from grokscope.analysis.bench import side_by_side_arguments
from grokscope.run import execute
from grokscope.run.compose import compose


def run_seconds(overrides: list[str]) -> float:
    """Wall time of one whole run in a fresh dir."""
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        execute(compose(overrides), run_dir)
        return time.perf_counter() - start


def main() -> None:
    args = side_by_side_arguments(__doc__, epochs=3000)
    os.environ["WANDB_MODE"] = "offline"
    os.environ.setdefault("WANDB_SILENT", "true")
    common = [*args.overrides, f"max_epochs={args.epochs}", "progress_bar=false"]
    csv, wandb = [], []
    for _ in range(args.repeats):
        csv.append(run_seconds([*common, "logger=csv"]))
        wandb.append(run_seconds([*common, "logger=default"]))
    c, w = statistics.median(csv), statistics.median(wandb)
    print(f"config: {' '.join(args.overrides) or '(default)'}; {args.epochs} epochs x {args.repeats} repeats")
    print(f"  logger=csv       {c:8.2f} s")
    print(f"  logger=default   {w:8.2f} s   default/csv {w / c:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
