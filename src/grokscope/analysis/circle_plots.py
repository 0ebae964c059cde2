"""Geometry plots of circle survival (circle_survival.md §6.9): the embedding on each circle's
``(Re F_k, Im F_k)`` plane and the PCA pairs of the final embedding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from grokscope.analysis.plots import _save, plt
from grokscope.metrics.circles import circle_frequency, frequency_planes, principal_components


def _token_scatter(ax, x: np.ndarray, y: np.ndarray, title: str) -> None:
    """Points ``(x_t, y_t)`` coloured by ``t`` on a cyclic colour map, each labelled with its ``t``."""
    ax.scatter(x, y, c=np.arange(len(x)), cmap="twilight", s=30, edgecolors="k", linewidths=0.3)
    for t, (xt, yt) in enumerate(zip(x, y)):
        ax.annotate(str(t), (xt, yt), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set_title(title, fontsize="small")
    ax.set_aspect("equal", adjustable="datalim")


def _grid(n: int, title: str):
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(3.2 * cols, 5.0), 3.2 * rows + 0.4), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    fig.suptitle(title)
    return fig, axes.flat


def plot_circle_planes(table: torch.Tensor, p: int, freqs: list[int], path: Path) -> dict[int, np.ndarray]:
    """One subplot per frequency ``k`` in ``freqs``: ``E_t . u_k`` against ``E_t . v_k`` for ``t = 0..p-1`` of
    ``table [p, d]``, with ``u_k, v_k`` the unit ``Re F_k``, ``Im F_k`` of
    :func:`~grokscope.metrics.circles.frequency_planes` (circle_survival.md §6.3, §6.9). A circle at ``k`` puts
    ``t`` at angle ``2 pi k t / p``: the points go round ``k`` times in the order of ``t``. Returns the points,
    ``k -> [p, 2]``."""
    table = table.detach().double().cpu()
    planes = frequency_planes(table, p).nan_to_num(0.0)  # [2, K, d]
    fig, axes = _grid(max(len(freqs), 1), "W_E on each circle's (Re F_k, Im F_k) plane")
    points = {k: (table @ planes[:, k - 1].T).numpy() for k in freqs}  # [p, 2] each
    for ax, k in zip(axes, freqs):
        _token_scatter(ax, points[k][:, 0], points[k][:, 1], f"k = {k}")
        ax.set(xlabel="E_t . u_k", ylabel="E_t . v_k")
    _save(fig, path)
    return points


def plot_circle_pca(table: torch.Tensor, p: int, n_circles: int, path: Path) -> list[int]:
    """Centred PCA of ``table [p, d]`` with ``2 n_circles`` components (at least 2, at most what exists): the
    scores of components ``(2i, 2i+1)`` scattered against each other, titled with the frequency of most power in
    the pair (:func:`~grokscope.metrics.circles.circle_frequency`; circle_survival.md §6.9). Returns those
    frequencies, pair by pair."""
    scores = principal_components(table).scores.cpu()  # [p, r]
    n_pairs = max(1, min(n_circles, scores.shape[1] // 2))
    scores = torch.nn.functional.pad(scores, (0, max(0, 2 - scores.shape[1])))  # a rank-1 table: PC 1 = 0
    fig, axes = _grid(n_pairs, f"PCA of W_E: {2 * n_pairs} components in pairs")
    freqs = []
    for i, ax in zip(range(n_pairs), axes):
        pair = scores[:, 2 * i : 2 * i + 2]
        freqs.append(circle_frequency(pair, p))
        _token_scatter(ax, pair[:, 0].numpy(), pair[:, 1].numpy(), f"PC {2 * i}, {2 * i + 1}: k = {freqs[-1]}")
        ax.set(xlabel=f"PC {2 * i}", ylabel=f"PC {2 * i + 1}")
    _save(fig, path)
    return freqs


def plot_circle_geometry(table: torch.Tensor, p: int, circles: list[int], directory: Path) -> None:
    """``circle_planes.png`` (when there are circles) and ``circle_pca.png`` of ``table [p, d]`` in ``directory``."""
    if circles:
        plot_circle_planes(table, p, circles, directory / "circle_planes.png")
    plot_circle_pca(table, p, len(circles), directory / "circle_pca.png")
