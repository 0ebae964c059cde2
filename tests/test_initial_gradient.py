"""Initial gradient vs survival (circle_survival.md §6.5) and the ``grokscope-analyze circles`` commands, on
hand-made run dirs."""

from __future__ import annotations

import numpy as np
import pytest

from grokscope.analysis.initial_gradient import (
    gradient_table,
    plot_gradient_histogram,
    plot_survival_vs_gradient,
    svm_accuracy,
    t_test,
)
from grokscope.cli.analyze import main as analyze
from tests.helpers.circle_runs import fake_circle_run
from tests.helpers.runs import train


def quadratic_run(run_dir, s0, c, final, circles=None, n_dense: int = 12) -> None:
    """``s_k(E_t) = s0_k (1 + c_k t (t + 1) / 2)`` for ``t = 0..n_dense``, so ``g_j(k) = c_k (j + 1)``; then
    ``final`` at epoch 100."""
    s0, c = np.asarray(s0, float), np.asarray(c, float)
    t = np.arange(n_dense + 1)[:, None]
    signal = np.concatenate([s0 * (1 + c * t * (t + 1) / 2), [final]])
    is_circle = np.zeros(signal.shape, bool)
    if circles is not None:
        is_circle[-1] = circles
    fake_circle_run(run_dir, signal, is_circle, epochs=[*range(n_dense + 1), 100])


def separable_sweep(root, n_runs: int = 6) -> None:
    """Frequencies 1, 2 survive (higher initial signal, growing); 3, 4, 5 die (lower, shrinking)."""
    rng = np.random.default_rng(0)
    for i in range(n_runs):
        jitter = 1 + 0.1 * rng.random(5)
        quadratic_run(root / str(i), [100, 95, 60, 55, 50] * jitter, np.array([1, 1, -1, -1, -1]) * 0.01 * jitter,
                      final=[50, 40, 1, 2, 0.5], circles=[True, False, False, False, False])


def test_gradients_are_the_finite_differences_over_the_initial_signal(tmp_path):
    quadratic_run(tmp_path / "0", [80, 40, 20], [0.01, -0.02, 0.0], final=[60, 5, 11])
    table = gradient_table([tmp_path])
    assert list(table.columns) == ["run_dir", "freq", *[f"g_{j}" for j in range(10)], "initial_signal", "alive"]
    g = table[[f"g_{j}" for j in range(10)]].to_numpy()
    np.testing.assert_allclose(g, np.outer([0.01, -0.02, 0.0], np.arange(1, 11)), atol=1e-12)
    assert list(table["initial_signal"]) == [80, 40, 20] and list(table["alive"]) == [True, False, True]


def test_alive_and_dead_separate(tmp_path):
    separable_sweep(tmp_path)
    table = gradient_table([tmp_path])
    assert len(table) == 30 and table["alive"].sum() == 12
    t, p = t_test(table)
    assert t > 0 and p < 1e-6
    assert svm_accuracy(table) == 1.0
    circles = gradient_table([tmp_path], criterion="circle")  # only frequency 1 is a circle at the end
    assert set(circles.loc[circles["alive"], "freq"]) == {1}
    plot_survival_vs_gradient(table, tmp_path / "survival.png")
    plot_gradient_histogram(table, tmp_path / "histogram.png")
    assert (tmp_path / "survival.png").stat().st_size > 0 and (tmp_path / "histogram.png").stat().st_size > 0


def test_bad_input_is_one_line_naming_the_problem(tmp_path):
    quadratic_run(tmp_path / "short", [80, 40], [0.01, 0.01], final=[60, 50], n_dense=5)
    with pytest.raises(ValueError, match="5 dense epochs"):
        gradient_table([tmp_path])
    quadratic_run(tmp_path / "all_alive" / "0", [80, 40], [0.01, 0.01], final=[60, 50])
    with pytest.raises(ValueError, match="only alive"):
        t_test(gradient_table([tmp_path / "all_alive"]))


