"""Tasks: what is learned. Each module registers its config schema; ``schema.build(data_seed)`` makes a Task
(``schema.build(data_seed, group)`` for a schema whose ``requires`` names the ``group`` config group)."""

from grokscope.tasks import composition, modular, oocl
from grokscope.tasks.base import LossTerm, Task, split_masks

__all__ = ["LossTerm", "Task", "composition", "modular", "oocl", "split_masks"]
