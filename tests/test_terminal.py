"""What a default run shows at the terminal, and that offline WandB touches no network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

NOISE = re.compile(r"lightning|wandb|LOCAL_RANK|GPU available|TPU available|warning", re.IGNORECASE)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to watch the process's connections")
def test_a_default_run_is_quiet_and_makes_no_network_connection(tmp_path):
    """``WANDB_MODE`` unset: the config resolves to offline, and no process of the run connects anywhere but
    this machine (a name lookup would connect to a DNS server); the terminal shows the run dir, the progress
    bar and the outcome, nothing from Lightning or wandb."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    run_dir, trace = tmp_path / "run", tmp_path / "connections.txt"
    strace = ["strace", "-f", "--seccomp-bpf", "-e", "trace=connect", "-o", str(trace)]  # connect() stops only
    proc = subprocess.run([*strace, sys.executable, "-m", "grokscope.cli.train", "experiment=tiny_modular",
                           "plots=false", f"hydra.run.dir={run_dir}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == f"run dir: {run_dir}" and lines[-1].startswith(f"{run_dir}: completed after 40 epochs")
    assert len(lines) == 2
    assert not [line for line in (proc.stdout + proc.stderr).splitlines() if NOISE.search(line)]
    assert any(run_dir.glob("wandb/offline-run-*"))  # WandB did log, offline
    connections = [line for line in trace.read_text().splitlines() if "AF_INET" in line]
    assert not [line for line in connections if "127.0.0.1" not in line and '"::1"' not in line]


def test_a_mistake_prints_one_line_and_leaves_no_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "grokscope.cli.train", "task.frac_train=1.5",
                           f"hydra.run.dir={run_dir}"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"grokscope-train: error: {proc.stderr.split('error: ', 1)[1].strip()}"]
    assert "task.frac_train=1.5" in proc.stderr and not run_dir.exists()
