"""The phases of grokking per run (grokscope.metrics.phases): synthetic curves with known boundaries are recovered,
every run's summary holds the three epochs (or why not), and the figures shade them."""

from __future__ import annotations

import numpy as np
import pytest

from grokscope.metrics.curves import curves_figure, restricted_losses_figure
from grokscope.metrics.family import RunRecord
from grokscope.metrics.phases import phase_boundaries, run_phases
from tests.helpers.runs import train

#: the paper's main run: memorisation ends at 1.4k, circuit formation at 9.4k, cleanup at 13.4k
TRUE = {"memorisation_end": 1400, "circuit_formation_end": 9400, "cleanup_end": 13400}
EPOCHS = np.arange(0, 20001, 20)


def synthetic(rng: np.random.Generator, noise: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Test and excluded loss with the boundaries :data:`TRUE`, piecewise linear in log space, times
    ``exp(N(0, noise^2))``: the test loss rises while the network memorises, drifts down during circuit formation,
    falls by four decades during cleanup, then drifts; the excluded loss falls with the train loss, then rises as
    the circuit forms, then falls again."""
    m, c, s, end = TRUE["memorisation_end"], TRUE["circuit_formation_end"], TRUE["cleanup_end"], EPOCHS[-1]
    e = EPOCHS
    peak, low = np.log(30.0), np.log(1e-3)
    log_test = np.select([e < m, e < c, e < s],
                         [np.log(4.7) + (peak - np.log(4.7)) * e / m, peak - 0.3 * (e - m) / (c - m),
                          peak - 0.3 - (peak - 0.3 - low) * (e - c) / (s - c)], low - 0.2 * (e - s) / (end - s))
    log_excluded = np.select([e < m, e < c], [np.log(4.7) + (np.log(0.05) - np.log(4.7)) * e / m,
                                              np.log(0.05) + np.log(100.0) * (e - m) / (c - m)],
                             np.log(5.0) * (1 - (e - c) / (end - c)))
    return (np.exp(log_test + rng.normal(0, noise, len(e))), np.exp(log_excluded + rng.normal(0, noise, len(e))))


@pytest.mark.parametrize("seed", range(10))
def test_known_boundaries_of_noisy_curves_are_recovered_within_five_percent(seed):
    test_loss, excluded = synthetic(np.random.default_rng(seed))
    found = phase_boundaries(EPOCHS, excluded, test_loss, final_test_acc=1.0).ends()
    for name, epoch in TRUE.items():
        assert found[name] == pytest.approx(epoch, rel=0.05), name


def record_of(test_loss: np.ndarray, excluded: np.ndarray, final_acc: float = 1.0) -> RunRecord:
    class Task:
        eval_masks = ("train", "test")

    history = [{"epoch": int(e), "train/loss": 1e-3, "test/loss": float(t), "train/acc": 1.0,
                "test/acc": final_acc, "progress/restricted_loss": 1.0, "progress/excluded_loss": float(x)}
               for e, t, x in zip(EPOCHS, test_loss, excluded)]
    return RunRecord(history, {}, {}, Task(), None)


def test_a_record_gives_the_three_epochs_and_the_figures_shade_them():
    record = record_of(*synthetic(np.random.default_rng(0)))
    phases = run_phases(record)["phases"]
    assert phases["reasons"] == {}
    for name, epoch in TRUE.items():
        assert phases[name] == pytest.approx(epoch, rel=0.05)
    for fig in (curves_figure(record, "run"), restricted_losses_figure(record, "progress/restricted_loss",
                                                                        "progress/excluded_loss")):
        shaded = [p for ax in fig.axes for p in ax.patches if p.get_label() in
                  ("memorisation", "circuit formation", "cleanup")]
        assert {p.get_label() for p in shaded} == {"memorisation", "circuit formation", "cleanup"}


def test_a_run_that_has_not_generalised_says_why_its_phases_are_null():
    record = record_of(*synthetic(np.random.default_rng(0)), final_acc=0.2)
    phases = run_phases(record)["phases"]
    assert phases["circuit_formation_end"] is None and phases["cleanup_end"] is None
    assert "below 0.99" in phases["reasons"]["cleanup_end"]


def test_every_run_writes_its_phases_and_collect_reads_them(tmp_path):
    from grokscope.analysis.collect import collect

    summary = train(tmp_path / "run", "experiment=tiny_modular", "metrics.progress.enabled=true")
    phases = summary["phases"]
    assert set(phases) == {"memorisation_end", "circuit_formation_end", "cleanup_end", "reasons"}
    assert all(phases[name] is not None or name in phases["reasons"] for name in TRUE)
    table = collect([tmp_path / "run"])
    assert {f"phase/{name}" for name in TRUE} <= set(table.columns)
