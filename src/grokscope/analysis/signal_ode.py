"""Linear ODE fit of the circle signals over the first steps (circle_survival.md §6.7), least squares only:
``x(t+1) - x(t) = A x(t) + b`` for the signal vector ``x(t) = (s_1 .. s_K)(E_t)``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from einops import rearrange


@dataclass
class LinearODE:
    """``A [K, K]``, ``b [K]`` and the in-sample ``R^2`` of the increments (uniform average over outputs)."""

    A: np.ndarray
    b: np.ndarray
    r2: float

    def roll_out(self, x0: np.ndarray, n_steps: int) -> np.ndarray:
        """``x^(t+1) = x^(t) + A x^(t) + b`` from ``x^(0) = x0``: ``[n_steps, K]``."""
        xs = [np.asarray(x0, dtype=np.float64)]
        for _ in range(n_steps - 1):
            xs.append(xs[-1] + self.A @ xs[-1] + self.b)
        return np.stack(xs)


def fit_linear_ode(x: np.ndarray) -> LinearODE:
    """Ordinary least squares (the reference's ``alpha = 0`` comparison) of ``x[t+1] - x[t]`` on ``[x[t], 1]``
    for a trajectory ``x [n_steps, K]`` taken every step (``metrics.dense_epochs``)."""
    x = np.asarray(x, dtype=np.float64)
    inputs, increments = x[:-1], np.diff(x, axis=0)  # [n - 1, K] each
    design = np.concatenate([inputs, np.ones((len(inputs), 1))], axis=1)  # [n - 1, K + 1]
    coef, *_ = np.linalg.lstsq(design, increments, rcond=None)  # [K + 1, K]
    A, b = rearrange(coef[:-1], "k_in k_out -> k_out k_in"), coef[-1]
    residual = increments - design @ coef
    variance = increments.var(axis=0)
    r2 = float(np.mean(1 - residual.var(axis=0) / np.where(variance > 0, variance, 1.0)))
    return LinearODE(A, b, r2)
