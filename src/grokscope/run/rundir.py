"""``RunDir``: the one owner of a run directory's layout, of writing into it and of reading it back.

    <run dir>/
      .hydra/config.yaml  .hydra/overrides.yaml   the resolved config the dir was made with (its fingerprint)
      metrics.csv  summary.json  arrays/*.npz  plots/*.png  snapshots/epoch=<N>.pt
      checkpoints/epoch=<N>.ckpt                   the newest two complete sets (weights_only-loadable)
      wandb/  wandb_id                             the WandB run (offline unless asked) and its id
      members/<i>_<overrides>/                     an ensemble's members, each a complete run dir
      finished.json                                the completion marker, written last: status and epochs
      .lock                                        held (flock) by the process working on the dir

Every file is written through :func:`~grokscope.training.outputs.atomic_write_bytes` (temporary file,
fsync, rename, fsync of the dir); temporary files of a killed process are removed at the next start.
A run is finished (``completed`` or ``diverged``) only when ``finished.json`` is there.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path

import yaml

from grokscope.config import ConfigError
from grokscope.run.wandb_offline import offline_run_id
from grokscope.training.outputs import TEMP_MARK, atomic_write_bytes, write_json

#: env var naming the multirun a job belongs to (set by the sweep report at the start of a multirun).
SWEEP_ID = "GROKSCOPE_SWEEP_ID"
CHECKPOINT = re.compile(r"epoch=(\d+)\.ckpt")
#: what a WandB run id may be (WandB refuses an empty one, and these characters in one)
WANDB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class _Entry:
    """One path of the layout: ``run_dir.<attribute>`` is ``run_dir.path / relative``."""

    def __init__(self, relative: str):
        self.relative = relative

    def __get__(self, run_dir: RunDir | None, owner=None):
        return self if run_dir is None else run_dir.path / self.relative


class RunDir:
    """Paths, durable writes and readers of one run directory (see the module docstring)."""

    summary_path = _Entry("summary.json")
    marker = _Entry("finished.json")
    config_path = _Entry(".hydra/config.yaml")
    overrides_path = _Entry(".hydra/overrides.yaml")
    metrics_csv = _Entry("metrics.csv")
    arrays = _Entry("arrays")
    plots = _Entry("plots")
    snapshots = _Entry("snapshots")
    checkpoints = _Entry("checkpoints")
    wandb = _Entry("wandb")

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch={epoch}.ckpt"

    def member(self, name: str) -> RunDir:
        return RunDir(self.path / "members" / name)

    # readers
    def summary(self, strict: bool = False) -> dict | None:
        """``summary.json``; None when missing, and when unreadable unless ``strict`` (then a
        :class:`ConfigError` naming the file)."""
        return _read(self.summary_path, json.loads, "a JSON object (the run's summary)", strict)

    def config(self, strict: bool = False) -> dict | None:
        """The resolved config recorded in ``.hydra/config.yaml`` (safe loader), as :meth:`summary`."""
        return _read(self.config_path, yaml.safe_load, "a YAML mapping (the run's config)", strict)

    def overrides(self) -> list[str]:
        return _read(self.overrides_path, yaml.safe_load, "a YAML list", kind=list) or []

    def finished(self) -> dict | None:
        """The completion marker (``status``, ``epochs``), or None while the run is not finished."""
        return _read(self.marker, json.loads, "a JSON object")

    def is_completed(self) -> bool:
        return (self.finished() or {}).get("status") == "completed"

    def checkpoint_epochs(self) -> list[int]:
        """Epochs with a checkpoint file, newest first."""
        if not self.checkpoints.is_dir():
            return []
        found = (CHECKPOINT.fullmatch(p.name) for p in self.checkpoints.iterdir())
        return sorted((int(m.group(1)) for m in found if m), reverse=True)

    def has_progress(self) -> bool:
        """Whether the dir holds work a different config must not overwrite: a checkpoint or a finished run."""
        return self.marker.exists() or bool(self.checkpoint_epochs())

    def wandb_id(self) -> str:
        """The WandB run id of this dir: read from ``wandb_id``, or made and written there. A ``wandb_id`` that holds
        no id (empty, or not a WandB id) is rewritten with the id of the offline runs under ``wandb/`` when they name
        one, else with a new one; runs of several ids leave it to the user (a one-line error naming the file)."""
        path = self.path / "wandb_id"
        if path.exists():
            run_id = path.read_text(errors="replace").strip()
            if WANDB_ID.fullmatch(run_id):
                return run_id
            found = sorted({run for p in self.wandb.glob("offline-run-*") if (run := offline_run_id(p))})
            if len(found) > 1:
                raise ConfigError(str(path), run_id, f"must hold the WandB run id of this dir; {self.wandb} holds runs "
                                  f"of several ({', '.join(found)}): write the one to continue into it")
            run_id = found[0] if found else os.urandom(4).hex()
        else:
            run_id = os.urandom(4).hex()
        atomic_write_bytes(path, run_id.encode())
        return run_id

    # writers
    def record_config(self, resolved: dict, overrides: list[str]) -> None:
        """``.hydra/config.yaml`` (resolved) and ``overrides.yaml``: what the dir was made with."""
        atomic_write_bytes(self.config_path, yaml.safe_dump(resolved, sort_keys=False).encode())
        atomic_write_bytes(self.overrides_path, yaml.safe_dump(list(overrides)).encode())

    def finish(self, status: str, epochs: int) -> None:
        """Write the completion marker: the last write of a run."""
        write_json(self.marker, {"status": status, "epochs": epochs})

    def reopen(self) -> None:
        """Make a finished run resumable again (``max_epochs`` extended): marker first, then summary."""
        for path in (self.marker, self.summary_path):
            path.unlink(missing_ok=True)

    def reset(self) -> None:
        """``resume=false``: remove every output of earlier attempts (the recorded config stays)."""
        for name in ("checkpoints", "arrays", "plots", "snapshots", "members", "wandb"):
            shutil.rmtree(self.path / name, ignore_errors=True)
        for path in (self.marker, self.summary_path, self.metrics_csv, self.path / "wandb_id"):
            path.unlink(missing_ok=True)

    def clean_temps(self) -> None:
        """Remove the temporary files that killed writes left behind (``.<name>.tmp*``), members' too."""
        if not self.path.is_dir():
            return
        for path in self.path.rglob(f".*{TEMP_MARK}*"):
            if path.is_file() and "wandb" not in path.relative_to(self.path).parts:
                path.unlink(missing_ok=True)

    @contextmanager
    def lock(self):
        """Hold the dir for this process (``flock`` on ``.lock``: released when the process dies, however).
        A second process gets a one-line error. The lock file records the holder and its sweep."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode(errors="replace").split("\n", 1)[0]
                raise ConfigError("run_dir", str(self.path),
                                  f"in use by another process ({holder}); wait for it or use another dir") from None
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n{os.environ.get(SWEEP_ID, '')}\n".encode())
            yield self
        finally:
            os.close(fd)

    def sweep_id(self) -> str | None:
        """The multirun that last worked on this dir (second line of ``.lock``)."""
        lines = _read(self.path / ".lock", str.splitlines, "text", kind=list) or []
        return lines[1] if len(lines) > 1 else None


def _read(path: Path, parse, what: str, strict: bool = False, kind: type = dict):
    """``parse(text of path)`` if it is a ``kind``; None when the file is missing, or does not read, parse or
    hold a ``kind`` (with ``strict``: a :class:`ConfigError` naming the file, the start of its text and why)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return None
    except OSError as err:
        return _refuse(strict, path, None, f"must be {what}; it cannot be read ({err.strerror})")
    excerpt = text[:40] + ("..." if len(text) > 40 else "")
    try:
        value = parse(text)
    except (ValueError, yaml.YAMLError) as err:
        first = (str(err).strip() or type(err).__name__).splitlines()[0]
        return _refuse(strict, path, excerpt, f"must be {what}; it does not parse ({first})")
    if not isinstance(value, kind):
        return _refuse(strict, path, excerpt, f"must be {what}, not a {type(value).__name__}")
    return value


def _refuse(strict: bool, path: Path, excerpt: str | None, allowed: str) -> None:
    if strict:
        raise ConfigError(str(path), excerpt, allowed)
    return None
