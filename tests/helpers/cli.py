"""Run ``grokscope-train`` in a child process, as a user would, or one that is killed after a checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The exit status of a child killed by :func:`cli_killed_after_checkpoint` (as SIGKILL's 128 + 9).
KILLED = 137

_KILL_AFTER_CHECKPOINT = """
import os
from grokscope.training.callbacks import RunCallback
from grokscope.cli.train import main

checkpoint = RunCallback.checkpoint

def checkpoint_then_die(self, module):
    checkpoint(self, module)
    if module.epoch == {epoch}:
        os._exit({status})  # no clean-up of any kind, as a kill

RunCallback.checkpoint = checkpoint_then_die
main()
"""


def _env() -> dict[str, str]:
    env = {**os.environ, "WANDB_MODE": "offline"}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``grokscope-train`` (as ``python -m grokscope.cli.train``) in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "grokscope.cli.train", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=300)


def cli_killed_after_checkpoint(epoch: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``grokscope-train`` in ``cwd`` and kill its process (exit status :data:`KILLED`, nothing cleaned up)
    right after the first job writes its checkpoint at ``epoch``."""
    script = _KILL_AFTER_CHECKPOINT.format(epoch=epoch, status=KILLED)
    return subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=300)
