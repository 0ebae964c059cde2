"""Post-hoc metrics over a run's snapshots, with the key set of the final model.

Nanda et al. 2023 compute the restricted and excluded losses with the key frequencies of the **final** model at
every checkpoint (nanda_progress_measures.md §5.1); Chughtai et al. 2023 sum their totals over the final model's
key irreps (rep_theory.md §6). A run cannot know them while it trains, so its own ``progress/`` and ``rep/``
metrics take the key set of the current model at each metric epoch. :func:`remetric` fixes the set (the run's
``summary.json`` ``key_freqs`` / ``key_irreps``, or one given), builds the run's ``weights``, ``progress`` and
``rep`` families with it (those the run's metrics config enables and that apply) and evaluates every snapshot
``snapshots/epoch=<N>.pt`` with one forward shared by the metrics, as the run's recorder does.

    run = grokscope.load_run(run_dir)
    result = remetric(run, run.path / "remetric")        # or key_freqs=[14, 35, 41, 42, 52]
    result.history, result.arrays["progress/excluded_loss_per_freq"], result.phases

Written to ``out``, the run's own files untouched: ``metrics.csv`` (one row per snapshot epoch: split scores
and the scalars), ``arrays/<family>.npz`` (as the run's), ``summary.json`` (the key sets and the phase
boundaries of :mod:`grokscope.metrics.phases`) and ``plots/``: restricted, excluded, train and test loss with the phase
boundaries, Gini coefficients of the Fourier norms, weight norm, and logit similarity per irrep.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from grokscope.config import ConfigError, require
from grokscope.figures import figure, png_bytes, points
from grokscope.losses import Loss
from grokscope.metrics import ActiveFamily, RunRecord, build_metrics
from grokscope.metrics.curves import restricted_losses_figure
from grokscope.metrics.phases import Phases, draw_phases, phase_boundaries
from grokscope.metrics.rep_theory import similarity_figure
from grokscope.run.load import Run
from grokscope.run.sinks import CsvSink
from grokscope.training.cadence import Cadence
from grokscope.training.callbacks import MetricsRecorder
from grokscope.training.outputs import ArrayStore, atomic_write_bytes, write_json

#: The families recomputed: the two with a key set, and the weight norm the papers plot beside them.
FAMILIES = ("weights", "progress", "rep")
#: family -> (its config field holding the key set, the command-line argument that gives one)
KEY_SETS = {"progress": ("key_freqs", "--key-freqs"), "rep": ("key_irreps", "--key-irreps")}
#: (restricted, excluded) loss pairs, the first logged one drawn and used for the phases: Nanda's, then
#: Chughtai's hidden-layer totals (the paper's "Res. Loss" / "Exc. Loss"), then the logit totals
LOSS_PAIRS = (("progress/restricted_loss", "progress/excluded_loss"),
              ("rep/total_hidden_restricted_loss", "rep/total_hidden_excluded_loss"),
              ("rep/total_logit_restricted_loss", "rep/total_logit_excluded_loss"))


@dataclass(frozen=True)
class Remetric:
    """What :func:`remetric` measured: the key set of each family (``key_sets["progress"]`` the key
    frequencies, ``["rep"]`` the key irreps), the snapshots' record (``history``: one row per snapshot epoch;
    ``arrays[key] [n_snapshots, ...]``) and the phase boundaries (None where no loss pair was logged)."""

    key_sets: dict[str, list]
    record: RunRecord
    phases: Phases | None

    @property
    def history(self) -> list[dict]:
        return self.record.history

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        return self.record.arrays


def fixed_metrics(run: Run, model, key_freqs: list[int] | None = None,
                  key_irreps: list[str] | None = None) -> tuple[list[ActiveFamily], dict[str, list]]:
    """The run's :data:`FAMILIES` built on ``model`` with their key sets fixed: ``key_freqs`` / ``key_irreps``, or
    the final ones of ``summary.json``. A :class:`~grokscope.config.ConfigError` naming the argument when a set is
    given for a family the run does not compute, is out of range, or is neither given nor recorded."""
    given = {"progress": key_freqs, "rep": key_irreps}
    chosen = {name: given[name] if given[name] is not None else run.summary.get(field)
              for name, (field, _) in KEY_SETS.items()}
    cfg = run.config.metrics
    families = {name: dataclasses.replace(node, **({KEY_SETS[name][0]: chosen[name]} if name in KEY_SETS else {}))
                for name, node in cfg.families.items() if name in FAMILIES}
    try:
        active = build_metrics(dataclasses.replace(cfg, families=families), run.task, model, notes=False,
                               optimizer=run.config.optimizer)
    except ConfigError as err:
        arguments = {f"metrics.{name}.{field}": argument for name, (field, argument) in KEY_SETS.items()}
        if err.key not in arguments:
            raise
        raise ConfigError(arguments[err.key], err.value, err.allowed) from None
    keyed = [a.family.name for a in active if a.family.name in KEY_SETS]
    require(bool(keyed), "run_dir", str(run.path), "has no metrics with a key set to recompute: metrics.progress "
            "(addition mod p) or metrics.rep (a finite group) must apply to the run")
    for name, (field, argument) in KEY_SETS.items():
        require(given[name] is None or name in keyed, argument, given[name],
                f"the run does not compute metrics.{name} (its task or model does not apply, or it is disabled)")
        require(chosen[name] is not None or name not in keyed, argument, None,
                f"the run's summary.json records no {field} (unfinished?): give the set")
    return active, {name: chosen[name] for name in keyed}


def remetric(run: Run, out: Path, key_freqs: list[int] | None = None, key_irreps: list[str] | None = None,
             progress: bool = False) -> Remetric:
    """Evaluate :func:`fixed_metrics` at every snapshot of ``run`` and write the results to ``out`` (module
    docstring); ``progress``: a progress bar over the snapshots on stderr."""
    require(not run.members, "run_dir", str(run.path), f"is an ensemble of {len(run.members)} members: give one "
            "member's dir (members/<i>_...)")
    epochs = run.snapshot_epochs
    require(bool(epochs), "run_dir", str(run.path), "has no snapshots: train it with snapshot_every_n_epochs=N")
    final = run.model(epochs[-1])
    active, key_sets = fixed_metrics(run, final, key_freqs, key_irreps)
    recorder = MetricsRecorder([a.metric for a in active], Cadence(0), Cadence(0), ArrayStore(out / "arrays"))
    loss = Loss.of(run.config.run)
    for epoch in tqdm(epochs, desc="snapshots", unit="snapshot", disable=(not progress) or None):
        recorder.record(run.model(epoch), run.task, loss, epoch, last=True)
    stacked = recorder.arrays
    record = RunRecord(recorder.history, {key: np.stack(values) for key, values in stacked.values.items()},
                       {name: np.asarray(found) for name, found in stacked.epochs.items()}, run.task, final)
    result = Remetric(key_sets, record, _phases(record))
    stacked.save()
    CsvSink(out / "metrics.csv", recorder).flush()
    phases = None if result.phases is None else dataclasses.asdict(result.phases)
    write_json(out / "summary.json", {**{KEY_SETS[name][0]: keys for name, keys in key_sets.items()},
                                      "snapshot_epochs": epochs, "phases": phases})
    for name, fig in _plots(result):
        atomic_write_bytes(out / "plots" / f"{name}.png", png_bytes(fig))
    return result


def _losses(record: RunRecord) -> tuple[str, str] | None:
    return next((pair for pair in LOSS_PAIRS if record.logged(pair[0])), None)


def _phases(record: RunRecord) -> Phases | None:
    pair = _losses(record)
    if pair is None or not record.logged("test/loss"):
        return None
    epochs, excluded = record.series(pair[1])
    return phase_boundaries(epochs - 1, excluded, record.series("test/loss")[1], record.history[-1]["test/acc"])


def series_figure(record: RunRecord, keys: dict[str, str], ylabel: str, title: str):
    """The scalars ``keys`` (key -> label) that ``record`` logged, against ``epoch + 1`` on a log axis."""
    fig, ax = figure((9, 4.5))
    for key, label in keys.items():
        if record.logged(key):
            epochs, values = record.series(key)
            ax.plot(epochs, values, label=label, **points(len(epochs)))
    ax.set(xscale="log", xlabel="epoch + 1", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _plots(result: Remetric):
    """``(name, figure)``: the papers' figures of what was logged, phase boundaries on each."""
    record = result.record
    figures = []
    if (pair := _losses(record)) is not None:
        figures.append(("losses", restricted_losses_figure(record, *pair)))
    if record.logged("progress/gini_W_E"):
        figures.append(("gini", series_figure(record, {"progress/gini_W_E": "W_E", "progress/gini_W_L": "W_L"},
                                              "Gini coefficient", "Gini of the Fourier norms (Nanda et al. §5.4)")))
    if record.logged("weights/norm"):
        figures.append(("weight_norm", series_figure(record, {"weights/norm": "total"}, "weight norm",
                                                     "Weight norm (Nanda et al. §5.5)")))
    if record.logged("rep/logit_similarity/trivial"):
        figures.append(("rep_logit_similarity", similarity_figure(record)))
    for _, fig in figures:
        if result.phases is not None:
            draw_phases(fig.axes[0], result.phases)
    return figures
