"""A run directory read back in Python: its config, task, summary, history, arrays and trained models.

    import grokscope
    run = grokscope.load_run("outputs/2024-05-01/12-00-00_modular_add_transformer_seed0")
    run.summary["final"], run.history, run.arrays["fourier"]["key_freqs"]
    model = run.model()                  # the trained model at the end, on the CPU
    early = run.model(epoch=1000, device="cuda")   # at a snapshot epoch
    members = grokscope.load_run("outputs/.../ensemble").members   # an ensemble: one run per member

Nothing in the directory is executed: the config and summary are read with safe YAML/JSON loaders and the
weights with ``torch.load(weights_only=True)``. The task and the model are rebuilt from the recorded config
(:func:`grokscope.run.build`) without touching the caller's random state.
"""

from __future__ import annotations

import copy
import re
import warnings
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import torch
from omegaconf import OmegaConf

from grokscope.config import Config, ConfigError, require
from grokscope.run.build import build
from grokscope.run.checkpoints import BadCheckpoint, load_checkpoint
from grokscope.run.config import validate
from grokscope.run.rundir import RunDir
from grokscope.training.callbacks import load_snapshot, snapshot_path
from grokscope.training.outputs import load_arrays

SNAPSHOT = re.compile(r"epoch=(\d+)\.pt")


@contextmanager
def _read_as(path: Path, what: str):
    """Turn a file that does not read as ``what`` into one :class:`~grokscope.config.ConfigError` naming it."""
    try:
        yield
    except ConfigError:
        raise
    except FileNotFoundError:
        raise ConfigError(str(path), None, f"must be {what}; it is missing") from None
    except Exception as err:  # pandas' parser errors, zip and pickle errors, bad dtypes, truncated data
        reason = (str(err).strip() or type(err).__name__).splitlines()[0][:160]
        raise ConfigError(str(path), _excerpt(path), f"must be {what}; it does not read ({reason})") from None


def _excerpt(path: Path) -> str:
    """The start of a file as text, or its size when it is not text."""
    data = path.read_bytes()
    try:
        text = data[:40].decode()
    except UnicodeDecodeError:
        return f"<{len(data)} bytes>"
    return text + ("..." if len(data) > 40 else "")


def load_run(path: Path | str) -> Run:
    """The run (or ensemble) in ``path``; a :class:`~grokscope.config.ConfigError` in one line when ``path``
    holds no recorded config."""
    run_dir = RunDir(path)
    resolved = run_dir.config(strict=True) or (run_dir.summary(strict=True) or {}).get("config")
    if not isinstance(resolved, dict):
        raise ConfigError("path", str(path), "must be a run dir: it has no .hydra/config.yaml nor summary.json")
    return Run(run_dir, resolved)


class Run:
    """One run directory. Attributes are read on first use:

    - ``resolved``: the resolved config (dict), ``config``: it validated (:class:`~grokscope.config.Config`);
    - ``task``: the task rebuilt from the config (same split, on the CPU);
    - ``summary``: ``summary.json`` (empty while the run is unfinished);
    - ``history``: ``metrics.csv`` as a DataFrame, one row per logged epoch (floats read back exactly);
    - ``arrays``: namespace -> {name: array} from ``arrays/*.npz`` (``epochs`` and ``[n_epochs, ...]`` stacks);
    - ``members``: an ensemble's members (one :class:`Run` each, in member order; empty for a single run);
    - ``epochs``: the epochs :meth:`model` can load (``snapshot_epochs`` and those of the checkpoints).
    """

    def __init__(self, run_dir: RunDir, resolved: dict):
        self.dir, self.resolved = run_dir, resolved

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def path(self) -> Path:
        return self.dir.path

    @cached_property
    def config(self) -> Config:
        return validate(OmegaConf.create(self.resolved))

    @cached_property
    def _built(self):
        """``(task, model)`` as the run built them before training (the caller's RNG state is kept)."""
        with torch.random.fork_rng(devices=[]):
            return build(self.config)

    @property
    def task(self):
        return self._built[0]

    @cached_property
    def summary(self) -> dict:
        return self.dir.summary(strict=True) or {}

    @cached_property
    def history(self):
        import pandas as pd

        with _read_as(self.dir.metrics_csv, "a CSV table with one row per logged epoch (metrics.csv)"):
            history = pd.read_csv(self.dir.metrics_csv, float_precision="round_trip")
        require("epoch" in history.columns, str(self.dir.metrics_csv), _excerpt(self.dir.metrics_csv),
                "must be a CSV table with one row per logged epoch: it has no epoch column")
        return history

    @cached_property
    def arrays(self) -> dict[str, dict]:
        out = {}
        for path in sorted(self.dir.arrays.glob("*.npz")):
            with _read_as(path, "an .npz archive of arrays over epochs"):
                out[path.stem] = load_arrays(path)
        return out

    @cached_property
    def members(self) -> list[Run]:
        found = [p for p in (self.path / "members").glob("*_*") if p.is_dir() and p.name.split("_")[0].isdigit()]
        return [load_run(p) for p in sorted(found, key=lambda p: int(p.name.split("_")[0]))]

    @property
    def snapshot_epochs(self) -> list[int]:
        found = (SNAPSHOT.fullmatch(p.name) for p in self.dir.snapshots.glob("epoch=*.pt"))
        return sorted(int(m.group(1)) for m in found if m)

    @property
    def epochs(self) -> list[int]:
        return sorted(set(self.snapshot_epochs) | set(self.dir.checkpoint_epochs()))

    def model(self, epoch: int | None = None, device: str | torch.device = "cpu") -> torch.nn.Module:
        """The trained model (in eval mode, on ``device``): at the end (the newest checkpoint that loads) or
        after ``epoch`` optimizer steps (its snapshot, or a checkpoint of that epoch)."""
        if self.members:
            raise ConfigError("path", str(self.path), f"is an ensemble of {len(self.members)} members: load a "
                              "model from one of them (run.members[i].model())")
        model = copy.deepcopy(self._built[1])
        model.load_state_dict(self._state(epoch))
        return model.to(device).eval()

    def _state(self, epoch: int | None) -> dict[str, torch.Tensor]:
        """The weights of :meth:`model`; a checkpoint that fails to load is named in a warning and skipped."""
        if epoch is not None and snapshot_path(self.dir.snapshots, epoch).is_file():
            return load_snapshot(snapshot_path(self.dir.snapshots, epoch))
        checkpoints = self.dir.checkpoint_epochs()
        for found in checkpoints if epoch is None else set(checkpoints) & {epoch}:
            try:
                return load_checkpoint(self.dir.checkpoint(found), found)["model"]
            except BadCheckpoint as err:
                warnings.warn(f"checkpoint {err}", stacklevel=3)
        there = ", ".join(map(str, self.epochs)) or "none"
        if epoch is None:
            raise ConfigError("path", str(self.path), f"has no loadable checkpoint (epochs with weights: {there})")
        raise ConfigError("epoch", epoch, f"{self.path} has no snapshot or checkpoint of this epoch; epochs there: "
                          f"{there}")
