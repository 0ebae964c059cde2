"""Sinks receive a member's logged rows: ``metrics.csv`` always, Weights & Biases when enabled.

A sink has ``log(row)`` (a row of :class:`~grokscope.training.callbacks.MetricsRecorder`, with its
``epoch``), ``flush()`` (on metric epochs) and ``finish(summary)`` (at the end of an attempt: with the
summary before the run is marked finished, with None when it stopped early). Rows are exactly the
recorder's history, so a resumed run's sinks never see an epoch twice: ``metrics.csv`` is rewritten from
the history, and WandB skips the epochs an earlier attempt already logged and re-sends those its files lack.
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from typing import TYPE_CHECKING

import numpy as np

from grokscope.config import ConfigError
from grokscope.figures import Bars, Heatmap, MediaCanvas, png_bytes
from grokscope.run.fingerprint import setting_id
from grokscope.run.rundir import RunDir
from grokscope.run.terminal import verbose
from grokscope.run.wandb_offline import logged_through
from grokscope.training.cadence import Cadence
from grokscope.training.callbacks import MetricsRecorder
from grokscope.training.loggers import WandbConfig
from grokscope.training.outputs import ArrayStore, atomic_write_bytes

if TYPE_CHECKING:
    import pandas as pd


class CsvSink:
    """``metrics.csv``: one row per logged epoch, columns in order of first appearance (``epoch`` first),
    rewritten atomically from the recorder's history on every flush."""

    def __init__(self, path, recorder: MetricsRecorder):
        self.path, self.recorder = path, recorder

    def log(self, row: dict) -> None:
        """Nothing to do: the row is in the recorder's history, written at the next flush."""

    def flush(self) -> None:
        columns = list(dict.fromkeys(k for row in self.recorder.history for k in row))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.recorder.history)
        atomic_write_bytes(self.path, buf.getvalue().encode())

    def finish(self, summary: dict | None) -> None:
        """Nothing left: the last flush came before the summary."""


