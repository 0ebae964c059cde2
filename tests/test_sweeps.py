"""Exact resume after SIGKILL, sweep restart, failure isolation, divergence guard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import cli, train

SMALL = ["task.p=31", "model.d_embed=16", "model.hidden=[32]", "logger=csv", "progress_bar=false",
         "checkpoint_every_n_epochs=100", "log_every_n_epochs=20", "metrics.every_n_epochs=100"]


def test_resume_after_kill_is_bit_identical(tmp_path):
    args = [*SMALL, "max_epochs=600"]
    whole = cli(*args, f"hydra.run.dir={tmp_path / 'whole'}", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr

    killed_dir = tmp_path / "killed"
    cmd = [sys.executable, "-m", "grokscope.train", *args, f"hydra.run.dir={killed_dir}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpts = killed_dir / "checkpoints"
    while not any(ckpts.glob("epoch=*.ckpt")) and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed_dir / "summary.json").exists(), "the run finished before it could be killed"

    resumed = cli(*args, f"hydra.run.dir={killed_dir}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((killed_dir / "summary.json").read_text())
    assert summary["resumed_from_epoch"] is not None and summary["resumed_from_epoch"] < 600
    assert (killed_dir / "metrics.csv").read_text() == (tmp_path / "whole" / "metrics.csv").read_text()
    assert summary["final"] == json.loads((tmp_path / "whole" / "summary.json").read_text())["final"]


def test_sweep_isolates_failures(tmp_path):
    sweep = ["-m", *SMALL, "max_epochs=40", f"hydra.sweep.dir={tmp_path / 'sweep'}", "task.frac_train=0.3,0.5,0.7,1.5"]
    first = cli(*sweep, cwd=tmp_path)
    assert first.returncode != 0
    assert "3 completed, 1 failed, 0 diverged" in first.stderr
    jobs = sorted((tmp_path / "sweep").glob("*/summary.json"))
    statuses = [json.loads(p.read_text())["status"] for p in jobs]
    assert statuses == ["completed", "completed", "completed", "failed"]
    assert "task.frac_train" in json.loads(jobs[3].read_text())["error"]


def test_divergence_stops_the_run(tmp_path):
    summary = train(tmp_path, "optimizer=sgd", "optimizer.lr=1e12", "max_epochs=2000", "steps_per_call=50")
    assert summary["status"] == "diverged" and summary["epochs"] <= 50
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "diverged"


def test_collect_and_restart_of_a_finished_sweep(tmp_path, capsys):
    sweep_dir = tmp_path / "sweep"
    sweep = ["-m", *SMALL, "max_epochs=30", f"hydra.sweep.dir={sweep_dir}", "seed=0,1", "model.d_embed=8,16"]
    proc = cli(*sweep, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    csvs = sorted(sweep_dir.glob("*/metrics.csv"))
    stamps = [p.stat().st_mtime_ns for p in csvs]

    again = cli(*sweep, cwd=tmp_path)
    assert again.returncode == 0 and again.stderr.count("skipped") == 4
    assert [p.stat().st_mtime_ns for p in csvs] == stamps  # nothing trained

    from grokscope.analysis.collect import aggregate, collect, main

    runs = collect([sweep_dir])
    assert len(runs) == 4 and set(runs["status"]) == {"completed"}
    assert {"seed", "model.d_embed", "test/acc", "grok_epoch/test"} <= set(runs.columns)
    assert "task.p" not in runs.columns  # only the values that vary
    table = aggregate(runs)
    assert sorted(table["model.d_embed"]) == [8, 16] and set(table["test/acc:n"]) == {2}
    mean = runs[runs["model.d_embed"] == 8]["test/acc"].mean()
    assert abs(table.loc[table["model.d_embed"] == 8, "test/acc:mean"].item() - mean) < 1e-12
    main([str(sweep_dir), "--plot", "test/acc", "--x", "model.d_embed"])
    assert (sweep_dir / "runs.csv").exists() and (sweep_dir / "runs_by_setting.csv").exists()
    assert (sweep_dir / "test_acc_vs_model.d_embed.png").stat().st_size > 0

    csvs[0].parent.joinpath("summary.json").write_text("{not json")
    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    runs = collect([sweep_dir, tmp_path / "empty"])
    err = capsys.readouterr().err
    assert len(runs) == 3 and "summary.json" in err and str(tmp_path / "empty") in err


def test_submitit_local_sweep(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = cli("-m", *SMALL, "max_epochs=20", f"hydra.sweep.dir={sweep_dir}", "seed=0,1",
               "hydra/launcher=submitit_local", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summaries = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/summary.json"))]
    assert [s["status"] for s in summaries] == ["completed", "completed"]
    assert all((p.parent / "checkpoints" / "epoch=20.ckpt").exists() for p in sweep_dir.glob("*/summary.json"))
