"""Figures of scalars over epochs: every run's loss and accuracy curves, and the restricted/excluded loss figure
that the progress and rep families share."""

from __future__ import annotations

import numpy as np

from grokscope.figures import figure, points
from grokscope.metrics.family import RunRecord
from grokscope.metrics.phases import draw_phases, phases_of, run_phases


def curves_figure(record: RunRecord, title: str | None = None, grok_epochs: dict[str, int | None] | None = None):
    """Loss and accuracy of every evaluated split against ``epoch + 1`` on log axes, under ``title`` (the run's
    name); a dashed line, in the split's colour, at each split's grokking epoch (``grok_epochs[split]``: the
    first epoch its accuracy reached the threshold); the phases shaded where the task has a test split."""
    epochs = np.array([row["epoch"] for row in record.history]) + 1
    fig, (ax_loss, ax_acc) = figure((11, 4.4), 1, 2)
    if record.logged("test/loss"):
        phases = phases_of(run_phases(record)["phases"])
        for ax in (ax_loss, ax_acc):
            draw_phases(ax, phases)
    for mask in record.task.eval_masks:
        line, = ax_loss.plot(epochs, [row[f"{mask}/loss"] for row in record.history], label=mask,
                             **points(len(epochs)))
        ax_acc.plot(epochs, [row[f"{mask}/acc"] for row in record.history], label=mask, color=line.get_color(),
                    **points(len(epochs)))
        grokked = (grok_epochs or {}).get(mask)
        if grokked is not None:
            for ax in (ax_loss, ax_acc):
                ax.axvline(grokked + 1, color=line.get_color(), ls="--", lw=1,
                           label=f"{mask} groks: epoch {grokked}" if ax is ax_acc else None)
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set(xscale="log", xlabel="epoch + 1", ylabel=name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    ax_loss.set_yscale("log")
    fig.suptitle(f"{title}: loss and accuracy" if title else "Loss and accuracy")
    return fig


def restricted_losses_figure(record: RunRecord, restricted: str, excluded: str):
    """Train, test, restricted and excluded loss over epochs on log axes, the phases shaded (Nanda et al. 2023's
    progress measures figure; Chughtai et al. 2023's "Res. Loss" and "Exc. Loss")."""
    fig, ax = figure((9, 4.5))
    draw_phases(ax, phases_of(run_phases(record)["phases"]))
    for key, label in (("train/loss", "train"), ("test/loss", "test"), (restricted, f"restricted ({restricted})"),
                       (excluded, f"excluded ({excluded})")):
        epochs, values = record.series(key)
        ax.plot(epochs, values, label=label, **points(len(epochs)))
    ax.set(xscale="log", yscale="log", xlabel="epoch + 1", ylabel="loss", title="Restricted and excluded loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