class WandbSink:
    """One WandB run per run dir (id in ``wandb_id``, so attempts continue it; offline unless
    ``logger.wandb.mode=online``: then nothing touches the network).

    - scalars against the ``epoch`` step metric (WandB's own step is the epoch too, so the media's step slider
      reads it), each split's loss and accuracy with min and max summaries; a family's per-frequency and
      per-irrep scalars (:func:`per_entry_keys`) stay out: their arrays are in the arrays table;
    - on at most ``max_media`` metric epochs spread over the run (:func:`media_epochs`), the pictures of each
      metric family (``media``: spectra, neuron x frequency maps, irrep similarities, circle signals, logit maps),
      drawn with axes, labels, colour bar, the run and the epoch in the title, and a caption;
    - rows handed to WandB in bursts at most every :data:`SEND_SECONDS` (every logged epoch is a row);
    - at the end, before the run is finished: ``plots/*.png``, the arrays as one long-format table, the summary
      and, with ``log_checkpoints``, the final checkpoint (alias ``final``) and the first snapshot at or after
      the test split grokked (``grokked``) as artifacts.

    On resume, rows up to the last epoch an earlier attempt logged are skipped (offline: read from the attempts'
    files; online: the run's ``epoch`` summary), and the rows of the restored history after it, which a killed
    attempt held but never wrote, are sent first; the min/max summaries are recomputed from the whole history
    (:func:`extrema`)."""

    def __init__(self, cfg: WandbConfig, run_dir: RunDir, recorder: MetricsRecorder, families: list, task,
                 identity: dict, config: dict, media_at: frozenset[int]):
        mode = cfg.resolved_mode()
        if mode == "offline":
            os.environ["WANDB_MODE"] = "offline"
        import wandb

        self.wandb, self.cfg, self.run_dir, self.recorder = wandb, cfg, run_dir, recorder
        self.families, self.task, self.media_at = families, task, media_at
        self.name, self.canvas = identity["name"], MediaCanvas()
        self.per_entry = per_entry_keys(families)
        run_id = run_dir.wandb_id()
        run_dir.wandb.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            id=run_id, resume="allow", reinit="create_new", dir=str(run_dir.path.absolute()), mode=mode,
            name=identity["name"], group=cfg.group or identity["group"], job_type=identity["job_type"],
            tags=[*cfg.tags, *identity["tags"]], project=cfg.project, entity=cfg.entity,
            config={**config, "setting_id": setting_id(config), "overrides": list(identity.get("overrides", ()))},
            settings=wandb.Settings(silent=not verbose(), console="off", x_disable_stats=True,
                                    x_disable_machine_info=True, disable_git=True, save_code=False),
        )
        self.run.define_metric("epoch")
        self.run.define_metric("*", step_metric="epoch")
        for mask in task.eval_masks:
            for key in (f"{mask}/loss", f"{mask}/acc"):
                self.run.define_metric(key, step_metric="epoch", summary="min,max,last")
        self.logged_through = (logged_through(run_dir.wandb, run_id) if mode == "offline"
                               else int(self.run.summary.get("epoch", -1)))
        self.pending: list[dict] = []
        self.sent_at = time.monotonic()
        for row in recorder.history:  # a resumed run: the rows up to its checkpoint that WandB's files lack
            self.log(row)

    def log(self, row: dict) -> None:
        epoch = row["epoch"]
        if epoch <= self.logged_through:
            return
        row = {key: value for key, value in row.items() if not self.per_entry.fullmatch(key)}
        self.pending.append({**row, **self.media(epoch)} if epoch in self.media_at else row)
        self.logged_through = epoch
        if time.monotonic() - self.sent_at >= SEND_SECONDS:
            self.flush()

    def media(self, epoch: int) -> dict:
        """The families' pictures of the arrays they logged at ``epoch``, as ``wandb.Image``."""
        arrays, out = self.recorder.arrays, {}
        for active in self.families:
            name = active.family.name
            epochs = arrays.epochs.get(name, [])
            if epoch not in epochs:
                continue
            at = len(epochs) - 1 - epochs[::-1].index(epoch)  # the newest entry of that epoch
            values = {key: v[at] for key, v in arrays.values.items() if key.startswith(f"{name}/")}
            for key, picture in active.family.media(values, self.task):
                out[f"media/{key}"] = self.image(key, picture, epoch)
        return out

    def image(self, key: str, picture, epoch: int):
        """A captioned ``wandb.Image`` of a :class:`~grokscope.figures.Bars` or
        :class:`~grokscope.figures.Heatmap` (drawn on this sink's canvas, titled with the run and the epoch), a
        figure (rendered small) or an RGB array."""
        where = f"{self.name}, epoch {epoch}"
        if isinstance(picture, Bars | Heatmap):
            rgb = self.canvas.draw(key, picture, f"{self.name} · epoch {epoch}")
            return self.wandb.Image(rgb, caption=f"{picture.caption} ({where})")
        if isinstance(picture, np.ndarray):
            return self.wandb.Image(picture, caption=f"{key} ({where})")
        from PIL import Image

        return self.wandb.Image(Image.open(io.BytesIO(png_bytes(picture, dpi=MEDIA_DPI))), caption=f"{key} ({where})")

    def flush(self) -> None:
        """Hand the pending rows to WandB."""
        for row in self.pending:
            self.run.log(row, step=row["epoch"], commit=True)  # each row whole: none held back past the summary
        self.pending.clear()
        self.sent_at = time.monotonic()

    def finish(self, summary: dict | None) -> None:
        """End this attempt's WandB run; when the run is finished (``summary``), first its plots, arrays table,
        summary and checkpoint artifacts."""
        self.flush()
        if summary is not None:
            for png in sorted(self.run_dir.plots.glob("*.png")):
                self.run.summary[f"plots/{png.stem}"] = self.wandb.Image(str(png))
            if self.recorder.arrays.values:
                self.run.summary["arrays"] = self.wandb.Table(dataframe=arrays_table(self.recorder.arrays))
            self.run.summary.update({k: v for k, v in summary.items() if k not in NOT_IN_WANDB_SUMMARY})
            self.run.summary.update(extrema(self.recorder.history, self.task.eval_masks))
            if self.cfg.log_checkpoints:
                self.log_checkpoints(summary)
        self.run.finish()

    def log_checkpoints(self, summary: dict) -> None:
        """The newest checkpoint (alias ``final``) and the first snapshot at or after the test split reached
        the grokking threshold (``grokked``), as model artifacts."""
        final = self.run_dir.checkpoint(self.run_dir.checkpoint_epochs()[0])
        self._artifact("checkpoint", final, ["final", f"epoch-{summary['epochs']}"])
        grokked = summary["grok_epochs"].get("test")
        snapshots = sorted(self.run_dir.snapshots.glob("epoch=*.pt"), key=lambda p: int(p.stem.split("=")[1]))
        after = [p for p in snapshots if grokked is not None and int(p.stem.split("=")[1]) >= grokked]
        if after:
            self._artifact("snapshot", after[0], ["grokked", after[0].stem.replace("=", "-")])

    def _artifact(self, kind: str, path, aliases: list[str]) -> None:
        artifact = self.wandb.Artifact(f"{kind}-{self.run.id}", type="model")
        artifact.add_file(str(path))
        self.run.log_artifact(artifact, aliases=aliases)


#: at most one burst of rows handed to WandB per this many seconds (WandB asks for a few calls a second at most)
SEND_SECONDS = 1.0
#: resolution of the figures sent as dashboard media
MEDIA_DPI = 72
#: fields of ``summary.json`` that WandB's summary holds elsewhere, so that it holds each value once: ``final``
#: (the last value of every scalar is WandB's own summary of it; the splits' as ``<split>/loss.last``),
#: ``min_loss`` (``<split>/loss.min`` and ``.min_epoch``), ``run_name`` (the run's name) and ``config`` (its config)
NOT_IN_WANDB_SUMMARY = ("final", "min_loss", "run_name", "config")
#: the placeholders of a family's per-frequency and per-irrep scalar keys (``progress/excluded_loss/freq_{k}``,
#: ``rep/logit_similarity/{irrep}``): sparse series, dozens of them, whose arrays hold the same values
PER_ENTRY = ("{k}", "{irrep}")
#: rows of the arrays table at most (``wandb.Table.MAX_ROWS``: WandB cuts a table logged to a run beyond it):
#: epochs are thinned evenly beyond it, and where even the last epoch does not fit, the largest arrays are cut
ARRAY_TABLE_ROWS = 10_000


