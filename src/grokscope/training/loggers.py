"""``logger``: CSV always (``metrics.csv`` in the run dir); Weights & Biases, offline unless asked otherwise."""

from __future__ import annotations

import os
from dataclasses import dataclass

from grokscope.config import Checked, require_choice

WANDB_MODES = ("offline", "online", "disabled")


@dataclass
class WandbConfig(Checked):
    """``logger.wandb``: ``mode`` null means ``$WANDB_MODE`` if set, else ``offline``."""

    enabled: bool
    mode: str | None
    project: str
    entity: str | None
    group: str | None
    tags: list[str]

    def check(self, prefix: str) -> None:
        if self.mode is not None:
            require_choice(f"{prefix}.mode", self.mode, WANDB_MODES)

    def resolved_mode(self) -> str:
        return self.mode or os.environ.get("WANDB_MODE") or "offline"


@dataclass
class LoggerConfig(Checked):
    """``logger=default`` (CSV + WandB) or ``logger=csv`` (WandB off)."""

    name: str
    wandb: WandbConfig


#: ``logger=<name>`` -> its schema
SCHEMAS = {"default": LoggerConfig, "csv": LoggerConfig}
