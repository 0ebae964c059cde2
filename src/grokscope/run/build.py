"""From a validated config to the objects a run trains: task, model, interventions, metrics and cadences."""

from __future__ import annotations

import torch

from grokscope.config import Config, ConfigError
from grokscope.interventions import apply_at_init, build_interventions
from grokscope.metrics import ActiveFamily, build_metrics
from grokscope.training.cadence import Cadence, log_spaced_epochs


def build(config: Config):
    """The task (split from ``seeds.data``, plus the config groups it ``requires``) and the model (init from
    ``seeds.model``, embedding from ``seeds.embedding``, in ``param_dtype``; then the interventions' ``at_init``)."""
    task, model, _ = build_with_interventions(config)
    return task, model


def build_with_interventions(config: Config):
    """:func:`build` plus the interventions, which act on the model at init and later during training."""
    seeds = config.run.seeds
    task = config.task.build(seeds.data, *(getattr(config, name) for name in getattr(config.task, "requires", ())))
    interventions = build_interventions(config.intervention, task, seeds)
    torch.manual_seed(seeds.model)
    model = config.model.build(task)
    model.init_embedding(torch.Generator().manual_seed(seeds.embedding))
    model.to(getattr(torch, config.run.param_dtype))
    apply_at_init(interventions, model, task)
    return task, model, interventions


def recorder_parts(config: Config, task, model, interventions=(), notes: bool = True
                   ) -> tuple[list[ActiveFamily], tuple]:
    """The metric families that run, and the arguments of a
    :class:`~grokscope.training.callbacks.MetricsRecorder`: their metrics (with those of the interventions),
    the logging cadence and the metrics cadence. ``notes``: name the families asked for that do not apply
    (once per run: an ensemble's members share them)."""
    metric_cadence = Cadence(config.metrics.every_n_epochs,
                             log_spaced_epochs(config.metrics.log_points, config.run.max_epochs)
                             | frozenset(range(1, config.metrics.dense_epochs + 1)))
    families = build_metrics(config.metrics, task, model, notes, config.optimizer)
    metrics = [active.metric for active in families] + [m for i in interventions for m in i.metrics()]
    return families, (metrics, Cadence(config.run.log_every_n_epochs), metric_cadence)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", device, "CUDA is not available on this machine; use auto or cpu")
    return device
