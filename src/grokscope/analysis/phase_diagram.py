"""Clock-vs-pizza phase diagrams of a sweep over the attention rate (Zhong et al. 2023; pizza.md §5).

    grokscope-analyze phase-diagram multirun/pizza_fixed_width     # -> phase_attention_rate.png
    grokscope-analyze phase-diagram multirun/pizza_width           # + phase_width.png
    grokscope-analyze phase-diagram multirun/... --di max_wrong --min-circularity 0.99

Reads the sweep with :func:`grokscope.analysis.collect.collect` and keeps the completed runs whose final
``pizza/circularity`` is at least ``--min-circularity`` (0.995 as in the paper: only circular models are clocks
or pizzas). ``phase_attention_rate.png``: x = attention rate, y = distance irrelevance coloured by gradient
symmetricity, and y = gradient symmetricity coloured by distance irrelevance. ``phase_width.png`` (when
``model.d_model`` varies): x = attention rate, y = log2 d_model, coloured by each. ``--di correct`` (default) is
the paper's distance irrelevance; ``--di max_wrong`` the one of the original CSVs and README figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from grokscope.config import require
from grokscope.figures import figure, png_bytes
from grokscope.training.outputs import atomic_write_bytes

ALPHA, WIDTH = "model.attention_rate", "model.d_model"
GS, CIRCULARITY = "pizza/gradient_symmetricity", "pizza/circularity"
DI = {"correct": "pizza/distance_irrelevance", "max_wrong": "pizza/distance_irrelevance_max_wrong"}
LABELS = {GS: "gradient symmetricity", DI["correct"]: "distance irrelevance",
          DI["max_wrong"]: "distance irrelevance (max wrong logit)", ALPHA: "attention rate α",
          WIDTH: "log2 d_model"}


def circular_runs(runs: pd.DataFrame, di: str, min_circularity: float) -> pd.DataFrame:
    """The completed runs with every phase-diagram metric present and ``pizza/circularity >= min_circularity``."""
    needed = [ALPHA, GS, di, CIRCULARITY]
    missing = [c for c in needed if c not in runs.columns]
    require(not missing, "columns", missing, f"the sweep must have them: an attention-rate sweep with "
            f"metrics.pizza.enabled=true varies {ALPHA} and logs the pizza/ metrics")
    done = runs[runs["status"] == "completed"].dropna(subset=needed)
    return done[done[CIRCULARITY] >= min_circularity]


def _scatter(fig, ax, runs: pd.DataFrame, x: str, y: str, colour: str) -> None:
    ys = np.log2(runs[y].astype(float)) if y == WIDTH else runs[y]
    points = ax.scatter(runs[x], ys, c=runs[colour], cmap="viridis", vmin=0, vmax=1, s=28, edgecolors="k",
                        linewidths=0.3)
    ax.set(xlabel=LABELS[x], ylabel=LABELS[y])
    ax.grid(alpha=0.3)
    fig.colorbar(points, ax=ax, label=LABELS[colour])


def plot_phase(runs: pd.DataFrame, panels: list[tuple[str, str, str]], title: str, path: Path) -> None:
    """One scatter panel per ``(x, y, colour)`` column triple, side by side, saved to ``path``."""
    fig, axes = figure((6 * len(panels), 4.5), 1, len(panels), squeeze=False)
    for ax, (x, y, colour) in zip(axes[0], panels):
        _scatter(fig, ax, runs, x, y, colour)
    fig.suptitle(title)
    atomic_write_bytes(path, png_bytes(fig))


def phase_diagrams(runs: pd.DataFrame, out: Path, di: str = DI["correct"], min_circularity: float = 0.995
                   ) -> list[Path]:
    """Render the phase diagrams of a collected sweep into ``out``; return the paths written."""
    kept = circular_runs(runs, di, min_circularity)
    require(not kept.empty, "--min-circularity", min_circularity,
            f"must be at most the {CIRCULARITY} of a completed run (none of {len(runs)} runs reaches it)")
    title = f"{len(kept)} of {len(runs)} runs with circularity ≥ {min_circularity}"
    paths = [out / "phase_attention_rate.png"]
    plot_phase(kept, [(ALPHA, di, GS), (ALPHA, GS, di)], title, paths[0])
    if WIDTH in kept.columns:
        paths.append(out / "phase_width.png")
        plot_phase(kept, [(ALPHA, WIDTH, di), (ALPHA, WIDTH, GS)], title, paths[1])
    return paths
