"""The run lifecycle under interruption: kills at every file write, pre-emption, bad checkpoints, changed
configs, a busy dir, WandB on resume, file modes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from grokscope.config import ConfigError
from grokscope.run import Job, RunDir, execute
from grokscope.run.wandb_offline import read_offline_run
from grokscope.training import outputs
from grokscope.training.callbacks import RunCallback
from grokscope.training.outputs import load_arrays
from tests.helpers.cli import cli
from tests.helpers.config import make_config
from tests.helpers.runs import final_checkpoint, interrupted_after_checkpoint, run_killed_after, train

#: tiny_modular made smaller still: every test here replays a run many times
TINY = ("experiment=tiny_modular", "task.p=11", "model.d_embed=8", "model.hidden=[16]",
        "metrics.progress.enabled=false", "logger=csv", "progress_bar=false")
ENSEMBLE = (*TINY, "metrics=none", "plots=false", "ensemble.size=3")  # the single run's test covers plots
#: summary keys that describe the attempt, not the result
ATTEMPT_KEYS = ("wall_time_s", "resumed_from_epoch")


def result(summary: dict) -> dict:
    """A summary without what describes the attempt or where it ran; an ensemble's members by name."""
    out = {k: v for k, v in summary.items() if k not in ATTEMPT_KEYS}
    if "members" in out:
        out["members"] = [Path(m).name for m in out["members"]]
    if "ensemble" in out:
        out["ensemble"] = {k: v for k, v in out["ensemble"].items() if k != "dir"}
    return out


def dir_state(path: Path) -> dict:
    """Every file under ``path`` (but the lock, which names its last holder) with its bytes and mtime."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def assert_same_results(run_dir: Path, reference: Path) -> None:
    """Same metrics.csv, arrays, final weights, summary (attempt keys aside) and marker; no temp files."""
    a, b = RunDir(run_dir), RunDir(reference)
    assert a.metrics_csv.read_text() == b.metrics_csv.read_text()
    assert sorted(p.name for p in a.arrays.glob("*")) == sorted(p.name for p in b.arrays.glob("*"))
    for path in b.arrays.glob("*.npz"):
        mine = load_arrays(a.arrays / path.name)
        for key, value in load_arrays(path).items():
            np.testing.assert_array_equal(mine[key], value)
    mine, theirs = final_checkpoint(run_dir), final_checkpoint(reference)
    assert mine["epoch"] == theirs["epoch"]
    assert all(torch.equal(mine["model"][k], v) for k, v in theirs["model"].items())
    assert result(a.summary()) == result(b.summary())
    assert a.finished() == b.finished() and a.finished()["status"] == "completed"
    assert not [p for p in run_dir.rglob(f".*{outputs.TEMP_MARK}*") if "wandb" not in p.parts]




def written_paths(monkeypatch, cfg, run_dir: Path) -> tuple[dict, list[Path]]:
    """Run ``cfg`` uninterrupted; its summary and the paths of its durable writes, in order."""
    paths: list[Path] = []
    count = outputs._after_write
    monkeypatch.setattr(outputs, "_after_write", lambda path: (paths.append(path), count(path)))
    summary = execute(cfg, run_dir)
    monkeypatch.undo()
    return summary, paths


def assert_kills_recover(tmp_path, cfg, whole: dict, kill_points) -> None:
    """For each kill point k: killed right after its k-th write, then the same command; the result is the
    uninterrupted run's."""
    for k in kill_points:
        run_dir = tmp_path / f"killed_{k}"
        run_killed_after(k, cfg, run_dir)
        rerun = execute(cfg, run_dir)
        assert result(rerun) == result(whole), k
        for member, reference in zip(rerun.get("members", [run_dir]), whole.get("members", [tmp_path / "whole"])):
            assert_same_results(Path(member), Path(reference))


def test_a_kill_at_every_write_of_a_run_then_the_same_command_gives_the_uninterrupted_run(tmp_path, monkeypatch):
    cfg = make_config(*TINY)
    whole, paths = written_paths(monkeypatch, cfg, tmp_path / "whole")
    assert [p.name for p in paths[-2:]] == ["summary.json", "finished.json"]
    assert {"epoch=20.ckpt", "epoch=40.ckpt", "fourier.npz", "metrics.csv"} <= {p.name for p in paths}
    assert_kills_recover(tmp_path, cfg, whole, range(1, len(paths)))


