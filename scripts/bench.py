"""The speed benchmark: bare PyTorch vs the framework vs ensembles of K members, per matmul precision, in one run.

    python scripts/bench.py [--epochs 300] [--k 1 16 64] [--precisions highest high] [--repeats 3]
                            [--experiments default nanda_2023] [overrides, e.g. device=cuda]

For each experiment and ``matmul_precision``, in one process: (a) a bare PyTorch loop, (b) the framework with
metrics off and evaluation only at the first and last epoch, (c) the framework with the experiment's default
logging and metrics cadence, (d) an ensemble of K members (metrics off) for each K (K = 1 is a single run through
the ensemble path); on a GPU also (b) with ``cuda_graph=false`` (every other side replays CUDA graphs). Every side
warms up before its timer starts (the bare loop: ``--warmup`` epochs; the framework: its first call of
``steps_per_call`` epochs, or the call that captured its graph), so cuBLAS start-up, kernel selection and graph
capture are not timed.
Measurements alternate (a, b, c, d, ...) and the median of ``--repeats`` is reported, so all sides see the same
machine load. Each throughput is also given as a fraction of the floor: one epoch's FLOPs (forward and backward
of the training rows, counted by torch's FlopCounterMode) at the card's peak FP32 (``highest``) or TF32
(``high``) rate; none on a CPU. Targets: b/a <= 1.10, c/b <= 1.10; on one H100 (nanda_2023) a single run
>= 2,500 epochs/s, an ensemble of 64 >= 6,000 member-epochs/s at highest and >= 20,000 at high.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from grokscope.analysis.bench import (
    bare_seconds_per_epoch,
    flops_per_epoch,
    framework_seconds_per_epoch,
    lean,
    peak_flops,
)
from grokscope.run import resolve_device


def measure(common: list[str], epochs: int, ks: list[int], repeats: int, warmup: int, cuda: bool) -> dict[str, tuple]:
    """Median seconds per epoch of each side and its members per epoch."""
    eager = {"framework eager": (1, lambda: framework_seconds_per_epoch([*lean(common, epochs), "cuda_graph=false"],
                                                                         epochs))} if cuda else {}
    sides = {
        "bare": (1, lambda: bare_seconds_per_epoch(common, epochs, warmup)),
        "framework": (1, lambda: framework_seconds_per_epoch(lean(common, epochs), epochs)),
        **eager,
        "framework+metrics": (1, lambda: framework_seconds_per_epoch(common, epochs)),
        **{f"ensemble x{k}": (k, lambda k=k: framework_seconds_per_epoch([*lean(common, epochs),
                                                                           f"ensemble.size={k}"], epochs))
           for k in ks},
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, (_, side) in sides.items():
            times[name].append(side())
    return {name: (statistics.median(times[name]), members) for name, (members, _) in sides.items()}


def report(median: dict[str, tuple], flops: float, peak: float | None) -> None:
    for name, (seconds, members) in median.items():
        rate = members / seconds
        floor = f"  {rate * flops / peak:7.1%} of the floor" if peak else ""
        print(f"  {name:<18} {1000 * seconds:9.3f} ms/epoch  {rate:10.1f} member-epochs/s{floor}")
    print(f"  framework / bare              {median['framework'][0] / median['bare'][0]:.3f}   (target <= 1.10)")
    print(f"  framework+metrics / framework {median['framework+metrics'][0] / median['framework'][0]:.3f}   "
          f"(target <= 1.10)")
    if "framework eager" in median:
        print(f"  CUDA graph speed-up           {median['framework eager'][0] / median['framework'][0]:.3f}   "
              f"(framework eager / framework)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=300, help="timed epochs per side (more than steps_per_call)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed epochs of the bare loop")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 16, 64], help="ensemble sizes")
    parser.add_argument("--precisions", nargs="+", default=["highest", "high"], choices=["highest", "high", "medium"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--experiments", nargs="+", default=["default", "nanda_2023"])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every side, e.g. device=cuda")
    args = parser.parse_args()
    device = next((o.split("=", 1)[1] for o in args.overrides if o.startswith("device=")), "auto")
    card = torch.cuda.get_device_name() if resolve_device(device) == "cuda" else "CPU"
    print(f"{args.epochs} epochs x {args.repeats} repeats (medians); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {resolve_device(device)} ({card})", *args.overrides)
    for experiment in args.experiments:
        common = [*([] if experiment == "default" else [f"experiment={experiment}"]),
                  f"max_epochs={args.epochs}", "logger=csv", "progress_bar=false", *args.overrides]
        flops = flops_per_epoch(common)
        for precision in args.precisions:
            print(f"experiment={experiment} matmul_precision={precision} ({flops / 1e9:.2f} GFLOP per epoch)")
            cuda = resolve_device(device) == "cuda"
            median = measure([*common, f"matmul_precision={precision}"], args.epochs, args.k, args.repeats,
                             args.warmup, cuda)
            report(median, flops, peak_flops(precision) if cuda else None)


if __name__ == "__main__":
    main()
