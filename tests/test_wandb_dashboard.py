"""What a WandB run shows, read back from its offline files: the epoch axis (WandB's own step too), each family's
captioned pictures at its metric epochs, no sparse per-frequency series, the final plots, the arrays table, a
summary that holds each value once, the job type, the setting id, and one naming scheme for a single run, a
sweep's job, an ensemble's member and a packed sweep's member (docs/wandb.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grokscope.metrics import ActiveFamily
from grokscope.metrics.families import registered
from grokscope.run import Job, execute
from grokscope.run.fingerprint import flatten, setting_id
from grokscope.run.rundir import RunDir
from grokscope.run.sinks import media_epochs, per_entry_keys
from grokscope.run.wandb_offline import read_offline_run
from grokscope.training import callbacks
from grokscope.training.cadence import Cadence
from tests.helpers.config import make_config
from tests.helpers.runs import train

#: the default run (p = 97, the MLP), 40 epochs: losses every 10, metrics at 0, 20 and 40; circles and pizza on
RUN = ("max_epochs=40", "log_every_n_epochs=10", "metrics.every_n_epochs=20", "checkpoint_every_n_epochs=20",
       "metrics.circles.enabled=true", "metrics.pizza.enabled=true", "logger=default", "logger.wandb.max_media=2",
       "plots=true")
#: a run of a few milliseconds of training
TINY = ("experiment=tiny_modular", "task.p=11", "model.d_embed=8", "model.hidden=[16]", "metrics=none", "max_epochs=2",
        "log_every_n_epochs=1", "checkpoint_every_n_epochs=2", "logger=default", "progress_bar=false", "plots=false")
#: the pictures of each family that runs on RUN (weights has none)
MEDIA = ("media/fourier/W_E_spectrum", "media/progress/neuron_frequency_map", "media/circles/signal_bars",
         "media/pizza/correct_logit_map", "media/pizza/max_wrong_logit_map")


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
    assert [row["_step"] for row in run["history"]] == [0, 10, 20, 30, 40]  # the media's step slider: the epoch
    assert run["job_type"] == "train" and run["name"] == "modular_add_97_mlp_seed0"
    assert run["tags"] == ["task:modular_add_97", "model:mlp"] and run["group"] == ""
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


def test_every_picture_is_a_captioned_image_titled_with_the_run_and_epoch(dashboard):
    """Every ``media/...`` value of every row is an image with a caption naming the run and the epoch, drawn
    with axes and labels (wider and taller than a bare bitmap of the values: a figure of about 500 x 300)."""
    from PIL import Image

    _, _, attempt, run = dashboard
    media = [(row, key.removesuffix("/_type")) for row in run["history"] for key in row
             if key.startswith("media/") and key.endswith("/_type")]
    assert {key for _, key in media} == set(MEDIA)
    for row, key in media:
        assert row[f"{key}/_type"] == "image-file", key
        caption = row[f"{key}/caption"]
        assert f"modular_add_97_mlp_seed0, epoch {row['epoch']}" in caption and len(caption) > 60, caption
        width, height = Image.open(attempt / "files" / row[f"{key}/path"]).size
        assert width >= 480 and height >= 250, (key, width, height)  # a bare bitmap of 48 bars: 720 x 104


def test_no_sparse_scalar_series(dashboard):
    """Every scalar the run sent has a point at each of its 3 metric epochs at least (the per-frequency and
    per-irrep ones, e.g. ``progress/excluded_loss/freq_k``, are in the arrays table instead)."""
    run_dir, _, _, run = dashboard
    counts: dict[str, int] = {}
    for row in run["history"]:
        for key in row:
            if not key.startswith(("media/", "_")):
                counts[key] = counts.get(key, 0) + 1
    assert counts["test/loss"] == 5 and counts["progress/excluded_loss"] == 3
    assert not [key for key in counts if "/freq_" in key or key.startswith("circles/signal/")]
    assert min(counts.values()) >= 2, {k: n for k, n in counts.items() if n < 2}
    csv_header = (run_dir / "metrics.csv").read_text().splitlines()[0]
    assert "progress/excluded_loss/freq_" in csv_header  # metrics.csv keeps them


def test_the_end_sends_plots_arrays_and_the_summary(dashboard):
    run_dir, summary, attempt, run = dashboard
    final = run["summary"]
    for png in (run_dir / "plots").glob("*.png"):
        assert (attempt / "files" / final[f"plots/{png.stem}"]["path"]).exists()
    assert {"plots/curves", "plots/fourier_W_E", "plots/circle_signals"} <= set(final)
    table = json.loads((attempt / "files" / final["arrays"]["path"]).read_text())
    assert table["columns"] == ["key", "epoch", "index", "value"]
    keys = {row[0] for row in table["data"]}
    assert {"fourier/W_E_power", "circles/signal", "progress/key_freqs", "progress/excluded_loss_per_freq"} <= keys
    assert final["status"] == "completed" and final["grok_epochs"] == summary["grok_epochs"]
    assert final["test/loss"]["min_epoch"] == summary["min_loss"]["test"]["epoch"]
    assert final["test/loss"]["min"] == summary["min_loss"]["test"]["loss"]
    assert final["key_freqs"] == summary["key_freqs"] and "circle_survivors" in final


def test_the_summary_holds_each_value_once(dashboard):
    """No ``final`` copy of the last row, no ``min_loss`` copy of the splits' minima, no run name beside the
    name: each scalar's last value once, as its own summary (or ``<split>/loss.last``)."""
    _, summary, _, run = dashboard
    final = run["summary"]
    assert not {"final", "min_loss", "run_name", "config"} & set(final)
    assert not [key for key in final if key.startswith(("final/", "min_loss/"))]
    keys = set(flatten(final, ""))
    per_entry = per_entry_keys([ActiveFamily(family, None, None) for family in registered().values()])
    for key, value in summary["final"].items():
        if per_entry.fullmatch(key):  # in the arrays table
            assert key not in final
            continue
        held = [k for k in (key, f"{key}.last") if k in keys]
        assert len(held) == 1, (key, held)
        assert flatten(final)[held[0]] == pytest.approx(value, nan_ok=True)


