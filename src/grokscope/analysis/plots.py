"""Plots of one run: loss/accuracy curves on a log epoch axis, Fourier spectrum of W_E over epochs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_curves(history: list[dict], masks: tuple[str, ...], path: Path) -> None:
    """Train vs test loss and accuracy against ``epoch + 1`` on a log axis."""
    epochs = np.array([row["epoch"] for row in history]) + 1
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for mask in masks:
        ax_loss.plot(epochs, [row[f"{mask}/loss"] for row in history], label=mask)
        ax_acc.plot(epochs, [row[f"{mask}/acc"] for row in history], label=mask)
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set(xscale="log", xlabel="epoch + 1", ylabel=name)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_loss.set_yscale("log")
    _save(fig, path)


def plot_spectrum(epochs: np.ndarray, power: np.ndarray, path: Path, title: str = "Fourier power of W_E") -> None:
    """Heatmap of the share of each non-constant frequency in ``power [n_epochs, n_tables, K + 1]``."""
    waves = power.sum(axis=1)[:, 1:]
    share = waves / waves.sum(axis=1, keepdims=True)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    mesh = ax.pcolormesh(np.arange(1, share.shape[1] + 1), np.arange(len(epochs)), share, shading="nearest",
                         cmap="viridis")
    ticks = np.linspace(0, len(epochs) - 1, min(8, len(epochs))).astype(int)
    ax.set_yticks(ticks, [str(epochs[i]) for i in ticks])
    ax.set(xlabel="frequency k", ylabel="epoch", title=title)
    fig.colorbar(mesh, ax=ax, label="share of non-constant power")
    _save(fig, path)


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
