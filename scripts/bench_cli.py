"""Terminal latency of ``grokscope-train``: ``--help``, ``--cfg job`` and one shell tab completion; then the
start-up cost of a run: the time to the first epoch, now and at an earlier commit.

    python scripts/bench_cli.py [--repeats 5] [--epoch-repeats 4] [--before REF] [--only terminal|startup]

Each command runs ``--repeats`` times in a fresh process from an empty temporary directory; the median and the
fastest wall time are printed (issue "Installs anywhere, quiet and quick": target under 1.5 s on 2 cores).
Tab completion is what bash runs on Tab: ``grokscope-train -sc query=bash`` with the line typed so far in
``COMP_LINE``.

Start-up: ``grokscope-train max_epochs=1 logger=csv progress_bar=false`` (the default run, one epoch, from
start to the written plots and ``summary.json``) runs with this checkout's ``src`` and with the ``src`` of
``--before`` (a ``git worktree``, default: the commit before start-up was cut), both on ``PYTHONPATH`` with the
same interpreter and packages; the two alternate, ``--epoch-repeats`` times each, so that a busy machine slows
both alike. It prints the wall and CPU seconds (the process's user + system time) of each and the ratios
after / before (medians). No assertions: it reports.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

#: name -> (arguments, extra environment)
COMMANDS = {
    "--help": (["--help"], {}),
    "--cfg job": (["--cfg", "job"], {}),
    "tab completion (task=)": (["-sc", "query=bash"], {"COMP_LINE": "grokscope-train task=", "COMP_POINT": "21"}),
}


def entry() -> list[str]:
    """The installed console script, else the module."""
    script = shutil.which("grokscope-train")
    return [script] if script else [sys.executable, "-m", "grokscope.cli.train"]


def seconds(argv: list[str], env: dict[str, str], cwd: str) -> float:
    """Wall time of one run of ``argv``; exits if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return elapsed


#: the last commit before start-up was cut (Lightning's torchmetrics import deferred)
BEFORE = "3f0aaa718c64b70141aebbb66e22329629175e93"
#: the run whose start-up is measured: the default run, one epoch
ONE_EPOCH = ["max_epochs=1", "logger=csv", "progress_bar=false"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cost(src: str) -> tuple[float, float]:
    """Wall and CPU seconds of one one-epoch run of the ``grokscope`` in ``src``, from an empty directory."""
    env = {**os.environ, "PYTHONPATH": src}
    with tempfile.TemporaryDirectory() as cwd:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "grokscope.cli.train", *ONE_EPOCH], cwd=cwd, env=env,
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"one-epoch run with {src} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def startup(ref: str, repeats: int) -> None:
    """Time to the first epoch here and at ``ref``, alternating; medians and after / before."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "before")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-q", tree, ref], check=True)
        try:
            srcs = {"before": os.path.join(tree, "src"), "after": os.path.join(ROOT, "src")}
            costs: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
            for i in range(repeats):
                for name in ("before", "after") if i % 2 == 0 else ("after", "before"):
                    costs[name].append(run_cost(srcs[name]))
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree], check=False)
    print(f"time to the first epoch: grokscope-train {' '.join(ONE_EPOCH)}, {repeats} runs each, alternating")
    med = {}
    for name, pairs in costs.items():
        walls, cpus = [w for w, _ in pairs], [c for _, c in pairs]
        med[name] = statistics.median(walls), statistics.median(cpus)
        label = f"{name} ({ref[:10]})" if name == "before" else name
        print(f"{label:<24} wall median {med[name][0]:6.2f} s  ({' '.join(f'{w:.1f}' for w in walls)})   "
              f"CPU median {med[name][1]:6.2f} s  ({' '.join(f'{c:.1f}' for c in cpus)})")
    print(f"after / before           wall {med['after'][0] / med['before'][0]:.2f}   "
          f"CPU {med['after'][1] / med['before'][1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs per command")
    parser.add_argument("--epoch-repeats", type=int, default=4, help="one-epoch runs per side (start-up)")
    parser.add_argument("--before", default=BEFORE, help="the commit to compare start-up with")
    parser.add_argument("--only", choices=["terminal", "startup"], help="one of the two measurements")
    args = parser.parse_args()
    repeats = args.repeats
    if args.only != "startup":
        command = entry()
        print(f"{' '.join(command)}, {repeats} runs each, {os.cpu_count()} CPUs")
        with tempfile.TemporaryDirectory() as cwd:
            for name, (cmd_args, env) in COMMANDS.items():
                times = [seconds([*command, *cmd_args], env, cwd) for _ in range(repeats)]
                print(f"{name:<24} median {statistics.median(times):6.2f} s   fastest {min(times):6.2f} s")
    if args.only != "terminal":
        startup(args.before, args.epoch_repeats)


if __name__ == "__main__":
    main()