def test_a_kill_at_every_write_of_an_ensemble_then_the_same_command_gives_the_uninterrupted_ensemble(
        tmp_path, monkeypatch):
    """Between the members' checkpoints of a set, their markers and the ensemble's summary included."""
    cfg = make_config(*ENSEMBLE)
    whole, paths = written_paths(monkeypatch, cfg, tmp_path / "whole")
    assert len([p for p in paths if p.name.endswith(".ckpt")]) == 6  # two sets of three members
    assert paths[-2:] == [tmp_path / "whole" / "summary.json", tmp_path / "whole" / "finished.json"]
    assert_kills_recover(tmp_path, cfg, whole, range(1, len(paths)))


def test_a_truncated_checkpoint_falls_back_to_the_older_set(tmp_path, capsys):
    whole = train(tmp_path / "whole", *TINY)
    train(tmp_path / "run", *TINY, "max_epochs=20")
    train(tmp_path / "run", *TINY, "max_epochs=30")  # extended: checkpoints at 20 and 30
    RunDir(tmp_path / "run").reopen()
    newest = RunDir(tmp_path / "run").checkpoint(30)
    newest.write_bytes(newest.read_bytes()[:1000])
    capsys.readouterr()
    summary = train(tmp_path / "run", *TINY)
    err = [line for line in capsys.readouterr().err.splitlines() if "epoch=30.ckpt" in line]
    assert len(err) == 1 and "falling back to epoch 20" in err[0]
    assert summary["resumed_from_epoch"] == 20 and (newest.parent / "epoch=30.ckpt.bad").exists()
    assert final_checkpoint(tmp_path / "run")["epoch"] == 40
    assert all(torch.equal(final_checkpoint(tmp_path / "run")["model"][k], v)
               for k, v in final_checkpoint(tmp_path / "whole")["model"].items())
    assert summary["final"] == whole["final"]


