"""Tasks: what is learned. :data:`SCHEMAS` lists each option's config schema; ``schema.build(data_seed)`` makes
a Task (``schema.build(data_seed, group)`` for a schema whose ``requires`` names the ``group`` config group)."""

from grokscope.tasks import composition, modular, oocl
from grokscope.tasks.base import LossTerm, Task, split_masks

#: ``task=<name>`` -> its schema
SCHEMAS = {"modular": modular.ModularConfig, "composition": composition.CompositionConfig, "oocl": oocl.OoclConfig}

__all__ = ["SCHEMAS", "LossTerm", "Task", "composition", "modular", "oocl", "split_masks"]
