"""A metric family is one plug-in: its config node ``metrics.<name>``, when it applies, its computation, the
plots of what it logged and what it adds to ``summary.json``.

    FAMILY = MetricFamily("circles", CirclesConfig, build=..., applies=needs_residues, plots=circle_plots)

A family's metric returns namespaced values ``{"<name>/...": scalar | array}`` at each metric epoch: scalars
make columns of ``metrics.csv``, arrays are stacked over epochs into ``arrays/<name>.npz``. Its YAML,
``conf/metrics/family/<name>.yaml``, holds ``enabled`` and its settings; ``metrics/default.yaml`` lists it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from grokscope.config import Checked, MetricKey, described, require_choice

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from grokscope.metrics.evaluation import Evaluation

ENABLED = ("auto", "true", "false")


class Metric(Protocol):
    """What a family builds for one run: the hook activations it needs and a call returning its values.

    The evaluation streams the table in row chunks and keeps one loss and one correctness per row
    (``ev.row_loss``, ``ev.correct``). A metric that needs the rows' logits or activations either streams them
    (a :class:`~grokscope.metrics.evaluation.Streamed`: ``stream(model, task, ev)`` yields the passes over row
    chunks it accumulates and returns its values) or declares ``needs_rows = True``, and only then are every
    row's logits and activations kept (``ev.logits``, ``ev.cache``)."""

    hooks: tuple[str, ...]

    def __call__(self, model, task, ev: Evaluation) -> dict[str, float | np.ndarray]: ...


@dataclass
class FunctionMetric:
    """A metric that reads only the model and the task: ``fn(model, task)``."""

    fn: Callable
    hooks: tuple[str, ...] = ()
    needs_rows = False

    def __call__(self, model, task, ev: Evaluation) -> dict[str, float | np.ndarray]:
        return self.fn(model, task)


@dataclass
class MetricFamilyConfig(Checked):
    """``metrics.<family>.enabled``: ``auto`` (runs where it applies, when ``metrics.auto`` is true and the
    family's auto rule agrees), ``true`` (asked for: where it does not apply, the run says so in one line) or
    ``false``. Families add their settings as further fields."""

    enabled: str = described("auto: where the family applies (and metrics.auto); true: asked for; false: off",
                             choices=ENABLED)

    def check(self, prefix: str) -> None:
        self.enabled = str(self.enabled).lower()  # enabled=true arrives as a YAML boolean
        require_choice(f"{prefix}.enabled", self.enabled, ENABLED)


@dataclass(frozen=True)
class RunRecord:
    """What a finished run logged, as a family's plots and summary read it: the rows of ``metrics.csv``
    (``history``), each array key stacked over its epochs (``arrays[key] [n_epochs, ...]``), the epochs of each
    namespace (``epochs[name]``), the task and the final model."""

    history: list[dict]
    arrays: dict[str, np.ndarray]
    epochs: dict[str, np.ndarray]
    task: Any
    model: Any

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(epoch + 1, value)`` of the rows that hold the scalar ``key``."""
        rows = [row for row in self.history if key in row]
        return np.array([row["epoch"] for row in rows]) + 1, np.array([row[key] for row in rows])

    def logged(self, key: str) -> bool:
        return any(key in row for row in self.history)


def always(task, model) -> str | None:
    """Applies to every task and model."""
    return None


def on_auto(task, model, optimizer) -> bool:
    return True


def no_plots(record: RunRecord) -> Iterable[tuple[str, Figure]]:
    return ()


def no_summary(record: RunRecord) -> dict:
    return {}


def no_media(values: dict[str, np.ndarray], task) -> Iterable[tuple[str, Any]]:
    return ()


@dataclass(frozen=True)
class MetricFamily:
    """One family: ``name`` (its config key and namespace), ``schema`` (a :class:`MetricFamilyConfig`), ``build(cfg,
    task, model)`` (its :class:`Metric`), ``applies(task, model)`` (None, or why it cannot run), ``auto(task,
    model, optimizer)`` (whether ``enabled=auto`` runs it where it applies; ``optimizer``: the run's optimizer
    config, or None when unknown), ``plots(record)`` (``(name, figure)`` pairs,
    written as ``plots/<name>.png``), ``summary(record)`` (fields added to ``summary.json``) and ``media(values,
    task)``: from the arrays it logged at one metric epoch (``values[key]``), ``(key, picture)`` pairs for a
    dashboard, a picture being a :class:`~grokscope.figures.Bars` or :class:`~grokscope.figures.Heatmap` (drawn
    with axes, labels, colour bar, the run and the epoch in its title, and its caption), a figure or an RGB
    array, keys in the family's namespace; ``keys``: every key it logs or adds to the summary
    (:class:`~grokscope.config.MetricKey`, declared beside its computation) and ``notation``: the symbols their
    formulas share (LaTeX in Markdown), which the metric reference prints."""

    name: str
    schema: type
    build: Callable[[Any, Any, Any], Metric]
    applies: Callable[[Any, Any], str | None] = always
    auto: Callable[[Any, Any, Any], bool] = on_auto
    plots: Callable[[RunRecord], Iterable[tuple[str, Figure]]] = no_plots
    summary: Callable[[RunRecord], dict] = no_summary
    media: Callable[[dict[str, np.ndarray], Any], Iterable[tuple[str, Any]]] = no_media
    keys: tuple[MetricKey, ...] = ()
    notation: str = ""


@dataclass
class ActiveFamily:
    """A family that runs in a run, with its typed config and its metric."""

    family: MetricFamily
    config: Any
    metric: Metric = field(repr=False)
