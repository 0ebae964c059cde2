"""The circle geometry figures of a run's table written to a dir, and the loss-collaboration figure (§6.6)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from grokscope.analysis.loss_collaboration import collaboration_sets
from grokscope.analysis.plots import _save, plt
from grokscope.figures import png_bytes
from grokscope.metrics.circles import geometry_figures
from grokscope.training.outputs import atomic_write_bytes

if TYPE_CHECKING:
    import pandas as pd


def plot_circle_geometry(table: torch.Tensor, p: int, circles: list[int], directory: Path) -> None:
    """``circle_planes.png`` (when there are circles) and ``circle_pca.png`` of ``table [p, d]`` in ``directory``."""
    for name, fig in geometry_figures(table, p, circles):
        atomic_write_bytes(directory / f"{name}.png", png_bytes(fig))


def plot_loss_collaboration(table: pd.DataFrame, circles: list[int], path: Path) -> None:
    """Left: all-pairs loss against the added frequency ``i`` for each base set at the last snapshot epoch. Right:
    over snapshot epochs, the loss with ``{0} u S`` kept for ``S`` = each circle alone and both circles together
    (the rows of base ``{}`` at ``i = c`` and of base ``{c}`` at ``i = c'``; circle_survival.md §6.6)."""
    last = table[table["epoch"] == table["epoch"].max()]
    fig, (ax_i, ax_t) = plt.subplots(1, 2, figsize=(12, 4.5))
    for base, rows in last.groupby("base", sort=False):
        label = "{i}" if base == "none" else f"{{{base.replace('+', ',')}, i}}"
        ax_i.plot(rows["freq"], rows["loss"], marker="o", ms=3, label=label)
    ax_i.set(xlabel="added frequency i", ylabel="all-pairs loss", yscale="log",
             title=f"epoch {int(last['epoch'].iloc[0])}: DC + base + i")
    ax_i.legend(fontsize="small")
    for label, (base, freq) in collaboration_sets(circles).items():
        rows = table[(table["base"] == base) & (table["freq"] == freq)]
        ax_t.plot(rows["epoch"], rows["loss"], marker="o", ms=3, lw=2 if "," in label else 1, label=label)
    ax_t.set(xlabel="epoch", ylabel="all-pairs loss", yscale="log", title="circles alone and together")
    if circles:
        ax_t.legend(fontsize="small")
    for ax in (ax_i, ax_t):
        ax.grid(alpha=0.3)
    _save(fig, path)
