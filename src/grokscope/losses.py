"""The training loss of a run: softmax cross-entropy or StableMax cross-entropy, in the precision ``loss_dtype``.

Prieto et al. 2025 (numerical_stability.md §3). Every place a loss is computed reads it from one :class:`Loss`:
the training objective, the per-split losses of each evaluation, the ablated scores and the LLC's sampling loss.

- ``cross_entropy``: ``-log softmax(z)_y``, the logits cast to ``dtype`` before ``log_softmax``.
- ``stablemax``: ``-log StableMax(z)_y`` with ``StableMax(z)_i = s(z_i) / Σ_j s(z_j)``, ``s(x) = x + 1`` for
  ``x >= 0`` and ``1 / (1 - x)`` for ``x < 0``, computed in ``dtype``. ``s`` grows linearly, not
  exponentially, so the probabilities of the other classes never round away (no softmax collapse).

Softmax collapse (SC) of a row: its logits shifted by their maximum, ``Σ_j exp(z_j - max z)`` rounds to exactly
1 in ``dtype`` (every other class's term absorbed); the row's gradient is then exactly zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.functional import cross_entropy

from grokscope.config import LOSS_DTYPES, LOSS_KINDS

__all__ = ["LOSS_DTYPES", "LOSS_KINDS", "Loss", "softmax_collapsed", "stablemax_rows", "stablemax_s"]


def stablemax_s(x: torch.Tensor) -> torch.Tensor:
    """``s(x) = x + 1`` for ``x >= 0``, ``1 / (1 - x)`` for ``x < 0`` (each branch on its own half of the axis,
    so neither branch's gradient is evaluated where it is undefined)."""
    return torch.where(x >= 0, x.clamp(min=0) + 1, 1 / (1 - x.clamp(max=0)))


def stablemax_rows(logits: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Per-row StableMax cross-entropy ``log Σ_j s(z_j) - log s(z_y)``, in ``dtype``."""
    s = stablemax_s(logits.to(dtype))
    return s.sum(dim=-1).log() - s.gather(-1, labels[..., None]).squeeze(-1).log()


def softmax_collapsed(logits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``[n]`` bool: the rows whose ``Σ_j exp(z_j - max_j z_j)`` equals exactly 1 in ``dtype``."""
    z = logits.to(dtype)
    return (z - z.amax(dim=-1, keepdim=True)).exp().sum(dim=-1) == 1


@dataclass(frozen=True)
class Loss:
    """``kind`` (:data:`LOSS_KINDS`) in precision ``dtype``."""

    kind: str = "cross_entropy"
    dtype: torch.dtype = torch.float64

    @classmethod
    def of(cls, run) -> Loss:
        """The loss of a run's :class:`~grokscope.config.RunConfig` (``loss.kind``, ``loss_dtype``)."""
        return cls(run.loss.kind, getattr(torch, run.loss_dtype))

    def rows(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The per-row losses ``[..., n]`` of ``logits [..., n, classes]`` (in :attr:`dtype`)."""
        if self.kind == "stablemax":
            return stablemax_rows(logits, labels, self.dtype)
        flat = logits.reshape(-1, logits.shape[-1]).to(self.dtype)
        return cross_entropy(flat, labels.reshape(-1), reduction="none").reshape(labels.shape)

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The mean over the rows."""
        if self.kind == "stablemax":
            return self.rows(logits, labels).mean()
        return cross_entropy(logits.to(self.dtype), labels)