class Payload:
    """A pickle that would create a file when unpickled by ``torch.load(weights_only=False)``."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_a_crafted_checkpoint_executes_nothing(tmp_path, capsys):
    run_dir, marker = tmp_path / "run", tmp_path / "pwned"
    train(run_dir, *TINY, "max_epochs=20")
    RunDir(run_dir).reopen()
    torch.save({"epoch": 20, "model": Payload(str(marker))}, RunDir(run_dir).checkpoint(20))
    summary = train(run_dir, *TINY)
    assert not marker.exists()
    assert "epoch=20.ckpt" in capsys.readouterr().err and summary["resumed_from_epoch"] is None
    rd = RunDir(run_dir)
    rd.reopen()
    for epoch in rd.checkpoint_epochs():
        torch.save({"epoch": epoch, "model": Payload(str(marker))}, rd.checkpoint(epoch))
    with pytest.raises(ConfigError) as err:  # resume=true insists on a loadable one
        train(run_dir, *TINY, "max_epochs=60", "resume=true")
    assert err.value.key == "resume" and "\n" not in str(err.value) and not marker.exists()


def test_a_changed_config_is_refused_and_the_dir_is_unchanged(tmp_path):
    train(tmp_path, *TINY)
    before = dir_state(tmp_path)
    for change in (("task.p=13",), ("optimizer.lr=0.01", "max_epochs=80")):
        with pytest.raises(ConfigError) as err:
            train(tmp_path, *TINY, *change)
        key = change[0].split("=")[0]
        assert err.value.key == key and "\n" not in str(err.value) and str(tmp_path) in str(err.value)
        assert dir_state(tmp_path) == before


def test_a_config_mistake_writes_nothing_in_a_single_run_and_a_failed_summary_in_a_sweep(tmp_path):
    with pytest.raises(ConfigError) as err:
        execute(make_config(*TINY, "task.frac_train=1.5"), tmp_path / "run")
    assert err.value.key == "task.frac_train" and not (tmp_path / "run").exists()
    with pytest.raises(ConfigError):
        execute(make_config(*TINY, "task.frac_train=1.5"), tmp_path / "job", Job(multirun=True))
    assert RunDir(tmp_path / "job").summary()["status"] == "failed" and not RunDir(tmp_path / "job").finished()


def test_extending_max_epochs_continues_a_completed_run(tmp_path):
    first = train(tmp_path / "run", *TINY, "max_epochs=20")
    straight = train(tmp_path / "straight", *TINY)
    again = train(tmp_path / "run", *TINY, "max_epochs=20")  # finished: nothing to do
    assert again == first
    extended = train(tmp_path / "run", *TINY)
    assert extended["resumed_from_epoch"] == 20 and extended["epochs"] == 40 and extended["status"] == "completed"
    assert all(torch.equal(final_checkpoint(tmp_path / "run")["model"][k], v)
               for k, v in final_checkpoint(tmp_path / "straight")["model"].items())
    assert extended["final"] == straight["final"]


def test_a_second_process_on_a_dir_in_use_is_refused(tmp_path):
    with RunDir(tmp_path).lock():
        proc = cli(*TINY, f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("grokscope-train: error: ")
    assert f"in use by another process (pid {os.getpid()}" in lines[0]
    assert not (tmp_path / "summary.json").exists() and not (tmp_path / ".hydra").exists()


def test_a_joblib_worker_whose_sweep_process_died_stops(tmp_path):
    """A worker watches its parent: when the sweep process is killed, the worker's run stops as on SIGTERM."""
    ready, stopped = tmp_path / "ready", tmp_path / "stopped"
    worker = (f"import pathlib, time\nfrom grokscope.run.preempt import StopSignals\n"
              f"with StopSignals(watch_parent=True) as stop:\n"
              f"    pathlib.Path({str(ready)!r}).touch()\n"
              f"    for _ in range(600):\n"
              f"        if stop.requested():\n"
              f"            pathlib.Path({str(stopped)!r}).write_text(str(stop.signum))\n"
              f"            break\n"
              f"        time.sleep(0.05)\n")
    sweep = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {worker!r}]); time.sleep(120)"
    parent = subprocess.Popen([sys.executable, "-c", sweep])
    deadline = time.time() + 60
    while not ready.exists() and time.time() < deadline:
        time.sleep(0.05)
    parent.kill()
    parent.wait()
    while not stopped.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert stopped.read_text() == str(int(signal.SIGTERM))


