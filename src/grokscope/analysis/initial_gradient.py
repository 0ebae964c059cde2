"""Initial "gradient" of the circle signals vs survival (circle_survival.md §6.5): the finite difference
``g_j(k) = (s_k(E_{j+1}) - s_k(E_j)) / s_k(E_0)`` for ``j = 0..9`` (headline ``j = 4``) from each run's dense
signals (``metrics.dense_epochs >= 10``); a Student t-test and a linear SVM of alive vs dead frequencies; survival
rate per bin of ``g_j`` and a histogram of ``g_4`` split by alive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ttest_ind
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from grokscope.analysis.survival import circle_runs, dense_signal, survival_rate
from grokscope.config import require, require_choice
from grokscope.figures import figure, png_bytes
from grokscope.training.outputs import atomic_write_bytes

N_STEPS = 10  #: g_0 .. g_9
ALIVE_SIGNAL = 10.0  #: "alive" iff the final s_k > 10 (circle_survival.md §6.2, gradient analysis)


def gradients(signal: np.ndarray, n: int = N_STEPS) -> np.ndarray:
    """``g [n, K]`` with ``g[j] = (s(E_{j+1}) - s(E_j)) / s(E_0)`` from dense signals ``[>= n + 1, K]``
    (row ``t`` = ``E_t``; circle_survival.md §6.5)."""
    return np.diff(signal[: n + 1], axis=0) / signal[0]


def gradient_table(paths, criterion: str = "alive", progress: bool = False) -> pd.DataFrame:
    """``run_dir, freq, g_0..g_9, initial_signal, alive`` for operand ``a``'s table of every run under
    ``paths`` with dense circle signals. ``criterion``: ``alive`` = final ``s_k > 10`` (§6.2, the gradient
    analysis's); ``circle`` = final ``is_circle`` (``s_k > 2 mean s``, §6.2)."""
    require_choice("--criterion", criterion, ("alive", "circle"))
    rows = []
    for run_dir, arrays in circle_runs(paths, progress):
        signal = dense_signal(arrays)  # [n_dense, K]
        require(len(signal) >= N_STEPS + 1, "dirs", str(run_dir), f"has {len(signal) - 1} dense epochs; the "
                f"initial gradient needs runs with metrics.dense_epochs >= {N_STEPS}")
        g, initial = gradients(signal), signal[0]  # [10, K], [K]
        final = arrays["signal"][-1, 0, 1:]
        alive = final > ALIVE_SIGNAL if criterion == "alive" else arrays["is_circle"][-1, 0]
        rows += [{"run_dir": str(run_dir), "freq": k + 1, **{f"g_{j}": float(g[j, k]) for j in range(len(g))},
                  "initial_signal": float(initial[k]), "alive": bool(alive[k])} for k in range(g.shape[1])]
    require(bool(rows), "dirs", list(map(str, paths)), "must hold runs with dense circle signals "
            "(arrays/circles.npz; train with metrics.circles.enabled=true metrics.dense_epochs=10)")
    return pd.DataFrame(rows)


def _require_both(table: pd.DataFrame) -> None:
    n_alive = int(table["alive"].sum())
    require(0 < n_alive < len(table), "dirs", sorted(table["run_dir"].unique()),
            f"{'no' if n_alive == 0 else 'only'} alive frequencies ({n_alive} of {len(table)}): the t-test and "
            "the SVM need both alive and dead ones")


def t_test(table: pd.DataFrame, j: int = 4) -> tuple[float, float]:
    """Two-sample Student t-test (equal variances) of ``g_j`` between alive and dead frequencies:
    ``(t, p)`` (circle_survival.md §6.5)."""
    _require_both(table)
    result = ttest_ind(table.loc[table["alive"], f"g_{j}"], table.loc[~table["alive"], f"g_{j}"], equal_var=True)
    return float(result.statistic), float(result.pvalue)


def svm_accuracy(table: pd.DataFrame, j: int = 4) -> float:
    """Test accuracy of ``SVC(kernel='linear')`` on features ``(g_j(k), s_k(E_0))`` predicting alive, on an
    80/20 ``train_test_split(random_state=42)`` (circle_survival.md §6.5)."""
    _require_both(table)
    features, labels = table[[f"g_{j}", "initial_signal"]].to_numpy(), table["alive"].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.2, random_state=42)
    require(len(set(y_train)) == 2, "dirs", sorted(table["run_dir"].unique()), "the 80% training split holds "
            "only one class (alive or dead): too few frequencies")
    return float(SVC(kernel="linear").fit(x_train, y_train).score(x_test, y_test))


def plot_survival_vs_gradient(table: pd.DataFrame, path: Path, js=(1, 2, 3, 4), n_bins: int = 20) -> None:
    """Survival rate per equal-width bin of ``g_j``, one panel per ``j``."""
    fig, axes = figure((4 * len(js), 3.5), 1, len(js), squeeze=False)
    for ax, j in zip(axes[0], js):
        rates = survival_rate(table, n_bins, x=f"g_{j}", survived="alive")
        ax.plot(rates["bin_centre"], rates["rate"], marker="o")
        ax.set(xlabel=f"g_{j}", ylabel="survival rate", ylim=(-0.05, 1.05))
    fig.suptitle(f"{table['run_dir'].nunique()} runs, {len(table)} frequencies")
    atomic_write_bytes(path, png_bytes(fig))


def plot_gradient_histogram(table: pd.DataFrame, path: Path, j: int = 4, bins: int = 30) -> None:
    """Histogram of ``g_j`` of alive and dead frequencies."""
    fig, ax = figure((6, 4))
    edges = np.histogram_bin_edges(table[f"g_{j}"], bins)
    for alive, label in ((True, "alive"), (False, "dead")):
        ax.hist(table.loc[table["alive"] == alive, f"g_{j}"], edges, alpha=0.6, label=label)
    ax.set(xlabel=f"g_{j}", ylabel="frequencies", title=f"initial gradient g_{j} by survival")
    ax.legend()
    atomic_write_bytes(path, png_bytes(fig))
