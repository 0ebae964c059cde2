"""End-to-end training: outputs, reproducibility, logging."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch

from grokscope.run import Job, build, execute
from grokscope.run.config import validate
from grokscope.run.wandb_offline import read_offline_run
from tests.helpers.cli import cli
from tests.helpers.config import make_config
from tests.helpers.runs import final_checkpoint, train


def rows(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_loss_falls_and_outputs_written(short_run):
    run_dir, summary = short_run
    table = rows(run_dir)
    assert float(table[-1]["train/loss"]) < 0.5 * float(table[0]["train/loss"])
    assert summary["status"] == "completed" and summary["epochs"] == 300
    assert summary["grok_epochs"]["train"] is not None and summary["grok_epochs"]["train"] <= 300
    assert json.loads((run_dir / "summary.json").read_text())["config"]["task"]["p"] == 97
    epochs = [int(r["epoch"]) for r in table]
    assert epochs == sorted(set(epochs)) and epochs[0] == 0 and epochs[-1] == 300
    with np.load(run_dir / "arrays" / "fourier.npz") as arrays:
        assert arrays["W_E_power"].shape == (7, 1, 49)  # epochs 0, 50, ..., 300; p = 97 -> 48 freqs + const
        assert arrays["epochs"].tolist() == list(range(0, 301, 50))
    assert (run_dir / "plots" / "curves.png").stat().st_size > 0
    assert (run_dir / "plots" / "fourier_W_E.png").stat().st_size > 0


def test_checkpoint_holds_full_state(short_run):
    run_dir, _ = short_run
    ckpt = final_checkpoint(run_dir)
    assert ckpt["epoch"] == 300 and ckpt["recorder"]["history"][-1]["epoch"] == 300
    assert ckpt["optimizer"]["state"] and ckpt["scheduler"]["last_epoch"] == 300
    assert {"torch", "numpy", "python"} <= ckpt["rng"].keys()


def test_same_seed_same_metrics(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        train(d, "experiment=tiny_modular")
    assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()


def test_data_seed_changes_split_not_init():
    task0, model0 = build(validate(make_config("seeds.data=0")))
    task1, model1 = build(validate(make_config("seeds.data=1")))
    assert not torch.equal(task0.masks["train"], task1.masks["train"])
    for (n, p0), p1 in zip(model0.named_parameters(), model1.parameters()):
        assert torch.equal(p0, p1), n


def test_transformer_trains(tmp_path):
    summary = train(tmp_path, "experiment=nanda_2023", "task.p=23", "max_epochs=150", "log_every_n_epochs=50",
                    "metrics.every_n_epochs=50", "optimizer.lr=3e-3")
    table = rows(tmp_path)
    assert float(table[-1]["train/loss"]) < 0.5 * float(table[0]["train/loss"])
    assert summary["final"]["train/acc"] > 0.5


def test_wandb_offline_run_has_config_and_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    execute(make_config("max_epochs=40", "progress_bar=false"), tmp_path, Job(name="wandb_check"))
    offline = read_offline_run(next((tmp_path / "wandb").glob("offline-run-*")))
    assert offline["config"]["task"]["p"] == 97 and offline["config"]["max_epochs"] == 40
    keys = set().union(*offline["history"])
    assert {"train/loss", "test/acc", "weights/norm", "fourier/top1_freq", "epoch"} <= keys
    assert offline["history"][-1]["epoch"] == 40


def test_multirun_writes_one_dir_per_job(tmp_path):
    proc = cli("-m", "experiment=tiny_modular", "seed=0,1", "model.d_embed=8,16", "max_epochs=20", "logger=csv",
               "progress_bar=false", "plots=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summaries = sorted(tmp_path.glob("multirun/*/*/*/summary.json"))
    names = sorted(p.parent.name for p in summaries)
    assert len(names) == 4 and len({p.parent.parent for p in summaries}) == 1
    assert names == sorted(f"model.d_embed={d},seed={s}" for d in (8, 16) for s in (0, 1))  # swept keys only
    finished = [line for line in proc.stdout.splitlines() if ": completed after 20 epochs; train/acc " in line]
    assert sorted(Path(line.split(":")[0]).name for line in finished) == names  # one line per job, naming its dir
