"""Initial signal vs survival across a sweep (circle_survival.md §6.4): one row per run and frequency with
the initial signal ``s_k(E_0)`` and whether ``k`` is a circle at the end, from each run's ``arrays/circles.npz``
(``metrics.circles=true``); survival rate per bin of initial signal, its plot and the Pearson correlation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from grokscope.analysis.collect import find_run_dirs
from grokscope.training.outputs import load_arrays


def survival_table(paths) -> pd.DataFrame:
    """Columns ``run_dir, freq, initial_signal, initial_rank, survived`` for operand ``a``'s table of every run
    under ``paths`` that logged circles (rank 1 = strongest initial frequency)."""
    rows = []
    for run_dir in find_run_dirs(paths):
        path = run_dir / "arrays" / "circles.npz"
        if not path.exists():
            continue
        arrays = load_arrays(path)
        initial, survived = arrays["signal"][0, 0, 1:], arrays["is_circle"][-1, 0]
        rank = np.argsort(np.argsort(-initial, kind="stable"), kind="stable") + 1
        rows += [{"run_dir": str(run_dir), "freq": k + 1, "initial_signal": float(initial[k]),
                  "initial_rank": int(rank[k]), "survived": bool(survived[k])} for k in range(len(initial))]
    return pd.DataFrame(rows)


def survival_rate(table: pd.DataFrame, n_bins: int = 10) -> pd.DataFrame:
    """Survival rate and count per equal-width bin of initial signal (``bin_centre, rate, n``)."""
    bins = pd.cut(table["initial_signal"], n_bins)
    grouped = table.groupby(bins, observed=True)["survived"].agg(["mean", "size"])
    return pd.DataFrame({"bin_centre": [b.mid for b in grouped.index], "rate": grouped["mean"].to_numpy(),
                         "n": grouped["size"].to_numpy()})


def pearson(table: pd.DataFrame) -> float:
    """Pearson correlation of initial signal and survival (0/1) over all rows."""
    return float(np.corrcoef(table["initial_signal"], table["survived"].astype(float))[0, 1])


def plot_survival(table: pd.DataFrame, path: Path, n_bins: int = 10) -> None:
    """Survival rate vs initial signal, with the correlation in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = survival_rate(table, n_bins)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(rates["bin_centre"], rates["rate"], marker="o")
    ax.set(xlabel="initial signal s_k", ylabel="survival rate",
           title=f"{table['run_dir'].nunique()} runs, Pearson r = {pearson(table):.2f}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
