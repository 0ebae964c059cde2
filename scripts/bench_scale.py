"""How a run's cost grows with p: one training epoch and one metric evaluation of a preset at several p.

    PYTHONPATH=src python scripts/bench_scale.py                                   # nanda_2023 and oocl, p = 59..997
    PYTHONPATH=src python scripts/bench_scale.py --presets oocl --p 59 113 device=cuda

Each (preset, p) runs in its own process, so that its peak resident memory is its own: the preset at that p is
built (task, model, AdamW), one epoch is trained (the module's step: forward, backward, optimizer step) after a
warm-up epoch, and one metric evaluation runs as on a metric epoch (the streamed forward over every row, the
split scores and every metric family that applies). Printed per row: seconds per epoch, seconds per evaluation,
the peak resident set size of the process (``ru_maxrss``), that peak above the process's resident size before
the table was built (the interpreter, torch and a warm-up at a tiny p), the *held* peaks of the training step
and of the evaluation (a second process with glibc's allocator returning freed arrays at once,
:data:`HELD_ENV`: what the arrays hold, the CPU's counterpart of CUDA's allocated memory), the peak CUDA memory
allocated (when the device is CUDA) and the fit estimate of :mod:`grokscope.metrics.fit` with its ratio to the
held peak (on CUDA, to the allocated peak); then the growth exponent of each column against p (the slope of log
value on log p, fitted over the rows of each preset). Each phase's peak is read from Linux's ``VmHWM`` after
resetting it (``/proc/self/clear_refs``); elsewhere only the whole run's peak is known.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time

PRESETS = ("nanda_2023", "oocl")
SIZES = (59, 113, 257, 509, 997)
COLUMNS = (("epoch_s", "s / epoch"), ("eval_s", "s / evaluation"), ("peak_rss", "peak RSS (GiB)"),
           ("peak_above_base", "above baseline (GiB)"), ("held_step", "held: step (GiB)"),
           ("held_evaluation", "held: evaluation (GiB)"), ("cuda_peak", "CUDA peak alloc. (GiB)"),
           ("estimate", "fit estimate (GiB)"), ("ratio", "estimate / held"))
#: glibc's malloc keeps freed blocks below a threshold that rises as it runs (up to 32 MiB) for reuse, so the
#: resident size of identical runs varies by 10-30% with the order of frees. Pinned at 128 KiB, every block
#: of an array is unmapped when it is freed, and the resident size is what the run's arrays hold: the CPU's
#: counterpart of CUDA's allocated memory, which the fit estimate is held to.
HELD_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def rss_bytes() -> int:
    """The process's resident set size now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> bool:
    """Reset the kernel's record of this process's peak resident size (Linux's ``/proc/self/clear_refs``);
    False where that cannot be done."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_bytes() -> int:
    """The process's peak resident size since the last :func:`reset_peak` (``VmHWM``; else ``ru_maxrss``)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(preset: str, p: int, overrides: list[str]) -> dict:
    """One epoch and one metric evaluation of ``experiment=preset`` at ``task.p=p`` (in this process), with the
    peak resident size of each phase (building, two training epochs, the evaluation) above the baseline."""
    import torch

    from grokscope.losses import Loss
    from grokscope.metrics import build_metrics, evaluate_metrics, split_scores
    from grokscope.metrics.fit import estimate
    from grokscope.run import build
    from grokscope.run.compose import compose
    from grokscope.run.config import validate
    from grokscope.training.module import GrokModule

    def setup(size: int):
        config = validate(compose([f"experiment={preset}", f"task.p={size}", *overrides]))
        device = torch.device(config.run.device if config.run.device != "auto" else
                              ("cuda" if torch.cuda.is_available() else "cpu"))
        task, model = build(config)
        task, model = task.to(device), model.to(device)
        run = config.run
        module = GrokModule(model, task, config.optimizer, run.max_epochs, run.steps_per_call, Loss.of(run),
                            run.batch_size, run.seeds.sampler)
        module.on_fit_start()
        optimizer = config.optimizer.build([q for q in model.parameters() if q.requires_grad])
        metrics = [active.metric for active in build_metrics(config.metrics, task, model, notes=False)]

        def epoch() -> None:
            loss = module.training_loss()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        def evaluation() -> None:
            ev, _ = evaluate_metrics(model, task, module.loss, metrics)
            split_scores(ev, task)

        return config, device, epoch, evaluation

    def sync(device) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    _, device, epoch, evaluation = setup(11)  # warm-up: lazily loaded kernels and caches
    epoch(), evaluation()
    del epoch, evaluation
    gc.collect()
    base = rss_bytes()
    phases = reset_peak()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    config, device, epoch, evaluation = setup(p)
    built = peak_bytes() - base
    reset_peak()
    epoch()
    sync(device)
    start = time.perf_counter()
    epoch()
    sync(device)
    epoch_s = time.perf_counter() - start
    step = peak_bytes() - base
    reset_peak()
    start = time.perf_counter()
    evaluation()
    sync(device)
    eval_s = time.perf_counter() - start
    evaluated = peak_bytes() - base
    above = max(built, step, evaluated) if phases else evaluated  # without resets, the last is the whole run's
    parts = estimate(config)
    return {"preset": preset, "p": p, "epoch_s": epoch_s, "eval_s": eval_s, "peak_rss": base + above,
            "peak_above_base": above, "step": step if phases else None, "evaluation": evaluated if phases else None,
            "cuda_peak": torch.cuda.max_memory_allocated() if device.type == "cuda" else None,
            "estimate": parts.total, "estimate_step": parts.stepping,
            "estimate_evaluation": parts.evaluating, "device": str(device)}


