"""The end of a run: arrays, plots, summary, the sinks' last word, then the completion marker.

Finalising reads only the recorder (history, grokking epochs, arrays) and the final model, all of which
a checkpoint restores; so finalising again after a kill (a re-run with 0 epochs left) writes the same files.
"""

from __future__ import annotations

import numpy as np

from grokscope.figures import png_bytes
from grokscope.metrics import ActiveFamily, RunRecord
from grokscope.metrics.curves import curves_figure
from grokscope.metrics.phases import run_phases
from grokscope.run.rundir import RunDir
from grokscope.training.callbacks import MetricsRecorder
from grokscope.training.outputs import atomic_write_bytes, write_json


def finalise(run_dir: RunDir, recorder: MetricsRecorder, sinks, families: list[ActiveFamily], task, model,
             resolved: dict, draw: bool = True, **fields) -> dict:
    """Write a finished member's arrays, plots (``draw``: the curves and each family's) and ``summary.json``
    (``fields``, the final row, the grokking epochs, the phases, the resolved config and what each family adds), end its
    sinks with the summary, then write its completion marker. Returns the summary."""
    arrays = recorder.arrays
    arrays.save()
    for sink in sinks:
        sink.flush()
    record = RunRecord(recorder.history, {key: np.stack(values) for key, values in arrays.values.items()},
                       {name: np.asarray(epochs) for name, epochs in arrays.epochs.items()}, task, model)
    if draw:
        for name, fig in figures(record, families, fields.get("run_name"), recorder.grok_epochs):
            atomic_write_bytes(run_dir.plots / f"{name}.png", png_bytes(fig))
    summary = {**fields, "final": recorder.history[-1], "grok_epochs": recorder.grok_epochs,
               "min_loss": min_losses(recorder.history, task.eval_masks), **run_phases(record), "config": resolved}
    for active in families:
        summary.update(active.family.summary(record))
    write_json(run_dir.summary_path, summary)
    for sink in sinks:
        sink.finish(summary)
    run_dir.finish(summary["status"], summary["epochs"])
    return summary


def min_losses(history: list[dict], masks) -> dict[str, dict]:
    """Per split: the lowest logged loss and the first epoch it was logged at."""
    out = {}
    for mask in masks:
        row = min(history, key=lambda row: row[f"{mask}/loss"])
        out[mask] = {"loss": row[f"{mask}/loss"], "epoch": row["epoch"]}
    return out


def figures(record: RunRecord, families: list[ActiveFamily], title: str | None = None,
            grok_epochs: dict | None = None):
    """``(name, figure)``: the loss and accuracy curves (titled ``title``, the grokking epochs marked), then the
    plots of each family that ran."""
    yield "curves", curves_figure(record, title, grok_epochs)
    for active in families:
        yield from active.family.plots(record)
