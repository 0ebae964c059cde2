"""Where the package's files are: the Hydra config tree."""

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
