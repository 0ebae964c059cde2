"""Sweeps: restart, failure isolation, collection, loading a job back, the submitit path; the divergence guard."""

from __future__ import annotations

import json

import grokscope
from grokscope.cli.train import sweep_group
from tests.helpers.cli import cli
from tests.helpers.runs import recomputed_scores, train

SMALL = ["experiment=tiny_modular", "logger=csv", "progress_bar=false", "plots=false"]


def test_sweep_isolates_failures(tmp_path):
    sweep = ["-m", *SMALL, "max_epochs=40", f"hydra.sweep.dir={tmp_path / 'sweep'}", "task.frac_train=0.3,0.5,0.7,1.5"]
    first = cli(*sweep, cwd=tmp_path)
    assert first.returncode != 0
    assert "3 completed, 1 failed, 0 diverged" in first.stderr
    jobs = sorted((tmp_path / "sweep").glob("*/summary.json"))
    statuses = [json.loads(p.read_text())["status"] for p in jobs]
    assert statuses == ["completed", "completed", "completed", "failed"]
    assert "task.frac_train" in json.loads(jobs[3].read_text())["error"]
    run = grokscope.load_run(jobs[0].parent)  # a sweep's job is a run like any other
    scores = recomputed_scores(run)
    assert scores == {k: run.summary["final"][k] for k in scores} and run.config.task.frac_train == 0.3


def test_divergence_stops_the_run_and_is_a_result(tmp_path, capsys):
    args = ("optimizer=sgd", "optimizer.lr=1e12", "max_epochs=2000", "steps_per_call=50")
    summary = train(tmp_path, *args)
    assert summary["status"] == "diverged" and summary["epochs"] <= 50
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "diverged"
    stamp = (tmp_path / "summary.json").stat().st_mtime_ns
    assert train(tmp_path, *args) == summary  # finished: not trained again
    assert (tmp_path / "summary.json").stat().st_mtime_ns == stamp and "skipped" in capsys.readouterr().err


def test_collect_and_restart_of_a_finished_sweep(tmp_path, capsys):
    sweep_dir = tmp_path / "sweep"
    sweep = ["-m", *SMALL, "max_epochs=30", f"hydra.sweep.dir={sweep_dir}", "seed=0,1", "model.d_embed=8,16"]
    proc = cli(*sweep, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    csvs = sorted(sweep_dir.glob("*/metrics.csv"))
    stamps = [p.stat().st_mtime_ns for p in csvs]

    assert sorted(p.parent.name for p in csvs) == sorted(f"model.d_embed={d},seed={s}" for d in (8, 16) for s in (0, 1))

    grown = [a if a != "seed=0,1" else "seed=0,1,2" for a in sweep]  # one more seed: two more cells
    again = cli(*grown, cwd=tmp_path)
    assert again.returncode == 0 and again.stderr.count("skipped") == 4, again.stderr
    assert f"sweep {sweep_dir}: 6 completed, 0 failed, 0 diverged" in again.stderr
    assert [p.stat().st_mtime_ns for p in csvs] == stamps  # the finished cells were not trained again
    same = cli(*sweep, cwd=tmp_path)  # the first grid again: its 4 jobs are counted, not the 6 dirs
    assert f"sweep {sweep_dir}: 4 completed, 0 failed, 0 diverged" in same.stderr

    from grokscope.analysis.collect import aggregate, collect
    from grokscope.cli.analyze import main

    runs = collect([sweep_dir])
    assert len(runs) == 6 and set(runs["status"]) == {"completed"}
    assert {"seed", "model.d_embed", "test/acc", "grok_epoch/test"} <= set(runs.columns)
    assert "task.p" not in runs.columns  # only the values that vary
    table = aggregate(runs)
    assert sorted(table["model.d_embed"]) == [8, 16] and set(table["test/acc:n"]) == {3}
    mean = runs[runs["model.d_embed"] == 8]["test/acc"].mean()
    assert abs(table.loc[table["model.d_embed"] == 8, "test/acc:mean"].item() - mean) < 1e-12
    main(["collect", str(sweep_dir), "--plot", "test/acc", "--x", "model.d_embed"])
    assert (sweep_dir / "runs.csv").exists() and (sweep_dir / "runs_by_setting.csv").exists()
    assert (sweep_dir / "test_acc_vs_model.d_embed.png").stat().st_size > 0

    csvs[0].parent.joinpath("summary.json").write_text("{not json")
    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    runs = collect([sweep_dir, tmp_path / "empty"])
    err = capsys.readouterr().err
    assert len(runs) == 5 and "summary.json" in err and str(tmp_path / "empty") in err


def test_submitit_local_sweep(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = cli("-m", *SMALL, "max_epochs=20", f"hydra.sweep.dir={sweep_dir}", "seed=0,1",
               "hydra/launcher=submitit_local", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summaries = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/summary.json"))]
    assert [s["status"] for s in summaries] == ["completed", "completed"]
    assert all((p.parent / "checkpoints" / "epoch=20.ckpt").exists() for p in sweep_dir.glob("*/summary.json"))


def test_the_wandb_group_of_a_sweep_is_its_dir_never_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sweep_group("multirun/2026-11-26/12-00-00") == "multirun/2026-11-26/12-00-00"
    assert sweep_group(str(tmp_path / "sweeps" / "lr_grid")) == "sweeps/lr_grid"
    assert sweep_group("/elsewhere/sweeps/lr_grid") == "lr_grid"
