"""Faults and bad inputs: each ends in one line naming the key or the file and what is allowed (exit 2 on the
command line), refused before the run dir is made, with nothing already written lost or overwritten.

Most cases run ``grokscope-train``'s entry point in this process (:func:`train_cli`, as the command does, about
2 s each); one runs it as a child process; faults that need a real kill fork or start processes."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from grokscope import load_run
from grokscope.cli.checks import check_launch
from grokscope.config import ConfigError
from grokscope.run import Job, RunDir, execute, preempt
from grokscope.run.wandb_offline import offline_run_id, read_offline_run
from grokscope.training import outputs
from tests.helpers.cli import cli
from tests.helpers.config import assert_config_error, make_config
from tests.helpers.runs import run_killed_after, train

#: a run of a few seconds (tests/test_lifecycle.py's)
TINY = ("experiment=tiny_modular", "task.p=11", "model.d_embed=8", "model.hidden=[16]",
        "metrics.progress.enabled=false", "logger=csv", "progress_bar=false")
SHORT = (*TINY, "max_epochs=20", "plots=false")


def train_cli(monkeypatch, capsys, cwd: Path, *args: str) -> tuple[int, str, str]:
    """``grokscope-train args`` in this process, in ``cwd``: ``(exit status, stdout, stderr)``."""
    from grokscope.cli.train import main

    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["grokscope-train", *args])
    for name in ("HYDRA_FULL_ERROR", "GROKSCOPE_SWEEP_PID"):  # main sets them: undone after the test
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, err: str, key: str) -> str:
    """Exit 2 and one line on stderr naming ``key``; the line."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("grokscope-train: error: ") and key in lines[0], lines[0]
    return lines[0]


def dir_state(path: Path) -> dict:
    """Every file under ``path`` (but the lock, which names its last holder) with its bytes and mtime."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished 20-epoch run (checkpoint at 20, metrics.csv, arrays), copied by the tests that damage it."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    train(run_dir, *SHORT, "checkpoint_every_n_epochs=10")
    return run_dir


def copy_of(run_dir: Path, tmp_path: Path) -> Path:
    shutil.copytree(run_dir, tmp_path / "run")
    return tmp_path / "run"


# --- values that were accepted silently or ended in a traceback: refused by the config check -------------------

@pytest.mark.parametrize(("key", "overrides"), [
    ("optimizer.lr", ["optimizer.lr=inf"]),
    ("optimizer.lr", ["optimizer.lr=nan"]),
    ("optimizer.weight_decay", ["optimizer.weight_decay=inf"]),
    ("optimizer.nesterov", ["optimizer=sgd", "optimizer.nesterov=true", "optimizer.momentum=0"]),
    ("task.separate_operand_vocab", ["task.separate_operand_vocab=2"]),
    ("progress_bar", ["progress_bar=yes"]),
])
def test_a_bad_value_is_refused_naming_its_key(key, overrides):
    assert_config_error(key, *overrides)


def test_nesterov_with_momentum_is_accepted():
    from grokscope.run.config import validate

    config = validate(make_config("optimizer=sgd", "optimizer.nesterov=true", "optimizer.momentum=0.9"))
    assert config.optimizer.nesterov


@pytest.mark.parametrize(("key", "argv"), [
    ("seed", ["-m", "seed=range(0)"]),
    ("intervention", ["intervention=[ablate,ablate]"]),
    ("intervention", ["intervention=[ablate,noise,ablate]"]),
])
def test_launch_mistakes_are_refused_before_hydra(key, argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        check_launch(argv)
    assert err.value.key == key and "\n" not in str(err.value)


def unwritable_dir(tmp_path: Path) -> Path:
    """A directory in which nothing can be made: a read-only one, or for root (whom permission bits do not stop)
    one under /proc."""
    if os.geteuid() == 0:
        return Path("/proc/grokscope-test")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    return locked / "dir"


@pytest.mark.parametrize(("key", "argv"), [
    ("hydra.run.dir", ["hydra.run.dir={dir}/run"]),
    ("hydra.sweep.dir", ["-m", "seed=0,1", "hydra.sweep.dir={dir}/sweep"]),
])
def test_an_unwritable_run_or_sweep_dir_is_refused(key, argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    directory = unwritable_dir(tmp_path)
    with pytest.raises(ConfigError) as err:
        check_launch([arg.format(dir=directory) for arg in argv])
    assert err.value.key == key and "not writable" in err.value.allowed


# --- refusals that came after the run dir was made: now before it ----------------------------------------------

REFUSED_BEFORE_THE_DIR = [
    ("resume", ["resume=true"]),
    ("group", ["group=symmetric", "group.n=4"]),
    ("intervention.ablate.freqs", ["intervention=ablate", "intervention.ablate.freqs=[50]"]),
    ("intervention.ablate.irreps", ["intervention=ablate", "intervention.ablate.freqs=null",
                                    "intervention.ablate.irreps=[standard]"]),
    ("intervention.noise.param", ["intervention=noise", "intervention.noise.param=W_X"]),
    ("compile", ["ensemble.size=2", "compile=true"]),
    ("logger.wandb.mode", ["logger=default", "logger.wandb.mode=online"]),
    ("optimizer.nesterov", ["optimizer=sgd", "optimizer.nesterov=true", "optimizer.momentum=0"]),
    ("seed", ["-m", "seed=range(0)"]),
    ("intervention", ["intervention=[ablate,ablate]"]),
    ("hydra.run.dir", ["hydra.run.dir={unwritable}/run"]),
]
if not torch.cuda.is_available():
    REFUSED_BEFORE_THE_DIR.append(("device", ["device=cuda"]))


@pytest.mark.parametrize(("key", "overrides"), REFUSED_BEFORE_THE_DIR)
def test_a_refused_command_writes_nothing(key, overrides, tmp_path, monkeypatch, capsys):
    """Exit 2, one line naming the key, and no run dir, no empty ``outputs/<date>/`` and no ``multirun/``."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # no WandB login on this machine
    work = tmp_path / "work"
    work.mkdir()
    args = [o.format(unwritable=unwritable_dir(tmp_path)) for o in overrides]
    flags = [a for a in args if a.startswith("-")]
    code, out, err = train_cli(monkeypatch, capsys, work, *flags, *SHORT, *[a for a in args if a not in flags])
    assert_refused(code, err, key)
    assert "run dir:" not in out
    assert list(work.iterdir()) == []


