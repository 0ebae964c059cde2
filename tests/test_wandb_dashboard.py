"""What a WandB run shows, read back from its offline files: the epoch axis, each family's pictures at its
metric epochs, the final plots, the arrays table, the summary, the job type and the setting id."""

from __future__ import annotations

import json

import pytest

from grokscope.run.fingerprint import setting_id
from grokscope.run.rundir import RunDir
from grokscope.run.sinks import media_epochs
from grokscope.run.wandb_offline import read_offline_run
from grokscope.training import callbacks
from grokscope.training.cadence import Cadence
from tests.helpers.runs import train

RUN = ("experiment=tiny_modular", "task.p=11", "model.d_embed=8", "model.hidden=[16]", "metrics.circles.enabled=true",
       "logger=default", "logger.wandb.max_media=2", "plots=true")
#: the pictures of each family that runs on RUN (fourier, progress, circles; weights has none)
MEDIA = ("media/fourier/W_E_spectrum", "media/progress/neuron_frequency_map", "media/circles/signal_bars")


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("wandb_run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WANDB_MODE", "offline")
        summary = train(run_dir, *RUN)
    (attempt,) = (run_dir / "wandb").glob("offline-run-*")
    return run_dir, summary, attempt, read_offline_run(attempt)


def test_scalars_on_the_epoch_axis_with_loss_and_accuracy_summaries(dashboard):
    run_dir, summary, _, run = dashboard
    assert run["metrics"]["*"] == "epoch"
    assert [row["epoch"] for row in run["history"]] == [0, 10, 20, 30, 40]
    losses = [row["test/loss"] for row in run["history"]]
    assert run["summary"]["test/loss"]["min"] == pytest.approx(min(losses))
    assert run["summary"]["test/loss"]["max"] == pytest.approx(max(losses))
    assert run["job_type"] == "train" and run["name"] == "modular_add_11_mlp_seed0"
    resolved = RunDir(run_dir).config()
    assert run["config"]["setting_id"] == setting_id(resolved)


def test_each_family_sends_its_pictures_at_the_media_epochs_only(dashboard):
    _, _, attempt, run = dashboard
    assert media_epochs(Cadence(20), 40, 2) == {0, 40}
    for row in run["history"]:
        sent = {key for key in MEDIA if row.get(f"{key}/_type") == "image-file"}
        assert sent == (set(MEDIA) if row["epoch"] in (0, 40) else set()), row["epoch"]
        for key in sent:
            assert (attempt / "files" / row[f"{key}/path"]).read_bytes()[:4] == b"\x89PNG"


def test_the_end_sends_plots_arrays_and_the_summary(dashboard):
    run_dir, summary, attempt, run = dashboard
    final = run["summary"]
    for png in (run_dir / "plots").glob("*.png"):
        assert (attempt / "files" / final[f"plots/{png.stem}"]["path"]).exists()
    assert {"plots/curves", "plots/fourier_W_E", "plots/circle_signals"} <= set(final)
    table = json.loads((attempt / "files" / final["arrays"]["path"]).read_text())
    assert table["columns"] == ["key", "epoch", "index", "value"]
    keys = {row[0] for row in table["data"]}
    assert {"fourier/W_E_power", "circles/signal", "progress/key_freqs"} <= keys
    assert final["status"] == "completed" and final["grok_epochs"] == summary["grok_epochs"]
    assert final["min_loss"]["test"]["epoch"] in (0, 10, 20, 30, 40)
    assert final["key_freqs"] == summary["key_freqs"] and "circle_survivors" in final


def test_checkpoints_go_as_artifacts_when_asked(tmp_path, monkeypatch):
    """The final checkpoint as ``final``; the first snapshot at or after the epoch the test split grokked as
    ``grokked`` (the grokking threshold lowered so that it is reached at epoch 12, between two snapshots)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    record = callbacks.MetricsRecorder.record

    def record_with_threshold(self, model, task, loss_dtype, epoch, last):
        monkeypatch.setattr(callbacks, "GROK_THRESHOLD", -1.0 if epoch >= 12 else 2.0)
        return record(self, model, task, loss_dtype, epoch, last)

    monkeypatch.setattr(callbacks.MetricsRecorder, "record", record_with_threshold)
    summary = train(tmp_path, *RUN[:4], "metrics=none", "max_epochs=40", "log_every_n_epochs=2",
                    "snapshot_every_n_epochs=10", "logger=default", "logger.wandb.log_checkpoints=true")
    assert summary["grok_epochs"]["test"] == 12
    (attempt,) = (tmp_path / "wandb").glob("offline-run-*")
    artifacts = read_offline_run(attempt)["artifacts"]
    by_alias = {alias: a for a in artifacts for alias in a["aliases"]}
    assert by_alias["final"]["files"] == ["epoch=40.ckpt"] and by_alias["final"]["type"] == "model"
    assert by_alias["grokked"]["files"] == ["epoch=20.pt"]
