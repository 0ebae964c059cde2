"""Tasks: what is learned. Each module registers its config schema; ``schema.build(data_seed)`` makes a Task."""

from grokscope.tasks import modular, oocl
from grokscope.tasks.base import LossTerm, Task, split_masks

__all__ = ["LossTerm", "Task", "modular", "oocl", "split_masks"]