def test_a_refused_command_keeps_an_existing_parent_dir(tmp_path, monkeypatch, capsys):
    parent = tmp_path / "mine"
    parent.mkdir()
    code, _, err = train_cli(monkeypatch, capsys, tmp_path, *SHORT, "resume=true", f"hydra.run.dir={parent}/run")
    assert_refused(code, err, "resume")
    assert parent.is_dir() and list(parent.iterdir()) == []


@pytest.mark.slow
def test_a_refusal_in_a_child_process_writes_nothing(tmp_path):
    """The command as a user runs it: exit 2, one line, nothing written."""
    proc = cli(*SHORT, "resume=true", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "resume" in lines[0], proc.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(("key", "overrides"), [(k, o) for k, o in REFUSED_BEFORE_THE_DIR[:7]])
def test_execute_refuses_before_touching_the_dir(key, overrides, tmp_path, monkeypatch):
    """The same refusals from Python (:func:`grokscope.run.execute`): the dir is not made."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    with pytest.raises(ConfigError) as err:
        execute(make_config(*SHORT, *overrides), tmp_path / "run", Job(overrides=tuple(overrides)))
    assert err.value.key == key and "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_a_refused_sweep_job_is_recorded_as_failed(tmp_path):
    with pytest.raises(ConfigError):
        execute(make_config(*SHORT, "intervention=noise", "intervention.noise.param=W_X"), tmp_path / "job",
                Job(multirun=True))
    assert RunDir(tmp_path / "job").summary()["status"] == "failed"


# --- the config fingerprint: a recorded config that does not read ---------------------------------------------

@pytest.mark.parametrize("recorded", ["- a\n- list\n", "seed: [unclosed\n", ""])
@pytest.mark.parametrize("change", [(), ("optimizer.lr=0.01",)])
def test_a_dir_whose_recorded_config_does_not_read_is_not_resumed(recorded, change, finished_run, tmp_path,
                                                                  monkeypatch, capsys):
    run_dir = copy_of(finished_run, tmp_path)
    RunDir(run_dir).reopen()  # interrupted: checkpoints, no marker
    (run_dir / ".hydra" / "config.yaml").write_text(recorded)
    before = dir_state(run_dir)
    code, _, err = train_cli(monkeypatch, capsys, tmp_path, *SHORT, *change, f"hydra.run.dir={run_dir}")
    line = assert_refused(code, err, str(run_dir / ".hydra" / "config.yaml"))
    assert "resume=false" in line
    assert dir_state(run_dir) == before


def test_a_finished_dir_whose_recorded_config_does_not_read_is_not_reported_done(finished_run, tmp_path,
                                                                                 monkeypatch, capsys):
    run_dir = copy_of(finished_run, tmp_path)
    (run_dir / ".hydra" / "config.yaml").write_text("- a\n- list\n")
    before = dir_state(run_dir)
    code, _, err = train_cli(monkeypatch, capsys, tmp_path, *SHORT, f"hydra.run.dir={run_dir}")
    assert_refused(code, err, "config.yaml")
    assert "same config" not in err and dir_state(run_dir) == before


# --- a finished dir whose summary is missing or corrupt --------------------------------------------------------

@pytest.mark.parametrize("damage", ["remove", "corrupt", "list"])
def test_a_finished_dir_without_a_readable_summary_is_refused_and_finalised_again(damage, finished_run, tmp_path,
                                                                                 monkeypatch, capsys):
    run_dir = copy_of(finished_run, tmp_path)
    summary = RunDir(run_dir).summary()
    path = run_dir / "summary.json"
    {"remove": path.unlink, "corrupt": lambda: path.write_text('{"status": "comp'),
     "list": lambda: path.write_text("[1, 2]")}[damage]()
    before = dir_state(run_dir)
    code, _, err = train_cli(monkeypatch, capsys, tmp_path, *SHORT, f"hydra.run.dir={run_dir}")
    line = assert_refused(code, err, str(path))
    assert "finished.json" in line and dir_state(run_dir) == before
    (run_dir / "finished.json").unlink()  # what the line says to do: finalised again from the last checkpoint
    again = train(run_dir, *SHORT)
    assert again["final"] == summary["final"] and again["grok_epochs"] == summary["grok_epochs"]


# --- an empty wandb_id -------------------------------------------------------------------------------------------

def test_an_empty_wandb_id_is_recovered_from_the_dirs_wandb_runs(tmp_path):
    rd = RunDir(tmp_path)
    (tmp_path / "wandb_id").write_text("")
    (tmp_path / "wandb" / "offline-run-20260101_120000-ab12cd34").mkdir(parents=True)
    assert rd.wandb_id() == "ab12cd34" and (tmp_path / "wandb_id").read_text() == "ab12cd34"
    assert rd.wandb_id() == "ab12cd34"


def test_an_empty_wandb_id_without_wandb_runs_gets_a_new_id(tmp_path):
    (tmp_path / "wandb_id").write_text("  \n")
    run_id = RunDir(tmp_path).wandb_id()
    assert run_id.strip() and (tmp_path / "wandb_id").read_text() == run_id


def test_an_empty_wandb_id_beside_runs_of_several_ids_is_refused_naming_the_file(tmp_path):
    (tmp_path / "wandb_id").write_text("")
    for run_id in ("aaaa1111", "bbbb2222"):
        (tmp_path / "wandb" / f"offline-run-20260101_120000-{run_id}").mkdir(parents=True)
    with pytest.raises(ConfigError) as err:
        RunDir(tmp_path).wandb_id()
    assert err.value.key == str(tmp_path / "wandb_id") and "aaaa1111" in err.value.allowed
    assert (tmp_path / "wandb_id").read_text() == ""


# --- load_run on corrupt files -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "attribute"), [
    ("metrics.csv", b"epoch,train/loss\n1,\"unclosed\n", "history"),
    ("metrics.csv", b"\x00\xff\xfe garbage", "history"),
    ("metrics.csv", b"", "history"),
    ("arrays/fourier.npz", b"PK\x03\x04 truncated", "arrays"),
    ("arrays/fourier.npz", b"", "arrays"),
])
def test_load_run_names_a_corrupt_file(name, content, attribute, finished_run, tmp_path):
    run_dir = copy_of(finished_run, tmp_path)
    (run_dir / name).write_bytes(content)
    with pytest.raises(ConfigError) as err:
        getattr(load_run(run_dir), attribute)
    assert err.value.key == str(run_dir / name) and "\n" not in str(err.value)


def test_load_run_reads_intact_files(finished_run):
    run = load_run(finished_run)
    assert list(run.history["epoch"])[-1] == 20 and "W_E_power" in run.arrays["fourier"]


# --- a full disk --------------------------------------------------------------------------------------------------

class FullDisk:
    """``os`` for :mod:`grokscope.training.outputs`, whose ``fsync`` fails with ENOSPC from its ``after``-th call."""

    def __init__(self, after: int):
        self.calls, self.after = 0, after

    def __getattr__(self, name):
        return getattr(os, name)

    def fsync(self, fd):
        self.calls += 1
        if self.calls >= self.after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.fsync(fd)


@pytest.mark.parametrize("after", [1, 6])
def test_a_full_disk_names_the_file_and_the_rerun_continues(after, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    monkeypatch.setattr(outputs, "os", FullDisk(after))
    code, _, err = train_cli(monkeypatch, capsys, tmp_path, *SHORT, f"hydra.run.dir={run_dir}")
    line = assert_refused(code, err, "No space left on device")
    written = line.split("grokscope-train: error: ", 1)[1].split(": could not be written", 1)[0]
    assert written.startswith(str(run_dir)), line
    monkeypatch.setattr(outputs, "os", os)
    reference = train(tmp_path / "reference", *SHORT)
    assert train(run_dir, *SHORT)["final"] == reference["final"]


# --- grokscope-reproduce --report-only ----------------------------------------------------------------------------

def test_report_only_without_runs_is_refused_and_writes_nothing(tmp_path, capsys):
    from grokscope.cli.reproduce import main

    runs, out = tmp_path / "runs", tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main(["nanda_2023", "--scale", "tiny", "--report-only", "--runs", str(runs), "--out", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(lines) == 1 and "--runs" in lines[0], lines
    assert not runs.exists() and not any(tmp_path.rglob("*.json"))


def test_report_only_with_unwritable_runs_is_refused(tmp_path, capsys):
    from grokscope.cli.reproduce import main

    with pytest.raises(SystemExit) as exit_:
        main(["nanda_2023", "--scale", "tiny", "--runs", str(unwritable_dir(tmp_path)), "--out", str(tmp_path)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(lines) == 1 and "--runs" in lines[0], lines


# --- W&B on resume: what its files lack is sent again, the min/max summaries cover every attempt ----------------

WANDB = tuple(o for o in TINY if o != "logger=csv") + ("logger=default", "plots=false")


def wandb_record(run_dir: Path) -> tuple[list[dict], dict]:
    """The scalar rows of every attempt, by epoch (media reduced to their keys), and the last attempt's
    min/max summaries, read back with :func:`read_offline_run`."""
    attempts = sorted((run_dir / "wandb").glob("offline-run-*"), key=lambda p: p.stat().st_mtime_ns)
    rows: dict[int, dict] = {}
    for attempt in attempts:
        for row in read_offline_run(attempt)["history"]:
            rows.setdefault(row["epoch"], {k: (v if not k.startswith("media/") else "image")
                                           for k, v in row.items() if not k.startswith("_")})
    summary = read_offline_run(attempts[-1])["summary"]
    extrema = {k: v for k, v in summary.items() if k.endswith(("/loss", "/acc")) and isinstance(v, dict)}
    return [rows[e] for e in sorted(rows)], extrema




@pytest.fixture(scope="module")
def wandb_whole(tmp_path_factory):
    """An uninterrupted WandB run, its writes and its record."""
    os.environ["WANDB_MODE"] = "offline"
    run_dir = tmp_path_factory.mktemp("wandb") / "whole"
    paths: list[Path] = []
    count = outputs._after_write
    outputs._after_write = lambda path: (paths.append(path), count(path))
    try:
        execute(make_config(*WANDB), run_dir)
    finally:
        outputs._after_write = count
    return paths, wandb_record(run_dir)


def assert_wandb_kill_recovers(tmp_path, kill_at: int, whole) -> None:
    cfg = make_config(*WANDB)
    run_dir = tmp_path / f"killed_{kill_at}"
    run_killed_after(kill_at, cfg, run_dir, wandb_unsent=True)
    execute(cfg, run_dir)
    rows, extrema = wandb_record(run_dir)
    assert rows == whole[0], kill_at
    assert extrema == whole[1], kill_at


def test_wandb_after_a_kill_at_a_checkpoint_equals_the_uninterrupted_run(wandb_whole, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    paths, whole = wandb_whole
    assert [r["epoch"] for r in whole[0]] == [0, 10, 20, 30, 40] and "test/loss" in whole[1]
    first_checkpoint = next(i for i, p in enumerate(paths, 1) if p.name == "epoch=20.ckpt")
    assert_wandb_kill_recovers(tmp_path, first_checkpoint, whole)


def test_wandb_min_max_summaries_cover_the_rows_of_earlier_attempts(wandb_whole, tmp_path, monkeypatch):
    """Stopped after logging epoch 30 (checkpoint at 20): the re-run sends only epoch 40, and its min/max
    summaries still cover every epoch."""
    from grokscope.training.callbacks import RunCallback

    monkeypatch.setenv("WANDB_MODE", "offline")
    record = RunCallback.record

    class Stopped(Exception):
        pass

    def record_then_stop(self, module, e):
        record(self, module, e)
        if module.epoch == 30:
            raise Stopped

    with monkeypatch.context() as patch, pytest.raises(Stopped):
        patch.setattr(RunCallback, "record", record_then_stop)
        execute(make_config(*WANDB), tmp_path / "run")
    first = set((tmp_path / "run" / "wandb").glob("offline-run-*"))
    execute(make_config(*WANDB), tmp_path / "run")
    # the re-run's dir is the new one (an mtime order would race the first attempt's writer finishing late)
    (rerun,) = set((tmp_path / "run" / "wandb").glob("offline-run-*")) - first
    assert [row["epoch"] for row in read_offline_run(rerun)["history"]] == [40]
    assert wandb_record(tmp_path / "run") == wandb_whole[1]


@pytest.mark.slow
def test_wandb_after_a_kill_at_every_write_equals_the_uninterrupted_run(wandb_whole, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    paths, whole = wandb_whole
    for kill_at in range(1, len(paths)):
        assert_wandb_kill_recovers(tmp_path, kill_at, whole)


@pytest.mark.slow
def test_wandb_of_ensemble_members_after_a_kill_at_each_checkpoint_equals_the_uninterrupted_ensemble(tmp_path,
                                                                                                    monkeypatch):
    """Each member's WandB run (a packed sweep's members are written alike) after a kill at every checkpoint
    file of the ensemble."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = make_config(*WANDB, "metrics=none", "ensemble.size=2")
    paths: list[Path] = []
    count = outputs._after_write
    monkeypatch.setattr(outputs, "_after_write", lambda path: (paths.append(path), count(path)))
    whole = execute(cfg, tmp_path / "whole")
    monkeypatch.undo()
    monkeypatch.setenv("WANDB_MODE", "offline")
    expected = [wandb_record(Path(member)) for member in whole["members"]]
    for kill_at in [i for i, path in enumerate(paths, 1) if path.suffix == ".ckpt"]:
        run_dir = tmp_path / f"killed_{kill_at}"
        run_killed_after(kill_at, cfg, run_dir, wandb_unsent=True)
        again = execute(cfg, run_dir)
        assert [wandb_record(Path(member)) for member in again["members"]] == expected, kill_at


