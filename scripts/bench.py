"""The speed benchmark: bare PyTorch vs the framework (metrics off, default cadence) vs an ensemble, in one run.

    python scripts/bench.py [--epochs 300] [--k 8] [--repeats 3] [--experiments default nanda_2023] [overrides]

For each experiment, in one process: (a) a bare PyTorch loop, (b) the framework with metrics off and
evaluation only at the first and last epoch, (c) the framework with the experiment's default logging and
metrics cadence, (d) an ensemble of ``K`` seeds (metrics off) against ``K`` sequential runs of (b) with the
same seeds. Measurements alternate (a, b, c, d, ...) and the median of ``--repeats`` is reported, so all
see the same machine load. Targets (issue "Speed"): b/a <= 1.10, c/b <= 1.10, ensemble throughput
(member-epochs/s) >= 1.3x the sequential runs'.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from grokscope.analysis.bench import bare_seconds_per_epoch, framework_seconds_per_epoch, lean
from grokscope.run import resolve_device


def measure(experiment: str, epochs: int, k: int, repeats: int, overrides: list[str]) -> dict[str, float]:
    """Median seconds per epoch of each side (per ensemble epoch for the ensemble, summed over the
    sequential runs for ``sequential``)."""
    common = [*([] if experiment == "default" else [f"experiment={experiment}"]),
              f"max_epochs={epochs}", "logger=csv", "progress_bar=false", *overrides]
    sides = {
        "bare": lambda: bare_seconds_per_epoch(common, epochs),
        "framework": lambda: framework_seconds_per_epoch(lean(common, epochs), epochs),
        "framework+metrics": lambda: framework_seconds_per_epoch(common, epochs),
        f"ensemble x{k}": lambda: framework_seconds_per_epoch([*lean(common, epochs), f"ensemble.size={k}"], epochs),
        f"sequential x{k}": lambda: sum(framework_seconds_per_epoch([*lean(common, epochs), f"seed={s}"], epochs)
                                        for s in range(k)),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, side in sides.items():
            times[name].append(side())
    return {name: statistics.median(values) for name, values in times.items()}


def report(experiment: str, median: dict[str, float], k: int) -> None:
    ens, seq = median[f"ensemble x{k}"], median[f"sequential x{k}"]
    for name, seconds in median.items():
        members = k if name.endswith(f"x{k}") else 1
        print(f"  {name:<18} {1000 * seconds:9.3f} ms/epoch  {members / seconds:9.1f} member-epochs/s")
    print(f"  framework / bare            {median['framework'] / median['bare']:.3f}   (target <= 1.10)")
    print(f"  framework+metrics / framework {median['framework+metrics'] / median['framework']:.3f} "
          f"(target <= 1.10)")
    print(f"  ensemble x{k} throughput / sequential {seq / ens:.2f}x (target >= 1.3x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--k", type=int, default=8, help="ensemble members")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--experiments", nargs="+", default=["default", "nanda_2023"])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every side, e.g. device=cuda")
    args = parser.parse_args()
    device = next((o.split("=", 1)[1] for o in args.overrides if o.startswith("device=")), "auto")
    print(f"{args.epochs} epochs x {args.repeats} repeats (medians); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {resolve_device(device)}", *args.overrides)
    for experiment in args.experiments:
        print(f"experiment={experiment}")
        report(experiment, measure(experiment, args.epochs, args.k, args.repeats, args.overrides), args.k)


if __name__ == "__main__":
    main()
