"""``logger``: CSV always (``metrics.csv`` in the run dir); Weights & Biases, offline unless asked otherwise."""

from __future__ import annotations

import os
from dataclasses import dataclass

from grokscope.config import NAME_MEANING, Checked, described, require, require_choice

WANDB_MODES = ("offline", "online", "disabled")
#: the most metric epochs with pictures a run may send (each family sends one to two per epoch)
MAX_MEDIA = 200


@dataclass
class WandbConfig(Checked):
    """``logger.wandb``: ``mode`` null means ``$WANDB_MODE`` if set, else ``offline``; ``max_media``: the metric
    epochs (at most, spread over the run) whose pictures each family sends; ``log_checkpoints``: the final
    checkpoint and the grokked snapshot as artifacts."""

    enabled: bool = described("log to Weights & Biases (false: metrics.csv only)")
    mode: str | None = described("null: $WANDB_MODE if set, else offline", choices=WANDB_MODES)
    project: str = described("the WandB project")
    entity: str | None = described("the WandB entity (null: the default)")
    group: str | None = described("the WandB group (null: the sweep dir in a multirun)")
    tags: list[str] = described("WandB tags, after task:<task>, model:<model> and experiment:<preset>")
    max_media: int = described("metric epochs (at most, spread over the run) whose pictures each family sends",
                               allowed=f"[0, {MAX_MEDIA}]")
    log_checkpoints: bool = described("the final checkpoint and the grokked snapshot as artifacts")

    def check(self, prefix: str) -> None:
        if self.mode is not None:
            require_choice(f"{prefix}.mode", self.mode, WANDB_MODES)
        require(0 <= self.max_media <= MAX_MEDIA, f"{prefix}.max_media", self.max_media,
                f"must be in [0, {MAX_MEDIA}] (pictures per family and run)")

    def resolved_mode(self) -> str:
        return self.mode or os.environ.get("WANDB_MODE") or "offline"


@dataclass
class LoggerConfig(Checked):
    """``logger=default`` (CSV + WandB) or ``logger=csv`` (WandB off)."""

    name: str = described(NAME_MEANING)
    wandb: WandbConfig = described("the Weights & Biases logger")


#: ``logger=<name>`` -> its schema
SCHEMAS = {"default": LoggerConfig, "csv": LoggerConfig}
