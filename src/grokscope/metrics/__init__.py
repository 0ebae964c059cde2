"""Mechanistic metrics: pure functions ``(model, task, evaluation) -> {key: scalar | array}``.

Scalars are logged per epoch under namespaced keys; arrays are stacked over epochs into ``arrays/*.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from grokscope.config import Checked, register, require
from grokscope.metrics.evaluation import Evaluation, evaluate, split_scores
from grokscope.metrics.fourier import embedding_spectrum
from grokscope.metrics.pizza import PizzaMetrics, PizzaMetricsConfig
from grokscope.metrics.weights import weight_norms


class Metric(Protocol):
    """A metric: the hook activations it needs and a call returning namespaced values."""

    hooks: tuple[str, ...]

    def __call__(self, model, task, ev: Evaluation) -> dict[str, float | np.ndarray]: ...


@dataclass
class MetricsConfig(Checked):
    """``metrics=default|none``: which metrics run, on epochs ``0, every_n_epochs, ...`` plus
    ``log_points`` log-spaced epochs (0 for none). ``pizza``: the clock-vs-pizza metrics (:mod:`.pizza`)."""

    name: str
    every_n_epochs: int
    log_points: int
    weights: bool
    fourier: bool
    fourier_top_k: int
    pizza: PizzaMetricsConfig

    def check(self, prefix: str) -> None:
        require(self.every_n_epochs >= 0, f"{prefix}.every_n_epochs", self.every_n_epochs, "must be >= 0")
        require(self.log_points >= 0, f"{prefix}.log_points", self.log_points, "must be >= 0")
        require(self.fourier_top_k >= 1, f"{prefix}.fourier_top_k", self.fourier_top_k, "must be >= 1")


for _name in ("default", "none"):
    register("metrics", _name)(MetricsConfig)


@dataclass
class FunctionMetric:
    """Adapter for metrics that read only the model and the task."""

    fn: object
    hooks: tuple[str, ...] = ()

    def __call__(self, model, task, ev: Evaluation) -> dict[str, float | np.ndarray]:
        return self.fn(model, task)


def build_metrics(cfg: MetricsConfig, task) -> list[Metric]:
    """The metrics ``cfg`` asks for that apply to ``task``."""
    metrics: list[Metric] = []
    if cfg.weights:
        metrics.append(FunctionMetric(lambda model, _task: weight_norms(model)))
    if cfg.fourier and task.modulus is not None:
        metrics.append(FunctionMetric(lambda model, t: embedding_spectrum(model, t, cfg.fourier_top_k)))
    if cfg.pizza.enabled:
        metrics.append(PizzaMetrics(cfg.pizza, task))
    return metrics


__all__ = ["Evaluation", "Metric", "MetricsConfig", "build_metrics", "evaluate", "split_scores"]