def arrays_table(arrays: ArrayStore) -> pd.DataFrame:
    """Every logged array in long format, one row per entry: ``key``, ``epoch``, ``index`` (the entry's
    position, as ``i`` or ``i,j``) and ``value``; at most :data:`ARRAY_TABLE_ROWS` rows (evenly thinned epochs),
    the smallest arrays first (so that WandB's cut, where even one epoch of every array is too many, falls on the
    largest)."""
    import pandas as pd

    size = sum(np.asarray(v[0]).size * len(v) for v in arrays.values.values())
    stride = max(1, -(-size // ARRAY_TABLE_ROWS))
    frames = []
    for key, values in sorted(arrays.values.items(), key=lambda item: np.asarray(item[1][0]).size):
        epochs = arrays.epochs[key.split("/", 1)[0]]
        for epoch, value in list(zip(epochs, values))[::-stride][::-1]:  # the last epoch always kept
            value = np.asarray(value, dtype=np.float64)
            index = [",".join(map(str, i)) for i in np.ndindex(value.shape)] if value.ndim else [""]
            frames.append(pd.DataFrame({"key": key, "epoch": epoch, "index": index, "value": value.ravel()}))
    return pd.concat(frames, ignore_index=True).head(ARRAY_TABLE_ROWS)


def extrema(history: list[dict], masks) -> dict[str, dict]:
    """``{"<mask>/loss": {"min", "max", "last", "min_epoch"}, "<mask>/acc": {"min", "max", "last"}}`` over the whole
    ``history``: the summaries WandB keeps of these keys, from every attempt of a resumed run (WandB's own cover only
    the rows of the last one); ``min_epoch``: the first epoch the loss was at its lowest."""
    out = {}
    for mask in masks:
        for key in (f"{mask}/loss", f"{mask}/acc"):
            rows = [row for row in history if key in row]
            if rows:
                values = [row[key] for row in rows]
                out[key] = {"min": min(values), "max": max(values), "last": values[-1]}
                if key.endswith("/loss"):
                    out[key]["min_epoch"] = rows[values.index(min(values))]["epoch"]
    return out


def per_entry_keys(families: list) -> re.Pattern:
    """The scalar keys the ``families`` log per frequency or per irrep (declared with a :data:`PER_ENTRY`
    placeholder), as one pattern: WandB gets them in the arrays table, not as dozens of sparse series."""
    patterns = [key.pattern() for active in families for key in active.family.keys
                if key.kind == "scalar" and any(p in key.name for p in PER_ENTRY)]
    return re.compile("|".join(f"(?:{p})" for p in patterns) or "(?!)")


def require_wandb_login(cfg) -> None:
    """``logger.wandb.mode=online`` needs an API key (``WANDB_API_KEY``, or ``wandb login``'s netrc entry for the
    WandB host): a one-line refusal before the run dir is made, instead of WandB's traceback at the first log."""
    wandb_cfg = cfg.wandb
    if not wandb_cfg.enabled or wandb_cfg.resolved_mode() != "online":
        return
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return
    import netrc
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname
    path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    try:
        if netrc.netrc(path).authenticators(host):
            return
    except (OSError, netrc.NetrcParseError):
        pass
    raise ConfigError("logger.wandb.mode", "online", f"needs a WandB API key (none in WANDB_API_KEY nor in {path} for "
                      f"{host}): run `wandb login`, or use logger.wandb.mode=offline (wandb sync later) or logger=csv")


def media_epochs(cadence: Cadence, max_epochs: int, most: int) -> frozenset[int]:
    """At most ``most`` of the metric epochs of a run of ``max_epochs`` (``cadence`` and the last epoch), evenly
    spread over them, the first and the last included."""
    epochs, epoch = [], 0 if cadence.due(0) else cadence.next_after(0)
    while epoch <= max_epochs:
        epochs.append(int(epoch))
        epoch = cadence.next_after(epoch)
    epochs = sorted({*epochs, max_epochs})
    if most <= 0:
        return frozenset()
    return frozenset(epochs[int(i)] for i in np.linspace(0, len(epochs) - 1, min(most, len(epochs))).round())


def build_sinks(rec: MetricsRecorder, run_dir: RunDir, cfg, families: list, task, identity: dict, config: dict,
                max_epochs: int) -> list:
    """``metrics.csv``, plus WandB when ``logger.wandb.enabled`` (``identity``: ``name``, ``group``, ``tags``,
    ``job_type``)."""
    sinks: list = [CsvSink(run_dir.metrics_csv, rec)]
    if cfg.wandb.enabled:
        media_at = media_epochs(rec.metric_cadence, max_epochs, cfg.wandb.max_media)
        sinks.append(WandbSink(cfg.wandb, run_dir, rec, families, task, identity, config, media_at))
    return sinks
