"""Callbacks on ``module.epoch``: metrics and logging, checkpoints, parameter snapshots, a progress bar."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import CSVLogger
from tqdm.auto import tqdm

from grokscope.metrics import evaluate, split_scores
from grokscope.training.cadence import Cadence
from grokscope.training.outputs import ArrayStore, atomic_write_bytes

GROK_THRESHOLD = 0.99


class MetricsRecorder:
    """The logged record of one run: on due epochs (and epoch 0 and the last), one forward over the whole
    table feeds the split scores (every ``log_every_n_epochs``) and the mechanistic metrics (on the metrics
    cadence).

    Scalars go to ``loggers`` with ``step = epoch``; arrays go to the :class:`ArrayStore`. The recorder keeps
    the logged rows (``history``) and the first epoch at which each split's accuracy reaches
    ``GROK_THRESHOLD`` (``grok_epochs``). It knows no trainer, so one recorder per member serves ensembles.
    """

    def __init__(self, metrics, eval_cadence: Cadence, metric_cadence: Cadence, arrays: ArrayStore):
        self.metrics, self.eval_cadence, self.metric_cadence = metrics, eval_cadence, metric_cadence
        self.arrays = arrays
        self.hooks = tuple(sorted({h for m in metrics for h in m.hooks}))
        self.history: list[dict] = []
        self.grok_epochs: dict[str, int | None] = {}

    def start(self, loggers, task, epoch: int) -> bool:
        """Before training: replay a resumed history into ``metrics.csv`` (started afresh), or reset the
        grokking epochs. True if epoch ``epoch`` still has to be recorded."""
        if self.history:
            for logger in loggers:
                if isinstance(logger, CSVLogger):
                    for row in self.history:
                        logger.log_metrics(row, step=row["epoch"])
                    logger.save()
        else:
            self.grok_epochs = {m: None for m in task.eval_masks}
        return not self.history or self.history[-1]["epoch"] != epoch

    def due(self, epoch: int, last: bool) -> bool:
        return last or self.metric_cadence.due(epoch) or self.eval_cadence.due(epoch)

    def state_dict(self) -> dict:
        return {"history": self.history, "grok_epochs": self.grok_epochs, "arrays": self.arrays.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history, self.grok_epochs = state_dict["history"], state_dict["grok_epochs"]
        self.arrays.load_state_dict(state_dict["arrays"])

    def record(self, loggers, model, task, loss_dtype, epoch: int, last: bool) -> None:
        """Evaluate ``model`` and log the row of ``epoch`` if it is due."""
        with_metrics = last or self.metric_cadence.due(epoch)
        if not self.due(epoch, last):
            return
        ev = evaluate(model, task, loss_dtype, self.hooks if with_metrics else ())
        row: dict = {"epoch": epoch, **split_scores(ev, task)}
        for metric in self.metrics if with_metrics else ():
            for key, value in metric(model, task, ev).items():
                if isinstance(value, np.ndarray):
                    self.arrays.append(key, epoch, value)
                else:
                    row[key] = value
        for logger in loggers:
            logger.log_metrics(row, step=epoch)
        self.history.append(row)
        for mask, seen in self.grok_epochs.items():
            if seen is None and row[f"{mask}/acc"] >= GROK_THRESHOLD:
                self.grok_epochs[mask] = epoch
        if with_metrics:
            for logger in loggers:
                logger.save()


class MetricsCallback(MetricsRecorder, L.Callback):
    """A :class:`MetricsRecorder` of the trained module, logging to the trainer's loggers."""

    def setup(self, trainer, pl_module, stage) -> None:
        pl_module.cadences += [self.eval_cadence, self.metric_cadence]

    def on_train_start(self, trainer, pl_module) -> None:
        if self.start(trainer.loggers, pl_module.task, pl_module.epoch):
            self.record_module(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.record_module(trainer, pl_module)

    def record_module(self, trainer, module) -> None:
        self.record(trainer.loggers, module.model, module.task, module.loss_dtype, module.epoch,
                    module.epoch >= module.max_epochs)


class CheckpointCallback(L.Callback):
    """Saves ``checkpoints/last.ckpt`` (model, optimizer, scheduler, epoch, RNG) every ``cadence`` epochs
    and at the end, atomically (temporary file, then rename)."""

    def __init__(self, path: Path, cadence: Cadence, arrays: ArrayStore):
        self.path, self.cadence, self.arrays = path, cadence, arrays

    def setup(self, trainer, pl_module, stage) -> None:
        pl_module.cadences.append(self.cadence)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.cadence.due(pl_module.epoch) or pl_module.epoch >= pl_module.max_epochs:
            self.save(trainer)

    def save(self, trainer) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp)
        os.replace(tmp, self.path)
        self.arrays.save()


def snapshot_path(directory: Path, epoch: int) -> Path:
    """``<directory>/epoch=<epoch>.pt``: the parameters after ``epoch`` optimizer steps."""
    return directory / f"epoch={epoch}.pt"


class SnapshotCallback(L.Callback):
    """Saves the model's ``state_dict`` (every parameter, on the CPU) to :func:`snapshot_path` at epoch 0, every
    ``cadence`` epochs and the last epoch, atomically (circle_survival.md §7: "embedding + MLP snapshots every
    100 steps"). A resumed run rewrites the epochs it repeats with the same values, so resuming is idempotent."""

    def __init__(self, directory: Path, cadence: Cadence):
        self.directory, self.cadence = directory, cadence

    def setup(self, trainer, pl_module, stage) -> None:
        pl_module.cadences.append(self.cadence)

    def on_train_start(self, trainer, pl_module) -> None:
        if self.cadence.due(pl_module.epoch):
            self.save(pl_module.model, pl_module.epoch)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.cadence.due(pl_module.epoch) or pl_module.epoch >= pl_module.max_epochs:
            self.save(pl_module.model, pl_module.epoch)

    def save(self, model, epoch: int) -> None:
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, buf)
        atomic_write_bytes(snapshot_path(self.directory, epoch), buf.getvalue())


class EpochProgressBar(L.Callback):
    """A tqdm bar over epochs with the latest train/test accuracy."""

    def __init__(self, metrics_cb: MetricsCallback):
        self.metrics_cb = metrics_cb
        self.bar = None

    def on_train_start(self, trainer, pl_module) -> None:
        interactive = sys.stderr.isatty()
        self.bar = tqdm(total=pl_module.max_epochs, initial=pl_module.epoch, unit="epoch", dynamic_ncols=True,
                        mininterval=0.5 if interactive else 30.0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.bar.update(pl_module.epoch - self.bar.n)
        if self.metrics_cb.history and self.metrics_cb.history[-1]["epoch"] == pl_module.epoch:
            row = self.metrics_cb.history[-1]
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k.endswith(("/acc", "/loss"))},
                                 refresh=False)

    def on_train_end(self, trainer, pl_module) -> None:
        self.bar.close()
