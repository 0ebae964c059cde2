"""The schemas of every config group, collected from the packages that define them, and :func:`validate`.

Each package lists its options' schemas (``grokscope.tasks.SCHEMAS``, ...); this table is the one place they
meet, so an option whose schema is not listed is refused in one line naming the choices.
"""

from __future__ import annotations

from omegaconf import DictConfig

from grokscope import config, groups, interventions, metrics, models, tasks
from grokscope.training import loggers, optim

SCHEMAS: config.Schemas = {
    "task": tasks.SCHEMAS,
    "group": groups.SCHEMAS,
    "model": models.SCHEMAS,
    "optimizer": optim.SCHEMAS,
    "metrics": metrics.SCHEMAS,
    "logger": loggers.SCHEMAS,
    "intervention": interventions.SCHEMAS,
}


def validate(cfg: DictConfig) -> config.Config:
    """Check a composed config and return it typed; raise :class:`~grokscope.config.ConfigError` on the first
    problem (see :func:`grokscope.config.validate`)."""
    return config.validate(cfg, SCHEMAS)
