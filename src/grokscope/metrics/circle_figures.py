"""Drawing of circle survival (circle_survival.md §6.9), from values the circles family computes: ``s_k`` over
epochs, the embedding on each circle's ``(Re F_k, Im F_k)`` plane and the PCA pairs of the final embedding."""

from __future__ import annotations

import numpy as np

from grokscope.figures import figure, points


def signals_figure(epochs: np.ndarray, signal: np.ndarray, is_circle: np.ndarray):
    """``s_k`` over epochs (log axis, epoch 0 at the left edge) of operand ``a``'s table, from
    ``signal [n_epochs, n_tables, K + 1]``: the final circles (``is_circle [K]``) coloured and labelled, the other
    frequencies grey."""
    fig, ax = figure((8, 4.5))
    x = np.maximum(epochs, 0.5)
    for k in range(1, signal.shape[2]):
        if is_circle[k - 1]:
            ax.plot(x, signal[:, 0, k], lw=2, label=f"k = {k}", **points(len(x)))
        else:
            ax.plot(x, signal[:, 0, k], color="0.7", lw=0.8, **points(len(x)))
    ax.set(xscale="log", xlabel="epoch (0 at 0.5)", ylabel="signal s_k", title="circle signals of W_E")
    if is_circle.any():
        ax.legend(fontsize="small")
    return fig


def _grid(n: int, title: str):
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = figure((max(3.2 * cols, 5.0), 3.2 * rows + 0.4), rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    fig.suptitle(title)
    return fig, axes.flat


def _token_scatter(ax, xy: np.ndarray, title: str) -> None:
    """Points ``xy [p, 2]`` coloured by ``t`` on a cyclic colour map, each labelled with its ``t``."""
    ax.scatter(xy[:, 0], xy[:, 1], c=np.arange(len(xy)), cmap="twilight", s=30, edgecolors="k", linewidths=0.3)
    for t, (xt, yt) in enumerate(xy):
        ax.annotate(str(t), (xt, yt), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set_title(title, fontsize="small")
    ax.set_aspect("equal", adjustable="datalim")


def planes_figure(points: dict[int, np.ndarray]):
    """One subplot per frequency ``k``: ``points[k] [p, 2]`` = ``(E_t . u_k, E_t . v_k)`` for each token ``t``."""
    fig, axes = _grid(max(len(points), 1), "W_E on each circle's (Re F_k, Im F_k) plane")
    for ax, (k, xy) in zip(axes, points.items()):
        _token_scatter(ax, xy, f"k = {k}")
        ax.set(xlabel="E_t . u_k", ylabel="E_t . v_k")
    return fig


def pca_figure(pairs: list[tuple[np.ndarray, int]]):
    """One subplot per pair of principal components ``(2i, 2i+1)``: the scores ``[p, 2]``, titled with the
    frequency of most power in the pair."""
    fig, axes = _grid(len(pairs), f"PCA of W_E: {2 * len(pairs)} components in pairs")
    for i, (ax, (scores, k)) in enumerate(zip(axes, pairs)):
        _token_scatter(ax, scores, f"PC {2 * i}, {2 * i + 1}: k = {k}")
        ax.set(xlabel=f"PC {2 * i}", ylabel=f"PC {2 * i + 1}")
    return fig