def run_child(preset: str, p: int, overrides: list[str], held: bool = False) -> dict:
    """:func:`measure` in a fresh process (its peak is its own); ``held``: with :data:`HELD_ENV`. Raises
    RuntimeError with the child's last line of stderr when it fails."""
    done = subprocess.run([sys.executable, __file__, "--child", preset, str(p), *overrides], capture_output=True,
                          text=True, env={**os.environ, **(HELD_ENV if held else {})})
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_both(preset: str, p: int, overrides: list[str]) -> dict:
    """The run's timings and resident sizes as any run has them, and the held peaks (:data:`HELD_ENV`)."""
    row = run_child(preset, p, overrides)
    held = run_child(preset, p, overrides, held=True)
    row.update(held_step=held["step"], held_evaluation=held["evaluation"], held=held["peak_above_base"])
    return row


def estimate_of(preset: str, p: int, overrides: list[str]) -> int:
    """The fit estimate of ``experiment=preset`` at ``task.p=p``, from its config alone."""
    from grokscope.metrics.fit import estimate_bytes
    from grokscope.run.compose import compose
    from grokscope.run.config import validate

    return estimate_bytes(validate(compose([f"experiment={preset}", f"task.p={p}", *overrides])))


def slope(ps: list[int], values: list[float]) -> float | None:
    """Least-squares slope of log(value) on log(p)."""
    pairs = [(math.log(p), math.log(v)) for p, v in zip(ps, values) if v is not None and v > 0]
    if len(pairs) < 2:
        return None
    mx = sum(x for x, _ in pairs) / len(pairs)
    my = sum(y for _, y in pairs) / len(pairs)
    return sum((x - mx) * (y - my) for x, y in pairs) / sum((x - mx) ** 2 for x, _ in pairs)


def table(rows: list[dict]) -> str:
    """The markdown table of ``rows`` and, per preset, the growth exponents of each column."""
    cuda = any(r.get("cuda_peak") is not None for r in rows)
    columns = [(key, name) for key, name in COLUMNS if cuda or key != "cuda_peak"]
    lines = ["| preset | p | " + " | ".join(name for _, name in columns) + " |",
             "|---|---:|" + "---:|" * len(columns)]

    def cell(key: str, value) -> str:
        if value is None:
            return "-"
        if key == "ratio":
            return f"{value:.2f}"
        return f"{value:.3g}" if key.endswith("_s") else f"{value / 2**30:.2f}"

    for r in rows:  # on CUDA the estimate is held to the allocated peak
        held = r.get("cuda_peak") or r.get("held")
        if held:
            r["ratio"] = r["estimate"] / held

    for preset in dict.fromkeys(r["preset"] for r in rows):
        mine = [r for r in rows if r["preset"] == preset]
        for r in mine:
            lines.append(f"| {preset} | {r['p']} | " + " | ".join(cell(k, r.get(k)) for k, _ in columns) + " |")
        measured = [r for r in mine if "epoch_s" in r]  # the exponents of the sizes that ran
        exponents = [slope([r["p"] for r in measured], [r.get(k) for r in measured]) for k, _ in columns]
        lines.append(f"| {preset} | growth exponent | "
                     + " | ".join("-" if e is None else f"p^{e:.2f}" for e in exponents) + " |")
    return "\n".join(lines)


def gib(n_bytes: int | None) -> str:
    return "-" if n_bytes is None else f"{n_bytes / 2**30:.2f}"


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB{gpu}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="config overrides for every run (e.g. device=cuda)")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--p", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--skip-above", type=float, metavar="GIB",
                        help="do not run a size whose fit estimate exceeds this many GiB (its row shows the estimate)")
    parser.add_argument("--child", nargs=2, metavar=("PRESET", "P"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.overrides)))
        return
    print(f"# {machine()}", flush=True)
    rows = []
    for preset in args.presets:
        for p in args.p:
            estimate = estimate_of(preset, p, args.overrides)
            if args.skip_above is not None and estimate > args.skip_above * 2**30:
                rows.append({"preset": preset, "p": p, "estimate": estimate})
                print(f"{preset} p={p}: not run, estimate {estimate / 2**30:.2f} GiB", flush=True)
                continue
            try:
                rows.append(measure_both(preset, p, args.overrides))
            except RuntimeError as error:
                print(f"{preset} p={p}: failed: {error}", file=sys.stderr)
                continue
            r = rows[-1]
            print(f"{preset} p={p}: {r['epoch_s']:.3g} s/epoch, {r['eval_s']:.3g} s/evaluation, peak RSS "
                  f"{r['peak_rss'] / 2**30:.2f} GiB ({r['peak_above_base'] / 2**30:.2f} above baseline; held "
                  f"{r['held'] / 2**30:.2f}: step {gib(r['held_step'])}, evaluation {gib(r['held_evaluation'])}), "
                  f"estimate {r['estimate'] / 2**30:.2f} GiB (step {gib(r['estimate_step'])}, evaluation "
                  f"{gib(r['estimate_evaluation'])})", flush=True)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
