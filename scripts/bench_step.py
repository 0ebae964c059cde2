"""Framework vs bare PyTorch, time per training epoch of the same model, data and full-batch AdamW steps.

    python scripts/bench_step.py [--epochs 400] [--repeats 3] [overrides ...]

The bare loop and the framework (metrics off, evaluation only at the first and last epoch) alternate and
the median of ``--repeats`` is reported, so both see the same machine load. ``scripts/bench.py`` adds the
metric cadence and ensembles.
"""

from __future__ import annotations

import statistics

import torch

from grokscope.analysis.bench import (
    bare_seconds_per_epoch,
    framework_seconds_per_epoch,
    lean,
    side_by_side_arguments,
)


def main() -> None:
    args = side_by_side_arguments(__doc__, epochs=400)
    common = [*args.overrides, f"max_epochs={args.epochs}", "logger=csv", "progress_bar=false"]
    bare, framework = [], []
    for _ in range(args.repeats):
        bare.append(bare_seconds_per_epoch(common, args.epochs))
        framework.append(framework_seconds_per_epoch(lean(common, args.epochs), args.epochs))
    b, f = statistics.median(bare), statistics.median(framework)
    print(f"config: {' '.join(args.overrides) or '(default)'}; {args.epochs} epochs x {args.repeats} repeats; "
          f"torch threads {torch.get_num_threads()}")
    print(f"  bare       {1000 * b:8.3f} ms/epoch")
    print(f"  framework  {1000 * f:8.3f} ms/epoch   framework/bare {f / b:.3f}")


if __name__ == "__main__":
    main()
