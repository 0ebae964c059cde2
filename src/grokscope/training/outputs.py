"""Files of a run directory: durable atomic writes and the metric arrays stacked over epochs.

Every file of a run directory is written by :func:`atomic_write_bytes`: a temporary file in the same
directory, flushed and fsync'd, renamed over the target, then the directory fsync'd. A kill at any moment
leaves either the old file or the new one, never a torn one; leftovers of killed writes start with ``.`` and
contain ``.tmp`` (:data:`TEMP_MARK`) so the next start can remove them. Files get the mode ``open()`` would
give them (``0o666`` less the umask), not ``mkstemp``'s ``0o600``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

#: Part of every temporary file's name: ``.<name>.tmp<random>``.
TEMP_MARK = ".tmp"
#: Test hook: the process kills itself (SIGKILL) right after this many durable writes (``test_kill_points``).
KILL_AFTER_WRITES = "GROKSCOPE_KILL_AFTER_WRITES"
_writes = 0


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` durably and atomically (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARK}")
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    _after_write(path)


def _after_write(path: Path) -> None:
    """Count durable writes; the test hook :data:`KILL_AFTER_WRITES` acts here."""
    global _writes
    _writes += 1
    limit = os.environ.get(KILL_AFTER_WRITES)
    if limit is not None and _writes >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, default=_jsonable).encode())


def write_torch(path: Path, obj) -> None:
    """``torch.save(obj)`` through :func:`atomic_write_bytes`; ``obj`` must load with ``weights_only=True``."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


class ArrayStore:
    """Arrays logged over epochs, saved as ``arrays/{namespace}.npz`` with one stacked entry per key
    (``[n_epochs, ...]``) and the ``epochs`` at which they were taken."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.values: dict[str, list[np.ndarray]] = defaultdict(list)
        self.epochs: dict[str, list[int]] = defaultdict(list)

    def append(self, key: str, epoch: int, value: np.ndarray) -> None:
        namespace = key.split("/", 1)[0]
        self.values[key].append(np.asarray(value))
        if self.epochs[namespace][-1:] != [epoch]:
            self.epochs[namespace].append(epoch)

    def state_dict(self) -> dict:
        """Tensors and lists only, so that a checkpoint holding it loads with ``weights_only=True``."""
        return {"values": {k: [torch.from_numpy(np.ascontiguousarray(v)) for v in vs] for k, vs in self.values.items()},
                "epochs": {k: list(v) for k, v in self.epochs.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.values = defaultdict(list, {k: [v.numpy() for v in vs] for k, vs in state["values"].items()})
        self.epochs = defaultdict(list, {k: list(v) for k, v in state["epochs"].items()})

    def save(self) -> None:
        by_namespace: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
        for key, values in self.values.items():
            namespace, name = key.split("/", 1)
            by_namespace[namespace][name.replace("/", ".")] = np.stack(values)
        for namespace, arrays in sorted(by_namespace.items()):
            buf = io.BytesIO()
            np.savez(buf, epochs=np.asarray(self.epochs[namespace]), **arrays)
            atomic_write_bytes(self.directory / f"{namespace}.npz", buf.getvalue())


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read one ``arrays/*.npz`` file into a dict."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
