"""``intervention=freeze_embedding``: ``W_E`` is not trained (circle_survival.md §4: "frozen" = never updated)."""

from __future__ import annotations

from dataclasses import dataclass

from grokscope.config import Checked, described, require
from grokscope.interventions.base import Intervention


@dataclass
class FreezeEmbeddingConfig(Checked):
    """``from_epoch``: the first epoch at which ``W_E`` is frozen (0: it keeps its initial value)."""

    from_epoch: int = described("W_E is not trained (nor decayed) from this epoch on; 0: it keeps its initial value",
                                allowed=">= 0")

    def check(self, prefix: str) -> None:
        require(self.from_epoch >= 0, f"{prefix}.from_epoch", self.from_epoch, "must be an integer >= 0")

    def build(self, task, seeds, prefix: str) -> FreezeEmbedding:
        return FreezeEmbedding(self.from_epoch)




class FreezeEmbedding(Intervention):
    """``W_E.requires_grad = False``. From epoch 0 the optimizer never holds ``W_E``; from a later epoch its
    gradient stays ``None`` (``zero_grad(set_to_none=True)``), which AdamW/Adam/SGD skip entirely: no update
    and no decoupled weight decay, so ``W_E`` stays bit-identical."""

    def __init__(self, from_epoch: int):
        self.from_epoch = from_epoch
        self.epochs = frozenset({from_epoch})

    def at_init(self, model, task) -> None:
        self.at_epoch(model, 0)

    def at_epoch(self, model, epoch: int) -> None:
        if epoch >= self.from_epoch:
            model.W_E.requires_grad_(False)
            model.W_E.grad = None