def test_a_resumed_run_with_an_empty_wandb_id_continues_its_wandb_run(wandb_whole, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = make_config(*WANDB)
    run_dir = tmp_path / "run"
    paths, whole = wandb_whole
    at_checkpoint = next(i for i, p in enumerate(paths, 1) if p.name == "epoch=20.ckpt")
    run_killed_after(at_checkpoint, cfg, run_dir, wandb_unsent=True)
    run_id = (run_dir / "wandb_id").read_text()
    (run_dir / "wandb_id").write_text("")
    execute(cfg, run_dir)
    assert (run_dir / "wandb_id").read_text() == run_id
    assert {offline_run_id(p) for p in (run_dir / "wandb").glob("offline-run-*")} == {run_id}
    assert wandb_record(run_dir) == whole


# --- an orphaned joblib worker ------------------------------------------------------------------------------------

#: loads grokscope/run/preempt.py alone (standard library only), without the run package and its torch import
LOAD_PREEMPT = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("preempt", {str(Path(preempt.__file__))!r})
preempt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(preempt)
OrphanGuard = preempt.OrphanGuard
"""
WORKER = LOAD_PREEMPT + """
import os, pathlib, sys, time
guard = OrphanGuard.get()
guard.start_job()
pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
guard.end_job()
pathlib.Path(sys.argv[3]).touch()
time.sleep(120)
"""


def test_a_worker_whose_sweep_process_died_takes_no_further_job(tmp_path):
    """A worker in a job when its sweep process is killed ends when the job ends; an idle one within seconds."""
    started, finish, idle = tmp_path / "started", tmp_path / "finish", tmp_path / "idle"
    sweep = (f"import os, subprocess, sys, time\nos.environ['GROKSCOPE_SWEEP_PID'] = str(os.getpid())\n"
             f"for args in ([{str(started)!r}, {str(finish)!r}, {str(idle)!r}],):\n"
             f"    subprocess.Popen([sys.executable, '-c', {WORKER!r}, *args])\n"
             f"time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, "-c", sweep])
    deadline = time.time() + 120
    while not started.exists() and time.time() < deadline:
        time.sleep(0.05)
    worker = int(started.read_text())
    parent.kill()
    parent.wait()
    finish.touch()  # the job ends after its sweep process died: the worker ends there
    assert wait_gone(worker, 30)
    assert not idle.exists()


def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not Path(f"/proc/{pid}").exists() or "State:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return True
        time.sleep(0.1)
    return False


def test_an_idle_worker_ends_when_its_sweep_process_dies(tmp_path):
    ready = tmp_path / "ready"
    worker = (f"{LOAD_PREEMPT}\nimport os, pathlib, time\n"
              f"OrphanGuard.get()\npathlib.Path({str(ready)!r}).write_text(str(os.getpid()))\ntime.sleep(120)\n")
    sweep = (f"import os, subprocess, sys, time\nos.environ['GROKSCOPE_SWEEP_PID'] = str(os.getpid())\n"
             f"subprocess.Popen([sys.executable, '-c', {worker!r}])\ntime.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, "-c", sweep])
    deadline = time.time() + 120
    while not ready.exists() and time.time() < deadline:
        time.sleep(0.05)
    pid = int(ready.read_text())
    parent.kill()
    parent.wait()
    assert wait_gone(pid, 30)


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment holds ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes() and "State:\tZ" not in (proc / "status").read_text():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_a_joblib_sweep_whose_main_process_is_killed_leaves_no_process(tmp_path):
    marker = f"GROKSCOPE_TEST_MARK={os.getpid()}_{tmp_path.name}"
    env = {**os.environ, "WANDB_MODE": "offline", marker.split("=")[0]: marker.split("=")[1]}
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [sys.executable, "-m", "grokscope.cli.train", "-m", *TINY, "max_epochs=100000", "metrics=none",
           "checkpoint_every_n_epochs=100", "plots=false", "seed=0,1,2,3,4,5", "hydra/launcher=joblib",
           "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path}/sweep"]
    main = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not list((tmp_path / "sweep").glob("*/checkpoints/*.ckpt")) and time.time() < deadline:
        time.sleep(0.2)
    assert list((tmp_path / "sweep").glob("*/checkpoints/*.ckpt")), "no job started"
    main.kill()
    main.wait()
    deadline = time.time() + 60
    while processes_with(marker) and time.time() < deadline:
        time.sleep(0.5)
    left = processes_with(marker)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left
    started = [p.parent for p in (tmp_path / "sweep").glob("*/.lock")]
    assert len(started) <= 2  # no job was taken after the sweep process died



@pytest.mark.parametrize(("name", "run_id"), [("offline-run-20261207_004600-d14481cb", "d14481cb"),
                                              ("offline-run-20261207_004600-d14481cb-1", "d14481cb"),
                                              ("offline-run-20261207_004600-d14481cb-12", "d14481cb"),
                                              ("run-d14481cb.wandb", None)])
def test_an_attempt_started_within_the_same_second_keeps_its_run_id(name, run_id):
    """WandB suffixes ``-<n>`` to the directory of an attempt started in the same second as an earlier one."""
    assert offline_run_id(Path(name)) == run_id
