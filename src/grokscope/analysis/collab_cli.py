"""``grokscope-circles-collab``: loss collaboration of the circles of one run over its snapshots
(circle_survival.md §6.6), with its plot and, with ``--plots``, the geometry plots of §6.9.

    grokscope-train experiment=circle_survival                 # snapshot_every_n_epochs: 100
    grokscope-circles-collab outputs/<date>/<time>_modular_mlp  # -> analysis/loss_collaboration.{csv,png}
    grokscope-circles-collab RUN_DIR --every 1000 --plots       # every 1000th epoch; + circle_planes/pca.png

For each snapshot epoch the snapshot's model is evaluated on all ``p^2`` pairs with ``W_E`` restricted to DC plus
``{i}``, ``{c, i}`` and ``{c, c', i}`` for ``i = 1..K``, where ``c, c'`` are the run's two strongest final circles
(``arrays/circles.npz``: final ``is_circle`` of operand ``a``'s table, ordered by final signal). The claim to
check: circles collaborate, i.e. keeping ``{c, c'}`` gives a lower loss than keeping either alone.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd
import torch
from omegaconf import OmegaConf

from grokscope.analysis.circle_plots import plot_circle_geometry, plot_loss_collaboration
from grokscope.analysis.cli import OneLineParser
from grokscope.analysis.collect import run_config
from grokscope.analysis.loss_collaboration import collaboration_rows, collaboration_sets
from grokscope.analysis.survival import final_circles
from grokscope.run import build
from grokscope.run.config import validate


class RunDirError(Exception):
    """The run dir lacks what the analysis needs (one line for the user)."""


def snapshots(run_dir: Path) -> dict[int, Path]:
    """``epoch -> snapshots/epoch=<epoch>.pt`` of a run, by epoch."""
    found = {int(m.group(1)): path for path in (run_dir / "snapshots").glob("epoch=*.pt")
             if (m := re.fullmatch(r"epoch=(\d+)\.pt", path.name))}
    return dict(sorted(found.items()))


def load_run(run_dir: Path):
    """``(task, model)`` of a run rebuilt from its config (``summary.json``'s, else ``.hydra/config.yaml``) by
    :func:`grokscope.run.build`; load a snapshot with ``model.load_state_dict``."""
    return build(validate(OmegaConf.create(run_config(run_dir))))


def collaboration_table(run_dir: Path, circles: list[int], every: int | None = None) -> pd.DataFrame:
    """Columns ``epoch, base, freq, loss, acc``: ``K`` rows per base set per snapshot epoch (every snapshot, or
    those at multiples of ``every`` and the last)."""
    task, model = load_run(run_dir)
    snaps = snapshots(run_dir)
    last = max(snaps)
    rows = []
    for epoch, path in snaps.items():
        if every is None or epoch % every == 0 or epoch == last:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            rows += collaboration_rows(model, task, epoch, circles)
    return pd.DataFrame(rows, columns=["epoch", "base", "freq", "loss", "acc"])


def set_losses(table: pd.DataFrame, circles: list[int]) -> pd.DataFrame:
    """``epoch x {c}, {c'}, {c,c'}``: the loss with DC and exactly that set kept."""
    columns = {}
    for label, (base, freq) in collaboration_sets(circles).items():
        rows = table[(table["base"] == base) & (table["freq"] == freq)]
        columns[label] = rows.set_index("epoch")["loss"]
    return pd.DataFrame(columns)


def summarize(table: pd.DataFrame, circles: list[int]) -> str:
    """One paragraph: the losses of the circles alone and together at the last snapshot, whether the pair beats
    each alone (the paper's "circles collaborate"), at how many snapshot epochs, and the best partner of ``c``."""
    epochs = sorted(table["epoch"].unique())
    end = epochs[-1]
    head = (f"Loss collaboration (circle_survival.md §6.6) over {len(epochs)} snapshot epochs "
            f"({epochs[0]}..{end}); final circles, strongest first: {circles or 'none'}.")
    if not circles:
        return f"{head} Without a circle there is nothing to collaborate."
    last = table[table["epoch"] == end]
    partners = last[(last["base"] == str(circles[0])) & (last["freq"] != circles[0])]
    best = partners.loc[partners["loss"].idxmin()]
    partner = f" The best partner of {circles[0]} is i = {int(best['freq'])} (loss {best['loss']:.4g})."
    losses = set_losses(table, circles)
    alone = ", ".join(f"{label} {losses.loc[end, label]:.4g}" for label in losses.columns[: len(circles[:2])])
    if len(circles) < 2:
        return f"{head} At epoch {end}, all-pairs loss keeping DC and {alone} (one circle: no pair).{partner}"
    pair = losses.columns[2]
    wins = losses[pair] < losses.iloc[:, :2].min(axis=1)
    verdict = "collaborate" if wins.loc[end] else "do NOT collaborate"
    return (f"{head} At epoch {end}, all-pairs loss keeping DC and {alone}; {pair} together "
            f"{losses.loc[end, pair]:.4g}: the circles {verdict} at the end (the pair's loss is below each "
            f"alone's at {int(wins.sum())} of {len(wins)} snapshot epochs).{partner}")


def main(argv=None) -> None:
    parser = OneLineParser(prog="grokscope-circles-collab", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a run dir with snapshots/ and arrays/circles.npz")
    parser.add_argument("--every", type=int, default=None, help="only snapshot epochs that are multiples of this")
    parser.add_argument("--plots", action="store_true", help="also the circle plane and PCA plots of the last snapshot")
    args = parser.parse_args(argv)
    run_dir = args.run_dir
    try:
        table, circles = analyse(run_dir, args.every)
    except RunDirError as err:
        parser.error(str(err))
    out = run_dir / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "loss_collaboration.csv", index=False)
    plot_loss_collaboration(table, circles, out / "loss_collaboration.png")
    print(summarize(table, circles))
    print(f"-> {out / 'loss_collaboration.csv'}, {out / 'loss_collaboration.png'}")
    if args.plots:
        task, model = load_run(run_dir)
        snaps = snapshots(run_dir)
        model.load_state_dict(torch.load(snaps[max(snaps)], map_location="cpu", weights_only=True))
        plot_circle_geometry(model.operand_tables(task)[0], task.modulus, circles, out)
        print(f"-> {out / 'circle_pca.png'}" + (f", {out / 'circle_planes.png'}" if circles else ""))


def analyse(run_dir: Path, every: int | None) -> tuple[pd.DataFrame, list[int]]:
    """The collaboration table and the final circles, or a :class:`RunDirError` naming what is missing."""
    if every is not None and every < 1:
        raise RunDirError(f"--every={every}: must be an integer >= 1")
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir} is not a directory")
    if not snapshots(run_dir):
        raise RunDirError(f"no snapshots in {run_dir / 'snapshots'} (train with snapshot_every_n_epochs=N)")
    if not (run_dir / "arrays" / "circles.npz").exists():
        raise RunDirError(f"no {run_dir / 'arrays' / 'circles.npz'} (train with metrics.circles.enabled=true)")
    circles = final_circles(run_dir)
    try:
        return collaboration_table(run_dir, circles, every), circles
    except FileNotFoundError as err:
        raise RunDirError(f"no config of the run: {err.filename}") from None


if __name__ == "__main__":
    sys.exit(main())