def test_sigterm_checkpoints_and_the_rerun_equals_the_uninterrupted_run(tmp_path):
    args = [*TINY, "max_epochs=1000", "checkpoint_every_n_epochs=100", "steps_per_call=10", "metrics=none",
            "log_every_n_epochs=50"]
    whole = train(tmp_path / "whole", *args)
    run_dir = tmp_path / "stopped"
    cmd = [sys.executable, "-m", "grokscope.cli.train", *args, "plots=false", f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not RunDir(run_dir).checkpoint_epochs() and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    stopped_at = RunDir(run_dir).checkpoint_epochs()[0]
    assert f"stopped by SIGTERM at epoch {stopped_at};" in stderr and 100 <= stopped_at < 1000
    assert not (run_dir / "finished.json").exists()
    summary = train(run_dir, *args)
    assert summary["resumed_from_epoch"] == stopped_at
    assert result(summary) == result(whole)
    assert_same_results(run_dir, tmp_path / "whole")


def test_a_resumed_run_logs_no_epoch_twice_to_wandb(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    overrides = [o for o in TINY if o != "logger=csv"]
    record = RunCallback.record

    class Interrupted(Exception):
        pass

    def record_then_stop(self, module, e):
        record(self, module, e)
        if module.epoch == 30:  # logged up to 30; the newest checkpoint is at 20
            raise Interrupted

    monkeypatch.setattr(RunCallback, "record", record_then_stop)
    with pytest.raises(Interrupted):
        train(tmp_path, *overrides, "logger=default")
    monkeypatch.undo()
    monkeypatch.setenv("WANDB_MODE", "offline")
    summary = train(tmp_path, *overrides, "logger=default")
    assert summary["resumed_from_epoch"] == 20
    attempts = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(attempts) == 2
    epochs = [row["epoch"] for a in attempts for row in read_offline_run(a)["history"]]
    assert epochs == [0, 10, 20, 30, 40]
    assert read_offline_run(attempts[1])["summary"]["status"] == "completed"


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        train(tmp_path, *TINY, "max_epochs=20", "plots=true")
    finally:
        os.umask(old)
    for name in ("summary.json", "metrics.csv", "finished.json", "arrays/fourier.npz", "checkpoints/epoch=20.ckpt",
                 "plots/curves.png", ".hydra/config.yaml"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    json.loads((tmp_path / "summary.json").read_text())


@pytest.mark.gpu
def test_a_cuda_run_resumed_from_its_checkpoint_equals_the_run_trained_straight_through(tmp_path, monkeypatch):
    """On CUDA: the checkpoint holds the CUDA RNG states and the fused AdamW state, and loads onto the CPU
    (``weights_only``); the resumed run ends where the straight run does."""
    args = (*TINY, "device=cuda", "batch_size=16", "max_epochs=60", "metrics.every_n_epochs=30")
    straight = train(tmp_path / "straight", *args)
    interrupted_after_checkpoint(monkeypatch, 20, *args, run_dir=tmp_path / "resumed")
    state = final_checkpoint(tmp_path / "resumed")
    assert state["epoch"] == 20 and state["rng"]["cuda"] and state["model"]["W_E"].device.type == "cpu"
    resumed = train(tmp_path / "resumed", *args)
    assert resumed["resumed_from_epoch"] == 20 and resumed["device"] == "cuda"
    for key, value in final_checkpoint(tmp_path / "straight")["model"].items():
        torch.testing.assert_close(final_checkpoint(tmp_path / "resumed")["model"][key], value, rtol=1e-5, atol=1e-6)
    assert resumed["final"]["train/loss"] == pytest.approx(straight["final"]["train/loss"], rel=1e-5)


def test_a_key_added_later_with_a_null_default_keeps_old_run_dirs_resumable():
    from grokscope.run.fingerprint import differing_keys

    recorded = {"seed": 0, "ensemble": {"size": 1}, "max_epochs": 10}
    assert differing_keys(recorded, {**recorded, "ensemble": {"size": 1, "lr": None}, "max_epochs": 20}) == []
    assert differing_keys(recorded, {**recorded, "ensemble": {"size": 1, "lr": [0.1]}}) == ["ensemble.lr"]
    assert differing_keys(recorded, {**recorded, "seed": 1}) == ["seed"]


def test_a_run_dir_recorded_before_the_loss_stop_and_new_families_resumes_under_their_defaults():
    from grokscope.run.fingerprint import differing_keys

    recorded = {"seed": 0, "optimizer": {"lr": 1e-3}, "metrics": {"weights": {"enabled": "auto"}}}
    now = {**recorded, "loss": {"kind": "cross_entropy"}, "stop": {"event": "none", "after_epochs": 0},
           "optimizer": {"lr": 1e-3, "orthogonal": False},
           "metrics": {"weights": {"enabled": "auto"}, "stability": {"enabled": "auto"},
                       "llc": {"enabled": "false", "chains": 2}}}
    assert differing_keys(recorded, now) == []
    assert differing_keys(recorded, {**now, "loss": {"kind": "stablemax"}}) == ["loss.kind"]
    assert differing_keys(recorded, {**now, "optimizer": {"lr": 1e-3, "orthogonal": True}}) == ["optimizer.orthogonal"]
    asked = {**now, "metrics": {**now["metrics"], "llc": {"enabled": "true", "chains": 2}}}
    assert differing_keys(recorded, asked) == ["metrics.llc.chains", "metrics.llc.enabled"]
    assert differing_keys(now, {**now, "stop": {"event": "test_acc", "after_epochs": 10}}) == []  # when it ends


def test_a_run_recorded_before_the_ensemble_lr_key_loads(tmp_path):
    import yaml

    from grokscope import load_run

    train(tmp_path, "max_epochs=20", "checkpoint_every_n_epochs=20")
    path = tmp_path / ".hydra" / "config.yaml"
    recorded = yaml.safe_load(path.read_text())
    for key in ("lr", "member_dirs"):
        del recorded["ensemble"][key]
    path.write_text(yaml.safe_dump(recorded))
    run = load_run(tmp_path)
    assert run.config.run.ensemble.lr is None and run.model(20) is not None