def main(argv: list[str]) -> None:
    analyze(["circles", *argv])


def assert_cli_error(capsys, *args: str, match: str | tuple[str, ...]) -> None:
    """``grokscope-analyze circles *args`` exits 2 with one line on stderr holding every ``match``."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    err = capsys.readouterr().err
    matches = (match,) if isinstance(match, str) else match
    assert exit_info.value.code == 2 and err.count("\n") == 1 and all(m in err for m in matches), err


def test_cli_fails_with_one_line_on_bad_input(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for command, argument in (("ode", "run_dir="), ("ode-sweep", "dirs="), ("gradient", "dirs="),
                              ("survival", "dirs=")):
        assert_cli_error(capsys, command, str(empty), match=(f"circles {command}: error: {argument}", "circles.npz"))
    quadratic_run(tmp_path / "short" / "0", [80, 40], [0.01, 0.01], final=[60, 5], n_dense=5)
    assert_cli_error(capsys, "gradient", str(tmp_path / "short"), match="dense_epochs >= 10")
    quadratic_run(tmp_path / "dead" / "0", [80, 40], [0.01, 0.01], final=[6, 5])
    assert_cli_error(capsys, "gradient", str(tmp_path / "dead"), match="no alive")


def test_cli_refuses_bad_numbers_in_one_line(tmp_path, capsys):
    quadratic_run(tmp_path / "sweep" / "0", [80, 40], [0.01, 0.01], final=[60, 5])
    run = str(tmp_path / "sweep" / "0")
    assert_cli_error(capsys, "ode", run, "--steps", "-3", match="argument --steps: -3: must be an integer >= 3")
    assert_cli_error(capsys, "ode", run, "--steps", "x", match="argument --steps: 'x' is not an integer")
    assert_cli_error(capsys, "ode", run, "--alpha", "-1", match="argument --alpha: -1: must be a number >= 0")
    assert_cli_error(capsys, "ode-sweep", run, "--alphas", "0", "-0.5", match="--alphas: -0.5")
    assert_cli_error(capsys, "ode-sweep", run, "--steps", "0", match="--steps: 0: must be an integer >= 3")
    assert_cli_error(capsys, "bogus", run, match="invalid choice: 'bogus'")
    assert not (tmp_path / "sweep" / "0" / "analysis").exists()


def test_cli_writes_tables_and_plots(tmp_path, capsys):
    separable_sweep(tmp_path / "sweep")
    out = tmp_path / "out"
    main(["gradient", str(tmp_path / "sweep"), "--out", str(out)])
    main(["survival", str(tmp_path / "sweep"), "--out", str(out)])
    main(["ode-sweep", str(tmp_path / "sweep"), "--out", str(out), "--steps", "12"])
    printed = capsys.readouterr().out
    assert "test accuracy = 1.000" in printed and "Pearson r" in printed
    for name in ("gradient.csv", "gradient_histogram.png", "gradient_survival.png", "survival.csv", "survival.png",
                 "ode_r2.csv", "ode_r2_vs_d.png"):
        assert (out / name).stat().st_size > 0, name


def test_cli_ode_on_a_trained_run(tmp_path, capsys):
    train(tmp_path, "experiment=tiny_circle_survival")
    main(["ode", str(tmp_path), "--steps", "15", "--alpha", "0"])
    assert "A: (5, 5)" in capsys.readouterr().out  # K = (11 - 1) / 2
    with np.load(tmp_path / "analysis" / "ode.npz") as fit:
        assert fit["A"].shape == (5, 5) and fit["b"].shape == (5,) and int(fit["n_steps"]) == 15
        assert float(fit["alpha"]) == 0 and float(fit["r2"]) > 0.95  # smooth early dynamics are near linear
    assert (tmp_path / "analysis" / "ode_A.png").exists() and (tmp_path / "analysis" / "ode_roll_out.png").exists()
