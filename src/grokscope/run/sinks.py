"""Sinks receive a member's logged rows: ``metrics.csv`` always, Weights & Biases when enabled.

A sink has ``log(row)`` (a row of :class:`~grokscope.training.callbacks.MetricsRecorder`, with its
``epoch``), ``flush()`` (on metric epochs) and ``finish(summary)`` (at the end of an attempt: with the
summary before the run is marked finished, with None when it stopped early). Rows are exactly the
recorder's history, so a resumed run's sinks never see an epoch twice: ``metrics.csv`` is rewritten from
the history, and WandB skips the epochs an earlier attempt already logged.
"""

from __future__ import annotations

import csv
import io
import os

from grokscope.run.rundir import RunDir
from grokscope.run.terminal import verbose
from grokscope.run.wandb_offline import logged_through
from grokscope.training.callbacks import MetricsRecorder
from grokscope.training.loggers import WandbConfig
from grokscope.training.outputs import atomic_write_bytes


class CsvSink:
    """``metrics.csv``: one row per logged epoch, columns in order of first appearance (``epoch`` first),
    rewritten atomically from the recorder's history on every flush."""

    def __init__(self, path, recorder: MetricsRecorder):
        self.path, self.recorder = path, recorder

    def log(self, row: dict) -> None:
        """Nothing to do: the row is in the recorder's history, written at the next flush."""

    def flush(self) -> None:
        columns = list(dict.fromkeys(k for row in self.recorder.history for k in row))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.recorder.history)
        atomic_write_bytes(self.path, buf.getvalue().encode())

    def finish(self, summary: dict | None) -> None:
        """Nothing left: the last flush came before the summary."""


class WandbSink:
    """One WandB run per run dir (id in ``wandb_id``, so attempts continue it), scalars on an ``epoch``
    axis, the summary at the end. Offline unless ``logger.wandb.mode=online``: then nothing touches the
    network. On resume, rows up to the last epoch an earlier attempt logged are skipped (offline: read from
    the attempts' files; online: the run's ``epoch`` summary)."""

    def __init__(self, cfg: WandbConfig, run_dir: RunDir, name: str, group: str | None, tags: list[str],
                 config: dict):
        mode = cfg.resolved_mode()
        if mode == "offline":
            os.environ["WANDB_MODE"] = "offline"
        import wandb

        run_id = run_dir.wandb_id()
        run_dir.wandb.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            id=run_id, resume="allow", reinit="create_new", dir=str(run_dir.path), mode=mode, name=name,
            project=cfg.project, entity=cfg.entity, group=cfg.group or group, tags=[*cfg.tags, *tags], config=config,
            settings=wandb.Settings(silent=not verbose(), console="off", x_disable_stats=True,
                                    x_disable_machine_info=True, disable_git=True, save_code=False),
        )
        self.run.define_metric("epoch")
        self.run.define_metric("*", step_metric="epoch")
        self.logged_through = (logged_through(run_dir.wandb, run_id) if mode == "offline"
                               else int(self.run.summary.get("epoch", -1)))

    def log(self, row: dict) -> None:
        if row["epoch"] > self.logged_through:
            self.run.log(row)
            self.logged_through = row["epoch"]

    def flush(self) -> None:
        """WandB sends on its own schedule."""

    def finish(self, summary: dict | None) -> None:
        """End this attempt's WandB run, with the run's summary when it is finished (None: stopped early)."""
        if summary is not None:
            self.run.summary.update({k: v for k, v in summary.items() if k != "config"})
        self.run.finish()


def build_sinks(rec: MetricsRecorder, run_dir: RunDir, cfg, name: str, group: str | None, tags: list[str],
                config: dict) -> list:
    """``metrics.csv``, plus WandB when ``logger.wandb.enabled``."""
    sinks: list = [CsvSink(run_dir.metrics_csv, rec)]
    if cfg.wandb.enabled:
        sinks.append(WandbSink(cfg.wandb, run_dir, name, group, tags, config))
    return sinks
