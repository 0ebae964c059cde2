"""Where the package keeps its files; imports nothing heavy, so the command-line entry can use it first."""

from __future__ import annotations

from pathlib import Path

#: The Hydra config directory shipped inside the package (``train.yaml`` and one folder per config group).
CONF_DIR = Path(__file__).resolve().parent / "conf"
