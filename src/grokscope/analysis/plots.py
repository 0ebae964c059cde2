"""Plots of one run: loss/accuracy curves on a log epoch axis, Fourier spectrum of W_E over epochs, logit
similarity of each irrep, restricted/excluded/test losses over epochs, and circle signals over epochs."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from grokscope.training.outputs import atomic_write_bytes  # noqa: E402


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


def plot_circle_signals(epochs: np.ndarray, signal: np.ndarray, is_circle: np.ndarray, path: Path) -> None:
    """``s_k`` over epochs (log axis, epoch 0 at the left edge) of operand ``a``'s table, from
    ``signal [n_epochs, n_tables, K + 1]``: the final circles (``is_circle [K]``) coloured and labelled, the other
    frequencies grey (circle_survival.md §6.9)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = np.maximum(epochs, 0.5)
    for k in range(1, signal.shape[2]):
        if is_circle[k - 1]:
            ax.plot(x, signal[:, 0, k], lw=2, label=f"k = {k}")
        else:
            ax.plot(x, signal[:, 0, k], color="0.7", lw=0.8)
    ax.set(xscale="log", xlabel="epoch (0 at 0.5)", ylabel="signal s_k", title="circle signals of W_E")
    if is_circle.any():
        ax.legend(fontsize="small")
    _save(fig, path)


def _series(history: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(epoch + 1, value)`` of the rows of ``history`` that hold ``key``."""
    rows = [row for row in history if key in row]
    return np.array([row["epoch"] for row in rows]) + 1, np.array([row[key] for row in rows])


def plot_irrep_similarity(history: list[dict], path: Path, max_labels: int = 10) -> None:
    """Logit similarity ``rep/logit_similarity/{irrep}`` of every non-trivial irrep over epochs; the legend names
    the ``max_labels`` irreps with the highest peak (Chughtai et al. 2023, rep_theory.md §6)."""
    prefix = "rep/logit_similarity/"
    irreps = sorted({key.removeprefix(prefix) for row in history for key in row if key.startswith(prefix)})
    series = {irrep: _series(history, prefix + irrep) for irrep in irreps if irrep != "trivial"}
    labelled = sorted(series, key=lambda irrep: -series[irrep][1].max())[:max_labels]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for irrep, (epochs, values) in series.items():
        ax.plot(epochs, values, label=irrep if irrep in labelled else None, lw=1.5 if irrep in labelled else 0.7)
    ax.set(xscale="log", xlabel="epoch + 1", ylabel="logit similarity", title="Logit similarity per irrep")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    _save(fig, path)


def plot_progress_losses(history: list[dict], restricted: str, excluded: str, path: Path) -> None:
    """Train, test, restricted and excluded loss over epochs on log axes (Nanda et al. 2023's progress
    measures figure; Chughtai et al. 2023's "Res. Loss" and "Exc. Loss")."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for key, label in (("train/loss", "train"), ("test/loss", "test"), (restricted, f"restricted ({restricted})"),
                       (excluded, f"excluded ({excluded})")):
        ax.plot(*_series(history, key), label=label)
    ax.set(xscale="log", yscale="log", xlabel="epoch + 1", ylabel="loss", title="Restricted and excluded loss")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def _save(fig, path: Path) -> None:
    """Save ``fig`` as ``path`` (atomically: a kill never leaves half a PNG) and close it."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
