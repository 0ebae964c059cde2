"""``grokscope-analyze remetric``: the progress measures at every snapshot with a fixed key set equal those
computed directly with the same set, its outputs are written beside the run's, and its usage errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grokscope.cli.analyze import main
from grokscope.losses import Loss
from grokscope.metrics import evaluate
from grokscope.metrics.phases import phase_boundaries
from grokscope.metrics.progress import ProgressMetric
from grokscope.metrics.weights import weight_norms
from grokscope.run.load import load_run
from grokscope.training.outputs import load_arrays

KEY_FREQS = [2, 5, 7]


@pytest.fixture(scope="module")
def run_dir(snapshot_run) -> Path:
    return snapshot_run


def test_remetric_equals_the_metrics_computed_directly_with_the_same_key_freqs(run_dir, tmp_path, capsys):
    before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))
    main(["remetric", str(run_dir), "--key-freqs", ",".join(map(str, KEY_FREQS)), "--out", str(tmp_path)])
    assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == before  # the run's files untouched
    assert "3 snapshots" in capsys.readouterr().out
    history = pd.read_csv(tmp_path / "metrics.csv", float_precision="round_trip")
    arrays = load_arrays(tmp_path / "arrays" / "progress.npz")
    run = load_run(run_dir)
    assert history["epoch"].tolist() == arrays["epochs"].tolist() == run.snapshot_epochs == [0, 10, 20]
    for i, epoch in enumerate(run.snapshot_epochs):
        model = run.model(epoch)
        metric = ProgressMetric(model, run.task, exclude_top_freq=False, key_freqs=KEY_FREQS)
        expected = metric(model, run.task, evaluate(model, run.task, Loss(), metric.hooks))
        expected |= weight_norms(model)
        for key, value in expected.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(arrays[key.removeprefix("progress/")][i], value, err_msg=key)
            else:
                assert history[key][i] == value, key
    assert np.flatnonzero(arrays["key_freqs"][-1]).tolist() == [k - 1 for k in KEY_FREQS]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["gini.png", "losses.png", "weight_norm.png"]
    assert '"key_freqs": [\n    2,\n    5,\n    7\n  ]' in (tmp_path / "summary.json").read_text()


def test_a_key_frequency_out_of_range_is_a_one_line_usage_error_naming_the_argument(run_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["remetric", str(run_dir), "--key-freqs", "2,99", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == ("grokscope-analyze remetric: error: --key-freqs=[2, 99]: frequencies must "
                                       "lie in 1..11 for p=23\n")
    assert list(tmp_path.iterdir()) == []


def test_phases_of_a_grokking_curve_are_the_excluded_loss_minimum_and_the_test_loss_fall():
    epochs = np.arange(0, 1000, 100)
    excluded = np.array([5.0, 2, 1, 2, 3, 4, 5, 6, 6, 6])
    test = np.exp([1.0, 2, 2, 2, 1.9, 1.0, -5, -7.5, -8, -8])  # peak 2, end -8: 10% at 1.0, 90% at -7.0
    phases = phase_boundaries(epochs, excluded, test, final_test_acc=1.0)
    assert (phases.circuit_formation, phases.cleanup, phases.stable) == (200, 500, 700)
    assert phase_boundaries(epochs, excluded, test, final_test_acc=0.5).boundaries() == {"circuit_formation": 200}
