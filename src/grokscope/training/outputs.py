"""Files of a run directory: atomic writes, stacked metric arrays, ``summary.json``."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: dict) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, default=_jsonable).encode())


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
        return {"values": dict(self.values), "epochs": dict(self.epochs)}

    def load_state_dict(self, state: dict) -> None:
        self.values = defaultdict(list, state["values"])
        self.epochs = defaultdict(list, state["epochs"])

    def save(self) -> None:
        by_namespace: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
        for key, values in self.values.items():
            namespace, name = key.split("/", 1)
            by_namespace[namespace][name.replace("/", ".")] = np.stack(values)
        for namespace, arrays in by_namespace.items():
            buf = io.BytesIO()
            np.savez(buf, epochs=np.asarray(self.epochs[namespace]), **arrays)
            atomic_write_bytes(self.directory / f"{namespace}.npz", buf.getvalue())


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read one ``arrays/*.npz`` file into a dict."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
