"""What an intervention edits: a function on the elements (residues ``0..p-1`` or group elements in order) held
inside a model's parameters, as tables ``[n_tables, n, d]``: the operand tables of ``W_E`` or the answers'
columns of ``W_U``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange

from grokscope.config import require

TARGETS = ("W_E", "W_U")


def require_cyclic(task, key: str, value) -> int:
    """``task.modulus``, or a one-line error naming ``key`` for a task whose operands are not residues."""
    require(task.modulus is not None, key, value, f"needs a cyclic task (task.modulus), not {task.name}")
    return task.modulus


@dataclass(frozen=True)
class Target:
    """Where ``name`` holds the tables: ``index [n_tables, n]`` are the rows of ``W_E`` of each operand table
    (``model.operand_table_rows``) or the columns ``0..n-1`` of ``W_U`` (one table: the unembedding of the
    answers). It holds no parameter: :meth:`read` and :meth:`write` act on the model they are handed."""

    name: str
    index: torch.Tensor

    @classmethod
    def of(cls, model, task, name: str) -> Target:
        if name == "W_U":
            return cls(name, torch.arange(task.n_elements)[None])
        return cls(name, model.operand_table_rows(task))

    def to(self, device: torch.device) -> Target:
        return Target(self.name, self.index.to(device))

    def read(self, model) -> torch.Tensor:
        """``[n_tables, n, d]``: table ``t`` row ``x`` is element ``x``'s vector."""
        if self.name == "W_U":
            return rearrange(model.W_U[:, self.index], "d t x -> t x d")
        return model.W_E[self.index]

    @torch.no_grad()
    def write(self, model, values: torch.Tensor) -> None:
        """The inverse of :meth:`read`: the tables ``values [n_tables, n, d]`` written in place."""
        if self.name == "W_U":
            model.W_U[:, self.index] = rearrange(values, "t x d -> d t x").to(model.W_U.dtype)
        else:
            model.W_E[self.index] = values.to(model.W_E.dtype)
