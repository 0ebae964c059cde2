"""Clock-vs-pizza phase diagrams of a sweep over the attention rate (Zhong et al. 2023; pizza.md §5).

    python -m grokscope.analysis.phase_diagram multirun/pizza_fixed_width     # -> phase_attention_rate.png
    python -m grokscope.analysis.phase_diagram multirun/pizza_width           # + phase_width.png
    python -m grokscope.analysis.phase_diagram multirun/... --di max_wrong --min-circularity 0.99

Reads the sweep with :func:`grokscope.analysis.collect.collect` and keeps the completed runs whose final
``pizza/circularity`` is at least ``--min-circularity`` (0.995 as in the paper: only circular models are clocks
or pizzas). ``phase_attention_rate.png``: x = attention rate, y = distance irrelevance coloured by gradient
symmetricity, and y = gradient symmetricity coloured by distance irrelevance. ``phase_width.png`` (when
``model.d_model`` varies): x = attention rate, y = log2 d_model, coloured by each. ``--di correct`` (default) is
the paper's distance irrelevance; ``--di max_wrong`` the one of the original CSVs and README figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from grokscope.analysis.cli import OneLineParser, fail  # noqa: E402
from grokscope.analysis.collect import collect  # noqa: E402
from grokscope.config import ConfigError, require  # noqa: E402

NAME = "grokscope-phase-diagram"

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


def _scatter(ax, runs: pd.DataFrame, x: str, y: str, colour: str) -> None:
    ys = np.log2(runs[y].astype(float)) if y == WIDTH else runs[y]
    points = ax.scatter(runs[x], ys, c=runs[colour], cmap="viridis", vmin=0, vmax=1, s=28, edgecolors="k",
                        linewidths=0.3)
    ax.set(xlabel=LABELS[x], ylabel=LABELS[y])
    ax.grid(alpha=0.3)
    plt.colorbar(points, ax=ax, label=LABELS[colour])


def plot_phase(runs: pd.DataFrame, panels: list[tuple[str, str, str]], title: str, path: Path) -> None:
    """One scatter panel per ``(x, y, colour)`` column triple, side by side, saved to ``path``."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (x, y, colour) in zip(axes[0], panels):
        _scatter(ax, runs, x, y, colour)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


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


def main(argv=None) -> None:
    parser = OneLineParser(prog=NAME, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="sweep dirs (or run dirs) of an attention-rate sweep")
    parser.add_argument("--out", type=Path, default=None, help="where to write the PNGs (default: first path)")
    parser.add_argument("--di", choices=tuple(DI), default="correct", help="distance-irrelevance variant")
    parser.add_argument("--min-circularity", type=float, default=0.995, help="keep runs at least this circular")
    args = parser.parse_args(argv)
    try:
        paths = phase_diagrams(collect(args.paths, strict=True), args.out or Path(args.paths[0]), DI[args.di],
                               args.min_circularity)
    except ConfigError as err:
        fail(NAME, err)
    print("\n".join(f"plot -> {p}" for p in paths))


if __name__ == "__main__":
    main()
