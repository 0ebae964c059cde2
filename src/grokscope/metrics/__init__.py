"""Mechanistic metrics as plug-in families (:mod:`.family`): each owns its config node ``metrics.<name>``, when
it applies, its computation ``(model, task, evaluation) -> {key: scalar | array}``, its plots and its summary.

Scalars are logged per epoch under namespaced keys; arrays are stacked over epochs into ``arrays/*.npz``.
"""

from __future__ import annotations

from grokscope.metrics.config import SCHEMAS, MetricsConfig
from grokscope.metrics.evaluation import Evaluation, Streamed, evaluate, evaluate_metrics, split_scores
from grokscope.metrics.families import BUILTIN, build_metrics, register_family, registered
from grokscope.metrics.family import (
    ActiveFamily,
    FunctionMetric,
    Metric,
    MetricFamily,
    MetricFamilyConfig,
    RunRecord,
)

__all__ = ["BUILTIN", "SCHEMAS", "ActiveFamily", "Evaluation", "MetricFamilyConfig", "FunctionMetric", "Metric",
           "MetricFamily", "MetricsConfig", "RunRecord", "Streamed", "build_metrics", "evaluate", "evaluate_metrics",
           "register_family", "registered", "split_scores"]
