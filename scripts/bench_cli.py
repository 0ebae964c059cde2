"""Terminal latency of ``grokscope-train``: ``--help``, ``--cfg job`` and one shell tab completion.

    python scripts/bench_cli.py [--repeats 5]

Each command runs ``--repeats`` times in a fresh process from an empty temporary directory; the median and the
fastest wall time are printed (issue "Installs anywhere, quiet and quick": target under 1.5 s on 2 cores).
Tab completion is what bash runs on Tab: ``grokscope-train -sc query=bash`` with the line typed so far in
``COMP_LINE``. No assertions: it reports.
"""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs per command")
    repeats = parser.parse_args().repeats
    command = entry()
    print(f"{' '.join(command)}, {repeats} runs each, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as cwd:
        for name, (args, env) in COMMANDS.items():
            times = [seconds([*command, *args], env, cwd) for _ in range(repeats)]
            print(f"{name:<24} median {statistics.median(times):6.2f} s   fastest {min(times):6.2f} s")


if __name__ == "__main__":
    main()
