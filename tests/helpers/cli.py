"""Run ``grokscope-train`` in a child process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``grokscope-train`` (as ``python -m grokscope.cli.train``) in ``cwd``."""
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": ""}
    env.pop("HYDRA_FULL_ERROR")
    return subprocess.run([sys.executable, "-m", "grokscope.cli.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
