"""Initial signal vs survival over a sweep (circle_survival.md §6.4), on hand-made run dirs."""

from __future__ import annotations

import numpy as np

from grokscope.analysis.survival import pearson, plot_survival, survival_rate, survival_table
from tests.helpers.circle_runs import fake_circle_run


def fake_run(run_dir, initial: list[float], final_circles: list[bool]) -> None:
    fake_circle_run(run_dir, [initial, initial], [[False] * len(initial), final_circles], epochs=[0, 10])


def test_strong_initial_frequencies_survive(tmp_path):
    fake_run(tmp_path / "0", [5.0, 9.0, 7.0], [False, True, False])
    fake_run(tmp_path / "1", [8.0, 4.0, 6.0], [True, False, False])
    table = survival_table([tmp_path])
    assert len(table) == 6 and table["survived"].sum() == 2
    assert set(table.loc[table["survived"], "initial_rank"]) == {1}
    assert pearson(table) > 0.7
    rates = survival_rate(table, n_bins=2)
    assert np.allclose(rates["rate"], [0.0, 2 / 3]) and rates["n"].sum() == 6
    plot_survival(table, tmp_path / "survival.png", n_bins=2)
    assert (tmp_path / "survival.png").stat().st_size > 0
