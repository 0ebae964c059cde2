"""Figures of scalars over epochs: every run's loss and accuracy curves, and the restricted/excluded loss figure
that the progress and rep families share."""

from __future__ import annotations

import numpy as np

from grokscope.figures import figure
from grokscope.metrics.family import RunRecord


def curves_figure(record: RunRecord):
    """Loss and accuracy of every evaluated split against ``epoch + 1`` on log axes."""
    epochs = np.array([row["epoch"] for row in record.history]) + 1
    fig, (ax_loss, ax_acc) = figure((11, 4), 1, 2)
    for mask in record.task.eval_masks:
        ax_loss.plot(epochs, [row[f"{mask}/loss"] for row in record.history], label=mask)
        ax_acc.plot(epochs, [row[f"{mask}/acc"] for row in record.history], label=mask)
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set(xscale="log", xlabel="epoch + 1", ylabel=name)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_loss.set_yscale("log")
    return fig


def restricted_losses_figure(record: RunRecord, restricted: str, excluded: str):
    """Train, test, restricted and excluded loss over epochs on log axes (Nanda et al. 2023's progress
    measures figure; Chughtai et al. 2023's "Res. Loss" and "Exc. Loss")."""
    fig, ax = figure((9, 4.5))
    for key, label in (("train/loss", "train"), ("test/loss", "test"), (restricted, f"restricted ({restricted})"),
                       (excluded, f"excluded ({excluded})")):
        ax.plot(*record.series(key), label=label)
    ax.set(xscale="log", yscale="log", xlabel="epoch + 1", ylabel="loss", title="Restricted and excluded loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
