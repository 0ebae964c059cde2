"""Linear ODE fit of signal trajectories (circle_survival.md §6.7)."""

from __future__ import annotations

import numpy as np

from grokscope.analysis.signal_ode import LinearODE, fit_linear_ode


def test_recovers_a_known_linear_system_and_rolls_it_out():
    rng = np.random.default_rng(0)
    A = -0.05 * np.eye(4) + 0.01 * rng.standard_normal((4, 4))
    b = rng.standard_normal(4)
    truth = LinearODE(A, b, 1.0).roll_out(rng.standard_normal(4) * 10, 200)
    noisy = truth + 1e-6 * rng.standard_normal(truth.shape)
    fit = fit_linear_ode(noisy)
    np.testing.assert_allclose(fit.A, A, atol=1e-3)
    np.testing.assert_allclose(fit.b, b, atol=1e-3)
    assert fit.r2 > 0.999
    np.testing.assert_allclose(fit.roll_out(noisy[0], 200), truth, atol=1e-2)
