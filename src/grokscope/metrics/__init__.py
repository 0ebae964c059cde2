"""Mechanistic metrics: pure functions ``(model, task, evaluation) -> {key: scalar | array}``.

Scalars are logged per epoch under namespaced keys; arrays are stacked over epochs into ``arrays/*.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from grokscope.config import Checked, register, require, require_choice
from grokscope.metrics.circles import circle_survival
from grokscope.metrics.evaluation import Evaluation, evaluate, split_scores
from grokscope.metrics.fit import require_fits
from grokscope.metrics.fourier import embedding_spectrum
from grokscope.metrics.pizza import PizzaMetrics, PizzaMetricsConfig
from grokscope.metrics.progress import ProgressMetric
from grokscope.metrics.rep_theory import RepTheoryMetric
from grokscope.metrics.weights import weight_norms


class Metric(Protocol):
    """A metric: the hook activations it needs and a call returning namespaced values."""

    hooks: tuple[str, ...]

    def __call__(self, model, task, ev: Evaluation) -> dict[str, float | np.ndarray]: ...


@dataclass
class MetricsConfig(Checked):
    """``metrics=default|none``: which metrics run, on epochs ``0, every_n_epochs, ...`` plus
    ``log_points`` log-spaced epochs (0 for none), plus every epoch up to ``dense_epochs`` (0 for none; the
    initial-gradient analysis needs the first epochs, circle_survival.md §6.5).

    ``rep`` (tasks over a finite group): :class:`~grokscope.metrics.rep_theory.RepTheoryMetric` with key
    irreps above ``key_irrep_threshold`` or fixed to ``key_irreps``. ``progress`` (addition in ``Z_p``):
    :class:`~grokscope.metrics.progress.ProgressMetric` with key frequencies fixed to ``key_freqs`` or found
    from the neurons (``exclude_top_freq`` as the original code). ``pizza``: the clock-vs-pizza metrics
    (:mod:`.pizza`). ``circles`` (``Z_p`` tasks): circle survival, :func:`~grokscope.metrics.circles.circle_survival`.
    """

    name: str
    every_n_epochs: int
    log_points: int
    dense_epochs: int
    weights: bool
    fourier: bool
    fourier_top_k: int
    rep: str
    key_irrep_threshold: float
    key_irreps: list[str] | None
    progress: bool
    exclude_top_freq: bool
    key_freqs: list[int] | None
    pizza: PizzaMetricsConfig
    circles: bool

    def check(self, prefix: str) -> None:
        require(self.every_n_epochs >= 0, f"{prefix}.every_n_epochs", self.every_n_epochs, "must be >= 0")
        require(self.log_points >= 0, f"{prefix}.log_points", self.log_points, "must be >= 0")
        require(self.dense_epochs >= 0, f"{prefix}.dense_epochs", self.dense_epochs, "must be >= 0")
        require(self.fourier_top_k >= 1, f"{prefix}.fourier_top_k", self.fourier_top_k, "must be >= 1")
        self.rep = str(self.rep).lower()  # rep=true arrives as a YAML boolean
        require_choice(f"{prefix}.rep", self.rep, ("auto", "true", "false"))
        require(0 <= self.key_irrep_threshold < 1, f"{prefix}.key_irrep_threshold", self.key_irrep_threshold,
                "must be in [0, 1)")

    def check_against(self, config, prefix: str) -> None:
        """The run fits its device (:mod:`.fit`); ``fourier_top_k`` is at most the task's frequencies."""
        require_fits(config.task, config, "task")
        p = config.task.table_shape(config).modulus
        if self.fourier and p is not None:
            n_freqs = (p - 1) // 2
            require(self.fourier_top_k <= n_freqs, f"{prefix}.fourier_top_k", self.fourier_top_k,
                    f"must be <= {n_freqs}, the non-constant frequencies of Z_{p} (or {prefix}.fourier=false)")


for _name in ("default", "none"):
    register("metrics", _name)(MetricsConfig)


@dataclass
class FunctionMetric:
    """Adapter for metrics that read only the model and the task."""

    fn: object
    hooks: tuple[str, ...] = ()

    def __call__(self, model, task, ev: Evaluation) -> dict[str, float | np.ndarray]:
        return self.fn(model, task)


def build_metrics(cfg: MetricsConfig, task, model) -> list[Metric]:
    """The metrics ``cfg`` asks for that apply to ``task`` and ``model``.

    The group metrics need the whole table of pairs of the task's group; Nanda's progress measures also need
    residues (``task.modulus``) and a hidden layer.
    """
    metrics: list[Metric] = []
    if cfg.weights:
        metrics.append(FunctionMetric(lambda model, _task: weight_norms(model)))
    if cfg.fourier and task.modulus is not None:
        metrics.append(FunctionMetric(lambda model, t: embedding_spectrum(model, t, cfg.fourier_top_k)))
    all_pairs = task.group is not None and len(task.labels) == task.group.order**2
    # auto: the progress measures already are the cyclic case of the irrep metrics for modular arithmetic
    rep = cfg.rep == "true" or (cfg.rep == "auto" and not task.name.startswith("modular"))
    if rep and all_pairs:
        metrics.append(RepTheoryMetric(model, task, cfg.key_irrep_threshold, cfg.key_irreps))
    if cfg.progress and all_pairs and task.modulus is not None and model.hidden_hook is not None:
        metrics.append(ProgressMetric(model, task, cfg.exclude_top_freq, cfg.key_freqs))
    if cfg.pizza.enabled:
        metrics.append(PizzaMetrics(cfg.pizza, task))
    if cfg.circles and task.modulus is not None:
        metrics.append(FunctionMetric(circle_survival))
    return metrics


__all__ = ["Evaluation", "Metric", "MetricsConfig", "build_metrics", "evaluate", "split_scores"]
