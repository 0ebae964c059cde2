"""The LLC over a run's snapshots (``grokscope-analyze llc RUN_DIR``): ``llc.csv`` and ``llc.png`` beside the
train and test loss.

The loss whose LLC is estimated is the training objective's data: the mean of the run's loss (``loss.kind`` in
``loss_dtype``) over the rows of every loss term (``train`` for the arithmetic and group tasks) of the run's
table, with the model of each snapshot (:mod:`grokscope.analysis.llc` for the estimator and its defaults).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from grokscope.figures import figure, png_bytes
from grokscope.losses import Loss
from grokscope.metrics.llc_estimator import LLCConfig, LLCEstimate, devinterp, estimate_llc
from grokscope.metrics.phases import Phases, draw_phases, phases_of
from grokscope.training.outputs import atomic_write_bytes

#: the columns of ``llc.csv``
COLUMNS = ("epoch", "llc_mean", "llc_std", "init_loss", "nbeta", "warnings")


@dataclass(frozen=True)
class LLCOverEpochs:
    """One :class:`~grokscope.analysis.llc.LLCEstimate` per analysed snapshot epoch."""

    epochs: list[int]
    estimates: list[LLCEstimate]


def spaced(epochs: list[int], most: int) -> list[int]:
    """At most ``most`` of ``epochs`` (ascending), evenly spaced by position, the first and last included."""
    if len(epochs) <= most:
        return list(epochs)
    picks = np.unique(np.round(np.linspace(0, len(epochs) - 1, most)).astype(int))
    return [epochs[i] for i in picks]


def llc_over_snapshots(run, out: Path, cfg: LLCConfig | None = None, most: int = 20,
                       progress: bool = True) -> LLCOverEpochs:
    """Estimate the LLC at (at most ``most`` evenly spaced) snapshots of ``run`` (a :class:`grokscope.Run`) and
    write ``out/llc.csv`` and ``out/llc.png``; every warning of an estimate is printed with its epoch.
    :class:`~grokscope.analysis.llc.MissingExtra` before any work when devinterp is not installed."""
    devinterp()
    task = run.task
    rows = torch.zeros(len(task.labels), dtype=torch.bool)
    for term in task.loss_terms:
        rows |= task.masks[term.mask]
    inputs, targets = task.tokens[rows], task.labels[rows]
    loss = Loss.of(run.config.run)
    epochs = spaced(run.snapshot_epochs, most)
    estimates = []
    for epoch in tqdm(epochs, desc="llc", unit="snapshot", disable=not progress):
        model = run.model(epoch).train()
        estimate = estimate_llc(model, inputs, targets, loss, cfg or LLCConfig())
        for warning in estimate.warnings:
            print(f"llc: epoch {epoch}: {warning}")
        estimates.append(estimate)
    result = LLCOverEpochs(epochs, estimates)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "llc.csv", _csv(result).encode())
    atomic_write_bytes(out / "llc.png", _plot(result, run.history, phases_of(run.summary.get("phases"))))
    return result


def _csv(result: LLCOverEpochs) -> str:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(COLUMNS)
    for epoch, e in zip(result.epochs, result.estimates):
        writer.writerow([epoch, e.mean, e.std, e.init_loss, e.nbeta, " | ".join(e.warnings)])
    return text.getvalue()


def _plot(result: LLCOverEpochs, history, phases: Phases | None) -> bytes:
    """The LLC (mean and the chains' standard deviation) over epochs, the train and test loss on a second axis,
    the run's phases (its summary's) shaded."""
    fig, ax = figure((8, 4.5))
    if phases is not None:
        draw_phases(ax, phases)
    means = np.array([e.mean for e in result.estimates])
    stds = np.array([e.std for e in result.estimates])
    x = np.array(result.epochs) + 1
    ax.errorbar(x, means, yerr=stds, marker="o", color="C3", capsize=3, label="LLC (mean ± std over chains)")
    ax.set(xscale="log", xlabel="epoch + 1", ylabel="local learning coefficient", title="LLC over training")
    ax.grid(alpha=0.3)
    losses = ax.twinx()
    for key, colour in (("train/loss", "C0"), ("test/loss", "C1")):
        if key in history:
            rows = history[["epoch", key]].dropna()
            losses.plot(rows["epoch"] + 1, rows[key], color=colour, alpha=0.6, label=key)
    losses.set(yscale="log", ylabel="loss")
    handles = [h for a in (ax, losses) for h in a.get_legend_handles_labels()[0]]
    labels = [label for a in (ax, losses) for label in a.get_legend_handles_labels()[1]]
    ax.legend(handles, labels, loc="upper right", fontsize="small")
    return png_bytes(fig)
