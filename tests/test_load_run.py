"""``grokscope.load_run``: a run dir read back gives the models whose scores the run logged, its files as
they are, its ensemble's members; a model at an epoch without weights fails in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import grokscope
from grokscope.config import ConfigError
from tests.helpers.runs import recomputed_scores, train

TRANSFORMER = ("experiment=tiny_transformer", "snapshot_every_n_epochs=20")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("transformer_run")
    train(path, *TRANSFORMER)
    return path


def logged_row(run, epoch: int) -> dict[str, float]:
    return run.history.set_index("epoch").loc[epoch].to_dict()


def test_the_final_model_scores_what_the_run_logged_at_its_last_epoch(run_dir):
    run = grokscope.load_run(run_dir)
    scores = recomputed_scores(run)
    assert scores == {k: run.summary["final"][k] for k in scores}  # exactly: the same model, the same table
    assert scores == {k: logged_row(run, 40)[k] for k in scores}
    assert run.model().training is False and run.model().W_E.device.type == "cpu"


def test_a_snapshot_model_scores_what_the_run_logged_at_its_epoch(run_dir):
    run = grokscope.load_run(run_dir)
    assert run.snapshot_epochs == [0, 20, 40] and run.epochs == [0, 20, 40]
    scores = recomputed_scores(run, 20)
    assert scores == {k: logged_row(run, 20)[k] for k in scores}
    assert scores != recomputed_scores(run, 40)


def test_history_arrays_summary_and_config_are_the_files(run_dir):
    run = grokscope.load_run(str(run_dir))
    assert run.summary == json.loads((run_dir / "summary.json").read_text())
    pd.testing.assert_frame_equal(run.history, pd.read_csv(run_dir / "metrics.csv", float_precision="round_trip"))
    assert list(run.history["epoch"]) == [0, 10, 20, 30, 40]
    files = sorted(run_dir.glob("arrays/*.npz"))
    assert files and sorted(run.arrays) == [p.stem for p in files]
    for path in files:
        with np.load(path) as data:
            assert set(run.arrays[path.stem]) == set(data.files)
            for key in data.files:
                np.testing.assert_array_equal(run.arrays[path.stem][key], data[key])
    assert run.resolved == run.summary["config"]
    assert run.config.model.name == "transformer" and run.task.modulus == 13
    assert run.members == []


def test_loading_keeps_the_callers_random_state(run_dir):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    grokscope.load_run(run_dir).model()
    assert torch.equal(torch.rand(3), expected)


def test_an_epoch_without_weights_fails_in_one_line_naming_the_epochs_there(run_dir):
    with pytest.raises(ConfigError) as err:
        grokscope.load_run(run_dir).model(epoch=7)
    message = str(err.value)
    assert err.value.key == "epoch" and "\n" not in message and "epochs there: 0, 20, 40" in message


def test_a_dir_that_is_not_a_run_fails_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        grokscope.load_run(tmp_path)
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_ensemble_members_load_as_runs_with_their_logged_scores(tmp_path):
    train(tmp_path, "experiment=tiny_modular", "max_epochs=20", "ensemble.size=2", "snapshot_every_n_epochs=10")
    ensemble = grokscope.load_run(tmp_path)
    assert [m.path.name for m in ensemble.members] == ["0_seed=0", "1_seed=1"]
    assert [m.config.run.seed for m in ensemble.members] == [0, 1]
    finals = []
    for member in ensemble.members:
        scores = recomputed_scores(member)
        assert scores == {k: member.summary["final"][k] for k in scores}
        assert recomputed_scores(member, 10) == {k: logged_row(member, 10)[k] for k in scores}
        finals.append(scores)
    assert finals[0] != finals[1]
    with pytest.raises(ConfigError) as err:
        ensemble.model()
    assert "ensemble of 2 members" in str(err.value) and "\n" not in str(err.value)


def test_import_grokscope_loads_no_torch():
    """``grokscope.load_run`` is imported on first use."""
    code = "import sys, grokscope; assert 'torch' not in sys.modules and 'load_run' in grokscope.__all__"
    subprocess.run([sys.executable, "-c", code], check=True)
