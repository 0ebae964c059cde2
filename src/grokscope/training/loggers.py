"""Loggers: CSV always (``metrics.csv`` in the run dir); Weights & Biases, offline unless asked otherwise."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grokscope.config import Checked, register, require_choice

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger

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


for _name in ("default", "csv"):
    register("logger", _name)(LoggerConfig)


def build_loggers(cfg: LoggerConfig, run_dir: Path, run_name: str, group: str | None, config: dict,
                  tags: tuple[str, ...] = (), concurrent: bool = False) -> list[Logger]:
    """A CSV logger writing ``run_dir/metrics.csv`` and, if enabled, a WandB logger under ``run_dir/wandb``.

    The WandB run id is kept in ``run_dir/wandb_id`` so that a resumed run continues the same WandB run.
    ``concurrent``: one of several WandB runs open in this process (ensemble members), each its own run
    (``reinit="create_new"``) instead of the process-global one; end them with :func:`finish_wandb`.
    """
    from lightning.pytorch.loggers import CSVLogger, WandbLogger  # not at import: the config schema needs none

    loggers: list[Logger] = [CSVLogger(save_dir=run_dir, name="", version="")]
    if cfg.wandb.enabled:
        loggers.append(WandbLogger(
            name=run_name, project=cfg.wandb.project, entity=cfg.wandb.entity, group=cfg.wandb.group or group,
            tags=[*cfg.wandb.tags, *tags], save_dir=str(run_dir), mode=cfg.wandb.resolved_mode(), config=config,
            id=wandb_run_id(run_dir), resume="allow", **({"reinit": "create_new"} if concurrent else {}),
        ))
    return loggers


def finish_wandb(loggers: list[Logger]) -> None:
    """Close the WandB runs of ``loggers`` that were started (each its own, concurrent ones included)."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger._experiment.finish()


def wandb_run_id(run_dir: Path) -> str:
    """The WandB id of the run in ``run_dir``: read from ``wandb_id``, or made and written there."""
    path = run_dir / "wandb_id"
    if path.exists():
        return path.read_text().strip()
    run_id = uuid.uuid4().hex[:8]  # wandb.util.generate_id is gone from recent wandb
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(run_id)
    return run_id
