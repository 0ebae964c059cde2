"""Linear ODE fit of the circle signals over the first steps (circle_survival.md §6.7):
``x(t+1) - x(t) = A x(t) + b`` for the signal vector ``x(t) = (s_1 .. s_K)(E_t)``, by sklearn ``Lasso(alpha)``
(the reference's ``alpha = 0.01``) or ordinary least squares (``alpha = 0``); roll-out, continuous solution,
plots, and ``R^2`` vs ``d`` over a sweep (§7: ``d = 4..95`` × 10 seeds, first 1000 steps)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from einops import rearrange
from scipy.linalg import expm
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso
from torchmetrics.functional import r2_score

from grokscope.analysis.collect import run_config
from grokscope.analysis.survival import circle_runs, dense_signal
from grokscope.config import require
from grokscope.figures import figure, png_bytes
from grokscope.training.outputs import atomic_write_bytes, load_arrays


@dataclass
class LinearODE:
    """``A [K, K]``, ``b [K]`` and the in-sample ``R^2`` of the increments (uniform average over outputs);
    ``converged`` is false when the Lasso solver stopped at its iteration limit."""

    A: np.ndarray
    b: np.ndarray
    r2: float
    alpha: float = 0.0
    converged: bool = True

    def roll_out(self, x0: np.ndarray, n_steps: int) -> np.ndarray:
        """``x^(t+1) = x^(t) + A x^(t) + b`` from ``x^(0) = x0``: ``[n_steps, K]``."""
        xs = [np.asarray(x0, dtype=np.float64)]
        for _ in range(n_steps - 1):
            xs.append(xs[-1] + self.A @ xs[-1] + self.b)
        return np.stack(xs)

    def continuous(self, x0: np.ndarray, times) -> np.ndarray:
        """Solution of ``dx/dt = A x + b``: ``x(t) = e^{At} x0 + (e^{At} - I) A^{-1} b`` with
        ``A <- A + 1e-8 I`` (circle_survival.md §6.7) at each of ``times``: ``[len(times), K]``."""
        A = self.A + 1e-8 * np.eye(len(self.A))
        shift = np.linalg.solve(A, self.b)  # A^{-1} b
        return np.stack([expm(A * t) @ (np.asarray(x0) + shift) - shift for t in np.atleast_1d(times)])


def fit_linear_ode(x: np.ndarray, alpha: float = 0.0) -> LinearODE:
    """Fit ``x[t+1] - x[t] = A x[t] + b`` to a trajectory ``x [n_steps, K]`` taken every step
    (``metrics.dense_epochs``): ``alpha > 0`` by sklearn ``Lasso(alpha=alpha)`` (multi-output, with intercept;
    circle_survival.md §6.7), ``alpha = 0`` by ordinary least squares. ``R^2``: torchmetrics' ``r2_score``, the
    mean over the K outputs (as sklearn's)."""
    x = np.asarray(x, dtype=np.float64)
    inputs, increments = x[:-1], np.diff(x, axis=0)  # [n - 1, K] each
    converged = True
    if alpha > 0:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            lasso = Lasso(alpha=alpha).fit(inputs, increments)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        A, b = lasso.coef_, lasso.intercept_  # [K_out, K_in], [K]
    else:
        design = np.concatenate([inputs, np.ones((len(inputs), 1))], axis=1)  # [n - 1, K + 1]
        coef, *_ = np.linalg.lstsq(design, increments, rcond=None)  # [K + 1, K]
        A, b = rearrange(coef[:-1], "k_in k_out -> k_out k_in"), coef[-1]
    r2 = float(r2_score(torch.from_numpy(inputs @ A.T + b), torch.from_numpy(increments)))
    return LinearODE(A, b, r2, alpha, converged)


def run_signals(run_dir: Path, steps: int) -> tuple[np.ndarray, list[int]]:
    """Operand ``a``'s first ``steps`` dense signals ``[n, K]`` of a run (:func:`dense_signal`) and the
    frequencies worth plotting: its final circles and the strongest initial others (four in all, at least one
    other). :class:`~grokscope.config.ConfigError` naming ``run_dir`` without circle signals or with fewer than
    two dense epochs."""
    path = Path(run_dir) / "arrays" / "circles.npz"
    require(path.exists(), "run_dir", str(run_dir),
            "must hold arrays/circles.npz (train with metrics.circles.enabled=true)")
    arrays = load_arrays(path)
    x = dense_signal(arrays)[:steps]  # [n, K]
    require(len(x) >= 3, "run_dir", str(run_dir), f"has {len(x) - 1} dense epochs; the ODE fit needs "
            "metrics.dense_epochs >= 2")
    circles = [int(k) for k in np.flatnonzero(arrays["is_circle"][-1, 0]) + 1]
    others = [int(k) for k in np.argsort(-x[0]) + 1 if k not in circles][: max(1, 4 - len(circles))]
    return x, circles + others


def save_fit(fit: LinearODE, n_steps: int, path: Path) -> None:
    """``A``, ``b``, ``r2``, ``alpha`` and ``n_steps`` of a fit as an ``.npz`` file (written atomically)."""
    buf = io.BytesIO()
    np.savez(buf, A=fit.A, b=fit.b, r2=fit.r2, alpha=fit.alpha, n_steps=n_steps)
    atomic_write_bytes(path, buf.getvalue())


def ode_r2_table(paths, steps: int = 1000, alphas=(0.0, 0.01), progress: bool = False) -> pd.DataFrame:
    """``run_dir, d_embed, alpha, n_steps, r2``: the fit of each run's first ``steps`` dense signals (fewer if
    the run logged fewer; runs with fewer than 3 are skipped), for every ``alpha``."""
    rows = []
    for run_dir, arrays in circle_runs(paths, progress):
        x = dense_signal(arrays)[:steps]
        if len(x) < 3:
            continue
        d_embed = (run_config(run_dir).get("model") or {}).get("d_embed")
        rows += [{"run_dir": str(run_dir), "d_embed": d_embed, "alpha": alpha, "n_steps": len(x),
                  "r2": fit_linear_ode(x, alpha).r2} for alpha in alphas]
    return pd.DataFrame(rows)


def plot_A(ode: LinearODE, path: Path) -> None:
    """Heat-map of ``A`` (row: the frequency whose increment it drives; column: the source frequency)."""
    fig, ax = figure((6, 5))
    limit = float(np.abs(ode.A).max()) or 1.0
    mesh = ax.imshow(ode.A, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ticks = np.arange(0, len(ode.A), max(1, len(ode.A) // 10))
    ax.set_xticks(ticks, ticks + 1)
    ax.set_yticks(ticks, ticks + 1)
    ax.set(xlabel="source frequency k", ylabel="target frequency k", title=f"A (alpha = {ode.alpha}, "
           f"R² = {ode.r2:.3f})")
    fig.colorbar(mesh, ax=ax)
    atomic_write_bytes(path, png_bytes(fig))


def plot_roll_out(x: np.ndarray, ode: LinearODE, freqs, path: Path) -> None:
    """Signals ``s_k(t)`` of the data (solid), the discrete roll-out (dashed) and the continuous solution
    (dotted) from ``x[0]``, for the frequencies ``freqs`` (1-based)."""
    steps = np.arange(len(x))
    rolled, continuous = ode.roll_out(x[0], len(x)), ode.continuous(x[0], steps)
    fig, ax = figure((7, 4.5))
    for i, k in enumerate(freqs):
        colour = f"C{i % 10}"
        ax.plot(steps, x[:, k - 1], color=colour, label=f"k = {k}")
        ax.plot(steps, rolled[:, k - 1], color=colour, ls="--")
        ax.plot(steps, continuous[:, k - 1], color=colour, ls=":")
    ax.set(xlabel="step", ylabel="signal s_k", title=f"data (solid), roll-out (dashed), continuous (dotted); "
           f"R² = {ode.r2:.3f}")
    ax.legend(fontsize="small", ncol=2)
    atomic_write_bytes(path, png_bytes(fig))


def plot_r2_vs_d(table: pd.DataFrame, path: Path) -> None:
    """Mean ± sd over seeds of ``R^2`` against ``d_embed``, one line per ``alpha``."""
    fig, ax = figure((6, 4))
    for alpha, part in table.groupby("alpha"):
        stats = part.groupby("d_embed")["r2"].agg(["mean", "std"]).fillna(0.0).sort_index()
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", capsize=3, label=f"alpha = {alpha}")
    ax.set(xlabel="embedding dimension d", ylabel="R² of the linear ODE", title=f"{table['run_dir'].nunique()} runs")
    ax.legend()
    atomic_write_bytes(path, png_bytes(fig))
