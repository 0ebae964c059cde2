"""Initial signal vs survival across a sweep (circle_survival.md §6.4): one row per run and frequency with
the initial signal ``s_k(E_0)`` and whether ``k`` is a circle at the end, from each run's ``arrays/circles.npz``
(``metrics.circles.enabled=true``); survival rate per bin of initial signal, its plot and the Pearson correlation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchmetrics.functional import pearson_corrcoef
from tqdm import tqdm

from grokscope.analysis.collect import find_run_dirs
from grokscope.figures import figure, png_bytes
from grokscope.metrics.circles import ranked_circles
from grokscope.training.outputs import atomic_write_bytes, load_arrays


def circle_runs(paths, progress: bool = False) -> Iterator[tuple[Path, dict[str, np.ndarray]]]:
    """``(run_dir, arrays)`` for every run under ``paths`` with an ``arrays/circles.npz``
    (``metrics.circles.enabled=true``):
    ``signal [n_epochs, n_tables, K + 1]`` (DC first), ``is_circle [n_epochs, n_tables, K]`` and ``epochs``.
    ``progress``: a progress bar on stderr (on a terminal)."""
    run_dirs = [d for d in find_run_dirs(paths, quiet=True) if (d / "arrays" / "circles.npz").exists()]
    for run_dir in tqdm(run_dirs, desc="reading runs", unit="run", disable=(not progress) or None):
        yield run_dir, load_arrays(run_dir / "arrays" / "circles.npz")


def final_circles(run_dir: Path) -> list[int]:
    """The final circles of operand ``a``'s table in the run's ``arrays/circles.npz``, strongest final signal
    first (:func:`~grokscope.metrics.circles.ranked_circles`)."""
    arrays = load_arrays(Path(run_dir) / "arrays" / "circles.npz")
    return ranked_circles(arrays["signal"][-1, 0], arrays["is_circle"][-1, 0])


def dense_signal(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Operand ``a``'s signals ``(s_1 .. s_K)`` at the leading run of consecutive epochs ``0, 1, 2, ...``
    (``metrics.dense_epochs``): ``[n_dense, K]``, row ``t`` = after ``t`` optimizer steps (``E_t``)."""
    epochs = np.asarray(arrays["epochs"])
    gaps = np.flatnonzero(epochs != np.arange(len(epochs)))
    n_dense = int(gaps[0]) if len(gaps) else len(epochs)
    return arrays["signal"][:n_dense, 0, 1:]


def survival_table(paths, progress: bool = False) -> pd.DataFrame:
    """Columns ``run_dir, freq, initial_signal, initial_rank, survived`` for operand ``a``'s table of every run
    under ``paths`` that logged circles (rank 1 = strongest initial frequency)."""
    rows = []
    for run_dir, arrays in circle_runs(paths, progress):
        initial, survived = arrays["signal"][0, 0, 1:], arrays["is_circle"][-1, 0]
        rank = np.argsort(np.argsort(-initial, kind="stable"), kind="stable") + 1
        rows += [{"run_dir": str(run_dir), "freq": k + 1, "initial_signal": float(initial[k]),
                  "initial_rank": int(rank[k]), "survived": bool(survived[k])} for k in range(len(initial))]
    return pd.DataFrame(rows)


def survival_rate(table: pd.DataFrame, n_bins: int = 10, x: str = "initial_signal", survived: str = "survived"
                  ) -> pd.DataFrame:
    """Survival rate and count per equal-width bin of column ``x`` (``bin_centre, rate, n``); the rate is the
    mean of the boolean column ``survived``."""
    bins = pd.cut(table[x], n_bins)
    grouped = table.groupby(bins, observed=True)[survived].agg(["mean", "size"])
    return pd.DataFrame({"bin_centre": [b.mid for b in grouped.index], "rate": grouped["mean"].to_numpy(),
                         "n": grouped["size"].to_numpy()})


def pearson(table: pd.DataFrame) -> float:
    """Pearson correlation of initial signal and survival (0/1) over all rows."""
    signal, survived = (torch.tensor(table[c].to_numpy(dtype=float)) for c in ("initial_signal", "survived"))
    return float(pearson_corrcoef(signal, survived))


def plot_survival(table: pd.DataFrame, path: Path, n_bins: int = 10) -> None:
    """Survival rate vs initial signal, with the correlation in the title."""
    rates = survival_rate(table, n_bins)
    fig, ax = figure((6, 4))
    ax.plot(rates["bin_centre"], rates["rate"], marker="o")
    ax.set(xlabel="initial signal s_k", ylabel="survival rate",
           title=f"{table['run_dir'].nunique()} runs, Pearson r = {pearson(table):.2f}")
    atomic_write_bytes(path, png_bytes(fig))
