"""What happens between training calls, for each member of a module: records, snapshots, checkpoints,
stopping when asked; and a progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from tqdm.auto import tqdm

from grokscope.metrics import evaluate_metrics, split_scores
from grokscope.metrics.phases import GROK_THRESHOLD
from grokscope.training.cadence import Cadence
from grokscope.training.outputs import ArrayStore, write_torch
from grokscope.training.stopping import StopRule


class MetricsRecorder:
    """The logged record of one run: on due epochs (and epoch 0 and the last), one forward over the whole
    table, streamed in row chunks, feeds the split scores (every ``log_every_n_epochs``) and the mechanistic
    metrics (on the metrics cadence; :func:`~grokscope.metrics.evaluation.evaluate_metrics`).

    Scalars make the epoch's row (``history``, plain floats); arrays go to the :class:`ArrayStore`. The
    recorder keeps the first epoch at which each split's accuracy reaches ``GROK_THRESHOLD`` (``grok_epochs``).
    It knows no trainer and no output, so one recorder per member serves ensembles.
    """

    def __init__(self, metrics, eval_cadence: Cadence, metric_cadence: Cadence, arrays: ArrayStore):
        self.metrics, self.eval_cadence, self.metric_cadence = metrics, eval_cadence, metric_cadence
        self.arrays = arrays
        self.hooks = tuple(sorted({h for m in metrics for h in m.hooks}))
        self.history: list[dict] = []
        self.grok_epochs: dict[str, int | None] = {}

    def start(self, task, epoch: int) -> bool:
        """Before training: reset the grokking epochs of a fresh run. True if ``epoch`` is still to record."""
        if not self.history:
            self.grok_epochs = {m: None for m in task.eval_masks}
        return not self.history or self.history[-1]["epoch"] != epoch

    def due(self, epoch: int, last: bool) -> bool:
        return last or self.metric_cadence.due(epoch) or self.eval_cadence.due(epoch)

    def state_dict(self) -> dict:
        return {"history": self.history, "grok_epochs": self.grok_epochs, "arrays": self.arrays.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history, self.grok_epochs = state_dict["history"], state_dict["grok_epochs"]
        self.arrays.load_state_dict(state_dict["arrays"])

    def record(self, model, task, loss, epoch: int, last: bool) -> dict | None:
        """Evaluate ``model`` and return the row of ``epoch`` if it is due (None otherwise)."""
        if not self.due(epoch, last):
            return None
        with_metrics = last or self.metric_cadence.due(epoch)
        ev, values = evaluate_metrics(model, task, loss, self.metrics if with_metrics else ())
        row: dict = {"epoch": epoch, **split_scores(ev, task)}
        for out in values:
            for key, value in out.items():
                if isinstance(value, np.ndarray):
                    self.arrays.append(key, epoch, value)
                else:
                    row[key] = float(value)
        self.history.append(row)
        for mask, seen in self.grok_epochs.items():
            if seen is None and row[f"{mask}/acc"] >= GROK_THRESHOLD:
                self.grok_epochs[mask] = epoch
        return row


def snapshot_path(directory: Path, epoch: int) -> Path:
    """``<directory>/epoch=<epoch>.pt``: the parameters after ``epoch`` optimizer steps."""
    return directory / f"epoch={epoch}.pt"


class MemberOutputs:
    """Where member ``e`` of a module is recorded: its recorder, its sinks (``log(row)``, ``flush()``) and
    the directory of its parameter snapshots (None: no snapshots)."""

    def __init__(self, recorder: MetricsRecorder, sinks: Sequence, snapshots: Path | None = None):
        self.recorder, self.sinks, self.snapshots = recorder, list(sinks), snapshots

    def flush(self) -> None:
        self.recorder.arrays.save()
        for sink in self.sinks:
            sink.flush()


class RunCallback(L.Callback):
    """Drives a module's members between training calls.

    - records each member on its cadences (its row to its sinks; sinks flushed on metric epochs);
    - snapshots (``snapshot_cadence``): each member's ``state_dict`` to ``snapshots/epoch=<N>.pt`` at epoch 0,
      every N epochs and the last (circle_survival.md §7); a resume rewrites repeated epochs with equal values;
    - checkpoints (``checkpoint_cadence`` and the last epoch): ``save_checkpoints(epoch, states)`` with one
      state per member (:meth:`GrokModule.member_state` plus its recorder), written as one set by the caller;
    - stops: when ``stop.requested()`` turns true, a checkpoint at the current epoch, then the trainer stops
      (``preempted`` is set); with a ``stop_rule`` (:class:`~grokscope.training.stopping.StopRule`), the members'
      logged rows move the module's last epoch before each epoch is recorded. ``stop.install()`` runs at the
      start of training, after Lightning has put its own
      signal handlers (its SIGTERM handler would end the process with status 0).
    """

    def __init__(self, members: list[MemberOutputs], checkpoint_cadence: Cadence,
                 save_checkpoints: Callable[[int, list[dict]], None], snapshot_cadence: Cadence | None = None,
                 stop_rule: StopRule | None = None):
        self.members, self.checkpoint_cadence, self.save_checkpoints = members, checkpoint_cadence, save_checkpoints
        self.snapshot_cadence, self.stop_rule = snapshot_cadence, stop_rule
        self.stop = None
        self.preempted = False

    def setup(self, trainer, module, stage) -> None:
        rec = self.members[0].recorder
        module.cadences += [rec.eval_cadence, rec.metric_cadence, self.checkpoint_cadence]
        if self.snapshot_cadence is not None:
            module.cadences.append(self.snapshot_cadence)

    def on_train_start(self, trainer, module) -> None:
        if self.stop is not None:
            self.stop.install()
        for e, m in enumerate(self.members):
            if m.recorder.start(module.tasks[e], module.epoch):
                self.record(module, e)
        self.snapshot(module)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.stop_rule is not None and module.epoch < module.max_epochs:
            self.stop_rule.apply(module, [m.recorder.history for m in self.members])
            trainer.should_stop = module.epoch >= module.max_epochs
        last = module.epoch >= module.max_epochs
        for e in range(len(self.members)):
            self.record(module, e)
        self.snapshot(module)
        stop = self.stop is not None and self.stop.requested()
        if last or stop or self.checkpoint_cadence.due(module.epoch):
            self.checkpoint(module)
        if stop and not last:
            self.preempted = trainer.should_stop = True

    def record(self, module, e: int) -> None:
        m, epoch = self.members[e], module.epoch
        last = epoch >= module.max_epochs
        if not m.recorder.due(epoch, last):  # before module.member(e): an ensemble copies the member's weights
            return
        row = m.recorder.record(module.member(e), module.tasks[e], module.loss, epoch, last)
        for sink in m.sinks:
            sink.log(row)
        if m.recorder.metric_cadence.due(epoch) and not last:
            m.flush()

    def snapshot(self, module) -> None:
        cadence, epoch = self.snapshot_cadence, module.epoch
        if cadence is None or not (cadence.due(epoch) or epoch >= module.max_epochs):
            return
        for e, m in enumerate(self.members):
            params = {k: v.detach().cpu().clone() for k, v in module.member(e).state_dict().items()}
            write_torch(snapshot_path(m.snapshots, epoch), params)

    def checkpoint(self, module) -> None:
        self.save_checkpoints(module.epoch, [{**module.member_state(e), "recorder": m.recorder.state_dict()}
                                             for e, m in enumerate(self.members)])


class EpochProgressBar(L.Callback):
    """A tqdm bar over epochs with the latest train/test accuracy and loss of the first member."""

    def __init__(self, recorder: MetricsRecorder):
        self.recorder = recorder
        self.bar = None

    def on_train_start(self, trainer, module) -> None:
        interactive = sys.stderr.isatty()
        self.bar = tqdm(total=module.max_epochs, initial=module.epoch, unit="epoch", dynamic_ncols=True,
                        mininterval=0.5 if interactive else 30.0)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.bar.update(module.epoch - self.bar.n)
        history = self.recorder.history
        if history and history[-1]["epoch"] == module.epoch:
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in history[-1].items() if k.endswith(("/acc", "/loss"))},
                                 refresh=False)

    def on_train_end(self, trainer, module) -> None:
        self.bar.close()


def load_snapshot(path: Path) -> dict[str, torch.Tensor]:
    """A snapshot's ``state_dict`` (``weights_only``: nothing in a run dir is executed)."""
    return torch.load(path, map_location="cpu", weights_only=True)
