"""A packed sweep vs the same ensemble written by hand: wall time of the whole ``grokscope-train`` command.

    python scripts/bench_pack.py [--epochs 300] [--repeats 3] [overrides ...]

The sweep ``-m hydra/launcher=packed seed=0,1,2,3 optimizer.weight_decay=0.3,1`` (one pack of 8 members) and the
run ``ensemble.seeds=[0,0,1,1,2,2,3,3] ensemble.weight_decay=[0.3,1,...]`` train the same 8 members; each side
is the real command run in this process (Hydra composition, packing, training, finalising; not the imports:
a short warm-up run loads them), in a fresh directory. The sides alternate (and which goes first) and the
median of ``--repeats`` is reported, so both see the same machine load. Target (issue "Packing"):
packed / by hand <= 1.05.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import tempfile
import time
from unittest import mock

import torch

from grokscope.analysis.bench import side_by_side_arguments
from grokscope.cli.train import main as grokscope_train

SEEDS = (0, 1, 2, 3)
DECAYS = ("0.3", "1")


def seconds(argv: list[str]) -> float:
    """Wall time of ``grokscope-train ARGV`` in this process (its output swallowed); exits if it fails."""
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), mock.patch.object(
            sys, "argv", ["grokscope-train", *argv]):
        try:
            grokscope_train()
        except SystemExit as exit:
            if exit.code:
                sys.exit(f"grokscope-train {' '.join(argv)} failed ({exit.code}): {out.getvalue()[-500:]}")
    return time.perf_counter() - start


def main() -> None:
    args = side_by_side_arguments(__doc__, epochs=300)
    common = [*args.overrides, f"max_epochs={args.epochs}", "logger=csv", "progress_bar=false", "plots=false"]
    cells = [(seed, decay) for seed in SEEDS for decay in DECAYS]
    by_hand = [f"ensemble.seeds=[{','.join(str(s) for s, _ in cells)}]",
               f"ensemble.weight_decay=[{','.join(d for _, d in cells)}]"]
    packed = ["-m", "hydra/launcher=packed", f"seed={','.join(map(str, SEEDS))}",
              f"optimizer.weight_decay={','.join(DECAYS)}"]
    sides = {"packed sweep": lambda tmp: [*packed, *common, f"hydra.sweep.dir={tmp}/packed"],
             "ensemble by hand": lambda tmp: [*common, *by_hand, f"hydra.run.dir={tmp}/by_hand"]}
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: what loads on first use is not timed
        seconds([*sides["packed sweep"](tmp), "max_epochs=1", "metrics=none"])
    times: dict[str, list[float]] = {name: [] for name in sides}
    for repeat in range(args.repeats):
        for name in list(sides)[::1 if repeat % 2 == 0 else -1]:  # alternate which side goes first
            with tempfile.TemporaryDirectory() as tmp:
                times[name].append(seconds(sides[name](tmp)))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"config: {' '.join(args.overrides) or '(default)'}; {len(cells)} members, {args.epochs} epochs x "
          f"{args.repeats} repeats (medians); torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, value in median.items():
        print(f"  {name:<18} {value:8.2f} s")
    print(f"  packed / by hand   {median['packed sweep'] / median['ensemble by hand']:8.3f}   (target <= 1.05)")


if __name__ == "__main__":
    main()
