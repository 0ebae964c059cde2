"""Linear ODE fit of signal trajectories (circle_survival.md §6.7)."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import logm

from grokscope.analysis.signal_ode import LinearODE, fit_linear_ode, ode_r2_table, plot_A, plot_r2_vs_d, plot_roll_out
from tests.helpers.circle_runs import fake_circle_run


def known_system(seed: int = 0, k: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A stable ``A``, ``b`` and its noise-free discrete trajectory ``[200, k]``."""
    rng = np.random.default_rng(seed)
    A = -0.05 * np.eye(k) + 0.01 * rng.standard_normal((k, k))
    b = rng.standard_normal(k)
    return A, b, LinearODE(A, b, 1.0).roll_out(rng.standard_normal(k) * 10, 200)


def test_least_squares_recovers_a_known_system_exactly():
    A, b, x = known_system()
    fit = fit_linear_ode(x)
    np.testing.assert_allclose(fit.A, A, atol=1e-9)
    np.testing.assert_allclose(fit.b, b, atol=1e-9)
    assert abs(fit.r2 - 1) < 1e-12
    np.testing.assert_allclose(fit.roll_out(x[0], 200), x, atol=1e-8)


def test_lasso_with_a_tiny_alpha_approaches_least_squares():
    A, b, _ = known_system(1)
    rng, x = np.random.default_rng(1), [np.zeros(4)]
    for _ in range(300):  # driven by noise, so that the states span all directions (coordinate descent converges)
        x.append(x[-1] + A @ x[-1] + b + rng.standard_normal(4))
    x = np.stack(x)
    ols, lasso = fit_linear_ode(x), fit_linear_ode(x, alpha=1e-7)
    assert lasso.alpha == 1e-7 and ols.alpha == 0.0
    np.testing.assert_allclose(lasso.A, ols.A, atol=1e-3)
    np.testing.assert_allclose(lasso.b, ols.b, atol=1e-2)
    assert abs(lasso.r2 - ols.r2) < 1e-4
    assert fit_linear_ode(x, alpha=10.0).r2 < ols.r2  # a strong penalty costs fit


def test_continuous_solution_solves_the_ode_and_matches_the_discrete_map():
    A, b, x = known_system(2)
    times = np.array([0.0, 1.0, 7.5, 40.0])
    ode = LinearODE(A, b, 1.0)
    ivp = solve_ivp(lambda t, y: A @ y + b, (0, 40), x[0], t_eval=times, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ode.continuous(x[0], times), ivp.y.T, rtol=1e-6, atol=1e-6)
    # x(t+1) = (I + A) x(t) + b is the time-1 map of dx/dt = L x + L A^{-1} b with L = log(I + A): exact at
    # integer t; the continuous solution of (A, b) itself differs by O(|A|^2 t).
    L = np.real(logm(np.eye(len(A)) + A))
    exact = LinearODE(L, L @ np.linalg.solve(A, b), 1.0).continuous(x[0], np.arange(200))
    np.testing.assert_allclose(exact, x, rtol=1e-6, atol=1e-6)
    assert np.abs(ode.continuous(x[0], np.arange(200)) - x).max() < 0.1 * np.abs(x).max()


def test_r2_over_a_sweep_reads_d_and_plots(tmp_path):
    for d, seed in [(4, 0), (4, 1), (8, 2)]:
        fake_circle_run(tmp_path / f"{d}_{seed}", known_system(seed, 3)[2], d_embed=d)
    table = ode_r2_table([tmp_path], steps=50)
    assert len(table) == 6 and set(table["alpha"]) == {0.0, 0.01}
    assert sorted(table["d_embed"]) == [4, 4, 4, 4, 8, 8] and (table["n_steps"] == 50).all()
    assert np.allclose(table.loc[table["alpha"] == 0, "r2"], 1.0)
    plot_r2_vs_d(table, tmp_path / "r2.png")
    fit = fit_linear_ode(known_system(0, 3)[2], alpha=0.01)
    plot_A(fit, tmp_path / "A.png")
    plot_roll_out(known_system(0, 3)[2], fit, [1, 3], tmp_path / "roll_out.png")
    assert all((tmp_path / f).stat().st_size > 0 for f in ("r2.png", "A.png", "roll_out.png"))