def test_checkpoints_go_as_artifacts_when_asked(tmp_path, monkeypatch):
    """The final checkpoint as ``final``; the first snapshot at or after the epoch the test split grokked as
    ``grokked`` (the grokking threshold lowered so that it is reached at epoch 12, between two snapshots)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    record = callbacks.MetricsRecorder.record

    def record_with_threshold(self, model, task, loss_dtype, epoch, last):
        monkeypatch.setattr(callbacks, "GROK_THRESHOLD", -1.0 if epoch >= 12 else 2.0)
        return record(self, model, task, loss_dtype, epoch, last)

    monkeypatch.setattr(callbacks.MetricsRecorder, "record", record_with_threshold)
    summary = train(tmp_path, *TINY[:4], "metrics=none", "max_epochs=40", "log_every_n_epochs=2",
                    "snapshot_every_n_epochs=10", "logger=default", "logger.wandb.log_checkpoints=true")
    assert summary["grok_epochs"]["test"] == 12
    (attempt,) = (tmp_path / "wandb").glob("offline-run-*")
    artifacts = read_offline_run(attempt)["artifacts"]
    by_alias = {alias: a for a in artifacts for alias in a["aliases"]}
    assert by_alias["final"]["files"] == ["epoch=40.ckpt"] and by_alias["final"]["type"] == "model"
    assert by_alias["grokked"]["files"] == ["epoch=20.pt"]


def test_one_naming_scheme_for_runs_sweep_jobs_ensemble_members_and_packed_members(tmp_path, monkeypatch):
    """``<task>_<model>[_<varied>]_seed<seed>`` (docs/wandb.md): a single run (``test_scalars_on_the_epoch_axis...``),
    a sweep's job (its swept keys but the seed), an ensemble's member (its own weight decay; grouped by the
    ensemble's dir) and a packed member (named, grouped and typed as the sweep job whose dir it writes)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(tmp_path)

    def launch(run_dir: str, *overrides: str, job: Job) -> dict[str, dict]:
        execute(make_config(*TINY, *overrides), Path(run_dir), job)
        runs = [read_offline_run(a) for a in sorted(tmp_path.glob("**/wandb/offline-run-*")) if a not in seen]
        seen.update(tmp_path.glob("**/wandb/offline-run-*"))
        return {run["name"]: run for run in runs}

    seen: set[Path] = set()
    sweep = Job(group="multirun/s", multirun=True, overrides=("experiment=tiny_modular", "model.d_embed=8", "seed=1"))
    (job,) = launch("multirun/s/model.d_embed=8,seed=1", "seed=1", job=sweep).items()
    assert job[0] == "modular_add_11_mlp_model.d_embed=8_seed1"
    assert (job[1]["group"], job[1]["job_type"]) == ("multirun/s", "sweep-job")
    assert job[1]["config"]["overrides"] == ["experiment=tiny_modular", "model.d_embed=8", "seed=1"]
    assert job[1]["tags"] == ["task:modular_add_11", "model:mlp", "experiment:tiny_modular"]  # not the overrides

    members = launch("ens", "ensemble.weight_decay=[0.3,1.0]", job=Job())
    assert sorted(members) == ["modular_add_11_mlp_optimizer.weight_decay=0.3_seed0",
                               "modular_add_11_mlp_optimizer.weight_decay=1.0_seed0"]
    assert {(m["group"], m["job_type"]) for m in members.values()} == {("ens", "ensemble-member")}
    assert len({m["config"]["setting_id"] for m in members.values()}) == 2  # two weight decays: two settings

    dirs = "['multirun/p/model.d_embed=8,seed=0','multirun/p/model.d_embed=8,seed=1']"
    packed = launch("multirun/p/.packs/0", "ensemble.seeds=[0,1]", f"ensemble.member_dirs={dirs}",
                    job=Job(group="multirun/p", multirun=True))
    assert sorted(packed) == ["modular_add_11_mlp_model.d_embed=8_seed0", "modular_add_11_mlp_model.d_embed=8_seed1"]
    assert {(m["group"], m["job_type"]) for m in packed.values()} == {("multirun/p", "sweep-job")}
    seeds = {m["config"]["setting_id"] for m in packed.values()} | {job[1]["config"]["setting_id"]}
    assert len(seeds) == 1  # the seeds of one setting: one band
    assert all(m["tags"] == ["task:modular_add_11", "model:mlp"] for m in [*members.values(), *packed.values()])
