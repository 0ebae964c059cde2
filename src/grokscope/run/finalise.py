"""The end of a run: arrays, plots, summary, the sinks' last word, then the completion marker.

Finalising reads only the recorder (history, grokking epochs, arrays) and the final model, all of which
a checkpoint restores; so finalising again after a kill (a re-run with 0 epochs left) writes the same files.
"""

from __future__ import annotations

import numpy as np

from grokscope.analysis.circle_plots import plot_circle_geometry
from grokscope.analysis.plots import (
    plot_circle_signals,
    plot_curves,
    plot_irrep_similarity,
    plot_progress_losses,
    plot_spectrum,
)
from grokscope.metrics.circles import ranked_circles, survivors
from grokscope.run.rundir import RunDir
from grokscope.training.callbacks import MetricsRecorder
from grokscope.training.outputs import write_json

#: plot name -> (restricted, excluded) loss keys, plotted with the train and test losses when logged.
PROGRESS_PLOTS = {
    "progress_losses": ("progress/restricted_loss", "progress/excluded_loss"),
    "rep_losses": ("rep/total_hidden_restricted_loss", "rep/total_hidden_excluded_loss"),
}


def finalise(run_dir: RunDir, recorder: MetricsRecorder, sinks, task, model, resolved: dict, draw: bool = True,
             **fields) -> dict:
    """Write a finished member's arrays, plots (``draw``) and ``summary.json`` (``fields``, the final row, the grokking
    epochs, the resolved config and, with circle metrics, ``circle_survivors``), end its sinks with the
    summary, then write its completion marker. Returns the summary."""
    arrays = recorder.arrays
    arrays.save()
    for sink in sinks:
        sink.flush()
    if draw:
        plots(run_dir, recorder.history, task, arrays, model)
    summary = {**fields, "final": recorder.history[-1], "grok_epochs": recorder.grok_epochs, "config": resolved}
    if "circles/signal" in arrays.values and arrays.epochs["circles"][0] == 0:
        summary["circle_survivors"] = survivors(arrays.values["circles/signal"][0][0],
                                                arrays.values["circles/is_circle"][-1][0])
    write_json(run_dir.summary_path, summary)
    for sink in sinks:
        sink.finish(summary)
    run_dir.finish(summary["status"], summary["epochs"])
    return summary


def plots(run_dir: RunDir, history: list[dict], task, arrays, model) -> None:
    """The run's figures in ``plots/``: curves, and those of the metric families that logged."""
    out = run_dir.plots
    plot_curves(history, task.eval_masks, out / "curves.png")
    logged = set().union(*history)
    if "rep/logit_similarity/trivial" in logged:
        plot_irrep_similarity(history, out / "rep_logit_similarity.png")
    for name, (restricted, excluded) in PROGRESS_PLOTS.items():
        if restricted in logged:
            plot_progress_losses(history, restricted, excluded, out / f"{name}.png")
    if "fourier/W_E_power" in arrays.values:
        plot_spectrum(np.asarray(arrays.epochs["fourier"]), np.stack(arrays.values["fourier/W_E_power"]),
                      out / "fourier_W_E.png")
    if "circles/signal" in arrays.values:
        signal, is_circle = np.stack(arrays.values["circles/signal"]), arrays.values["circles/is_circle"][-1][0]
        plot_circle_signals(np.asarray(arrays.epochs["circles"]), signal, is_circle, out / "circle_signals.png")
        circles = ranked_circles(signal[-1, 0], is_circle)  # the final embedding on its circles' planes (§6.9)
        plot_circle_geometry(model.operand_tables(task)[0], task.modulus, circles, out)
